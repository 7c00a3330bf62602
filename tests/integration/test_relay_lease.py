"""Host leases and cluster notices on a real redis-server (appserver.relay.lease, redis_store)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest
from redis import asyncio as aioredis

from appserver.relay import credentials
from appserver.relay.lease import Leases, parse_owner
from appserver.relay.redis_store import PREFIX, RedisStore
from appserver.relay.store import Device, Pairing, Server

pytestmark = pytest.mark.anyio

CHANNEL = f"{PREFIX}:events"


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    redis = aioredis.Redis.from_url(redis_url, decode_responses=True)
    yield redis
    await redis.aclose()


async def _notices(pubsub: aioredis.client.PubSub, count: int) -> list[str]:
    seen: list[str] = []
    with anyio.fail_after(10):
        while len(seen) < count:
            # None also for the (ignored) subscribe confirmation: read on.
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
            if message is not None:
                seen.append(message["data"])
    return seen


async def test_a_new_owner_takes_the_lease_over_and_the_old_one_cannot_keep_it(client: aioredis.Redis) -> None:
    node_a = Leases(client, PREFIX, "node-a", CHANNEL)
    node_b = Leases(client, PREFIX, "node-b", CHANNEL)
    async with client.pubsub() as pubsub:
        await pubsub.subscribe(CHANNEL)
        first = await node_a.acquire("srv_1")
        assert (first.node_id, first.epoch, first.previous_node) == ("node-a", 1, None)
        assert await node_a.renew(first)
        assert await node_b.owner("srv_1") == ("node-a", 1)
        # The host's link moved to node B: B takes the lease at once, A's is stale.
        second = await node_b.acquire("srv_1")
        assert (second.epoch, second.previous_node) == (2, "node-a")
        assert not await node_a.renew(first)
        assert not await node_a.release(first)  # cannot delete its successor's lease
        assert await node_a.owner("srv_1") == ("node-b", 2)
        ttl = await client.pttl(f"{PREFIX}:lease:srv_1")
        assert 0 < ttl <= node_b.ttl_ms
        assert await node_b.release(second)
        assert await node_a.owner("srv_1") is None
        assert await _notices(pubsub, 3) == ["online srv_1 node-a 1", "online srv_1 node-b 2", "offline srv_1 node-b"]
    assert parse_owner("garbage") is None and parse_owner("n 7") == ("n", 7)


async def test_removals_are_announced_to_every_node(client: aioredis.Redis, redis_url: str) -> None:
    store = await RedisStore.open(redis_url)
    try:
        await store.add_account("alice", "acct_a", credentials.digest("c"), 1)
        await store.add_server(Server("srv_1", "env_1", "acct_a", "inst", "vm", "linux", "x86_64", "1", 1))
        await store.add_pairing(Pairing(credentials.digest("code"), None, "srv_1", 10_000, None), 1)
        device = Device("client_1", "srv_1", None, None, None, None, None, None, 1, None)
        assert await store.claim_pairing(credentials.digest("code"), device, credentials.digest("dt"), 1)
        async with client.pubsub() as pubsub:
            await pubsub.subscribe(CHANNEL)
            await store.remove_device("client_1")
            await store.remove_device("client_1")  # nothing removed: nothing announced
            await store.remove_account("alice")
            assert await _notices(pubsub, 2) == ["revoke client_1", "server-removed srv_1"]
    finally:
        await store.close()
