"""Reaching a gateway or app-server as a client: shared by ``appserver proxy`` and ``call``.

A :class:`Target` is either a Unix control socket (``--sock PATH``, default the codex
default socket) or a TCP WebSocket URL (``--connect ws(s)://HOST:PORT``) with an optional
bearer token and TLS trust. The token rules follow the codex client (spec/clients.md
A3): a token is only sent over ``wss://`` or a loopback ``ws://`` URL, only as
``Authorization: Bearer <token>`` on the upgrade (A4), and never to a Unix socket.

Connecting failures raise :class:`ConnectFailed` whose message is one line naming the
target (missing socket, refused connection, HTTP 401, TLS failure, timeout).
"""

from __future__ import annotations

import ipaddress
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import anyio
from anyio.abc import ByteStream
from websockets.asyncio.client import ClientConnection, connect, unix_connect
from websockets.exceptions import InvalidHandshake, InvalidStatus

from appserver import __version__, limits, strings
from appserver.config import default_control_socket
from appserver.errors import ConfigError, ConnectFailed
from appserver.transports.unix_path import UDS_WEBSOCKET_URI, connectable_path
from appserver.transports.websocket import CLIENT_OPTIONS
USER_AGENT = f"appserver/{__version__}"


@dataclass(frozen=True)
class Target:
    """Where a client connects: a Unix socket path, or a ws/wss URL."""

    path: Path | None = None
    url: str | None = None
    host: str = ""
    port: int = 0
    token: str | None = field(default=None, repr=False)
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False)

    @property
    def secure(self) -> bool:
        return self.ssl_context is not None

    def __str__(self) -> str:
        return str(self.path) if self.path is not None else str(self.url)


def is_loopback_host(host: str) -> bool:
    """``localhost`` (any case), 127.0.0.0/8 or ::1 (codex ``websocket_url_supports_auth_token``)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def read_token(name: str, env: Mapping[str, str]) -> str:
    """The token in environment variable ``name``, trimmed (codex's rules and messages)."""
    value = env.get(name)
    if value is None:
        raise ConfigError(strings.ENV_VAR_NOT_SET.format(name=name))
    value = value.strip()
    if not value:
        raise ConfigError(strings.ENV_VAR_EMPTY.format(name=name))
    return value


def read_token_file(path: Path) -> str:
    """The token in ``path``, trimmed; errors name the file, never its contents."""
    try:
        value = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise ConfigError(strings.AUTH_TOKEN_FILE_UNREADABLE.format(path=path, err=reason)) from None
    if not value:
        raise ConfigError(strings.AUTH_TOKEN_FILE_EMPTY.format(path=path))
    return value


def _tls_context(ca_file: str | None) -> ssl.SSLContext:
    # System roots (OpenSSL honours SSL_CERT_FILE / SSL_CERT_DIR), plus --ca-file.
    context = ssl.create_default_context()
    if ca_file is not None:
        try:
            context.load_verify_locations(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or exc
            raise ConfigError(strings.CA_FILE_UNREADABLE.format(path=ca_file, reason=reason)) from None
    return context


def resolve_target(
    *,
    sock: str | None,
    connect_url: str | None,
    auth_token_env: str | None,
    ca_file: str | None,
    env: Mapping[str, str],
    cwd: Path | None = None,
    auth_token_file: str | None = None,
) -> Target:
    """Validate the connection flags (``ConfigError``: exit status 2) into a :class:`Target`."""
    if sock is not None and connect_url is not None:
        raise ConfigError(strings.SOCK_AND_CONNECT)
    if auth_token_env is not None and auth_token_file is not None:
        raise ConfigError(strings.AUTH_TOKEN_SOURCES_EXCLUSIVE)
    if connect_url is None:
        if auth_token_env is not None:
            raise ConfigError(strings.AUTH_TOKEN_REQUIRES_CONNECT)
        if auth_token_file is not None:
            raise ConfigError(strings.AUTH_TOKEN_FILE_REQUIRES_CONNECT)
        if ca_file is not None:
            raise ConfigError(strings.CA_FILE_NEEDS_WSS)
        if sock is None:
            path = default_control_socket(env)
        else:
            path = (cwd or Path.cwd()) / Path(sock).expanduser()
        return Target(path=Path(os.path.normpath(path)))

    bad = ConfigError(strings.CONNECT_URL_INVALID.format(url=connect_url))
    try:
        parts = urlsplit(connect_url)
        port = parts.port
    except ValueError:
        raise bad from None
    if parts.scheme not in ("ws", "wss") or not parts.hostname or port is None or parts.fragment:
        raise bad
    if parts.username or parts.password:
        raise bad
    host = parts.hostname
    secure = parts.scheme == "wss"
    if ca_file is not None and not secure:
        raise ConfigError(strings.CA_FILE_NEEDS_WSS)
    token = None
    if auth_token_env is not None:
        if not (secure or is_loopback_host(host)):
            raise ConfigError(strings.AUTH_TOKEN_REQUIRES_SECURE.format(url=connect_url))
        token = read_token(auth_token_env, env)
    if auth_token_file is not None:
        if not (secure or is_loopback_host(host)):
            raise ConfigError(strings.AUTH_TOKEN_FILE_REQUIRES_SECURE.format(url=connect_url))
        token = read_token_file(Path(cwd or Path.cwd()) / Path(auth_token_file).expanduser())
    return Target(
        url=connect_url,
        host=host,
        port=port,
        token=token,
        ssl_context=_tls_context(ca_file) if secure else None,
    )


def describe_failure(target: Target, exc: BaseException) -> str:
    """One line for a failed connection attempt; never includes the token."""
    if isinstance(exc, InvalidStatus):
        response = exc.response
        body = response.body.decode("utf-8", "replace").strip() if response.body else ""
        first = body.splitlines()[0][: limits.REFUSAL_BODY_SHOWN_CHARS] if body else ""
        return strings.CONNECT_REFUSED.format(
            target=target,
            status=response.status_code,
            phrase=response.reason_phrase,
            detail=f": {first}" if first else "",
        )
    if isinstance(exc, ssl.SSLCertVerificationError):
        detail = exc.verify_message or exc.reason
        return strings.CONNECT_TLS_UNTRUSTED.format(target=target, detail=detail)
    if isinstance(exc, ssl.SSLError):
        return strings.CONNECT_TLS_FAILED.format(target=target, detail=exc.reason or exc)
    if isinstance(exc, TimeoutError):
        return strings.CONNECT_TIMED_OUT.format(seconds=limits.CONNECT_TIMEOUT, target=target)
    if isinstance(exc, InvalidHandshake):
        return strings.CONNECT_UPGRADE_FAILED.format(target=target, detail=exc)
    if isinstance(exc, OSError):
        reason = exc.strerror or str(exc)
        if target.path is not None:
            return f"{strings.CONNECT_SOCKET_FAILED.format(path=target.path)}: {reason}"
        return strings.CONNECT_FAILED.format(target=target, detail=reason)
    return strings.CONNECT_FAILED.format(target=target, detail=exc)


async def open_websocket(target: Target) -> ClientConnection:
    """An open WebSocket connection to ``target``; :class:`ConnectFailed` otherwise."""
    common: dict[str, object] = {
        **CLIENT_OPTIONS,
        "open_timeout": limits.CONNECT_TIMEOUT,
        "user_agent_header": USER_AGENT,
    }
    try:
        if target.path is not None:
            return await unix_connect(
                connectable_path(target.path), UDS_WEBSOCKET_URI, ping_interval=None, **common
            )
        headers = {"Authorization": f"Bearer {target.token}"} if target.token else None
        return await connect(
            str(target.url), additional_headers=headers, ssl=target.ssl_context, **common
        )
    except (OSError, InvalidHandshake, TimeoutError) as exc:
        raise ConnectFailed(describe_failure(target, exc)) from None


async def open_stream(target: Target) -> ByteStream:
    """A raw byte stream to ``target`` (TLS for wss); :class:`ConnectFailed` otherwise."""
    try:
        with anyio.fail_after(limits.CONNECT_TIMEOUT):
            if target.path is not None:
                return await anyio.connect_unix(connectable_path(target.path))
            return await anyio.connect_tcp(
                target.host,
                target.port,
                ssl_context=target.ssl_context,
                tls=target.secure,
                tls_hostname=target.host if target.secure else None,
            )
    except (OSError, TimeoutError) as exc:
        raise ConnectFailed(describe_failure(target, exc)) from None
