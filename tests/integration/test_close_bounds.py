"""Every close and the whole shutdown are bounded, even with a client that does not read.

Bounds (appserver/limits.py): once a connection is asked to close, its last writes get
CLOSE_FLUSH_TIMEOUT, then the close handshake WEBSOCKET_CLOSE_TIMEOUT, then the socket is
dropped; a first SIGTERM adds SHUTDOWN_DRAIN_TIMEOUT before that; a second one stops at
once. The tests await the events (the process exiting, close frames); the launcher's
deadline only guards against a hang.
"""

from __future__ import annotations

import json
import signal
import socket
from pathlib import Path

import anyio
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.client import ClientProtocol
from websockets.uri import parse_uri

from appserver import limits
from appserver.close import CloseCode
from appserver.processor import OverflowPolicy, Processor
from appserver.transports.base import run_connection
from tests.support.fakes import FakeBackend
from tests.support.launcher import APPSERVER, appserver_env, launch

pytestmark = pytest.mark.anyio

#: Answers owed to the client that stops reading: several MB, more than socket buffers.
OWED = 12_000


def _initialize(request_id: int = 0) -> str:
    return json.dumps(
        {"id": request_id, "method": "initialize", "params": {"clientInfo": {"name": "t", "version": "1"}}}
    )


def _stop_reading_while_owed(url: str, port: int) -> socket.socket:
    """A client that sends OWED requests and never reads a byte of the answers (blocking
    socket calls: run it in a thread)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    protocol = ClientProtocol(parse_uri(url))
    protocol.send_request(protocol.connect())
    sock.sendall(b"".join(protocol.data_to_send()))
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)  # the 101 response, byte by byte: nothing after it is read
    protocol.receive_data(head)
    protocol.send_text(_initialize().encode())
    for i in range(1, OWED):
        protocol.send_text(json.dumps({"id": i, "method": "model/list", "params": {}}).encode())
    sock.sendall(b"".join(protocol.data_to_send()))
    return sock


async def _neighbour(url: str) -> ClientConnection:
    neighbour = await connect(url, max_size=None)
    await neighbour.send(_initialize(1))
    json.loads(await neighbour.recv())
    return neighbour


@pytest.mark.parametrize("signals", [1, 2])
async def test_sigterm_finishes_while_a_client_is_owed_thousands_of_answers(
    tmp_path: Path, signals: int
) -> None:
    argv = [*APPSERVER, "serve", "--backend", "builtin", "--listen", "ws://127.0.0.1:0"]
    async with launch(argv, env=appserver_env(tmp_path, LOG_LEVEL="INFO")) as server:
        match = await server.line_matching(r"listening on: (ws://127\.0\.0\.1:(\d+))")
        url, port = match.group(1), int(match.group(2))
        stuck = await anyio.to_thread.run_sync(_stop_reading_while_owed, url, port)
        neighbour = await _neighbour(url)
        for _ in range(signals):
            server.signal(signal.SIGTERM)
        await server.line_matching("draining")
        await neighbour.wait_closed()
        assert neighbour.close_code == CloseCode.GOING_AWAY
        assert await server.wait() == 0  # before the bounds: still running minutes later
        assert "Traceback" not in server.stderr
        stuck.close()


async def test_a_close_returns_while_the_writer_is_blocked(monkeypatch: pytest.MonkeyPatch) -> None:
    """A client that stopped reading is dropped once closed (e.g. 1008 slow client)."""
    monkeypatch.setattr(limits, "CLOSE_FLUSH_TIMEOUT", 0.0)
    processor = Processor(FakeBackend())
    conn = processor.register("test", OverflowPolicy.DISCONNECT)
    blocked = anyio.Event()
    never = anyio.Event()
    incoming_send, incoming = anyio.create_memory_object_stream[str](1)

    async def send_batch(batch: list[str]) -> None:
        blocked.set()
        await never.wait()  # the socket never drains

    async def frames():  # type: ignore[no-untyped-def]
        async with incoming:
            async for text in incoming:
                yield text

    async with anyio.create_task_group() as tg:
        async def serve() -> None:
            close = await run_connection(conn, frames(), send_batch, drain_on_eof=False)
            assert close.code == CloseCode.POLICY_VIOLATION

        tg.start_soon(serve)
        await incoming_send.send(_initialize())
        await blocked.wait()
        conn.close(CloseCode.POLICY_VIOLATION, "slow", flush=False)
    assert processor.connections == []
