"""The registry of connections: :class:`Processor` owns every connection of the gateway
and the backend they share."""

from __future__ import annotations

import itertools
import logging
from collections import Counter

from appserver import jsonrpc, limits
from appserver.backends.base import Backend
from appserver.processor.base import GatewayMethods, Metrics, OverflowPolicy
from appserver.processor.connection import _CLOSING, _WAIT, Connection, describe_close
from appserver.queues import Pulse

log = logging.getLogger("appserver.processor")


class Processor:
    """Owns every connection of the gateway and the backend they share."""

    def __init__(
        self,
        backend: Backend,
        *,
        gateway: GatewayMethods | None = None,
        window: int = limits.IN_FLIGHT_WINDOW,
        inbound_items: int = limits.INBOUND_QUEUE_MESSAGES,
        inbound_bytes: int = limits.INBOUND_QUEUE_BYTES,
    ) -> None:
        self.backend = backend
        #: Methods answered by the gateway itself; may be set until listeners start.
        self.gateway = gateway
        self.window = window
        self.inbound_items = inbound_items
        self.inbound_bytes = inbound_bytes
        self.metrics = Metrics()
        self._connections: dict[int, Connection] = {}
        self._ids = itertools.count()
        self._idle = Pulse()

    def register(
        self,
        transport: str,
        policy: OverflowPolicy = OverflowPolicy.DISCONNECT,
        *,
        outbound_items: int | None = None,
        inbound_items: int | None = None,
        inbound_bytes: int | None = None,
        peer: str = "",
    ) -> Connection:
        """Register a new client connection (call :meth:`Connection.open` next).

        ``transport`` is ``stdio``, ``unix``, ``ws``, ``wss`` or ``remote``; the bounds
        default to the processor's (a multiplexed stream passes smaller ones); ``peer``
        names the client in logs (``127.0.0.1:5555``, ``client-1/stream-1``).
        """
        if outbound_items is None:
            outbound_items = (
                limits.STDIO_OUTBOUND_QUEUE_MESSAGES
                if policy is _WAIT
                else limits.OUTBOUND_QUEUE_MESSAGES
            )
        conn = Connection(
            self,
            next(self._ids),
            transport,
            policy,
            outbound_items=outbound_items,
            inbound_items=self.inbound_items if inbound_items is None else inbound_items,
            inbound_bytes=self.inbound_bytes if inbound_bytes is None else inbound_bytes,
            peer=peer,
        )
        self._connections[conn.id] = conn
        self.metrics.connections_opened[transport] += 1
        log.info("connection %d opened: %s %s", conn.id, transport, peer or "-")
        return conn

    async def broadcast(self, message: jsonrpc.Message) -> None:
        """Queue a gateway notification to every ready connection that did not opt out.

        Never waits on a socket (DISCONNECT) connection: one whose queue is full is
        closed as a slow client. May wait for room on a WAIT (stdio) connection.
        """
        for conn in list(self._connections.values()):
            if conn.state is _CLOSING:
                continue
            if conn.client.wants_notification(message.method):
                await conn._enqueue(message)

    def _forget(self, conn: Connection) -> None:
        if self._connections.pop(conn.id, None) is not None:
            close = conn.close_request
            log.info(
                "connection %d closed: %s %s, %s",
                conn.id,
                conn.transport,
                conn.peer or "-",
                describe_close(close),
            )
            if not self._connections:
                self._idle.fire()

    @property
    def connections(self) -> list[Connection]:
        return list(self._connections.values())

    def open_connections(self) -> Counter[str]:
        """Open connections per transport, for metrics."""
        return Counter(conn.transport for conn in self._connections.values())

    def close_all(self, code: int, reason: str) -> None:
        for conn in list(self._connections.values()):
            conn.close(code, reason)

    async def wait_idle(self) -> None:
        """Wait until no connection is open."""
        while self._connections:
            await self._idle.wait()

    def __repr__(self) -> str:
        return f"<Processor backend={self.backend.name} connections={len(self._connections)}>"
