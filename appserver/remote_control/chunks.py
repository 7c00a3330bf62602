"""Chunking of large remote-control messages, both ways. Sans-I/O.

spec/remote-control.md §4.4 (upstream ``segment.rs``). A message whose envelope would exceed
``RC_MAX_ENVELOPE_BYTES`` (150 KiB) travels as chunk envelopes: its compact JSON bytes are
cut into equal pieces (at least two, about ``RC_CHUNK_TARGET_BYTES`` each, more until every
chunk envelope fits), each standard base64 with padding, all sharing the message's
``seq_id`` with ``segment_id`` 0 … ``segment_count - 1``. A receiver reassembles them in
order; any rule broken drops that message's assembly, and chunks already seen (a sender
replaying after a reconnect) are dropped silently.

The sender side reproduces the binary's cut exactly (a 273,103-byte message becomes three
91,035-byte pieces), so our host and relay produce the envelopes codex does.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import TypeVar

from appserver import limits, strings
from appserver.remote_control.envelopes import (
    ClientMessage,
    ClientMessageChunk,
    ServerMessage,
    ServerMessageChunk,
    envelope_size,
)

__all__ = [
    "ChunkError",
    "MessageTooLarge",
    "Reassembled",
    "Reassembler",
    "split_client_message",
    "split_server_message",
]


class MessageTooLarge(ValueError):
    """A message cannot be sent: over ``RC_MAX_MESSAGE_BYTES``, or it cannot be cut into
    envelopes that fit (upstream drops it with a warning)."""


class ChunkError(ValueError):
    """A chunk broke a rule; its message's assembly was dropped. Says why, never the data."""


# --- sending -------------------------------------------------------------------------------


def split_server_message(
    client_id: str, stream_id: str, seq_id: int, message: str
) -> list[ServerMessage | ServerMessageChunk]:
    """``message`` as one :class:`ServerMessage`, or as chunks when it does not fit."""
    whole = ServerMessage(client_id, stream_id, seq_id, message)
    if envelope_size(whole) <= limits.RC_MAX_ENVELOPE_BYTES:
        return [whole]
    template = ServerMessageChunk(client_id, stream_id, seq_id, 0, 0, 0, "")
    return _chunks(template, message.encode("utf-8"))


def split_client_message(
    client_id: str, stream_id: str, seq_id: int, message: str, cursor: str | None = None
) -> list[ClientMessage | ClientMessageChunk]:
    """``message`` as one :class:`ClientMessage`, or as chunks when it does not fit."""
    whole = ClientMessage(client_id, stream_id, seq_id, message, cursor)
    if envelope_size(whole) <= limits.RC_MAX_ENVELOPE_BYTES:
        return [whole]
    template = ClientMessageChunk(client_id, stream_id, seq_id, 0, 0, 0, "", cursor)
    return _chunks(template, message.encode("utf-8"))


_Chunk = TypeVar("_Chunk", ServerMessageChunk, ClientMessageChunk)


def _chunks(template: _Chunk, raw: bytes) -> list[_Chunk]:
    size = len(raw)
    if size > limits.RC_MAX_MESSAGE_BYTES:
        raise MessageTooLarge(strings.RC_MESSAGE_TOO_LARGE.format(size=size))
    # Envelope bytes apart from the base64 text, for a one-digit segment id and count.
    overhead = envelope_size(replace(template, segment_id=0, segment_count=0, message_size_bytes=size))

    def fits(count: int, chunk_size: int) -> bool:
        if count > limits.RC_MAX_SEGMENTS:
            return False
        last_id = count - 1
        widest = overhead + len(str(last_id)) - 1 + len(str(count)) - 1
        return widest + 4 * -(-chunk_size // 3) <= limits.RC_MAX_ENVELOPE_BYTES

    # Even one byte per piece would not fit (ids that long): upstream drops the message.
    if overhead + len(str(size)) - 1 + 4 > limits.RC_MAX_ENVELOPE_BYTES:
        raise MessageTooLarge(strings.RC_MESSAGE_CANNOT_FIT)
    # Upstream's search: start at ~100 KiB pieces (at least two) and add pieces until every
    # chunk envelope fits.
    count = max(2, -(-size // limits.RC_CHUNK_TARGET_BYTES))
    while True:
        chunk_size = max(1, -(-size // count))
        count = -(-size // chunk_size)
        if fits(count, chunk_size):
            return [
                replace(
                    template,
                    segment_id=index,
                    segment_count=count,
                    message_size_bytes=size,
                    message_chunk_base64=base64.b64encode(
                        raw[index * chunk_size : (index + 1) * chunk_size]
                    ).decode("ascii"),
                )
                for index in range(count)
            ]
        if chunk_size == 1:
            raise MessageTooLarge(strings.RC_MESSAGE_CANNOT_FIT)
        following = max(1, -(-size // (count + 1)))
        count = size if following == chunk_size else count + 1


# --- receiving -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reassembled:
    """A whole message rebuilt from its chunks; handled like a single-envelope message."""

    client_id: str
    stream_id: str
    seq_id: int
    message: str
    cursor: str | None = None


@dataclass(slots=True)
class _Assembly:
    stream_id: str
    seq_id: int
    segment_count: int
    message_size_bytes: int
    data: bytearray = field(default_factory=bytearray)
    next_segment: int = 0


class Reassembler:
    """Rebuilds chunked messages for one receiving side of one link.

    Like upstream, at most one message per key is being assembled at once: per client with
    ``per_stream=False`` (the host's rule: a chunk of another stream of the same client
    resets it), per ``(client, stream)`` with ``per_stream=True``. At most
    ``max_assemblies`` messages and ``max_buffered_bytes`` bytes are held; beyond that the
    least recently active assembly is dropped. The last completed chunked ``seq_id`` of each
    stream is remembered so that a replayed message is not delivered twice.
    """

    def __init__(
        self,
        *,
        per_stream: bool = False,
        max_assemblies: int = limits.RC_MAX_ASSEMBLIES,
        max_buffered_bytes: int = limits.RC_MAX_REASSEMBLY_BYTES,
        max_message_bytes: int = limits.RC_MAX_MESSAGE_BYTES,
    ) -> None:
        self._per_stream = per_stream
        self._max_assemblies = max_assemblies
        self._max_buffered = max_buffered_bytes
        self._max_message = max_message_bytes
        #: Assemblies by key, least recently active first.
        self._assemblies: OrderedDict[object, _Assembly] = OrderedDict()
        self._buffered = 0
        #: Last completed chunked seq_id per (client, stream), least recently used first.
        self._completed: OrderedDict[tuple[str, str], int] = OrderedDict()

    @property
    def assemblies(self) -> int:
        return len(self._assemblies)

    @property
    def buffered_bytes(self) -> int:
        return self._buffered

    def feed(
        self, chunk: ClientMessageChunk | ServerMessageChunk, wire_size: int = 0
    ) -> Reassembled | None:
        """Take one chunk; return the message when it was the last one.

        ``None`` for a chunk that was taken (more to come) or that was already seen (a
        replay). :class:`ChunkError` when the chunk breaks a rule (its assembly is dropped).
        ``wire_size`` is the size of the frame it came in, checked against the envelope limit.
        """
        client_id, stream_id, seq_id = chunk.client_id, chunk.stream_id, chunk.seq_id
        if seq_id is None:
            raise ChunkError("chunk without seq_id")
        if stream_id is None:
            raise ChunkError("chunk without stream_id")
        completed = self._completed.get((client_id, stream_id))
        if completed is not None and seq_id <= completed:
            return None  # a replay of a message already delivered
        key = (client_id, stream_id) if self._per_stream else client_id
        assembly = self._assemblies.get(key)
        if (
            assembly is not None
            and assembly.stream_id == stream_id
            and (seq_id, chunk.segment_id) < (assembly.seq_id, assembly.next_segment)
        ):
            return None  # a replay of a chunk already taken
        if wire_size > limits.RC_MAX_ENVELOPE_BYTES:
            self.invalidate(client_id, stream_id)
            raise ChunkError("chunk envelope over the size limit")
        count, size = chunk.segment_count, chunk.message_size_bytes
        if (
            not 0 < count <= limits.RC_MAX_SEGMENTS
            or chunk.segment_id >= count
            or not 0 < size <= self._max_message
            or not chunk.message_chunk_base64
        ):
            raise ChunkError("invalid chunk fields")
        if assembly is None or assembly.stream_id != stream_id:
            if assembly is not None:
                self._drop(key)
            assembly = self._start(key, stream_id, seq_id, count, size)
        else:
            self._assemblies.move_to_end(key)
        if (assembly.seq_id, assembly.segment_count, assembly.message_size_bytes) != (
            seq_id,
            count,
            size,
        ):
            self._drop(key)
            raise ChunkError("chunk does not match the message being assembled")
        if chunk.segment_id != assembly.next_segment:
            self._drop(key)
            raise ChunkError("chunk out of order")
        try:
            piece = base64.b64decode(chunk.message_chunk_base64, validate=True)
        except (binascii.Error, ValueError):
            self._drop(key)
            raise ChunkError("chunk is not valid base64") from None
        if len(assembly.data) + len(piece) > size:
            self._drop(key)
            raise ChunkError("chunks exceed the announced message size")
        assembly.data += piece
        assembly.next_segment += 1
        self._buffered += len(piece)
        self._evict()
        if assembly.next_segment < count:
            return None
        self._drop(key)
        if len(assembly.data) != size:
            raise ChunkError("reassembled message has the wrong size")
        try:
            text = assembly.data.decode("utf-8")
            if not isinstance(json.loads(text), dict):
                raise ValueError
        except (ValueError, RecursionError):
            raise ChunkError("reassembled message is not a JSON-RPC object") from None
        self._remember(client_id, stream_id, seq_id)
        return Reassembled(client_id, stream_id, seq_id, text, getattr(chunk, "cursor", None))

    def invalidate(self, client_id: str, stream_id: str) -> None:
        """Drop a partial message of this stream (the stream closed or broke a rule)."""
        key = (client_id, stream_id) if self._per_stream else client_id
        assembly = self._assemblies.get(key)
        if assembly is not None and assembly.stream_id == stream_id:
            self._drop(key)

    def forget_stream(self, client_id: str, stream_id: str) -> None:
        """The stream is over for good: drop its assembly and its replay memory."""
        self.invalidate(client_id, stream_id)
        self._completed.pop((client_id, stream_id), None)

    def _start(self, key: object, stream_id: str, seq_id: int, count: int, size: int) -> _Assembly:
        while len(self._assemblies) >= self._max_assemblies:
            self._drop(next(iter(self._assemblies)))
        assembly = _Assembly(stream_id, seq_id, count, size)
        self._assemblies[key] = assembly
        return assembly

    def _drop(self, key: object) -> None:
        assembly = self._assemblies.pop(key, None)
        if assembly is not None:
            self._buffered -= len(assembly.data)

    def _evict(self) -> None:
        # The newest assembly is the one being fed: it is evicted last.
        while self._buffered > self._max_buffered and len(self._assemblies) > 1:
            self._drop(next(iter(self._assemblies)))

    def _remember(self, client_id: str, stream_id: str, seq_id: int) -> None:
        self._completed[(client_id, stream_id)] = seq_id
        self._completed.move_to_end((client_id, stream_id))
        while len(self._completed) > limits.RC_MAX_REMEMBERED_STREAMS:
            self._completed.popitem(last=False)

    def __repr__(self) -> str:
        return (
            f"<Reassembler per_stream={self._per_stream} assemblies={len(self._assemblies)} "
            f"buffered={self._buffered}B>"
        )
