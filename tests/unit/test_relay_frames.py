"""The relay's batched text frames (appserver.relay.frames): the bytes of RFC 6455 §5.2,
checked against websockets' own parser."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from websockets.frames import Frame, Opcode
from websockets.protocol import OPEN, Protocol, Side

from appserver.relay.frames import FrameWriter, text_frame


def parse(data: bytes) -> list[Frame]:
    """What a WebSocket client reads from these bytes (websockets' sans-I/O protocol)."""
    client = Protocol(Side.CLIENT, state=OPEN, max_size=None)
    client.receive_data(data)
    assert client.parser_exc is None
    return client.events_received()  # type: ignore[return-value]


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 200_000])
def test_text_frames_have_the_three_length_forms(size: int) -> None:
    text = "é" * (size // 2) + "x" * (size % 2)
    [frame] = parse(text_frame(text))
    assert (frame.opcode, frame.fin, frame.data.decode()) == (Opcode.TEXT, True, text)


def test_literal_header_bytes() -> None:
    assert text_frame("hi") == b"\x81\x02hi"
    assert text_frame("x" * 126)[:4] == b"\x81\x7e\x00\x7e"
    assert text_frame("x" * 65536)[:10] == b"\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00"


def test_frames_joined_parse_back_in_order() -> None:
    texts = ['{"id":1,"result":{}}', "x" * 300, "", '{"method":"n"}']
    assert [f.data.decode() for f in parse(b"".join(text_frame(t) for t in texts))] == texts


def test_a_batch_is_one_transport_write_of_the_frames_in_order() -> None:
    class Transport:
        def __init__(self) -> None:
            self.writes: list[bytes] = []

        def is_closing(self) -> bool:
            return False

        def write(self, data: bytes) -> None:
            self.writes.append(data)

    transport = Transport()
    writer = FrameWriter(SimpleNamespace(closed=False), transport, None)  # type: ignore[arg-type]
    texts = ['{"id":1,"result":{}}', "é" * 200, "x" * 70_000]
    writer.write(texts)
    assert transport.writes == [b"".join(text_frame(text) for text in texts)]
    assert [f.data.decode() for f in parse(transport.writes[0])] == texts
