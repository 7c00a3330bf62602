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
from appserver.transports.frames import encoded_text_frames
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
            if message["method"] == "burst":
                # The texts, then the answer, as unmasked frames in ONE socket write (as
                # codex writes a streamed turn's deltas): the client reads them together.
                texts = [*message["params"]["texts"], json.dumps({"id": message["id"], "result": {}})]
                ws.transport.write(encoded_text_frames([t.encode() for t in texts], masked=False))
                continue
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


class FramePeer(FakePeer):
    """A WebSocket client's connection: takes notification frames verbatim unless the
    client opted out of their method (dropped) or ``writable`` is off (refused)."""

    def __init__(self, *, opted_out: tuple[str, ...] = (), writable: bool = True) -> None:
        super().__init__()
        self.opted_out = opted_out
        self.writable = writable
        #: What each pass_notification_frames call wrote: (frame bytes, count, size).
        self.writes: list[tuple[bytes, int, int]] = []

    takes_frames = True

    def notification_frame_fate(self, method: str) -> bool | None:
        return method not in self.opted_out

    def pass_notification_frames(self, frames: bytes, count: int, size: int) -> bool:
        if not self.writable:
            return False
        self.writes.append((frames, count, size))
        self.messages += [json.loads(payload) for payload in _unmasked_payloads(frames)]
        self._pulse()
        return True

    def pass_answer_frame(self, frame: bytes, request_id: Any, size: int) -> bool:
        return False  # the answer takes the text sink: it must come after the frames

    def backend_read_done(self) -> None:
        pass


def _unmasked_payloads(data: bytes) -> list[bytes]:
    """The payloads of unmasked text frames under 64 KiB (RFC 6455 §5.2), for checking."""
    payloads, pos = [], 0
    while pos < len(data):
        assert data[pos] == 0x81
        length, pos = data[pos + 1], pos + 2
        if length == 126:
            length, pos = int.from_bytes(data[pos : pos + 2], "big"), pos + 2
        payloads.append(data[pos : pos + length])
        pos += length
    return payloads


def _order(messages: list[dict[str, Any]]) -> list[Any]:
    """Each delivered message as its ``n`` (a notification of BURST) or its id."""
    return [m["params"]["n"] if "n" in m.get("params", {}) else m.get("id") for m in messages]


def _note(method: str, n: int) -> str:
    # serde_json's shape: "method" first, no spaces (what the frame path recognises).
    return json.dumps({"method": method, "params": {"n": n}}, separators=(",", ":"))


BURST = [
    _note("item/delta", 1),
    _note("noisy/event", 2),  # opted out
    _note("item/delta", 3),
    '{"id":7,"method":"item/approve","params":{}}',  # a server request: the text sink's
    _note("item/delta", 4),
    '{"method":"item/delta","params":{"n":5}',  # malformed: dropped with a warning
    _note("item/delta", 6),
]


async def test_a_burst_of_notifications_reaches_a_frame_client_verbatim_in_order(
    scripted: tuple[ScriptedServer, Path],
) -> None:
    _, path = scripted
    peer = FramePeer(opted_out=("noisy/event",))
    async with anyio.create_task_group() as tg:
        session = await _open(path, peer, attempts=2, tg=tg)
        answer = await peer.call(session, "burst", {"texts": BURST})
        assert answer == {"id": 1, "result": {}}
        order = _order(peer.messages)
        assert order == [1, 3, 7, 4, 6, 1]
        # The deltas went as codex's own frames: 1 and 3 in one write (joined across the
        # dropped one); whatever the text sink takes (the request, the malformed text)
        # first writes what was gathered before it: 4 alone, then 6 at the read's end.
        assert [count for _, count, _ in peer.writes] == [2, 1, 1]
        first = peer.writes[0]
        assert _unmasked_payloads(first[0]) == [BURST[0].encode(), BURST[2].encode()]
        assert first[2] == len(BURST[0]) + len(BURST[2])
        await session.aclose()
        tg.cancel_scope.cancel()


async def test_frames_the_client_cannot_take_are_delivered_as_messages_in_order(
    scripted: tuple[ScriptedServer, Path],
) -> None:
    _, path = scripted
    peer = FramePeer(opted_out=("noisy/event",), writable=False)
    async with anyio.create_task_group() as tg:
        session = await _open(path, peer, attempts=2, tg=tg)
        await peer.call(session, "burst", {"texts": BURST})
        order = _order(peer.messages)
        # The opted-out notification was dropped by its fate, as deliver() would.
        assert order == [1, 3, 7, 4, 6, 1] and peer.writes == []
        await session.aclose()
        tg.cancel_scope.cancel()


async def test_a_peer_without_a_frame_writer_gets_every_message_parsed(
    scripted: tuple[ScriptedServer, Path],
) -> None:
    _, path = scripted
    peer = FramePeer(opted_out=("noisy/event",))
    peer.takes_frames = False  # a stdio client, or a remote-control stream
    async with anyio.create_task_group() as tg:
        session = await _open(path, peer, attempts=2, tg=tg)
        await peer.call(session, "burst", {"texts": BURST})
        order = _order(peer.messages)
        # No frame was looked at: FakePeer's deliver_nowait keeps even the opted-out one
        # (the processor's own rules drop it; not the session's job).
        assert order == [1, 2, 3, 7, 4, 6, 1] and peer.writes == []
        await session.aclose()
        tg.cancel_scope.cancel()


async def test_probe_names_the_socket_when_nothing_listens(tmp_path: Path) -> None:
    with pytest.raises(BackendUnavailable) as err:
        await probe(tmp_path / "none.sock")
    assert str(err.value).startswith(f"cannot reach app-server at {tmp_path / 'none.sock'}: ")
