"""One controller stream's resume bookkeeping, sans-I/O (the controller API, docs/relay.md).

A controller socket to the relay carries one stream. The relay's first frame on every
socket is ``relay/stream {streamId, resumed, received: k, hostOnline}``: k is how many of
our JSON-RPC frames it accepted on that stream, so we resend ours after the k-th; we tell
it how many of its JSON-RPC frames we received with ``?stream=ID&received=n`` when we
reconnect, and it resends its frames after our n-th. ``relay/*`` frames are not counted.

:class:`ControllerStream` keeps the counts and the frames not yet confirmed. Feed it the
text frames from the relay (:meth:`ControllerStream.receive` returns one event per frame)
and record the frames you send (:meth:`ControllerStream.send`); after a reconnect,
:class:`StreamOpened` says what to resend. Usable from Python; the web controller
(``web/app.js``) implements the same rules in JavaScript.
"""

from __future__ import annotations

import enum
import json
from collections import deque
from dataclasses import dataclass

from appserver import limits, strings
from appserver.queues import utf8_size


class StreamState(enum.Enum):
    NEW = "new"  # no socket yet: the next socket starts a stream
    OPEN = "open"  # relay/stream received on the current socket
    DISCONNECTED = "disconnected"  # socket gone; the next socket resumes
    LOST = "lost"  # the relay cannot resume it (expired, or a frame we no longer hold)


@dataclass(frozen=True, slots=True)
class StreamOpened:
    """``relay/stream`` arrived: resend ``resend`` (in order) before anything else."""

    stream_id: str
    resumed: bool
    host_online: bool
    resend: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class HostStatus:
    """``relay/host``: the host's link to the relay went down or came back."""

    online: bool


@dataclass(frozen=True, slots=True)
class Frame:
    """A JSON-RPC frame from the host, for the controller's client."""

    text: str


@dataclass(frozen=True, slots=True)
class StreamLost:
    """The stream cannot go on; ``reason`` is one line for the user."""

    reason: str


Event = StreamOpened | HostStatus | Frame | StreamLost


def _relay_message(text: str) -> dict[str, object] | None:
    """The parsed frame if it is a ``relay/*`` notification (cheap check first)."""
    if '"relay/' not in text:
        return None
    try:
        message = json.loads(text)
    except ValueError:
        return None
    if (
        isinstance(message, dict)
        and "id" not in message
        and isinstance(message.get("method"), str)
        and message["method"].startswith("relay/")
    ):
        return message
    return None


class ControllerStream:
    """Counts and unconfirmed frames of one stream, across its sockets."""

    def __init__(
        self,
        *,
        max_frames: int = limits.CONTROLLER_RESEND_FRAMES,
        max_bytes: int = limits.CONTROLLER_RESEND_BYTES,
    ) -> None:
        self.state = StreamState.NEW
        self.stream_id: str | None = None
        self.received = 0  # JSON-RPC frames received from the relay on this stream
        self.sent = 0  # JSON-RPC frames this controller sent on this stream
        self._unconfirmed: deque[str] = deque()  # frames (sent - len) + 1 … sent
        self._unconfirmed_bytes = 0
        self._max_frames = max_frames
        self._max_bytes = max_bytes
        self.host_online = True

    # --- sockets ------------------------------------------------------------------------

    def query(self) -> tuple[str | None, int]:
        """``(stream_id, received)`` for the next socket's URL (``None``: a new stream)."""
        return self.stream_id, self.received

    def disconnected(self) -> None:
        """The socket is gone; the next one resumes (if the stream was ever opened)."""
        if self.state is StreamState.OPEN:
            self.state = StreamState.DISCONNECTED

    def lose(self, reason: str) -> StreamLost:
        self.state = StreamState.LOST
        self._unconfirmed.clear()
        self._unconfirmed_bytes = 0
        return StreamLost(reason)

    # --- frames -------------------------------------------------------------------------

    def send(self, text: str) -> None:
        """Record a JSON-RPC frame sent (or about to be sent) on this stream."""
        if self.state is StreamState.LOST:
            return
        self.sent += 1
        self._unconfirmed.append(text)
        self._unconfirmed_bytes += utf8_size(text)
        while self._unconfirmed and (
            len(self._unconfirmed) > self._max_frames or self._unconfirmed_bytes > self._max_bytes
        ):
            if self.state is not StreamState.OPEN:
                # Not on the wire yet: dropping one would lose it. End the stream instead.
                self.lose(strings.CONTROLLER_LOST_TOO_MANY_WAITING)
                return
            self._unconfirmed_bytes -= utf8_size(self._unconfirmed.popleft())

    def unconfirmed(self) -> tuple[str, ...]:
        """The frames the relay has not confirmed, oldest first: after a ``StreamOpened``,
        what to resend, including frames recorded since (not yet on any socket)."""
        return tuple(self._unconfirmed)

    def receive(self, text: str) -> Event:
        """One text frame from the relay."""
        relay = _relay_message(text)
        if relay is None:
            self.received += 1
            return Frame(text)
        params = relay.get("params")
        params = params if isinstance(params, dict) else {}
        if relay["method"] == "relay/host":
            self.host_online = bool(params.get("online"))
            return HostStatus(self.host_online)
        if relay["method"] == "relay/stream":
            return self._opened(params)
        # An unknown relay/* notification: not for the client, not counted.
        return HostStatus(self.host_online)

    def _opened(self, params: dict[str, object]) -> Event:
        stream_id = params.get("streamId")
        accepted = params.get("received")
        if not isinstance(stream_id, str) or not isinstance(accepted, int) or accepted < 0:
            return self.lose(strings.CONTROLLER_LOST_MALFORMED)
        if self.stream_id is not None and (stream_id != self.stream_id or not params.get("resumed")):
            return self.lose(strings.CONTROLLER_LOST_NOT_RESUMED)
        if accepted > self.sent:
            return self.lose(strings.CONTROLLER_LOST_COUNT_AHEAD)
        oldest = self.sent - len(self._unconfirmed) + 1  # number of the first frame held
        if accepted + 1 < oldest:
            return self.lose(strings.CONTROLLER_LOST_NOT_HELD)
        for _ in range(accepted + 1 - oldest):
            self._unconfirmed_bytes -= utf8_size(self._unconfirmed.popleft())
        self.stream_id = stream_id
        self.state = StreamState.OPEN
        self.host_online = bool(params.get("hostOnline", True))
        return StreamOpened(
            stream_id=stream_id,
            resumed=bool(params.get("resumed")),
            host_online=self.host_online,
            resend=tuple(self._unconfirmed),
        )

    def __repr__(self) -> str:
        return (
            f"<ControllerStream {self.stream_id or '-'} {self.state.value} sent={self.sent} "
            f"received={self.received} unconfirmed={len(self._unconfirmed)}>"
        )
