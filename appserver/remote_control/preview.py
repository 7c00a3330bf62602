"""Texts inside remote-control error messages: body previews, headers, decode errors,
``Retry-After``. Sans-I/O.

spec/remote-control.md §3.1 and remote-control-observed.md §3.11 (the binary wins): a JSON
body is re-serialized compactly, key order kept, with the values of
``remote_control_token``, ``pairing_code`` and ``manual_pairing_code`` replaced by
``"<redacted>"`` wherever they appear; any body is trimmed and cut at 4096 bytes (then
``...``); an empty body is ``<empty>``. Decode errors are worded like serde_json's, with
line and column in the raw body.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any

from appserver import limits, strings
from appserver.serde_wording import unexpected

REDACTED_KEYS = frozenset({"remote_control_token", "pairing_code", "manual_pairing_code"})
REDACTED = "<redacted>"
_compact = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: (REDACTED if k in REDACTED_KEYS else _redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return value


def body_preview(body: bytes) -> str:
    """The redacted, bounded preview of a response body for an error message."""
    text = body.decode("utf-8", errors="replace")
    try:
        text = _compact.encode(_redact(json.loads(text)))
    except ValueError:
        pass
    text = text.strip()
    if not text:
        return "<empty>"
    raw = text.encode()
    if len(raw) <= limits.RC_BODY_PREVIEW_BYTES:
        return text
    return raw[: limits.RC_BODY_PREVIEW_BYTES].decode("utf-8", errors="ignore") + "..."


def status_text(status: int) -> str:
    """``500 Internal Server Error``, as Rust's ``StatusCode`` displays itself."""
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} <unknown status code>"


def format_headers(headers: Mapping[str, str]) -> str:
    """``request-id: …, cf-ray: …`` (``x-request-id``, else ``x-oai-request-id``)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    request_id = lowered.get("x-request-id") or lowered.get("x-oai-request-id") or "<none>"
    return strings.RC_HTTP_HEADERS.format(
        request_id=request_id, cf_ray=lowered.get("cf-ray") or "<none>"
    )


def retry_at(headers: Mapping[str, str], received_at: datetime) -> datetime | None:
    """``Retry-After`` (delta seconds or an HTTP date) as an absolute time, only if future."""
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value is None:
        return None
    value = value.strip()
    when: datetime | None
    if value.isdigit():
        when = received_at + timedelta(seconds=int(value))
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
    return when if when > received_at else None


def _position(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1)
    return line, column


def _end_position(text: str) -> tuple[int, int]:
    stripped = text.rstrip()
    return _position(stripped, len(stripped))


class DecodeError(ValueError):
    """A response body that is not the expected JSON object; ``str`` is serde-like."""




_EXPECTED = {str: "a string", bool: "a boolean", int: "u32", list: "a sequence", dict: "a map"}


def decode_object(body: bytes, fields: Mapping[str, tuple[type, bool]]) -> dict[str, Any]:
    """Parse ``body`` as a JSON object with ``fields`` (name -> (type, required)).

    Optional fields may be absent or null. Raises :class:`DecodeError` worded like serde.
    """
    text = body.decode("utf-8", errors="replace")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        detail = "expected value" if exc.msg == "Expecting value" else exc.msg[:1].lower() + exc.msg[1:]
        if exc.pos >= len(text.rstrip()):
            detail = "EOF while parsing a value"
        raise DecodeError(f"{detail} at line {exc.lineno} column {exc.colno}") from None
    line, column = _end_position(text)
    where = f"at line {line} column {column}"
    if not isinstance(value, dict):
        raise DecodeError(f"invalid type: {unexpected(value)}, expected a map {where}")
    for name, (kind, required) in fields.items():
        if name not in value or (value[name] is None and not required):
            if required:
                raise DecodeError(f"missing field `{name}` {where}")
            continue
        item = value[name]
        ok = isinstance(item, kind) and not (kind is int and isinstance(item, bool))
        if kind is int and ok and item < 0:
            ok = False
        if not ok:
            raise DecodeError(
                f"invalid type: {unexpected(item)}, expected {_EXPECTED.get(kind, 'a value')} {where}"
            )
    return value


def parse_rfc3339(value: str) -> datetime:
    """An RFC 3339 timestamp (``Z`` or an offset required); raises ValueError."""
    text = value.strip()
    _, sep, clock = text.upper().partition("T")
    if not sep or not (clock.endswith("Z") or "+" in clock or "-" in clock):
        raise ValueError("the input contained a character that is not allowed")
    parsed = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00").replace("t", "T"))
    if parsed.tzinfo is None:
        raise ValueError("missing offset")
    return parsed
