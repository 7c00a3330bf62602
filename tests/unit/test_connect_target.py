"""Connection flags -> Target: socket default, URL rules, token rules (spec/clients.md A3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from appserver.errors import ConfigError
from appserver.connect import resolve_target


def resolve(**kw: object):  # type: ignore[no-untyped-def]
    args = {"sock": None, "connect_url": None, "auth_token_env": None, "ca_file": None}
    args.update(kw)
    env = args.pop("env", {"CODEX_HOME": "/h"})
    return resolve_target(env=env, cwd=Path("/cwd"), **args)  # type: ignore[arg-type]


def test_default_and_relative_socket() -> None:
    assert resolve().path == Path("/h/app-server-control/app-server-control.sock")
    assert resolve(sock="a/s.sock").path == Path("/cwd/a/s.sock")
    assert str(resolve(sock="/x.sock")) == "/x.sock"


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:1", "ws://127.0.0.1", "ws://:80", "ws://h:99999", "wss://u:p@h:1", "ws://h:1/#f"]
)
def test_bad_connect_urls(url: str) -> None:
    with pytest.raises(ConfigError) as err:
        resolve(connect_url=url)
    assert str(err.value) == (
        f"invalid --connect URL `{url}`; expected `ws://HOST:PORT` or `wss://HOST:PORT`"
    )


@pytest.mark.parametrize("url", ["ws://127.0.0.1:4500", "ws://localhost:1", "ws://[::1]:2", "wss://example.com:443"])
def test_token_allowed_on_wss_and_loopback_ws(url: str) -> None:
    target = resolve(connect_url=url, auth_token_env="T", env={"T": "  secret \n"})
    assert target.token == "secret"
    assert "secret" not in repr(target) and "secret" not in str(target)


def test_token_refused_on_non_loopback_ws_and_sockets() -> None:
    with pytest.raises(ConfigError) as err:
        resolve(connect_url="ws://10.0.0.1:4500", auth_token_env="T", env={"T": "x"})
    assert str(err.value) == (
        "`--auth-token-env` requires a `wss://` or loopback `ws://` URL; got `ws://10.0.0.1:4500`"
    )
    with pytest.raises(ConfigError, match=r"^`--auth-token-env` requires `--connect`\.$"):
        resolve(auth_token_env="T", env={"T": "x", "CODEX_HOME": "/h"})


def test_token_env_missing_or_empty() -> None:
    with pytest.raises(ConfigError, match="^environment variable `T` is not set$"):
        resolve(connect_url="ws://127.0.0.1:1", auth_token_env="T", env={})
    with pytest.raises(ConfigError, match="^environment variable `T` is empty$"):
        resolve(connect_url="ws://127.0.0.1:1", auth_token_env="T", env={"T": " "})


def test_flag_conflicts_and_bad_ca(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be used together"):
        resolve(sock="/s", connect_url="ws://127.0.0.1:1")
    with pytest.raises(ConfigError, match="requires a `wss://`"):
        resolve(connect_url="ws://127.0.0.1:1", ca_file="/ca.pem")
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate")
    with pytest.raises(ConfigError, match=r"^cannot load --ca-file `.*ca\.pem`: .*PEM file"):
        resolve(connect_url="wss://127.0.0.1:1", ca_file=str(bad))
