"""Chunking and reassembly (spec/remote-control.md §4.4), no event loop."""

from __future__ import annotations

import base64
import json

import pytest

from appserver import limits
from appserver.remote_control.chunks import (
    ChunkError,
    MessageTooLarge,
    Reassembled,
    Reassembler,
    split_client_message,
    split_server_message,
)
from appserver.remote_control.envelopes import (
    ClientMessage,
    ClientMessageChunk,
    ServerMessage,
    ServerMessageChunk,
    encode,
    envelope_size,
    parse_server_envelope,
)


def message_of(size: int) -> str:
    """A JSON-RPC response whose compact text is exactly ``size`` bytes."""
    head, tail = '{"id":2,"result":{"dataBase64":"', '"}}'
    return head + "A" * (size - len(head) - len(tail)) + tail


def test_small_messages_travel_whole() -> None:
    message = message_of(1000)
    assert split_server_message("c", "s", 4, message) == [ServerMessage("c", "s", 4, message)]


def test_the_binarys_cut_of_a_273103_byte_message() -> None:
    # spec/remote-control-observed.md §3 item 13: three equal pieces of 91,035 bytes,
    # 121,380 base64 characters each, sharing seq_id 5.
    message = message_of(273_103)
    chunks = split_server_message("client-1", "stream-1", 5, message)
    assert [type(c) for c in chunks] == [ServerMessageChunk] * 3
    assert [c.segment_id for c in chunks] == [0, 1, 2]
    assert {(c.seq_id, c.segment_count, c.message_size_bytes) for c in chunks} == {(5, 3, 273_103)}
    assert [len(c.message_chunk_base64) for c in chunks] == [121_380] * 3
    assert all(envelope_size(c) <= limits.RC_MAX_ENVELOPE_BYTES for c in chunks)
    assert b"".join(base64.b64decode(c.message_chunk_base64) for c in chunks) == message.encode()


def test_a_message_just_over_the_envelope_limit_is_cut_in_two() -> None:
    message = message_of(limits.RC_MAX_ENVELOPE_BYTES)
    chunks = split_server_message("c", "s", 1, message)
    assert len(chunks) == 2


def test_client_messages_are_cut_the_same_way_and_keep_the_cursor() -> None:
    message = message_of(200 * 1024)
    chunks = split_client_message("c", "s", 9, message, cursor="k")
    assert len(chunks) == 2 and all(isinstance(c, ClientMessageChunk) for c in chunks)
    assert {c.cursor for c in chunks} == {"k"}
    assert split_client_message("c", "s", 9, "{}") == [ClientMessage("c", "s", 9, "{}")]


def test_messages_over_the_limit_are_refused() -> None:
    with pytest.raises(MessageTooLarge):
        split_server_message("c", "s", 1, message_of(limits.RC_MAX_MESSAGE_BYTES + 1))
    with pytest.raises(MessageTooLarge):
        split_server_message("c" * limits.RC_MAX_ENVELOPE_BYTES, "s", 1, message_of(10))


def reassemble(reassembler: Reassembler, chunks: list) -> list[Reassembled]:
    out = []
    for chunk in chunks:
        whole = reassembler.feed(chunk, envelope_size(chunk))
        if whole is not None:
            out.append(whole)
    return out


def test_reassembly_rebuilds_the_message_on_the_last_chunk() -> None:
    message = message_of(300 * 1024)
    chunks = split_client_message("c", "s", 7, message, cursor="k")
    reassembler = Reassembler()
    assert reassemble(reassembler, chunks) == [Reassembled("c", "s", 7, message, "k")]
    assert reassembler.assemblies == 0 and reassembler.buffered_bytes == 0


def test_relay_side_reassembles_server_chunks_from_the_wire() -> None:
    message = message_of(273_103)
    frames = [encode(c) for c in split_server_message("c", "s", 5, message)]
    reassembler = Reassembler(per_stream=True)
    rebuilt = [reassembler.feed(parse_server_envelope(f), len(f)) for f in frames]
    assert rebuilt[:2] == [None, None]
    assert rebuilt[2] == Reassembled("c", "s", 5, message)


def test_replayed_chunks_are_dropped_silently() -> None:
    message = message_of(300 * 1024)
    chunks = split_client_message("c", "s", 7, message)
    reassembler = Reassembler()
    assert reassembler.feed(chunks[0]) is None
    assert reassembler.feed(chunks[0]) is None  # behind the assembly: a replay
    assert reassemble(reassembler, chunks[1:]) == [Reassembled("c", "s", 7, message)]
    # The whole message again after a reconnect: already delivered.
    assert reassemble(reassembler, chunks) == []


def test_out_of_order_chunks_drop_the_assembly() -> None:
    chunks = split_client_message("c", "s", 7, message_of(300 * 1024))
    reassembler = Reassembler()
    reassembler.feed(chunks[0])
    with pytest.raises(ChunkError, match="out of order"):
        reassembler.feed(chunks[2])
    assert reassembler.assemblies == 0
    # The late chunk cannot complete anything.
    with pytest.raises(ChunkError, match="out of order"):
        reassembler.feed(chunks[1])


def test_a_chunk_of_another_stream_resets_the_clients_assembly() -> None:
    first = split_client_message("c", "s1", 1, message_of(200 * 1024))
    second = split_client_message("c", "s2", 1, message_of(200 * 1024))
    reassembler = Reassembler()
    reassembler.feed(first[0])
    assert reassemble(reassembler, second) and reassembler.assemblies == 0
    with pytest.raises(ChunkError):
        reassembler.feed(first[1])


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"segment_count": 0}, "invalid chunk fields"),
        ({"segment_count": limits.RC_MAX_SEGMENTS + 1}, "invalid chunk fields"),
        ({"segment_id": 2}, "invalid chunk fields"),
        ({"message_size_bytes": 0}, "invalid chunk fields"),
        ({"message_size_bytes": limits.RC_MAX_MESSAGE_BYTES + 1}, "invalid chunk fields"),
        ({"message_chunk_base64": ""}, "invalid chunk fields"),
        ({"message_chunk_base64": "not base64!"}, "not valid base64"),
        ({"seq_id": None}, "without seq_id"),
        ({"stream_id": None}, "without stream_id"),
    ],
)
def test_chunks_that_break_a_rule_are_refused(change: dict, reason: str) -> None:
    chunk = ClientMessageChunk("c", "s", 1, 0, 2, 4, "e30=")
    fields = {**{f: getattr(chunk, f) for f in chunk.__slots__}, **change}
    with pytest.raises(ChunkError, match=reason):
        Reassembler().feed(ClientMessageChunk(**fields))


def test_size_mismatch_and_non_json_are_refused() -> None:
    reassembler = Reassembler()
    with pytest.raises(ChunkError, match="exceed the announced"):
        reassembler.feed(ClientMessageChunk("c", "s", 1, 0, 1, 1, "e30="))
    with pytest.raises(ChunkError, match="wrong size"):
        reassembler.feed(ClientMessageChunk("c", "s", 2, 0, 1, 5, "e30="))
    data = base64.b64encode(b"[1]").decode()
    with pytest.raises(ChunkError, match="not a JSON-RPC object"):
        reassembler.feed(ClientMessageChunk("c", "s", 3, 0, 1, 3, data))
    with pytest.raises(ChunkError, match="mismatch|does not match"):
        reassembler.feed(ClientMessageChunk("c", "s", 4, 0, 2, 8, "e30="))
        reassembler.feed(ClientMessageChunk("c", "s", 4, 1, 3, 8, "e30="))


def test_an_oversized_chunk_envelope_invalidates_the_streams_assembly() -> None:
    chunks = split_client_message("c", "s", 7, message_of(300 * 1024))
    reassembler = Reassembler()
    reassembler.feed(chunks[0])
    with pytest.raises(ChunkError, match="size limit"):
        reassembler.feed(chunks[1], limits.RC_MAX_ENVELOPE_BYTES + 1)
    assert reassembler.assemblies == 0


def test_assemblies_are_bounded_by_count_and_bytes() -> None:
    reassembler = Reassembler(per_stream=True, max_assemblies=2, max_buffered_bytes=10)
    body = json.dumps({"id": 1}).encode()
    half = base64.b64encode(body[:4]).decode()
    for stream in ("a", "b", "c"):
        reassembler.feed(ClientMessageChunk("c", stream, 1, 0, 2, len(body), half))
    assert reassembler.assemblies == 2 and reassembler.buffered_bytes == 8
    reassembler.feed(ClientMessageChunk("c", "d", 1, 0, 2, len(body), half))
    reassembler.feed(ClientMessageChunk("c", "e", 1, 0, 2, len(body), half))
    assert reassembler.buffered_bytes <= 10
