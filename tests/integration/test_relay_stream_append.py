"""A batch of stream entries is appended at once, all or none
(appserver.relay.cluster_host.append_entries), on a real redis-server: in order, every field
whole, tabs and all."""

from __future__ import annotations

import pytest
from redis import asyncio as aioredis

from appserver.relay.cluster_host import append_entries, up_entries
from appserver.relay.up_batches import rows

pytestmark = pytest.mark.anyio


async def test_a_batch_becomes_its_entries_in_order(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        key = "append-test:up:srv_1"
        await client.delete(key)
        entries = [{"i": "1:7:c1:s1", "b": 'x\t{"id":1,\t"method":"a\\tb"}'}, {"o": "1", "b": "é\t"}, {"e": ""}]
        await append_entries(client, key, 100, entries)
        assert [fields for _, fields in await client.xrange(key)] == entries
        await append_entries(client, key, 100, entries[:1])  # one entry: one XADD
        assert await client.xlen(key) == 4
        # Controller frames, 70 of them: three entries of up to 32, read back in order.
        frames = [("m", "client_1", "stream_1", n, f'{{"id":{n},"p":"\\t"}}') for n in range(70)]
        await client.delete(key)
        await append_entries(client, key, 100, up_entries(frames))
        stored = await client.xrange(key)
        assert len(stored) == 3
        assert [row for _, fields in stored for row in rows(fields)] == [
            (kind, client_id, stream_id, str(seq_id), message) for kind, client_id, stream_id, seq_id, message in frames
        ]
        # Bounded like any XADD ... MAXLEN ~ (approximate: whole macro nodes are trimmed).
        for _ in range(3):
            await append_entries(client, key, 100, [{"e": "x"}] * 200)
        assert await client.xlen(key) < 400
    finally:
        await client.aclose()
