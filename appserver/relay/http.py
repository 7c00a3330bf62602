"""Small HTTP helpers shared by the relay's routes: JSON bodies, errors, bearers, peers.

Every error is ``{"detail": "<message>"}`` with a 4xx status; a body that is not JSON, not
an object, too large, or of the wrong shape never reaches a handler as a 500.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from appserver import limits, strings
from appserver.relay.store import StoreUnavailable


class HttpError(Exception):
    """Raised by helpers and handlers; turned into a JSON error response by the middleware."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def json_response(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """Compact JSON, like the upstream backend writes it."""
    return web.json_response(value, status=status, headers=headers, dumps=compact)


def error_response(status: int, detail: str, headers: dict[str, str] | None = None) -> web.Response:
    return json_response({"detail": detail}, status=status, headers=headers)


@web.middleware
async def errors_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except HttpError as exc:
        return error_response(exc.status, exc.detail, exc.headers)
    except web.HTTPNotFound:
        return error_response(404, strings.RELAY_NOT_FOUND)
    except web.HTTPMethodNotAllowed as exc:
        return error_response(405, exc.reason)
    except StoreUnavailable:
        return error_response(503, strings.RELAY_STORE_UNAVAILABLE, {"Retry-After": "1"})


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object body (400 if not JSON or not an object, 413 if too large)."""
    if request.content_length is not None and request.content_length > limits.RELAY_MAX_BODY_BYTES:
        raise HttpError(413, strings.RELAY_BODY_TOO_LARGE)
    raw = await request.content.read(limits.RELAY_MAX_BODY_BYTES + 1)
    if len(raw) > limits.RELAY_MAX_BODY_BYTES:
        raise HttpError(413, strings.RELAY_BODY_TOO_LARGE)
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        raise HttpError(400, strings.RELAY_BAD_JSON) from None
    if not isinstance(body, dict):
        raise HttpError(400, strings.RELAY_BODY_NOT_OBJECT)
    return body


def field(body: dict[str, Any], name: str, kind: type, *, required: bool = True) -> Any:
    """``body[name]`` of JSON type ``kind`` (``str``, ``bool``, ``int``); 400 otherwise."""
    if name not in body or body[name] is None:
        if required:
            raise HttpError(400, strings.RELAY_FIELD_MISSING.format(field=name))
        return None
    value = body[name]
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if not ok:
        expected = {str: "a string", bool: "a boolean", int: "an integer"}[kind]
        raise HttpError(400, strings.RELAY_FIELD_TYPE.format(field=name, expected=expected))
    if kind is str and len(value) > 1024:
        raise HttpError(400, strings.RELAY_FIELD_TYPE.format(field=name, expected="at most 1024 characters"))
    return value


def offered_bearer(request: web.Request) -> str | None:
    """The bearer token of ``Authorization``; ``None`` if missing or malformed."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


def bearer(request: web.Request) -> str:
    """The bearer token of ``Authorization`` (401 if missing or malformed)."""
    token = offered_bearer(request)
    if token is None:
        raise HttpError(401, strings.RELAY_MISSING_BEARER)
    return token


def peer(request: web.Request, *, behind_proxy: bool) -> str:
    """The client address for logs and rate limits (the proxy's ``X-Forwarded-For`` entry
    when ``--behind-proxy``: the last one, which our proxy appended)."""
    if behind_proxy:
        forwarded = request.headers.get("X-Forwarded-For", "")
        last = forwarded.rsplit(",", 1)[-1].strip()
        if last:
            return last
    return request.remote or "?"
