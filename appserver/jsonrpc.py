"""JSON-RPC "lite" as codex speaks it: parsing, encoding, error codes. Sans-I/O.

spec/transport.md §9.1: outgoing messages never contain ``"jsonrpc"``; incoming messages may
and it is ignored. A message is one of, tried in this order:

========================  ===========================================================
Request                   ``{"id": int|string, "method": str, "params"?: any}``
Notification              ``{"method": str, "params"?: any}``
Response                  ``{"id": ..., "result": any}``
Error                     ``{"id": ..., "error": {"code": int, "message": str, ...}}``
========================  ===========================================================

Ids are integers or strings and are echoed back with the same type. One message per line
or frame: batches (JSON arrays) are not supported and, like malformed JSON, are reported
as :class:`ParseError` so the caller can log and ignore them (upstream sends no -32700).

What codex 0.169.0's parser (serde_json) refuses, :func:`parse` refuses too, so that no
message reaches a backend that codex would have dropped (observed with the pinned binary;
each is logged and ignored, no answer): a lone UTF-16 surrogate escape (``"\\ud800"``),
``NaN``/``Infinity``, more than ``limits.JSON_MAX_NESTING`` nested arrays/objects. An
``id`` that is neither a string nor an integer in the signed 64-bit range makes codex read
a request as a notification (never answered), and so does :func:`classify`.

A parsed :class:`Message` keeps the text it came from, so a gateway forwards exactly the
bytes it received without re-serialising them.

Speed: every message is parsed once, so :func:`parse` and :func:`encode` use orjson (C)
for the common case. Where orjson refuses text the stdlib reads (NaN, ``1e400``, lone
surrogate escapes, nesting past orjson's own limit) the stdlib path decides, with the rules
above, exactly as without orjson; where orjson would read a number differently (integers
beyond 64 bits become floats in orjson) the stdlib reads it. :func:`encode` falls back to
the stdlib for what orjson refuses (integers beyond 64 bits, non-string keys) and for text
with a ``null`` in it (orjson writes NaN and infinities as null; the stdlib refuses them).
"""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass
from typing import Any

import orjson

from appserver import limits

# spec/transport.md §9.2
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
OVERLOADED = -32001

RequestId = int | str

_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _reject_constant(name: str) -> Any:
    # serde_json has no NaN/Infinity literals: "invalid number" (observed with codex 0.169.0).
    raise ParseError(f"invalid number: {name}")


_decode = json.JSONDecoder(parse_constant=_reject_constant).decode
_fast_decode = orjson.loads
_FastDecodeError = orjson.JSONDecodeError
_fast_encode = orjson.dumps

#: Digits to ``0``, everything else to a space: 19 ``0`` in a row after this translation
#: is maybe an integer orjson reads as a float (beyond u64, below i64). A byte translation
#: and a substring search cost a fraction of a regex scan, which backtracks over every run
#: of digits (ids, UUIDs, timestamps): 0.5-0.8 us against 1-4 us per message.
_DIGITS = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))
_LONG_NUMBER = b"0" * 19


def has_long_number(text: str | bytes) -> bool:
    """Might ``text`` hold an integer of 19 or more digits (which orjson reads differently
    from the stdlib)? ``False`` means orjson's reading is the stdlib's."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    # find, not ``in``: ``bytes in bytes`` first tries the needle as an integer and
    # raises and clears a TypeError each time.
    return data.translate(_DIGITS).find(_LONG_NUMBER) != -1

#: How serde_json starts codex's answers: ``{"id":``, no space (a notification starts
#: with ``{"method":``).
ANSWER_START = b'{"id":'


def result_answer_id(data: bytes, start: int, end: int) -> int | None:
    """The id of the answer in ``data[start:end]``, when it is valid JSON starting the way
    codex starts an answer (``{"id":``) that :func:`parse` reads as a RESPONSE with an
    integer id: the answer to a request, and never an overload error to retry. ``None``
    means: parse it."""
    if not data.startswith(ANSWER_START, start, end):
        return None
    try:
        obj = _fast_decode(memoryview(data)[start:end])  # checks UTF-8 and JSON
    except _FastDecodeError:
        return None
    # What classify() calls a RESPONSE (orjson and the stdlib both keep the last of
    # duplicate keys; an integer too long for orjson is not an int here).
    if type(obj) is not dict or "method" in obj or "result" not in obj:
        return None
    request_id = obj["id"]
    if type(request_id) is not int or not _ID_MIN <= request_id <= _ID_MAX:
        return None
    return request_id


#: How serde_json starts codex's notifications: ``{"method":"`` (its requests start with
#: ``{"id":``).
_NOTIFICATION_START = b'{"method":"'
_NAME_AT = len(_NOTIFICATION_START)


def notification_method_at(data: bytes, start: int, end: int) -> str | None:
    """The ``method`` that ``data[start:end]`` starts with when it starts the way codex
    starts a notification (``{"method":"``), read from the bytes without parsing; ``None``
    means: not that shape. Only :func:`is_notification_of` says whether it is a
    notification of that method at all (a name with escapes, or not UTF-8, reads as
    another name here and fails that check)."""
    if not data.startswith(_NOTIFICATION_START, start, end):
        return None
    name_start = start + _NAME_AT
    name_end = data.find(b'"', name_start, end)
    if name_end == -1:
        return None
    return data[name_start:name_end].decode("latin-1")  # never fails; see above


def is_notification_of(method: str, data: bytes, start: int, end: int) -> bool:
    """Is ``data[start:end]`` valid JSON that :func:`parse` reads as a NOTIFICATION of
    ``method`` (an object, no ``id``, that ``method``)? ``False`` means: parse it."""
    try:
        obj = _fast_decode(memoryview(data)[start:end])  # checks UTF-8 and JSON
    except _FastDecodeError:
        return False
    # orjson and the stdlib both keep the last of duplicate keys; numbers do not matter.
    return type(obj) is dict and "id" not in obj and obj.get("method") == method


#: A ``\uD800``-``\uDFFF`` escape; only then can a decoded string hold a lone surrogate.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")

#: Request ids codex accepts: strings, and integers that fit an i64.
_ID_MIN = -(2**63)
_ID_MAX = 2**63 - 1


def _readable_id(value: object) -> bool:
    """An id codex reads: a string, or an integer that fits an i64 (never a bool)."""
    return type(value) is str or (type(value) is int and _ID_MIN <= value <= _ID_MAX)  # type: ignore[operator]


class MessageKind(enum.Enum):
    REQUEST = "request"
    NOTIFICATION = "notification"
    RESPONSE = "response"
    ERROR = "error"


# Bound to module names: an enum class's ``__getattr__`` (Python 3.11) makes each
# ``MessageKind.REQUEST`` cost about ten times a global on the per-message path.
_REQUEST = MessageKind.REQUEST
_NOTIFICATION = MessageKind.NOTIFICATION
_RESPONSE = MessageKind.RESPONSE
_ERROR = MessageKind.ERROR


class ParseError(ValueError):
    """The text is not one JSON-RPC-lite message. The message says why, for the log."""


@dataclass(slots=True)
class Message:
    """One JSON-RPC-lite message: its kind, its parsed payload and its wire text, and the
    payload's ``id`` and ``method`` (``None`` when absent), read once when it is built.

    Never changed once built (treat it as frozen). It is not declared ``frozen``: a frozen
    dataclass's ``__init__`` sets each field through ``object.__setattr__``, which made
    building one cost 0.55 µs instead of 0.19 µs, once per message on the hot path. ``id``
    and ``method`` are fields, not properties, for the same reason: they are read several
    times per message.
    """

    kind: MessageKind
    payload: dict[str, Any]
    text: str
    id: RequestId | None
    method: str | None

    @property
    def params(self) -> Any:
        return self.payload.get("params")

    @property
    def is_answer(self) -> bool:
        """A response or an error: the answer to an earlier request."""
        return self.kind is _RESPONSE or self.kind is _ERROR

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Message:
        """Build a message we emit ourselves; encodes it once."""
        return cls(
            classify(payload), payload, encode(payload), payload.get("id"), payload.get("method")
        )

    @classmethod
    def notification_of(cls, payload: dict[str, Any]) -> Message:
        """:meth:`from_payload` for a notification we build (a ``method``, no ``id``):
        streamed deltas are built by the thousand, and their kind is known."""
        assert "id" not in payload and isinstance(payload.get("method"), str)
        return cls(_NOTIFICATION, payload, encode(payload), None, payload["method"])

    def __repr__(self) -> str:
        detail = self.method if self.method is not None else ""
        if "id" in self.payload:
            detail = f"{detail} id={self.id!r}".strip()
        return f"<Message {self.kind.value} {detail}>"


def classify(obj: dict[str, Any]) -> MessageKind:
    """Which kind of message ``obj`` is, in upstream's order; raises :class:`ParseError`."""
    method = obj.get("method")
    has_id = "id" in obj
    if has_id:
        # Strings, and integers that fit an i64 (bool is an int subclass in Python but
        # never a JSON-RPC id): _readable_id's rule, inline (every message comes here).
        request_id = obj["id"]
        valid_id = isinstance(request_id, str) or (
            type(request_id) is int and _ID_MIN <= request_id <= _ID_MAX
        )
    if method is not None:
        if not isinstance(method, str):
            raise ParseError("`method` must be a string")
        if has_id and valid_id:
            return _REQUEST
        # No id, or one codex cannot read (1.5, 2**64, null, true): codex's untagged
        # message enum falls through to a notification, which nobody answers.
        return _NOTIFICATION
    if has_id:
        if not valid_id:
            raise ParseError("`id` must be an integer or a string")
        if "result" in obj:
            return _RESPONSE
        error = obj.get("error")
        if isinstance(error, dict) and isinstance(error.get("code"), int) and isinstance(
            error.get("message"), str
        ):
            return _ERROR
    raise ParseError("not a request, notification, response or error")


def parse(text: str | bytes, *, strict: bool = True) -> Message:
    """Parse one line or frame. Raises :class:`ParseError` for anything that is not one
    JSON-RPC-lite message (malformed JSON, a batch, a bare value, bad ``id`` types).

    ``strict=False`` is for text codex itself wrote: it skips the nesting walk and the
    surrogate scan (serde_json never writes a lone surrogate, and a large answer has
    thousands of brackets: walking them would cost more than parsing).

    A ``jsonrpc`` member is accepted and ignored (§9.1): forwarded text keeps it, and
    upstream ignores it too."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ParseError(f"invalid UTF-8: {exc}") from None
    # orjson where it reads the text exactly as the stdlib would; the stdlib otherwise
    # (which decides about malformed text, and says why in its own words).
    try:
        obj = _fast_decode(text)
    except _FastDecodeError:
        obj = _stdlib_load(text)
    else:
        if has_long_number(text):
            obj = _stdlib_load(text)
    if type(obj) is not dict:
        if isinstance(obj, list):
            raise ParseError("batches are not supported")
        raise ParseError(f"expected a JSON object, got {type(obj).__name__}")
    if strict:
        # Not enough brackets to nest too deep, no escape that could be a surrogate:
        # the common case costs two counts and a substring search.
        if text.count("[") + text.count("{") > limits.JSON_MAX_NESTING and _too_deep(obj):
            raise ParseError("recursion limit exceeded")
        if (
            "\\u" in text
            and _SURROGATE_ESCAPE.search(text) is not None
            and _has_lone_surrogate(obj)
        ):
            raise ParseError("lone UTF-16 surrogate in a string escape")
    return Message(classify(obj), obj, text, obj.get("id"), obj.get("method"))


def _stdlib_load(text: str) -> Any:
    """The text as the stdlib reads it (what codex accepts, NaN refused); ParseError."""
    try:
        return _decode(text)
    except ValueError as exc:
        raise ParseError(f"invalid JSON: {exc}") from None
    except RecursionError:
        raise ParseError("recursion limit exceeded") from None


def _containers(value: Any) -> Any:
    return value.values() if isinstance(value, dict) else value


def _too_deep(obj: dict[str, Any]) -> bool:
    """More than ``limits.JSON_MAX_NESTING`` arrays/objects inside each other?"""
    limit = limits.JSON_MAX_NESTING
    stack: list[tuple[Any, int]] = [(obj, 1)]
    while stack:
        value, depth = stack.pop()
        for child in _containers(value):
            if isinstance(child, (dict, list)):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def _has_lone_surrogate(obj: Any) -> bool:
    """Does any string (key or value) hold a code point UTF-8 cannot encode?"""
    stack = [obj]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            for key, child in value.items():
                if not key.isascii():
                    try:
                        key.encode("utf-8")
                    except UnicodeEncodeError:
                        return True
                stack.append(child)
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, str) and not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return True
    return False


def encode(payload: dict[str, Any]) -> str:
    """Compact JSON, UTF-8 as is, no ``"jsonrpc"`` member added."""
    try:
        data = _fast_encode(payload)
    except TypeError:  # orjson.JSONEncodeError: an int beyond 64 bits, a non-str key, ...
        return _encoder.encode(payload)
    if b"null" in data:
        # orjson writes NaN and infinities as null where the stdlib refuses them (a
        # ValueError the callers handle: e.g. a built-in turn fails); only text with a
        # null in it can hide one, so only that is encoded again by the stdlib.
        return _encoder.encode(payload)
    return data.decode()


# --- constructors for the messages we emit --------------------------------------------------


def response(request_id: RequestId, result: Any) -> dict[str, Any]:
    return {"id": request_id, "result": result}


def error(request_id: RequestId, code: int, message: str, data: Any = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        err["data"] = data
    return {"id": request_id, "error": err}


def notification(method: str, params: Any = None) -> dict[str, Any]:
    msg: dict[str, Any] = {"method": method}
    if params is not None:
        msg["params"] = params
    return msg


def request(request_id: RequestId, method: str, params: Any = None) -> dict[str, Any]:
    msg: dict[str, Any] = {"id": request_id, "method": method}
    if params is not None:
        msg["params"] = params
    return msg


# --- a request's and an answer's id, read without building a message (the relay) --------


def request_id_of(text: str) -> RequestId | None:
    """The id of a request frame in the common shape: a JSON object read by orjson, no
    deeper than the nesting limit could be, with a string ``method`` and an id
    :func:`parse` accepts (a string, an integer that fits an i64). Then
    ``parse(text)`` is a REQUEST with this id (orjson reads such an object as the
    stdlib does: an id too long for it is no int here). ``None`` for anything else: parse
    it in full."""
    if text.count("{") + text.count("[") > limits.JSON_MAX_NESTING:
        return None
    try:
        obj = _fast_decode(text)  # (a lone surrogate escape is refused here)
    except _FastDecodeError:
        return None
    if type(obj) is not dict or type(obj.get("method")) is not str:
        return None
    request_id = obj.get("id")
    return request_id if _readable_id(request_id) else None


def answer_id_of(text: str) -> RequestId | None:
    """The id of an answer (a response or an error) from the host, as
    ``parse(text, strict=False)`` reads it; ``None`` for anything else. A response
    in the common shape (a JSON object read by orjson, with ``result``, no ``method``, an
    id that fits) costs one orjson read; anything else is parsed in full."""
    try:
        obj = _fast_decode(text)
    except _FastDecodeError:
        obj = None
    if type(obj) is dict and "method" not in obj and "result" in obj:
        request_id = obj.get("id")
        if _readable_id(request_id):
            return request_id
    try:
        message = parse(text, strict=False)
    except ParseError:
        return None
    return message.id if message.is_answer else None
