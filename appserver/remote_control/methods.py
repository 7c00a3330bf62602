"""The ``remoteControl/*`` methods, answered by the gateway itself whatever the backend.

spec/remote-control.md §6 and remote-control-observed.md §3.8: every method is
experimental (``-32600 <method> requires experimentalApi capability``); parameters are
checked before any I/O with serde's wording; failures map to ``-32600`` or ``-32603`` per
method as upstream maps its error kinds. The codex child's own
``remoteControl/status/changed`` notifications are dropped (its remote control stays off);
ours is queued right behind each connection's ``initialize`` answer and broadcast on
every change, with ``emittedAtMs``.

This object is the processor's ``GatewayMethods`` (docs/architecture.md, "The processor's hooks for other transports").
"""

from __future__ import annotations

import logging
from typing import Any

from appserver import jsonrpc, strings
from appserver.backends.builtin import params as p
from appserver.errors import RpcError
from appserver.remote_control.errors import ErrorKind, RemoteControlError
from appserver.remote_control.service import RemoteControlService
from appserver.remote_control.status import STATUS_CHANGED, status_notification

log = logging.getLogger("appserver.remote_control")

ENABLE = "remoteControl/enable"
DISABLE = "remoteControl/disable"
STATUS_READ = "remoteControl/status/read"
PAIRING_START = "remoteControl/pairing/start"
PAIRING_STATUS = "remoteControl/pairing/status"
CLIENT_LIST = "remoteControl/client/list"
CLIENT_REVOKE = "remoteControl/client/revoke"
METHODS = frozenset(
    {ENABLE, DISABLE, STATUS_READ, PAIRING_START, PAIRING_STATUS, CLIENT_LIST, CLIENT_REVOKE}
)

#: Error kinds answered -32600 (invalid request), per method; everything else is -32603.
_INVALID_KINDS: dict[str, frozenset[ErrorKind]] = {
    ENABLE: frozenset({ErrorKind.NOT_FOUND, ErrorKind.PERMISSION_DENIED}),
    DISABLE: frozenset({ErrorKind.NOT_FOUND, ErrorKind.PERMISSION_DENIED}),
    STATUS_READ: frozenset(),
    PAIRING_START: frozenset({ErrorKind.INVALID_INPUT}),
    PAIRING_STATUS: frozenset({ErrorKind.INVALID_INPUT}),
    CLIENT_LIST: frozenset(
        {ErrorKind.INVALID_INPUT, ErrorKind.NOT_FOUND, ErrorKind.PERMISSION_DENIED, ErrorKind.WOULD_BLOCK}
    ),
    CLIENT_REVOKE: frozenset(
        {ErrorKind.INVALID_INPUT, ErrorKind.NOT_FOUND, ErrorKind.PERMISSION_DENIED, ErrorKind.WOULD_BLOCK}
    ),
}


def _invalid(message: str) -> RpcError:
    return RpcError(jsonrpc.INVALID_REQUEST, message)


def _ephemeral(params: Any) -> bool:
    return p.opt_bool(p.obj(params, required=False), "ephemeral") or False


class RemoteControlMethods:
    """``GatewayMethods`` for the processor: owns the seven methods and the notification."""

    def __init__(self, service: RemoteControlService) -> None:
        self.service = service

    def owns(self, method: str) -> bool:
        return method in METHODS

    def owns_notification(self, method: str) -> bool:
        return method == STATUS_CHANGED

    def on_ready(self, conn: Any) -> list[jsonrpc.Message]:
        client = conn.client
        self.service.note_client(
            client.client_name, client.client_version, local=conn.transport != "remote"
        )
        return [status_notification(self.service.status.value)]

    async def handle(self, conn: Any, request: jsonrpc.Message) -> dict[str, Any]:
        method = request.method or ""
        request_id = request.id
        assert request_id is not None
        if not conn.client.experimental_api:
            return jsonrpc.error(
                request_id, jsonrpc.INVALID_REQUEST, strings.EXPERIMENTAL_REQUIRED.format(reason=method)
            )
        try:
            result = await self._call(method, request.params)
        except RpcError as exc:
            return jsonrpc.error(request_id, exc.code, exc.message)
        except RemoteControlError as exc:
            code = (
                jsonrpc.INVALID_REQUEST
                if exc.kind in _INVALID_KINDS.get(method, frozenset())
                else jsonrpc.INTERNAL_ERROR
            )
            log.info("%s failed: %s", method, exc.message)
            return jsonrpc.error(request_id, code, exc.message)
        return jsonrpc.response(request_id, result)

    async def _call(self, method: str, params: Any) -> Any:
        service = self.service
        if method == STATUS_READ:
            return service.status.value.to_json()
        if method == ENABLE:
            return (await service.enable(ephemeral=_ephemeral(params))).to_json()
        if method == DISABLE:
            return (await service.disable(ephemeral=_ephemeral(params))).to_json()
        if method == PAIRING_START:
            manual = p.opt_bool(p.obj(params), "manualCode") or False
            return await service.pairing_start(manual)
        if method == PAIRING_STATUS:
            args = p.obj(params)
            code, manual = p.opt_str(args, "pairingCode"), p.opt_str(args, "manualPairingCode")
            if code is not None and manual is not None:
                raise _invalid(strings.RC_PAIRING_STATUS_BOTH)
            if code is None and manual is None:
                raise _invalid(strings.RC_PAIRING_STATUS_NEITHER)
            return await service.pairing_status(pairing_code=code, manual_pairing_code=manual)
        if method == CLIENT_LIST:
            args = p.obj(params)
            environment = p.req_str(args, "environmentId")
            cursor = p.opt_str(args, "cursor")
            limit = p.opt_uint(args, "limit")
            order = p.opt_str(args, "order")
            if order is not None and order not in ("asc", "desc"):
                raise p.invalid_request(
                    f"unknown variant `{order}`, expected `asc` or `desc`"
                )
            if not environment:
                raise _invalid(strings.RC_CLIENT_LIST_NEEDS_ENV)
            if limit is not None and not 1 <= limit <= 100:
                raise _invalid(strings.RC_CLIENT_LIST_LIMIT)
            return await service.list_clients(environment, cursor, limit, order)
        if method == CLIENT_REVOKE:
            args = p.obj(params)
            environment = p.req_str(args, "environmentId")
            client = p.req_str(args, "clientId")
            if not environment:
                raise _invalid(strings.RC_CLIENT_REVOKE_NEEDS_ENV)
            if not client:
                raise _invalid(strings.RC_CLIENT_REVOKE_NEEDS_CLIENT)
            return await service.revoke_client(environment, client)
        raise _invalid(strings.RC_UNAVAILABLE)

    def __repr__(self) -> str:
        return f"<RemoteControlMethods {self.service!r}>"
