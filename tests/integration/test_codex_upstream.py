"""Upstream sessions against a scripted app-server (no codex): retries of -32001, loss.

The scripted server speaks WebSocket over a Unix socket like codex's control socket and
answers ``-32001 Server overloaded; retry later.`` as told, so the retry policy is
checked exactly (codex itself refuses only under real load: see the interop burst test).
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from websockets.asyncio.server import ServerConnection, unix_serve

from appserver import jsonrpc
from appserver.backends.codex.pacing import Backoff
from appserver.backends.codex.upstream import SessionRegistry, UpstreamSession, probe
from appserver.errors import BackendUnavailable
from tests.support.fake_peer import FakePeer

pytestmark = pytest.mark.anyio

OVERLOADED = {"code": -32001, "message": "Server overloaded; retry later."}


class ScriptedServer:
    """Refuses request ``id`` with -32001 ``busy[id]`` times, then answers it."""

    def __init__(self) -> None:
        self.busy: dict[Any, int] = {}
        self.seen: Counter[Any] = Counter()
        self.texts: list[str] = []

    async def handler(self, ws: ServerConnection) -> None:
        async for frame in ws:
            self.texts.append(frame)  # type: ignore[arg-type]
            message = json.loads(frame)
            if "method" not in message or "id" not in message:
                continue
            if message["method"] == "close-me":
                await ws.close(1011, "boom")
                return
            self.seen[message["id"]] += 1
            if self.seen[message["id"]] <= self.busy.get(message["id"], 0):
                await ws.send(json.dumps({"error": OVERLOADED, "id": message["id"]}))
            else:
                await ws.send(json.dumps({"id": message["id"], "result": {"n": self.seen[message["id"]]}}))


@pytest.fixture
async def scripted(tmp_path: Path) -> AsyncIterator[tuple[ScriptedServer, Path]]:
    script = ScriptedServer()
    path = tmp_path / "up.sock"
    async with await unix_serve(script.handler, str(path)):
        yield script, path


async def _open(path: Path, peer: FakePeer, attempts: int, tg: Any) -> UpstreamSession:
    policy = Backoff(0.001, 0.002, attempts, random.Random(0))

    async def explain(detail: str) -> str:
        return detail

    return await UpstreamSession.open(path, peer, policy, explain, SessionRegistry(), tg)


async def test_refused_requests_are_retried_and_the_client_sees_only_the_answer(
    scripted: tuple[ScriptedServer, Path],
) -> None:
    script, path = scripted
    script.busy = {1: 3, "s": 1}
    peer = FakePeer()
    async with anyio.create_task_group() as tg:
        session = await _open(path, peer, attempts=5, tg=tg)
        text = '{"id":1,  "method":"x","params":{"b":1,"a":2}}'
        await session.send(jsonrpc.parse(text))
        await session.send(jsonrpc.parse('{"id":"s","method":"y"}'))
        await peer.wait_until(lambda: len(peer.messages) == 2)
        assert sorted(m["result"]["n"] for m in peer.messages) == [2, 4]
        assert session.retries == 4
        # Every send, retries included, is the client's exact text.
        assert script.texts.count(text) == 4
        await session.aclose()
        tg.cancel_scope.cancel()
    assert peer.failures == []


async def test_when_retries_run_out_the_overload_error_reaches_the_client(
    scripted: tuple[ScriptedServer, Path],
) -> None:
    script, path = scripted
    script.busy = {5: 100}
    peer = FakePeer()
    async with anyio.create_task_group() as tg:
        session = await _open(path, peer, attempts=2, tg=tg)
        await session.send(jsonrpc.parse('{"id":5,"method":"x"}'))
        await peer.wait_until(lambda: peer.messages)
        assert peer.messages[0] == {"error": OVERLOADED, "id": 5}
        assert script.seen[5] == 3
        await session.aclose()
        tg.cancel_scope.cancel()


async def test_upstream_close_fails_the_session_with_its_reason(
    scripted: tuple[ScriptedServer, Path],
) -> None:
    _, path = scripted
    peer = FakePeer()
    async with anyio.create_task_group() as tg:
        session = await _open(path, peer, attempts=2, tg=tg)
        await session.send(jsonrpc.parse('{"id":1,"method":"close-me"}'))
        await peer.wait_until(lambda: peer.failures)
        assert peer.failures == ["app-server closed the session (close code 1011: boom)"]
        with pytest.raises(BackendUnavailable):
            for _ in range(3):  # the socket may take a moment to report the close
                await session.send(jsonrpc.parse('{"id":2,"method":"x"}'))
                await anyio.sleep(0.05)
        await session.aclose()
        tg.cancel_scope.cancel()


async def test_probe_names_the_socket_when_nothing_listens(tmp_path: Path) -> None:
    with pytest.raises(BackendUnavailable) as err:
        await probe(tmp_path / "none.sock")
    assert str(err.value).startswith(f"cannot reach app-server at {tmp_path / 'none.sock'}: ")
