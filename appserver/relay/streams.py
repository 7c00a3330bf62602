"""One controller stream: a controller's JSON-RPC session with a host, over the relay.

A stream outlives its socket. It is ``LIVE`` while a controller socket is attached,
``DETACHED`` for up to ``RELAY_STREAM_GRACE`` after the socket dropped (a resume re-attaches
it), and ``ENDED`` after that (the host gets ``client_closed``).

Controller -> host: every text frame counts (``received``, reported on resume). Requests
before ``initialize`` are answered ``-32600 Not initialized`` here (the host would ignore them
silently). While the host is offline, frames wait in order; a request that waited
``RELAY_HOST_OFFLINE_WAIT`` is answered ``-32000`` (host offline, not delivered) and dropped.

Host -> controller: frames go into the stream's :class:`~appserver.relay.buffers.ResumeBuffer`,
whose unwritten part is the socket's send queue. A buffer that would overflow closes the
socket ``4003 controller too slow`` and ends the stream (the host link never waits).
"""

from __future__ import annotations

import enum
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from appserver import jsonrpc, limits, strings
from appserver.relay.buffers import Overflow, ResumeBuffer

if TYPE_CHECKING:
    from appserver.relay.controller_socket import ControllerSocket
    from appserver.relay.hub import Relay

log = logging.getLogger("appserver.relay")

HOST_OFFLINE_CODE = -32000


class StreamPhase(enum.Enum):
    LIVE = "live"
    DETACHED = "detached"
    ENDED = "ended"


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
        self.phase = StreamPhase.DETACHED
        self.socket: ControllerSocket | None = None
        self.buffer = ResumeBuffer(limits.RELAY_STREAM_BUFFER_FRAMES, limits.RELAY_STREAM_BUFFER_BYTES)
        #: Text frames accepted from the controller (reported as ``received`` on resume).
        self.received = 0
        #: The next ``seq_id`` for the host (per stream, from 0, spec §4.3).
        self.next_seq = 0
        self.initialized = False
        self.waiting: deque[Waiting] = deque()
        self.detached_at = time.monotonic()
        self.last_host_activity = time.monotonic()

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
        self.received += 1
        self.relay.metrics.controller_frames_in.inc()
        try:
            message = jsonrpc.parse(text)
        except jsonrpc.ParseError as exc:
            log.info("controller %s/%s: malformed frame ignored (%s)", self.client_id, self.stream_id, exc)
            return
        if not self.initialized:
            if message.kind is jsonrpc.MessageKind.REQUEST and message.method == "initialize":
                self.initialized = True
            else:
                if message.kind is jsonrpc.MessageKind.REQUEST:
                    self.to_controller(jsonrpc.encode(
                        jsonrpc.error(message.id, jsonrpc.INVALID_REQUEST, strings.NOT_INITIALIZED)  # type: ignore[arg-type]
                    ))
                return
        request_id = message.id if message.kind is jsonrpc.MessageKind.REQUEST else None
        link = self.relay.links.get(self.server_id)
        if link is None or link.closed or self.waiting or not await link.send_message(self, message.text):
            self._hold(message.text, request_id)

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

    def _answer_offline(self, request_id: jsonrpc.RequestId) -> None:
        self.relay.metrics.offline_answers.inc()
        self.to_controller(jsonrpc.encode(jsonrpc.error(request_id, HOST_OFFLINE_CODE, strings.RELAY_HOST_OFFLINE)))

    async def flush_waiting(self) -> None:
        """The host is back: deliver what waited, in order."""
        while self.waiting:
            link = self.relay.links.get(self.server_id)
            if link is None or link.closed:
                return
            held = self.waiting.popleft()
            if not await link.send_message(self, held.text):
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

    # --- host -> controller --------------------------------------------------------------

    def to_controller(self, text: str) -> None:
        """Queue a JSON-RPC frame for the controller (buffered for resume)."""
        if self.phase is StreamPhase.ENDED:
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
        if self.socket is not None:
            self.socket.send_control(relay_frame("relay/host", {"online": online}))

    # --- lifecycle -----------------------------------------------------------------------

    def attach(self, socket: ControllerSocket) -> None:
        self.socket = socket
        self.phase = StreamPhase.LIVE

    def detach(self, socket: ControllerSocket) -> None:
        if self.socket is socket:
            self.socket = None
            if self.phase is StreamPhase.LIVE:
                self.phase = StreamPhase.DETACHED
                self.detached_at = time.monotonic()

    async def tick(self, now: float) -> None:
        """Periodic: grace expiry, offline answers, envelope pings of idle streams."""
        if self.phase is StreamPhase.ENDED:
            return
        if self.phase is StreamPhase.DETACHED and now - self.detached_at >= self.relay.config.stream_grace:
            log.info("stream %s/%s expired after its grace period", self.client_id, self.stream_id)
            await self.end()
            return
        self.expire_waiting(now)
        link = self.relay.links.get(self.server_id)
        if link is not None and self.initialized and now - self.last_host_activity >= self.relay.config.ping_interval:
            self.last_host_activity = now
            await link.send_ping(self)

    async def end(self, *, tell_host: bool = True) -> None:
        """The stream is over: forget it; the host closes its virtual connection."""
        if self.phase is StreamPhase.ENDED:
            return
        self.phase = StreamPhase.ENDED
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
