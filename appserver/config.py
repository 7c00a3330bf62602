"""Configuration: the ``--listen`` URL grammar, CODEX_HOME, and the serve config. Sans-I/O.

Listen URLs follow upstream exactly (spec/transport.md §1), plus ``wss://IP:PORT`` for
native TLS, and may be given several times. Errors are
:class:`~appserver.errors.ConfigError` whose message is the one line the CLI prints (exit
status 2).
"""

from __future__ import annotations

import enum
import ipaddress
import os
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from appserver import strings
from appserver.auth import Policy
from appserver.errors import ConfigError

if TYPE_CHECKING:  # the remote-control package is imported only when it is used
    from appserver.remote_control.setup import RemoteControlConfig

CONTROL_SOCKET_DIR = "app-server-control"
CONTROL_SOCKET_NAME = "app-server-control.sock"


class ListenKind(enum.Enum):
    STDIO = "stdio"
    UNIX = "unix"
    WS = "ws"
    WSS = "wss"
    OFF = "off"


@dataclass(frozen=True, slots=True)
class ListenUrl:
    """One parsed ``--listen`` value."""

    kind: ListenKind
    url: str
    path: Path | None = None  # UNIX
    host: str | None = None  # WS/WSS: an IP literal, without brackets
    port: int | None = None  # WS/WSS: 0 means "pick one"

    @property
    def is_loopback(self) -> bool:
        return self.host is not None and ipaddress.ip_address(self.host).is_loopback

    def __str__(self) -> str:
        return self.url


def codex_home(env: Mapping[str, str]) -> Path:
    """``$CODEX_HOME``, else ``~/.codex`` (upstream ``find_codex_home``)."""
    value = env.get("CODEX_HOME")
    if value:
        return Path(value).expanduser()
    home = env.get("HOME")
    if not home:
        raise ConfigError(strings.HOME_NOT_SET)
    return Path(home) / ".codex"


def default_control_socket(env: Mapping[str, str]) -> Path:
    """``$CODEX_HOME/app-server-control/app-server-control.sock``."""
    return codex_home(env) / CONTROL_SOCKET_DIR / CONTROL_SOCKET_NAME


def parse_socket_addr(rest: str) -> tuple[str, int] | None:
    """Parse like Rust's ``SocketAddr``: ``IPv4:PORT`` or ``[IPv6]:PORT``; ``None`` if not."""
    if rest.startswith("["):
        close = rest.find("]")
        if close < 0 or rest[close + 1 : close + 2] != ":":
            return None
        host, port_text = rest[1:close], rest[close + 2 :]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return None
    else:
        host, sep, port_text = rest.rpartition(":")
        if not sep:
            return None
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return None
    if not port_text.isdigit() or not port_text.isascii() or int(port_text) > 65535:
        return None
    return host, int(port_text)


def parse_listen_url(
    url: str, *, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> ListenUrl:
    """Parse one ``--listen`` value, with upstream's messages for bad ones."""
    env = os.environ if env is None else env
    if url == "stdio://":
        return ListenUrl(ListenKind.STDIO, url)
    if url == "off":
        return ListenUrl(ListenKind.OFF, url)
    if url.startswith("unix://"):
        rest = url[len("unix://") :]
        try:
            if not rest:
                path = default_control_socket(env)
            else:
                base = cwd if cwd is not None else Path.cwd()
                path = base / Path(rest).expanduser()
        except (ConfigError, OSError) as exc:
            message = strings.CODEX_HOME_UNRESOLVED.format(err=exc)
            raise ConfigError(strings.LISTEN_BAD_UNIX.format(url=url, message=message)) from None
        return ListenUrl(ListenKind.UNIX, url, path=Path(os.path.normpath(path)))
    for scheme, kind, message in (
        ("ws://", ListenKind.WS, strings.LISTEN_BAD_WS),
        ("wss://", ListenKind.WSS, strings.LISTEN_BAD_WSS),
    ):
        if url.startswith(scheme):
            addr = parse_socket_addr(url[len(scheme) :])
            if addr is None:
                raise ConfigError(message.format(url=url))
            return ListenUrl(kind, url, host=addr[0], port=addr[1])
    raise ConfigError(strings.LISTEN_UNSUPPORTED.format(url=url))


def parse_listen_urls(
    urls: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> list[ListenUrl]:
    """Parse repeated ``--listen`` values; ``stdio://`` when none are given."""
    parsed = [parse_listen_url(u, env=env, cwd=cwd) for u in (urls or ["stdio://"])]
    kinds = [p.kind for p in parsed]
    if ListenKind.OFF in kinds:
        if len(parsed) > 1:
            raise ConfigError(strings.LISTEN_OFF_COMBINED)
        raise ConfigError(strings.NO_TRANSPORT)
    if kinds.count(ListenKind.STDIO) > 1:
        raise ConfigError(strings.LISTEN_STDIO_TWICE)
    seen: set[object] = set()
    for p in parsed:
        key = p.path if p.kind is ListenKind.UNIX else (p.host, p.port)
        if p.kind is not ListenKind.STDIO and p.port != 0 and key in seen:
            raise ConfigError(strings.LISTEN_TWICE.format(url=p.url))
        seen.add(key)
    return parsed


class BackendChoice(enum.Enum):
    AUTO = "auto"
    BUILTIN = "builtin"
    CODEX = "codex"
    UNIX = "unix"  # attach to an existing app-server control socket


@dataclass(frozen=True, slots=True)
class BackendConfig:
    choice: BackendChoice = BackendChoice.AUTO
    socket: Path | None = None  # BackendChoice.UNIX
    codex_bin: str | None = None
    overrides: tuple[str, ...] = ()  # `-c key=value`, passed to the codex child


def parse_backend(value: str, *, cwd: Path | None = None) -> tuple[BackendChoice, Path | None]:
    if value.startswith("unix://"):
        rest = value[len("unix://") :]
        if not rest:
            raise ConfigError(strings.BACKEND_UNIX_NO_PATH)
        base = cwd if cwd is not None else Path.cwd()
        return BackendChoice.UNIX, Path(os.path.normpath(base / Path(rest).expanduser()))
    try:
        choice = BackendChoice(value)
    except ValueError:
        raise ConfigError(strings.BACKEND_INVALID.format(value=value)) from None
    if choice is BackendChoice.UNIX:
        raise ConfigError(strings.BACKEND_UNIX_BARE)
    return choice, None


@dataclass(frozen=True, slots=True)
class TlsConfig:
    cert: Path
    key: Path


@dataclass(frozen=True, slots=True)
class ServeConfig:
    """Everything ``appserver serve`` was asked to do, validated."""

    listens: tuple[ListenUrl, ...]
    backend: BackendConfig = field(default_factory=BackendConfig)
    #: The server TLS context of ``wss://`` listeners, built once at start-up.
    tls_context: ssl.SSLContext | None = None
    #: WebSocket auth (``--ws-*``), its secret read once at start-up; ``None`` = no auth.
    ws_auth: Policy | None = None
    #: Remote control (``--remote-control*``); ``None``: the remoteControl/* methods are not
    #: answered by the gateway (tests only).
    remote_control: RemoteControlConfig | None = None
