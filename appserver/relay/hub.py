"""The relay's in-process state: configuration, store, metrics, and who is connected.

:class:`Relay` is what every route reaches through ``request.app[RELAY_KEY]``. It knows the
live host links (one per server) and controller streams, and applies state changes to them:
a revoked device's sockets close at once (4001) and its streams get ``client_closed``; a
removed server's link and streams end. Changes made by ``appserver relay`` tooling in another
process are picked up by :meth:`Relay.watch_store`.

Routing lives here behind plain method calls, so a shared engine (Redis pub/sub between
relay nodes) can replace the in-process dictionaries later without touching the routes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from aiohttp import web

from appserver import limits, strings
from appserver.relay.http import peer as request_peer
from appserver.relay.metrics import RelayMetrics
from appserver.relay.pairing import ClaimLimiter
from appserver.relay.store import RelayStore, StoreUnavailable

if TYPE_CHECKING:
    from appserver.relay.host_link import HostLink, HostState
    from appserver.relay.streams import ControllerStream

log = logging.getLogger("appserver.relay")


@dataclass(frozen=True, slots=True)
class RelayConfig:
    #: Where the relay listens (resolved port), e.g. ``http://127.0.0.1:8787/``.
    listen_url: str
    #: What pairing links carry; ends in ``/``.
    public_url: str
    behind_proxy: bool = False
    state_path: Path | None = None
    #: Overridable for tests that exercise expiry without waiting.
    stream_grace: float = limits.RELAY_STREAM_GRACE
    host_offline_wait: float = limits.RELAY_HOST_OFFLINE_WAIT
    ping_interval: float = limits.RELAY_STREAM_PING_INTERVAL


@dataclass
class Relay:
    store: RelayStore
    config: RelayConfig
    metrics: RelayMetrics = field(default_factory=RelayMetrics)
    claims: ClaimLimiter = field(default_factory=ClaimLimiter)
    #: server_id -> the connected host link.
    links: dict[str, HostLink] = field(default_factory=dict)
    #: server_id -> what is kept about a host across its links.
    hosts: dict[str, HostState] = field(default_factory=dict)
    #: stream_id -> stream (live socket or in its grace period).
    streams: dict[str, ControllerStream] = field(default_factory=dict)
    closing: bool = False
    #: Builds host links (``(relay, state, ws, peer) -> HostLink``); ``None`` for the
    #: single-node :class:`~appserver.relay.host_link.HostLink`. A cluster node sets
    #: :meth:`appserver.relay.cluster.Cluster.make_link`.
    link_factory: Any = None
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    def spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        """Run ``work`` in the background (a close that must not wait for its caller)."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def __repr__(self) -> str:
        return f"<Relay links={len(self.links)} streams={len(self.streams)}>"

    # --- helpers for routes ------------------------------------------------------------

    @staticmethod
    def now() -> int:
        return int(time.time())

    def peer(self, request: web.Request) -> str:
        return request_peer(request, behind_proxy=self.config.behind_proxy)

    def auth_failure(self, kind: str, peer: str, route: str, reason: str) -> None:
        """One INFO line and a counter; never the credential itself."""
        self.metrics.auth_failures.labels(kind).inc()
        log.info("auth rejected: %s from %s on %s (%s)", kind, peer, route, reason)

    async def event(self, event: str, **fields: str | None) -> None:
        """An audited state change: audit row, counter, INFO line."""
        self.metrics.events.labels(event).inc()
        await self.store.audit(event, self.now(), **fields)
        shown = " ".join(f"{k}={v}" for k, v in fields.items() if v)
        log.info("%s %s", event, shown)

    # --- streams -------------------------------------------------------------------------

    def streams_of_server(self, server_id: str) -> list[ControllerStream]:
        return [s for s in self.streams.values() if s.server_id == server_id]

    def streams_of_device(self, client_id: str) -> list[ControllerStream]:
        return [s for s in self.streams.values() if s.client_id == client_id]

    def add_stream(self, stream: ControllerStream) -> None:
        self.streams[stream.stream_id] = stream
        self.metrics.streams.set(len(self.streams))

    def forget_stream(self, stream: ControllerStream) -> None:
        if self.streams.get(stream.stream_id) is stream:
            del self.streams[stream.stream_id]
            self.metrics.streams.set(len(self.streams))

    async def client_closed(self, stream: ControllerStream) -> None:
        """Tell the host the stream is over (now, or when it reconnects)."""
        link = self.links.get(stream.server_id)
        if link is not None and not link.closed:
            await link.send_client_closed(stream.client_id, stream.stream_id)
            return
        state = self.hosts.get(stream.server_id)
        if state is not None and len(state.closed_while_offline) < limits.RELAY_MAX_STREAMS_PER_HOST:
            state.closed_while_offline.append((stream.client_id, stream.stream_id))

    # --- state changes -------------------------------------------------------------------

    async def device_revoked(self, client_id: str) -> None:
        """Close the device's sockets (4001) and end its streams on the host."""
        for stream in self.streams_of_device(client_id):
            await stream.end_revoked()

    async def server_removed(self, server_id: str) -> None:
        for stream in self.streams_of_server(server_id):
            await stream.end_revoked()
        link = self.links.get(server_id)
        if link is not None:
            await link.close_removed()

    async def run_background(self) -> None:
        """Periodic work: envelope pings for idle streams, expiry of streams past their grace."""
        while True:
            await anyio.sleep(
                min(1.0, self.config.ping_interval / 4, self.config.stream_grace / 4,
                    self.config.host_offline_wait / 4)
            )
            now = time.monotonic()
            for stream in list(self.streams.values()):
                await stream.tick(now)

    async def shutdown(self) -> None:
        """Close every controller socket (1001) and host link."""
        for stream in list(self.streams.values()):
            await stream.close_socket(limits.RELAY_CLOSE_SHUTDOWN, strings.RELAY_CLOSE_SHUTDOWN)
        for link in list(self.links.values()):
            await link.close_shutdown()

    async def watch_store(self) -> None:
        """Apply changes made by tooling in another process (account/device removal)."""
        marker = await self.store.change_marker()
        while True:
            await anyio.sleep(limits.RELAY_STORE_POLL_INTERVAL)
            try:
                current = await self.store.change_marker()
                if current == marker:
                    continue
                marker = current
                await self.sweep_removed()
            except StoreUnavailable as exc:  # Redis away: /readyz says so; no traceback a second
                log.debug("checking the relay state for changes failed: %s", exc)
            except Exception as exc:  # a locked or vanished file must not stop the relay
                log.warning("checking the relay state for changes failed: %s", exc)

    async def sweep_removed(self) -> None:
        devices = {s.client_id for s in self.streams.values()}
        alive = await self.store.existing_devices(devices)
        for client_id in devices - alive:
            log.info("device %s was removed: closing its streams", client_id)
            await self.device_revoked(client_id)
        servers = set(self.links)
        alive_servers = await self.store.existing_servers(servers)
        for server_id in servers - alive_servers:
            log.info("server %s was removed: closing its link", server_id)
            await self.server_removed(server_id)


RELAY_KEY: web.AppKey[Relay] = web.AppKey("relay", Relay)
