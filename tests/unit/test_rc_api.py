"""The HTTP client's bodies, headers and error texts, against httpx's mock transport."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest

from appserver.remote_control.api import ClientHeaders, RelayApi
from appserver.remote_control.credentials import Credential
from appserver.remote_control.enrollment import Enrollment
from appserver.remote_control.errors import ErrorKind, RemoteControlError
from appserver.remote_control.urls import normalize

pytestmark = pytest.mark.anyio
BASE = "http://127.0.0.1:9/backend-api/"
ENROLL_URL = BASE + "wham/remote/control/server/enroll"
CRED = Credential("acct-token", "acct_1")


def api(handler: Any) -> tuple[RelayApi, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    return RelayApi(normalize(BASE), "inst-1", lambda: ClientHeaders("desk", "desk/0.169.0"),
                    transport=httpx.MockTransport(record)), seen


async def test_enroll_body_and_headers() -> None:
    relay, seen = api(lambda r: httpx.Response(200, json={
        "server_id": "srv_e_1", "environment_id": "env_1", "remote_control_token": "t", "expires_at": "2026-11-30T11:26:12Z"}))
    result = await relay.enroll(CRED, "vm")
    assert (result.server_id, result.environment_id, result.token) == ("srv_e_1", "env_1", "t")
    assert result.expires_at == datetime(2026, 11, 30, 11, 26, 12, tzinfo=timezone.utc)
    [request] = seen
    assert request.content.startswith(b'{"name":"vm","os":"linux","arch":')
    assert json.loads(request.content)["installation_id"] == "inst-1"
    assert json.loads(request.content)["app_server_version"] == "0.169.0"
    for name, value in [("authorization", "Bearer acct-token"), ("chatgpt-account-id", "acct_1"),
                        ("x-codex-installation-id", "inst-1"), ("content-type", "application/json"),
                        ("originator", "desk"), ("user-agent", "desk/0.169.0")]:
        assert request.headers[name] == value


async def test_enroll_failure_text_like_the_binary() -> None:
    relay, _ = api(lambda r: httpx.Response(500, json={"detail": "boom"}, headers={"x-request-id": "req-123"}))
    with pytest.raises(RemoteControlError) as err:
        await relay.enroll(CRED, "vm")
    assert err.value.message == (
        f"remote control server enrollment failed at `{ENROLL_URL}`: HTTP 500 Internal Server Error, "
        'request-id: req-123, cf-ray: <none>, body: {"detail":"boom"}')
    assert err.value.kind is ErrorKind.OTHER and err.value.transient


async def test_enroll_parse_failure_redacts_and_names_the_missing_field() -> None:
    body = b'{"server_id":"x","remote_control_token":"tok-abc-123456789"}'
    relay, _ = api(lambda r: httpx.Response(200, content=body))
    with pytest.raises(RemoteControlError) as err:
        await relay.enroll(CRED, "vm")
    assert err.value.message == (
        f"failed to parse remote control server enrollment response from `{ENROLL_URL}`: HTTP 200 OK, "
        'request-id: <none>, cf-ray: <none>, body: {"server_id":"x","remote_control_token":"<redacted>"}, '
        f"decode error: missing field `environment_id` at line 1 column {len(body)}")
    assert "tok-abc" not in err.value.message


@pytest.mark.parametrize(("status", "kind", "transient"), [
    (401, ErrorKind.PERMISSION_DENIED, False), (403, ErrorKind.PERMISSION_DENIED, False),
    (404, ErrorKind.NOT_FOUND, False), (429, ErrorKind.OTHER, True), (502, ErrorKind.OTHER, True),
    (400, ErrorKind.OTHER, False)])
async def test_refresh_error_classification(status: int, kind: ErrorKind, transient: bool) -> None:
    relay, _ = api(lambda r: httpx.Response(status, headers={"retry-after": "120"}))
    with pytest.raises(RemoteControlError) as err:
        await relay.refresh(CRED, "srv")
    assert (err.value.kind, err.value.transient, err.value.status) == (kind, transient, status)
    assert err.value.retry_at is not None


async def test_timeout_is_timed_out_and_transient() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    relay, _ = api(slow)
    with pytest.raises(RemoteControlError) as err:
        await relay.refresh(CRED, "srv")
    assert err.value.kind is ErrorKind.TIMED_OUT and err.value.transient


async def test_pair_uses_the_host_token_and_rejects_another_enrollment() -> None:
    relay, seen = api(lambda r: httpx.Response(200, json={
        "pairing_code": "p", "manual_pairing_code": None, "server_id": "srv_other", "environment_id": "env_1",
        "expires_at": "2026-11-30T10:36:12Z"}))
    with pytest.raises(RemoteControlError) as err:
        await relay.pair("host-token", Enrollment("acct_1", "srv_1", "env_1", "vm"), False)
    assert err.value.message == (
        "remote control pairing returned mismatched enrollment: expected server_id=srv_1, "
        "environment_id=env_1; got server_id=srv_other, environment_id=env_1")
    assert seen[0].headers["authorization"] == "Bearer host-token"
    assert "chatgpt-account-id" not in seen[0].headers and seen[0].content == b'{"manual_code":false}'


async def test_pair_status_404_and_410_are_invalid_input() -> None:
    for status in (404, 410):
        relay, seen = api(lambda r, s=status: httpx.Response(s, json={"detail": "gone"}))
        with pytest.raises(RemoteControlError) as err:
            await relay.pair_status("t", manual_pairing_code="ABCD")
        assert err.value.kind is ErrorKind.INVALID_INPUT
        assert seen[0].content == b'{"manual_pairing_code":"ABCD"}'


async def test_client_list_query_and_bad_timestamp() -> None:
    relay, seen = api(lambda r: httpx.Response(200, json={"items": [{"client_id": "c", "last_seen_at": "yesterday"}]}))
    with pytest.raises(RemoteControlError) as err:
        await relay.list_clients(CRED, "env /?")
    assert err.value.kind is ErrorKind.INVALID_DATA
    assert err.value.message.startswith("failed to parse remote control client last_seen_at `yesterday`: ")
    assert str(seen[0].url).endswith("/environments/env%20%2F%3F/clients?")
