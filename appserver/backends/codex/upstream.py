"""One upstream app-server session: a WebSocket to codex over its Unix control socket.

Each client connection of the gateway gets its own upstream session (ARCHITECTURE.md "The
data path"), so codex keeps its per-connection semantics: initialize state, thread
subscriptions, broadcasts, server-initiated requests.

Pass-through is byte-faithful: the client's text goes to codex unchanged, and codex's text
reaches the client unchanged (:class:`appserver.jsonrpc.Message` keeps the wire text; it is
parsed once, for routing). Ids are not rewritten: sessions are 1:1.

Overload (spec/transport.md §6): codex answers ``-32001`` when its 128-slot queue is full
and did not process the request, so the session keeps the text of every request it
forwarded until it is answered and, on ``-32001``, sends it again after a
:class:`~appserver.backends.codex.pacing.Backoff` delay. Only when the retries are used up
does the ``-32001`` reach the client.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import TaskGroup
from websockets.asyncio.client import unix_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from appserver import jsonrpc, limits, strings
from appserver.backends.base import Peer
from appserver.backends.codex.pacing import Backoff
from appserver.errors import BackendUnavailable
from appserver.transports.frames import DirectClientConnection
from appserver.transports.unix_path import UDS_WEBSOCKET_URI, connectable_path
from appserver.transports.websocket import CLIENT_OPTIONS, send_texts, write_now

log = logging.getLogger("appserver.codex.upstream")

_REQUEST = jsonrpc.MessageKind.REQUEST
_ERROR = jsonrpc.MessageKind.ERROR
_NOTIFICATION = jsonrpc.MessageKind.NOTIFICATION

#: ``websockets`` options for codex's control socket: the gateway's client options, with
#: keepalive pings as a liveness check and a small frame queue (backpressure towards codex).
UPSTREAM_OPTIONS: dict[str, Any] = {
    **CLIENT_OPTIONS,
    "max_queue": limits.UPSTREAM_MAX_QUEUE,
    "ping_interval": limits.UPSTREAM_PING_INTERVAL,
    "ping_timeout": limits.UPSTREAM_PING_TIMEOUT,
    "open_timeout": limits.UPSTREAM_CONNECT_TIMEOUT,
}

#: Larger notifications take the text sink, which checks them against the message limit
#: (a text this long in characters may be over it in UTF-8 bytes).
_FRAME_PASS_MAX = limits.MAX_MESSAGE_BYTES // 4
_UNKNOWN = object()
_ANSWER_START = jsonrpc.ANSWER_START

#: Called when the upstream socket closed on its own; returns the reason to tell the client.
LossExplainer = Callable[[str], Awaitable[str]]


async def open_control_socket(path: Path) -> DirectClientConnection:
    """Open a WebSocket to an app-server control socket; raises :class:`BackendUnavailable`."""
    try:
        # A path too long for sun_path is reached through its target (codex's advertised
        # path is a symlink to a short physical one, spec/transport.md §3.1).
        return await unix_connect(  # type: ignore[return-value]
            connectable_path(path),
            UDS_WEBSOCKET_URI,
            create_connection=DirectClientConnection,
            **UPSTREAM_OPTIONS,
        )
    except (OSError, InvalidHandshake, TimeoutError) as exc:
        detail = str(exc) or type(exc).__name__
        raise BackendUnavailable(strings.UPSTREAM_UNREACHABLE.format(path=path, err=detail)) from exc


async def probe(path: Path) -> None:
    """Check that the app-server behind ``path`` answers a request.

    Raises :class:`BackendUnavailable` (naming the path and the error) when it does not.

    The probe sends a request *without* initializing: codex answers ``Not initialized``
    (any answer proves its socket and request loop are alive). Initializing would be
    wrong: the first ``initialize`` codex sees sets its process-wide originator and
    user-agent (spec/transport.md §7.2), which must come from the first real client.
    """
    try:
        with anyio.fail_after(limits.CODEX_PROBE_TIMEOUT):
            ws = await open_control_socket(path)
            try:
                await ws.send('{"id":"appserver-probe","method":"thread/loaded/list"}')
                while True:
                    message = jsonrpc.parse(await ws.recv())
                    if message.is_answer and message.id == "appserver-probe":
                        return
            finally:
                await ws.close()
    except (OSError, TimeoutError, ConnectionClosed, jsonrpc.ParseError) as exc:
        detail = str(exc) or type(exc).__name__
        raise BackendUnavailable(strings.UPSTREAM_UNREACHABLE.format(path=path, err=detail)) from exc


async def health_checks(path: Path) -> AsyncIterator[tuple[int, BackendUnavailable | None]]:
    """Probe ``path`` every ``CODEX_HEALTH_INTERVAL`` seconds, forever; after each probe
    yield the number of failed probes in a row (0 after a success) and the failure."""
    failures = 0
    while True:
        await anyio.sleep(limits.CODEX_HEALTH_INTERVAL)
        try:
            await probe(path)
        except BackendUnavailable as exc:
            failures += 1
            yield failures, exc
        else:
            failures = 0
            yield 0, None


class SessionRegistry:
    """The open upstream sessions of a backend, and how many retries they made in all."""

    def __init__(self) -> None:
        self.open: set[UpstreamSession] = set()
        self._retries_of_closed = 0
        #: codex's own -32001 answers passed on to clients (retries used up), since start.
        self.overloads_passed = 0

    def add(self, session: UpstreamSession) -> None:
        self.open.add(session)

    def remove(self, session: UpstreamSession) -> None:
        if session in self.open:
            self.open.discard(session)
            self._retries_of_closed += session.retries

    @property
    def retries(self) -> int:
        """Requests sent again after a -32001 from codex, since start (for metrics)."""
        return self._retries_of_closed + sum(s.retries for s in self.open)

    def fail_all(self, reason: str) -> None:
        for session in list(self.open):
            session.fail(reason)

    def __len__(self) -> int:
        return len(self.open)

    def __repr__(self) -> str:
        return f"<SessionRegistry open={len(self.open)} retries={self.retries}>"


class _Pending:
    """A forwarded request sent again after an overload answer: its text and how often.

    A request not retried yet is held as its bare text (one object less per request);
    its first retry replaces the text with one of these."""

    __slots__ = ("text", "retries")

    def __init__(self, text: str) -> None:
        self.text = text
        self.retries = 0


class UpstreamSession:
    """A client connection's session with codex (a :class:`BackendSession`)."""

    def __init__(
        self,
        ws: DirectClientConnection,
        peer: Peer,
        retry: Backoff,
        explain_loss: LossExplainer,
        registry: SessionRegistry,
    ) -> None:
        self.ws = ws
        self.peer = peer
        self.retry = retry
        self._explain_loss = explain_loss
        #: Forwarded requests not answered yet, by id, in the order sent: each one's text
        #: (kept for a retry), or its :class:`_Pending` once retried.
        self._pending: dict[jsonrpc.RequestId, deque[str | _Pending]] = {}
        self._scope = anyio.CancelScope()
        self._closed = False
        self._failed = False
        #: Requests sent again after a -32001 from codex.
        self.retries = 0
        self._registry = registry
        registry.add(self)
        #: The task group of :meth:`run` (for retries), while it runs.
        self._retries: TaskGroup | None = None
        #: Notifications taken in the current socket read, delivered together at its end.
        self._run: list[jsonrpc.Message] = []
        ws.set_text_sink(self._from_codex_now, self._read_done)
        #: The peer writes codex's frames verbatim (a WebSocket client), or None; it is
        #: told when each read is over. A peer without a frame writer (stdio, remote
        #: control's streams) gets every message parsed, without a look at its frame first.
        self._pass_answer_frame = getattr(peer, "pass_answer_frame", None)
        if not getattr(peer, "takes_frames", False):
            self._pass_answer_frame = None
        self._notification_frame_fate = getattr(peer, "notification_frame_fate", None)
        self._pass_notification_frames = getattr(peer, "pass_notification_frames", None)
        self._peer_read_done: Callable[[], None] | None = None
        #: Notification frames of the current read the peer will write verbatim (at its
        #: end, or before anything else is delivered): ``(start, payload start, end)`` in
        #: :attr:`_frames_data`, whether they follow one another without a gap, and the
        #: size of their payloads.
        self._frames: list[tuple[int, int, int]] = []
        self._frames_data = b""
        self._frames_gap = False
        self._frames_size = 0
        #: The peer's verdict per notification method, for the rest of the read. A
        #: verdict never turns wrong within a read: opt-outs and the gateway's methods
        #: are fixed, and a "write it" the client can no longer take (something was
        #: written or queued meanwhile) ends in :meth:`_write_frames`' fallback.
        self._fates: dict[str, bool | None] = {}
        if self._pass_answer_frame is not None:
            self._peer_read_done = peer.backend_read_done  # type: ignore[attr-defined]
            ws.set_frame_sink(self._frame_now)

    @classmethod
    async def open(
        cls,
        path: Path,
        peer: Peer,
        retry: Backoff,
        explain_loss: LossExplainer,
        registry: SessionRegistry,
        task_group: TaskGroup,
    ) -> UpstreamSession:
        """Connect and start delivering; the session is in ``registry`` until closed."""
        session = cls(await open_control_socket(path), peer, retry, explain_loss, registry)
        task_group.start_soon(session.run)
        return session

    # --- client -> codex ------------------------------------------------------------------

    async def send(self, message: jsonrpc.Message) -> None:
        await self.send_batch([message])

    async def send_batch(self, messages: list[jsonrpc.Message]) -> None:
        """Forward the clients' exact texts, one frame each, in one socket write."""
        for message in messages:
            if message.kind is _REQUEST:
                self._hold(message)
        try:
            # A pipelined burst costs one system call per batch, not one per request.
            await send_texts(self.ws, [message.text for message in messages])
        except ConnectionClosed as exc:
            if self._failed or self._closed:
                raise BackendUnavailable(self._describe_close(exc)) from exc
            # run() sees the same close and reports it once it knows why (the child's
            # exit status), failing every request in flight, this one included.

    def send_nowait(self, message: jsonrpc.Message) -> bool:
        """Forward one message now (the processor's direct path); ``False`` when the socket
        is applying backpressure or not open, and nothing was sent."""
        if not write_now(self.ws, message.text):
            if self._failed or self._closed:
                raise BackendUnavailable(self._describe_close(None))
            return False
        if message.kind is _REQUEST:
            self._hold(message)
        return True

    def _hold(self, request: jsonrpc.Message) -> None:
        """Keep a forwarded request's text until it is answered (for a retry)."""
        queue = self._pending.get(request.id)  # type: ignore[arg-type]
        if queue is None:
            self._pending[request.id] = deque((request.text,))  # type: ignore[index]
        else:
            queue.append(request.text)

    async def aclose(self) -> None:
        self._closed = True
        self._registry.remove(self)
        self._scope.cancel()
        with anyio.CancelScope(shield=True), anyio.move_on_after(limits.WEBSOCKET_CLOSE_TIMEOUT):
            await self.ws.close()

    def fail(self, reason: str) -> None:
        """The backend failed under this session: tell the client, drop the socket."""
        if self._failed or self._closed:
            return
        self._failed = True
        self._scope.cancel()
        self.ws.transport.abort()
        self.peer.backend_failed(reason)

    # --- codex -> client ------------------------------------------------------------------

    async def run(self) -> None:
        """Deliver codex's messages to the client until either side ends the session."""
        detail = "closed"
        ws = self.ws
        with self._scope:
            async with anyio.create_task_group() as retries:
                self._retries = retries
                try:
                    # What the text sink (_from_codex_now) left to this task, in order.
                    async for frame in ws:
                        if isinstance(frame, bytes):
                            log.warning("connection %d: codex sent a binary frame; dropped", self.peer.id)
                        else:
                            await self._from_codex(frame, retries)
                        ws.message_taken()
                except ConnectionClosed as exc:
                    detail = self._describe_close(exc)
                else:
                    detail = self._describe_close(None)
                finally:
                    self._retries = None
                retries.cancel_scope.cancel()
        if self._closed or self._failed:
            return
        reason = await self._explain_loss(detail)
        if not (self._closed or self._failed):
            self._failed = True
            self.peer.backend_failed(reason)

    def _from_codex_now(self, text: str) -> bool:
        """The text sink of the socket (:mod:`appserver.transports.frames`): deliver a
        message from codex in the socket's data callback, when the client never waits for
        room; ``False`` leaves it to :meth:`run`."""
        if self._frames:
            self._write_frames()  # what came before it goes first
        retries = self._retries
        if retries is None or self.peer.waits_for_room:
            self._deliver_run()  # what came before it goes first
            return False
        message = self._accept(text, retries)
        if message is None:
            return True
        if message.kind is _NOTIFICATION:
            # A streamed turn's deltas arrive many to a read: delivered together at its end.
            self._run.append(message)
            return True
        self._deliver_run()  # what came before it goes first
        self.peer.deliver_nowait(message)
        return True

    def _frame_now(self, data: bytes, start: int, payload_start: int, end: int) -> bool:
        """The frame sink of the socket: codex's frame ``data[start:end]`` goes to a
        WebSocket client as the frame codex wrote (a server's text frame is the same bytes
        to any client), without decoding, parsing or framing it again, when it is the
        answer to a request in flight or a notification the client takes now; ``False``
        leaves it to the text sink. Only with nothing gathered by the text sink before it.

        Only a ``result`` with an integer id goes this way among answers (an error may be
        an overload answer to retry)."""
        if self._run or self._retries is None:
            return False
        if not data.startswith(_ANSWER_START, payload_start, end):
            method = jsonrpc.notification_method_at(data, payload_start, end)
            if method is None:
                return False
            return self._notification_frame(method, data, start, payload_start, end)
        if self._frames:
            return False  # the text sink writes the gathered frames, then the answer
        request_id = jsonrpc.result_answer_id(data, payload_start, end)
        if request_id is None:
            return False
        queue = self._pending.get(request_id)
        if not queue or not self._pass_answer_frame(  # type: ignore[misc]
            data[start:end], request_id, end - payload_start
        ):
            return False
        queue.popleft()
        if not queue:
            del self._pending[request_id]
        return True

    def _notification_frame(self, method: str, data: bytes, start: int, payload_start: int, end: int) -> bool:
        """Gather codex's notification for the client's one write at the end of the read,
        or drop one the client would not get (what :meth:`Peer.deliver` would do)."""
        if end - payload_start > _FRAME_PASS_MAX:
            return False  # the text sink checks the message limit
        fates = self._fates
        fate = fates.get(method, _UNKNOWN)
        if fate is _UNKNOWN:
            fate = fates[method] = self._notification_frame_fate(method)  # type: ignore[misc]
        if fate is None or not jsonrpc.is_notification_of(method, data, payload_start, end):
            return False
        if not fate:
            return True
        frames = self._frames
        if frames:
            if data is not self._frames_data:
                self._write_frames()
                return False  # one write per read: the text sink queues it
            if frames[-1][2] != start:
                self._frames_gap = True
        else:
            self._frames_data = data
        frames.append((start, payload_start, end))
        self._frames_size += end - payload_start
        return True

    def _write_frames(self) -> None:
        """Write the gathered notification frames, in one write; should the client have
        stopped taking frames meanwhile, they are delivered as parsed messages instead."""
        frames, self._frames = self._frames, []
        self._fates = {}
        data, self._frames_data = self._frames_data, b""
        size, self._frames_size = self._frames_size, 0
        gap, self._frames_gap = self._frames_gap, False
        if gap:
            blob = b"".join([data[start:end] for start, _, end in frames])
        else:
            blob = data[frames[0][0] : frames[-1][2]]
        if self._pass_notification_frames(blob, len(frames), size):  # type: ignore[misc]
            return
        messages = []
        for _, payload_start, end in frames:
            message = self._accept(data[payload_start:end].decode(), self._retries)  # type: ignore[arg-type]
            if message is not None:
                messages.append(message)
        self.peer.deliver_many_nowait(messages)  # type: ignore[attr-defined]

    def _deliver_run(self) -> None:
        """End of a socket read: deliver the notifications it carried, in order."""
        if self._run:
            run, self._run = self._run, []
            self.peer.deliver_many_nowait(run)

    def _read_done(self) -> None:
        """End of a socket read: the gathered notifications go out, and the peer may take
        another answer's frame."""
        if self._fates:
            self._fates = {}
        if self._frames:
            self._write_frames()
        if self._run:
            self._deliver_run()
        if self._peer_read_done is not None:
            self._peer_read_done()

    async def _from_codex(self, text: str, retries: TaskGroup) -> None:
        message = self._accept(text, retries)
        if message is not None:
            await self.peer.deliver(message)

    def _accept(self, text: str, retries: TaskGroup) -> jsonrpc.Message | None:
        """Parse a message from codex and settle its request's bookkeeping; ``None`` when
        nothing goes to the client (malformed, or an overload answer being retried)."""
        try:
            # codex's own output: its nesting was bounded by its serializer's types.
            message = jsonrpc.parse(text, strict=False)
        except jsonrpc.ParseError as exc:
            log.warning("connection %d: ignoring a malformed message from codex: %s", self.peer.id, exc)
            return None
        if message.is_answer:
            queue = self._pending.get(message.id)  # type: ignore[arg-type]
            overloaded = message.kind is _ERROR and _is_overloaded(message)
            if queue:
                if overloaded:
                    entry = queue[0]
                    if type(entry) is str:
                        entry = queue[0] = _Pending(entry)
                    delay = self.retry.delay(entry.retries)
                    if delay is not None:
                        entry.retries += 1
                        self.retries += 1
                        retries.start_soon(self._resend, entry, delay)
                        return None
                queue.popleft()
                if not queue:
                    del self._pending[message.id]  # type: ignore[arg-type]
            if overloaded:
                self._registry.overloads_passed += 1
        return message

    async def _resend(self, entry: _Pending, delay: float) -> None:
        await anyio.sleep(delay)
        try:
            await self.ws.send(entry.text)
        except ConnectionClosed:
            pass  # run() sees the close and reports it

    def _describe_close(self, exc: ConnectionClosed | None) -> str:
        rcvd = exc.rcvd if exc is not None else self.ws.close_rcvd
        if rcvd is None:
            detail = "connection lost"
        else:
            detail = f"close code {rcvd.code}" + (f": {rcvd.reason}" if rcvd.reason else "")
        return strings.UPSTREAM_CLOSED.format(detail=detail)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "failed" if self._failed else "open"
        return f"<UpstreamSession connection={self.peer.id} {state} pending={len(self._pending)}>"


def _is_overloaded(message: jsonrpc.Message) -> bool:
    error = message.payload.get("error")
    return isinstance(error, dict) and error.get("code") == jsonrpc.OVERLOADED
