"""Text frames handed to a sink inside aiohttp's data callback (appserver.relay.inline_ws).

These tests run the pinned aiohttp for real (its compiled parser and queue): should a later
aiohttp build its WebSocket queue another way, they fail here, loudly, instead of the relay
silently losing its fast path (or its order). The client writes its frames with websockets'
sans-I/O protocol, several frames in one socket write where the test needs them read
together.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio
import pytest
from aiohttp import WSMsgType, web
from websockets.client import ClientProtocol
from websockets.frames import Opcode
from websockets.uri import parse_uri

from appserver.relay.inline_ws import InlineWebSocketResponse

STEP = 10  # seconds: a bound on a hang, never a measurement


class Client:
    """A WebSocket client whose frames are written together when the test says so."""

    def __init__(self, stream: anyio.abc.ByteStream, url: str) -> None:
        self.stream = stream
        self.protocol = ClientProtocol(parse_uri(url))

    async def handshake(self) -> None:
        self.protocol.send_request(self.protocol.connect())
        await self.flush()
        while self.protocol.handshake_exc is None and not self.protocol.events_received():
            self.protocol.receive_data(await self.stream.receive())
        assert self.protocol.handshake_exc is None

    async def flush(self) -> None:
        """Everything sent since the last flush, in one socket write."""
        await self.stream.send(b"".join(self.protocol.data_to_send()))

    async def next_event(self) -> Opcode | None:
        """The opcode of the next frame the server sends; ``None`` once the socket ends."""
        while True:
            for event in self.protocol.events_received():
                return event.opcode
            try:
                data = await self.stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError, ConnectionError):
                return None
            self.protocol.receive_data(data)

    async def next_text(self) -> str:
        while True:
            for event in self.protocol.events_received():
                if event.opcode is Opcode.TEXT:
                    return event.data.decode()
            self.protocol.receive_data(await self.stream.receive())


@asynccontextmanager
async def serve(
    handler: Callable[[InlineWebSocketResponse], object], heartbeat: float | None = None
) -> AsyncIterator[Client]:
    async def route(request: web.Request) -> web.StreamResponse:
        ws = InlineWebSocketResponse(heartbeat=heartbeat)
        await ws.prepare(request)
        await handler(ws)  # type: ignore[misc]
        return ws

    app = web.Application()
    app.router.add_get("/ws", route)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with await anyio.connect_tcp("127.0.0.1", port) as stream:
            client = Client(stream, f"ws://127.0.0.1:{port}/ws")
            await client.handshake()
            yield client
    finally:
        await runner.cleanup()


@pytest.mark.anyio
async def test_text_messages_reach_the_sink_with_no_reader_at_all() -> None:
    got: list[str] = []
    done = anyio.Event()

    def sink(text: str) -> bool:
        got.append(text)
        if len(got) == 3:
            done.set()
        return True

    async def handler(ws: InlineWebSocketResponse) -> None:
        ws.set_text_sink(sink)
        await done.wait()  # never receive(): the sink alone sees the messages

    async with serve(handler) as client:
        client.protocol.send_text(b"one")
        await client.flush()
        # A fragmented message is reassembled by aiohttp before the sink sees it.
        client.protocol.send_text("dé".encode(), fin=False)
        client.protocol.send_continuation("jà".encode(), fin=True)
        client.protocol.send_text(b"three")
        await client.flush()
        with anyio.fail_after(STEP):
            await done.wait()
    assert got == ["one", "déjà", "three"]


@pytest.mark.anyio
async def test_a_refused_message_and_those_after_it_go_through_the_queue_in_order() -> None:
    seen: list[tuple[str, str]] = []
    last = anyio.Event()

    def sink(text: str) -> bool:
        if text == "b":
            return False  # nothing done: aiohttp's queue and the reader take it
        seen.append(("sink", text))
        if text == "e":
            last.set()
        return True

    async def handler(ws: InlineWebSocketResponse) -> None:
        ws.set_text_sink(sink)
        taken = 0
        async for msg in ws:
            assert msg.type is WSMsgType.TEXT
            seen.append(("reader", msg.data))
            taken += 1
            if msg.data == "d":
                # Only now is the reader done with b, c and d: until then c and d could
                # not overtake b by the sink.
                for _ in range(taken):
                    ws.message_taken()
                taken = 0
                await ws.send_str("taken")

    async with serve(handler) as client:
        for text in ("a", "b", "c", "d"):
            client.protocol.send_text(text.encode())
        await client.flush()
        with anyio.fail_after(STEP):
            assert await client.next_text() == "taken"
        client.protocol.send_text(b"e")
        await client.flush()
        with anyio.fail_after(STEP):
            await last.wait()
    assert seen == [("sink", "a"), ("reader", "b"), ("reader", "c"), ("reader", "d"), ("sink", "e")]


@pytest.mark.anyio
async def test_a_sink_set_before_prepare_is_used_and_binary_goes_to_the_reader() -> None:
    seen: list[tuple[str, object]] = []
    last = anyio.Event()

    def sink(text: str) -> bool:
        seen.append(("sink", text))
        last.set()
        return True

    async def route(request: web.Request) -> web.StreamResponse:
        ws = InlineWebSocketResponse()
        ws.set_text_sink(sink)
        await ws.prepare(request)
        async for msg in ws:
            seen.append(("reader", msg.data))
            ws.message_taken()
            if msg.data == "x":
                await ws.send_str("taken")
        return ws

    app = web.Application()
    app.router.add_get("/ws", route)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    try:
        async with await anyio.connect_tcp("127.0.0.1", port) as stream:
            client = Client(stream, f"ws://127.0.0.1:{port}/ws")
            await client.handshake()
            client.protocol.send_binary(b"\x00")
            client.protocol.send_text(b"x")
            await client.flush()
            with anyio.fail_after(STEP):
                assert await client.next_text() == "taken"
            client.protocol.send_text(b"y")
            await client.flush()
            with anyio.fail_after(STEP):
                await last.wait()
    finally:
        await runner.cleanup()
    # x followed the binary message through the queue (one message_taken per message).
    assert seen == [("reader", b"\x00"), ("reader", "x"), ("sink", "y")]


@pytest.mark.anyio
async def test_read_done_follows_the_last_message_of_each_socket_read() -> None:
    events: list[str] = []
    reads = [anyio.Event(), anyio.Event()]

    def sink(text: str) -> bool:
        events.append(text)
        return True

    def read_done() -> None:
        events.append("|")
        reads[events.count("|") - 1].set()

    async def handler(ws: InlineWebSocketResponse) -> None:
        ws.set_text_sink(sink, read_done)
        await reads[1].wait()

    async with serve(handler) as client:
        for text in ("a", "b", "c"):  # one socket write: read together (loopback)
            client.protocol.send_text(text.encode())
        await client.flush()
        with anyio.fail_after(STEP):
            await reads[0].wait()
        client.protocol.send_text(b"d")
        await client.flush()
        with anyio.fail_after(STEP):
            await reads[1].wait()
    assert events == ["a", "b", "c", "|", "d", "|"]


@pytest.mark.anyio
async def test_a_peer_silent_after_a_heartbeat_ping_is_closed() -> None:
    """No reads at all: the ping goes out, and no pong (the client never answers: it
    never flushes) closes the socket."""

    async def handler(ws: InlineWebSocketResponse) -> None:
        async for _ in ws:
            pass

    async with serve(handler, heartbeat=0.2) as client:
        with anyio.fail_after(STEP):
            assert await client.next_event() is Opcode.PING
            event = await client.next_event()
            while event is not None and event is not Opcode.CLOSE:
                event = await client.next_event()


@pytest.mark.anyio
async def test_a_read_since_the_heartbeat_timer_was_set_counts_as_a_sign_of_life() -> None:
    """The timers fired by hand (a heartbeat far away): after a read, the ping timer
    sends nothing and a pong deadline closes nothing; with nothing read since, each does
    what aiohttp does (a ping; the close)."""
    got: list[str] = []
    read = anyio.Event()
    served: list[InlineWebSocketResponse] = []
    finished = anyio.Event()

    def sink(text: str) -> bool:
        got.append(text)
        read.set()
        return True

    async def handler(ws: InlineWebSocketResponse) -> None:
        ws.set_text_sink(sink)
        served.append(ws)
        await finished.wait()

    async with serve(handler, heartbeat=1000) as client:
        client.protocol.send_text(b"a")
        await client.flush()
        with anyio.fail_after(STEP):
            await read.wait()
        ws = served[0]
        ws._heartbeat_when = 0.0  # the timer is due (aiohttp reschedules an early one)
        ws._send_heartbeat()  # heard "a": no ping
        ws._heartbeat_when = 0.0
        ws._send_heartbeat()  # nothing since: a ping
        with anyio.fail_after(STEP):
            assert await client.next_event() is Opcode.PING  # (the first sent nothing)
        read = anyio.Event()
        client.protocol.data_to_send()  # the pong the ping called for: never sent
        client.protocol.send_text(b"b")
        await client.flush()
        with anyio.fail_after(STEP):
            await read.wait()
        ws._pong_not_received()  # heard "b": alive
        assert not ws.closed
        ws._pong_not_received()  # nothing since: dead
        assert ws.closed
        finished.set()
    assert got == ["a", "b"]
