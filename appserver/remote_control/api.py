"""The host's HTTP calls to the relay, with httpx: enroll, refresh, pair, pair/status,
client list and revoke.

spec/remote-control.md §3 and §10; remote-control-observed.md §3.9–§3.11 (headers, query
strings, error texts). Bodies are compact JSON in codex's key order. Every call has a
30 s timeout; failures become :class:`RemoteControlError` with upstream's kind and text
(status line with reason phrase, request id, cf-ray, the redacted body preview). Tokens
are returned to the caller and never logged.

Header sets, as the 0.169.0 binary sends them:

=====================  ==================================================================
enroll, refresh        originator, user-agent, authorization (account credential),
                       chatgpt-account-id, x-codex-installation-id, content-type
pair, pair/status      authorization (host token), content-type, originator, user-agent
client list, revoke    originator, user-agent, authorization (account), chatgpt-account-id
=====================  ==================================================================
"""

from __future__ import annotations

import json
import platform
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

import httpx

from appserver import CODEX_PROTOCOL_VERSION, limits, strings
from appserver.remote_control import preview
from appserver.remote_control.credentials import Credential
from appserver.remote_control.enrollment import Enrollment
from appserver.remote_control.errors import ErrorKind, RemoteControlError, kind_for_status

#: The app-server protocol version we speak, sent as ``app_server_version`` on enroll: the
#: relay sees the same value as from the codex host we are interchangeable with.
APP_SERVER_VERSION = CODEX_PROTOCOL_VERSION

_ENROLL_FIELDS = {
    "server_id": (str, True),
    "environment_id": (str, True),
    "remote_control_token": (str, True),
    "expires_at": (str, True),
}
_PAIR_FIELDS = {
    "pairing_code": (str, True),
    "manual_pairing_code": (str, False),
    "server_id": (str, True),
    "environment_id": (str, True),
    "expires_at": (str, True),
    "pairing_url": (str, False),
}
_PAIR_STATUS_FIELDS = {"claimed": (bool, True)}
_LIST_FIELDS = {"items": (list, True), "cursor": (str, False)}
_CLIENT_FIELDS = ("display_name", "device_type", "platform", "os_version", "device_model", "app_version")
_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def host_os() -> str:
    """Rust's ``std::env::consts::OS``."""
    if sys.platform.startswith("linux"):
        return "linux"
    if sys.platform == "darwin":
        return "macos"
    if sys.platform in ("win32", "cygwin"):
        return "windows"
    return sys.platform


def host_arch() -> str:
    """Rust's ``std::env::consts::ARCH``."""
    machine = platform.machine().lower()
    return {"amd64": "x86_64", "x64": "x86_64", "arm64": "aarch64", "i686": "x86", "i386": "x86"}.get(
        machine, machine
    )


@dataclass(frozen=True, slots=True)
class ClientHeaders:
    """``originator`` and ``user-agent`` for relay calls (not the WebSocket handshake)."""

    originator: str
    user_agent: str


@dataclass(frozen=True, slots=True)
class EnrollResult:
    server_id: str
    environment_id: str
    token: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class PairResult:
    pairing_code: str
    manual_pairing_code: str | None
    environment_id: str
    expires_at: int
    pairing_url: str | None


class RelayApi:
    """One relay's HTTP API. ``headers`` gives originator/user-agent at each call."""

    def __init__(
        self,
        target: Any,
        installation_id: str,
        headers: Callable[[], ClientHeaders],
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.target = target
        self.installation_id = installation_id
        self._headers = headers
        self._client = httpx.AsyncClient(
            timeout=limits.RC_HTTP_TIMEOUT, transport=transport, follow_redirects=False
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    def _base_headers(self) -> dict[str, str]:
        client = self._headers()
        return {"originator": client.originator, "user-agent": client.user_agent}

    # --- enroll and refresh (account credential) ------------------------------------------

    async def enroll(self, credential: Credential, server_name: str) -> EnrollResult:
        body = {
            "name": server_name,
            "os": host_os(),
            "arch": host_arch(),
            "app_server_version": APP_SERVER_VERSION,
            "installation_id": self.installation_id,
        }
        return await self._server_call(
            self.target.enroll_url, credential, body, "enroll", "server enrollment"
        )

    async def refresh(self, credential: Credential, server_id: str) -> EnrollResult:
        body = {"server_id": server_id, "installation_id": self.installation_id}
        return await self._server_call(
            self.target.refresh_url, credential, body, "refresh", "server refresh"
        )

    async def _server_call(
        self, url: str, credential: Credential, body: dict[str, Any], action: str, kind: str
    ) -> EnrollResult:
        headers = {
            **self._base_headers(),
            **credential.headers(),
            "x-codex-installation-id": self.installation_id,
            "content-type": "application/json",
        }
        status, reply_headers, raw, retry_at = await self._send(
            "POST", url, headers, body, action_text=strings.RC_HTTP_SEND_FAILED, action=action
        )
        data = self._decode(url, kind, status, reply_headers, raw, _ENROLL_FIELDS, retry_at)
        try:
            expires = preview.parse_rfc3339(data["expires_at"])
        except ValueError as exc:
            raise RemoteControlError(
                ErrorKind.OTHER, strings.RC_TOKEN_EXPIRY_PARSE.format(url=url, error=exc)
            ) from None
        return EnrollResult(data["server_id"], data["environment_id"], data["remote_control_token"], expires)

    # --- pairing (host token) -----------------------------------------------------------------

    async def pair(self, token: str, enrollment: Enrollment, manual_code: bool) -> PairResult:
        url = self.target.pair_url
        data = await self._host_call(url, token, {"manual_code": manual_code}, "pairing", _PAIR_FIELDS)
        if data["server_id"] != enrollment.server_id or data["environment_id"] != enrollment.environment_id:
            raise RemoteControlError(
                ErrorKind.OTHER,
                strings.RC_PAIRING_MISMATCH.format(
                    sid=enrollment.server_id,
                    eid=enrollment.environment_id,
                    got_sid=data["server_id"],
                    got_eid=data["environment_id"],
                ),
            )
        try:
            expires = int(preview.parse_rfc3339(data["expires_at"]).timestamp())
        except ValueError as exc:
            raise RemoteControlError(
                ErrorKind.INVALID_DATA, strings.RC_PAIRING_EXPIRY_PARSE.format(error=exc)
            ) from None
        return PairResult(
            data["pairing_code"],
            data.get("manual_pairing_code"),
            data["environment_id"],
            expires,
            data.get("pairing_url"),
        )

    async def pair_status(
        self, token: str, *, pairing_code: str | None = None, manual_pairing_code: str | None = None
    ) -> bool:
        body = (
            {"pairing_code": pairing_code}
            if pairing_code is not None
            else {"manual_pairing_code": manual_pairing_code}
        )
        data = await self._host_call(
            self.target.pair_status_url, token, body, "pairing status", _PAIR_STATUS_FIELDS,
            invalid_input=(404, 410),
        )
        return bool(data["claimed"])

    async def _host_call(
        self,
        url: str,
        token: str,
        body: dict[str, Any],
        kind: str,
        fields: Mapping[str, tuple[type, bool]],
        *,
        invalid_input: tuple[int, ...] = (),
    ) -> dict[str, Any]:
        headers = {
            "authorization": f"Bearer {token}",
            "content-type": "application/json",
            **self._base_headers(),
        }
        status, reply_headers, raw, retry_at = await self._send(
            "POST", url, headers, body, action_text=strings.RC_HTTP_CLIENT_SEND_FAILED, action=kind
        )
        return self._decode(
            url, kind, status, reply_headers, raw, fields, retry_at, invalid_input=invalid_input
        )

    # --- clients (account credential) ------------------------------------------------------------

    async def list_clients(
        self,
        credential: Credential,
        environment_id: str,
        *,
        cursor: str | None = None,
        limit: int | None = None,
        order: str | None = None,
    ) -> dict[str, Any]:
        query: list[tuple[str, str]] = []
        if cursor is not None:
            query.append(("cursor", cursor))
        if limit is not None:
            query.append(("limit", str(limit)))
        if order is not None:
            query.append(("order", order))
        # Observed: the query string is always there, a bare `?` when empty; form-encoded.
        url = self.target.clients_url(environment_id) + "?" + urlencode(query)
        data = await self._client_call("GET", url, credential, "client list")
        items = []
        for item in data["items"]:
            items.append(_client(item, url))
        return {"data": items, "nextCursor": data.get("cursor")}

    async def revoke_client(self, credential: Credential, environment_id: str, client_id: str) -> None:
        url = self.target.clients_url(environment_id, client_id)
        await self._client_call("DELETE", url, credential, "client revoke")

    async def _client_call(
        self, method: str, url: str, credential: Credential, kind: str
    ) -> dict[str, Any]:
        headers = {**self._base_headers(), **credential.headers()}
        status, reply_headers, raw, retry_at = await self._send(
            method, url, headers, None, action_text=strings.RC_HTTP_CLIENT_SEND_FAILED, action=kind
        )
        if not 200 <= status < 300:
            kind_of = {400: ErrorKind.INVALID_INPUT, 401: ErrorKind.PERMISSION_DENIED,
                       403: ErrorKind.PERMISSION_DENIED, 404: ErrorKind.NOT_FOUND}.get(status, ErrorKind.OTHER)
            raise RemoteControlError(
                kind_of, _failed_text(kind, url, status, reply_headers, raw), status=status
            )
        if method == "DELETE":
            return {}
        return self._decode(url, kind, status, reply_headers, raw, _LIST_FIELDS, retry_at)

    # --- plumbing --------------------------------------------------------------------------------

    async def _send(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: dict[str, Any] | None,
        *,
        action_text: str,
        action: str,
    ) -> tuple[int, httpx.Headers, bytes, datetime | None]:
        content = _encoder.encode(body).encode() if body is not None else None
        try:
            response = await self._client.request(method, url, headers=headers, content=content)
        except httpx.TimeoutException as exc:
            raise RemoteControlError(
                ErrorKind.TIMED_OUT,
                action_text.format(action=action, kind=action, url=url, error=_describe(exc)),
            ) from None
        except httpx.HTTPError as exc:
            raise RemoteControlError(
                ErrorKind.OTHER,
                action_text.format(action=action, kind=action, url=url, error=_describe(exc)),
            ) from None
        received = datetime.now(timezone.utc)
        return response.status_code, response.headers, response.content, preview.retry_at(
            response.headers, received
        )

    def _decode(
        self,
        url: str,
        kind: str,
        status: int,
        headers: httpx.Headers,
        raw: bytes,
        fields: Mapping[str, tuple[type, bool]],
        retry_at: datetime | None,
        *,
        invalid_input: tuple[int, ...] = (),
    ) -> dict[str, Any]:
        if not 200 <= status < 300:
            error_kind = ErrorKind.INVALID_INPUT if status in invalid_input else kind_for_status(status)
            raise RemoteControlError(
                error_kind, _failed_text(kind, url, status, headers, raw), status=status, retry_at=retry_at
            )
        try:
            return preview.decode_object(raw, fields)
        except preview.DecodeError as exc:
            raise RemoteControlError(
                ErrorKind.OTHER,
                strings.RC_HTTP_PARSE_FAILED.format(
                    kind=kind,
                    url=url,
                    status=preview.status_text(status),
                    headers=preview.format_headers(headers),
                    preview=preview.body_preview(raw),
                    error=exc,
                ),
                status=status,
            ) from None

    def __repr__(self) -> str:
        return f"<RelayApi {self.target.base_url}>"


def _failed_text(kind: str, url: str, status: int, headers: Mapping[str, str], raw: bytes) -> str:
    return strings.RC_HTTP_FAILED.format(
        kind=kind,
        url=url,
        status=preview.status_text(status),
        headers=preview.format_headers(headers),
        preview=preview.body_preview(raw),
    )


def _describe(exc: httpx.HTTPError) -> str:
    text = str(exc) or type(exc).__name__
    return text


def _client(item: Any, url: str) -> dict[str, Any]:
    if not isinstance(item, dict) or not isinstance(item.get("client_id"), str):
        raise RemoteControlError(
            ErrorKind.OTHER,
            f"failed to parse remote control client list response from `{url}`: "
            "decode error: missing field `client_id`",
        )
    out: dict[str, Any] = {"clientId": item["client_id"]}
    for name in _CLIENT_FIELDS:
        value = item.get(name)
        camel = "".join(w if i == 0 else w.title() for i, w in enumerate(name.split("_")))
        out[camel] = value if isinstance(value, str) else None
    seen = item.get("last_seen_at")
    if seen is None:
        out["lastSeenAt"] = None
    else:
        try:
            out["lastSeenAt"] = int(preview.parse_rfc3339(str(seen)).timestamp())
        except ValueError as exc:
            raise RemoteControlError(
                ErrorKind.INVALID_DATA, strings.RC_LAST_SEEN_PARSE.format(value=seen, error=exc)
            ) from None
    return out
