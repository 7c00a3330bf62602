"""The processor's hooks for gateway-answered methods and multiplexed transports.

Gateway methods (``GatewayMethods``), ``Connection.receive_nowait``,
``Processor.broadcast`` and close reasons that fit a close frame, seen as a transport sees
them: text in through ``receive``/``receive_nowait``, text out of ``Connection.outbound``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from anyio import wait_all_tasks_blocked
from websockets.frames import Close

from appserver import jsonrpc
from appserver.close import CloseCode, CloseRequest, cut_reason
from appserver.processor import Connection, ConnectionState, Processor
from tests.support.fakes import FakeBackend, drain, forward, req

pytestmark = pytest.mark.anyio

STATUS_READ = "remoteControl/status/read"
STATUS_CHANGED = "remoteControl/status/changed"


def init(request_id: int = 1, **capabilities: Any) -> str:
    params = {"clientInfo": {"name": "phone", "version": "2.0"}, "capabilities": capabilities}
    return json.dumps({"id": request_id, "method": "initialize", "params": params})


async def next_out(conn: Connection) -> dict[str, Any]:
    return json.loads(await conn.outbound.get())


class Gateway:
    """Owns ``remoteControl/*``; its handler answers what it saw of the connection."""

    def __init__(self) -> None:
        self.release = anyio.Event()
        self.ready_calls: list[tuple[str | None, str | None, str]] = []

    def owns(self, method: str) -> bool:
        return method.startswith("remoteControl/")

    def owns_notification(self, method: str) -> bool:
        return method == STATUS_CHANGED

    async def handle(self, conn: Connection, request: jsonrpc.Message) -> dict[str, Any]:
        if request.method == "remoteControl/slow":
            await self.release.wait()
        if request.method == "remoteControl/broken":
            raise RuntimeError("secret detail that must not reach the client")
        if request.method == "remoteControl/wrongId":
            return jsonrpc.response("other", {})
        session = conn.client
        return jsonrpc.response(
            request.id,  # type: ignore[arg-type]
            {"experimental": session.experimental_api, "transport": session.transport},
        )

    def on_ready(self, conn: Connection) -> list[jsonrpc.Message]:
        s = conn.client
        self.ready_calls.append((s.client_name, s.client_version, s.transport))
        return [jsonrpc.Message.from_payload(jsonrpc.notification(STATUS_CHANGED, {"status": "up"}))]


@asynccontextmanager
async def dispatching(processor: Processor, **kw: Any) -> AsyncIterator[Connection]:
    """A registered, open connection whose dispatcher runs (gateway calls need it)."""
    conn = processor.register("remote", peer="client-1/stream-1", **kw)
    await conn.open()
    async with anyio.create_task_group() as tg:
        tg.start_soon(conn.dispatch)
        yield conn
        conn.close(CloseCode.NORMAL, "")


async def test_gateway_method_is_answered_without_the_backend() -> None:
    backend = FakeBackend()
    processor = Processor(backend, gateway=Gateway())
    async with dispatching(processor) as conn:
        await conn.receive(init(experimentalApi=True))
        assert (await next_out(conn))["id"] == 1
        await next_out(conn)  # on_ready's status
        await conn.receive(req(2, STATUS_READ))
        assert await next_out(conn) == {
            "id": 2,
            "result": {"experimental": True, "transport": "remote"},
        }
    assert [m.method for m in backend.sessions[0].received] == ["initialize"]


async def test_gateway_method_before_initialize_is_not_initialized() -> None:
    backend = FakeBackend()
    processor = Processor(backend, gateway=Gateway())
    async with dispatching(processor) as conn:
        await conn.receive(req(2, STATUS_READ))
        assert await next_out(conn) == {
            "id": 2,
            "error": {"code": -32600, "message": "Not initialized"},
        }
    assert backend.sessions[0].received == []


async def test_experimental_flag_is_what_the_client_asked_for() -> None:
    processor = Processor(FakeBackend())
    processor.gateway = Gateway()  # may be set after construction
    async with dispatching(processor) as conn:
        await conn.receive(init())
        await next_out(conn), await next_out(conn)
        await conn.receive(req(3, STATUS_READ))
        assert (await next_out(conn))["result"]["experimental"] is False


async def test_on_ready_notification_is_queued_right_behind_the_initialize_answer() -> None:
    gateway = Gateway()
    backend = FakeBackend()
    backend.answer_initialize = False
    processor = Processor(backend, gateway=gateway)
    async with dispatching(processor) as conn:
        await conn.receive(init())
        await wait_all_tasks_blocked()
        session = backend.sessions[0]
        await session.answer(1, {"userAgent": "fake"})
        await session.notify("thread/started", {"n": 1})
        assert drain(conn) == [
            {"id": 1, "result": {"userAgent": "fake"}},
            {"method": STATUS_CHANGED, "params": {"status": "up"}},
            {"method": "thread/started", "params": {"n": 1}},
        ]
    assert gateway.ready_calls == [("phone", "2.0", "remote")]


async def test_backend_notifications_the_gateway_owns_are_dropped() -> None:
    backend = FakeBackend()
    processor = Processor(backend, gateway=Gateway())
    async with dispatching(processor) as conn:
        await conn.receive(init())
        await next_out(conn), await next_out(conn)
        await backend.sessions[0].notify(STATUS_CHANGED, {"status": "codex's own"})
        await backend.sessions[0].notify("thread/started", {"n": 2})
        assert drain(conn) == [{"method": "thread/started", "params": {"n": 2}}]


async def test_slow_gateway_call_does_not_hold_up_backend_traffic() -> None:
    gateway = Gateway()
    backend = FakeBackend()
    processor = Processor(backend, gateway=gateway)
    async with dispatching(processor) as conn:
        await conn.receive(init())
        await next_out(conn), await next_out(conn)
        await conn.receive(req(4, "remoteControl/slow"))
        await conn.receive(req(5))
        await wait_all_tasks_blocked()
        assert conn.owes_answers
        await backend.sessions[0].answer(5, "backend")
        assert await next_out(conn) == {"id": 5, "result": "backend"}
        gateway.release.set()
        assert (await next_out(conn))["id"] == 4
        await wait_all_tasks_blocked()
        assert not conn.owes_answers


async def test_handler_exception_is_a_32603_answer_and_the_connection_lives() -> None:
    processor = Processor(FakeBackend(), gateway=Gateway())
    async with dispatching(processor) as conn:
        await conn.receive(init())
        await next_out(conn), await next_out(conn)
        await conn.receive(req(6, "remoteControl/broken"))
        await conn.receive(req(7, "remoteControl/wrongId"))
        answers = [await next_out(conn), await next_out(conn)]
        assert sorted(answers, key=lambda a: a["id"]) == [
            {"id": 6, "error": {"code": -32603, "message": "internal error while handling `remoteControl/broken`"}},
            {"id": 7, "error": {"code": -32603, "message": "internal error while handling `remoteControl/wrongId`"}},
        ]
        await conn.receive(req(8, STATUS_READ))
        assert (await next_out(conn))["id"] == 8
        assert conn.state is ConnectionState.OPEN
    assert processor.metrics.gateway_failures == 2


async def test_receive_nowait_answers_overload_and_closes_a_flooding_stream_only() -> None:
    backend = FakeBackend()
    processor = Processor(backend)
    flood = processor.register("remote", inbound_items=2, peer="c/1")
    other = processor.register("remote", inbound_items=2, peer="c/2")
    for conn in (flood, other):
        await conn.open()
        conn.receive_nowait(init())
    flood.receive_nowait(req(2))  # fills the 2-message queue (nothing dispatches)
    flood.receive_nowait(req(3))  # a request: answered -32001, the stream stays
    assert drain(flood) == [
        {"id": 3, "error": {"code": -32001, "message": "Server overloaded; retry later."}}
    ]
    assert flood.state is ConnectionState.OPEN
    flood.receive_nowait('{"method":"initialized"}')  # a notification: never waits
    assert flood.close_request == CloseRequest(
        1008, "inbound queue full: client sends faster than the server reads"
    )
    assert processor.metrics.closes_by_reason["inbound_full"] == 1
    assert other.state is ConnectionState.OPEN
    other.receive_nowait('{"method":"initialized"}')
    await forward(other)
    assert [m.method for m in backend.sessions[1].received] == ["initialize", "initialized"]


async def test_receive_nowait_rejections_are_answered_without_waiting() -> None:
    processor = Processor(FakeBackend())
    conn = processor.register("remote")
    await conn.open()
    conn.receive_nowait(req(1))
    conn.receive_nowait("{not json")
    assert drain(conn) == [{"id": 1, "error": {"code": -32600, "message": "Not initialized"}}]
    assert processor.metrics.malformed == 1


async def ready(processor: Processor, **kw: Any) -> Connection:
    conn = processor.register("ws", **kw)
    await conn.open()
    await conn.receive(init())
    await forward(conn)
    drain(conn)
    return conn


async def test_broadcast_reaches_ready_connections_that_did_not_opt_out() -> None:
    processor = Processor(FakeBackend())
    ready_conn = await ready(processor)
    opted_out = processor.register("ws")
    await opted_out.open()
    await opted_out.receive(init(optOutNotificationMethods=[STATUS_CHANGED]))
    await forward(opted_out)
    drain(opted_out)
    not_ready = processor.register("ws")
    await not_ready.open()
    slow = await ready(processor, outbound_items=1)
    await slow.receive(req(9))
    await forward(slow)
    await processor.backend.sessions[-1].answer(9)  # type: ignore[attr-defined]
    assert len(slow.outbound) == 1  # full
    message = jsonrpc.Message.from_payload(jsonrpc.notification(STATUS_CHANGED, {"status": "x"}))
    await processor.broadcast(message)  # returns: never waits on the full socket client
    assert drain(ready_conn) == [{"method": STATUS_CHANGED, "params": {"status": "x"}}]
    assert drain(opted_out) == []
    assert drain(not_ready) == []
    assert slow.close_request is not None and slow.close_request.code == 1008
    assert processor.metrics.closes_by_reason["slow_client"] == 1


async def test_close_reason_is_cut_to_123_utf8_bytes_in_one_place() -> None:
    processor = Processor(FakeBackend())
    conn = processor.register("unix")
    await conn.open()
    conn.close(CloseCode.INTERNAL_ERROR, "backend failed: /home/" + "é" * 100)
    assert conn.close_request is not None
    reason = conn.close_request.reason
    # 22 ASCII bytes, then 50 two-byte characters; a 51st would make 124.
    assert reason == "backend failed: /home/" + "é" * 50
    assert len(reason.encode()) == 122
    # What websockets puts in the close frame: 2 bytes of code + the reason, <= 125.
    assert len(Close(conn.close_request.code, reason).serialize()) <= 125


def test_cut_reason_never_splits_a_character() -> None:
    assert cut_reason("abc") == "abc"
    assert cut_reason("a" * 123) == "a" * 123
    assert cut_reason("a" * 124) == "a" * 123
    assert cut_reason("a" * 122 + "é") == "a" * 122  # é is 2 bytes: dropped whole
    assert cut_reason("€" * 50) == "€" * 41  # 3 bytes each
    assert cut_reason("é", max_bytes=1) == ""


async def test_metrics_count_message_bytes_not_characters() -> None:
    processor = Processor(FakeBackend())
    conn = processor.register("ws")
    await conn.open()
    await conn.receive('{"method":"é"}')
    assert processor.metrics.bytes_in == len('{"method":"é"}'.encode()) == 15
