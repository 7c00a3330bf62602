"""The --listen URL grammar (spec/transport.md §1) and backend choice. No event loop."""

from __future__ import annotations

from pathlib import Path

import pytest

from appserver.config import (
    BackendChoice,
    ListenKind,
    parse_backend,
    parse_listen_url,
    parse_listen_urls,
)
from appserver.errors import ConfigError

ENV = {"CODEX_HOME": "/srv/codex", "HOME": "/home/u"}
CWD = Path("/work/dir")
UNSUPPORTED = (
    "unsupported --listen URL `{}`; expected `stdio://`, `unix://`, `unix://PATH`, "
    "`ws://IP:PORT`, `wss://IP:PORT`, or `off`"
)


def parse(url: str, env: dict[str, str] = ENV):
    return parse_listen_url(url, env=env, cwd=CWD)


def test_stdio_and_off() -> None:
    assert parse("stdio://").kind is ListenKind.STDIO
    assert parse("off").kind is ListenKind.OFF


def test_unix_default_socket_under_codex_home() -> None:
    listen = parse("unix://")
    assert listen.kind is ListenKind.UNIX
    assert listen.path == Path("/srv/codex/app-server-control/app-server-control.sock")


def test_unix_default_socket_without_codex_home_uses_home() -> None:
    listen = parse("unix://", env={"HOME": "/home/u"})
    assert listen.path == Path("/home/u/.codex/app-server-control/app-server-control.sock")


def test_unix_paths_absolute_and_relative() -> None:
    assert parse("unix:///tmp/codex.sock").path == Path("/tmp/codex.sock")
    assert parse("unix://codex.sock").path == Path("/work/dir/codex.sock")


def test_unix_without_home_is_an_upstream_error() -> None:
    with pytest.raises(ConfigError) as err:
        parse("unix://", env={})
    assert str(err.value) == (
        "invalid unix socket --listen URL `unix://`; failed to resolve socket path: "
        "failed to resolve CODEX_HOME: HOME is not set"
    )


@pytest.mark.parametrize(
    ("url", "host", "port"),
    [
        ("ws://127.0.0.1:4500", "127.0.0.1", 4500),
        ("ws://0.0.0.0:0", "0.0.0.0", 0),
        ("ws://[::1]:80", "::1", 80),
        ("wss://127.0.0.1:443", "127.0.0.1", 443),
    ],
)
def test_websocket_socket_addresses(url: str, host: str, port: int) -> None:
    listen = parse(url)
    assert (listen.host, listen.port) == (host, port)
    assert listen.kind is (ListenKind.WSS if url.startswith("wss") else ListenKind.WS)


@pytest.mark.parametrize(
    "url",
    [
        "ws://localhost:4500",  # no hostnames
        "ws://127.0.0.1",  # port required
        "ws://127.0.0.1:4500/",  # no trailing slash
        "ws://127.0.0.1:4500/rpc",  # no path
        "ws://127.0.0.1:65536",
        "ws://::1:80",  # IPv6 needs brackets
        "ws://127.000.0.1:80",  # no leading zeros
        "ws://",
    ],
)
def test_bad_websocket_urls(url: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse(url)
    assert str(err.value) == f"invalid websocket --listen URL `{url}`; expected `ws://IP:PORT`"


def test_bad_wss_url_names_wss() -> None:
    with pytest.raises(ConfigError) as err:
        parse("wss://example.com:443")
    assert str(err.value) == (
        "invalid websocket --listen URL `wss://example.com:443`; expected `wss://IP:PORT`"
    )


@pytest.mark.parametrize("url", ["http://127.0.0.1:80", "stdio", "stdio:///", "", "tcp://1.2.3.4:5"])
def test_unsupported_urls(url: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse(url)
    assert str(err.value) == UNSUPPORTED.format(url)


def test_repeated_listen_urls() -> None:
    listens = parse_listen_urls(["stdio://", "unix://", "ws://127.0.0.1:0", "ws://127.0.0.1:0"], env=ENV, cwd=CWD)
    assert [listen.kind for listen in listens] == [
        ListenKind.STDIO,
        ListenKind.UNIX,
        ListenKind.WS,
        ListenKind.WS,
    ]
    assert parse_listen_urls([], env=ENV)[0].kind is ListenKind.STDIO


@pytest.mark.parametrize(
    ("urls", "message"),
    [
        (["off"], "no transport configured; use --listen or enable remote control"),
        (["off", "stdio://"], "`--listen off` cannot be combined with other --listen URLs"),
        (["stdio://", "stdio://"], "`--listen stdio://` may be given only once"),
        (["ws://127.0.0.1:4500", "ws://127.0.0.1:4500"], "--listen `ws://127.0.0.1:4500` is given twice"),
        (["unix://a.sock", "unix:///work/dir/a.sock"], "--listen `unix:///work/dir/a.sock` is given twice"),
    ],
)
def test_listen_combinations_refused(urls: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_listen_urls(urls, env=ENV, cwd=CWD)
    assert str(err.value) == message


def test_backend_choices() -> None:
    assert parse_backend("auto") == (BackendChoice.AUTO, None)
    assert parse_backend("builtin") == (BackendChoice.BUILTIN, None)
    assert parse_backend("unix://x.sock", cwd=CWD) == (BackendChoice.UNIX, Path("/work/dir/x.sock"))
    for bad in ("unix://", "unix", "mock"):
        with pytest.raises(ConfigError):
            parse_backend(bad)
