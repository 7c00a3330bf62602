"""The relay's resume buffer and redelivery buffer (sans-I/O, no event loop)."""

from __future__ import annotations

import json
import random

import pytest

from appserver.relay.buffers import Overflow, Redelivery, ResumeBuffer


def test_resume_buffer_numbers_frames_and_resends_after_received() -> None:
    buffer = ResumeBuffer(max_frames=10, max_bytes=1000)
    assert [buffer.append(t) for t in ("a", "b", "c")] == [1, 2, 3]
    assert [f.text for f in buffer.unwritten()] == ["a", "b", "c"]
    buffer.written = 3
    assert buffer.unwritten() == []
    # A new socket whose controller received only the first frame.
    assert buffer.can_resume(1)
    buffer.rewind(1)
    assert [(f.index, f.text) for f in buffer.unwritten()] == [(2, "b"), (3, "c")]
    assert not buffer.can_resume(4)  # ahead of what was sent


def test_resume_buffer_evicts_written_frames_only() -> None:
    buffer = ResumeBuffer(max_frames=2, max_bytes=1000)
    buffer.append("a")
    buffer.append("b")
    buffer.written = 1
    buffer.append("c")  # evicts "a" (written)
    assert buffer.first == 2 and buffer.last == 3
    assert not buffer.can_resume(0)  # frame 1 is gone
    assert buffer.can_resume(1)
    with pytest.raises(Overflow):
        buffer.append("d")  # "b" and "c" are unwritten: nothing may go
    assert buffer.last == 3  # unchanged


def test_resume_buffer_extend_is_append_of_each_as_far_as_they_fit() -> None:
    texts = ["a", "é" * 3, "c", "d", "e"]
    one_by_one, together = ResumeBuffer(max_frames=4, max_bytes=9), ResumeBuffer(max_frames=4, max_bytes=9)
    for buffer in (one_by_one, together):
        buffer.append("w")
        buffer.written = 1
    taken = 0
    for text in texts:
        try:
            one_by_one.append(text)
        except Overflow:
            break
        taken += 1
    assert together.extend(texts) == taken == 4  # "w" evicted (written) for "d"; no room for "e"
    for buffer in (one_by_one, together):
        assert [(f.index, f.text, f.size) for f in buffer.unwritten()] == [
            (2, "a", 1), (3, "ééé", 6), (4, "c", 1), (5, "d", 1),
        ]
        assert (buffer.first, buffer.last, buffer.bytes) == (2, 5, 9)
    assert together.extend([]) == 0


class OneByOne:
    """The resume buffer's rules, one frame at a time, as plainly as they read."""

    def __init__(self, max_frames: int, max_bytes: int) -> None:
        self.max_frames, self.max_bytes = max_frames, max_bytes
        self.frames: list[tuple[int, str]] = []
        self.last = self.written = 0

    def append(self, text: str) -> bool:
        size = len(text.encode())
        while self.frames and (
            len(self.frames) >= self.max_frames
            or sum(len(t.encode()) for _, t in self.frames) + size > self.max_bytes
        ):
            if self.frames[0][0] > self.written:
                return False
            del self.frames[0]
        self.last += 1
        self.frames.append((self.last, text))
        return True


def test_resume_buffer_append_and_extend_keep_the_one_by_one_rules_whatever_the_batches() -> None:
    rng = random.Random(7)
    for _ in range(300):
        max_frames, max_bytes = rng.randint(1, 8), rng.randint(1, 40)
        plain, buffer = OneByOne(max_frames, max_bytes), ResumeBuffer(max_frames, max_bytes)
        for _ in range(20):
            texts = [rng.choice(["a", "bb", "é", "x" * rng.randint(0, 30)]) for _ in range(rng.randint(0, 6))]
            taken = 0
            for text in texts:
                if not plain.append(text):
                    break
                taken += 1
            if len(texts) == 1 and rng.random() < 0.5:
                try:
                    buffer.append(texts[0])
                except Overflow:
                    assert taken == 0
                else:
                    assert taken == 1
            else:
                assert buffer.extend(texts) == taken
            assert [(f.index, f.text) for f in buffer.unwritten()] == [f for f in plain.frames if f[0] > plain.written]
            assert (buffer.first, buffer.last) == (plain.frames[0][0] if plain.frames else plain.last + 1, plain.last)
            assert buffer.bytes == sum(len(t.encode()) for _, t in plain.frames)
            if rng.random() < 0.6:
                plain.written = buffer.written = rng.randint(plain.written, plain.last)


def test_resume_buffer_byte_bound_admits_one_large_frame_when_idle() -> None:
    buffer = ResumeBuffer(max_frames=100, max_bytes=10)
    buffer.append("x" * 50)
    buffer.written = 1
    buffer.append("y" * 5)  # evicts the large written one
    assert buffer.first == 2 and buffer.bytes == 5
    with pytest.raises(Overflow):
        buffer.append("z" * 6)


def test_redelivery_after_cursor_and_confirm() -> None:
    out = Redelivery("boot1", max_envelopes=3, max_bytes=1000)
    for stream in ("s1", "s2", "s1"):
        number = out.take()
        out.record(number, stream, f"env{number}")
    assert out.cursor_text(2) == "boot1.2"
    assert out.cursor_json(2) == '"boot1.2"' == json.dumps(out.cursor_text(2))
    assert out.parse_cursor("boot1.2") == 2
    assert out.parse_cursor("other.2") is None and out.parse_cursor("boot1.x") is None
    assert out.parse_cursor(None) is None
    assert [s.text for s in out.after(1)] == ["env2", "env3"]
    out.confirm(2)
    assert [s.text for s in out.after(0)] == ["env3"]


def test_redelivery_is_bounded() -> None:
    out = Redelivery("b", max_envelopes=2, max_bytes=8)
    for _ in range(3):
        number = out.take()
        out.record(number, "s", "1234")
    assert [s.cursor for s in out.after(0)] == [2, 3]
    number = out.take()
    out.record(number, "s", "123456789")  # alone over the byte bound: nothing kept
    assert len(out) == 0


def test_resume_buffer_bound_counts_utf8_bytes_not_characters() -> None:
    buffer = ResumeBuffer(max_frames=100, max_bytes=10)
    buffer.append("é" * 5)  # 5 characters, 10 bytes: the bound is full
    assert buffer.bytes == 10
    with pytest.raises(Overflow):
        buffer.append("a")  # 11 bytes with the unwritten frame
    buffer.written = 1
    buffer.append("ü" * 2)  # evicts the written frame
    assert (buffer.first, buffer.bytes) == (2, 4)


def test_redelivery_bound_counts_utf8_bytes_not_characters() -> None:
    out = Redelivery("b", max_envelopes=10, max_bytes=8)
    for _ in range(3):
        number = out.take()
        out.record(number, "s", "éé")  # 2 characters, 4 bytes each
    assert [s.cursor for s in out.after(0)] == [2, 3]
    out.forget_stream("other")
    number = out.take()
    out.record(number, "s", "éé")
    assert [s.cursor for s in out.after(0)] == [3, 4]
