"""The host link's demultiplexer with literal envelopes, no event loop and no socket:
what the single reader does with each envelope, and what it puts on the link."""

from __future__ import annotations

import base64
import json
import time
from types import SimpleNamespace
from typing import Any

import anyio
import pytest

from appserver import limits
from appserver.processor import Processor
from appserver.remote_control.link import HostLink
from appserver.remote_control.service import RcMetrics
from tests.support.fakes import FakeBackend

INIT = '{"id":1,"method":"initialize","params":{"clientInfo":{"name":"phone","version":"1"},"capabilities":{"experimentalApi":true}}}'


class Tasks:
    def __init__(self) -> None:
        self.started: list[Any] = []

    def start_soon(self, fn: Any, *args: Any) -> None:
        self.started.append((fn.__name__, args))


@pytest.fixture
def link() -> HostLink:
    service = SimpleNamespace(metrics=RcMetrics())
    link = HostLink(service, Processor(FakeBackend()))  # type: ignore[arg-type]
    link._tg = Tasks()  # type: ignore[assignment]
    link._socket = object()  # type: ignore[assignment]  # "connected": envelopes queue on the link
    return link


def sent(link: HostLink) -> list[str]:
    """The envelopes queued for the link writer (encoded), as text; taken."""
    out = [data.decode() for data in link._out]
    link._out.clear()
    return out


def message(client: str, stream: str, seq: int, text: str) -> str:
    return f'{{"type":"client_message","client_id":"{client}","message":{text},"stream_id":"{stream}","seq_id":{seq}}}'


def test_ping_on_an_unknown_stream_is_pong_unknown_seq_1(link: HostLink) -> None:
    link.on_frame('{"type":"ping","client_id":"client-x","stream_id":"stream-unknown"}')
    assert sent(link) == ['{"type":"pong","status":"unknown","client_id":"client-x","stream_id":"stream-unknown","seq_id":1}']
    assert link.buffer.unacked == 1
    link.on_frame('{"type":"ack","client_id":"client-x","stream_id":"stream-unknown","seq_id":1}')
    assert link.buffer.unacked == 0


def test_messages_before_initialize_are_ignored(link: HostLink) -> None:
    link.on_frame(message("client-1", "stream-1", 0, '{"id":5,"method":"thread/list"}'))
    assert link.processor.connections == [] and sent(link) == []


def test_initialize_opens_a_remote_connection_and_ping_is_active(link: HostLink) -> None:
    link.on_frame(message("client-1", "stream-1", 0, INIT))
    [conn] = link.processor.connections
    assert (conn.transport, conn.peer) == ("remote", "client-1/stream-1")
    assert link._tg.started[0][0] == "_run_stream"  # type: ignore[attr-defined]
    assert link.processor.metrics.messages_in == 1
    link.on_frame('{"type":"ping","client_id":"client-1","stream_id":"stream-1","cursor":"c-7"}')
    assert sent(link) == ['{"type":"pong","status":"active","client_id":"client-1","stream_id":"stream-1","seq_id":1}']
    assert link._cursor == "c-7"


def test_inbound_duplicates_are_dropped_by_seq_id(link: HostLink) -> None:
    link.on_frame(message("client-1", "stream-1", 0, INIT))
    link.on_frame(message("client-1", "stream-1", 1, '{"method":"initialized"}'))
    link.on_frame(message("client-1", "stream-1", 1, '{"method":"initialized"}'))  # a resend
    link.on_frame(message("client-1", "stream-1", 0, '{"method":"initialized"}'))
    assert link.processor.metrics.messages_in == 2
    link.on_frame(message("client-1", "stream-1", 2, '{"method":"initialized"}'))
    assert link.processor.metrics.messages_in == 3


def test_client_closed_forgets_the_stream_and_numbering_continues(link: HostLink) -> None:
    link.on_frame(message("client-1", "stream-1", 0, INIT))
    link.on_frame('{"type":"ping","client_id":"client-1","stream_id":"stream-1"}')
    [conn] = link.processor.connections
    link.on_frame('{"type":"client_closed","client_id":"client-1","stream_id":"stream-1"}')
    assert conn.close_request is not None and conn.close_request.reason == "controller closed the stream"
    assert link.streams == {}
    link.on_frame('{"type":"ping","client_id":"client-1","stream_id":"stream-1"}')
    assert [json.loads(t)["seq_id"] for t in sent(link)] == [1, 2]
    # A re-initialize on the same stream opens a fresh connection; numbering goes on.
    link.on_frame(message("client-1", "stream-1", 5, INIT))
    assert len(link.streams) == 1 and list(link.streams.values())[0].conn is not conn


def test_a_chunked_initialize_is_reassembled(link: HostLink) -> None:
    raw = INIT.encode()
    half = len(raw) // 2
    for i, part in enumerate((raw[:half], raw[half:])):
        link.on_frame(json.dumps({
            "type": "client_message_chunk", "client_id": "c", "stream_id": "s", "seq_id": 3,
            "segment_id": i, "segment_count": 2, "message_size_bytes": len(raw),
            "message_chunk_base64": base64.b64encode(part).decode()}))
    assert [conn.peer for conn in link.processor.connections] == ["c/s"]


def test_a_chunk_frame_over_the_envelope_limit_in_utf8_bytes_is_dropped(link: HostLink) -> None:
    # Fewer characters than RC_MAX_ENVELOPE_BYTES, more bytes: the limit counts bytes.
    pad = "é" * (limits.RC_MAX_ENVELOPE_BYTES * 2 // 3)
    raw = INIT.encode()
    link.on_frame(json.dumps({
        "type": "client_message_chunk", "client_id": "c", "stream_id": "s", "seq_id": 3,
        "segment_id": 0, "segment_count": 2, "message_size_bytes": len(raw), "pad": pad,
        "message_chunk_base64": base64.b64encode(raw[:10]).decode()}, ensure_ascii=False))
    assert link.service.metrics.bad_envelopes == 1


def test_bad_envelopes_are_counted_and_ignored(link: HostLink) -> None:
    for bad in ["not json", '{"type":"nope","client_id":"c"}', '{"type":"ping"}', "[]"]:
        link.on_frame(bad)
    assert link.service.metrics.bad_envelopes == 4
    assert link.processor.connections == [] and sent(link) == []


def test_legacy_streamless_initialize_gets_a_host_chosen_stream(link: HostLink) -> None:
    link.on_frame('{"type":"client_message","client_id":"old","message":' + INIT + ',"seq_id":0}')
    [(client, stream)] = list(link.streams)
    assert client == "old" and len(stream) == 36
    link.on_frame('{"type":"ping","client_id":"old"}')
    [pong] = [json.loads(t) for t in sent(link)]
    assert (pong["status"], pong["stream_id"]) == ("active", stream)


def test_streams_idle_for_ten_minutes_are_closed(link: HostLink) -> None:
    link.on_frame(message("client-1", "stream-1", 0, INIT))
    link.on_frame(message("client-2", "stream-2", 0, INIT))
    [first, second] = [s for s in link.streams.values()]
    first.last_seen -= 601
    assert link.close_idle(first.last_seen + 601) == 1
    assert list(link.streams.values()) == [second]
    assert first.conn.close_request is not None and first.conn.close_request.reason == "controller stream idle"
    # A ping keeps a stream alive.
    second.last_seen -= 599
    link.on_frame('{"type":"ping","client_id":"client-2","stream_id":"stream-2"}')
    assert link.close_idle(time.monotonic() + 2) == 0  # without the ping: 601 s idle by then


@pytest.mark.anyio
async def test_the_writer_stalls_at_128_unacked_envelopes_and_one_ack_frees_one(link: HostLink) -> None:
    from anyio import wait_all_tasks_blocked

    link.on_frame(message("client-1", "stream-1", 0, INIT))
    [stream] = link.streams.values()
    for i in range(200):
        stream.conn.outbound.put_nowait(f'{{"method":"n","params":{i}}}', 20)
    async with anyio.create_task_group() as tg:
        tg.start_soon(link._stream_writer, stream)
        await wait_all_tasks_blocked()
        assert link.buffer.unacked == 128 and len(link._out) == 128
        link.on_frame('{"type":"ack","client_id":"client-1","stream_id":"stream-1","seq_id":1}')
        await wait_all_tasks_blocked()
        assert link.buffer.unacked == 128 and len(link._out) == 129
        link.on_frame('{"type":"ack","client_id":"client-1","stream_id":"stream-1","seq_id":129}')
        await wait_all_tasks_blocked()
        assert len(link._out) == 200 and link.buffer.unacked == 71
        tg.cancel_scope.cancel()
    seqs = [json.loads(t)["seq_id"] for t in link._out]
    assert seqs == list(range(1, 201))


@pytest.mark.anyio
async def test_the_first_envelope_of_a_loop_iteration_is_written_at_once_the_rest_queue_behind_it(
    link: HostLink,
) -> None:
    written: list[str] = []
    link._write_now = lambda text: written.append(text) or True  # type: ignore[method-assign]
    link.on_frame(message("client-1", "stream-1", 0, INIT))
    [stream] = link.streams.values()
    assert link._write_answer(stream, '{"id":1,"result":{}}')  # a round trip's answer: now
    link.on_frame('{"type":"ping","client_id":"client-1","stream_id":"stream-1"}')  # queued behind
    assert [json.loads(t)["seq_id"] for t in written] == [1]
    assert [json.loads(t)["seq_id"] for t in link._out] == [2]
    await anyio.sleep(0)  # next loop iteration; the queue is not empty: still behind it
    link.on_frame('{"type":"ping","client_id":"client-1","stream_id":"stream-1"}')
    assert [json.loads(t)["seq_id"] for t in sent(link)] == [2, 3]
    await anyio.sleep(0)
    link.on_frame('{"type":"ping","client_id":"client-1","stream_id":"stream-1"}')
    assert [json.loads(t)["seq_id"] for t in written] == [1, 4] and link.buffer.unacked == 4


@pytest.mark.anyio
async def test_a_direct_answer_waits_in_the_queue_while_the_window_is_full(link: HostLink) -> None:
    link.on_frame(message("client-1", "stream-1", 0, INIT))
    [stream] = link.streams.values()
    for _ in range(128):
        link._on_ping("client-1", "stream-1")
    sent(link)
    assert link.buffer.full
    assert not link._write_answer(stream, '{"id":1,"result":{}}')
    assert link.buffer.unacked == 128 and sent(link) == []


@pytest.mark.anyio
async def test_a_chunked_message_that_fills_the_window_mid_batch_holds_the_rest_in_order(link: HostLink) -> None:
    from anyio import wait_all_tasks_blocked

    link.on_frame(message("client-1", "stream-1", 0, INIT))
    [stream] = link.streams.values()
    for _ in range(limits.RC_MAX_UNACKED - 3):
        link._on_ping("client-1", "stream-1")  # seq 1..125
    sent(link)
    big = '{"method":"big","params":"' + "x" * (limits.RC_MAX_ENVELOPE_BYTES + 10) + '"}'  # two chunks
    for text in ['{"method":"a"}', big, '{"method":"b"}', '{"method":"c"}']:
        stream.conn.outbound.put_nowait(text, len(text))
    async with anyio.create_task_group() as tg:
        tg.start_soon(link._stream_writer, stream)
        await wait_all_tasks_blocked()
        # Room for 3: "a", the big one and "b" are taken; "a" and the big one's two chunks
        # fill the window, "b" is held unnumbered, "c" stays queued.
        assert link.buffer.unacked == limits.RC_MAX_UNACKED
        assert stream.pending == ['{"method":"b"}'] and len(stream.conn.outbound) == 1
        out = [json.loads(t) for t in sent(link)]
        assert [(e["type"], e["seq_id"]) for e in out] == [
            ("server_message", 126), ("server_message_chunk", 127), ("server_message_chunk", 127)
        ]
        # An answer must not overtake the held message, even once the window has room.
        link.on_frame('{"type":"ack","client_id":"client-1","stream_id":"stream-1","seq_id":125}')
        assert not link.buffer.full
        assert not link._write_answer(stream, '{"id":7,"result":{}}')
        await wait_all_tasks_blocked()
        assert [(e["message"]["method"], e["seq_id"]) for e in map(json.loads, sent(link))] == [("b", 128), ("c", 129)]
        assert stream.pending == []
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_an_answer_written_at_once_does_not_wake_the_link_writer(link: HostLink) -> None:
    written: list[bytes] = []
    wakes = SimpleNamespace(count=0)
    wakes.fire = lambda: setattr(wakes, "count", wakes.count + 1)
    link._write_now = lambda data: written.append(data) or True  # type: ignore[method-assign]
    link._out_ready = wakes  # type: ignore[assignment]
    link.on_frame(message("client-1", "stream-1", 0, INIT))
    [stream] = link.streams.values()
    assert link._write_answer(stream, '{"id":1,"result":{}}')
    assert len(written) == 1 and wakes.count == 0 and sent(link) == []
    link.on_frame('{"type":"ping","client_id":"client-1","stream_id":"stream-1"}')  # queued behind
    assert wakes.count == 1 and len(sent(link)) == 1
