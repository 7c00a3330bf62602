"""What the relay handles inside a socket's data callback, and what it leaves to the reader
task (appserver.relay.host_link ``HostLink.take``, appserver.relay.streams
``ControllerStream.from_controller_nowait``). A sink that declines must have done nothing:
the reader then handles the same frame from scratch. Fakes record each socket write."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace
from typing import Any

import pytest


from appserver.relay import host_link as host_link_module
from appserver.relay.host_link import HostLink, HostState
from appserver.relay.hub import RelayConfig
from appserver.relay.metrics import RelayMetrics
from appserver.relay.streams import ControllerStream


class Frames:
    def __init__(self) -> None:
        self.writes: list[list[str]] = []
        self.idle = True

    def write(self, texts: list[str]) -> None:
        self.writes.append(list(texts))

    async def drain(self) -> None:
        pass


def setup() -> tuple[Any, HostLink, Frames, ControllerStream]:
    relay: Any = SimpleNamespace(
        metrics=RelayMetrics(), links={}, streams={}, config=RelayConfig("http://x/", "http://x/"),
    )
    link = HostLink(relay, HostState("srv"), ws=None, peer="test")  # type: ignore[arg-type]
    frames = Frames()
    link.frames = frames  # type: ignore[assignment]
    relay.links["srv"] = link
    stream = ControllerStream(relay, "s1", "c1", "srv")
    relay.streams["s1"] = stream
    return relay, link, frames, stream


def counted(relay: Any, name: str) -> float:
    return relay.metrics.registry.get_sample_value(name) or 0.0


def server_message(stream_id: str, seq_id: int, message: str = '{"method":"n","params":{}}') -> str:
    return f'{{"type":"server_message","message":{message},"client_id":"c1","stream_id":"{stream_id}","seq_id":{seq_id}}}'


def take_read(link: HostLink, *frames: str) -> list[bool]:
    """``frames`` as one socket read brings them: each to the sink, then the read's end."""
    taken = [link.take(frame) for frame in frames]
    link._read_done()
    return taken


@pytest.mark.anyio  # (the ack timer needs a running loop)
async def test_host_take_delivers_a_message_of_a_known_stream_and_acks_it() -> None:
    relay, link, _frames, stream = setup()
    assert take_read(link, server_message("s1", 0)) == [True]
    assert [f.text for f in stream.buffer.unwritten()] == ['{"method":"n","params":{}}']
    assert link._acks == {("c1", "s1"): (0, None)}
    # A replay of it is acked again and dropped, inline too.
    assert take_read(link, server_message("s1", 0)) == [True]
    assert stream.buffer.last == 1
    assert counted(relay, "appserver_relay_host_envelopes_duplicate_total") == 1
    link._stop()


@pytest.mark.anyio  # (the ack timer needs a running loop)
async def test_host_take_declines_what_the_reader_handles_having_done_nothing() -> None:
    relay, link, frames, stream = setup()
    for text in (
        "not json",  # logged and counted by the reader
        server_message("unknown", 0),  # the reader tells the host it is closed
        '{"type":"pong","status":"unknown","client_id":"c1","stream_id":"s1","seq_id":0}',  # the stream ends
    ):
        assert not link.take(text)
    assert not link._acks and frames.writes == [] and stream.buffer.last == 0
    assert counted(relay, "appserver_relay_host_envelopes_rejected_total") == 0
    assert link.take('{"type":"pong","status":"active","client_id":"c1","stream_id":"s1","seq_id":3}')
    assert link._acks == {("c1", "s1"): (3, None)}
    link._stop()
    assert not link.take(server_message("s1", 1))


def test_controller_frame_goes_to_the_host_inline_while_its_socket_keeps_up() -> None:
    _relay, _link, frames, stream = setup()
    initialize = '{"id":1,"method":"initialize","params":{}}'
    assert stream.from_controller_nowait(initialize)
    [[wire]] = frames.writes
    envelope = json.loads(wire)
    assert (envelope["type"], envelope["seq_id"], envelope["message"]) == ("client_message", 0, json.loads(initialize))
    assert stream.received == 1 and stream.next_seq == 1 and list(stream.open_requests) == [1]
    # The host's socket is behind: declined, nothing counted or numbered.
    frames.idle = False
    assert not stream.from_controller_nowait('{"id":2,"method":"thread/list","params":{}}')
    assert stream.received == 1 and stream.next_seq == 1 and list(stream.open_requests) == [1]
    assert len(frames.writes) == 1


def test_controller_frame_waits_or_is_answered_inline_when_the_host_is_away() -> None:
    relay, _link, frames, stream = setup()
    # Before initialize: answered here.
    assert stream.from_controller_nowait('{"id":7,"method":"thread/list","params":{}}')
    [answer] = [f.text for f in stream.buffer.unwritten()]
    assert json.loads(answer)["id"] == 7 and "error" in json.loads(answer)
    # The host offline: held in order.
    del relay.links["srv"]
    assert stream.from_controller_nowait('{"id":1,"method":"initialize","params":{}}')
    assert [held.request_id for held in stream.waiting] == [1] and frames.writes == []


def test_a_link_that_sends_another_way_never_takes_frames_inline() -> None:
    class OtherLink(HostLink):
        async def send_message(self, stream: ControllerStream, text: str) -> bool:
            return True

    relay, link, _frames, stream = setup()
    other = OtherLink(relay, link.state, ws=None, peer="test")  # type: ignore[arg-type]
    other.frames = link.frames
    relay.links["srv"] = other
    assert not other.ready_for("{}")
    assert not stream.from_controller_nowait('{"id":1,"method":"initialize","params":{}}')
    assert stream.received == 0



@pytest.mark.anyio  # (the ack timer needs a running loop)
async def test_host_take_forwards_our_hosts_message_as_written() -> None:
    relay, link, _frames, stream = setup()
    message = '{"id": 1, "result": [1e16, 123456789012345678901234]}'
    assert take_read(link, server_message("s1", 0, message)) == [True]
    assert [f.text for f in stream.buffer.unwritten()] == [message]
    assert link._acks == {("c1", "s1"): (0, None)}
    assert relay.metrics.received("ServerMessage").count == 1
    # A replay of it is acked again and dropped.
    assert take_read(link, server_message("s1", 0, message)) == [True]
    assert stream.buffer.last == 1
    assert counted(relay, "appserver_relay_host_envelopes_duplicate_total") == 1
    link._stop()


@pytest.mark.anyio  # (the ack timer needs a running loop)
@pytest.mark.parametrize(
    "frame",
    [
        # Not the shape our host writes: parsed in full, the message written compactly again.
        '{"type":"server_message","client_id":"c1","stream_id":"s1","seq_id":0,"message":{"id": 1}}',
        '{"type":"server_message","message":{"id": 1},"client_id":"c1","stream_id":"s1","seq_id":0,"x":[]}',
        '{"type":"server_message","message":{"id": 1},"client_id":"c1","stream_id":"s1","seq_id":0 }',
        '{"type":"server_message","message":{"id": 1},"client_id":"c1","stream_id":"s2","stream_id":"s1","seq_id":0}',
        '{"type":"server_message","message":{"id": 1},"client_id":"c1","stream_id":"s1","seq_id":5,"seq_id":0}',
        '{"type":"server_message","message":{"id": 1, "r": NaN},"client_id":"c1","stream_id":"s1","seq_id":0}',
    ],
)
async def test_host_take_parses_frames_of_another_shape_in_full_as_before(frame: str) -> None:
    from appserver.remote_control.envelopes import ServerMessage, parse_server_envelope, split_server_message

    assert split_server_message(frame) is None
    parsed = parse_server_envelope(frame)
    assert isinstance(parsed, ServerMessage) and parsed.seq_id == 0
    relay, link, _frames, stream = setup()
    assert take_read(link, frame) == [True]
    assert [f.text for f in stream.buffer.unwritten()] == [parsed.message]
    assert link._acks == {("c1", "s1"): (0, None)}
    link._stop()


@pytest.mark.anyio  # (the ack timer needs a running loop)
async def test_host_take_leaves_malformed_or_unknown_stream_messages_to_the_reader() -> None:
    relay, link, frames, stream = setup()
    for frame in (
        server_message("s1", 0, '{"id":1,"r":[}'),  # the shape, but no JSON inside: the reader logs it
        server_message("s9", 0),  # sliced, but no such stream: the reader tells the host
        '{"type":"server_message","message":{"id":1},"client_id":"c2","stream_id":"s1","seq_id":0}',  # not its client
    ):
        assert not link.take(frame)
    assert not link._acks and frames.writes == [] and stream.buffer.last == 0
    link._stop()


@pytest.mark.anyio  # (the ack timer needs a running loop)
async def test_a_reads_messages_reach_the_controller_in_order_with_one_ack_per_stream() -> None:
    relay, link, _frames, stream = setup()
    other = ControllerStream(relay, "s2", "c1", "srv")
    relay.streams["s2"] = other
    pong = '{"type":"pong","status":"active","client_id":"c1","stream_id":"s1","seq_id":%d}'
    taken = take_read(
        link,
        server_message("s1", 0, '{"method":"a"}'),
        server_message("s1", 1, '{"method":"b"}'),
        server_message("s2", 0, '{"method":"x"}'),  # another stream in between
        server_message("s1", 2, '{"method":"c"}'),
        server_message("s1", 2, '{"method":"c"}'),  # a replay in the same read: dropped
        pong % 3,  # parsed in full: what was taken before it goes first
        server_message("s1", 4, '{"method":"d"}'),
        server_message("s1", 1, '{"method":"b"}'),  # an older one after newer ones: dropped
        server_message("s1", 6, '{"method":"f"}'),  # a gap (5 not received) is no replay
    )
    assert taken == [True] * 9
    assert [f.text for f in stream.buffer.unwritten()] == [
        '{"method":"a"}', '{"method":"b"}', '{"method":"c"}', '{"method":"d"}', '{"method":"f"}',
    ]
    assert [f.text for f in other.buffer.unwritten()] == ['{"method":"x"}']
    assert link._acks == {("c1", "s1"): (6, None), ("c1", "s2"): (0, None)}
    assert link._acks_due == 9
    assert link.state.replay.seen("c1", "s1") == (6, math.inf)
    assert relay.metrics.received("ServerMessage").count == 8
    assert counted(relay, "appserver_relay_host_envelopes_duplicate_total") == 2
    link._stop()


@pytest.mark.anyio  # (the ack timer needs a running loop)
async def test_a_run_is_delivered_before_the_reader_handles_what_the_sink_declined() -> None:
    relay, link, frames, stream = setup()
    assert link.take(server_message("s1", 0, '{"method":"a"}'))
    assert stream.buffer.last == 0  # (held until the read ends...)
    assert not link.take(server_message("gone", 0))  # ...or something else is handled
    assert [f.text for f in stream.buffer.unwritten()] == ['{"method":"a"}']
    await link.handle(server_message("gone", 0))  # the reader: the host is told it is closed
    assert "client_closed" in frames.writes[-1][-1]
    link._stop()


@pytest.mark.anyio  # (the ack timer needs a running loop)
async def test_a_run_settles_open_requests_and_drops_late_answers_as_one_by_one() -> None:
    relay, link, _frames, stream = setup()
    stream.open_requests[1] = 0.0
    stream.answered_by_relay[2] = None  # answered "host offline" by the relay already
    take_read(
        link,
        server_message("s1", 0, '{"id":2,"result":{}}'),
        server_message("s1", 1, '{"method":"n","params":{}}'),
        server_message("s1", 2, '{"id":1,"result":{}}'),
    )
    assert [f.text for f in stream.buffer.unwritten()] == ['{"method":"n","params":{}}', '{"id":1,"result":{}}']
    assert not stream.open_requests and not stream.answered_by_relay
    assert counted(relay, "appserver_relay_host_late_answers_dropped_total") == 1
    link._stop()


@pytest.mark.anyio  # (the ack timer needs a running loop)
async def test_a_streams_next_message_in_a_later_read_is_known_by_its_end_until_anything_else_comes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    relay, link, _frames, stream = setup()
    calls: list[str] = []
    real = host_link_module.split_server_message
    monkeypatch.setattr(host_link_module, "split_server_message", lambda text: calls.append(text) or real(text))
    try:
        assert take_read(link, server_message("s1", 0, '{"id":1,"result":{}}')) == [True]
        assert take_read(link, server_message("s1", 1, '{"id":2,"result":{}}')) == [True]  # the next round trip
        assert len(calls) == 1  # (the second by its frame's end alone)
        # A replay of a message already delivered, or a gap, is not the next one: sliced in full.
        assert take_read(link, server_message("s1", 1, '{"id":2,"result":{}}')) == [True]
        assert take_read(link, server_message("s1", 3, '{"id":4,"result":{}}')) == [True]
        assert len(calls) == 3
        assert [f.text for f in stream.buffer.unwritten()] == [
            '{"id":1,"result":{}}', '{"id":2,"result":{}}', '{"id":4,"result":{}}',
        ]
        assert link.state.replay.seen("c1", "s1") == (3, math.inf)
        # The stream ended between two reads: its next message is the reader's (host told).
        relay.streams.pop("s1")
        assert take_read(link, server_message("s1", 4, '{"id":5,"result":{}}')) == [False]
        assert stream.buffer.last == 3
    finally:
        link._stop()
