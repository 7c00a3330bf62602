"""The built-in backend's logic, driven through fake peers (no sockets, no processor)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from appserver import jsonrpc, limits
from appserver.backends.builtin import BuiltinBackend, methods
from appserver.backends.builtin.agent import chunks, input_text, reply
from appserver.backends.builtin.params import uuid_problem
from appserver.backends.builtin.threads import Thread, ThreadStore
from tests.support.fake_peer import FakePeer

pytestmark = pytest.mark.anyio

TURN_SEQUENCE = [
    "thread/status/changed",
    "turn/started",
    "item/started",
    "item/completed",
    "item/started",
    "item/agentMessage/delta",
    "item/completed",
    "thread/status/changed",
    "turn/completed",
]


@pytest.fixture
async def backend(tmp_path: Path) -> AsyncIterator[BuiltinBackend]:
    backend = BuiltinBackend(tmp_path)
    async with backend.running():
        yield backend


async def _connect(backend: BuiltinBackend, **kwargs: Any) -> tuple[FakePeer, Any]:
    peer = FakePeer(**kwargs)
    return peer, await backend.open_session(peer)


async def _start_thread(peer: FakePeer, session: Any, **params: Any) -> str:
    answer = await peer.call(session, "thread/start", params)
    return answer["result"]["thread"]["id"]


async def _turn(peer: FakePeer, session: Any, thread_id: str, text: str) -> list[dict[str, Any]]:
    """Run one turn; the notifications of that turn, from turn/start's answer on."""
    before = len(peer.messages)
    answer = await peer.call(
        session, "turn/start", {"threadId": thread_id, "input": [{"type": "text", "text": text}]}
    )
    turn_id = answer["result"]["turn"]["id"]
    await peer.wait_for(
        lambda m: m.get("method") == "turn/completed" and m["params"]["turn"]["id"] == turn_id
    )
    return [m for m in peer.messages[before:] if "method" in m]


def _compress(names: list[str]) -> list[str]:
    """Collapse runs of deltas to one entry, to compare sequences."""
    out: list[str] = []
    for name in names:
        if not (out and out[-1] == name == "item/agentMessage/delta"):
            out.append(name)
    return out


# --- sans-I/O pieces ----------------------------------------------------------------------


def test_reply_is_echo_and_chunks_reassemble() -> None:
    assert reply("hello") == "echo: hello"
    text = "echo: " + "x" * 200 + " two  words\nand lines"
    parts = chunks(text, max_chars=64)
    assert "".join(parts) == text
    assert len(parts) > 3 and all(0 < len(part) <= 64 for part in parts)
    assert chunks("echo: hello") == ["echo: ", "hello"]


def test_structured_reply_fills_required_strings() -> None:
    schema = {
        "type": "object",
        "properties": {"title": {"type": "string", "maxLength": 12}, "n": {"type": "integer"}},
        "required": ["title", "n"],
    }
    assert json.loads(reply("Generate a title.\n\nUser prompt:\nhello there", schema)) == {
        "title": "echo: hello "[:12]
    }


def test_input_text_joins_text_inputs_only() -> None:
    items = [
        {"type": "text", "text": "a"},
        {"type": "image", "url": "x"},
        {"type": "text", "text": "b"},
    ]
    assert input_text(items) == "a\nb"


def test_uuid_problems_use_the_uuid_crate_wording() -> None:
    assert uuid_problem("01a200ef-32a9-75a1-84ea-8d765ad3de7f") is None
    assert uuid_problem("urn:uuid:01a200ef-32a9-75a1-84ea-8d765ad3de7f") is None
    assert uuid_problem("not-a-uuid") == (
        "invalid character: expected an optional prefix of `urn:uuid:` followed by "
        "[0-9a-fA-F-], found `n` at 1"
    )
    assert uuid_problem("abc") == "invalid length: expected length 32 for simple format, found 3"


def test_method_table_matches_upstream_error_text() -> None:
    assert len(methods.CLIENT_METHODS) == 187 == len(set(methods.CLIENT_METHODS))
    assert methods.CLIENT_METHODS[:2] == ("initialize", "server/diagnostics")
    assert methods.CLIENT_METHODS[-1] == "fuzzyFileSearch/sessionStop"
    assert methods.EXPERIMENTAL_METHODS <= set(methods.CLIENT_METHODS)
    assert methods.experimental_reason("thread/start", {"mockExperimentalField": None}) is None
    assert (
        methods.experimental_reason("thread/start", {"mockExperimentalField": "x"})
        == "thread/start.mockExperimentalField"
    )


def _thread(n: int, *, ephemeral: bool = False) -> Thread:
    return Thread(
        id=f"00000000-0000-7000-8000-{n:012d}",
        cwd="/",
        ephemeral=ephemeral,
        originator="t",
        thread_source=None,
        approval_policy="on-request",
        approvals_reviewer="user",
        sandbox={"type": "readOnly"},
    )


def test_store_forgets_least_recently_updated_idle_threads() -> None:
    store = ThreadStore(max_threads=2)
    first, second = store.add(_thread(1)), store.add(_thread(2))
    store.new_turn(second)  # a running turn protects the thread
    store.add(_thread(3))
    assert [t.id for t in store] == [second.id, _thread(3).id]
    assert first.id not in store


def test_store_caps_turns_per_thread() -> None:
    store = ThreadStore(max_turns=3)
    thread = store.add(_thread(1))
    turns = []
    for _ in range(5):
        turns.append(store.new_turn(thread))
        turns[-1].status = "completed"
        store.turn_finished(thread, turns[-1])
    assert thread.turns == turns[-3:]


def test_ephemeral_thread_goes_with_its_last_subscriber() -> None:
    store = ThreadStore()
    thread = store.add(_thread(1, ephemeral=True))
    peer = FakePeer()
    store.subscribe(thread, peer)
    assert store.unsubscribe(thread, peer.id) is True
    assert thread.id not in store


# --- through sessions ---------------------------------------------------------------------


async def test_unknown_method_has_upstream_shape(backend: BuiltinBackend) -> None:
    rejection = backend.reject_method("foo")
    assert rejection is not None and rejection.code == -32600
    assert rejection.message.startswith(
        "Invalid request: unknown variant `foo`, expected one of "
        "`initialize`, `server/diagnostics`, "
    )
    assert rejection.message.endswith(
        "`fuzzyFileSearch/sessionUpdate`, `fuzzyFileSearch/sessionStop`"
    )
    assert backend.reject_method("turn/start") is None
    assert backend.reject_method("fs/readFile") is None  # known upstream: answered by the session


async def test_unimplemented_upstream_method_is_method_not_found(backend: BuiltinBackend) -> None:
    peer, session = await _connect(backend)
    answer = await peer.call(session, "fs/readFile", {"path": "/etc/hostname"})
    assert answer["error"] == {
        "code": -32601,
        "message": "`fs/readFile` is not supported by the built-in offline backend",
    }


async def test_experimental_gating(backend: BuiltinBackend) -> None:
    peer, session = await _connect(backend, experimental=False)
    answer = await peer.call(session, "collaborationMode/list", {})
    assert answer["error"] == {
        "code": -32600,
        "message": "collaborationMode/list requires experimentalApi capability",
    }
    answer = await peer.call(session, "thread/start", {"mockExperimentalField": "x"})
    assert (
        answer["error"]["message"]
        == "thread/start.mockExperimentalField requires experimentalApi capability"
    )
    answer = await peer.call(session, "thread/start", {"mockExperimentalField": None})
    assert "result" in answer
    opted, opted_session = await _connect(backend, experimental=True)
    assert "result" in await opted.call(opted_session, "collaborationMode/list", {})


async def test_initialize_answers_like_codex(backend: BuiltinBackend, tmp_path: Path) -> None:
    peer, session = await _connect(backend)
    answer = await peer.call(
        session,
        "initialize",
        {"clientInfo": {"name": "codex-tui", "title": None, "version": "0.169.0"}},
    )
    result = answer["result"]
    assert set(result) == {"userAgent", "codexHome", "platformFamily", "platformOs"}
    assert result["codexHome"] == str(tmp_path)
    # The TUI's server version: the first token after the first `/` (clients.md A6.2.3).
    assert result["userAgent"].split("/", 1)[1].split()[0] == "0.169.0"
    assert result["userAgent"].startswith("codex-tui/")


async def test_account_is_signed_in_with_an_api_key(backend: BuiltinBackend) -> None:
    peer, session = await _connect(backend)
    result = (await peer.call(session, "account/read", {}))["result"]
    assert result["account"] == {"type": "apiKey"} and result["requiresOpenaiAuth"] is False
    answer = await peer.call(session, "account/read", omit_params=True)
    assert answer["error"] == {"code": -32600, "message": "Invalid request: missing field `params`"}
    result = (await peer.call(session, "configRequirements/read", omit_params=True))["result"]
    assert result == {"supportsIndependentSpeedModes": True, "requirements": None}


async def test_bad_thread_ids_get_upstream_errors(backend: BuiltinBackend) -> None:
    peer, session = await _connect(backend)
    cases = [
        ({}, "Invalid request: missing field `threadId`"),
        ({"threadId": 1}, "Invalid request: invalid type: integer `1`, expected a string"),
        (
            {"threadId": "not-a-uuid"},
            "invalid thread id: invalid character: expected an optional prefix of `urn:uuid:` "
            "followed by [0-9a-fA-F-], found `n` at 1",
        ),
        (
            {"threadId": "00000000-0000-0000-0000-000000000000"},
            "thread not loaded: 00000000-0000-0000-0000-000000000000",
        ),
    ]
    for params, message in cases:
        answer = await peer.call(session, "thread/read", params)
        assert answer["error"] == {"code": -32600, "message": message}


async def test_thread_start_answers_then_announces(backend: BuiltinBackend) -> None:
    peer, session = await _connect(backend)
    other, _ = await _connect(backend)
    thread_id = await _start_thread(peer, session, cwd="/tmp")
    started = await peer.wait_for(lambda m: m.get("method") == "thread/started")
    answer_index = next(i for i, m in enumerate(peer.messages) if "result" in m)
    assert peer.messages.index(started) > answer_index
    assert started["params"]["thread"]["id"] == thread_id
    assert isinstance(started["emittedAtMs"], int)
    # thread/started goes to every connection, like upstream.
    await other.wait_for(lambda m: m.get("method") == "thread/started")

    listed = (await peer.call(session, "thread/list", {"limit": 10}))["result"]
    assert [t["id"] for t in listed["data"]] == [thread_id]
    assert listed["data"][0]["cwd"] == "/tmp"
    loaded = (await peer.call(session, "thread/loaded/list", {}))["result"]
    assert loaded == {"data": [thread_id], "nextCursor": None}


async def test_turn_streams_echo_to_subscribers_only(backend: BuiltinBackend) -> None:
    peer, session = await _connect(backend)
    bystander, _ = await _connect(backend)
    thread_id = await _start_thread(peer, session)
    events = await _turn(peer, session, thread_id, "hello")
    assert _compress([m["method"] for m in events]) == TURN_SEQUENCE
    assert all(isinstance(m["emittedAtMs"], int) for m in events)
    deltas = [m["params"]["delta"] for m in events if m["method"] == "item/agentMessage/delta"]
    assert len(deltas) >= 2 and "".join(deltas) == "echo: hello"
    completed = events[-1]["params"]["turn"]
    assert completed["status"] == "completed"
    assert completed["items"][0]["text"] == "echo: hello"
    assert [
        m["params"]["status"]["type"] for m in events if m["method"] == "thread/status/changed"
    ] == [
        "active",
        "idle",
    ]
    assert not [m for m in bystander.messages if m["method"] != "thread/started"]

    read = (await peer.call(session, "thread/read", {"threadId": thread_id, "includeTurns": True}))[
        "result"
    ]
    assert read["thread"]["preview"] == "hello"
    items = read["thread"]["turns"][0]["items"]
    assert [item["type"] for item in items] == ["userMessage", "agentMessage"]
    turns = (await peer.call(session, "thread/turns/list", {"threadId": thread_id}))["result"]
    assert [t["id"] for t in turns["data"]] == [completed["id"]]


async def test_turns_list_before_first_message_is_upstream_error(backend: BuiltinBackend) -> None:
    peer, session = await _connect(backend)
    thread_id = await _start_thread(peer, session)
    answer = await peer.call(session, "thread/turns/list", {"threadId": thread_id, "limit": 1})
    assert answer["error"] == {
        "code": -32600,
        "message": f"thread {thread_id} is not materialized yet; "
        "thread/turns/list is unavailable before first user message",
    }


async def test_name_updates_reach_subscribers_and_unsubscribe_stops_them(
    backend: BuiltinBackend,
) -> None:
    owner, owner_session = await _connect(backend)
    watcher, watcher_session = await _connect(backend)
    outsider, outsider_session = await _connect(backend)
    thread_id = await _start_thread(owner, owner_session)
    assert "result" in await watcher.call(watcher_session, "thread/resume", {"threadId": thread_id})

    answer = await outsider.call(
        outsider_session, "thread/name/set", {"threadId": thread_id, "name": "First"}
    )
    assert answer["result"] == {}
    for peer in (owner, watcher):
        update = await peer.wait_for(lambda m: m.get("method") == "thread/name/updated")
        assert update["params"] == {"threadId": thread_id, "threadName": "First"}
    assert not outsider.notifications("thread/name/updated")

    assert (await watcher.call(watcher_session, "thread/unsubscribe", {"threadId": thread_id}))[
        "result"
    ] == {"status": "unsubscribed"}
    assert (await watcher.call(watcher_session, "thread/unsubscribe", {"threadId": thread_id}))[
        "result"
    ] == {"status": "notSubscribed"}
    await owner.call(owner_session, "thread/name/set", {"threadId": thread_id, "name": "Second"})
    await owner.wait_for(lambda m: m.get("params", {}).get("threadName") == "Second")
    assert len(watcher.notifications("thread/name/updated")) == 1


async def test_closing_a_connection_drops_its_subscriptions(backend: BuiltinBackend) -> None:
    peer, session = await _connect(backend)
    thread_id = await _start_thread(peer, session)
    ephemeral_id = await _start_thread(peer, session, ephemeral=True)
    await session.aclose()
    assert backend.store.get(thread_id).subscribers == {}
    assert ephemeral_id not in backend.store
    assert peer.id not in backend.sessions


async def test_fork_copies_history_and_subscribes(backend: BuiltinBackend) -> None:
    peer, session = await _connect(backend)
    thread_id = await _start_thread(peer, session)
    await _turn(peer, session, thread_id, "one")
    fork = (await peer.call(session, "thread/fork", {"threadId": thread_id}))["result"]["thread"]
    assert fork["forkedFromId"] == thread_id and fork["id"] != thread_id
    assert [t["items"][-1]["text"] for t in fork["turns"]] == ["echo: one"]
    events = await _turn(peer, session, fork["id"], "two")
    assert events[-1]["params"]["turn"]["items"][0]["text"] == "echo: two"


async def test_interrupt_completes_the_turn_as_interrupted(tmp_path: Path) -> None:
    # A very long pause before each delta: the turn is certainly still streaming when
    # the interrupt arrives, without the test depending on timing.
    backend = BuiltinBackend(tmp_path, delta_interval=3600)
    async with backend.running():
        peer, session = await _connect(backend)
        thread_id = await _start_thread(peer, session)
        answer = await peer.call(
            session,
            "turn/start",
            {"threadId": thread_id, "input": [{"type": "text", "text": "hi"}]},
        )
        turn_id = answer["result"]["turn"]["id"]
        await peer.wait_for(
            lambda m: (
                m.get("method") == "item/started" and m["params"]["item"]["type"] == "agentMessage"
            )
        )
        busy = await peer.call(
            session, "turn/start", {"threadId": thread_id, "input": [{"type": "text", "text": "x"}]}
        )
        assert busy["error"]["code"] == -32600
        assert (
            await peer.call(session, "turn/interrupt", {"threadId": thread_id, "turnId": turn_id})
        )["result"] == {}
        done = await peer.wait_for(lambda m: m.get("method") == "turn/completed")
        assert done["params"]["turn"]["status"] == "interrupted"
        assert not peer.notifications("item/agentMessage/delta")
        status = peer.notifications("thread/status/changed")[-1]["params"]["status"]
        assert status == {"type": "idle"}


async def test_aclose_and_answers_are_ignored_quietly(backend: BuiltinBackend) -> None:
    peer, session = await _connect(backend)
    await session.send(jsonrpc.Message.from_payload({"method": "initialized"}))
    await session.send(jsonrpc.Message.from_payload({"id": 5, "result": {}}))
    assert peer.messages == []


async def test_a_long_turn_lets_other_tasks_run_while_it_streams(backend: BuiltinBackend) -> None:
    # Socket clients never make deliver() wait, so without a checkpoint a long reply would
    # hold the event loop for the whole turn: other clients' requests (and this client's
    # own writer) would wait, and a reader would be disconnected as slow once more deltas
    # than its outbound queue holds were queued (scripts/bench slow_client found both).
    peer, session = await _connect(backend)
    thread_id = await _start_thread(peer, session)
    words = 4 * limits.BUILTIN_DELTAS_PER_YIELD
    seen: list[int] = []

    async def watch() -> None:
        while not peer.notifications("turn/completed"):
            seen.append(len(peer.notifications("item/agentMessage/delta")))
            await anyio.lowlevel.checkpoint()

    async with anyio.create_task_group() as tg:
        tg.start_soon(watch)
        await _turn(peer, session, thread_id, "w " * words)
    streamed = len(peer.notifications("item/agentMessage/delta"))
    assert streamed > words
    assert any(0 < count < streamed for count in seen)


# --- bad params never take a connection down ----------------------------------------------


@pytest.mark.parametrize("cursor", ["²", "9" * 5000, "-1", " 1", "1.0"])
async def test_bad_cursor_is_codexs_invalid_cursor(backend: BuiltinBackend, cursor: str) -> None:
    peer, session = await _connect(backend)
    answer = await peer.call(session, "thread/list", {"cursor": cursor})
    # codex 0.169.0: -32600 "invalid cursor: ²" (no "Invalid request: " prefix).
    assert answer["error"] == {"code": -32600, "message": f"invalid cursor: {cursor}"}
    assert "result" in await peer.call(session, "thread/list", {})


async def test_a_handler_bug_answers_that_request_only(
    backend: BuiltinBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    from appserver.backends.builtin import handlers

    async def broken(session: Any, params: Any) -> Any:
        raise ZeroDivisionError("a bug")

    monkeypatch.setitem(handlers.HANDLERS, "thread/list", broken)
    peer, session = await _connect(backend)
    answer = await peer.call(session, "thread/list", {})
    assert answer["error"] == {
        "code": -32603,
        "message": "internal error while handling `thread/list`",
    }
    assert "result" in await peer.call(session, "thread/loaded/list", {})


async def test_an_unencodable_input_fails_the_turn_not_the_process(
    backend: BuiltinBackend,
) -> None:
    # 1e400 parses (codex's parser allows it) to inf, which JSON cannot carry back out.
    peer, session = await _connect(backend)
    thread_id = await _start_thread(peer, session)
    await session.send(
        jsonrpc.parse(
            '{"id":"t","method":"turn/start","params":{"threadId":"%s",'
            '"input":[{"type":"text","text":"hi","x":1e400}]}}' % thread_id
        )
    )
    assert "result" in await peer.wait_for(lambda m: m.get("id") == "t")
    done = await peer.wait_for(lambda m: m.get("method") == "turn/completed")
    assert done["params"]["turn"]["status"] == "failed"
    read = await peer.call(session, "thread/read", {"threadId": thread_id, "includeTurns": True})
    assert read["result"]["thread"]["turns"][0]["status"] == "failed"


async def test_a_turn_the_agent_cannot_run_fails_like_codex(backend: BuiltinBackend) -> None:
    peer, session = await _connect(backend)
    thread_id = await _start_thread(peer, session)
    answer = await peer.call(
        session,
        "turn/start",
        {
            "threadId": thread_id,
            "input": [{"type": "text", "text": "hi"}],
            "outputSchema": {"type": "object", "properties": {}, "required": 5},
        },
    )
    turn_id = answer["result"]["turn"]["id"]
    done = await peer.wait_for(lambda m: m.get("method") == "turn/completed")
    assert done["params"]["turn"]["status"] == "failed"
    assert done["params"]["turn"]["error"]["message"] == "the built-in agent failed to run this turn"
    error = peer.notifications("error")[0]["params"]
    assert (error["threadId"], error["turnId"], error["willRetry"]) == (thread_id, turn_id, False)
    # The thread is idle again: the next turn runs.
    names = [m["method"] for m in await _turn(peer, session, thread_id, "again")]
    assert _compress(names) == TURN_SEQUENCE


# --- thread lifecycle -----------------------------------------------------------------------


async def test_archive_moves_a_thread_between_the_list_filters(backend: BuiltinBackend) -> None:
    peer, session = await _connect(backend)
    thread_id = await _start_thread(peer, session)
    listed = lambda answer: [t["id"] for t in answer["result"]["data"]]  # noqa: E731
    assert listed(await peer.call(session, "thread/list", {})) == [thread_id]
    assert (await peer.call(session, "thread/archive", {"threadId": thread_id}))["result"] == {}
    await peer.wait_for(lambda m: m.get("method") == "thread/archived")
    assert listed(await peer.call(session, "thread/list", {})) == []
    assert listed(await peer.call(session, "thread/list", {"archived": True})) == [thread_id]
    restored = await peer.call(session, "thread/unarchive", {"threadId": thread_id})
    assert restored["result"]["thread"]["id"] == thread_id
    assert listed(await peer.call(session, "thread/list", {})) == [thread_id]
    missing = await peer.call(session, "thread/archive", {"threadId": "00000000-0000-7000-8000-000000000000"})
    assert missing["error"]["code"] == -32600


async def test_items_list_pages_a_threads_items(backend: BuiltinBackend) -> None:
    peer, session = await _connect(backend)
    thread_id = await _start_thread(peer, session)
    for text in ("one", "two"):
        await _turn(peer, session, thread_id, text)
    first = (await peer.call(session, "thread/items/list", {"threadId": thread_id, "limit": 3}))["result"]
    rest = (
        await peer.call(session, "thread/items/list", {"threadId": thread_id, "cursor": first["nextCursor"]})
    )["result"]
    items = [e["item"] for e in first["data"] + rest["data"]]
    assert [i["type"] for i in items] == ["userMessage", "agentMessage"] * 2
    assert rest["nextCursor"] is None
    newest = (
        await peer.call(session, "thread/items/list", {"threadId": thread_id, "sortDirection": "desc", "limit": 1})
    )["result"]
    assert newest["data"][0]["item"]["text"] == "echo: two"


async def test_compaction_is_a_turn_with_one_compaction_item(backend: BuiltinBackend) -> None:
    peer, session = await _connect(backend)
    thread_id = await _start_thread(peer, session)
    assert (await peer.call(session, "thread/compact/start", {"threadId": thread_id}))["result"] == {}
    done = await peer.wait_for(lambda m: m.get("method") == "turn/completed")
    assert done["params"]["turn"]["status"] == "completed"
    compacted = peer.notifications("thread/compacted")[0]["params"]
    assert compacted == {"threadId": thread_id, "turnId": done["params"]["turn"]["id"]}
    started = [n["params"]["item"]["type"] for n in peer.notifications("item/started")]
    assert started == ["contextCompaction"]
