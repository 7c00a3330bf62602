"""The direct path's sockets between relay nodes (appserver.relay.peers) on a real redis-server."""

from __future__ import annotations

import anyio
import pytest
from anyio.abc import SocketAttribute, SocketStream
from redis import asyncio as aioredis

from appserver.relay.peers import Peers

pytestmark = pytest.mark.anyio

PREFIX = "peers-test"


async def _nothing(frames: list[str]) -> None:
    pass


async def test_a_direct_socket_closed_during_its_handshake_is_dialed_again(redis_url: str) -> None:
    """A peer (or a balancer in front of it) that drops the connection before or during
    the WebSocket handshake: the node keeps dialing, it does not stop."""
    dialed = 0
    third = anyio.Event()

    async def drop(stream: SocketStream) -> None:
        nonlocal dialed
        dialed += 1
        if dialed == 2:
            await stream.receive()  # the handshake request, then no answer
        await stream.aclose()
        if dialed == 3:
            third.set()

    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    try:
        port = listener.extra(SocketAttribute.local_port)
        await client.set(f"{PREFIX}:node:n2", f"http://127.0.0.1:{port}")
        peers = Peers(client, PREFIX, "n1", _nothing, lambda frames: True)
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(listener.serve, drop)
            await tasks.start(peers.run)
            await peers.ready.wait()
            assert peers.send("n2", "u\tframe") is False  # not connected: dialing starts
            with anyio.fail_after(20):
                await third.wait()
            assert peers.send("n2", "u\tframe") is False and peers.connected == []
            tasks.cancel_scope.cancel()
    finally:
        await listener.aclose()
        await client.aclose()
