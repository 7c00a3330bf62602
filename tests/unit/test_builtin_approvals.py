"""The built-in agent's ``!run CMD`` approval path, driven through fake peers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from appserver import jsonrpc
from appserver.backends.builtin import BuiltinBackend
from appserver.backends.builtin.approvals import METHOD, approves, run_command
from tests.support.fake_peer import FakePeer


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("!run ls -la", "ls -la"),
        ("  !run   rm -rf /tmp/x  ", "rm -rf /tmp/x"),
        ("!run\techo a\nb", "echo a\nb"),
        ("!run", None),
        ("!run   ", None),
        ("!runner x", None),
        ("run ls", None),
        ("please !run ls", None),
    ],
)
def test_run_command_parsing(text: str, command: str | None) -> None:
    assert run_command(text) == command


@pytest.mark.parametrize(
    ("answer", "approved"),
    [
        ({"id": 0, "result": {"decision": "accept"}}, True),
        ({"id": 0, "result": {"decision": "acceptForSession"}}, True),
        (
            {"id": 0, "result": {"decision": {"acceptWithExecpolicyAmendment": {"execpolicy_amendment": ["ls"]}}}},
            True,
        ),
        ({"id": 0, "result": {"decision": "decline"}}, False),
        ({"id": 0, "result": {"decision": "cancel"}}, False),
        ({"id": 0, "result": {}}, False),
        ({"id": 0, "result": None}, False),
        ({"id": 0, "error": {"code": -32601, "message": "no"}}, False),
    ],
)
def test_decisions(answer: dict[str, Any], approved: bool) -> None:
    assert approves(answer) is approved


@pytest.fixture
async def backend(tmp_path: Path) -> AsyncIterator[BuiltinBackend]:
    backend = BuiltinBackend(tmp_path)
    async with backend.running():
        yield backend


async def _thread(backend: BuiltinBackend) -> tuple[FakePeer, Any, str]:
    peer = FakePeer()
    session = await backend.open_session(peer)
    answer = await peer.call(session, "thread/start", {})
    return peer, session, answer["result"]["thread"]["id"]


async def _start_run(peer: FakePeer, session: Any, thread_id: str, text: str) -> str:
    answer = await peer.call(
        session, "turn/start", {"threadId": thread_id, "input": [{"type": "text", "text": text}]}
    )
    return answer["result"]["turn"]["id"]


def _agent_text(peer: FakePeer, turn_id: str) -> str:
    completed = next(
        m
        for m in peer.notifications("turn/completed")
        if m["params"]["turn"]["id"] == turn_id
    )
    assert completed["params"]["turn"]["status"] in ("completed", "interrupted")
    items = [
        m["params"]["item"]
        for m in peer.notifications("item/completed")
        if m["params"]["turnId"] == turn_id and m["params"]["item"]["type"] == "agentMessage"
    ]
    assert len(items) == 1
    return items[0]["text"]


async def _answer(session: Any, request_id: Any, decision: str) -> None:
    await session.send(
        jsonrpc.Message.from_payload(jsonrpc.response(request_id, {"decision": decision}))
    )


@pytest.mark.anyio
@pytest.mark.parametrize(("decision", "word"), [("accept", "approved"), ("decline", "declined")])
async def test_run_asks_then_replies_with_the_decision(
    backend: BuiltinBackend, decision: str, word: str
) -> None:
    peer, session, thread_id = await _thread(backend)
    turn_id = await _start_run(peer, session, thread_id, "!run touch /tmp/never-created")
    ask = await peer.wait_for(lambda m: m.get("method") == METHOD)
    params = ask["params"]
    assert isinstance(ask["id"], int)
    assert params["command"] == "touch /tmp/never-created"
    assert (params["threadId"], params["turnId"], params["kind"]) == (thread_id, turn_id, "command")
    assert params["availableDecisions"] == ["accept", "decline"]
    assert params["commandActions"] == [{"type": "unknown", "command": "touch /tmp/never-created"}]
    assert not peer.notifications("turn/completed")  # the turn waits for the answer

    await _answer(session, ask["id"], decision)
    await peer.wait_for(lambda m: m.get("method") == "turn/completed")
    assert _agent_text(peer, turn_id) == f"{word}: touch /tmp/never-created"
    resolved = peer.notifications("serverRequest/resolved")
    assert [r["params"] for r in resolved] == [{"threadId": thread_id, "requestId": ask["id"]}]
    assert not Path("/tmp/never-created").exists()
    assert len(backend.approvals) == 0


@pytest.mark.anyio
async def test_every_subscriber_is_asked_and_the_first_answer_wins(backend: BuiltinBackend) -> None:
    peer, session, thread_id = await _thread(backend)
    other = FakePeer()
    other_session = await backend.open_session(other)
    await other.call(other_session, "thread/resume", {"threadId": thread_id})
    outsider = FakePeer()
    outsider_session = await backend.open_session(outsider)

    turn_id = await _start_run(peer, session, thread_id, "!run make deploy")
    ask = await other.wait_for(lambda m: m.get("method") == METHOD)
    assert (await peer.wait_for(lambda m: m.get("method") == METHOD))["id"] == ask["id"]

    await _answer(outsider_session, ask["id"], "accept")  # not asked: ignored
    await _answer(session, 999, "accept")  # no such request: ignored
    assert len(backend.approvals) == 1
    await _answer(other_session, ask["id"], "decline")
    await _answer(session, ask["id"], "accept")  # too late: ignored
    await peer.wait_for(lambda m: m.get("method") == "turn/completed")
    assert _agent_text(peer, turn_id) == "declined: make deploy"
    await other.wait_for(lambda m: m.get("method") == "serverRequest/resolved")


@pytest.mark.anyio
async def test_an_error_answer_declines(backend: BuiltinBackend) -> None:
    peer, session, thread_id = await _thread(backend)
    turn_id = await _start_run(peer, session, thread_id, "!run ls")
    ask = await peer.wait_for(lambda m: m.get("method") == METHOD)
    await session.send(
        jsonrpc.Message.from_payload(jsonrpc.error(ask["id"], -32601, "cannot answer"))
    )
    await peer.wait_for(lambda m: m.get("method") == "turn/completed")
    assert _agent_text(peer, turn_id) == "declined: ls"


@pytest.mark.anyio
async def test_interrupt_withdraws_the_request(backend: BuiltinBackend) -> None:
    peer, session, thread_id = await _thread(backend)
    turn_id = await _start_run(peer, session, thread_id, "!run sleep 100")
    ask = await peer.wait_for(lambda m: m.get("method") == METHOD)
    answer = await peer.call(session, "turn/interrupt", {"threadId": thread_id, "turnId": turn_id})
    assert answer["result"] == {}
    completed = await peer.wait_for(lambda m: m.get("method") == "turn/completed")
    assert completed["params"]["turn"]["status"] == "interrupted"
    assert _agent_text(peer, turn_id) == ""
    assert peer.notifications("serverRequest/resolved")[0]["params"]["requestId"] == ask["id"]
    assert len(backend.approvals) == 0
    # The thread takes the next turn normally.
    turn_id = await _start_run(peer, session, thread_id, "hello")
    await peer.wait_for(
        lambda m: m.get("method") == "turn/completed" and m["params"]["turn"]["id"] == turn_id
    )
    assert _agent_text(peer, turn_id) == "echo: hello"
