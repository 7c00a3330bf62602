"""Packaging and configuration a new user touches first: the distribution name, the
LICENSE the metadata claims, ``--version``, ``--auth-token-file``."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from appserver import CODEX_PROTOCOL_VERSION, __version__
from appserver.cli import cli
from appserver.connect import resolve_target
from appserver.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_distribution_name_is_not_the_taken_one() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == "appserver-gateway"  # `appserver` on PyPI is someone else's
    assert project["scripts"] == {"appserver": "appserver.cli:main"}


def test_license_file_matches_the_metadata() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text


def test_version_names_the_codex_protocol() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"appserver {__version__} (codex app-server protocol {CODEX_PROTOCOL_VERSION})\n"
    assert CODEX_PROTOCOL_VERSION == "0.169.0"


def _target(tmp_path: Path, **flags: str | None) -> object:
    base: dict[str, str | None] = {"sock": None, "connect_url": None, "auth_token_env": None, "ca_file": None}
    base.update(flags)
    return resolve_target(**base, env={"TOK": "from-env"}, cwd=tmp_path)  # type: ignore[arg-type]


def test_auth_token_file_is_read_and_trimmed(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("  s3cret-token\n")
    target = _target(tmp_path, connect_url="ws://127.0.0.1:4500", auth_token_file="token")
    assert target.token == "s3cret-token"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            {"connect_url": "ws://127.0.0.1:1", "auth_token_env": "TOK", "auth_token_file": "token"},
            "`--auth-token-env` and `--auth-token-file` are mutually exclusive",
        ),
        ({"auth_token_file": "token"}, "`--auth-token-file` requires `--connect`."),
        (
            {"connect_url": "ws://example.com:1", "auth_token_file": "token"},
            "`--auth-token-file` requires a `wss://` or loopback `ws://` URL; got `ws://example.com:1`",
        ),
        ({"connect_url": "wss://example.com:1", "auth_token_file": "missing"}, "cannot read --auth-token-file"),
        ({"connect_url": "wss://example.com:1", "auth_token_file": "empty"}, "is empty"),
    ],
)
def test_auth_token_file_errors(tmp_path: Path, flags: dict[str, str], message: str) -> None:
    (tmp_path / "token").write_text("secret-value")
    (tmp_path / "empty").write_text(" \n")
    with pytest.raises(ConfigError) as info:
        _target(tmp_path, **flags)
    assert message in str(info.value)
    assert "secret-value" not in str(info.value)
