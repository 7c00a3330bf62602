"""The direct path's rules on each side (appserver.relay.cluster), without sockets or Redis
(an event loop only because the node's objects hold anyio events):
a frame is used only when it is the next one of its stream, never twice, never an
``initialize``, and the streams' copies of what it delivered are skipped."""

from __future__ import annotations

import json
from typing import Any, cast

import pytest
from redis import asyncio as aioredis

from appserver.relay.cluster import Cluster, _Follower
from appserver.relay.cluster_host import ClusterHostLink
from appserver.relay.up_batches import cursor_of
from appserver.relay.host_link import HostState
from appserver.relay.hub import Relay, RelayConfig
from appserver.relay.streams import ControllerStream
from appserver.remote_control.envelopes import ServerMessage, encode

SERVER, CLIENT, STREAM = "srv_1", "client_1", "stream_1"


class Frames:
    """What a host link's socket was given."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def write(self, texts: list[str]) -> None:
        self.sent += [json.loads(text) for text in texts]

    async def drain(self) -> None:
        pass


def node() -> tuple[Relay, Cluster]:
    relay = Relay(cast(Any, None), RelayConfig(listen_url="", public_url=""))
    return relay, Cluster(relay, aioredis.Redis(), "test", node_id="n1")


def answer(seq_id: int) -> ServerMessage:
    return ServerMessage(CLIENT, STREAM, seq_id, json.dumps({"id": seq_id, "result": {}}))


def owner_with_a_local_stream() -> tuple[ControllerStream, ClusterHostLink]:
    """The host's link on its owner, and a controller stream of that host on the same node."""
    relay, cluster = node()
    cluster.followers[SERVER] = _Follower(SERVER, "0-0")
    stream = ControllerStream(relay, STREAM, CLIENT, SERVER)
    relay.add_stream(stream)
    link = ClusterHostLink(cluster, relay, HostState(SERVER), cast(Any, None), "peer")
    link.frames = cast(Any, Frames())
    link.origins[(CLIENT, STREAM)] = cluster.node_id  # the stream is on this node
    return stream, link


@pytest.mark.anyio
async def test_a_host_message_is_used_only_when_it_is_the_streams_next() -> None:
    relay, cluster = node()
    follower = cluster.followers[SERVER] = _Follower(SERVER, "0-0")
    stream = ControllerStream(relay, STREAM, CLIENT, SERVER)
    relay.add_stream(stream)
    assert cluster.take_direct_down(SERVER, answer(2)) is False  # 1 is missing
    assert cluster.take_direct_down(SERVER, answer(1)) is True
    assert cluster.take_direct_down(SERVER, answer(1)) is False  # twice
    assert cluster.take_direct_down(SERVER, answer(3)) is False  # 2 is missing
    assert cluster.take_direct_down(SERVER, answer(2)) is True
    assert [json.loads(frame.text)["id"] for frame in stream.buffer.unwritten()] == [1, 2]
    # The down stream's copies: skipped without parsing up to what was used, not after.
    assert cluster._had(follower, {"e": "", "s": STREAM, "q": "2"}) is True
    assert cluster._had(follower, {"e": "", "s": STREAM, "q": "3"}) is False
    assert cluster._had(follower, {"e": "", "s": "another node's stream", "q": "9"}) is True
    assert cluster._had(follower, {"e": ""}) is False  # pongs and chunks: parsed
    # Another host's or an unknown stream's message is not used.
    assert cluster.take_direct_down("srv_other", answer(3)) is False


@pytest.mark.anyio
async def test_a_controller_frame_is_written_only_after_the_streams_first_and_in_order() -> None:
    relay, cluster = node()
    link = ClusterHostLink(cluster, relay, HostState(SERVER), cast(Any, None), "peer")
    frames = link.frames = cast(Any, Frames())
    request = '{"id":7,"method":"model/list"}'
    # The stream's first frames come from the up stream only.
    assert link.take_direct("n2", CLIENT, STREAM, 0, '{"id":1,"method":"initialize"}') is False
    assert link.take_direct("n2", CLIENT, STREAM, 1, request) is False
    assert link.origins[(CLIENT, STREAM)] == "n2"
    # The owner wrote seq_ids 0..1 from the up stream (its entry 5-0 last).
    written = await link._send_entry("5-0", {"k": "m", "c": CLIENT, "s": STREAM, "q": "1", "m": request})
    assert written is True
    assert frames.sent[-1]["cursor"] == cursor_of("5-0") and frames.sent[-1]["seq_id"] == 1
    # Now the next one is written at once, with the newest entry read as its cursor.
    assert link.take_direct("n2", CLIENT, STREAM, 2, request) is True
    assert frames.sent[-1]["seq_id"] == 2 and frames.sent[-1]["cursor"] == cursor_of("5-0")
    assert link.take_direct("n2", CLIENT, STREAM, 2, request) is False  # twice
    assert link.take_direct("n2", CLIENT, STREAM, 4, request) is False  # 3 is missing
    assert link.take_direct("n2", CLIENT, STREAM, 3, '{"id":9,"method":"initialize"}') is False
    # The up stream's copy of what went directly is skipped; the next one is written.
    copy = {"k": "m", "c": CLIENT, "s": STREAM, "q": "2", "m": request}
    assert await link._send_entry("6-0", copy) is False
    assert await link._send_entry("7-0", {**copy, "q": "3"}) is True
    assert [frame["seq_id"] for frame in frames.sent] == [1, 2, 3]


@pytest.mark.anyio
async def test_a_host_envelope_is_taken_without_waiting_and_only_while_the_link_is_open() -> None:
    relay, cluster = node()
    link = ClusterHostLink(cluster, relay, HostState(SERVER), cast(Any, None), "peer")
    link.frames = cast(Any, Frames())
    envelope = '{"type":"server_message","client_id":"c","stream_id":"s","seq_id":1,"message":{"id":1,"result":{}}}'
    assert link.take(envelope) is True  # queued for the down stream (acked once Redis has it)
    assert link._down._pending[0] == ("c", "s", 1, envelope)
    link.closed = True
    assert link.take(envelope) is False and len(link._down._pending) == 1
    assert link.ready_for("{}") is False


@pytest.mark.anyio
async def test_our_hosts_message_goes_on_as_the_host_wrote_it() -> None:
    stream, link = owner_with_a_local_stream()
    message = '{"id":1,"result":{"price":1.50}}'  # a full parse would write 1.5
    text = encode(ServerMessage(CLIENT, STREAM, 1, message))
    assert link.take(text) is True
    assert [frame.text for frame in stream.buffer.unwritten()] == [message]
    assert link._down._pending[0] == (CLIENT, STREAM, 1, text)  # Redis keeps the envelope


@pytest.mark.anyio
async def test_a_streams_next_message_is_known_by_its_end_and_anything_else_is_read_whole() -> None:
    stream, link = owner_with_a_local_stream()
    other = encode(ServerMessage(CLIENT, "stream_2", 5, '{"id":5,"result":{}}'))
    texts = [
        encode(answer(1)), encode(answer(2)),  # the second by its end (the first's next)
        other,  # another stream: read whole
        encode(answer(3)),  # not the other stream's next: read whole
        encode(answer(3)),  # a replay: not the next, read whole (and not used twice)
        '{"type":"server_message","client_id":"client_1","stream_id":"stream_1","seq_id":4,'
        '"message":{"id":4,"result":{}}}',  # another key order: parsed
        encode(answer(5)),  # after a parsed one: read whole
        encode(answer(6)),
    ]
    for text in texts:
        assert link.take(text) is True
    assert list(link._down._pending) == [
        (CLIENT, STREAM, 1, texts[0]), (CLIENT, STREAM, 2, texts[1]), (CLIENT, "stream_2", 5, other),
        (CLIENT, STREAM, 3, texts[3]), (CLIENT, STREAM, 3, texts[4]), (CLIENT, STREAM, 4, texts[5]),
        (CLIENT, STREAM, 5, texts[6]), (CLIENT, STREAM, 6, texts[7]),
    ]
    assert [json.loads(frame.text)["id"] for frame in stream.buffer.unwritten()] == [1, 2, 3, 4, 5, 6]
    # An ending that matches a prefix of the ids is no match: the ids are read.
    link.take(encode(ServerMessage("x" + CLIENT, STREAM, 7, '{"id":7,"result":{}}')))
    assert link._down._pending[-1][:3] == ("x" + CLIENT, STREAM, 7)


@pytest.mark.anyio
async def test_a_batch_entrys_frames_carry_their_row_as_cursor_and_a_resume_starts_inside_it() -> None:
    from appserver.relay.up_batches import pack

    relay, cluster = node()
    link = ClusterHostLink(cluster, relay, HostState(SERVER), cast(Any, None), "peer")
    frames = link.frames = cast(Any, Frames())
    request = '{"id":7,"method":"model/list"}'
    entry = pack([("m", CLIENT, STREAM, seq_id, request) for seq_id in range(4)])
    # A new owner whose host's cursor was x9-0:1 (rows 0 and 1 of entry 9-0 had): rows 2, 3.
    assert await link._send_entry("9-0", entry, first=2) is True
    assert [(frame["seq_id"], frame["cursor"]) for frame in frames.sent] == [(2, "x9-0:2"), (3, "x9-0")]
    # A direct frame now carries the newest frame's cursor: the whole entry.
    assert link.take_direct("n2", CLIENT, STREAM, 4, request) is True
    assert frames.sent[-1]["cursor"] == "x9-0"
    # An entry the direct path wrote all of is skipped from its index, and moves the cursor.
    assert await link._send_entry("10-0", pack([("m", CLIENT, STREAM, 4, request)])) is False
    assert link.take_direct("n2", CLIENT, STREAM, 5, request) is True
    assert frames.sent[-1]["cursor"] == "x10-0"


@pytest.mark.anyio
async def test_a_direct_envelope_is_exactly_what_encode_writes_with_or_without_a_cursor() -> None:
    from appserver.remote_control.envelopes import ClientMessage

    relay, cluster = node()
    link = ClusterHostLink(cluster, relay, HostState(SERVER), cast(Any, None), "peer")
    request = '{"id":7,"method":"model/list","params":{"a":"é"}}'
    link.direct_envelope("n2", CLIENT, STREAM, 0, request)  # (learns the stream; not the next one)
    link._written[(CLIENT, STREAM)] = 0
    assert link.direct_envelope("n2", CLIENT, STREAM, 1, request) == encode(ClientMessage(CLIENT, STREAM, 1, request))
    link._verified = "x9-0:3"
    assert link.direct_envelope("n2", CLIENT, STREAM, 2, request) == encode(
        ClientMessage(CLIENT, STREAM, 2, request, "x9-0:3")
    )


@pytest.mark.anyio
async def test_envelopes_redis_has_are_acked_a_run_of_one_streams_messages_at_a_time() -> None:
    from appserver.remote_control.envelopes import Pong, PongStatus

    relay, cluster = node()
    link = ClusterHostLink(cluster, relay, HostState(SERVER), cast(Any, None), "peer")
    acked: list[tuple[tuple[str, str], int, int | None, int]] = []
    link._ack_at = lambda key, seq_id, segment, count=1: acked.append((key, seq_id, segment, count))  # type: ignore[method-assign]
    pong = Pong("c", "s2", 4, PongStatus.ACTIVE)
    link._acked_in_redis([("c", "s1", 1, "e1"), ("c", "s1", 2, "e2"), ("c", "s2", 3, "e3"), (pong, "e4"),
                          ("c", "s1", 3, "e5"), ("d", "s1", 9, "e6")])
    assert acked == [(("c", "s1"), 2, None, 2), (("c", "s2"), 3, None, 1), (("c", "s2"), 4, None, 1),
                     (("c", "s1"), 3, None, 1), (("d", "s1"), 9, None, 1)]
