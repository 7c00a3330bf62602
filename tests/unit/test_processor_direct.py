"""The direct path: reader -> backend and backend -> socket without the queues' tasks.

A fake session that can take messages without waiting (``send_nowait``) and a fake socket
writer that can refuse (backpressure); no sockets. The rules must be those of the queued
path (tests/unit/test_processor.py): what changes is only who carries the message.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
from anyio import wait_all_tasks_blocked

from appserver import jsonrpc
from appserver.backends.base import Peer
from appserver.close import CloseCode
from appserver.errors import BackendUnavailable
from appserver.processor import Connection, OverflowPolicy, Processor
from appserver.client_state import ClientPhase
from tests.support.fakes import FakeBackend, FakeSession, req

pytestmark = pytest.mark.anyio

INIT = json.dumps({"id": 1, "method": "initialize", "params": {"clientInfo": {"name": "t", "version": "1"}}})


class DirectSession(FakeSession):
    """A session that takes a message at once unless ``accepting`` is off."""

    def __init__(self, backend: FakeBackend, peer: Peer) -> None:
        super().__init__(backend, peer)
        self.accepting = True
        self.direct: list[Any] = []  # what came through send_nowait (ids or methods)

    def send_nowait(self, message: jsonrpc.Message) -> bool:
        if self.backend.fail_sends:
            raise BackendUnavailable("fake backend is down")
        if not self.accepting:
            return False
        self.received.append(message)
        self.direct.append(message.id if message.id is not None else message.method)
        return True

    def order(self) -> list[Any]:
        return [m.id if m.id is not None else m.method for m in self.received]


class DirectBackend(FakeBackend):
    async def open_session(self, peer: Peer) -> DirectSession:  # type: ignore[override]
        session = DirectSession(self, peer)
        self.sessions.append(session)
        return session


class Socket:
    """A client socket the processor may write answers to directly."""

    def __init__(self) -> None:
        self.accepting = True
        self.written: list[dict[str, Any]] = []

    def write_now(self, text: str) -> bool:
        if not self.accepting:
            return False
        self.written.append(json.loads(text))
        return True


async def dispatch_queued(conn: Connection) -> None:
    """Let the dispatcher forward what is queued, then stop it (it would wait for more)."""
    async with anyio.create_task_group() as tg:
        tg.start_soon(conn.dispatch)
        await wait_all_tasks_blocked()
        tg.cancel_scope.cancel()


async def ready(processor: Processor, **kw: Any) -> tuple[Connection, DirectSession]:
    conn = processor.register("test", OverflowPolicy.DISCONNECT, **kw)
    await conn.open()
    await conn.receive(INIT)  # not initialized yet: queued, as always
    assert conn.queued_inbound == 1
    await dispatch_queued(conn)
    assert conn.client.state is ClientPhase.READY
    conn.outbound.get_nowait()
    session = processor.backend.sessions[0]  # type: ignore[attr-defined]
    return conn, session


async def test_an_initialized_connection_forwards_from_the_reader() -> None:
    processor = Processor(DirectBackend())
    conn, session = await ready(processor)
    await conn.receive(req(2))
    await wait_all_tasks_blocked()  # one message per loop iteration goes directly
    conn.receive_nowait('{"method":"initialized"}')  # the multiplexed reader's variant
    await wait_all_tasks_blocked()
    conn.receive_nowait(req(3))
    assert session.direct == [2, "initialized", 3]  # nothing was dispatched
    assert conn.queued_inbound == 0 and conn.in_flight == 2
    assert processor.metrics.forwarded_direct == 3


async def test_a_burst_read_in_one_iteration_is_queued_behind_its_first_message() -> None:
    processor = Processor(DirectBackend())
    conn, session = await ready(processor)
    for i in (4, 5, 6):
        conn.receive_nowait(req(i))
    assert session.direct == [4]
    assert conn.queued_inbound == 2
    await dispatch_queued(conn)  # the dispatcher sends the rest in one batch
    assert session.order()[1:] == [4, 5, 6]


async def test_rejections_are_answered_as_on_the_queued_path() -> None:
    processor = Processor(DirectBackend())
    conn, session = await ready(processor)
    await conn.receive(INIT)  # Already initialized
    await conn.receive(req(5, "nope"))  # the backend's unknown method
    await conn.receive("{")
    assert session.direct == []
    assert [json.loads(conn.outbound.get_nowait())["id"] for _ in range(2)] == [1, 5]


async def test_the_window_holds_and_order_is_kept_behind_it() -> None:
    processor = Processor(DirectBackend(), window=2)
    conn, session = await ready(processor)
    for i in (10, 11, 12):
        await conn.receive(req(i))
        await wait_all_tasks_blocked()
    await conn.receive('{"method":"initialized"}')  # behind queued request 12: queued too
    assert session.direct == [10, 11]
    assert conn.queued_inbound == 2
    async with anyio.create_task_group() as tg:
        tg.start_soon(conn.dispatch)
        await wait_all_tasks_blocked()
        assert session.order()[1:] == [10, 11]  # 12 waits for the window
        await session.answer(10)
        await wait_all_tasks_blocked()
        assert session.order()[1:] == [10, 11, 12, "initialized"]
        await wait_all_tasks_blocked()
        await conn.receive(req(13))  # the queue is empty again, but the window is full
        await wait_all_tasks_blocked()
        assert session.order()[-1] == "initialized"
        await session.answer(11)
        await wait_all_tasks_blocked()
        assert session.order()[-1] == 13
        conn.close(CloseCode.NORMAL, "")


async def test_a_message_the_dispatcher_holds_is_never_overtaken() -> None:
    processor = Processor(DirectBackend(), window=1)
    conn, session = await ready(processor)
    await conn.receive(req(20))  # direct, fills the window
    await wait_all_tasks_blocked()
    await conn.receive(req(21))  # queued
    async with anyio.create_task_group() as tg:
        tg.start_soon(conn.dispatch)
        await wait_all_tasks_blocked()  # the dispatcher took 21 and waits for the window
        assert conn.queued_inbound == 0
        await conn.receive('{"method":"initialized"}')
        assert session.direct == [20]  # not ahead of 21
        await session.answer(20)
        await wait_all_tasks_blocked()
        assert session.order()[1:] == [20, 21, "initialized"]
        conn.close(CloseCode.NORMAL, "")


async def test_backpressure_from_the_backend_falls_back_to_the_queue_in_order() -> None:
    processor = Processor(DirectBackend())
    conn, session = await ready(processor)
    session.accepting = False
    await conn.receive(req(30))
    session.accepting = True
    await wait_all_tasks_blocked()
    await conn.receive(req(31))  # 30 is queued: 31 must wait behind it
    assert session.direct == []
    await dispatch_queued(conn)
    assert session.order()[1:] == [30, 31]


async def test_a_backend_that_fails_on_the_direct_path_answers_and_closes_1011() -> None:
    backend = DirectBackend()
    processor = Processor(backend)
    conn, session = await ready(processor)
    backend.fail_sends = True
    await conn.receive(req(40))
    await conn.dispatch()
    answer = json.loads(conn.outbound.get_nowait())
    assert answer["id"] == 40 and answer["error"]["code"] == -32603
    assert conn.close_request is not None and conn.close_request.code == 1011


async def test_one_answer_per_loop_iteration_is_written_directly_the_rest_batched() -> None:
    processor = Processor(DirectBackend())
    conn, session = await ready(processor)
    socket = Socket()
    conn.set_direct_writer(socket.write_now)
    for i in (50, 51, 52):
        await conn.receive(req(i))
        await wait_all_tasks_blocked()
    await session.answer(50)
    await session.answer(51)  # same iteration: queued behind for the writer's batch
    await session.notify("thread/started", {})  # notifications always queue
    assert [m["id"] for m in socket.written] == [50]
    assert len(conn.outbound) == 2
    await wait_all_tasks_blocked()  # the next iteration: direct again, but 51 is queued
    await session.answer(52)
    assert [m["id"] for m in socket.written] == [50]
    assert [json.loads(conn.outbound.get_nowait()).get("id") for _ in range(3)] == [51, None, 52]
    await session.answer(2)  # (nothing owed: still written, as the queued path would)
    assert [m["id"] for m in socket.written] == [50, 2]
    assert processor.metrics.written_direct == 2
    assert processor.metrics.messages_out == 6  # initialize's answer + 5, whichever way
    assert conn.in_flight == 0


async def test_a_socket_applying_backpressure_gets_its_answers_queued() -> None:
    processor = Processor(DirectBackend(), **{})
    conn, session = await ready(processor, outbound_items=1)
    socket = Socket()
    socket.accepting = False
    conn.set_direct_writer(socket.write_now)
    await conn.receive(req(60))
    await wait_all_tasks_blocked()
    await conn.receive(req(61))
    await wait_all_tasks_blocked()
    await session.answer(60)
    assert socket.written == [] and len(conn.outbound) == 1
    await session.answer(61)  # the slow-client rule is the outbound queue's, as always
    assert conn.close_request is not None and conn.close_request.code == 1008


async def test_a_closing_connection_writes_nothing_directly() -> None:
    processor = Processor(DirectBackend())
    conn, session = await ready(processor)
    socket = Socket()
    conn.set_direct_writer(socket.write_now)
    await conn.receive(req(70))
    conn.close(CloseCode.GOING_AWAY, "bye", flush=True)
    await conn.receive(req(71))
    await session.answer(70)
    assert socket.written == []
    assert session.direct == [70]


async def test_offer_applies_the_receive_rules_at_once_or_does_nothing() -> None:
    processor = Processor(DirectBackend())
    conn, session = await ready(processor, inbound_items=2)
    assert conn.offer(req(20)) is True  # forwarded directly
    assert conn.offer(req(21)) is True  # same iteration: queued behind it
    assert conn.offer('{"method":"initialized"}') is True  # queued too: the queue is full now
    assert session.direct == [20] and conn.queued_inbound == 2
    # A notification would have to wait for room: offer leaves it to receive().
    before = processor.metrics.messages_in
    assert conn.offer('{"method":"later"}') is False
    assert processor.metrics.messages_in == before  # nothing was done with it
    # A request never waits (it is answered -32001 when its queue is full), but offer
    # cannot know it is one before parsing: receive() answers it the same.
    assert conn.offer(req(22)) is False


async def test_offer_is_refused_for_a_client_that_waits_for_room() -> None:
    processor = Processor(DirectBackend())
    conn = processor.register("stdio", OverflowPolicy.WAIT)
    await conn.open()
    assert conn.waits_for_room
    assert conn.offer(INIT) is False
    assert processor.metrics.messages_in == 0


async def test_deliver_nowait_follows_the_rules_of_deliver() -> None:
    processor = Processor(DirectBackend())
    conn, session = await ready(processor)
    assert not conn.waits_for_room
    await conn.receive(req(30))
    assert conn.in_flight == 1
    conn.deliver_nowait(jsonrpc.parse('{"id":30,"result":{}}'))
    conn.deliver_nowait(jsonrpc.parse('{"method":"thread/started","params":{}}'))
    assert conn.in_flight == 0
    assert [json.loads(conn.outbound.get_nowait()) for _ in range(2)] == [
        {"id": 30, "result": {}},
        {"method": "thread/started", "params": {}},
    ]


def note(method: str, **params: Any) -> jsonrpc.Message:
    return jsonrpc.Message.from_payload({"method": method, "params": params})


async def test_deliver_many_nowait_is_deliver_nowait_for_each_in_order() -> None:
    processor = Processor(DirectBackend())
    conn, _ = await ready(processor)
    conn.client.opt_out = frozenset({"noisy/thing"})  # as initialize's opt-out list sets it
    await conn.receive(req(40))
    before = processor.metrics.messages_out
    conn.deliver_many_nowait(
        [
            note("item/agentMessage/delta", delta="a"),
            note("noisy/thing"),  # opted out: dropped, the rest keeps its order
            jsonrpc.parse('{"id":40,"result":{}}'),  # an answer in the run settles its request
            note("item/agentMessage/delta", delta="é"),
        ]
    )
    assert conn.in_flight == 0
    assert [json.loads(conn.outbound.get_nowait()) for _ in range(3)] == [
        {"method": "item/agentMessage/delta", "params": {"delta": "a"}},
        {"id": 40, "result": {}},
        {"method": "item/agentMessage/delta", "params": {"delta": "é"}},
    ]
    assert len(conn.outbound) == 0
    assert processor.metrics.messages_out - before == 3


async def test_deliver_many_nowait_closes_a_client_whose_queue_fills() -> None:
    processor = Processor(DirectBackend())
    conn, _ = await ready(processor, outbound_items=2)
    conn.deliver_many_nowait([note("item/agentMessage/delta", delta=str(i)) for i in range(5)])
    assert conn.close_request is not None and conn.close_request.code == CloseCode.POLICY_VIOLATION
    assert processor.metrics.closes_by_reason["slow_client"] == 1


class FrameSocket(Socket):
    """A WebSocket client's socket: also takes ready frames."""

    def __init__(self) -> None:
        super().__init__()
        self.frames: list[bytes] = []

    def write_frame_now(self, frame: bytes) -> bool:
        if not self.accepting:
            return False
        self.frames.append(frame)
        return True


async def test_an_answer_frame_passes_through_under_the_direct_writes_rules() -> None:
    processor = Processor(DirectBackend())
    conn, session = await ready(processor)
    socket = FrameSocket()
    conn.set_direct_writer(socket.write_now, socket.write_frame_now)
    for i in (80, 81, 82, 83):
        await conn.receive(req(i))
        await wait_all_tasks_blocked()
    assert conn.pass_answer_frame(b"F80", 80, 30)
    assert conn.in_flight == 3 and processor.metrics.written_direct == 1
    assert not conn.pass_answer_frame(b"F81", 81, 30)  # one per backend read
    await wait_all_tasks_blocked()
    assert not conn.pass_answer_frame(b"F81", 81, 30)  # (the read, not the loop iteration)
    conn.backend_read_done()
    assert not conn.pass_answer_frame(b"F99", 99, 30)  # not in flight: deliver() decides
    await session.notify("thread/started", {})  # something queued goes first
    assert not conn.pass_answer_frame(b"F81", 81, 30)
    conn.outbound.get_nowait()
    socket.accepting = False
    assert not conn.pass_answer_frame(b"F81", 81, 30)  # backpressure
    socket.accepting = True
    assert conn.pass_answer_frame(b"F81", 81, 30)
    conn.backend_read_done()
    assert not conn.pass_answer_frame(b"F82", 82, 2**30)  # over the message limit
    conn.close(CloseCode.GOING_AWAY, "bye", flush=True)
    assert not conn.pass_answer_frame(b"F82", 82, 30)
    assert socket.frames == [b"F80", b"F81"] and socket.written == []
    assert conn.in_flight == 2
    assert processor.metrics.messages_out == 4  # initialize's answer, the notification, 2 frames


async def test_no_frame_passes_while_initialize_is_answered_or_for_a_waiting_or_frameless_client() -> None:
    backend = DirectBackend()
    backend.answer_initialize = False
    processor = Processor(backend)
    conn = processor.register("test", OverflowPolicy.DISCONNECT)
    await conn.open()
    socket = FrameSocket()
    conn.set_direct_writer(socket.write_now, socket.write_frame_now)
    await conn.receive(INIT)
    await dispatch_queued(conn)
    assert conn.in_flight == 1 and conn.client.initialize_id == 1
    assert not conn.pass_answer_frame(b"F1", 1, 30)  # the client state must see it
    assert conn.notification_frame_fate("item/delta") is None
    await backend.sessions[0].answer(1)
    assert conn.client.state is ClientPhase.READY
    waiting = processor.register("stdio", OverflowPolicy.WAIT)
    waiting.set_direct_writer(socket.write_now, socket.write_frame_now)
    assert not waiting.pass_answer_frame(b"F1", 1, 30)
    assert waiting.notification_frame_fate("item/delta") is None
    frameless = processor.register("stdio", OverflowPolicy.DISCONNECT)
    frameless.set_direct_writer(socket.write_now)
    assert frameless.notification_frame_fate("item/delta") is None
    assert socket.frames == []


async def test_offer_takes_one_message_directly_per_read_until_client_read_done() -> None:
    processor = Processor(DirectBackend())
    conn, session = await ready(processor)
    assert conn.offer(req(90)) and conn.offer(req(91))
    await wait_all_tasks_blocked()
    assert session.direct == [90] and conn.queued_inbound == 1  # no callback re-armed it
    conn.client_read_done()
    await dispatch_queued(conn)
    assert conn.offer(req(92))
    assert session.direct == [90, 92] and session.order() == [1, 90, 91, 92]


INIT_OPTING_OUT = json.dumps(
    {
        "id": 1,
        "method": "initialize",
        "params": {
            "clientInfo": {"name": "t", "version": "1"},
            "capabilities": {"optOutNotificationMethods": ["noisy/event"]},
        },
    }
)


async def test_notification_frames_follow_the_rules_of_deliver_nowait() -> None:
    backend = DirectBackend()
    processor = Processor(backend)
    conn = processor.register("test", OverflowPolicy.DISCONNECT)
    await conn.open()
    await conn.receive(INIT_OPTING_OUT)
    await dispatch_queued(conn)
    conn.outbound.get_nowait()  # initialize's answer
    socket = FrameSocket()
    conn.set_direct_writer(socket.write_now, socket.write_frame_now)
    assert conn.notification_frame_fate("item/delta") is True
    assert conn.notification_frame_fate("noisy/event") is False  # opted out: dropped
    assert conn.pass_notification_frames(b"N1N2", 2, 40)
    assert processor.metrics.written_direct == 2 and processor.metrics.bytes_out >= 40
    # One write per backend read: the rest of the read is delivered as messages.
    assert conn.notification_frame_fate("item/delta") is None
    assert not conn.pass_notification_frames(b"N3", 1, 20)
    conn.backend_read_done()
    await backend.sessions[0].notify("thread/started", {})  # something queued goes first
    assert conn.notification_frame_fate("item/delta") is None
    conn.outbound.get_nowait()
    socket.accepting = False
    assert conn.notification_frame_fate("item/delta") is True
    assert not conn.pass_notification_frames(b"N4", 1, 20)  # backpressure: nothing written
    socket.accepting = True
    conn.close(CloseCode.GOING_AWAY, "bye", flush=True)
    assert conn.notification_frame_fate("item/delta") is None
    assert not conn.pass_notification_frames(b"N5", 1, 20)
    assert socket.frames == [b"N1N2"] and socket.written == []
