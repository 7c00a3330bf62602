"""The text sink of appserver.transports.frames: literal frames, no event loop."""

from __future__ import annotations

from typing import Any

import pytest
from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.streams import StreamReader
from websockets.uri import parse_uri

from appserver.transports import frames as frames_module
from appserver.transports.frames import DirectTextFrames, encoded_text_frames, text_frames


class _Library:
    """Stands in for the websockets connection below the mixin: records what it is given."""

    def __init__(self) -> None:
        self.queued: list[Any] = []
        self.aborted = False
        self.transport = self

    def process_event(self, event: Any) -> None:
        self.queued.append(event)

    def abort(self) -> None:
        self.aborted = True


class _Connection(DirectTextFrames, _Library):
    pass


def text(data: str, *, fin: bool = True) -> Frame:
    return Frame(Opcode.TEXT, data.encode(), fin=fin)


def with_sink(conn: Any, accept: list[bool]) -> tuple[Any, list[str]]:
    """``conn`` with a sink that takes messages while ``accept[0]`` is true."""
    taken: list[str] = []

    def sink(message: str) -> bool:
        if not accept[0]:
            return False
        taken.append(message)
        return True

    conn.set_text_sink(sink)
    return conn, taken


def connection(accept: list[bool]) -> tuple[_Connection, list[str]]:
    return with_sink(_Connection(), accept)


def test_complete_text_frames_go_to_the_sink_not_the_queue() -> None:
    conn, taken = connection([True])
    conn.process_event(text('{"id":1}'))
    conn.process_event(text('{"id":2,"é":"ü"}'))
    assert taken == ['{"id":1}', '{"id":2,"é":"ü"}']
    assert conn.queued == []


def test_once_a_message_is_queued_later_ones_follow_it_until_the_reader_took_them() -> None:
    accept = [False]
    conn, taken = connection(accept)
    first, second, third = text("1"), text("2"), text("3")
    conn.process_event(first)  # the sink refuses: queued
    accept[0] = True
    conn.process_event(second)  # the sink would take it, but "1" is still queued
    assert taken == [] and conn.queued == [first, second]
    conn.message_taken()
    conn.process_event(third)  # "2" is still queued
    assert taken == [] and conn.queued == [first, second, third]
    conn.message_taken()
    conn.message_taken()
    conn.process_event(text("4"))
    assert taken == ["4"]


def test_a_fragmented_message_is_queued_and_counts_once() -> None:
    conn, taken = connection([True])
    start, end = text('{"id"', fin=False), Frame(Opcode.CONT, b":1}", fin=True)
    conn.process_event(start)
    conn.process_event(end)
    assert conn.queued == [start, end] and taken == []
    conn.message_taken()
    conn.process_event(text("next"))
    assert taken == ["next"]


def test_invalid_utf8_binary_and_control_frames_go_to_the_library() -> None:
    conn, taken = connection([True])
    invalid = Frame(Opcode.TEXT, b"\xff\xfe")
    binary = Frame(Opcode.BINARY, b"\x00")
    ping = Frame(Opcode.PING, b"")
    handshake = object()  # a client connection's first event is the handshake response
    for event in (handshake, ping, invalid, binary):
        conn.process_event(event)
    assert conn.queued == [handshake, ping, invalid, binary] and taken == []
    conn.message_taken()
    conn.message_taken()  # the reader closes on the invalid one; the binary one is dropped
    conn.process_event(text("ok"))
    assert taken == ["ok"]


def test_without_a_sink_everything_is_queued() -> None:
    conn, taken = connection([True])
    conn.set_text_sink(None)
    frame = text("1")
    conn.process_event(frame)
    assert conn.queued == [frame] and taken == []


def test_a_sink_that_raises_drops_the_connection() -> None:
    conn = _Connection()

    def broken(message: str) -> bool:
        raise RuntimeError("bug")

    conn.set_text_sink(broken)
    conn.process_event(text("1"))
    assert conn.aborted and conn.queued == []


# --- reading frames from the bytes data_received is given ------------------------------


MASK = b"\x0f\xf0\x55\xaa"


def masked(first: int, payload: bytes, mask: bytes = MASK) -> bytes:
    """A client's frame: ``first`` header byte, masked payload (RFC 6455 §5.2)."""
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    n = len(payload)
    if n < 126:
        length = bytes([0x80 | n])
    elif n < 65536:
        length = bytes([0x80 | 126]) + n.to_bytes(2, "big")
    else:
        length = bytes([0x80 | 127]) + n.to_bytes(8, "big")
    return bytes([first]) + length + mask + body


class _Socket:
    """The library's data_received over a real sans-I/O protocol, recording what it got."""

    def __init__(self, protocol: Any) -> None:
        self.protocol = protocol
        self.fed: list[bytes] = []
        self.queued: list[Any] = []
        self.aborted = False
        self.transport = self

    def data_received(self, data: bytes) -> None:
        self.fed.append(bytes(data))
        self.protocol.receive_data(data)
        for event in self.protocol.events_received():
            self.process_event(event)

    def process_event(self, event: Any) -> None:
        self.queued.append(event)

    def abort(self) -> None:
        self.aborted = True


class _Reading(DirectTextFrames, _Socket):
    pass


def server(accept: list[bool] | None = None, max_size: int = 1 << 20) -> tuple[_Reading, list[str]]:
    conn = _Reading(ServerProtocol(state=State.OPEN, max_size=max_size))
    return with_sink(conn, accept if accept is not None else [True])


def test_a_text_frame_fed_byte_by_byte_reaches_the_sink_and_never_the_library() -> None:
    conn, taken = server()
    wire = masked(0x81, '{"id":1,"é":1}'.encode())
    for i in range(len(wire)):
        conn.data_received(wire[i : i + 1])
    assert taken == ['{"id":1,"é":1}']
    assert conn.fed == [] and conn.queued == []


def test_16_and_64_bit_lengths_are_read() -> None:
    conn, taken = server(max_size=1 << 20)
    medium, large = "m" * 300, "L" * 70_000
    conn.data_received(masked(0x81, medium.encode()) + masked(0x81, large.encode()))
    assert taken == [medium, large] and conn.fed == []


def test_a_ping_between_text_frames_goes_to_the_library_alone_and_is_answered() -> None:
    conn, taken = server()
    ping = masked(0x89, b"hi")
    conn.data_received(masked(0x81, b"1") + ping + masked(0x81, b"2"))
    assert taken == ["1", "2"]
    assert conn.fed == [ping]  # exactly the whole ping frame
    assert conn.protocol.data_to_send() == [b"\x8a\x02hi"]  # the library's pong


def test_an_unmasked_client_frame_is_the_librarys_protocol_error() -> None:
    conn, taken = server()
    conn.data_received(b"\x81\x01x" + masked(0x81, b"after"))
    assert taken == []
    assert conn.protocol.state is State.CLOSING
    assert conn.protocol.close_sent is not None and conn.protocol.close_sent.code == 1002


def test_a_frame_over_the_size_limit_is_refused_by_the_library_before_it_all_arrives() -> None:
    conn, taken = server(max_size=100)
    conn.data_received(masked(0x81, b"x" * 200)[:50])  # a header saying 200 bytes
    assert taken == [] and conn.fed  # handed over at once, not held
    assert conn.protocol.close_sent is not None and conn.protocol.close_sent.code == 1009


def test_a_declined_message_goes_to_the_queue_once_and_later_ones_follow_it() -> None:
    accept = [False]
    conn, taken = server(accept)
    first = masked(0x81, b"1")
    conn.data_received(first)
    accept[0] = True
    conn.data_received(masked(0x81, b"2"))
    assert taken == []
    assert [event.data for event in conn.queued] == [b"1", b"2"]
    conn.message_taken()
    conn.message_taken()
    conn.data_received(masked(0x81, b"3"))
    assert taken == ["3"]


def test_fragments_invalid_utf8_and_binary_go_to_the_library() -> None:
    conn, taken = server()
    start, end = masked(0x01, b'{"id"'), masked(0x80, b":1}")
    invalid, binary = masked(0x81, b"\xff\xfe"), masked(0x82, b"\x00")
    conn.data_received(start + end + invalid + binary)
    assert conn.fed == [start, end, invalid, binary]
    assert [event.data for event in conn.queued] == [b'{"id"', b":1}", b"\xff\xfe", b"\x00"]
    assert taken == []


def test_a_text_frame_inside_a_fragmented_message_is_the_librarys_protocol_error() -> None:
    conn, taken = server()
    conn.data_received(masked(0x01, b"start") + masked(0x81, b"not a continuation"))
    assert taken == []
    assert conn.protocol.close_sent is not None and conn.protocol.close_sent.code == 1002


def test_after_a_close_frame_every_byte_goes_to_the_library() -> None:
    conn, taken = server()
    close = masked(0x88, b"\x03\xe8")
    conn.data_received(masked(0x81, b"1") + close + masked(0x81, b"2"))
    assert taken == ["1"]
    assert conn.protocol.state is State.CLOSING
    assert conn.fed[0] == close and b"".join(conn.fed[1:]) == masked(0x81, b"2")


def test_bytes_the_library_held_before_the_handshake_ended_keep_it_reading() -> None:
    conn, taken = server()
    conn.protocol.reader.feed_data(masked(0x81, b"early")[:3])  # a partial frame it holds
    conn.data_received(masked(0x81, b"next"))
    assert taken == [] and conn.fed


# --- writing frames ---------------------------------------------------------------------


def test_a_servers_frames_are_byte_for_byte_the_librarys() -> None:
    ours, library = ServerProtocol(state=State.OPEN), ServerProtocol(state=State.OPEN)
    texts = ["a", "é" * 100, "x" * 70_000]
    for text in texts:
        library.send_text(text.encode())
    assert text_frames(ours, texts) == b"".join(library.data_to_send())


def test_a_clients_frames_are_masked_with_a_fresh_key_each() -> None:
    client = ClientProtocol(parse_uri("ws://localhost/"), state=State.OPEN)
    wire = text_frames(client, ["same", "same"])
    receiver = ServerProtocol(state=State.OPEN)
    receiver.receive_data(wire)
    assert [event.data for event in receiver.events_received()] == [b"same", b"same"]
    first_key, second_key = wire[2:6], wire[12:16]
    assert wire[1] & 0x80 and first_key != second_key


def test_with_permessage_deflate_the_library_frames_and_compresses() -> None:
    sender = ServerProtocol(state=State.OPEN)
    sender.extensions = [PerMessageDeflate(False, False, 15, 15)]
    wire = text_frames(sender, ["a" * 1000])
    assert wire[0] == 0xC1 and len(wire) < 100  # RSV1: compressed


def read_frames(raw: bytes, count: int, *, masked: bool) -> list[Frame]:
    reader = StreamReader()
    reader.feed_data(raw)
    reader.feed_eof()
    frames = []
    for _ in range(count):
        parser = Frame.parse(reader.read_exact, mask=masked)
        with pytest.raises(StopIteration) as done:
            next(parser)
        frames.append(done.value.value)
    assert reader.at_eof()
    return frames


@pytest.mark.parametrize("masked", [True, False])
@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 200_000])
def test_every_length_form_reads_back_as_one_text_frame(size: int, masked: bool) -> None:
    payloads = [("é" * size).encode()[:size], b"x" * size, b'{"type":"pong"}']
    frames = read_frames(encoded_text_frames(payloads, masked=masked), len(payloads), masked=masked)
    assert [(f.opcode, f.fin, f.data) for f in frames] == [(Opcode.TEXT, True, p) for p in payloads]


def test_masking_keys_come_from_one_random_draw_per_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    draws: list[int] = []

    def urandom(n: int) -> bytes:
        draws.append(n)
        return bytes(range(1 + len(draws) * 100, 1 + len(draws) * 100 + n))

    monkeypatch.setattr(frames_module.os, "urandom", urandom)
    monkeypatch.setattr(frames_module, "_masks", frames_module._MaskPool(keys=2))
    raw = encoded_text_frames([b"ab", b"cd", b"ef"], masked=True)
    assert draws == [8, 8]  # two keys a draw: a second draw for the third frame
    k1, k2, k3 = bytes([101, 102, 103, 104]), bytes([105, 106, 107, 108]), bytes([201, 202, 203, 204])
    # header (FIN|text, MASK|2), its key, then the payload XOR the key
    assert raw == (
        b"\x81\x82" + k1 + bytes([ord("a") ^ k1[0], ord("b") ^ k1[1]])
        + b"\x81\x82" + k2 + bytes([ord("c") ^ k2[0], ord("d") ^ k2[1]])
        + b"\x81\x82" + k3 + bytes([ord("e") ^ k3[0], ord("f") ^ k3[1]])
    )


def test_one_frame_is_the_same_bytes_as_a_batch_of_one() -> None:
    ours, library = ServerProtocol(state=State.OPEN), ServerProtocol(state=State.OPEN)
    library.send_text("é".encode())
    assert frames_module.text_frame(ours, "é") == b"".join(library.data_to_send())
    library.send_text(b"ping")  # something the library still has to send goes first
    assert frames_module.text_frame(library, "x") == b"\x81\x04ping\x81\x01x"


def test_read_done_follows_every_read_after_its_messages() -> None:
    conn = _Reading(ServerProtocol(state=State.OPEN))
    seen: list[str] = []
    conn.set_text_sink(lambda text: seen.append(text) is None, lambda: seen.append("|"))
    conn.data_received(masked(0x81, b"1") + masked(0x81, b"2"))
    wire = masked(0x81, b"3")
    conn.data_received(wire[:3])  # no message yet: still a read
    conn.data_received(wire[3:])
    assert seen == ["1", "2", "|", "|", "3", "|"]


# --- the frame sink: a server's frames, seen before they are decoded -------------------


def client_reading(accept_frames: list[bool]) -> tuple[_Reading, list[str], list[bytes]]:
    """A client-side connection (it reads a server's unmasked frames) with both sinks."""
    conn, texts = with_sink(_Reading(ClientProtocol(parse_uri("ws://x/"), state=State.OPEN)), [True])
    frames: list[bytes] = []

    def frame_sink(data: bytes, start: int, payload_start: int, end: int) -> bool:
        if not accept_frames[0]:
            return False
        frames.append(data[start:end])
        assert data[payload_start:end] == data[start:end][payload_start - start :]
        return True

    conn.set_frame_sink(frame_sink)
    return conn, texts, frames


def test_the_frame_sink_takes_a_servers_text_frames_whole_before_they_are_decoded() -> None:
    conn, texts, frames = client_reading([True])
    long = "x" * 300
    wire = b"\x81\x01a" + b"\x81\x7e\x01\x2c" + long.encode()
    conn.data_received(wire)
    assert frames == [b"\x81\x01a", b"\x81\x7e\x01\x2c" + long.encode()]
    assert texts == [] and conn.queued == []


def test_a_frame_the_frame_sink_declines_goes_to_the_text_sink_in_order() -> None:
    accept = [False]
    conn, texts, frames = client_reading(accept)
    conn.data_received(b"\x81\x01a")
    accept[0] = True
    conn.data_received(b"\x81\x01b")
    assert texts == ["a"] and frames == [b"\x81\x01b"]


def test_the_frame_sink_never_sees_fragments_control_frames_or_a_clients_frames() -> None:
    conn, texts, frames = client_reading([True])
    conn.data_received(b"\x01\x01a" + b"\x80\x01b")  # a fragmented message
    conn.data_received(b"\x89\x00")  # a ping
    assert frames == [] and texts == []
    assert [type(e).__name__ for e in conn.queued] == ["Frame", "Frame", "Frame"]

    served, _ = server()
    seen: list[bytes] = []
    served.set_frame_sink(lambda data, start, payload_start, end: seen.append(data) is None)
    served.data_received(masked(0x81, b"1"))
    assert seen == []  # a client's frames are masked: only the text sink reads them


def test_without_a_text_sink_the_frame_sink_is_not_offered_anything() -> None:
    conn = _Reading(ClientProtocol(parse_uri("ws://x/"), state=State.OPEN))
    seen: list[bytes] = []
    conn.set_frame_sink(lambda data, start, payload_start, end: seen.append(data) is None)
    conn.data_received(b"\x81\x01a")
    assert seen == [] and len(conn.queued) == 1


def test_each_connection_class_reads_frames_with_its_own_copy_of_the_code() -> None:
    # CPython specializes attribute reads per code object: shared code would see the
    # server and the client connection in turn on every round trip.
    server_read = frames_module.DirectServerConnection._read_frames
    client_read = frames_module.DirectClientConnection._read_frames
    assert server_read.__code__ is not client_read.__code__
    assert server_read.__code__.co_code == client_read.__code__.co_code
    assert server_read.__qualname__ == "DirectServerConnection._read_frames"


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536])
@pytest.mark.parametrize("side", ["server", "client"])
def test_a_lone_frame_is_the_same_bytes_as_a_batch_of_one_at_every_length(
    size: int, side: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(frames_module._masks, "take", lambda: b"\x01\x02\x03\x04")
    protocol = (
        ServerProtocol(state=State.OPEN)
        if side == "server"
        else ClientProtocol(parse_uri("ws://x/"), state=State.OPEN)
    )
    text = "é" * (size // 2) + "x" * (size % 2)
    batch = encoded_text_frames([text.encode()], masked=side == "client")
    assert frames_module.text_frame(protocol, text) == batch
