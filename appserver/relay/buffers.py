"""The relay's two bounded buffers. Sans-I/O.

* :class:`ResumeBuffer` — per controller stream, the JSON-RPC frames for the controller,
  numbered from 1. Frames not yet written to a socket are the send queue; written frames
  stay for a resume (``?received=n`` resends frames after n) until the bound evicts them.
* :class:`Redelivery` — per host, the controller -> host envelopes sent lately, numbered by
  the ``cursor`` each one carries. When the host link reconnects, the host's
  ``x-codex-subscribe-cursor`` names the last envelope it saw (spec/remote-control.md §4.5);
  the ones after it are sent again (the host drops duplicates by ``seq_id``).

Both byte bounds count UTF-8 bytes (:func:`~appserver.queues.utf8_size`), what the frames
cost on the wire and in memory, not characters.
"""

from __future__ import annotations

import json
from collections import deque
from itertools import islice
from typing import NamedTuple

from appserver.queues import utf8_size


class Overflow(Exception):
    """The buffer cannot take the frame without dropping one nobody has received yet."""


class Frame(NamedTuple):
    """A frame of a :class:`ResumeBuffer`, as :meth:`ResumeBuffer.unwritten` shows it."""

    index: int
    text: str
    size: int  # UTF-8 bytes of ``text``


class ResumeBuffer:
    """Frames ``first..last`` for one stream; at most ``max_frames`` and ``max_bytes`` UTF-8
    bytes (one frame larger than ``max_bytes`` is still taken when nothing else is pending).

    Only the texts are kept (their numbers follow from ``last``, their sizes from the text:
    ``str.isascii`` is a flag): nothing is built per frame."""

    def __init__(self, max_frames: int, max_bytes: int) -> None:
        self.max_frames = max_frames
        self.max_bytes = max_bytes
        self._texts: deque[str] = deque()
        self._bytes = 0
        #: Number of the last frame appended (frames are numbered from 1).
        self.last = 0
        #: Number of the last frame written to the current socket.
        self.written = 0

    @property
    def first(self) -> int:
        """Number of the oldest frame kept (``last + 1`` when empty)."""
        return self.last - len(self._texts) + 1

    @property
    def pending(self) -> int:
        return self.last - self.written

    @property
    def bytes(self) -> int:
        return self._bytes

    def append(self, text: str) -> int:
        """Add a frame; evict written frames if needed; :class:`Overflow` if the bound is
        reached with unwritten frames only (nothing is changed then)."""
        size = utf8_size(text)
        if not self._make_room(size):
            raise Overflow
        self._texts.append(text)
        self._bytes += size
        self.last += 1
        return self.last

    def _make_room(self, size: int) -> bool:
        """Evict written frames, oldest first, until one more frame of ``size`` bytes fits
        both bounds; ``False`` when only unwritten frames are left to evict."""
        kept = self._texts
        while kept and (len(kept) >= self.max_frames or self._bytes + size > self.max_bytes):
            if self.last - len(kept) + 1 > self.written:  # the oldest is unwritten
                return False
            self._bytes -= utf8_size(kept.popleft())
        return True

    def extend(self, texts: list[str]) -> int:
        """:meth:`append` each of ``texts``, in order, as far as the bound allows; how many
        were taken (fewer than all where :meth:`append` would raise :class:`Overflow`)."""
        kept = self._texts
        sizes = [len(text) if text.isascii() else len(text.encode("utf-8")) for text in texts]
        total = sum(sizes)
        # Written frames may go, oldest first; unwritten ones never.
        evictable = self.written - self.first + 1
        over = len(kept) + len(texts) - self.max_frames
        if over <= evictable:
            # The common case, all at once: the oldest frames the count bound asks for go,
            # then the new ones fit (else the general case below, from there).
            held = self._bytes
            popleft = kept.popleft
            for _ in range(over):
                held -= utf8_size(popleft())
            self._bytes = held
            if held + total <= self.max_bytes or (not kept and len(texts) == 1):
                kept.extend(texts)
                self._bytes = held + total
                self.last += len(texts)
                return len(texts)
        taken = 0
        for text, size in zip(texts, sizes):
            if not self._make_room(size):
                break
            kept.append(text)
            self._bytes += size
            self.last += 1
            taken += 1
        return taken

    def unwritten_texts(self) -> list[str]:
        """The texts of the frames after ``written``, in order."""
        count = min(self.last - self.written, len(self._texts))
        if count <= 0:
            return []
        texts = list(islice(reversed(self._texts), count))
        texts.reverse()
        return texts

    def unwritten(self) -> list[Frame]:
        """The frames after ``written``, in order."""
        texts = self.unwritten_texts()
        return [Frame(index, text, utf8_size(text)) for index, text in enumerate(texts, self.last - len(texts) + 1)]

    def can_resume(self, received: int) -> bool:
        """A controller that received ``received`` frames can go on without a gap."""
        return self.first - 1 <= received <= self.last

    def rewind(self, received: int) -> None:
        """A new socket: the controller has frames up to ``received``."""
        self.written = received

    def __repr__(self) -> str:
        return f"<ResumeBuffer first={self.first} last={self.last} written={self.written} bytes={self._bytes}>"


class Sent(NamedTuple):
    cursor: int
    stream_id: str
    text: str
    size: int  # UTF-8 bytes of ``text``


class Redelivery:
    """Controller -> host envelopes of one host, by cursor number, bounded (oldest dropped)."""

    def __init__(self, boot: str, max_envelopes: int, max_bytes: int) -> None:
        self.boot = boot
        self.max_envelopes = max_envelopes
        self.max_bytes = max_bytes
        self._sent: deque[Sent] = deque()
        self._bytes = 0
        self.next_cursor = 1
        self._quoted_boot = json.dumps(boot, ensure_ascii=False)[:-1]  # '"<boot>'

    def cursor_text(self, number: int) -> str:
        return f"{self.boot}.{number}"

    def cursor_json(self, number: int) -> str:
        """:meth:`cursor_text` as a JSON string, as an envelope carries it."""
        return f'{self._quoted_boot}.{number}"'

    def parse_cursor(self, text: str | None) -> int | None:
        """The number in a cursor this relay process issued; ``None`` for others."""
        if not text:
            return None
        boot, _, number = text.rpartition(".")
        if boot != self.boot or not number.isdigit():
            return None
        return int(number)

    def take(self) -> int:
        """The cursor number of the next envelope."""
        number = self.next_cursor
        self.next_cursor += 1
        return number

    def record(self, cursor: int, stream_id: str, text: str) -> None:
        size = utf8_size(text)
        self._sent.append(Sent(cursor, stream_id, text, size))
        self._bytes += size
        while self._sent and (len(self._sent) > self.max_envelopes or self._bytes > self.max_bytes):
            self._bytes -= self._sent.popleft().size

    def after(self, cursor: int) -> list[Sent]:
        """Envelopes after ``cursor`` still kept, in order (the host saw up to ``cursor``)."""
        return [sent for sent in self._sent if sent.cursor > cursor]

    def confirm(self, cursor: int) -> None:
        """The host saw everything up to ``cursor``: forget it."""
        while self._sent and self._sent[0].cursor <= cursor:
            self._bytes -= self._sent.popleft().size

    def forget_stream(self, stream_id: str) -> None:
        kept = deque(sent for sent in self._sent if sent.stream_id != stream_id)
        self._bytes = sum(sent.size for sent in kept)
        self._sent = kept

    def __len__(self) -> int:
        return len(self._sent)

    def __repr__(self) -> str:
        return f"<Redelivery kept={len(self._sent)} next={self.next_cursor}>"
