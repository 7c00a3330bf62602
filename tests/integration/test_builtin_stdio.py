"""The built-in backend over real stdio: a thread, a turn, the echo streamed in order."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.support.gateway import StdioChannel, stdio_gateway
from tests.support.launcher import appserver_env
from tests.support import deadlines

pytestmark = pytest.mark.anyio


class Transcript:
    """Every message read from the gateway, in order, over the stdio gateway's channel."""

    def __init__(self, channel: StdioChannel) -> None:
        self.channel = channel
        self.received: list[dict[str, Any]] = []

    async def send(self, message: dict[str, Any]) -> None:
        await self.channel.send(json.dumps(message))

    async def read_until(self, predicate: Any) -> dict[str, Any]:
        with anyio.fail_after(deadlines.STEP):  # a deadline against hangs, not a timing assertion
            while True:
                message = json.loads(await self.channel.recv())
                self.received.append(message)
                if predicate(message):
                    return message

    async def request(self, request_id: int, method: str, params: Any) -> dict[str, Any]:
        await self.send({"id": request_id, "method": method, "params": params})
        answer = await self.read_until(lambda m: m.get("id") == request_id and "method" not in m)
        assert "result" in answer, answer
        return answer["result"]


async def test_turn_streams_echo_over_stdio(tmp_path: Path) -> None:
    async with stdio_gateway(["--backend", "builtin"], appserver_env(tmp_path)) as gw:
        client = Transcript(gw.channel)
        init = await client.request(
            1, "initialize", {"clientInfo": {"name": "itest", "title": None, "version": "1"}}
        )
        assert init["codexHome"] == str(tmp_path)
        await client.send({"method": "initialized"})
        thread = (await client.request(2, "thread/start", {"cwd": str(tmp_path)}))["thread"]
        turn = (
            await client.request(
                3,
                "turn/start",
                {"threadId": thread["id"], "input": [{"type": "text", "text": "hello"}]},
            )
        )["turn"]
        await client.read_until(lambda m: m.get("method") == "turn/completed")
        await gw.channel.close_input()
        status = await gw.server.wait()

    # Everything after the turn/start answer (so the answer came before the first event).
    answer_at = next(i for i, m in enumerate(client.received) if m.get("id") == 3)
    stream = [m for m in client.received[answer_at + 1 :] if "method" in m]
    methods = [m["method"] for m in stream]
    deltas = [m for m in stream if m["method"] == "item/agentMessage/delta"]
    assert len(deltas) >= 2
    first, last = (
        methods.index("item/agentMessage/delta"),
        len(methods) - 1 - methods[::-1].index("item/agentMessage/delta"),
    )
    assert methods[:first] == [
        "thread/status/changed",
        "turn/started",
        "item/started",
        "item/completed",
        "item/started",
    ]
    assert set(methods[first : last + 1]) == {"item/agentMessage/delta"}
    assert methods[last + 1 :] == ["item/completed", "thread/status/changed", "turn/completed"]
    assert "".join(m["params"]["delta"] for m in deltas) == "echo: hello"
    assert all(m["params"]["threadId"] == thread["id"] for m in stream)
    assert all(
        m["params"]["turnId"] == turn["id"] for m in stream if m["method"].startswith("item/")
    )
    assert stream[2]["params"]["item"]["type"] == "userMessage"
    assert stream[4]["params"]["item"]["type"] == "agentMessage"
    completed = stream[-1]["params"]["turn"]
    assert completed["status"] == "completed" and completed["items"][0]["text"] == "echo: hello"
    assert all(isinstance(m["emittedAtMs"], int) for m in stream)
    assert not [
        m for m in client.received[:answer_at] if m.get("method", "").startswith(("turn/", "item/"))
    ]
    assert status == 0
