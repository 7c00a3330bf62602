"""The controller API (ours; docs/relay.md "Controller API"): claim a pairing code, then open
controller WebSockets (:mod:`appserver.relay.controller_socket`).

``POST api/v1/pair/claim`` ``{"code", "display_name"?, "device_type"?, "platform"?,
"os_version"?, "device_model"?, "app_version"?}`` -> ``{"client_id", "device_token",
"environment_id", "server_name", "relay_url"}``. The device token is shown once and stored
as its digest. Attempts are rate limited per client address and overall (429 + Retry-After).
"""

from __future__ import annotations

from aiohttp import web

from appserver import limits, strings
from appserver.relay import pairing
from appserver.relay.http import HttpError, field, json_body, json_response
from appserver.relay.hub import RELAY_KEY
from appserver.relay.store import DEVICE_FIELDS

CLAIM_PATH = "/api/v1/pair/claim"
SOCKET_PATH = "/api/v1/controller/ws"


async def claim(request: web.Request) -> web.Response:
    relay = request.app[RELAY_KEY]
    peer = relay.peer(request)
    wait = relay.claims.attempt(peer)
    if wait:
        relay.metrics.claim_limited.inc()
        relay.auth_failure("pairing code", peer, "claim", "rate limited")
        raise HttpError(429, strings.RELAY_CLAIM_RATE_LIMITED, {"Retry-After": str(int(wait))})
    body = await json_body(request)
    code = field(body, "code", str)
    fields = {name: field(body, name, str, required=False) for name in DEVICE_FIELDS}
    now = relay.now()
    found = await pairing.find_any(relay.store, code)
    if found is None or found.claimed_by is not None or found.expires_at <= now:
        relay.auth_failure("pairing code", peer, "claim", "unknown, used or expired code")
        raise HttpError(404, strings.RELAY_CLAIM_NOT_FOUND)
    server = await relay.store.server(found.server_id)
    if server is None:
        raise HttpError(404, strings.RELAY_CLAIM_NOT_FOUND)
    if await relay.store.device_count(server.server_id) >= limits.RELAY_MAX_DEVICES_PER_HOST:
        raise HttpError(403, strings.RELAY_TOO_MANY_DEVICES.format(max=limits.RELAY_MAX_DEVICES_PER_HOST))
    claimed = await pairing.claim(relay.store, found, fields, now=now)
    if claimed is None:
        raise HttpError(404, strings.RELAY_CLAIM_NOT_FOUND)
    await relay.event("claim", server_id=server.server_id, client_id=claimed.device.client_id, peer=peer,
                      detail=fields.get("display_name"))
    return json_response({
        "client_id": claimed.device.client_id,
        "device_token": claimed.device_token,
        "environment_id": server.environment_id,
        "server_name": server.name,
        "relay_url": relay.config.public_url,
    })


def add_routes(app: web.Application) -> None:
    app.router.add_post(CLAIM_PATH, claim)
