"""One client connection: the receive rules, the bounded queues, the in-flight window,
and the direct path (see :mod:`appserver.processor`)."""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio
from anyio.abc import TaskGroup

from appserver import jsonrpc, limits, strings
from appserver.backends.base import BackendSession
from appserver.client_state import ClientPhase, ClientState
from appserver.close import CloseCode, CloseRequest
from appserver.errors import BackendUnavailable, QueueClosed
from appserver.processor.base import ConnectionState, OverflowPolicy
from appserver.processor.delivery import Delivery
from appserver.queues import MessageQueue, Pulse, QueueFull, utf8_size

if TYPE_CHECKING:
    from appserver.processor.registry import Processor

log = logging.getLogger("appserver.processor")

_OVERLOADED = jsonrpc.OVERLOADED
_REQUEST = jsonrpc.MessageKind.REQUEST
_NOTIFICATION = jsonrpc.MessageKind.NOTIFICATION


class _Admit(enum.Enum):
    """What :meth:`Connection._admit` decided about one client message."""

    DONE = "done"  # handled (ignored, queued, or answered without waiting)
    ANSWER = "answer"  # answer it with the returned message
    QUEUE = "queue"  # a notification or an answer to a server request: queue it


# Members bound to module names: in Python 3.11 an enum class has a ``__getattr__``, which
# makes each ``ConnectionState.OPEN`` on the per-message path cost about ten times a global.
_WAIT = OverflowPolicy.WAIT
_OPEN = ConnectionState.OPEN
_DRAINING = ConnectionState.DRAINING
_CLOSING = ConnectionState.CLOSING
_READY = ClientPhase.READY
_DONE = _Admit.DONE
_ANSWER = _Admit.ANSWER
_QUEUE = _Admit.QUEUE


class Connection(Delivery):
    """One client connection's protocol state and queues, independent of its transport."""

    def __init__(
        self,
        processor: Processor,
        conn_id: int,
        transport: str,
        policy: OverflowPolicy,
        *,
        outbound_items: int,
        inbound_items: int,
        inbound_bytes: int,
        peer: str = "",
    ) -> None:
        self.id = conn_id
        self.transport = transport
        self.peer = peer
        self.policy = policy
        self.client = ClientState(transport=transport)
        self.state = _OPEN
        self.close_request: CloseRequest | None = None
        #: Text messages for the client, in order; the transport's writer drains it.
        self.outbound: MessageQueue[str] = MessageQueue(
            f"outbound[{conn_id}]", outbound_items, limits.OUTBOUND_QUEUE_BYTES
        )
        self._processor = processor
        self._backend = processor.backend
        self._metrics = processor.metrics
        self._inbound: MessageQueue[jsonrpc.Message] = MessageQueue(
            f"inbound[{conn_id}]", inbound_items, inbound_bytes
        )
        #: Requests for gateway-owned methods, waiting for :meth:`dispatch` to start them.
        self._calls: MessageQueue[jsonrpc.Message] = MessageQueue(
            f"gateway_calls[{conn_id}]", limits.GATEWAY_CALLS_PER_CONNECTION, inbound_bytes
        )
        self._calls_owed = 0  # queued or running gateway calls
        self._window = processor.window
        self._in_flight: dict[jsonrpc.RequestId, int] = {}
        self._in_flight_count = 0
        self._progress = Pulse()  # fired when in-flight answers or state change
        self._backend_session: BackendSession | None = None
        self._failure: str | None = None
        # The direct path (see the module docstring).
        self._send_now: Callable[[jsonrpc.Message], bool] | None = None
        self._forwarding = False  # _forward_next holds a message it took from the queue
        self._forwarded_now = False  # a message went to the backend directly this iteration
        self._write_now: Callable[[str], bool] | None = None
        self._write_frame_now: Callable[[bytes], bool] | None = None
        self._wrote_now = False  # an answer went out directly in this loop iteration
        self._closing: anyio.Event | None = None  # made by wait_closing(), set by close()
        self._loop: asyncio.AbstractEventLoop | None = None  # looked up on first use

    # --- lifecycle ---------------------------------------------------------------------

    async def open(self) -> None:
        """Open the backend session; raises :class:`BackendUnavailable`."""
        self._backend_session = await self._backend.open_session(self)
        self._send_now = getattr(self._backend_session, "send_nowait", None)

    def set_direct_writer(
        self,
        write_now: Callable[[str], bool],
        write_frame_now: Callable[[bytes], bool] | None = None,
    ) -> None:
        """Let answers bypass :attr:`outbound` when it is empty: ``write_now(text)`` writes
        one message to the client at once and returns ``True``, or returns ``False``
        (without writing) when it cannot without waiting; the message is queued then.
        ``write_frame_now(frame)`` does the same with a ready WebSocket frame (a WebSocket
        client's transport; see :meth:`pass_answer_frame`)."""
        self._write_now = write_now
        self._write_frame_now = write_frame_now

    async def aclose(self) -> None:
        """Release the backend session and forget the connection (the transport is done)."""
        if self.state is not _CLOSING:
            self.close(CloseCode.NORMAL, "")
        session, self._backend_session = self._backend_session, None
        self._processor._forget(self)
        if session is not None:
            with anyio.CancelScope(shield=True):
                try:
                    await session.aclose()
                except Exception:
                    log.exception("connection %d: closing the backend session failed", self.id)

    def close(
        self, code: int, reason: str, *, flush: bool = True, label: str | None = None
    ) -> None:
        """Ask the transport to close: after what is queued (``flush``) or at once.

        The reason is cut to what a close frame holds (:func:`appserver.close.cut_reason`);
        ``label`` names the cause in ``/metrics`` (default: from the code).
        """
        if self.state is _CLOSING:
            return
        self.state = _CLOSING
        self.close_request = CloseRequest.of(code, reason)
        self._metrics.closes_by_reason[label or _close_label(code)] += 1
        self._inbound.close(discard=True)
        self._calls.close(discard=True)
        self.outbound.close(discard=not flush)
        self._pulse()
        if self._closing is not None:
            self._closing.set()

    async def wait_closing(self) -> None:
        """Return once closing was requested (the transport then bounds its last writes)."""
        if self.close_request is None:
            if self._closing is None:
                self._closing = anyio.Event()
            await self._closing.wait()

    def finish_input(self) -> None:
        """The client will send nothing more (stdin EOF); owed answers still come."""
        if self.state is _OPEN:
            self.state = _DRAINING
            self._inbound.close()
            self._pulse()

    @property
    def queued_inbound(self) -> int:
        """Client messages waiting for the dispatcher (not forwarded yet)."""
        return len(self._inbound)

    @property
    def in_flight(self) -> int:
        """Forwarded requests not answered yet (what the window counts)."""
        return self._in_flight_count

    @property
    def owes_answers(self) -> bool:
        return bool(self._in_flight_count or len(self._inbound) or self._calls_owed)

    async def wait_drained(self) -> None:
        """Wait until every request read so far has been answered (or the connection closed)."""
        while self.owes_answers and self.state is not _CLOSING:
            await self._progress.wait()

    # --- client -> backend -----------------------------------------------------------------

    async def receive(self, text: str) -> None:
        """One frame or line from the client. Never raises for bad input.

        A notification or an answer to a server request that does not fit the inbound
        queue waits for room (backpressure on the client's socket; never dropped).
        """
        verdict, message, size = self._admit(text)
        if verdict is _ANSWER:
            await self._enqueue(message)
        elif verdict is _QUEUE and not self._forward_direct(message):
            try:
                await self._inbound.put(message, size)
            except QueueClosed:
                pass

    def receive_nowait(self, text: str) -> None:
        """Like :meth:`receive`, but never waits: for a reader that serves many connections.

        A notification or an answer to a server request that does not fit the inbound
        queue closes this connection (1008, ``inbound queue full``) instead of making the
        reader wait, so one flooding stream never blocks its link or the other streams.
        """
        verdict, message, size = self._admit(text)
        if verdict is _ANSWER:
            self._enqueue_nowait(message)
        elif verdict is _QUEUE and not self._forward_direct(message):
            try:
                self._inbound.put_nowait(message, size)
            except QueueFull:
                log.warning("connection %d: inbound queue full; closing it", self.id)
                self._metrics.inbound_full_closes += 1
                self.close(
                    CloseCode.POLICY_VIOLATION,
                    strings.CLOSE_REASON_INBOUND_FULL,
                    flush=False,
                    label="inbound_full",
                )
            except QueueClosed:
                pass

    def offer(self, text: str) -> bool:
        """Like :meth:`receive` when that would not wait, for a reader that must not wait
        (a frame handed over in the socket's data callback, :mod:`appserver.transports.frames`).

        Returns ``False``, having done nothing, when :meth:`receive` might have to wait for
        room (the inbound queue is full, or the client's policy is to wait): the caller
        passes the message to :meth:`receive` instead, so behaviour is the same either way.

        The reader calls :meth:`client_read_done` after each socket read it offered
        messages from: the direct path takes one message per read (the rest of a
        pipelined burst is queued behind it and forwarded in one write).
        """
        if self.policy is _WAIT:
            return False
        size = len(text) if text.isascii() else utf8_size(text)  # utf8_size, inline
        if not self._inbound.has_room(size):
            return False
        verdict, message, size = self._admit(text, size, in_read=True)
        if verdict is _ANSWER:
            self._enqueue_nowait(message)
        elif verdict is _QUEUE and not self._forward_direct(message, in_read=True):
            try:
                self._inbound.put_nowait(message, size)
            except (QueueFull, QueueClosed):
                pass  # not full (checked above); closed: closing, nobody reads it
        return True

    def _admit(
        self, text: str, size: int = -1, *, in_read: bool = False
    ) -> tuple[_Admit, jsonrpc.Message, int]:
        """The receive rules that need no waiting (sans-I/O): parse, reject, queue requests.

        Requests are queued here (or answered -32001 when their queue is full); what is
        left to the caller is an answer to queue for the client, or a non-request to put
        in the inbound queue, waiting or not.
        """
        metrics = self._metrics
        if size < 0:
            size = utf8_size(text)
        metrics.messages_in += 1
        metrics.bytes_in += size
        try:
            message = jsonrpc.parse(text)
        except jsonrpc.ParseError as exc:
            metrics.malformed += 1
            log.warning("connection %d: ignoring malformed message: %s", self.id, exc)
            return _DONE, _NO_MESSAGE, 0
        if message.kind is not _REQUEST:
            return _QUEUE, message, size
        gateway = self._processor.gateway
        owned = gateway is not None and gateway.owns(message.method)  # type: ignore[arg-type]
        if owned:
            rejection = self.client.check_request(message)
        else:
            rejection = self._backend.reject_method(
                message.method  # type: ignore[arg-type]
            ) or self.client.check_request(message)
        if rejection is not None:
            return _ANSWER, jsonrpc.Message.from_payload(rejection.to_error(message.id)), 0
        if not owned and self._forward_direct(message, in_read=in_read):
            return _DONE, message, 0
        queue = self._calls if owned else self._inbound
        try:
            queue.put_nowait(message, size)
        except QueueFull:
            self._answer_overloaded(message)
        except QueueClosed:
            pass  # closing: nobody will read the answer
        else:
            if owned:
                self._calls_owed += 1
        return _DONE, message, 0

    def _forward_direct(self, message: jsonrpc.Message, *, in_read: bool = False) -> bool:
        """Hand an admitted message to the backend session now, if nothing is ahead of it.

        One message per event-loop iteration goes this way (a lone request's); the rest of a
        pipelined burst read in the same iteration is queued behind it, so that the
        dispatcher forwards it in one write. ``in_read``: the message came from
        :meth:`offer`, and :meth:`client_read_done` re-arms the direct path at the end of
        the read (no callback scheduled per message).

        ``False`` leaves it to the queue: before ``initialize`` succeeded, while anything is
        queued or :meth:`_forward_next` holds a message, when a request would exceed the
        window, or when the session cannot take it without waiting.
        """
        send_now = self._send_now
        if (
            send_now is None
            or self._forwarded_now
            or self._forwarding
            or len(self._inbound)
            or self._failure is not None
            or self.state is not _OPEN
            or self.client.state is not _READY
        ):
            return False
        is_request = message.kind is _REQUEST
        if is_request and self._in_flight_count >= self._window:
            return False
        try:
            if not send_now(message):
                return False
        except BackendUnavailable as exc:
            if is_request:
                self._track(message)  # answered with the failure, like the queued ones
            self.backend_failed(str(exc))
            return True
        if is_request:
            # _track(message), written out: this runs once per request.
            in_flight = self._in_flight
            in_flight[message.id] = in_flight.get(message.id, 0) + 1  # type: ignore[index]
            self._in_flight_count += 1
        self._forwarded_now = True
        if not in_read:
            self._soon(self._rearm_direct_forward)
        self._metrics.forwarded_direct += 1
        return True

    def _soon(self, callback: Callable[[], None]) -> None:
        """``loop.call_soon`` with the loop looked up once (each lookup is a ``getpid``
        system call, twice per round trip on the direct path)."""
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        loop.call_soon(callback)

    def _rearm_direct_forward(self) -> None:
        self._forwarded_now = False

    def client_read_done(self) -> None:
        """The client socket's read whose messages went to :meth:`offer` is over."""
        self._forwarded_now = False

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
        async with anyio.create_task_group() as calls:
            calls.start_soon(self._start_gateway_calls, calls)
            while await self._forward_next():
                pass
            if self._failure is not None:
                await self._fail_in_flight()
            # No more client messages: the calls already queued finish, then we return.
            self._calls.close()

    async def _start_gateway_calls(self, calls: TaskGroup) -> None:
        while True:
            try:
                request = await self._calls.get()
            except QueueClosed:
                return
            calls.start_soon(self._answer_gateway_call, request)

    async def _answer_gateway_call(self, request: jsonrpc.Message) -> None:
        """Run a gateway-owned method's handler; its answer goes to this connection."""
        gateway = self._processor.gateway
        self._metrics.gateway_calls += 1
        try:
            try:
                assert gateway is not None
                answer = jsonrpc.Message.from_payload(await gateway.handle(self, request))
                if not answer.is_answer or answer.id != request.id:
                    raise ValueError(f"handler returned {answer!r} for {request!r}")
            except Exception:
                self._metrics.gateway_failures += 1
                log.exception("connection %d: gateway method %s failed", self.id, request.method)
                answer = jsonrpc.Message.from_payload(
                    jsonrpc.error(
                        request.id,  # type: ignore[arg-type]
                        jsonrpc.INTERNAL_ERROR,
                        strings.GATEWAY_METHOD_FAILED.format(method=request.method),
                    )
                )
            await self._enqueue(answer)
        finally:
            self._calls_owed -= 1
            self._pulse()

    async def _forward_next(self) -> bool:
        """Forward the next queued message, and with it every queued message that is ready
        and fits the window, in one batch; ``False`` once the queue is closed and empty."""
        inbound = self._inbound
        try:
            message = await inbound.get()
        except QueueClosed:
            return False
        self._forwarding = True
        try:
            return await self._forward_queued(message)
        finally:
            self._forwarding = False

    async def _forward_queued(self, message: jsonrpc.Message) -> bool:
        inbound = self._inbound
        if message.kind is _REQUEST:
            while self._in_flight_count >= self._window and self._failure is None:
                if self.state is _CLOSING:
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
                raise BackendUnavailable(strings.BACKEND_SESSION_CLOSED)
            await session.send_batch(batch)
        except BackendUnavailable as exc:
            self.backend_failed(str(exc))
        return True

    def _track(self, message: jsonrpc.Message) -> None:
        """Count a forwarded request against the in-flight window."""
        if message.kind is _REQUEST:
            self._in_flight[message.id] = self._in_flight.get(message.id, 0) + 1  # type: ignore[index]
            self._in_flight_count += 1

    def __repr__(self) -> str:
        return (
            f"<Connection {self.id} {self.transport} {self.peer!r} {self.state.value} "
            f"{self.client.state.value} in_flight={self._in_flight_count} "
            f"queued_in={len(self._inbound)} queued_out={len(self.outbound)}>"
        )


_NO_MESSAGE = jsonrpc.Message(jsonrpc.MessageKind.NOTIFICATION, {}, "", None, None)

_CLOSE_LABELS = {
    CloseCode.NORMAL: "normal",
    CloseCode.GOING_AWAY: "shutdown",
    CloseCode.POLICY_VIOLATION: "policy",
    CloseCode.INTERNAL_ERROR: "backend_failure",
    CloseCode.ABNORMAL: "lost",
}


def describe_close(close: CloseRequest | None) -> str:
    """For the closed-connection log line: who closed, and the code and reason sent."""
    if close is None or close.code == CloseCode.ABNORMAL:
        return "by the client"
    return f"{close.code} {close.reason}".strip()


def _close_label(code: int) -> str:
    return _CLOSE_LABELS.get(code, str(code))  # type: ignore[call-overload]
