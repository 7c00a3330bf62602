"""What the TCP listener answers to an HTTP request before any WebSocket frame. Sans-I/O.

Upstream (spec/transport.md §4.2–4.3, checked against codex 0.169.0 request by request):

1. any ``Origin`` header → 403, empty body, before anything else;
2. ``/readyz`` and ``/healthz`` (path without query) → 200, empty body; other methods than
   GET/HEAD → 405 with ``allow: GET,HEAD``. Ours adds ``/metrics`` (same method rule; the
   upgrade's bearer when auth is configured) and makes ``/readyz`` answer 503 while the
   backend is not ready;
3. every other path is the upgrade endpoint. Its checks come from upstream's HTTP framework
   (axum's ``WebSocketUpgrade``), in its order and with its plain-text bodies: 405 for a
   method other than GET; 400 when the first ``Connection`` header does not contain
   ``upgrade`` (a case-insensitive substring test), the first ``Upgrade`` header is not
   ``websocket``, there is no ``Sec-WebSocket-Key``, or the first
   ``Sec-WebSocket-Version`` is not ``13``; 426 for HTTP/1.0;
4. then auth → 401 with the message as the body (:mod:`appserver.auth`); then 101.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from appserver import strings
from appserver.auth import AuthError, Policy

HEALTH_PATHS = ("/readyz", "/healthz")
METRICS_PATH = "/metrics"

Headers = Sequence[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """An HTTP response that ends the exchange (no upgrade)."""

    status: int
    body: str = ""
    headers: tuple[tuple[str, str], ...] = ()


class Route(enum.Enum):
    """A request that passed every check."""

    UPGRADE = "upgrade"
    METRICS = "metrics"


def first_header(headers: Headers, name: str) -> str | None:
    """The first value of header ``name`` (case-insensitive), like ``HeaderMap::get``."""
    name = name.lower()
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def route(
    method: str,
    target: str,
    protocol: str,
    headers: Headers,
    *,
    ready: bool,
    policy: Policy | None,
    now: int,
) -> HttpResponse | Route:
    """Decide what to do with one request: a final :class:`HttpResponse`, or a :class:`Route`."""
    if first_header(headers, "Origin") is not None:
        return HttpResponse(403)
    path = target.split("?", 1)[0]
    if path in HEALTH_PATHS or path == METRICS_PATH:
        if method not in ("GET", "HEAD"):
            return HttpResponse(405, headers=(("Allow", "GET,HEAD"),))
        if path == "/healthz":
            return HttpResponse(200)
        if path == "/readyz":
            return HttpResponse(200 if ready else 503)
        refusal = _authorize(policy, headers, now)
        return refusal or Route.METRICS
    refusal = check_upgrade(method, protocol, headers) or _authorize(policy, headers, now)
    return refusal or Route.UPGRADE


def check_upgrade(method: str, protocol: str, headers: Headers) -> HttpResponse | None:
    """Upstream's rejections of a request that is not a usable WebSocket upgrade."""
    if method != "GET":
        return HttpResponse(405, strings.HTTP_METHOD_NOT_GET)
    if "upgrade" not in (first_header(headers, "Connection") or "").lower():
        return HttpResponse(400, strings.HTTP_NO_CONNECTION_UPGRADE)
    if (first_header(headers, "Upgrade") or "").lower() != "websocket":
        return HttpResponse(400, strings.HTTP_NO_UPGRADE_WEBSOCKET)
    if first_header(headers, "Sec-WebSocket-Key") is None:
        return HttpResponse(400, strings.HTTP_NO_WEBSOCKET_KEY)
    if first_header(headers, "Sec-WebSocket-Version") != "13":
        return HttpResponse(400, strings.HTTP_BAD_WEBSOCKET_VERSION)
    if protocol != "HTTP/1.1":
        return HttpResponse(426, strings.HTTP_NOT_UPGRADABLE)
    return None


def _authorize(policy: Policy | None, headers: Headers, now: int) -> HttpResponse | None:
    if policy is None:
        return None
    try:
        policy.authorize(first_header(headers, "Authorization"), now)
    except AuthError as exc:
        return HttpResponse(exc.status, exc.message)
    return None
