"""The host HTTP API under ``<relay root>/wham/remote/control/`` — exactly what codex 0.169.0
calls (spec/remote-control.md §3, §10; spec/remote-control-observed.md §2).

=========================================  ===================================  ==============
route                                      auth                                 answer
=========================================  ===================================  ==============
``POST server/enroll``                     account credential + account id      enrollment
``POST server/refresh``                    account credential + account id      enrollment
``POST server/pair``                       host token                           codes
``POST server/pair/status``                host token                           ``{claimed}``
``GET environments/{env}/clients``         account credential + account id      ``{items, cursor}``
``DELETE environments/{env}/clients/{id}``  account credential + account id      204
=========================================  ===================================  ==============

401 for a missing or unknown credential, 403 when ``chatgpt-account-id`` is not the
credential's account, 404 for unknown servers, environments, clients and codes (an
environment or server of another account is unknown), 410 for an expired code, 400 for
bodies and queries of the wrong shape.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from appserver import limits, strings
from appserver.relay import credentials, pairing
from appserver.relay.hub import RELAY_KEY, Relay
from appserver.relay.http import HttpError, bearer, field, json_body, json_response
from appserver.relay.store import Account, Device, Server

log = logging.getLogger("appserver.relay")

PREFIX = "/wham/remote/control"


def rfc3339(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _bearer_of(relay: Relay, request: web.Request, kind: str, route: str) -> tuple[str, str]:
    """The peer and its bearer token; a missing one is an auth failure (logged, 401)."""
    peer = relay.peer(request)
    try:
        return peer, bearer(request)
    except HttpError:
        relay.auth_failure(kind, peer, route, "no bearer")
        raise


async def account_auth(relay: Relay, request: web.Request, route: str) -> Account:
    """The account whose credential is the bearer, with a matching ``chatgpt-account-id``."""
    peer, token = _bearer_of(relay, request, "account", route)
    account = await relay.store.account_for_credential(credentials.digest(token))
    if account is None:
        relay.auth_failure("account", peer, route, "unknown credential")
        raise HttpError(401, strings.RELAY_BAD_CREDENTIAL)
    if request.headers.get("chatgpt-account-id") != account.account_id:
        relay.auth_failure("account", peer, route, f"account id mismatch for account {account.name}")
        raise HttpError(403, strings.RELAY_ACCOUNT_MISMATCH)
    return account


async def host_auth(relay: Relay, request: web.Request, route: str) -> Server:
    """The server whose live host token is the bearer."""
    peer, token = _bearer_of(relay, request, "host", route)
    server_id = await relay.store.host_token_server(credentials.digest(token), relay.now())
    if server_id is None:
        relay.auth_failure("host", peer, route, "unknown or expired host token")
        raise HttpError(401, strings.RELAY_BAD_HOST_TOKEN)
    server = await relay.store.server(server_id)
    if server is None:
        raise HttpError(404, strings.RELAY_UNKNOWN_SERVER)
    return server


async def _enrollment(relay: Relay, server: Server) -> dict[str, Any]:
    now = relay.now()
    token = credentials.host_token()
    expires_at = now + limits.RELAY_HOST_TOKEN_TTL
    await relay.store.add_host_token(server.server_id, credentials.digest(token), expires_at, now)
    return {
        "server_id": server.server_id,
        "environment_id": server.environment_id,
        "remote_control_token": token,
        "expires_at": rfc3339(expires_at),
    }


async def enroll(request: web.Request) -> web.Response:
    relay = request.app[RELAY_KEY]
    account = await account_auth(relay, request, "enroll")
    body = await json_body(request)
    name = field(body, "name", str)
    installation_id = field(body, "installation_id", str)
    details = {
        "name": name,
        "os": field(body, "os", str, required=False) or "",
        "arch": field(body, "arch", str, required=False) or "",
        "app_server_version": field(body, "app_server_version", str, required=False) or "",
    }
    now = relay.now()
    server = await relay.store.server_by_installation(account.account_id, installation_id)
    if server is not None:
        # The same installation enrolling again keeps its server, environment and devices.
        server = Server(**{**_asdict(server), **details})
        await relay.store.update_server(server)
    else:
        if await relay.store.server_count(account.account_id) >= limits.RELAY_MAX_HOSTS_PER_ACCOUNT:
            raise HttpError(403, strings.RELAY_TOO_MANY_HOSTS.format(max=limits.RELAY_MAX_HOSTS_PER_ACCOUNT))
        server = Server(
            server_id=credentials.new_server_id(),
            environment_id=credentials.new_environment_id(),
            account_id=account.account_id,
            installation_id=installation_id,
            created_at=now,
            **details,
        )
        await relay.store.add_server(server)
    answer = await _enrollment(relay, server)
    await relay.event("enroll", account=account.name, server_id=server.server_id,
                      peer=relay.peer(request), detail=f"name={name}")
    return json_response(answer)


async def refresh(request: web.Request) -> web.Response:
    relay = request.app[RELAY_KEY]
    account = await account_auth(relay, request, "refresh")
    body = await json_body(request)
    server_id = field(body, "server_id", str)
    field(body, "installation_id", str, required=False)
    server = await relay.store.server(server_id)
    if server is None or server.account_id != account.account_id:
        raise HttpError(404, strings.RELAY_UNKNOWN_SERVER)
    answer = await _enrollment(relay, server)
    relay.metrics.events.labels("refresh").inc()
    return json_response(answer)


async def pair(request: web.Request) -> web.Response:
    relay = request.app[RELAY_KEY]
    server = await host_auth(relay, request, "pair")
    body = await json_body(request)
    manual = bool(field(body, "manual_code", bool, required=False))
    minted = await pairing.mint(relay.store, server, manual=manual, now=relay.now())
    await relay.event("pair", server_id=server.server_id, peer=relay.peer(request),
                      detail="manual" if manual else None)
    return json_response({
        "pairing_code": minted.pairing_code,
        "manual_pairing_code": minted.manual_pairing_code,
        "server_id": server.server_id,
        "environment_id": server.environment_id,
        "expires_at": rfc3339(minted.expires_at),
        # Ours (codex ignores it): the link a QR code carries (docs/relay.md "Pairing").
        "pairing_url": f"{relay.config.public_url}#pair={minted.pairing_code}",
    })


async def pair_status(request: web.Request) -> web.Response:
    relay = request.app[RELAY_KEY]
    server = await host_auth(relay, request, "pair/status")
    body = await json_body(request)
    code = field(body, "pairing_code", str, required=False)
    manual = field(body, "manual_pairing_code", str, required=False)
    if (code is None) == (manual is None):
        raise HttpError(400, strings.RELAY_PAIR_STATUS_ONE_CODE)
    found = await pairing.find(relay.store, manual if manual is not None else code, manual=manual is not None)
    if found is None or found.server_id != server.server_id:
        raise HttpError(404, strings.RELAY_PAIRING_NOT_FOUND)
    if found.claimed_by is not None:
        return json_response({"claimed": True})
    if found.expires_at <= relay.now():
        raise HttpError(410, strings.RELAY_PAIRING_EXPIRED)
    return json_response({"claimed": False})


async def _environment(relay: Relay, request: web.Request, route: str) -> tuple[Account, Server]:
    account = await account_auth(relay, request, route)
    server = await relay.store.server_by_environment(request.match_info["env"])
    if server is None or server.account_id != account.account_id:
        raise HttpError(404, strings.RELAY_ENVIRONMENT_NOT_FOUND)
    return account, server


def device_item(device: Device) -> dict[str, Any]:
    return {
        "client_id": device.client_id,
        "display_name": device.display_name,
        "device_type": device.device_type,
        "platform": device.platform,
        "os_version": device.os_version,
        "device_model": device.device_model,
        "app_version": device.app_version,
        "last_seen_at": rfc3339(device.last_seen_at) if device.last_seen_at is not None else None,
    }


def _encode_cursor(device: Device) -> str:
    return credentials.b64url(json.dumps([device.created_at, device.client_id]).encode())


def _decode_cursor(text: str) -> tuple[int, str]:
    try:
        created_at, client_id = json.loads(credentials.b64url_decode(text))
    except (ValueError, TypeError):
        raise HttpError(400, strings.RELAY_BAD_CURSOR) from None
    if not isinstance(created_at, int) or not isinstance(client_id, str):
        raise HttpError(400, strings.RELAY_BAD_CURSOR)
    return created_at, client_id


def list_query(query: Any) -> tuple[int, bool, tuple[int, str] | None]:
    """``limit``, ``order`` and ``cursor`` of a client list (empty values count as absent)."""
    limit = limits.RELAY_CLIENT_LIST_DEFAULT
    if query.get("limit"):
        text = query["limit"]
        if not text.isdigit() or not 1 <= int(text) <= limits.RELAY_CLIENT_LIST_MAX:
            raise HttpError(400, strings.RELAY_BAD_LIMIT.format(max=limits.RELAY_CLIENT_LIST_MAX))
        limit = int(text)
    order = query.get("order") or "desc"
    if order not in ("asc", "desc"):
        raise HttpError(400, strings.RELAY_BAD_ORDER)
    after = _decode_cursor(query["cursor"]) if query.get("cursor") else None
    return limit, order == "desc", after


async def list_clients(request: web.Request) -> web.Response:
    relay = request.app[RELAY_KEY]
    _, server = await _environment(relay, request, "clients")
    limit, descending, after = list_query(request.query)
    devices = await relay.store.devices(server.server_id, after=after, limit=limit + 1, descending=descending)
    page = devices[:limit]
    cursor = _encode_cursor(page[-1]) if len(devices) > limit else None
    return json_response({"items": [device_item(d) for d in page], "cursor": cursor})


async def revoke_client(request: web.Request) -> web.Response:
    relay = request.app[RELAY_KEY]
    account, server = await _environment(relay, request, "revoke")
    client_id = request.match_info["client_id"]
    device = await relay.store.device(client_id)
    if device is None or device.server_id != server.server_id:
        raise HttpError(404, strings.RELAY_CLIENT_NOT_FOUND)
    await relay.store.remove_device(client_id)
    await relay.event("revoke", account=account.name, server_id=server.server_id, client_id=client_id,
                      peer=relay.peer(request), detail="by host")
    await relay.device_revoked(client_id)
    return web.Response(status=204)


def _asdict(server: Server) -> dict[str, Any]:
    return {name: getattr(server, name) for name in server.__slots__}  # type: ignore[attr-defined]


def add_routes(app: web.Application) -> None:
    app.router.add_post(f"{PREFIX}/server/enroll", enroll)
    app.router.add_post(f"{PREFIX}/server/refresh", refresh)
    app.router.add_post(f"{PREFIX}/server/pair", pair)
    app.router.add_post(f"{PREFIX}/server/pair/status", pair_status)
    app.router.add_get(f"{PREFIX}/environments/{{env}}/clients", list_clients)
    app.router.add_delete(f"{PREFIX}/environments/{{env}}/clients/{{client_id}}", revoke_client)
