"""Numbering, acks and replay of the host's envelopes. Sans-I/O.

spec/remote-control.md §4.3 and §4.5, with the binary's behaviour where it differs
(spec/remote-control-observed.md §3 item 2):

* the host numbers its envelopes per ``(client_id, stream_id)`` from 1; pongs share the
  counter; all chunks of one message share its number; the counter is never restarted —
  not by ``client_closed``, not by a re-``initialize``, not by a reconnect;
* every envelope sent stays in a replay buffer until the relay acks it; on reconnect the
  host sends the unacked ones first, unchanged; with ``RC_MAX_UNACKED`` envelopes unacked
  over the whole link the host stops sending new ones (upstream's ``used`` count);
* the relay drops what it already received, since a replay repeats envelopes it may have
  seen before the link dropped.

:class:`SeqNumbers` and :class:`ReplayBuffer` are the host's; :class:`ReplayFilter` is the
relay's.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from collections.abc import Iterator
from typing import Generic, TypeVar

from appserver import limits
from appserver.remote_control.envelopes import ServerEnvelope, ServerMessageChunk

__all__ = ["Entry", "ReplayBuffer", "ReplayFilter", "SeqNumbers", "StreamKey", "position"]

StreamKey = tuple[str, str]
T = TypeVar("T")
#: A replay buffer entry: ``(seq_id, segment_id or inf, item)`` (see :func:`position`).
Entry = tuple[int, float, T]


def position(envelope: ServerEnvelope) -> tuple[int, float]:
    """Where an envelope stands in its stream: ``(seq_id, segment_id)`` for a chunk and
    ``(seq_id, inf)`` for a whole message or pong, so that an ack without ``segment_id``
    covers every chunk of its message (§4.5)."""
    if isinstance(envelope, ServerMessageChunk):
        return (envelope.seq_id, envelope.segment_id)
    return (envelope.seq_id, math.inf)


class SeqNumbers:
    """The host's ``seq_id`` counter of every stream it has served.

    Remembered for the life of the process like the binary's, but bounded: beyond
    ``RC_MAX_REMEMBERED_STREAMS`` the least recently used counter is forgotten (a stream
    that comes back after that starts again at 1).
    """

    def __init__(self, remember: int = limits.RC_MAX_REMEMBERED_STREAMS) -> None:
        self._last: OrderedDict[StreamKey, int] = OrderedDict()
        self._remember = remember

    def next(self, client_id: str, stream_id: str) -> int:
        """The number of the stream's next envelope (1 for a stream never seen)."""
        return self.take(client_id, stream_id, 1)

    def take(self, client_id: str, stream_id: str, count: int) -> int:
        """Number ``count`` envelopes of the stream at once: the first of their consecutive
        numbers (:meth:`next` ``count`` times, in one step)."""
        key = (client_id, stream_id)
        first = self._last.get(key, 0) + 1
        self._last[key] = first + count - 1
        self._last.move_to_end(key)
        while len(self._last) > self._remember:
            self._last.popitem(last=False)
        return first

    def give_back(self, client_id: str, stream_id: str, count: int) -> None:
        """Un-take the last ``count`` numbers of the stream: only right after :meth:`take`,
        before anything else numbers the stream, for numbers that were not used."""
        self._last[(client_id, stream_id)] -= count

    def __len__(self) -> int:
        return len(self._last)

    def __repr__(self) -> str:
        return f"<SeqNumbers streams={len(self._last)}>"


class ReplayBuffer(Generic[T]):
    """Server envelopes sent over the link and not yet acked, per stream, in order.

    Each entry is kept with its :func:`position`, so that acks compare numbers only. An
    entry is whatever its owner needs to send it again: an envelope (:meth:`record`), or
    the host link's encoded frame payload (:meth:`record_many`), which a replay writes
    again unchanged without encoding anything.
    """

    def __init__(self) -> None:
        self._by_stream: dict[StreamKey, deque[Entry[T]]] = {}
        self._unacked = 0

    @property
    def unacked(self) -> int:
        """Envelopes not yet acked, over every stream of the link."""
        return self._unacked

    @property
    def room(self) -> int:
        """How many more envelopes may be sent before the link is :attr:`full`."""
        return limits.RC_MAX_UNACKED - self._unacked

    @property
    def full(self) -> bool:
        """Whether the host must wait for an ack before sending anything new."""
        return self._unacked >= limits.RC_MAX_UNACKED

    def unacked_for(self, client_id: str, stream_id: str) -> int:
        return len(self._by_stream.get((client_id, stream_id), ()))

    def record(self, envelope: T) -> None:
        """Keep an envelope that is being sent until it is acked."""
        key = (envelope.client_id, envelope.stream_id)  # type: ignore[attr-defined]
        seq_id, segment = position(envelope)  # type: ignore[arg-type]
        self.record_many(key, [(seq_id, segment, envelope)])

    def record_many(self, key: StreamKey, entries: list[Entry[T]]) -> None:
        """Keep a stream's ``(seq_id, segment_id or inf, item)`` entries, in sending order."""
        pending = self._by_stream.get(key)
        if pending is None:
            pending = self._by_stream[key] = deque()
        pending.extend(entries)
        self._unacked += len(entries)

    def ack(self, client_id: str, stream_id: str, seq_id: int, segment_id: int | None = None) -> int:
        """Forget the stream's envelopes up to ``(seq_id, segment_id)``; return how many.

        Without ``segment_id`` every envelope numbered ``seq_id`` or lower is acked; with it,
        the chunks of ``seq_id`` up to that segment (§4.5).
        """
        key = (client_id, stream_id)
        pending = self._by_stream.get(key)
        if not pending:
            return 0
        segment = math.inf if segment_id is None else segment_id
        last = pending[-1]
        if last[0] < seq_id or (last[0] == seq_id and last[1] <= segment):
            # Everything sent on the stream is acked (a round trip's ack).
            freed = len(pending)
            del self._by_stream[key]
            self._unacked -= freed
            return freed
        freed = 0
        popleft = pending.popleft
        while pending:
            first = pending[0]
            if first[0] > seq_id or (first[0] == seq_id and first[1] > segment):
                break
            popleft()
            freed += 1
        if freed and pending and any(e[0] < seq_id or (e[0] == seq_id and e[1] <= segment) for e in pending):
            # Not expected from a relay (acks follow sending order), but never keep an
            # acked envelope behind an unacked one.
            kept = deque(e for e in pending if e[0] > seq_id or (e[0] == seq_id and e[1] > segment))
            freed += len(pending) - len(kept)
            pending = self._by_stream[key] = kept
        if not pending:
            del self._by_stream[key]
        self._unacked -= freed
        return freed

    def replay(self) -> Iterator[T]:
        """Every unacked entry's item, each stream in order, to send first on a new link."""
        for pending in list(self._by_stream.values()):
            for entry in list(pending):
                yield entry[2]

    def __repr__(self) -> str:
        return f"<ReplayBuffer unacked={self._unacked} streams={len(self._by_stream)}>"


class ReplayFilter:
    """The relay's memory of how far it has received each stream of one host.

    A host replays every unacked envelope after a reconnect; :meth:`accept` says whether an
    envelope is new (and records it) or a repeat to drop. Bounded like :class:`SeqNumbers`.

    A host process that restarts numbers from 1 again, so a relay opens every stream it
    (re-)initializes under a stream id the host has never seen, or calls :meth:`forget`.
    """

    def __init__(self, remember: int = limits.RC_MAX_REMEMBERED_STREAMS) -> None:
        self._seen: OrderedDict[StreamKey, tuple[int, float]] = OrderedDict()
        self._remember = remember

    def accept(self, envelope: ServerEnvelope) -> bool:
        return self.accept_at((envelope.client_id, envelope.stream_id), position(envelope))

    def accept_at(self, key: StreamKey, where: tuple[int, float]) -> bool:
        """:meth:`accept` for the envelope of stream ``key`` at ``where`` (:func:`position`)."""
        seen = self._seen.get(key)
        if seen is not None and where <= seen:
            return False
        self._seen[key] = where
        self._seen.move_to_end(key)
        while len(self._seen) > self._remember:
            self._seen.popitem(last=False)
        return True

    def seen(self, client_id: str, stream_id: str) -> tuple[int, float] | None:
        """How far the stream has been received (:func:`position`); ``None`` if not at all."""
        return self._seen.get((client_id, stream_id))

    def forget(self, client_id: str, stream_id: str) -> None:
        self._seen.pop((client_id, stream_id), None)

    def __repr__(self) -> str:
        return f"<ReplayFilter streams={len(self._seen)}>"
