"""Numbering, acks, replay and the relay's replay filter (spec/remote-control.md §4.3, §4.5)."""

from __future__ import annotations

from appserver import limits
from appserver.remote_control.envelopes import (
    Pong,
    PongStatus,
    ServerMessage,
    ServerMessageChunk,
)
from appserver.remote_control.streams import ReplayBuffer, ReplayFilter, SeqNumbers


def test_numbers_start_at_one_per_stream_and_never_restart() -> None:
    numbers = SeqNumbers()
    assert [numbers.next("c1", "s1") for _ in range(3)] == [1, 2, 3]
    assert numbers.next("x", "unknown") == 1
    assert numbers.next("c1", "s1") == 4


def test_forgotten_streams_start_again() -> None:
    numbers = SeqNumbers(remember=2)
    numbers.next("c", "a")
    numbers.next("c", "b")
    numbers.next("c", "a")
    numbers.next("c", "c")  # evicts b, the least recently used
    assert len(numbers) == 2
    assert numbers.next("c", "b") == 1
    assert numbers.next("c", "c") == 2


def test_numbers_can_be_taken_several_at_once_and_unused_ones_given_back() -> None:
    numbers = SeqNumbers()
    assert numbers.take("c", "s", 5) == 1
    assert numbers.next("c", "s") == 6
    assert numbers.take("c", "s", 3) == 7
    numbers.give_back("c", "s", 2)  # only 7 was used
    assert numbers.next("c", "s") == 8


def msg(seq: int, stream: str = "s") -> ServerMessage:
    return ServerMessage("c", stream, seq, "{}")


def chunk(seq: int, segment: int) -> ServerMessageChunk:
    return ServerMessageChunk("c", "s", seq, segment, 3, 9, "AAAA")


def test_acks_free_whole_messages_or_chunks_up_to_a_segment() -> None:
    buffer = ReplayBuffer()
    for envelope in (msg(1), msg(2), chunk(3, 0), chunk(3, 1), chunk(3, 2), msg(4)):
        buffer.record(envelope)
    assert buffer.unacked == 6
    assert buffer.ack("c", "s", 2) == 2
    assert buffer.ack("c", "s", 3, 1) == 2
    assert list(buffer.replay()) == [chunk(3, 2), msg(4)]
    assert buffer.ack("c", "s", 3) == 1
    assert buffer.ack("c", "s", 3) == 0
    assert buffer.ack("other", "s", 9) == 0
    assert buffer.unacked == 1 and buffer.unacked_for("c", "s") == 1


def test_replay_keeps_each_streams_order_and_the_envelopes_unchanged() -> None:
    buffer = ReplayBuffer()
    for envelope in (msg(1, "a"), msg(1, "b"), msg(2, "a"), Pong("c", "b", 2, PongStatus.ACTIVE)):
        buffer.record(envelope)
    replayed = list(buffer.replay())
    assert [e for e in replayed if e.stream_id == "a"] == [msg(1, "a"), msg(2, "a")]
    assert [e for e in replayed if e.stream_id == "b"] == [
        msg(1, "b"),
        Pong("c", "b", 2, PongStatus.ACTIVE),
    ]
    assert buffer.unacked == 4  # replaying does not ack


def test_entries_recorded_in_a_batch_are_acked_by_their_positions() -> None:
    buffer: ReplayBuffer[bytes] = ReplayBuffer()
    inf = float("inf")
    buffer.record_many(("c", "s"), [(1, inf, b"one"), (2, 0, b"two.0"), (2, 1, b"two.1"), (3, inf, b"three")])
    buffer.record_many(("c", "t"), [(1, inf, b"other")])
    assert (buffer.unacked, buffer.room) == (5, limits.RC_MAX_UNACKED - 5)
    assert buffer.ack("c", "s", 2, 0) == 2
    assert list(buffer.replay()) == [b"two.1", b"three", b"other"]
    assert buffer.ack("c", "s", 3) == 2
    assert list(buffer.replay()) == [b"other"] and buffer.unacked_for("c", "s") == 0


def test_the_link_is_full_at_128_unacked_and_one_ack_frees_one_slot() -> None:
    buffer = ReplayBuffer()
    for seq in range(1, limits.RC_MAX_UNACKED + 1):
        buffer.record(msg(seq))
    assert buffer.full
    buffer.ack("c", "s", 1)
    assert not buffer.full and buffer.unacked == limits.RC_MAX_UNACKED - 1


def test_the_relay_drops_what_a_host_replays() -> None:
    seen = ReplayFilter()
    assert [seen.accept(e) for e in (msg(1), msg(2), chunk(3, 0))] == [True, True, True]
    # The link dropped; the host replays everything unacked, then goes on.
    assert [seen.accept(e) for e in (msg(2), chunk(3, 0), chunk(3, 1), chunk(3, 2), msg(4))] == [
        False,
        False,
        True,
        True,
        True,
    ]
    assert seen.accept(msg(1, "other"))
    seen.forget("c", "s")
    assert seen.accept(msg(1))
