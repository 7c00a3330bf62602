"""The backend -> client half of a :class:`~appserver.processor.Connection`: delivering a
backend's messages under the client's rules (opt-outs, the gateway's own notifications,
the message limit, the initialize answer), through the outbound queue or, on the direct
path, straight to the client's socket — as a message, or as the very frames the backend
wrote (see :mod:`appserver.processor`).

A mixin: :class:`~appserver.processor.connection.Connection` holds the state (its
``__init__``) and the client -> backend half; this module keeps the connection module to
one direction of traffic each.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING
from appserver import jsonrpc, limits, strings
from appserver.client_state import ClientPhase, ClientState
from appserver.close import CloseCode, public_reason
from appserver.errors import QueueClosed
from appserver.processor.base import ConnectionState, Metrics, OverflowPolicy
from appserver.queues import MessageQueue, Pulse, QueueFull, utf8_size

if TYPE_CHECKING:
    from appserver.processor.registry import Processor

log = logging.getLogger("appserver.processor")

_NOTIFICATION = jsonrpc.MessageKind.NOTIFICATION
# Members bound to module names (see connection.py).
_WAIT = OverflowPolicy.WAIT
_CLOSING = ConnectionState.CLOSING
_READY = ClientPhase.READY


class Delivery:
    """Backend -> client: the methods a backend session calls (:class:`~appserver.backends.base.Peer`)."""

    # The connection's state these methods use, set by Connection.__init__.
    id: int
    policy: OverflowPolicy
    state: ConnectionState
    client: ClientState
    outbound: MessageQueue[str]
    _processor: Processor
    _metrics: Metrics
    _inbound: MessageQueue[jsonrpc.Message]
    _in_flight: dict[jsonrpc.RequestId, int]
    _in_flight_count: int
    _progress: Pulse
    _failure: str | None
    _write_now: Callable[[str], bool] | None
    _write_frame_now: Callable[[bytes], bool] | None
    _wrote_now: bool

    @property
    def waits_for_room(self) -> bool:
        """Whether :meth:`deliver` may wait (for room in the outbound queue); when not,
        :meth:`deliver_nowait` does the same without a coroutine."""
        return self.policy is _WAIT

    def deliver_nowait(self, message: jsonrpc.Message) -> None:
        """:meth:`deliver` for a connection that never waits for room (not
        :attr:`waits_for_room`), called from a data callback without a task."""
        assert self.policy is not _WAIT
        message = self._deliverable(message)  # type: ignore[assignment]
        if message is None:
            return
        if message.is_answer:
            ready_now = self._answered(message)
            self._enqueue_nowait(message)
            if ready_now:
                for notification in self._ready_notifications():
                    self._enqueue_nowait(notification)
            self._release(message.id)
            return
        self._enqueue_nowait(message)

    def deliver_many_nowait(self, messages: list[jsonrpc.Message]) -> None:
        """:meth:`deliver_nowait` for each of ``messages``, in order: a streamed turn's deltas
        are filtered once per method and queued together (one writer wake-up)."""
        assert self.policy is not _WAIT
        items: list[tuple[str, int]] = []
        wanted: dict[str | None, bool] = {}
        # A text shorter than this (in characters) cannot be over the limit in UTF-8.
        check_size_over = limits.MAX_MESSAGE_BYTES // 4
        for message in messages:
            if message.kind is not _NOTIFICATION or len(message.text) > check_size_over:
                self._queue_items(items)  # what came before it goes first
                items = []
                self.deliver_nowait(message)
                continue
            method = message.method
            keep = wanted.get(method)
            if keep is None:
                keep = wanted[method] = self._deliverable(message) is not None
            if keep:
                text = message.text
                items.append((text, len(text) if text.isascii() else utf8_size(text)))
        self._queue_items(items)

    def _queue_items(self, items: list[tuple[str, int]]) -> None:
        """Queue ``(text, size)`` notifications for the client; a full queue closes it."""
        if not items:
            return
        try:
            put = self.outbound.put_many_nowait(items)
        except QueueClosed:
            return
        metrics = self._metrics
        metrics.messages_out += put
        metrics.bytes_out += sum([size for _, size in (items if put == len(items) else items[:put])])
        if self.outbound.high_water > metrics.outbound_high_water:
            metrics.outbound_high_water = self.outbound.high_water
        if put < len(items):
            self._close_slow()

    async def deliver(self, message: jsonrpc.Message) -> None:
        """A message from the backend for this client (see :class:`appserver.backends.Peer`)."""
        message = self._deliverable(message)  # type: ignore[assignment]
        if message is None:
            return
        if message.is_answer:
            ready_now = self._answered(message)
            # Released only once queued: a drain that sees nothing in flight must find
            # every answer already in the outbound queue.
            await self._enqueue(message)
            if ready_now:
                for notification in self._ready_notifications():
                    await self._enqueue(notification)
            self._release(message.id)
            return
        await self._enqueue(message)

    @property
    def takes_frames(self) -> bool:
        """May a backend hand this connection the ready WebSocket frames it read
        (:meth:`pass_answer_frame`, :meth:`pass_notification_frames`): a WebSocket
        client's transport registered a frame writer. A backend that sees ``False`` when
        its session opens need not look at its frames at all."""
        return self._write_frame_now is not None

    def pass_answer_frame(self, frame: bytes, request_id: jsonrpc.RequestId, size: int) -> bool:
        """Write a backend's answer to an in-flight request as the ready WebSocket text
        frame it came in (its payload ``size`` bytes), when :meth:`deliver_nowait` would
        write it at once unchanged: a client on a WebSocket transport that can take a frame
        now, nothing queued before it, no ``initialize`` being answered, the answer under
        the message limit. ``False``, having done nothing, leaves it to :meth:`deliver_nowait`.

        Called in the backend socket's data callback, which calls :meth:`backend_read_done`
        after each read: one answer per read goes out this way.
        """
        if (
            not self._takes_frames_now()
            or size > limits.MAX_MESSAGE_BYTES
            or request_id not in self._in_flight
            or not self._write_frame_now(frame)  # type: ignore[misc]
        ):
            return False
        self._wrote_frames(1, size)
        self._release(request_id)
        return True

    def _takes_frames_now(self) -> bool:
        """May a backend's ready frame be written to the client at once: a WebSocket
        client's transport, no frame written directly in this backend read yet, nothing
        queued before it, the connection open, a client that never waits for room, no
        ``initialize`` being answered (the client state must see that answer)."""
        return not (
            self._write_frame_now is None
            or self._wrote_now
            or len(self.outbound)
            or self.state is _CLOSING
            or self.policy is _WAIT
            or self.client.initialize_id is not None
        )

    def _wrote_frames(self, count: int, size: int) -> None:
        """``count`` messages (payloads ``size`` bytes in all) went out as ready frames."""
        self._wrote_now = True
        metrics = self._metrics
        metrics.written_direct += count
        metrics.messages_out += count
        metrics.bytes_out += size

    def notification_frame_fate(self, method: str) -> bool | None:
        """What becomes of a backend's notification of ``method`` arriving now as a ready
        WebSocket frame: ``True``, :meth:`pass_notification_frames` may write it verbatim
        (with the others of the same backend read); ``False``, it is dropped (the client
        opted out, or the gateway owns it: what :meth:`deliver_nowait` would do); ``None``,
        it must take :meth:`deliver_nowait`'s way (the conditions of
        :meth:`pass_answer_frame`: no frame can be written at once, or something queued
        must go first)."""
        if not self._takes_frames_now():
            return None
        if not self.client.wants_notification(method):
            return False
        gateway = self._processor.gateway
        return gateway is None or not gateway.owns_notification(method)

    def pass_notification_frames(self, frames: bytes, count: int, size: int) -> bool:
        """Write ``count`` notifications' ready WebSocket frames (their payloads ``size``
        bytes in all), each passed by :meth:`notification_frame_fate` during the backend
        read now ending, in one write. ``False``, having done nothing: deliver them
        as messages."""
        if not self._takes_frames_now() or not self._write_frame_now(frames):  # type: ignore[misc]
            return False
        self._wrote_frames(count, size)
        return True

    def _answered(self, answer: jsonrpc.Message) -> bool:
        """Let the client state see an answer; ``True`` when it made the connection ready."""
        if self.client.initialize_id is None:
            return False
        self.client.on_answer(answer)
        return self.client.state is _READY

    def _deliverable(self, message: jsonrpc.Message) -> jsonrpc.Message | None:
        """What of a backend message goes to the client: ``None`` for a notification the
        client opted out of or the gateway owns; an error in place of an answer too large
        for any transport."""
        if len(message.text) > limits.MAX_MESSAGE_BYTES // 4 and (
            utf8_size(message.text) > limits.MAX_MESSAGE_BYTES
        ):
            # No transport may carry it (clients refuse frames over the limit): an answer
            # becomes an error for its request, a notification is dropped.
            size = utf8_size(message.text)
            log.warning("connection %d: %r is %d bytes, over the message limit", self.id, message, size)
            if not message.is_answer:
                return None
            message = jsonrpc.Message.from_payload(
                jsonrpc.error(
                    message.id,  # type: ignore[arg-type]
                    jsonrpc.INTERNAL_ERROR,
                    strings.MESSAGE_TOO_LARGE.format(size=size, limit=limits.MAX_MESSAGE_BYTES),
                )
            )
        if message.kind is _NOTIFICATION:
            if not self.client.wants_notification(message.method):
                return None
            gateway = self._processor.gateway
            if gateway is not None and gateway.owns_notification(message.method):  # type: ignore[arg-type]
                return None
        return message

    def _ready_notifications(self) -> list[jsonrpc.Message]:
        """The gateway's notifications, queued right behind the initialize answer."""
        gateway = self._processor.gateway
        if gateway is None:
            return []
        try:
            return gateway.on_ready(self)
        except Exception:
            log.exception("connection %d: gateway on_ready failed", self.id)
            return []

    def backend_failed(self, reason: str) -> None:
        """The backend session died: answer what is owed with an error, then close (1011)."""
        if self._failure is not None or self.state is _CLOSING:
            return
        log.warning("connection %d: backend failed: %s", self.id, reason)
        self._failure = public_reason(reason)  # the client's copy names no local paths
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
            CloseCode.INTERNAL_ERROR, strings.CLOSE_REASON_BACKEND.format(reason=self._failure)
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
        self._progress.fire()

    def _pulse(self) -> None:
        self._progress.fire()

    async def _enqueue(self, message: jsonrpc.Message) -> None:
        """Queue a message for the client: WAIT connections wait for room, others never."""
        if self.policy is _WAIT:
            size = utf8_size(message.text)
            try:
                await self.outbound.put(message.text, size)
            except QueueClosed:
                return
            self._count_out(size)
            return
        self._enqueue_nowait(message)

    def _enqueue_nowait(self, message: jsonrpc.Message) -> None:
        """Queue a message for the client without waiting; a full queue closes it (1008)."""
        try:
            self._put_outbound_nowait(message)
        except QueueFull:
            self._close_slow()

    def _close_slow(self) -> None:
        """The outbound queue is full and this client does not wait for room: close (1008)."""
        log.warning("disconnecting slow connection after outbound queue filled: %d", self.id)
        self.close(
            CloseCode.POLICY_VIOLATION,
            strings.CLOSE_REASON_SLOW_CLIENT,
            flush=False,
            label="slow_client",
        )

    def _put_outbound_nowait(self, message: jsonrpc.Message) -> None:
        size = utf8_size(message.text)
        if self._write_now is not None and message.is_answer and self._write_direct(message):
            self._count_out(size)
            return
        try:
            self.outbound.put_nowait(message.text, size)
        except QueueClosed:
            return
        self._count_out(size)

    def _write_direct(self, message: jsonrpc.Message) -> bool:
        """Write an answer to the client now when nothing is queued before it.

        One answer per event-loop iteration goes out this way (a lone round trip's); the
        rest of a burst is queued behind it so that the writer sends it in one batch.
        """
        if (
            self._wrote_now
            or len(self.outbound)
            or self.state is _CLOSING
            or not self._write_now(message.text)  # type: ignore[misc]
        ):
            return False
        self._wrote_now = True
        self._soon(self._rearm_direct_write)
        self._metrics.written_direct += 1
        return True

    def _rearm_direct_write(self) -> None:
        self._wrote_now = False

    def backend_read_done(self) -> None:
        """The backend socket's read that passed answers to :meth:`pass_answer_frame` is over."""
        self._wrote_now = False

    def _count_out(self, size: int) -> None:
        metrics = self._metrics
        metrics.messages_out += 1
        metrics.bytes_out += size
        if self.outbound.high_water > metrics.outbound_high_water:
            metrics.outbound_high_water = self.outbound.high_water
