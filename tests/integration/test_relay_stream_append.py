"""A node's writer into a host's Redis stream (appserver.relay.cluster_host.StreamWriter),
on a real redis-server: what is queued is appended in order as entries of up to
RELAY_CLUSTER_WRITE_BATCH, every field whole (tabs and all), the ``done`` values told once
Redis has their entry."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import anyio
import pytest
from prometheus_client import CollectorRegistry, Counter
from redis import asyncio as aioredis

from appserver import limits
from appserver.relay.cluster_host import StreamWriter
from appserver.relay.up_batches import pack, rows

pytestmark = pytest.mark.anyio


async def test_queued_frames_become_entries_of_the_write_batch_in_order(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    counter = Counter("written", "", registry=CollectorRegistry())
    node = SimpleNamespace(client=client, metrics=SimpleNamespace(redis_errors=counter, forwarded_to={"to_host": counter}))
    key = "append-test:up:srv_1"
    frames = [("m", "client_1", "stream_1", n, f'{{"id":{n},"p":"é\\t"}}') for n in range(70)]
    try:
        await client.delete(key)
        done: list[int] = []
        all_done = anyio.Event()

        def written(items: list[tuple[str, str, str, int, str]]) -> None:
            done.extend(item[3] for item in items)
            if len(done) == len(frames):
                all_done.set()

        writer = StreamWriter(cast(Any, node), key, 100, "to_host", 512, pack, written)

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(writer.run)
            for frame in frames:
                assert writer.put(frame)
            writer.urgent()
            with anyio.fail_after(10):
                await all_done.wait()
            tasks.cancel_scope.cancel()
        assert done == list(range(70))
        stored = await client.xrange(key)
        assert [len(rows(fields)) for _, fields in stored] == [limits.RELAY_CLUSTER_WRITE_BATCH] * 2 + [6]
        assert [row for _, fields in stored for row in rows(fields)] == [
            (kind, client_id, stream_id, str(seq_id), message) for kind, client_id, stream_id, seq_id, message in frames
        ]
    finally:
        await client.aclose()
