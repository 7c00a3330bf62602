"""The text sink of appserver.transports.frames: literal frames, no event loop."""

from __future__ import annotations

from typing import Any

from websockets.frames import Frame, Opcode

from appserver.transports.frames import DirectTextFrames


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


def connection(accept: list[bool]) -> tuple[_Connection, list[str]]:
    """A connection whose sink takes messages while ``accept[0]`` is true."""
    conn = _Connection()
    taken: list[str] = []

    def sink(message: str) -> bool:
        if not accept[0]:
            return False
        taken.append(message)
        return True

    conn.set_text_sink(sink)
    return conn, taken


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
