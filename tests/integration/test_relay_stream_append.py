"""One Redis command appends a batch of stream entries (appserver.relay.cluster_host._APPEND),
on a real redis-server: each frame one entry, in order, its last field whole, tabs and all."""

from __future__ import annotations

import pytest
from redis import asyncio as aioredis

from appserver.relay.cluster_host import _APPEND, append_row

pytestmark = pytest.mark.anyio


async def test_a_batch_becomes_one_entry_per_frame_in_order(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        key = "append-test:up:srv_1"
        await client.delete(key)
        frames: list[dict[str, str | int]] = [
            {"k": "m", "c": "client_1", "s": "stream_1", "q": 0, "m": '{"id":1,\t"method":"a\\tb"}'},
            {"k": "p", "c": "client_1", "s": "stream_1"},
            {"s": "stream_1", "q": 7, "e": "é\t"},
            {"e": ""},
        ]
        script = client.register_script(_APPEND)
        assert await script(keys=[key], args=[100, *[append_row(fields) for fields in frames]]) == 4
        entries = await client.xrange(key)
        assert [fields for _, fields in entries] == [
            {name: str(value) for name, value in fields.items()} for fields in frames
        ]
        # Bounded like any XADD ... MAXLEN ~ (approximate: whole macro nodes are trimmed).
        for _ in range(3):
            await script(keys=[key], args=[100, *[append_row(frames[1])] * 200])
        assert await client.xlen(key) < 400
    finally:
        await client.aclose()
