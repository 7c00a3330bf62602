"""The processor's protocol rules, queue bounds and overload answers, with a fake backend.

No sockets: messages go in through ``Connection.receive`` and come out of
``Connection.outbound``, as a transport would see them (spec/transport.md §6–7).
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
from anyio import wait_all_tasks_blocked

from appserver import jsonrpc
from appserver.close import CloseCode
from appserver.processor import Connection, ConnectionState, OverflowPolicy, Processor
from appserver.client_state import ClientPhase
from tests.support.fakes import FakeBackend, drain, forward, req

pytestmark = pytest.mark.anyio

INIT = json.dumps({"id": 1, "method": "initialize", "params": {"clientInfo": {"name": "t", "version": "1"}}})


async def ready(processor: Processor, policy: OverflowPolicy = OverflowPolicy.DISCONNECT, **kw: Any) -> Connection:
    """A connection whose backend session is open and whose initialize succeeded."""
    conn = processor.register("test", policy, **kw)
    await conn.open()
    await conn.receive(INIT)
    await forward(conn)
    assert conn.client.state is ClientPhase.READY
    drain(conn)
    return conn


async def test_overloaded_request_gets_the_exact_upstream_answer() -> None:
    backend = FakeBackend()
    processor = Processor(backend, inbound_items=2)
    conn = processor.register("test")
    await conn.open()
    # Nothing dispatches: the inbound queue fills with initialize and request 2.
    await conn.receive(INIT)
    await conn.receive(req(2))
    await conn.receive(req(7))
    assert conn.outbound.get_nowait() == (
        '{"id":7,"error":{"code":-32001,"message":"Server overloaded; retry later."}}'
    )
    assert processor.metrics.overload_answers == 1
    # What was already queued stays queued and is forwarded, in order.
    await forward(conn)
    assert backend.sessions[0].requests() == [1, 2]


async def test_full_inbound_queue_makes_notifications_wait_never_drops_them() -> None:
    backend = FakeBackend()
    processor = Processor(backend, inbound_items=1)
    conn = processor.register("test")
    await conn.open()
    await conn.receive(INIT)
    done = anyio.Event()

    async def send_initialized() -> None:
        await conn.receive('{"method":"initialized"}')
        done.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(send_initialized)
        await wait_all_tasks_blocked()
        assert not done.is_set()  # the reader waits: backpressure, not loss
        await forward(conn)  # initialize leaves the queue
        await done.wait()
    await forward(conn)
    assert [m.method for m in backend.sessions[0].received] == ["initialize", "initialized"]


async def test_overload_answer_is_dropped_when_the_writer_is_full_too() -> None:
    processor = Processor(FakeBackend(), inbound_items=1)
    conn = processor.register("test", outbound_items=1)
    await conn.open()
    await conn.receive(INIT)  # queued
    await conn.receive(req(2))  # overloaded: answer fills the 1-slot writer
    await conn.receive(req(3))  # overloaded: answer dropped, call does not block
    assert processor.metrics.overload_answers == 2
    assert json.loads(conn.outbound.get_nowait())["id"] == 2
    assert len(conn.outbound) == 0
    assert conn.state is ConnectionState.OPEN  # the connection stays up


async def test_requests_before_initialize_and_twice_initialize() -> None:
    processor = Processor(FakeBackend())
    conn = processor.register("test")
    await conn.open()
    await conn.receive(req(5))
    await conn.receive(req("u", "nope"))
    assert drain(conn) == [
        {"id": 5, "error": {"code": -32600, "message": "Not initialized"}},
        {"id": "u", "error": {"code": -32600, "message": "Invalid request: unknown variant `nope`"}},
    ]
    await conn.receive(INIT)
    await forward(conn)
    await conn.receive(req(9, "initialize"))
    assert drain(conn) == [
        {"id": 1, "result": {"userAgent": "fake/1.0"}},
        {"id": 9, "error": {"code": -32600, "message": "Already initialized"}},
    ]


async def test_failed_initialize_can_be_retried() -> None:
    backend = FakeBackend()
    backend.answer_initialize = False
    processor = Processor(backend)
    conn = processor.register("test")
    await conn.open()
    await conn.receive(INIT)
    await forward(conn)
    error = jsonrpc.Message.from_payload(jsonrpc.error(1, -32600, "no"))
    await conn.deliver(error)
    assert conn.client.state is ClientPhase.NEW
    await conn.receive(INIT)
    await forward(conn)
    await backend.sessions[0].answer(1, {})
    assert conn.client.state is ClientPhase.READY


async def test_same_request_id_on_two_connections_is_routed_to_each() -> None:
    backend = FakeBackend()
    processor = Processor(backend)
    a, b = await ready(processor), await ready(processor)
    for conn in (a, b):
        await conn.receive(req(77, "config/read"))
        await forward(conn)
    await backend.sessions[1].answer(77, "for b")
    await backend.sessions[0].answer(77, "for a")
    assert drain(a) == [{"id": 77, "result": "for a"}]
    assert drain(b) == [{"id": 77, "result": "for b"}]


async def test_notifications_only_after_initialize_and_never_opted_out() -> None:
    backend = FakeBackend()
    backend.answer_initialize = False
    processor = Processor(backend)
    conn = processor.register("test")
    await conn.open()
    init = {"id": 1, "method": "initialize", "params": {"capabilities": {"optOutNotificationMethods": ["noisy/thing"]}}}
    await conn.receive(json.dumps(init))
    await forward(conn)
    session = backend.sessions[0]
    await session.notify("early")  # before the initialize answer: not delivered
    await session.answer(1, {})
    await session.notify("noisy/thing")  # opted out
    await session.notify("thread/started", {"x": 1})
    assert drain(conn) == [
        {"id": 1, "result": {}},
        {"method": "thread/started", "params": {"x": 1}},
    ]


async def test_window_bounds_requests_in_flight() -> None:
    backend = FakeBackend()
    processor = Processor(backend, window=2)
    conn = await ready(processor)
    for i in range(10, 15):
        await conn.receive(req(i))
    async with anyio.create_task_group() as tg:
        tg.start_soon(conn.dispatch)
        await wait_all_tasks_blocked()
        session = backend.sessions[0]
        assert session.requests()[1:] == [10, 11]
        await session.answer(10)
        await wait_all_tasks_blocked()
        assert session.requests()[1:] == [10, 11, 12]
        conn.close(1000, "")
    assert [m["id"] for m in drain(conn)] == [10]


async def test_slow_socket_client_is_closed_with_a_reason() -> None:
    backend = FakeBackend()
    processor = Processor(backend)
    conn = await ready(processor, outbound_items=3)
    for i in range(4):
        await backend.sessions[0].notify("item/agentMessage/delta", {"i": i})
    assert conn.state is ConnectionState.CLOSING
    assert conn.close_request is not None
    assert conn.close_request.code == CloseCode.POLICY_VIOLATION == 1008
    assert conn.close_request.reason == "outbound queue full: client is not reading its messages"
    assert len(conn.outbound) == 0  # discarded: the client is not reading anyway
    assert processor.metrics.closes_by_reason["slow_client"] == 1


async def test_stdio_client_makes_the_backend_wait_instead() -> None:
    backend = FakeBackend()
    processor = Processor(backend)
    conn = await ready(processor, OverflowPolicy.WAIT, outbound_items=2)
    delivered = []

    async def produce() -> None:
        for i in range(3):
            await backend.sessions[0].notify("n", i)
            delivered.append(i)

    async with anyio.create_task_group() as tg:
        tg.start_soon(produce)
        await wait_all_tasks_blocked()
        assert delivered == [0, 1]  # the third waits for room
        assert conn.state is ConnectionState.OPEN
        conn.outbound.get_nowait()
    assert delivered == [0, 1, 2]


async def test_backend_failure_answers_everything_owed_then_closes_1011() -> None:
    backend = FakeBackend()
    processor = Processor(backend, window=1)
    conn = await ready(processor, OverflowPolicy.WAIT)
    for i in (20, 21, 22):
        await conn.receive(req(i))
    async with anyio.create_task_group() as tg:
        tg.start_soon(conn.dispatch)
        await wait_all_tasks_blocked()  # 20 in flight, 21 and 22 queued behind the window
        conn.backend_failed("codex exited with status 9")
    answers = drain(conn)
    assert sorted(a["id"] for a in answers) == [20, 21, 22]
    assert all(
        a["error"] == {"code": -32603, "message": "backend unavailable: codex exited with status 9"}
        for a in answers
    )
    assert conn.close_request is not None
    assert conn.close_request.code == 1011
    assert conn.close_request.reason == "backend failed: codex exited with status 9"


async def test_malformed_input_is_ignored_and_counted() -> None:
    processor = Processor(FakeBackend())
    conn = await ready(processor)
    for text in ("{", "[1]", '"x"', '{"id":1.5,"result":1}'):
        await conn.receive(text)
    assert processor.metrics.malformed == 4
    assert len(conn.outbound) == 0
    assert conn.state is ConnectionState.OPEN


async def test_drain_waits_for_owed_answers() -> None:
    backend = FakeBackend()
    processor = Processor(backend)
    conn = await ready(processor)
    await conn.receive(req(30))
    await forward(conn)
    conn.finish_input()
    assert conn.owes_answers
    async with anyio.create_task_group() as tg:
        tg.start_soon(conn.wait_drained)
        await wait_all_tasks_blocked()
        await backend.sessions[0].answer(30)
    assert not conn.owes_answers
    await conn.aclose()
    assert processor.connections == []
    assert backend.sessions[0].closed
