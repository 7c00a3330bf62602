"""The host link's own client frames (appserver.remote_control.link_frames), read back by
websockets' frame parser, with literal bytes and no event loop."""

from __future__ import annotations

import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from appserver.remote_control import link_frames
from appserver.remote_control.link_frames import masked_text_frames


def read_frames(raw: bytes, count: int) -> list[Frame]:
    reader = StreamReader()
    reader.feed_data(raw)
    reader.feed_eof()
    frames = []
    for _ in range(count):
        parser = Frame.parse(reader.read_exact, mask=True)  # as a server reads a client
        with pytest.raises(StopIteration) as done:
            next(parser)
        frames.append(done.value.value)
    assert reader.at_eof()
    return frames


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 200_000])
def test_every_length_form_reads_back_as_one_masked_text_frame(size: int) -> None:
    payloads = [("é" * size).encode()[:size], b"x" * size, b'{"type":"pong"}']
    frames = read_frames(masked_text_frames(payloads), len(payloads))
    assert [(f.opcode, f.fin, f.data) for f in frames] == [(Opcode.TEXT, True, p) for p in payloads]


def test_each_frame_has_its_own_key_from_one_random_draw(monkeypatch: pytest.MonkeyPatch) -> None:
    draws: list[int] = []

    def urandom(n: int) -> bytes:
        draws.append(n)
        return bytes(range(1, n + 1))

    monkeypatch.setattr(link_frames.os, "urandom", urandom)
    raw = masked_text_frames([b"ab", b"cd", b"ef"])
    assert draws == [12]
    # header (FIN|text, MASK|2), its key, then the payload XOR the key
    assert raw == (
        b"\x81\x82\x01\x02\x03\x04" + bytes([ord("a") ^ 1, ord("b") ^ 2])
        + b"\x81\x82\x05\x06\x07\x08" + bytes([ord("c") ^ 5, ord("d") ^ 6])
        + b"\x81\x82\x09\x0a\x0b\x0c" + bytes([ord("e") ^ 9, ord("f") ^ 10])
    )
