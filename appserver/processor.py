"""The JSON-RPC processor: connections, their bounded queues, and routing to the backend.

The data path (ARCHITECTURE.md "The data path")::

    transport --text--> Connection.receive --inbound queue--> Connection.dispatch --> backend
    transport <--text-- Connection.outbound <-- Connection.deliver <------------------ backend

A transport owns bytes and framing; it calls :meth:`Connection.receive` once per frame or
line, runs :meth:`Connection.dispatch`, and writes what :attr:`Connection.outbound` yields
(see :func:`appserver.transports.base.run_connection`). The processor owns the protocol
rules (spec/transport.md §6–7):

* malformed messages are logged and ignored; unknown methods, ``Not initialized`` and
  ``Already initialized`` are answered here without the backend;
* client requests wait in a bounded per-connection inbound queue and are forwarded within
  a bounded in-flight window; a request arriving while the queue is full is answered
  ``-32001 Server overloaded; retry later.``; other messages wait for room instead
  (backpressure on the client's socket; answers to server requests are never dropped);
* answers go to the originating connection only; notifications only once its
  ``initialize`` succeeded, and never when it opted out of the method;
* the outbound queue is bounded: stdio waits for room, a socket client that overflows
  it is closed with close code ``CLOSE_SLOW_CLIENT`` and a reason saying so.

A connection is not a socket: remote control multiplexes many over one link, so closing
is a request (:attr:`Connection.close_request`) the transport carries out.
"""

from __future__ import annotations

import enum
import itertools
import logging
from collections import Counter
from dataclasses import dataclass, field

import anyio

from appserver import jsonrpc, limits, strings
from appserver.backends.base import Backend, BackendSession, BackendUnavailable
from appserver.queues import MessageQueue, Pulse, QueueClosed, QueueFull
from appserver.session import Session

log = logging.getLogger("appserver.processor")

_OVERLOADED = jsonrpc.OVERLOADED
_REQUEST = jsonrpc.MessageKind.REQUEST
_NOTIFICATION = jsonrpc.MessageKind.NOTIFICATION


class OverflowPolicy(enum.Enum):
    """What happens when a client does not read its messages fast enough."""

    #: Producers wait for room (stdio: the only client, never dropped; upstream does so).
    WAIT = "wait"
    #: The client is closed with ``CLOSE_SLOW_CLIENT`` (sockets; others never wait for it).
    DISCONNECT = "disconnect"


class ConnectionState(enum.Enum):
    OPEN = "open"
    #: The client sent its last message; answers it is owed are still being delivered.
    DRAINING = "draining"
    #: Closing was requested; the transport flushes what it must and closes.
    CLOSING = "closing"


@dataclass(frozen=True, slots=True)
class CloseRequest:
    """Why the processor wants a connection closed (a WebSocket close code and reason)."""

    code: int
    reason: str


@dataclass(slots=True)
class Metrics:
    """Process-wide counters, exported by ``/metrics``."""

    messages_in: int = 0
    messages_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    malformed: int = 0
    overload_answers: int = 0
    connections_opened: Counter[str] = field(default_factory=Counter)
    closes_by_reason: Counter[str] = field(default_factory=Counter)
    outbound_high_water: int = 0


class Connection:
    """One client connection's protocol state and queues, independent of its transport."""

    def __init__(
        self,
        processor: Processor,
        conn_id: int,
        transport: str,
        policy: OverflowPolicy,
        outbound_items: int,
    ) -> None:
        self.id = conn_id
        self.transport = transport
        self.policy = policy
        self.session = Session()
        self.state = ConnectionState.OPEN
        self.close_request: CloseRequest | None = None
        #: Text messages for the client, in order; the transport's writer drains it.
        self.outbound: MessageQueue[str] = MessageQueue(
            f"outbound[{conn_id}]", outbound_items, limits.OUTBOUND_QUEUE_BYTES
        )
        self._processor = processor
        self._backend = processor.backend
        self._metrics = processor.metrics
        self._inbound: MessageQueue[jsonrpc.Message] = MessageQueue(
            f"inbound[{conn_id}]", processor.inbound_items, processor.inbound_bytes
        )
        self._window = processor.window
        self._in_flight: dict[jsonrpc.RequestId, int] = {}
        self._in_flight_count = 0
        self._progress = Pulse()  # fired when in-flight answers or state change
        self._backend_session: BackendSession | None = None
        self._failure: str | None = None

    # --- lifecycle ---------------------------------------------------------------------

    async def open(self) -> None:
        """Open the backend session; raises :class:`BackendUnavailable`."""
        self._backend_session = await self._backend.open_session(self)

    async def aclose(self) -> None:
        """Release the backend session and forget the connection (the transport is done)."""
        if self.state is not ConnectionState.CLOSING:
            self.close(1000, "")
        session, self._backend_session = self._backend_session, None
        self._processor._forget(self)
        if session is not None:
            with anyio.CancelScope(shield=True):
                try:
                    await session.aclose()
                except Exception:
                    log.exception("connection %d: closing the backend session failed", self.id)

    def close(self, code: int, reason: str, *, flush: bool = True) -> None:
        """Ask the transport to close: after what is queued (``flush``) or at once."""
        if self.state is ConnectionState.CLOSING:
            return
        self.state = ConnectionState.CLOSING
        self.close_request = CloseRequest(code, reason)
        self._metrics.closes_by_reason[_close_label(code)] += 1
        self._inbound.close(discard=True)
        self.outbound.close(discard=not flush)
        self._pulse()

    def finish_input(self) -> None:
        """The client will send nothing more (stdin EOF); owed answers still come."""
        if self.state is ConnectionState.OPEN:
            self.state = ConnectionState.DRAINING
            self._inbound.close()
            self._pulse()

    @property
    def owes_answers(self) -> bool:
        return bool(self._in_flight_count or len(self._inbound))

    async def wait_drained(self) -> None:
        """Wait until every request read so far has been answered (or the connection closed)."""
        while self.owes_answers and self.state is not ConnectionState.CLOSING:
            await self._progress.wait()

    # --- client -> backend -----------------------------------------------------------------

    async def receive(self, text: str) -> None:
        """One frame or line from the client. Never raises for bad input."""
        metrics = self._metrics
        metrics.messages_in += 1
        metrics.bytes_in += len(text)
        try:
            message = jsonrpc.parse(text)
        except jsonrpc.ParseError as exc:
            metrics.malformed += 1
            log.warning("connection %d: ignoring malformed message: %s", self.id, exc)
            return
        if message.kind is _REQUEST:
            rejection = self._backend.reject_method(message.method) or self.session.check_request(
                message
            )
            if rejection is not None:
                await self._enqueue(jsonrpc.Message.from_payload(rejection.to_error(message.id)))
                return
            try:
                self._inbound.put_nowait(message, len(text))
            except QueueFull:
                self._answer_overloaded(message)
            except QueueClosed:
                pass  # closing: nobody will read the answer
            return
        try:
            # Notifications and answers to server requests are never dropped: the reader
            # waits, which pushes back on the client's socket.
            await self._inbound.put(message, len(text))
        except QueueClosed:
            pass

    def _answer_overloaded(self, request: jsonrpc.Message) -> None:
        self._metrics.overload_answers += 1
        reply = jsonrpc.Message.from_payload(
            jsonrpc.error(request.id, _OVERLOADED, strings.OVERLOADED_MESSAGE)
        )
        try:
            self._put_outbound_nowait(reply)
        except QueueFull:
            log.warning(
                "dropping overload response for connection %d: outbound queue is full", self.id
            )

    async def dispatch(self) -> None:
        """Forward queued client messages to the backend session, within the window.

        Returns when the inbound queue is closed and empty. After a backend failure the
        queued requests are answered with an error instead of being forwarded, then the
        in-flight ones, and the connection is closed.
        """
        while await self.dispatch_one():
            pass
        if self._failure is not None:
            await self._fail_in_flight()

    async def dispatch_one(self) -> bool:
        """Forward the next queued message, and with it every queued message that is ready
        and fits the window, in one batch; ``False`` once the queue is closed and empty."""
        inbound = self._inbound
        try:
            message = await inbound.get()
        except QueueClosed:
            return False
        if message.kind is _REQUEST:
            while self._in_flight_count >= self._window and self._failure is None:
                if self.state is ConnectionState.CLOSING:
                    return False
                await self._progress.wait()
        if self._failure is not None:
            if message.kind is _REQUEST:
                await self._enqueue(self._failure_answer(message.id))
            return True
        batch = [message]
        self._track(message)
        while len(batch) < limits.FORWARD_BATCH_MESSAGES:
            ready = inbound.peek()
            if ready is None or (
                ready.kind is _REQUEST and self._in_flight_count >= self._window
            ):
                break
            batch.append(inbound.get_nowait())
            self._track(ready)
        session = self._backend_session
        try:
            if session is None:
                raise BackendUnavailable("session is closed")
            await session.send_batch(batch)
        except BackendUnavailable as exc:
            self.backend_failed(str(exc))
        return True

    def _track(self, message: jsonrpc.Message) -> None:
        """Count a forwarded request against the in-flight window."""
        if message.kind is _REQUEST:
            self._in_flight[message.id] = self._in_flight.get(message.id, 0) + 1  # type: ignore[index]
            self._in_flight_count += 1

    # --- backend -> client -----------------------------------------------------------------

    async def deliver(self, message: jsonrpc.Message) -> None:
        """A message from the backend for this client (see :class:`appserver.backends.Peer`)."""
        if message.is_answer:
            if self.session.initialize_id is not None:
                self.session.on_answer(message)
            # Released only once queued: a drain that sees nothing in flight must find
            # every answer already in the outbound queue.
            await self._enqueue(message)
            self._release(message.id)
            return
        if message.kind is _NOTIFICATION and not self.session.wants_notification(message.method):
            return
        await self._enqueue(message)

    def backend_failed(self, reason: str) -> None:
        """The backend session died: answer what is owed with an error, then close (1011)."""
        if self._failure is not None or self.state is ConnectionState.CLOSING:
            return
        log.warning("connection %d: backend failed: %s", self.id, reason)
        self._failure = reason
        self._inbound.close()  # dispatch() answers what is queued, then the in-flight
        self._pulse()

    async def _fail_in_flight(self) -> None:
        assert self._failure is not None
        for request_id, count in list(self._in_flight.items()):
            for _ in range(count):
                await self._enqueue(self._failure_answer(request_id))
        self._in_flight.clear()
        self._in_flight_count = 0
        self.close(
            limits.CLOSE_BACKEND_FAILURE,
            strings.CLOSE_REASON_BACKEND.format(reason=self._failure)[:120],
        )

    def _failure_answer(self, request_id: jsonrpc.RequestId) -> jsonrpc.Message:
        text = strings.BACKEND_UNAVAILABLE.format(reason=self._failure)
        return jsonrpc.Message.from_payload(
            jsonrpc.error(request_id, jsonrpc.INTERNAL_ERROR, text)
        )

    def _release(self, request_id: jsonrpc.RequestId | None) -> None:
        count = self._in_flight.get(request_id)  # type: ignore[arg-type]
        if not count:
            return  # an answer the backend owed nobody we track (e.g. after a failure)
        if count == 1:
            del self._in_flight[request_id]  # type: ignore[arg-type]
        else:
            self._in_flight[request_id] = count - 1  # type: ignore[index]
        self._in_flight_count -= 1
        self._pulse()

    def _pulse(self) -> None:
        self._progress.fire()

    async def _enqueue(self, message: jsonrpc.Message) -> None:
        if self.policy is OverflowPolicy.WAIT:
            try:
                await self.outbound.put(message.text, len(message.text))
            except QueueClosed:
                return
            self._count_out(message.text)
            return
        try:
            self._put_outbound_nowait(message)
        except QueueFull:
            log.warning(
                "disconnecting slow connection after outbound queue filled: %d", self.id
            )
            self.close(limits.CLOSE_SLOW_CLIENT, strings.CLOSE_REASON_SLOW_CLIENT, flush=False)

    def _put_outbound_nowait(self, message: jsonrpc.Message) -> None:
        try:
            self.outbound.put_nowait(message.text, len(message.text))
        except QueueClosed:
            return
        self._count_out(message.text)

    def _count_out(self, text: str) -> None:
        metrics = self._metrics
        metrics.messages_out += 1
        metrics.bytes_out += len(text)
        if self.outbound.high_water > metrics.outbound_high_water:
            metrics.outbound_high_water = self.outbound.high_water

    def __repr__(self) -> str:
        return (
            f"<Connection {self.id} {self.transport} {self.state.value} "
            f"{self.session.state.value} in_flight={self._in_flight_count} "
            f"queued_in={len(self._inbound)} queued_out={len(self.outbound)}>"
        )


def _close_label(code: int) -> str:
    return {
        1000: "normal",
        limits.CLOSE_GOING_AWAY: "shutdown",
        limits.CLOSE_SLOW_CLIENT: "slow_client",
        limits.CLOSE_BACKEND_FAILURE: "backend_failure",
        limits.CLOSE_ABNORMAL: "lost",
    }.get(code, str(code))


class Processor:
    """Owns every connection of the gateway and the backend they share."""

    def __init__(
        self,
        backend: Backend,
        *,
        window: int = limits.IN_FLIGHT_WINDOW,
        inbound_items: int = limits.INBOUND_QUEUE_MESSAGES,
        inbound_bytes: int = limits.INBOUND_QUEUE_BYTES,
    ) -> None:
        self.backend = backend
        self.window = window
        self.inbound_items = inbound_items
        self.inbound_bytes = inbound_bytes
        self.metrics = Metrics()
        self._connections: dict[int, Connection] = {}
        self._ids = itertools.count()
        self._idle = Pulse()

    def connect(
        self,
        transport: str,
        policy: OverflowPolicy = OverflowPolicy.DISCONNECT,
        *,
        outbound_items: int | None = None,
    ) -> Connection:
        """Register a new client connection (call :meth:`Connection.open` next)."""
        if outbound_items is None:
            outbound_items = (
                limits.STDIO_OUTBOUND_QUEUE_MESSAGES
                if policy is OverflowPolicy.WAIT
                else limits.OUTBOUND_QUEUE_MESSAGES
            )
        conn = Connection(self, next(self._ids), transport, policy, outbound_items)
        self._connections[conn.id] = conn
        self.metrics.connections_opened[transport] += 1
        log.debug("connection %d opened (%s)", conn.id, transport)
        return conn

    def _forget(self, conn: Connection) -> None:
        if self._connections.pop(conn.id, None) is not None:
            log.debug("connection %d closed (%s)", conn.id, conn.transport)
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
