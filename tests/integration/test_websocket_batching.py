"""A batch of frames goes out in one socket write (``transports.websocket.send_texts``)."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from websockets.asyncio.client import unix_connect
from websockets.asyncio.server import ServerConnection, unix_serve

from appserver.transports.unix_path import UDS_WEBSOCKET_URI
from appserver.transports.websocket import send_texts
from tests.support import deadlines

pytestmark = pytest.mark.anyio

TEXTS = [f'{{"method":"item/agentMessage/delta","params":{{"delta":"{i} é"}}}}' for i in range(200)]


@pytest.mark.parametrize("compression", [None, "deflate"])
async def test_a_batch_is_one_write_and_arrives_whole_and_in_order(
    short_tmp: Path, compression: str | None
) -> None:
    writes: list[int] = []
    batch_writes: list[int] = []
    sent = anyio.Event()

    async def handler(ws: ServerConnection) -> None:
        write = ws.transport.write

        def counting_write(data: bytes) -> None:
            writes.append(len(data))
            write(data)

        ws.transport.write = counting_write  # type: ignore[method-assign]
        await ws.recv()
        await send_texts(ws, TEXTS)
        batch_writes.extend(writes)
        sent.set()
        await ws.wait_closed()

    sock = str(short_tmp / "ws.sock")
    async with unix_serve(handler, sock, compression=compression):
        async with unix_connect(sock, UDS_WEBSOCKET_URI, compression=compression) as client:
            await client.send("go")
            received = [await client.recv() for _ in TEXTS]
            await sent.wait()
    assert received == TEXTS
    assert len(batch_writes) == 1, batch_writes


async def test_sending_on_a_closed_connection_raises_connection_closed(short_tmp: Path) -> None:
    from websockets.exceptions import ConnectionClosed

    outcome: list[str] = []
    done = anyio.Event()

    async def handler(ws: ServerConnection) -> None:
        await ws.wait_closed()
        try:
            await send_texts(ws, TEXTS[:3])
        except ConnectionClosed:
            outcome.append("closed")
        done.set()

    sock = str(short_tmp / "ws.sock")
    async with unix_serve(handler, sock):
        async with unix_connect(sock, UDS_WEBSOCKET_URI) as client:
            await client.close()
        with anyio.fail_after(deadlines.STEP):
            await done.wait()
    assert outcome == ["closed"]
