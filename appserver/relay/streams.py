"""One controller stream: a controller's JSON-RPC session with a host, over the relay.

A stream outlives its socket. It is ``LIVE`` while a controller socket is attached,
``DETACHED`` for up to ``RELAY_STREAM_GRACE`` after the socket dropped (a resume re-attaches
it), and ``ENDED`` after that (the host gets ``client_closed``).

Controller -> host: every text frame counts (``received``, reported on resume). Requests
before ``initialize`` are answered ``-32600 Not initialized`` here (the host would ignore them
silently). While the host is offline, frames wait in order; a request that waited
``RELAY_HOST_OFFLINE_WAIT`` is answered ``-32000`` (host offline, not delivered) and dropped.
A request already handed to the host and unanswered when the host went offline is answered
``-32000`` (sent but not answered) ``RELAY_HOST_OFFLINE_WAIT`` after the host went offline;
its id is remembered (``RELAY_STREAM_ANSWERED_IDS``) so that the host's late answer, replayed
when it reconnects, is dropped: one answer per request id, never two.

Host -> controller: frames go into the stream's :class:`~appserver.relay.buffers.ResumeBuffer`,
whose unwritten part is the socket's send queue. A buffer that would overflow closes the
socket ``4003 controller too slow`` and ends the stream (the host link never waits).
"""

from __future__ import annotations

import enum
import logging
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from appserver import jsonrpc, limits, strings
from appserver.relay.buffers import Overflow, ResumeBuffer
from appserver.remote_control.envelopes import client_message_affixes

if TYPE_CHECKING:
    from appserver.relay.controller_socket import ControllerSocket
    from appserver.relay.host_link import HostLink
    from appserver.relay.hub import Relay

log = logging.getLogger("appserver.relay")

HOST_OFFLINE_CODE = -32000


class StreamPhase(enum.Enum):
    LIVE = "live"
    DETACHED = "detached"
    ENDED = "ended"


# Members bound to module names: an enum class's ``__getattr__`` (Python 3.11) makes each
# ``StreamPhase.ENDED`` cost about ten times a global, on every message a stream carries.
_LIVE = StreamPhase.LIVE
_DETACHED = StreamPhase.DETACHED
_ENDED = StreamPhase.ENDED
_REQUEST = jsonrpc.MessageKind.REQUEST


@dataclass(slots=True)
class Waiting:
    """A controller frame held while the host is offline."""

    text: str
    request_id: jsonrpc.RequestId | None
    deadline: float | None  # requests only


def relay_frame(method: str, params: dict[str, object]) -> str:
    return jsonrpc.encode({"method": method, "params": params})


class ControllerStream:
    def __init__(self, relay: Relay, stream_id: str, client_id: str, server_id: str) -> None:
        self.relay = relay
        self.stream_id = stream_id
        self.client_id = client_id
        self.server_id = server_id
        self.phase = _DETACHED
        self.socket: ControllerSocket | None = None
        self.buffer = ResumeBuffer(limits.RELAY_STREAM_BUFFER_FRAMES, limits.RELAY_STREAM_BUFFER_BYTES)
        #: Text frames accepted from the controller (reported as ``received`` on resume).
        self.received = 0
        #: The next ``seq_id`` for the host (per stream, from 0, spec §4.3).
        self.next_seq = 0
        #: What surrounds this stream's messages in their ``client_message`` envelopes.
        self.envelope_affixes = client_message_affixes(client_id, stream_id)
        self.initialized = False
        self.waiting: deque[Waiting] = deque()
        self.detached_at = time.monotonic()
        self.last_host_activity = time.monotonic()
        #: Requests handed to the host and not answered yet: id -> when (monotonic).
        self.open_requests: OrderedDict[jsonrpc.RequestId, float] = OrderedDict()
        #: Ids of handed-over requests the relay answered itself (host offline): the host's
        #: late answer to one of them is dropped.
        self.answered_by_relay: OrderedDict[jsonrpc.RequestId, None] = OrderedDict()
        #: When the host went offline as this stream saw it (``None`` while it is online).
        self.offline_since: float | None = None if self.host_online else time.monotonic()

    def __repr__(self) -> str:
        return (
            f"<ControllerStream {self.client_id}/{self.stream_id} {self.phase.value} "
            f"received={self.received} sent={self.buffer.last} waiting={len(self.waiting)}>"
        )

    @property
    def host_online(self) -> bool:
        return self.server_id in self.relay.links

    # --- controller -> host --------------------------------------------------------------

    async def from_controller(self, text: str) -> None:
        """One text frame from the controller socket (never blocks on another stream)."""
        accepted = self._accept(text)
        if accepted is None:
            return
        text, request_id = accepted
        link = self.relay.links.get(self.server_id)
        if link is None or link.closed or self.waiting or not await self._forward(link, text, request_id):
            self._hold(text, request_id)

    def from_controller_nowait(self, text: str) -> bool:
        """:meth:`from_controller` when it needs no waiting (the controller socket's text
        sink): the host link can write the frame at once, or the frame is answered or held
        here. ``False``, having done nothing, when the link would have to wait."""
        link = self.relay.links.get(self.server_id)
        direct = link is not None and not link.closed and not self.waiting
        if direct and not link.ready_for(text):  # type: ignore[union-attr]
            return False
        accepted = self._accept(text)
        if accepted is None:
            return True
        text, request_id = accepted
        if not direct or not self._forward_nowait(link, text, request_id):  # type: ignore[arg-type]
            self._hold(text, request_id)
        return True

    def _accept(self, text: str) -> tuple[str, jsonrpc.RequestId | None] | None:
        """Count and check a controller frame: what goes to the host (the frame and its
        request id), or ``None`` when it does not (malformed: ignored; before
        ``initialize``: a request is answered ``Not initialized`` here)."""
        self.received += 1
        self.relay.metrics.controller_frames_in.inc()
        if self.initialized:
            request_id = jsonrpc.request_id_of(text)
            if request_id is not None:  # (the common case: what jsonrpc.parse would say)
                return text, request_id
        try:
            message = jsonrpc.parse(text)
        except jsonrpc.ParseError as exc:
            log.info("controller %s/%s: malformed frame ignored (%s)", self.client_id, self.stream_id, exc)
            return None
        if not self.initialized:
            if message.kind is _REQUEST and message.method == "initialize":
                self.initialized = True
            else:
                if message.kind is _REQUEST:
                    self._queue(jsonrpc.encode(
                        jsonrpc.error(message.id, jsonrpc.INVALID_REQUEST, strings.NOT_INITIALIZED)  # type: ignore[arg-type]
                    ))
                return None
        return message.text, message.id if message.kind is _REQUEST else None

    def _track(self, request_id: jsonrpc.RequestId) -> None:
        """A request handed to the host: open until answered. Tracked before the write (the
        answer may be read while a write awaits)."""
        self.answered_by_relay.pop(request_id, None)
        self.open_requests[request_id] = time.monotonic()
        self.open_requests.move_to_end(request_id)
        while len(self.open_requests) > limits.RELAY_STREAM_OPEN_REQUESTS:
            self.open_requests.popitem(last=False)

    async def _forward(self, link: HostLink, text: str, request_id: jsonrpc.RequestId | None) -> bool:
        """Hand one frame to the host link; a request is tracked until answered."""
        if request_id is not None:
            self._track(request_id)
        if await link.send_message(self, text):
            return True
        if request_id is not None:
            self.open_requests.pop(request_id, None)
        return False

    def _forward_nowait(self, link: HostLink, text: str, request_id: jsonrpc.RequestId | None) -> bool:
        """:meth:`_forward` to a link that :meth:`HostLink.ready_for` the frame."""
        if request_id is not None:
            self._track(request_id)
        if link.send_message_nowait(self, text):
            return True
        if request_id is not None:
            self.open_requests.pop(request_id, None)
        return False

    def _hold(self, text: str, request_id: jsonrpc.RequestId | None, *, first: bool = False) -> None:
        if first:
            # Put back at the head: it was next in line when the link failed.
            deadline = time.monotonic() + self.relay.config.host_offline_wait if request_id is not None else None
            self.waiting.appendleft(Waiting(text, request_id, deadline))
            return
        if len(self.waiting) >= limits.RELAY_STREAM_PENDING_FRAMES:
            if request_id is not None:
                self._answer_offline(request_id)
            else:
                log.info("controller %s/%s: host offline and queue full: frame dropped", self.client_id, self.stream_id)
            return
        deadline = time.monotonic() + self.relay.config.host_offline_wait if request_id is not None else None
        self.waiting.append(Waiting(text, request_id, deadline))

    def _answer_offline(self, request_id: jsonrpc.RequestId, message: str = strings.RELAY_HOST_OFFLINE) -> None:
        self.relay.metrics.offline_answers.inc()
        self._queue(jsonrpc.encode(jsonrpc.error(request_id, HOST_OFFLINE_CODE, message)))

    async def flush_waiting(self) -> None:
        """The host is back: deliver what waited, in order."""
        while self.waiting:
            link = self.relay.links.get(self.server_id)
            if link is None or link.closed:
                return
            held = self.waiting.popleft()
            if not await self._forward(link, held.text, held.request_id):
                self._hold(held.text, held.request_id, first=True)
                return

    def expire_waiting(self, now: float) -> None:
        """Answer requests that waited too long; keep the order of what remains."""
        if not self.waiting:
            return
        kept: deque[Waiting] = deque()
        for held in self.waiting:
            if held.deadline is not None and held.deadline <= now:
                self._answer_offline(held.request_id)  # type: ignore[arg-type]
            else:
                kept.append(held)
        self.waiting = kept

    def expire_open_requests(self, now: float) -> None:
        """The host has been offline for the wait: answer what it was handed and never answered.

        The deadline is the later of the host going offline and the request (a request
        handed to a link the relay had not yet seen drop)."""
        if self.offline_since is None or not self.open_requests:
            return
        wait = self.relay.config.host_offline_wait
        for request_id, sent_at in list(self.open_requests.items()):
            if max(self.offline_since, sent_at) + wait > now:
                continue
            del self.open_requests[request_id]
            self.answered_by_relay[request_id] = None
            while len(self.answered_by_relay) > limits.RELAY_STREAM_ANSWERED_IDS:
                self.answered_by_relay.popitem(last=False)
            self._answer_offline(request_id, strings.RELAY_HOST_OFFLINE_UNANSWERED)

    # --- host -> controller --------------------------------------------------------------

    def to_controller(self, text: str) -> None:
        """A JSON-RPC frame from the host for the controller (buffered for resume).

        An answer settles its open request; an answer to a request the relay already
        answered (host offline) is dropped."""
        if (self.open_requests or self.answered_by_relay) and not text.startswith('{"method"'):
            # (A frame whose first key is "method" is a request or notification: no parse.)
            answered = jsonrpc.answer_id_of(text)
            if answered is not None:
                if self.open_requests.pop(answered, None) is None and answered in self.answered_by_relay:
                    del self.answered_by_relay[answered]
                    self.relay.metrics.late_answers.inc()
                    log.info("controller %s/%s: late host answer to %r dropped (already answered: host offline)",
                             self.client_id, self.stream_id, answered)
                    return
        self._queue(text)

    def to_controller_many(self, texts: list[str]) -> None:
        """:meth:`to_controller` of each of ``texts``, in order (a burst from the host),
        queued together when no request is open (nothing to settle)."""
        if self.open_requests or self.answered_by_relay:
            for text in texts:
                self.to_controller(text)
            return
        if self.phase is _ENDED:
            return
        self.last_host_activity = time.monotonic()
        queued = self.buffer.extend(texts)
        if queued:
            self.relay.metrics.controller_frames_out.inc(queued)
            if self.socket is not None:
                self.socket.wake()
        if queued < len(texts):
            self.relay.spawn(self.end_too_slow())

    def _queue(self, text: str) -> None:
        """Queue a JSON-RPC frame for the controller (buffered for resume)."""
        if self.phase is _ENDED:
            return
        self.last_host_activity = time.monotonic()
        try:
            self.buffer.append(text)
        except Overflow:
            self.relay.spawn(self.end_too_slow())
            return
        self.relay.metrics.controller_frames_out.inc()
        if self.socket is not None:
            self.socket.wake()

    def host_state(self, online: bool) -> None:
        if online:
            self.offline_since = None
        elif self.offline_since is None:
            self.offline_since = time.monotonic()
        if self.socket is not None:
            self.socket.send_control(relay_frame("relay/host", {"online": online}))

    # --- lifecycle -----------------------------------------------------------------------

    def attach(self, socket: ControllerSocket) -> None:
        self.socket = socket
        self.phase = _LIVE

    def detach(self, socket: ControllerSocket) -> None:
        if self.socket is socket:
            self.socket = None
            if self.phase is _LIVE:
                self.phase = _DETACHED
                self.detached_at = time.monotonic()

    async def tick(self, now: float) -> None:
        """Periodic: grace expiry, offline answers, envelope pings of idle streams."""
        if self.phase is _ENDED:
            return
        if self.phase is _DETACHED and now - self.detached_at >= self.relay.config.stream_grace:
            log.info("stream %s/%s expired after its grace period", self.client_id, self.stream_id)
            await self.end()
            return
        self.expire_waiting(now)
        self.expire_open_requests(now)
        link = self.relay.links.get(self.server_id)
        if link is not None and self.initialized and now - self.last_host_activity >= self.relay.config.ping_interval:
            self.last_host_activity = now
            await link.send_ping(self)

    async def end(self, *, tell_host: bool = True) -> None:
        """The stream is over: forget it; the host closes its virtual connection."""
        if self.phase is _ENDED:
            return
        self.phase = _ENDED
        self.relay.forget_stream(self)
        if tell_host and self.initialized:
            await self.relay.client_closed(self)

    async def close_socket(self, code: int, reason: str) -> None:
        socket = self.socket
        if socket is not None:
            self.detach(socket)
            await socket.close(code, reason)

    async def end_revoked(self) -> None:
        await self.end()
        await self.close_socket(limits.RELAY_CLOSE_DEVICE_REVOKED, strings.RELAY_CLOSE_REVOKED)

    async def end_expired(self, *, tell_host: bool) -> None:
        await self.end(tell_host=tell_host)
        await self.close_socket(limits.RELAY_CLOSE_STREAM_EXPIRED, strings.RELAY_CLOSE_EXPIRED)

    async def end_too_slow(self) -> None:
        log.info("controller %s/%s too slow: closing its socket", self.client_id, self.stream_id)
        await self.end()
        await self.close_socket(limits.RELAY_CLOSE_CONTROLLER_TOO_SLOW, strings.RELAY_CLOSE_TOO_SLOW)
