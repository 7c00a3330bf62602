"""The cluster's :class:`~appserver.relay.store.RelayStore`: shared state in Redis (redis-py asyncio).

Several relay nodes (and the ``appserver relay`` tooling) use one Redis; every method is
one atomic step, as in :class:`~appserver.relay.sqlite_store.SqliteStore`: a write that
touches several keys or must check before it writes is a Lua script, which Redis runs
without interleaving anything else — so a pairing code is claimed once across all nodes,
removals cascade (account -> servers -> host tokens, codes, devices) and indexes never
disagree with the records. Secrets are never stored, only their SHA-256 digests (hex in
key names). Standalone Redis (optionally with replicas / Sentinel failover); scripts touch
keys they compute, so Redis Cluster (sharded) is not supported (docs/relay.md "Cluster").

Key layout, under the prefix ``appserver:relay:`` (``P``):

* ``P:account:<id>`` hash (name, created_at); ``P:account-name:<name>`` -> id; ``P:accounts`` set;
  ``P:credential:<hex>`` -> account id; ``P:account-credentials:<id>`` zset hex by created_at;
  ``P:account-servers:<id>`` set of server ids;
* ``P:server:<id>`` hash; ``P:server-env:<env>`` and ``P:server-inst:<acct>:<inst>`` -> id;
  ``P:servers`` zset by created_at; ``P:host-token:<hex>`` -> "server_id expires_at";
  ``P:server-host-tokens:<id>`` zset hex by expires_at;
* ``P:pairing:<hex>`` hash; ``P:pairing-manual:<hex>`` -> code hex; ``P:pairings`` zset by
  expires_at; ``P:server-pairings:<id>`` zset by created_at;
* ``P:device:<client>`` hash (fields, token hex); ``P:device-token:<hex>`` -> client;
  ``P:devices`` and ``P:server-devices:<id>`` zsets of ``<created_at:020d>:<client>`` (lex order);
* ``P:audit`` list of JSON rows (``P:audit:<event>`` per event), ids from ``P:audit-id``;
* ``P:changes``: a counter bumped by every removal (:meth:`RedisStore.change_marker`);
  removals are also announced on the ``P:events`` channel (``revoke <client_id>``,
  ``server-removed <server_id>``) so every relay node closes the sockets at once.

Connection failures become :class:`~appserver.relay.store.StoreUnavailable` (503 at the
routes, not-ready on ``/readyz``), never a half-written state.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlsplit

from redis import asyncio as aioredis
from redis import exceptions as redis_errors

from appserver import limits, strings
from appserver.relay.store import Account, AuditEvent, Device, Pairing, Server, StoreError, StoreUnavailable

PREFIX = "appserver:relay"

P = ParamSpec("P")
T = TypeVar("T")

#: Failures that mean "Redis is not reachable now" (as opposed to a bug or a refused write).
UNREACHABLE = (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError)


def redacted(url: str) -> str:
    """The URL without its password (for logs and error lines)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return parts._replace(netloc=user + netloc).geturl()


def _first_line(exc: Exception) -> str:
    """The first line of a Redis error, cut to ``limits.RELAY_REDIS_ERROR_CHARS``."""
    return str(exc).split("\n")[0][: limits.RELAY_REDIS_ERROR_CHARS]


def _guarded(method: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    @functools.wraps(method)
    async def call(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await method(*args, **kwargs)
        except UNREACHABLE as exc:
            raise StoreUnavailable(strings.RELAY_REDIS_UNREACHABLE.format(kind=type(exc).__name__)) from None
        except redis_errors.ResponseError as exc:
            # Read-only replica after a failover, OOM, a script error: refuse, do not guess.
            raise StoreUnavailable(strings.RELAY_REDIS_REFUSED.format(reason=_first_line(exc))) from None

    return call


# Lua shared by the scripts: cascaded removals. ARGV[1] is always the key prefix.
_LUA_PRELUDE = r"""
local P = ARGV[1]
local function remove_device(cid)
  local key = P .. ':device:' .. cid
  local d = redis.call('HMGET', key, 'server_id', 'token', 'created_at')
  if not d[1] then return 0 end
  local member = string.format('%020d', tonumber(d[3])) .. ':' .. cid
  redis.call('DEL', key, P .. ':device-token:' .. d[2])
  redis.call('ZREM', P .. ':devices', member)
  redis.call('ZREM', P .. ':server-devices:' .. d[1], member)
  redis.call('PUBLISH', P .. ':events', 'revoke ' .. cid)
  return 1
end
local function remove_pairing(hex)
  local key = P .. ':pairing:' .. hex
  local d = redis.call('HMGET', key, 'server_id', 'manual')
  if not d[1] then return end
  if d[2] and d[2] ~= '' then redis.call('DEL', P .. ':pairing-manual:' .. d[2]) end
  redis.call('DEL', key)
  redis.call('ZREM', P .. ':pairings', hex)
  redis.call('ZREM', P .. ':server-pairings:' .. d[1], hex)
end
local function remove_server(sid)
  local key = P .. ':server:' .. sid
  local s = redis.call('HMGET', key, 'environment_id', 'account_id', 'installation_id')
  if not s[1] then return end
  for _, member in ipairs(redis.call('ZRANGE', P .. ':server-devices:' .. sid, 0, -1)) do
    remove_device(string.sub(member, 22))
  end
  for _, hex in ipairs(redis.call('ZRANGE', P .. ':server-pairings:' .. sid, 0, -1)) do
    remove_pairing(hex)
  end
  for _, hex in ipairs(redis.call('ZRANGE', P .. ':server-host-tokens:' .. sid, 0, -1)) do
    redis.call('DEL', P .. ':host-token:' .. hex)
  end
  redis.call('DEL', key, P .. ':server-env:' .. s[1], P .. ':server-inst:' .. s[2] .. ':' .. s[3],
    P .. ':server-devices:' .. sid, P .. ':server-pairings:' .. sid, P .. ':server-host-tokens:' .. sid)
  redis.call('ZREM', P .. ':servers', sid)
  redis.call('SREM', P .. ':account-servers:' .. s[2], sid)
  redis.call('PUBLISH', P .. ':events', 'server-removed ' .. sid)
end
"""

# ARGV: P, name, account_id, credential hex, now
_ADD_ACCOUNT = r"""
if redis.call('SET', P .. ':account-name:' .. ARGV[2], ARGV[3], 'NX') == false then return 0 end
redis.call('HSET', P .. ':account:' .. ARGV[3], 'name', ARGV[2], 'created_at', ARGV[5])
redis.call('SADD', P .. ':accounts', ARGV[3])
redis.call('SET', P .. ':credential:' .. ARGV[4], ARGV[3])
redis.call('ZADD', P .. ':account-credentials:' .. ARGV[3], ARGV[5], ARGV[4])
return 1
"""

# ARGV: P, name -> the removed account's id (or false)
_REMOVE_ACCOUNT = r"""
local id = redis.call('GET', P .. ':account-name:' .. ARGV[2])
if not id then return false end
for _, sid in ipairs(redis.call('SMEMBERS', P .. ':account-servers:' .. id)) do remove_server(sid) end
for _, hex in ipairs(redis.call('ZRANGE', P .. ':account-credentials:' .. id, 0, -1)) do
  redis.call('DEL', P .. ':credential:' .. hex)
end
redis.call('DEL', P .. ':account:' .. id, P .. ':account-name:' .. ARGV[2],
  P .. ':account-credentials:' .. id, P .. ':account-servers:' .. id)
redis.call('SREM', P .. ':accounts', id)
redis.call('INCR', P .. ':changes')
return id
"""

# ARGV: P, account_id, credential hex, now, keep (the newest keep-1 stay besides the new one)
_ADD_CREDENTIAL = r"""
if redis.call('EXISTS', P .. ':account:' .. ARGV[2]) == 0 then return 0 end
local zkey = P .. ':account-credentials:' .. ARGV[2]
local keep = tonumber(ARGV[5]) - 1
local old = redis.call('ZREVRANGE', zkey, keep, -1)
for _, hex in ipairs(old) do
  redis.call('DEL', P .. ':credential:' .. hex)
  redis.call('ZREM', zkey, hex)
end
redis.call('SET', P .. ':credential:' .. ARGV[3], ARGV[2])
redis.call('ZADD', zkey, ARGV[4], ARGV[3])
return 1
"""

_SERVER_FIELDS = ("environment_id", "account_id", "installation_id", "name", "os", "arch", "app_server_version")

# ARGV: P, server_id, created_at, then the _SERVER_FIELDS values
_ADD_SERVER = r"""
local sid = ARGV[2]
local env, acct, inst = ARGV[4], ARGV[5], ARGV[6]
if redis.call('EXISTS', P .. ':account:' .. acct) == 0 then return 'no account' end
if redis.call('EXISTS', P .. ':server:' .. sid) == 1 then return 'server exists' end
if redis.call('EXISTS', P .. ':server-env:' .. env) == 1 then return 'environment exists' end
if redis.call('EXISTS', P .. ':server-inst:' .. acct .. ':' .. inst) == 1 then return 'installation exists' end
redis.call('HSET', P .. ':server:' .. sid, 'created_at', ARGV[3], 'environment_id', env, 'account_id', acct,
  'installation_id', inst, 'name', ARGV[7], 'os', ARGV[8], 'arch', ARGV[9], 'app_server_version', ARGV[10])
redis.call('SET', P .. ':server-env:' .. env, sid)
redis.call('SET', P .. ':server-inst:' .. acct .. ':' .. inst, sid)
redis.call('ZADD', P .. ':servers', ARGV[3], sid)
redis.call('SADD', P .. ':account-servers:' .. acct, sid)
return 'ok'
"""

# ARGV: P, server_id, name, os, arch, app_server_version
_UPDATE_SERVER = r"""
local key = P .. ':server:' .. ARGV[2]
if redis.call('EXISTS', key) == 0 then return 0 end
redis.call('HSET', key, 'name', ARGV[3], 'os', ARGV[4], 'arch', ARGV[5], 'app_server_version', ARGV[6])
return 1
"""

# ARGV: P, server_id, token hex, expires_at, now, keep
_ADD_HOST_TOKEN = r"""
if redis.call('EXISTS', P .. ':server:' .. ARGV[2]) == 0 then return 0 end
local zkey = P .. ':server-host-tokens:' .. ARGV[2]
local gone = redis.call('ZRANGEBYSCORE', zkey, '-inf', ARGV[5])
for _, hex in ipairs(gone) do redis.call('DEL', P .. ':host-token:' .. hex); redis.call('ZREM', zkey, hex) end
local keep = tonumber(ARGV[6]) - 1
local old = redis.call('ZREVRANGE', zkey, keep, -1)
for _, hex in ipairs(old) do redis.call('DEL', P .. ':host-token:' .. hex); redis.call('ZREM', zkey, hex) end
redis.call('SET', P .. ':host-token:' .. ARGV[3], ARGV[2] .. ' ' .. ARGV[4])
redis.call('ZADD', zkey, ARGV[4], ARGV[3])
return 1
"""

# ARGV: P, code hex, manual hex or '', server_id, now, expires_at, forget_before, keep
_ADD_PAIRING = r"""
local code, manual, sid, now = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
for _, hex in ipairs(redis.call('ZRANGEBYSCORE', P .. ':pairings', '-inf', '(' .. ARGV[7])) do remove_pairing(hex) end
if redis.call('EXISTS', P .. ':server:' .. sid) == 0 then return -1 end
-- the newest keep-1 live unclaimed codes of this server stay besides the new one
local live = {}
for _, hex in ipairs(redis.call('ZREVRANGE', P .. ':server-pairings:' .. sid, 0, -1)) do
  local d = redis.call('HMGET', P .. ':pairing:' .. hex, 'claimed_by', 'expires_at')
  if (not d[1] or d[1] == '') and tonumber(d[2]) > now then table.insert(live, hex) end
end
for i = tonumber(ARGV[8]), #live do remove_pairing(live[i]) end
if redis.call('EXISTS', P .. ':pairing:' .. code) == 1 then return 0 end
if manual ~= '' then
  if redis.call('SET', P .. ':pairing-manual:' .. manual, code, 'NX') == false then return 0 end
end
redis.call('HSET', P .. ':pairing:' .. code, 'manual', manual, 'server_id', sid, 'created_at', ARGV[5],
  'expires_at', ARGV[6], 'claimed_by', '')
redis.call('ZADD', P .. ':pairings', ARGV[6], code)
redis.call('ZADD', P .. ':server-pairings:' .. sid, ARGV[5], code)
return 1
"""

_DEVICE_FIELDS = ("display_name", "device_type", "platform", "os_version", "device_model", "app_version")

# ARGV: P, code hex, now, client_id, server_id, token hex, created_at, last_seen_at or '',
#       then field name/value pairs of the device's optional fields
_CLAIM = r"""
local pkey = P .. ':pairing:' .. ARGV[2]
local d = redis.call('HMGET', pkey, 'claimed_by', 'expires_at', 'server_id')
if not d[2] or (d[1] and d[1] ~= '') or tonumber(d[2]) <= tonumber(ARGV[3]) then return 0 end
local cid, sid = ARGV[4], ARGV[5]
if d[3] ~= sid or redis.call('EXISTS', P .. ':server:' .. sid) == 0 then return 0 end
if redis.call('EXISTS', P .. ':device:' .. cid) == 1 then return 0 end
if redis.call('SET', P .. ':device-token:' .. ARGV[6], cid, 'NX') == false then return 0 end
redis.call('HSET', pkey, 'claimed_by', cid)
local key = P .. ':device:' .. cid
redis.call('HSET', key, 'server_id', sid, 'token', ARGV[6], 'created_at', ARGV[7])
if ARGV[8] ~= '' then redis.call('HSET', key, 'last_seen_at', ARGV[8]) end
for i = 9, #ARGV, 2 do redis.call('HSET', key, ARGV[i], ARGV[i + 1]) end
local member = string.format('%020d', tonumber(ARGV[7])) .. ':' .. cid
redis.call('ZADD', P .. ':devices', 0, member)
redis.call('ZADD', P .. ':server-devices:' .. sid, 0, member)
return 1
"""

# ARGV: P, client_id
_REMOVE_DEVICE = r"""
local n = remove_device(ARGV[2])
if n == 1 then redis.call('INCR', P .. ':changes') end
return n
"""

# ARGV: P, client_id, now
_TOUCH_DEVICE = r"""
local key = P .. ':device:' .. ARGV[2]
if redis.call('EXISTS', key) == 1 then redis.call('HSET', key, 'last_seen_at', ARGV[3]) end
return 0
"""

# ARGV: P, event, then the row as JSON without its id (the script adds it)
_AUDIT = r"""
local id = redis.call('INCR', P .. ':audit-id')
local row = '{"id":' .. id .. ',' .. string.sub(ARGV[3], 2)
redis.call('RPUSH', P .. ':audit', row)
redis.call('RPUSH', P .. ':audit:' .. ARGV[2], row)
return id
"""


class RedisStore:
    """Redis implementation of :class:`~appserver.relay.store.RelayStore` (module docstring)."""

    def __init__(self, client: aioredis.Redis, url: str, prefix: str = PREFIX) -> None:
        self.client = client
        self.url = url
        self.prefix = prefix
        self._scripts = {
            name: client.register_script(_LUA_PRELUDE + body)
            for name, body in (
                ("add_account", _ADD_ACCOUNT), ("remove_account", _REMOVE_ACCOUNT),
                ("add_credential", _ADD_CREDENTIAL), ("add_server", _ADD_SERVER),
                ("update_server", _UPDATE_SERVER), ("add_host_token", _ADD_HOST_TOKEN),
                ("add_pairing", _ADD_PAIRING), ("claim", _CLAIM), ("remove_device", _REMOVE_DEVICE),
                ("touch_device", _TOUCH_DEVICE), ("audit", _AUDIT),
            )
        }

    @classmethod
    async def open(cls, url: str, *, prefix: str = PREFIX) -> RedisStore:
        """Connect and check with a PING; :class:`StoreError` with a safe message on failure."""
        try:
            client = aioredis.Redis.from_url(
                url,
                decode_responses=True,
                socket_connect_timeout=limits.RELAY_REDIS_CONNECT_TIMEOUT,
                socket_timeout=limits.RELAY_REDIS_COMMAND_TIMEOUT,
                health_check_interval=limits.RELAY_REDIS_HEALTH_CHECK_INTERVAL,
            )
        except ValueError as exc:
            raise StoreError(strings.RELAY_REDIS_URL_REFUSED.format(url=redacted(url), err=exc)) from None
        try:
            await client.ping()
        except (*UNREACHABLE, redis_errors.RedisError) as exc:
            await client.aclose()
            reason = _first_line(exc) or type(exc).__name__
            raise StoreError(strings.RELAY_REDIS_CANNOT_REACH.format(url=redacted(url), reason=reason)) from None
        return cls(client, url, prefix)

    def __repr__(self) -> str:
        return f"<RedisStore {redacted(self.url)} prefix={self.prefix}>"

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    async def _run(self, script: str, *args: Any) -> Any:
        return await self._scripts[script](keys=[], args=[self.prefix, *args])

    async def close(self) -> None:
        await self.client.aclose()

    @_guarded
    async def ping(self) -> None:
        await self.client.ping()

    @_guarded
    async def change_marker(self) -> int:
        return int(await self.client.get(self.key("changes")) or 0)

    # --- accounts -----------------------------------------------------------------------

    @_guarded
    async def add_account(self, name: str, account_id: str, credential: bytes, now: int) -> Account:
        if not await self._run("add_account", name, account_id, credential.hex(), now):
            raise StoreError(strings.RELAY_ACCOUNT_EXISTS.format(name=name))
        return Account(account_id, name, now)

    async def _account(self, account_id: str | None) -> Account | None:
        if not account_id:
            return None
        row = await self.client.hmget(self.key("account", account_id), "name", "created_at")
        return Account(account_id, row[0], int(row[1])) if row[0] is not None else None

    @_guarded
    async def accounts(self) -> list[Account]:
        ids = await self.client.smembers(self.key("accounts"))
        found = [a for a in [await self._account(i) for i in ids] if a is not None]
        return sorted(found, key=lambda a: a.name)

    @_guarded
    async def account_by_name(self, name: str) -> Account | None:
        return await self._account(await self.client.get(self.key("account-name", name)))

    @_guarded
    async def remove_account(self, name: str) -> Account | None:
        account = await self.account_by_name(name)
        if account is None:
            return None
        removed = await self._run("remove_account", name)
        return account if removed == account.account_id else None

    @_guarded
    async def add_credential(self, account_id: str, credential: bytes, now: int) -> None:
        await self._run("add_credential", account_id, credential.hex(), now,
                        limits.RELAY_MAX_CREDENTIALS_PER_ACCOUNT)

    @_guarded
    async def account_for_credential(self, credential: bytes) -> Account | None:
        return await self._account(await self.client.get(self.key("credential", credential.hex())))

    @_guarded
    async def server_count(self, account_id: str) -> int:
        return int(await self.client.scard(self.key("account-servers", account_id)))

    # --- servers ------------------------------------------------------------------------

    async def _server(self, server_id: str | None) -> Server | None:
        if not server_id:
            return None
        row = await self.client.hgetall(self.key("server", server_id))
        if not row:
            return None
        return Server(server_id=server_id, created_at=int(row["created_at"]),
                      **{name: row[name] for name in _SERVER_FIELDS})

    @_guarded
    async def server(self, server_id: str) -> Server | None:
        return await self._server(server_id)

    @_guarded
    async def server_by_environment(self, environment_id: str) -> Server | None:
        return await self._server(await self.client.get(self.key("server-env", environment_id)))

    @_guarded
    async def server_by_installation(self, account_id: str, installation_id: str) -> Server | None:
        return await self._server(await self.client.get(self.key("server-inst", account_id, installation_id)))

    @_guarded
    async def servers(self) -> list[Server]:
        ids = await self.client.zrange(self.key("servers"), 0, -1)
        return [s for s in [await self._server(i) for i in ids] if s is not None]

    @_guarded
    async def add_server(self, server: Server) -> None:
        answer = await self._run("add_server", server.server_id, server.created_at,
                                 *(getattr(server, name) for name in _SERVER_FIELDS))
        if answer != "ok":
            raise StoreError(strings.RELAY_STORE_ADD_SERVER_FAILED.format(answer=answer))

    @_guarded
    async def update_server(self, server: Server) -> None:
        await self._run("update_server", server.server_id, server.name, server.os, server.arch,
                        server.app_server_version)

    @_guarded
    async def add_host_token(self, server_id: str, token: bytes, expires_at: int, now: int) -> None:
        await self._run("add_host_token", server_id, token.hex(), expires_at, now,
                        limits.RELAY_HOST_TOKENS_PER_SERVER)

    @_guarded
    async def host_token_server(self, token: bytes, now: int) -> str | None:
        value = await self.client.get(self.key("host-token", token.hex()))
        if not value:
            return None
        server_id, _, expires_at = value.rpartition(" ")
        return server_id if int(expires_at) > now else None

    # --- pairing codes ------------------------------------------------------------------

    @_guarded
    async def add_pairing(self, pairing: Pairing, now: int) -> bool:
        answer = await self._run(
            "add_pairing", pairing.code_digest.hex(),
            pairing.manual_digest.hex() if pairing.manual_digest else "",
            pairing.server_id, now, pairing.expires_at, now - limits.RELAY_PAIRING_CODE_RETENTION,
            limits.RELAY_PAIRING_CODES_PER_SERVER,
        )
        if answer == -1:
            raise StoreError(strings.RELAY_STORE_PAIRING_UNKNOWN_SERVER)
        return bool(answer)

    async def _pairing(self, hex_code: str | None) -> Pairing | None:
        if not hex_code:
            return None
        row = await self.client.hgetall(self.key("pairing", hex_code))
        if not row:
            return None
        return Pairing(
            code_digest=bytes.fromhex(hex_code),
            manual_digest=bytes.fromhex(row["manual"]) if row.get("manual") else None,
            server_id=row["server_id"],
            expires_at=int(row["expires_at"]),
            claimed_by=row.get("claimed_by") or None,
        )

    @_guarded
    async def pairing_by_code(self, code: bytes) -> Pairing | None:
        return await self._pairing(code.hex())

    @_guarded
    async def pairing_by_manual(self, manual: bytes) -> Pairing | None:
        return await self._pairing(await self.client.get(self.key("pairing-manual", manual.hex())))

    @_guarded
    async def claim_pairing(self, code: bytes, device: Device, token: bytes, now: int) -> bool:
        pairs: list[Any] = []
        for name in _DEVICE_FIELDS:
            value = getattr(device, name)
            if value is not None:
                pairs += [name, value]
        answer = await self._run(
            "claim", code.hex(), now, device.client_id, device.server_id, token.hex(), device.created_at,
            "" if device.last_seen_at is None else device.last_seen_at, *pairs,
        )
        return bool(answer)

    # --- devices ------------------------------------------------------------------------

    @_guarded
    async def device_count(self, server_id: str) -> int:
        return int(await self.client.zcard(self.key("server-devices", server_id)))

    async def _device(self, client_id: str | None) -> Device | None:
        if not client_id:
            return None
        row = await self.client.hgetall(self.key("device", client_id))
        if not row:
            return None
        seen = row.get("last_seen_at")
        return Device(
            client_id=client_id, server_id=row["server_id"], created_at=int(row["created_at"]),
            last_seen_at=int(seen) if seen else None, **{name: row.get(name) for name in _DEVICE_FIELDS},
        )

    @_guarded
    async def device_for_token(self, token: bytes) -> Device | None:
        return await self._device(await self.client.get(self.key("device-token", token.hex())))

    @_guarded
    async def device(self, client_id: str) -> Device | None:
        return await self._device(client_id)

    @_guarded
    async def devices(
        self, server_id: str | None, *, after: tuple[int, str] | None, limit: int, descending: bool
    ) -> list[Device]:
        key = self.key("server-devices", server_id) if server_id is not None else self.key("devices")
        bound = f"({after[0]:020d}:{after[1]}" if after is not None else None
        if descending:
            members = await self.client.zrevrangebylex(key, bound or "+", "-", start=0, num=limit)
        else:
            members = await self.client.zrangebylex(key, bound or "-", "+", start=0, num=limit)
        found = [await self._device(m.partition(":")[2]) for m in members]  # <created>:<client>
        return [d for d in found if d is not None]

    @_guarded
    async def remove_device(self, client_id: str) -> Device | None:
        device = await self._device(client_id)
        if device is None:
            return None
        return device if await self._run("remove_device", client_id) else None

    @_guarded
    async def touch_device(self, client_id: str, now: int) -> None:
        await self._run("touch_device", client_id, now)

    @_guarded
    async def existing_devices(self, client_ids: Iterable[str]) -> set[str]:
        return await self._existing("device", client_ids)

    @_guarded
    async def existing_servers(self, server_ids: Iterable[str]) -> set[str]:
        return await self._existing("server", server_ids)

    async def _existing(self, kind: str, ids: Iterable[str]) -> set[str]:
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return set()
        async with self.client.pipeline(transaction=False) as pipe:
            for one in wanted:
                pipe.exists(self.key(kind, one))
            answers = await pipe.execute()
        return {one for one, there in zip(wanted, answers, strict=True) if there}

    # --- audit --------------------------------------------------------------------------

    @_guarded
    async def audit(
        self,
        event: str,
        now: int,
        *,
        account: str | None = None,
        server_id: str | None = None,
        client_id: str | None = None,
        peer: str | None = None,
        detail: str | None = None,
    ) -> None:
        row = {"ts": now, "event": event, "account": account, "server_id": server_id,
               "client_id": client_id, "peer": peer, "detail": detail}
        await self._run("audit", event, json.dumps(row, separators=(",", ":")))

    @_guarded
    async def audit_events(self, *, limit: int, event: str | None = None) -> list[AuditEvent]:
        key = self.key("audit", event) if event is not None else self.key("audit")
        rows = await self.client.lrange(key, -limit, -1)
        return [AuditEvent(**json.loads(row)) for row in rows]
