"""``appserver relay serve``: flags -> :class:`ServeOptions` -> a running aiohttp server.

Refuses unsafe configurations with one clear line: plain ``http://`` on a non-loopback
address needs ``--behind-proxy`` (TLS terminates in a reverse proxy in front); ``https://``
needs ``--tls-cert``/``--tls-key`` (loaded with :func:`appserver.tls.server_context`).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import anyio
from aiohttp import web

from appserver import __version__, limits, strings
from appserver.config import TlsConfig, parse_socket_addr
from appserver.errors import ConfigError, RuntimeFailure
from appserver.relay.app import create_app
from appserver.relay.hub import Relay, RelayConfig
from appserver.relay.sqlite_store import SqliteStore
from appserver.relay.store import RelayStore, StoreError

log = logging.getLogger("appserver.relay")


@dataclass(frozen=True, slots=True)
class ServeOptions:
    scheme: str  # "http" | "https"
    host: str
    port: int
    state: Path
    public_url: str | None = None
    tls: TlsConfig | None = None
    behind_proxy: bool = False
    #: Shared state in Redis (a cluster node) instead of the SQLite ``state`` file.
    redis: str | None = None
    #: Where the other nodes reach this one (``--node-url``); else the listen URL.
    node_url: str | None = None


def default_state_path(env: Mapping[str, str]) -> Path:
    """``$XDG_STATE_HOME/appserver/relay.sqlite3`` (``~/.local/state`` when unset)."""
    base = env.get("XDG_STATE_HOME") or os.path.join(env.get("HOME") or os.path.expanduser("~"), ".local", "state")
    return Path(base) / "appserver" / "relay.sqlite3"


def state_path(value: str | None, env: Mapping[str, str]) -> Path:
    return Path(value).expanduser().absolute() if value else default_state_path(env)


def parse_listen(url: str) -> tuple[str, str, int]:
    for scheme in ("http", "https"):
        prefix = scheme + "://"
        if url.startswith(prefix):
            addr = parse_socket_addr(url[len(prefix):].rstrip("/"))
            if addr is not None:
                return scheme, addr[0], addr[1]
    raise ConfigError(strings.RELAY_LISTEN_BAD.format(url=url))


def check_public_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ConfigError(strings.RELAY_PUBLIC_URL_BAD.format(url=url))
    return url if url.endswith("/") else url + "/"


def check_redis(redis_url: str | None, state: str | None) -> str | None:
    """``--redis`` (or ``APPSERVER_RELAY_REDIS``) names the state; never together with ``--state``."""
    if redis_url is None or redis_url == "":
        return None
    if state is not None:
        raise ConfigError(strings.RELAY_REDIS_AND_STATE)
    if urlsplit(redis_url).scheme not in ("redis", "rediss", "unix"):
        from appserver.relay.redis_store import redacted

        raise ConfigError(strings.RELAY_REDIS_URL_BAD.format(url=redacted(redis_url)))
    return redis_url


def check_options(
    listen: str,
    *,
    state: Path,
    redis: str | None = None,
    public_url: str | None,
    node_url: str | None = None,
    tls_cert: str | None,
    tls_key: str | None,
    behind_proxy: bool,
) -> ServeOptions:
    from appserver import tls as tls_files

    scheme, host, port = parse_listen(listen)
    if (tls_cert is None) != (tls_key is None):
        raise ConfigError(strings.TLS_FLAGS_TOGETHER)
    tls = None
    if scheme == "https":
        if tls_cert is None or tls_key is None:
            raise ConfigError(strings.RELAY_HTTPS_NEEDS_TLS.format(url=listen))
        tls = TlsConfig(cert=Path(tls_cert).absolute(), key=Path(tls_key).absolute())
        tls_files.server_context(tls)  # fail now, with one line, if the files are bad
    elif tls_cert is not None:
        raise ConfigError(strings.RELAY_TLS_NEEDS_HTTPS)
    elif not ipaddress.ip_address(host).is_loopback and not behind_proxy:
        raise ConfigError(strings.RELAY_PLAIN_NOT_LOOPBACK.format(url=listen))
    return ServeOptions(
        scheme=scheme,
        host=host,
        port=port,
        state=state,
        public_url=check_public_url(public_url) if public_url else None,
        tls=tls,
        behind_proxy=behind_proxy,
        redis=redis,
        node_url=check_node_url(node_url, redis) if node_url else None,
    )


def check_node_url(url: str, redis: str | None) -> str:
    """``--node-url``: ``http(s)://HOST:PORT``, and only for a cluster node."""
    if redis is None:
        raise ConfigError(strings.RELAY_NODE_URL_NEEDS_REDIS)
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme not in ("http", "https") or not parts.hostname or port is None or parts.path not in ("", "/") \
            or parts.query or parts.fragment:
        raise ConfigError(strings.RELAY_NODE_URL_BAD.format(url=url))
    return url.rstrip("/")


async def open_store(path: Path) -> RelayStore:
    try:
        return await SqliteStore.open(path)
    except StoreError as exc:
        raise RuntimeFailure(strings.RELAY_STATE_FAILED.format(path=path, err=exc)) from None


async def open_any_store(state: str | None, redis_url: str | None, env: Mapping[str, str]) -> RelayStore:
    """The tooling's store: Redis when ``--redis`` (or its env var) is given, else the file."""
    redis_url = check_redis(redis_url, state)
    if redis_url is not None:
        return await open_redis_store(redis_url)
    return await open_store(state_path(state, env))


async def open_redis_store(url: str) -> RelayStore:
    from appserver.relay.redis_store import RedisStore

    try:
        return await RedisStore.open(url)
    except StoreError as exc:
        raise RuntimeFailure(strings.RELAY_REDIS_FAILED.format(err=exc)) from None


def _url(scheme: str, host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}/"


def _state_shown(options: ServeOptions) -> str:
    if options.redis is None:
        return str(options.state)
    from appserver.relay.redis_store import redacted

    return redacted(options.redis)


def _cluster(relay: Relay, store: RelayStore):  # type: ignore[no-untyped-def]
    """A cluster node: host links through leases, traffic through Redis (appserver.relay.cluster)."""
    from appserver.relay.cluster import Cluster
    from appserver.relay.redis_store import RedisStore

    assert isinstance(store, RedisStore)
    cluster = Cluster(relay, store.client, store.prefix)
    relay.link_factory = cluster.make_link
    return cluster


async def run(options: ServeOptions) -> None:
    """Serve until SIGINT/SIGTERM; then close every socket (1001) and exit."""
    from appserver import tls as tls_files

    store = await (open_redis_store(options.redis) if options.redis else open_store(options.state))
    ssl_context = tls_files.server_context(options.tls) if options.tls else None
    try:
        async with anyio.create_task_group() as tasks:
            placeholder = RelayConfig(listen_url="", public_url="")
            relay = Relay(store, placeholder)
            cluster = _cluster(relay, store) if options.redis else None
            if cluster is not None:
                await tasks.start(cluster.run)
            app = create_app(relay, more_routes=cluster.add_routes if cluster is not None else None)
            runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=limits.RELAY_SHUTDOWN_TIMEOUT)
            await runner.setup()
            site = web.TCPSite(runner, options.host, options.port, ssl_context=ssl_context)
            try:
                await site.start()
            except OSError as exc:
                await runner.cleanup()
                raise RuntimeFailure(strings.RELAY_LISTEN_FAILED.format(
                    host=options.host, port=options.port, err=exc.strerror or exc
                )) from None
            server = site._server
            port = server.sockets[0].getsockname()[1] if server and server.sockets else options.port
            listen_url = _url(options.scheme, options.host, port)
            relay.config = RelayConfig(
                listen_url=listen_url,
                public_url=options.public_url or listen_url,
                behind_proxy=options.behind_proxy,
                state_path=None if options.redis else options.state,
            )
            if cluster is not None:
                cluster.peers.advertise(options.node_url or listen_url)
            log.info(strings.RELAY_BANNER.format(
                version=__version__, url=listen_url, public=relay.config.public_url, state=_state_shown(options)
            ))
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for _ in signals:
                    break
            log.info("shutting down")
            relay.closing = True
            with anyio.move_on_after(limits.RELAY_SHUTDOWN_TIMEOUT):
                await relay.shutdown()
                if cluster is not None:
                    await cluster.peers.close()
            await runner.cleanup()
            tasks.cancel_scope.cancel()
    finally:
        await store.close()
