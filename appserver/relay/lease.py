"""Host leases: which relay node owns a host (holds its link and feeds it) — docs/relay.md "Cluster".

A lease is one Redis key ``<prefix>:lease:<server_id>`` = ``"<node_id> <epoch>"`` with a TTL
(``RELAY_LEASE_TTL``), renewed by its owner every ``RELAY_LEASE_RENEW`` seconds. The node
that gets a host's link takes the lease **over** unconditionally: a host keeps one link, so
wherever it is connected now is where it is; the epoch (a per-host counter) tells an old
owner apart from a new one. Renewing and releasing compare node and epoch first, so an old
owner can neither extend nor delete its successor's lease. Every change is announced on the
cluster's events channel (``online`` / ``offline``), and an owner that finds its lease gone
(taken over, or expired while it was partitioned) learns it at its next renewal.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis import asyncio as aioredis

from appserver import limits

# KEYS: none (standalone Redis). ARGV: prefix, server_id, node_id, ttl_ms, channel
_ACQUIRE = r"""
local P, sid, node = ARGV[1], ARGV[2], ARGV[3]
local epoch = redis.call('INCR', P .. ':lease-epoch:' .. sid)
local previous = redis.call('GET', P .. ':lease:' .. sid)
redis.call('SET', P .. ':lease:' .. sid, node .. ' ' .. epoch, 'PX', ARGV[4])
redis.call('PUBLISH', ARGV[5], 'online ' .. sid .. ' ' .. node .. ' ' .. epoch)
if previous then return {epoch, previous} end
return {epoch, ''}
"""

# ARGV: prefix, server_id, "node epoch", ttl_ms
_RENEW = r"""
local key = ARGV[1] .. ':lease:' .. ARGV[2]
if redis.call('GET', key) ~= ARGV[3] then return 0 end
redis.call('PEXPIRE', key, ARGV[4])
return 1
"""

# ARGV: prefix, server_id, "node epoch", channel, node
_RELEASE = r"""
local key = ARGV[1] .. ':lease:' .. ARGV[2]
if redis.call('GET', key) ~= ARGV[3] then return 0 end
redis.call('DEL', key)
redis.call('PUBLISH', ARGV[4], 'offline ' .. ARGV[2] .. ' ' .. ARGV[5])
return 1
"""


@dataclass(frozen=True, slots=True)
class Lease:
    server_id: str
    node_id: str
    epoch: int
    #: The node that held it before (``None`` when nobody did): a takeover.
    previous_node: str | None = None

    @property
    def value(self) -> str:
        return f"{self.node_id} {self.epoch}"


def parse_owner(value: str | None) -> tuple[str, int] | None:
    """``(node_id, epoch)`` of a lease value, ``None`` when there is no (valid) lease."""
    if not value:
        return None
    node, _, epoch = value.partition(" ")
    return (node, int(epoch)) if node and epoch.isdigit() else None


class Leases:
    """The lease operations of one node (atomic Lua scripts on the shared Redis)."""

    def __init__(self, client: aioredis.Redis, prefix: str, node_id: str, channel: str) -> None:
        self.client = client
        self.prefix = prefix
        self.node_id = node_id
        self.channel = channel
        self._acquire = client.register_script(_ACQUIRE)
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    def __repr__(self) -> str:
        return f"<Leases node={self.node_id}>"

    @property
    def ttl_ms(self) -> int:
        return int(limits.RELAY_LEASE_TTL * 1000)

    async def acquire(self, server_id: str) -> Lease:
        """Take the host's lease (over from whoever held it)."""
        epoch, previous = await self._acquire(
            keys=[], args=[self.prefix, server_id, self.node_id, self.ttl_ms, self.channel]
        )
        owner = parse_owner(previous)
        return Lease(server_id, self.node_id, int(epoch), owner[0] if owner else None)

    async def renew(self, lease: Lease) -> bool:
        """False when the lease is no longer ours (taken over, or expired)."""
        return bool(await self._renew(keys=[], args=[self.prefix, lease.server_id, lease.value, self.ttl_ms]))

    async def release(self, lease: Lease) -> bool:
        return bool(await self._release(
            keys=[], args=[self.prefix, lease.server_id, lease.value, self.channel, self.node_id]
        ))

    async def owner(self, server_id: str) -> tuple[str, int] | None:
        return parse_owner(await self.client.get(f"{self.prefix}:lease:{server_id}"))
