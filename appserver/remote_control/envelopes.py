"""The envelopes of codex's remote-control host WebSocket, both ways. Sans-I/O.

spec/remote-control.md §4.2; key order and numbering as the 0.169.0 binary writes them
(spec/remote-control-observed.md §2–3). One JSON object per text frame, tagged by ``type``:

* relay -> host ("client envelopes"): ``client_message``, ``client_message_chunk``, ``ack``,
  ``ping``, ``client_closed``; each names a ``client_id`` and, except in the legacy form, a
  ``stream_id``; ``seq_id`` and ``cursor`` are optional;
* host -> relay ("server envelopes"): ``server_message``, ``server_message_chunk``, ``pong``;
  each carries ``client_id``, ``stream_id`` and ``seq_id``.

A ``message`` field holds one JSON-RPC message. Here it is kept as compact JSON *text*, so
the host hands it to the processor and the relay to a controller socket without building it
again, and :func:`encode` embeds it as it is.

This module is hand-written because the wire is byte-exact upstream behaviour (field order,
omitted nulls), which a generic serializer would not keep.

Speed: every envelope is parsed once on the per-message path, so parsing uses orjson (C)
with the fallback rules of :mod:`appserver.jsonrpc`: where orjson refuses the text (NaN,
lone surrogate escapes, deep nesting) or could read a number differently (19 digits or
more in a row), the stdlib decides. A ``message`` read by orjson is written back by orjson
(the same compact JSON, floats in their shortest form); one read by the stdlib is written
back by the stdlib.
"""

from __future__ import annotations

import enum
import functools
import json
import re
from dataclasses import dataclass
from typing import Any

import orjson

from appserver import jsonrpc, limits

__all__ = [
    "Ack",
    "ClientClosed",
    "ClientEnvelope",
    "ClientMessage",
    "ClientMessageChunk",
    "EnvelopeError",
    "Ping",
    "Pong",
    "PongStatus",
    "ack_head",
    "ServerEnvelope",
    "ServerMessage",
    "ServerMessageChunk",
    "client_message_affixes",
    "encode",
    "envelope_size",
    "parse_client_envelope",
    "parse_server_envelope",
    "server_message_affixes",
    "server_message_ending",
    "split_ack",
    "split_client_message",
    "split_server_message",
    "split_server_message_ending",
]


class EnvelopeError(ValueError):
    """A frame is not a valid envelope. The message says why, never what the frame held."""


class PongStatus(enum.Enum):
    #: The host serves this stream.
    ACTIVE = "active"
    #: The host does not know the stream: the controller must ``initialize`` again.
    UNKNOWN = "unknown"


# --- relay -> host -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClientMessage:
    """A controller's JSON-RPC message for the host."""

    client_id: str
    stream_id: str | None
    seq_id: int | None
    message: str
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class ClientMessageChunk:
    """One piece of a controller message too large for one envelope (§4.4)."""

    client_id: str
    stream_id: str | None
    seq_id: int | None
    segment_id: int
    segment_count: int
    message_size_bytes: int
    message_chunk_base64: str
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class Ack:
    """The relay received the host's envelopes of a stream up to ``seq_id`` (and
    ``segment_id``, for chunks) (§4.5)."""

    client_id: str
    stream_id: str | None
    seq_id: int | None
    segment_id: int | None = None
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class Ping:
    """A controller liveness probe; the host answers :class:`Pong` (§4.3)."""

    client_id: str
    stream_id: str | None
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class ClientClosed:
    """The controller's connection ended; the host closes the stream (§4.3)."""

    client_id: str
    stream_id: str | None
    cursor: str | None = None


ClientEnvelope = ClientMessage | ClientMessageChunk | Ack | Ping | ClientClosed


# --- host -> relay -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServerMessage:
    """A JSON-RPC message from the host for one controller stream."""

    client_id: str
    stream_id: str
    seq_id: int
    message: str


@dataclass(frozen=True, slots=True)
class ServerMessageChunk:
    """One piece of a host message too large for one envelope; all pieces of a message
    share its ``seq_id`` (§4.4)."""

    client_id: str
    stream_id: str
    seq_id: int
    segment_id: int
    segment_count: int
    message_size_bytes: int
    message_chunk_base64: str


@dataclass(frozen=True, slots=True)
class Pong:
    """The host's answer to :class:`Ping`; it shares the stream's ``seq_id`` counter."""

    client_id: str
    stream_id: str
    seq_id: int
    status: PongStatus


ServerEnvelope = ServerMessage | ServerMessageChunk | Pong


# --- encoding ------------------------------------------------------------------------------

_str = json.JSONEncoder(ensure_ascii=False).encode


@functools.lru_cache(maxsize=limits.RC_ENCODED_IDS_CACHED)
def _quoted_id(value: str) -> str:
    """A client or stream id as a JSON string: the same few ids are in every envelope of a
    stream, and encoding them again for each streamed message was a third of its cost."""
    return _str(value)


def _tail(client_id: str, stream_id: str | None, seq_id: int | None, cursor: str | None) -> str:
    """The fields every envelope ends with, in the binary's order; ``None`` is omitted."""
    parts = [',"client_id":', _quoted_id(client_id)]
    if stream_id is not None:
        parts += [',"stream_id":', _quoted_id(stream_id)]
    if seq_id is not None:
        parts += [',"seq_id":', str(seq_id)]
    if cursor is not None:
        parts += [',"cursor":', _str(cursor)]
    parts.append("}")
    return "".join(parts)


def _chunk_head(kind: str, segment_id: int, segment_count: int, size: int, data: str) -> str:
    return (
        f'{{"type":"{kind}","segment_id":{segment_id},"segment_count":{segment_count},'
        f'"message_size_bytes":{size},"message_chunk_base64":{_str(data)}'
    )


def encode(envelope: ClientEnvelope | ServerEnvelope) -> str:
    """The envelope as one compact JSON text frame, fields in the binary's order: the
    ``type``, the event's own fields, then ``client_id``, ``stream_id``, ``seq_id``,
    ``cursor`` (spec/remote-control-observed.md §3 item 13)."""
    match envelope:
        case ServerMessage(client_id, stream_id, seq_id, message):
            head = '{"type":"server_message","message":' + message
            return head + _tail(client_id, stream_id, seq_id, None)
        case ServerMessageChunk(client_id, stream_id, seq_id, segment, count, size, data):
            head = _chunk_head("server_message_chunk", segment, count, size, data)
            return head + _tail(client_id, stream_id, seq_id, None)
        case Pong(client_id, stream_id, seq_id, status):
            head = f'{{"type":"pong","status":"{status.value}"'
            return head + _tail(client_id, stream_id, seq_id, None)
        case ClientMessage(client_id, stream_id, seq_id, message, cursor):
            head = '{"type":"client_message","message":' + message
            return head + _tail(client_id, stream_id, seq_id, cursor)
        case ClientMessageChunk(client_id, stream_id, seq_id, segment, count, size, data, cursor):
            head = _chunk_head("client_message_chunk", segment, count, size, data)
            return head + _tail(client_id, stream_id, seq_id, cursor)
        case Ack(client_id, stream_id, seq_id, segment_id, cursor):
            head = '{"type":"ack"' if segment_id is None else f'{{"type":"ack","segment_id":{segment_id}'
            return head + _tail(client_id, stream_id, seq_id, cursor)
        case Ping(client_id, stream_id, cursor):
            return '{"type":"ping"' + _tail(client_id, stream_id, None, cursor)
        case ClientClosed(client_id, stream_id, cursor):
            return '{"type":"client_closed"' + _tail(client_id, stream_id, None, cursor)
    raise TypeError(f"not an envelope: {type(envelope).__name__}")


_SERVER_MESSAGE_HEAD = b'{"type":"server_message","message":'


def server_message_affixes(client_id: str, stream_id: str) -> tuple[bytes, bytes]:
    """What surrounds a stream's messages on the wire: ``head + message + tail + seq_id +
    b"}"`` is :func:`encode` of its :class:`ServerMessage`, UTF-8 encoded. The host link
    keeps them per stream and builds each streamed envelope by concatenation alone."""
    tail = _tail(client_id, stream_id, 0, None)
    return _SERVER_MESSAGE_HEAD, tail[: -len("0}")].encode()


@functools.lru_cache(maxsize=limits.RC_ENCODED_IDS_CACHED)
def ack_head(client_id: str, stream_id: str) -> str:
    """A stream's ``ack`` up to its ``seq_id``: ``ack_head(c, s) + str(seq_id) + "}"`` is
    :func:`encode` of ``Ack(c, s, seq_id)`` (the relay acks the same few streams all the
    time: built once each)."""
    return '{"type":"ack"' + _tail(client_id, stream_id, 0, None)[: -len("0}")]


_CLIENT_MESSAGE_HEAD = '{"type":"client_message","message":'


def client_message_affixes(client_id: str, stream_id: str) -> tuple[str, str]:
    """What surrounds a stream's messages to the host: ``head + message + middle + seq_id +
    ',"cursor":' + the cursor as a JSON string + "}"`` is :func:`encode` of its
    :class:`ClientMessage` with that cursor. The relay keeps them per stream and builds each
    envelope by concatenation alone."""
    tail = _tail(client_id, stream_id, 0, None)
    return _CLIENT_MESSAGE_HEAD, tail[: -len("0}")]


def envelope_size(envelope: ClientEnvelope | ServerEnvelope) -> int:
    """Bytes of the envelope on the wire (its UTF-8 encoded :func:`encode`)."""
    return len(encode(envelope).encode("utf-8"))


# --- parsing -------------------------------------------------------------------------------

_compact = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _load(text: str | bytes) -> tuple[dict[str, Any], bool]:
    """The envelope object, and whether orjson read it (then its ``message`` is written
    back by orjson too)."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        fast = False
    else:
        fast = not jsonrpc.has_long_number(text)
    if not fast:
        try:
            value = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise EnvelopeError(f"not JSON: {type(exc).__name__}") from None
    if not isinstance(value, dict):
        raise EnvelopeError("not a JSON object")
    return value, fast


def _string(obj: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise EnvelopeError(f"missing `{key}`")
        return None
    if not isinstance(value, str):
        raise EnvelopeError(f"`{key}` is not a string")
    return value


def _count(obj: dict[str, Any], key: str, *, required: bool = False) -> int | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise EnvelopeError(f"missing `{key}`")
        return None
    if type(value) is not int or value < 0:
        raise EnvelopeError(f"`{key}` is not a non-negative integer")
    return value


def _message(obj: dict[str, Any], fast: bool) -> str:
    value = obj.get("message")
    if not isinstance(value, dict):
        raise EnvelopeError("`message` is not a JSON-RPC object")
    if fast:
        return orjson.dumps(value).decode()
    try:
        return _compact(value)
    except (ValueError, RecursionError) as exc:
        raise EnvelopeError(f"`message` cannot be encoded: {type(exc).__name__}") from None


def parse_client_envelope(text: str | bytes) -> ClientEnvelope:
    """One relay -> host frame (spec/remote-control.md §4.2).

    The frames of every message, a valid ``client_message`` or ``ack`` read by orjson, are
    checked and built inline; everything else (and anything invalid, for its error) by
    :func:`_client_envelope`, which builds the same envelope from the same frame (a unit
    test holds them equal): a third fewer Python calls per envelope."""
    obj, fast = _load(text)
    if fast:
        get = obj.get
        client_id = get("client_id")
        stream_id = get("stream_id")
        seq_id = get("seq_id")
        cursor = get("cursor")
        if (
            type(client_id) is str
            and (stream_id is None or type(stream_id) is str)
            and (seq_id is None or (type(seq_id) is int and seq_id >= 0))
            and (cursor is None or type(cursor) is str)
        ):
            kind = get("type")
            if kind == "client_message":
                message = get("message")
                if type(message) is dict:
                    return ClientMessage(client_id, stream_id, seq_id, orjson.dumps(message).decode(), cursor)
            elif kind == "ack":
                segment_id = get("segment_id")
                if segment_id is None or (type(segment_id) is int and segment_id >= 0):
                    return Ack(client_id, stream_id, seq_id, segment_id, cursor)
    return _client_envelope(obj, fast)


def _client_envelope(obj: dict[str, Any], fast: bool) -> ClientEnvelope:
    """:func:`parse_client_envelope` for any frame, field by field."""
    kind = obj.get("type")
    client_id = _string(obj, "client_id", required=True)
    assert client_id is not None
    stream_id = _string(obj, "stream_id")
    seq_id = _count(obj, "seq_id")
    cursor = _string(obj, "cursor")
    if kind == "client_message":
        return ClientMessage(client_id, stream_id, seq_id, _message(obj, fast), cursor)
    if kind == "client_message_chunk":
        segment_id, count, size, data = _chunk_fields(obj)
        return ClientMessageChunk(
            client_id, stream_id, seq_id, segment_id, count, size, data, cursor
        )
    if kind == "ack":
        return Ack(client_id, stream_id, seq_id, _count(obj, "segment_id"), cursor)
    if kind == "ping":
        return Ping(client_id, stream_id, cursor)
    if kind == "client_closed":
        return ClientClosed(client_id, stream_id, cursor)
    raise EnvelopeError("unknown envelope type" if isinstance(kind, str) else "missing `type`")


def parse_server_envelope(text: str | bytes) -> ServerEnvelope:
    """One host -> relay frame (spec/remote-control.md §4.2).

    The frame of every streamed message, a valid ``server_message`` read by orjson, is
    checked and built inline; everything else (and anything invalid, for its error) by
    :func:`_server_envelope`, which builds the same envelope from the same frame (a unit
    test holds them equal)."""
    obj, fast = _load(text)
    if fast:
        get = obj.get
        client_id = get("client_id")
        stream_id = get("stream_id")
        seq_id = get("seq_id")
        message = get("message")
        if (
            type(client_id) is str
            and type(stream_id) is str
            and type(seq_id) is int
            and seq_id >= 0
            and type(message) is dict
            and get("type") == "server_message"
        ):
            return ServerMessage(client_id, stream_id, seq_id, orjson.dumps(message).decode())
    return _server_envelope(obj, fast)


_SPLIT_HEAD = '{"type":"server_message","message":{'
_SPLIT_MESSAGE_AT = len(_SPLIT_HEAD) - 1
_SPLIT_IDS = ',"client_id":"'
_SPLIT_STREAM = '","stream_id":"'
_SPLIT_SEQ = ',"seq_id":'
#: Longest ``seq_id`` read here (18 digits: below 2**63); longer ones are parsed in full.
_SPLIT_SEQ_DIGITS = 18


def split_server_message(text: str) -> tuple[str, str, int, str] | None:
    """``(client_id, stream_id, seq_id, message)`` of a ``server_message`` written in exactly
    the shape :func:`encode` (and so our host) writes it, found by slicing: ``message``
    is the host's JSON-RPC text as it is on the wire, not written again.

    The shape is checked whole: the frame is ``{"type":"server_message","message":`` + a
    JSON object + ``,"client_id":"C","stream_id":"S","seq_id":N}``, where C and S are
    JSON strings without escapes or control characters and N a non-negative integer of at
    most 18 digits without leading zeros; the object is validated by orjson. Such a frame
    is a JSON object with exactly those five members, each of the right type, none twice.
    ``None`` for anything else — another key order (the codex host's), other fields,
    whitespace between members, a message orjson refuses (NaN, a lone surrogate escape,
    deep nesting): :func:`parse_server_envelope` decides those, as it always did.

    The message is never changed, so big integers and floats keep their text exactly (the
    full parse keeps their values but writes the message compactly again)."""
    if not text.startswith(_SPLIT_HEAD) or text[-1:] != "}":
        return None
    ids_at = text.rfind(_SPLIT_IDS)
    seq_at = text.rfind(_SPLIT_SEQ)
    if ids_at <= _SPLIT_MESSAGE_AT or seq_at < ids_at:
        return None
    ids = _split_ids(text[ids_at:seq_at])
    digits = text[seq_at + len(_SPLIT_SEQ):-1]
    if (
        ids is None
        or not 0 < len(digits) <= _SPLIT_SEQ_DIGITS
        or not (digits.isascii() and digits.isdigit())
        or (digits[0] == "0" and len(digits) > 1)
        or text[ids_at - 1] != "}"
    ):
        return None
    message = text[_SPLIT_MESSAGE_AT:ids_at]
    try:
        orjson.loads(message)
    except orjson.JSONDecodeError:
        return None
    return ids[0], ids[1], int(digits), message


#: A JSON string without escapes or control characters (what our relay writes ids and
#: cursors as), and a non-negative integer of at most 18 digits without leading zeros.
_PLAIN = r'"([^"\\\x00-\x1f]*)"'
_NUMBER = r"(0|[1-9][0-9]{0,17})"
_CLIENT_HEAD = '{"type":"client_message","message":{'
_CLIENT_MESSAGE_AT = len(_CLIENT_HEAD) - 1
_CLIENT_TAIL = re.compile(
    rf',"client_id":{_PLAIN},"stream_id":{_PLAIN},"seq_id":{_NUMBER}(?:,"cursor":{_PLAIN})?}}'
)
_ACK = re.compile(
    rf'{{"type":"ack"(?:,"segment_id":{_NUMBER})?,"client_id":{_PLAIN},"stream_id":{_PLAIN},'
    rf'"seq_id":{_NUMBER}(?:,"cursor":{_PLAIN})?}}'
)


def split_client_message(text: str) -> tuple[str, str, int, str, str | None] | None:
    """``(client_id, stream_id, seq_id, message, cursor)`` of a ``client_message`` written
    in exactly the shape :func:`encode` (and so our relay) writes it, found by slicing:
    ``message`` is the controller's JSON-RPC text as it is on the wire, not written again.

    The shape is checked whole, as :func:`split_server_message` does: ``{"type":
    "client_message","message":`` + a JSON object (validated by orjson) + ``,"client_id":
    "C","stream_id":"S","seq_id":N`` + an optional ``,"cursor":"X"`` + ``}``, the strings
    plain (no escapes, no control characters), N as :func:`split_server_message` reads it.
    ``None`` for anything else: :func:`parse_client_envelope` decides those."""
    if not text.startswith(_CLIENT_HEAD):
        return None
    ids_at = text.rfind(',"client_id":"')
    if ids_at <= _CLIENT_MESSAGE_AT or text[ids_at - 1] != "}":
        return None
    tail = _CLIENT_TAIL.fullmatch(text, ids_at)
    if tail is None:
        return None
    message = text[_CLIENT_MESSAGE_AT:ids_at]
    try:
        orjson.loads(message)
    except orjson.JSONDecodeError:
        return None
    client_id, stream_id, seq_id, cursor = tail.groups()
    return client_id, stream_id, int(seq_id), message, cursor


def split_ack(text: str) -> tuple[str, str, int, int | None, str | None] | None:
    """``(client_id, stream_id, seq_id, segment_id, cursor)`` of an ``ack`` written in
    exactly the shape :func:`encode` writes it (strings plain, numbers as
    :func:`split_client_message` reads them); ``None`` for anything else
    (:func:`parse_client_envelope` decides those)."""
    match = _ACK.fullmatch(text)
    if match is None:
        return None
    segment_id, client_id, stream_id, seq_id, cursor = match.groups()
    return client_id, stream_id, int(seq_id), None if segment_id is None else int(segment_id), cursor


def server_message_ending(client_id: str, stream_id: str, seq_id: int) -> str:
    """How :func:`encode` ends a stream's ``server_message`` (``,"client_id":"C",
    "stream_id":"S","seq_id":N}``), for ids :func:`split_server_message` read (plain
    JSON strings: written as they are)."""
    return f',"client_id":"{client_id}","stream_id":"{stream_id}","seq_id":{seq_id}}}'


def split_server_message_ending(text: str, tail: str) -> str | None:
    """The message of a ``server_message`` frame that ends with ``tail``, exactly as
    :func:`split_server_message` would return it, ``None`` otherwise (then
    :func:`split_server_message` decides). ``tail`` is the end :func:`encode` writes for a
    stream's message with plain ids (:func:`server_message_ending`): a reader that expects a
    stream's next message checks the frame against it, instead of reading the ids and
    the number again."""
    if not (text.endswith(tail) and text.startswith(_SPLIT_HEAD)):
        return None
    end = len(text) - len(tail)
    if text[end - 1] != "}" or end - 1 <= _SPLIT_MESSAGE_AT:
        return None
    message = text[_SPLIT_MESSAGE_AT:end]
    try:
        orjson.loads(message)
    except orjson.JSONDecodeError:
        return None
    return message


@functools.lru_cache(maxsize=limits.RC_SPLIT_TAILS_CACHED)
def _split_ids(tail: str) -> tuple[str, str] | None:
    """``,"client_id":"C","stream_id":"S"`` -> ``(C, S)`` when both are plain JSON strings
    (no quote, backslash or unprintable character: no escapes to decode). The same few
    tails start every envelope's end of a stream: read once each."""
    if not tail.endswith('"'):
        return None
    client_id, found, stream_id = tail[len(_SPLIT_IDS):-1].partition(_SPLIT_STREAM)
    if not found or not (_plain(client_id) and _plain(stream_id)):
        return None
    return client_id, stream_id


def _plain(value: str) -> bool:
    return '"' not in value and "\\" not in value and value.isprintable()


def _server_envelope(obj: dict[str, Any], fast: bool) -> ServerEnvelope:
    """:func:`parse_server_envelope` for any frame, field by field."""
    kind = obj.get("type")
    client_id = _string(obj, "client_id", required=True)
    stream_id = _string(obj, "stream_id", required=True)
    seq_id = _count(obj, "seq_id", required=True)
    assert client_id is not None and stream_id is not None and seq_id is not None
    if kind == "server_message":
        return ServerMessage(client_id, stream_id, seq_id, _message(obj, fast))
    if kind == "server_message_chunk":
        segment_id, count, size, data = _chunk_fields(obj)
        return ServerMessageChunk(client_id, stream_id, seq_id, segment_id, count, size, data)
    if kind == "pong":
        try:
            status = PongStatus(obj.get("status"))
        except ValueError:
            raise EnvelopeError("`status` is not `active` or `unknown`") from None
        return Pong(client_id, stream_id, seq_id, status)
    raise EnvelopeError("unknown envelope type" if isinstance(kind, str) else "missing `type`")


def _chunk_fields(obj: dict[str, Any]) -> tuple[int, int, int, str]:
    segment_id = _count(obj, "segment_id", required=True)
    count = _count(obj, "segment_count", required=True)
    size = _count(obj, "message_size_bytes", required=True)
    data = _string(obj, "message_chunk_base64", required=True)
    assert segment_id is not None and count is not None and size is not None and data is not None
    return segment_id, count, size, data
