"""Error texts: body previews with secrets redacted, headers, serde-like decode errors."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from appserver.remote_control import preview
from appserver.remote_control.enrollment import Enrollment, RefreshRequirement

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)


def test_json_preview_is_compact_in_key_order_with_secrets_redacted() -> None:
    body = b'{ "server_id": "x", "remote_control_token": "tok-secret",\n "nested": {"pairing_code": "p", "manual_pairing_code": "m"} }'
    assert preview.body_preview(body) == (
        '{"server_id":"x","remote_control_token":"<redacted>","nested":'
        '{"pairing_code":"<redacted>","manual_pairing_code":"<redacted>"}}'
    )


def test_preview_empty_and_long_bodies() -> None:
    assert preview.body_preview(b"  \n") == "<empty>"
    long = b"x" * 5000
    assert preview.body_preview(long) == "x" * 4096 + "..."


def test_status_and_headers_like_upstream() -> None:
    assert preview.status_text(500) == "500 Internal Server Error"
    assert preview.status_text(404) == "404 Not Found"
    assert preview.format_headers({"X-Request-Id": "req-123"}) == "request-id: req-123, cf-ray: <none>"
    assert preview.format_headers({"x-oai-request-id": "o", "cf-ray": "r"}) == "request-id: o, cf-ray: r"
    assert preview.format_headers({}) == "request-id: <none>, cf-ray: <none>"


def test_missing_field_is_reported_at_the_end_of_the_raw_body() -> None:
    raw = b'{"server_id":"x","remote_control_token":"tok-abc-1234567890"}'
    with pytest.raises(preview.DecodeError) as err:
        preview.decode_object(raw, {"server_id": (str, True), "environment_id": (str, True)})
    assert str(err.value) == f"missing field `environment_id` at line 1 column {len(raw)}"


def test_wrong_type_and_bad_json() -> None:
    with pytest.raises(preview.DecodeError) as err:
        preview.decode_object(b'{"claimed":"yes"}', {"claimed": (bool, True)})
    assert str(err.value).startswith('invalid type: string "yes", expected a boolean')
    with pytest.raises(preview.DecodeError) as err:
        preview.decode_object(b"<html>", {"claimed": (bool, True)})
    assert str(err.value) == "expected value at line 1 column 1"


def test_retry_after_delta_date_and_past() -> None:
    assert preview.retry_at({"Retry-After": "120"}, NOW) == NOW + timedelta(seconds=120)
    assert preview.retry_at({"retry-after": "Mon, 30 Nov 2026 12:05:00 GMT"}, NOW) == NOW + timedelta(minutes=5)
    assert preview.retry_at({"retry-after": "Mon, 30 Nov 2026 11:05:00 GMT"}, NOW) is None
    assert preview.retry_at({"retry-after": "soon"}, NOW) is None
    assert preview.retry_at({}, NOW) is None


def test_rfc3339() -> None:
    assert preview.parse_rfc3339("2026-11-30T10:36:12Z").timestamp() == 1796034972
    with pytest.raises(ValueError):
        preview.parse_rfc3339("2026-11-30 10:36")


def _enrollment(token: str | None, left: float | None, deferred: float | None = None) -> Enrollment:
    e = Enrollment("a", "srv", "env", "vm")
    if token is not None and left is not None:
        e.set_token(token, NOW + timedelta(seconds=left))
    if deferred is not None:
        e.next_refresh_at = NOW + timedelta(seconds=deferred)
    return e


@pytest.mark.parametrize(
    ("enrollment", "expected"),
    [
        (_enrollment("t", 300), RefreshRequirement.PROACTIVE),
        (_enrollment("t", 301), RefreshRequirement.NOT_NEEDED),
        (_enrollment("t", 100, deferred=30), RefreshRequirement.NOT_NEEDED),
        (_enrollment("t", 100, deferred=-1), RefreshRequirement.PROACTIVE),
        (_enrollment(None, None), RefreshRequirement.REQUIRED),
        (_enrollment("t", 0), RefreshRequirement.REQUIRED),
        (_enrollment("t", -5), RefreshRequirement.REQUIRED),
    ],
)
def test_refresh_requirement(enrollment: Enrollment, expected: RefreshRequirement) -> None:
    assert enrollment.refresh_requirement(NOW) is expected


def test_deferral_uses_retry_after_or_24_to_36_seconds() -> None:
    e = _enrollment("t", 100)
    assert e.defer_refresh(NOW + timedelta(seconds=120), NOW) == NOW + timedelta(seconds=120)
    for _ in range(20):
        delay = (e.defer_refresh(None, NOW) - NOW).total_seconds()
        assert 24 <= delay <= 36
