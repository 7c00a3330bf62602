"""Text frames read and written where the bytes are, without a task per message.

``websockets``' asyncio connections parse frames in the socket's ``data_received``
callback and put complete messages in a queue that a reader task awaits (``recv()`` /
``async for``): a task wake-up, a future and a queue round per message, on each side of
the gateway. On the per-message path that is most of what the WebSocket layer costs.

:class:`DirectTextFrames` lets a connection register a *text sink*: a callable that takes a
complete text message in that same callback and returns ``True`` when it handled it without
waiting. It returns ``False`` (having done nothing) when handling could have to wait — a
full inbound queue, a client whose policy is to wait for room — and the message then goes
through the library's queue to the reader task, as before. Order never changes: once a
message went to the queue, every later one follows it there until the reader has taken
them all (:meth:`DirectTextFrames.message_taken`).

The common frame — one unfragmented text frame (RFC 6455 §5.2: FIN set, RSV bits clear,
opcode 1, masked exactly when the peer is a client) — is read here, from the bytes
``data_received`` is given, and handed to the sink: the library's sans-I/O parser costs
about as much Python per frame as the rest of the message's path, and this is the frame
nearly every message is. Everything else is handed to the library **as whole frames**, so
its parser is always at a frame boundary and keeps every rule: the handshake, control
frames (pings answered, close handshake), fragmented messages, compressed frames, UTF-8
errors (an invalid text frame goes to the queue, whose reader closes with 1007), size
limits (1009), masking errors (1002), debug logging. Once the connection leaves the OPEN
state, or a frame is larger than the library accepts, every byte goes to the library.

A connection reading a *server's* frames (unmasked) may also register a *frame sink*
(:meth:`DirectTextFrames.set_frame_sink`): it sees such a frame's bytes before they are
decoded, and may take the frame whole — an answer the gateway passes to its client
verbatim, since a server's text frame to its client is the same bytes (see
:class:`appserver.backends.codex.upstream.UpstreamSession`). A frame it declines goes on to
the text sink as usual.

:func:`text_frames` is the sending half: the bytes of unfragmented text frames, built here
for a connection without extensions (the library's own framing otherwise) by
:func:`encoded_text_frames`, with masks for a client's frames taken from a pool of
``os.urandom`` bytes (RFC 6455 §5.3: a fresh, unpredictable key per frame), not one
``getrandom`` system call per frame (``websockets`` builds a ``Frame``, a ``BytesIO`` and
draws ``os.urandom(4)`` for each).
"""

from __future__ import annotations

import logging
import os
import struct
import types
from collections.abc import Callable, Iterable
from typing import TypeVar

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.server import ServerConnection
from websockets.frames import DATA_OPCODES, Frame, Opcode
from websockets.protocol import CLIENT, SERVER, Event, Protocol, State

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - websockets always ships it on Linux and macOS
    from websockets.utils import apply_mask

from appserver import limits

log = logging.getLogger("appserver.websocket")

T = TypeVar("T")

#: Takes one complete text message; ``True`` when handled, ``False`` (nothing done) when
#: the message must go through the reader task instead.
TextSink = Callable[[str], bool]
#: Takes a complete unmasked text frame as ``(data, start, payload_start, end)``: the frame
#: is ``data[start:end]``, its UTF-8 payload ``data[payload_start:end]`` (not checked yet);
#: ``True`` when it took the frame, ``False`` (nothing done) to have it decoded as usual.
FrameSink = Callable[[bytes, int, int, int], bool]

_TEXT = Opcode.TEXT
_OPEN = State.OPEN
#: First header byte of an unfragmented text frame: FIN, RSV1-3 clear, opcode 1.
_FIN_TEXT = 0x81
_MASK_BIT = 0x80
_LENGTH_16 = struct.Struct("!H")
_LENGTH_64 = struct.Struct("!Q")
#: Frame headers for payloads shorter than 126 bytes, 64 KiB, or longer; with a masking key.
_SHORT = struct.Struct("!BB").pack
_MEDIUM = struct.Struct("!BBH").pack
_LONG = struct.Struct("!BBQ").pack
_MASKED_SHORT = struct.Struct("!BB4s").pack
_MASKED_MEDIUM = struct.Struct("!BBH4s").pack
_MASKED_LONG = struct.Struct("!BBQ4s").pack


class DirectTextFrames:
    """Mixin for a ``websockets`` asyncio connection (see the module docstring)."""

    _text_sink: TextSink | None = None
    _frame_sink: FrameSink | None = None
    #: Messages given to the library's queue and not yet taken by the reader.
    _queued_messages = 0
    #: Every byte goes to the library from now on (closing, an oversized frame, bytes the
    #: library buffered before the connection opened).
    _library_reads = False
    #: The first OPEN read checked that the library's parser holds no partial frame.
    _boundary_checked = False
    #: The start of a frame whose end has not arrived yet, and how long it must grow.
    _partial: bytearray | None = None
    _partial_needed = 0
    #: The frame being handed to the library was declined by the sink: do not offer it again.
    _declined = False
    _read_done: Callable[[], None] | None = None
    #: The library's largest frame (:func:`_frame_limit`), looked up once; -1: not yet.
    _frame_limit: int | None = -1

    def set_text_sink(self, sink: TextSink | None, read_done: Callable[[], None] | None = None) -> None:
        """``sink`` takes each complete text message read; ``read_done``, if given, is called
        at the end of every socket read, before any task runs (a sink that gathers a run of
        messages delivers it there)."""
        self._text_sink = sink
        self._read_done = read_done

    def set_frame_sink(self, sink: FrameSink | None) -> None:
        """``sink`` sees each unmasked text frame before the text sink (module docstring);
        only a connection with a text sink offers frames to it."""
        self._frame_sink = sink

    def message_taken(self) -> None:
        """The reader task is done with one message it took from the queue."""
        if self._queued_messages:
            self._queued_messages -= 1

    def data_received(self, data: bytes) -> None:
        protocol: Protocol = self.protocol  # type: ignore[attr-defined]
        try:
            # ``_state``, not the ``state`` property: read twice per message, a property
            # call costs as much as the rest of the check (websockets is pinned to 17.x).
            if self._library_reads or protocol._state is not _OPEN or protocol.debug:
                self._library_takes_all(data, protocol)
            elif not self._boundary_checked and self._library_holds_bytes(protocol):
                self._library_takes_all(data, protocol)
            elif self._partial is None:
                self._read_frames(data, protocol)
            else:
                whole = self._complete_partial(data)
                if whole is not None:
                    self._read_frames(whole, protocol)
        finally:
            if self._read_done is not None:
                self._read_done()

    def _library_holds_bytes(self, protocol: Protocol) -> bool:
        """On the first OPEN read: did the library's parser keep bytes (frames sent before
        the handshake finished)? Then every byte goes to it."""
        self._boundary_checked = True
        return bool(protocol.reader.buffer)

    def _complete_partial(self, data: bytes) -> bytes | None:
        """The held start of a frame joined with ``data``, once the frame's header and
        payload are all there; ``None`` while it still grows."""
        partial = self._partial
        assert partial is not None
        partial += data
        if len(partial) < self._partial_needed:
            return None
        self._partial = None
        return bytes(partial)

    def _read_frames(self, data: bytes, protocol: Protocol) -> None:
        size = len(data)
        masked = protocol.side is SERVER
        limit = self._frame_limit
        if limit == -1:
            limit = self._frame_limit = _frame_limit(protocol)
        pos = 0
        while pos < size:
            if size - pos < 2:
                self._keep(data, pos, 2)
                return
            first = data[pos]
            second = data[pos + 1]
            length = second & 0x7F
            head = pos + 2
            if length == 126:
                if size - head < 2:
                    self._keep(data, pos, 4)
                    return
                (length,) = _LENGTH_16.unpack_from(data, head)
                head += 2
            elif length == 127:
                if size - head < 8:
                    self._keep(data, pos, 10)
                    return
                (length,) = _LENGTH_64.unpack_from(data, head)
                head += 8
            if limit is not None and length > limit:
                # The library refuses it (1009) as it arrives; no need to hold it here.
                self._library_takes_all(data[pos:], protocol)
                return
            mask_at = head
            if second & _MASK_BIT:
                head += 4
            end = head + length
            if end > size:
                self._keep(data, pos, end - pos)
                return
            if (
                first == _FIN_TEXT
                and bool(second & _MASK_BIT) is masked
                and self._text_sink is not None
                and not self._queued_messages
                and protocol.current_size is None
            ):
                frame_sink = self._frame_sink
                if frame_sink is not None and not masked and frame_sink(data, pos, head, end):
                    pos = end
                    continue
                payload = data[head:end]
                if masked:
                    payload = apply_mask(payload, data[mask_at:head])
                try:
                    text = payload.decode()
                except UnicodeDecodeError:
                    pass  # the library queues it; its reader closes with 1007
                else:
                    try:
                        taken = self._text_sink(text)
                    except Exception:
                        taken = self._sink_failed()
                    if taken:
                        pos = end
                        if protocol._state is not _OPEN:  # the sink closed the connection
                            self._library_takes_all(data[pos:], protocol)
                            return
                        continue
                    self._declined = True
            try:
                super().data_received(data[pos:end])  # type: ignore[misc]
            finally:
                self._declined = False
            pos = end
            if protocol.state is not _OPEN:
                self._library_takes_all(data[pos:], protocol)
                return

    def _keep(self, data: bytes, pos: int, needed: int) -> None:
        """Hold the start of a frame until ``needed`` bytes of it have arrived."""
        self._partial = bytearray(data[pos:])
        self._partial_needed = needed

    def _library_takes_all(self, data: bytes, protocol: Protocol) -> None:
        if protocol.state is not State.CONNECTING:
            self._library_reads = True
            partial, self._partial = self._partial, None
            if partial:
                data = bytes(partial) + data
        if data:
            super().data_received(data)  # type: ignore[misc]

    def _offer(self, text: str) -> bool:
        """The text sink's verdict on ``text`` (the library's path; the common frame's
        loop in :meth:`_read_frames` calls the sink itself)."""
        try:
            return self._text_sink(text)  # type: ignore[misc]
        except Exception:
            return self._sink_failed()

    def _sink_failed(self) -> bool:
        """The text sink raised: a bug, not bad input (sinks never raise for bad input).
        End this connection loudly rather than hang it; ``True``: the message is gone."""
        log.exception("text sink failed; dropping the connection")
        self._text_sink = None  # what else arrives goes to the queue, never read
        self.transport.abort()  # type: ignore[attr-defined]
        return True

    def process_event(self, event: Event) -> None:
        if (
            self._text_sink is not None
            and not self._declined
            and not self._queued_messages
            and type(event) is Frame  # not a handshake event
            and event.opcode is _TEXT
            and event.fin
        ):
            try:
                text = event.data.decode()
            except UnicodeDecodeError:
                pass  # the queue's reader closes the connection with 1007
            else:
                if self._offer(text):
                    return
        if type(event) is Frame and event.opcode in DATA_OPCODES and event.fin:
            self._queued_messages += 1
        super().process_event(event)  # type: ignore[misc]


def _frame_limit(protocol: Protocol) -> int | None:
    """The largest frame the library accepts when no fragmented message is in progress."""
    limits_ = [x for x in (protocol.max_message_size, protocol.max_fragment_size) if x is not None]
    return min(limits_) if limits_ else None


def _own_copy_of_the_mixin(cls: type[T]) -> type[T]:
    """Give ``cls`` its own copy of each of :class:`DirectTextFrames`' methods.

    CPython (3.11+) specializes attribute reads per code object, for the type it sees
    there. A gateway round trip runs the mixin's reader on a server connection (the
    client's) and on a client connection (codex's) in turn: shared code would see the type
    change at every call and read every attribute the slow, generic way (about 3% of the
    gateway's instructions per round trip). A copy per class sees one type.
    """
    for name, value in vars(DirectTextFrames).items():
        if isinstance(value, types.FunctionType):
            copy = types.FunctionType(
                value.__code__.replace(), value.__globals__, name, value.__defaults__, value.__closure__
            )
            copy.__kwdefaults__ = value.__kwdefaults__
            copy.__qualname__ = f"{cls.__name__}.{name}"
            copy.__doc__ = value.__doc__
            setattr(cls, name, copy)
    return cls


@_own_copy_of_the_mixin
class DirectServerConnection(DirectTextFrames, ServerConnection):
    """A server-side connection with a text sink."""


@_own_copy_of_the_mixin
class DirectClientConnection(DirectTextFrames, ClientConnection):
    """A client-side connection with a text sink."""


class _MaskPool:
    """Masking keys for a client's frames, drawn from ``os.urandom`` a page at a time."""

    def __init__(self, keys: int = limits.WEBSOCKET_MASK_POOL_KEYS) -> None:
        self._size = keys * 4
        self._bytes = b""
        self._at = self._size

    def take(self) -> bytes:
        at = self._at
        if at >= self._size:
            self._bytes = os.urandom(self._size)
            at = 0
        self._at = at + 4
        return self._bytes[at : at + 4]

    def __repr__(self) -> str:
        return f"<_MaskPool {(self._size - self._at) // 4} keys left>"


_masks = _MaskPool()


def text_frames(protocol: Protocol, texts: Iterable[str]) -> bytes:
    """The bytes to write for ``texts``, one unfragmented text frame each (RFC 6455 §5.2),
    after whatever the protocol already had to send. The connection must be OPEN and not
    in the middle of a fragmented message (the callers never fragment)."""
    if protocol.extensions:  # permessage-deflate: the library compresses
        for text in texts:
            protocol.send_text(text.encode())
        return b"".join(protocol.data_to_send())
    frames = encoded_text_frames([text.encode() for text in texts], masked=protocol.side is CLIENT)
    if protocol.writes:
        return b"".join(protocol.data_to_send()) + frames
    return frames


def text_frame(protocol: Protocol, text: str) -> bytes:
    """:func:`text_frames` for one text (a lone answer or request on the direct path)."""
    if protocol.extensions or protocol.writes:
        return text_frames(protocol, (text,))
    payload = text.encode()
    if protocol.side is CLIENT:
        key = _masks.take()
        return _masked_header(len(payload), key) + apply_mask(payload, key)
    return _header(len(payload)) + payload


def _header(length: int) -> bytes:
    """The header of an unmasked text frame of ``length`` bytes (RFC 6455 §5.2)."""
    if length < 126:
        return _SHORT(_FIN_TEXT, length)
    if length < 65536:
        return _MEDIUM(_FIN_TEXT, 126, length)
    return _LONG(_FIN_TEXT, 127, length)


def _masked_header(length: int, key: bytes) -> bytes:
    """The header of a masked text frame of ``length`` bytes, with its masking ``key``."""
    if length < 126:
        return _MASKED_SHORT(_FIN_TEXT, _MASK_BIT | length, key)
    if length < 65536:
        return _MASKED_MEDIUM(_FIN_TEXT, _MASK_BIT | 126, length, key)
    return _MASKED_LONG(_FIN_TEXT, _MASK_BIT | 127, length, key)


def encoded_text_frames(payloads: Iterable[bytes], *, masked: bool) -> bytes:
    """Unfragmented text frames carrying each of ``payloads`` (UTF-8 text), joined for one
    socket write; ``masked`` for a client's frames (each with its own key from the pool).
    For a connection without extensions (:func:`text_frames` checks; the remote-control
    link never offers any)."""
    # The headers are _header's and _masked_header's, written out here: a call per frame
    # would cost a batch of deltas more than its framing (a test holds the two equal).
    parts: list[bytes] = []
    append = parts.append
    if masked:
        take = _masks.take
        for payload in payloads:
            length = len(payload)
            key = take()
            if length < 126:
                append(_MASKED_SHORT(_FIN_TEXT, _MASK_BIT | length, key))
            elif length < 65536:
                append(_MASKED_MEDIUM(_FIN_TEXT, _MASK_BIT | 126, length, key))
            else:
                append(_MASKED_LONG(_FIN_TEXT, _MASK_BIT | 127, length, key))
            append(apply_mask(payload, key))
    else:
        for payload in payloads:
            length = len(payload)
            if length < 126:
                append(_SHORT(_FIN_TEXT, length))
            elif length < 65536:
                append(_MEDIUM(_FIN_TEXT, 126, length))
            else:
                append(_LONG(_FIN_TEXT, 127, length))
            append(payload)
    return b"".join(parts)

