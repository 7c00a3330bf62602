"""A host's envelopes stored many to one entry in its down stream
(appserver.relay.down_batches): what a node reading behind the direct path hands on, and
what it skips without looking at the envelopes. Sans-I/O: literal fields, no Redis."""

from __future__ import annotations

from appserver.relay.down_batches import pack, unseen

A = '{"type":"server_message","stream_id":"s1","seq_id":1,"message":"x\\ty"}'
B = '{"type":"server_message","stream_id":"s1","seq_id":2}'
C = '{"type":"server_message","stream_id":"s2","seq_id":7}'
PONG = '{"type":"pong","stream_id":"s1","status":"active"}'


def test_a_batch_entry_keeps_every_envelope_in_order_with_an_index_of_each_streams_highest() -> None:
    entry = pack([("c1", "s1", 1, A), ("c1", "s2", 7, C), ("c1", "s1", 2, B)])
    assert list(entry) == ["i", "b"]  # the one field that may hold tabs comes last
    assert entry["i"] == "4:2:s14:7:s2"
    assert "\t" not in entry["i"]
    assert entry["b"] == f"{len(A) + 5}:s1\t1\t{A}{len(C) + 5}:s2\t7\t{C}{len(B) + 5}:s1\t2\t{B}"
    # Nothing had yet: every envelope, in order.
    assert list(unseen(entry, lambda stream_id, seq_id: False)) == [A, C, B]


def test_a_batch_a_node_had_all_of_is_skipped_from_its_index_alone() -> None:
    entry = pack([("c1", "s1", 1, A), ("c1", "s1", 2, B), ("c1", "s2", 7, C)])
    asked: list[tuple[str, str]] = []

    def had(stream_id: str, seq_id: str) -> bool:
        asked.append((stream_id, seq_id))
        return True

    assert list(unseen(entry, had)) == []
    assert asked == [("s1", "2"), ("s2", "7")]  # one question per stream, none per envelope


def test_a_batch_partly_had_yields_only_what_is_missing() -> None:
    entry = pack([("c1", "s1", 1, A), ("c1", "s1", 2, B), ("c1", "s2", 7, C)])
    seen = {"s1": 1, "s2": 7}
    assert list(unseen(entry, lambda stream_id, seq_id: int(seq_id) <= seen[stream_id])) == [B]


def test_other_envelopes_make_the_batch_read_row_by_row_and_are_always_handed_on() -> None:
    entry = pack([(object(), PONG), ("c1", "s1", 1, A)])
    assert entry["o"] == "1" and entry["i"] == "4:1:s1"
    assert list(unseen(entry, lambda stream_id, seq_id: True)) == [PONG]


def test_entries_of_one_envelope_are_still_read() -> None:
    assert list(unseen({"s": "s1", "q": "1", "e": A}, lambda s, q: False)) == [A]
    assert list(unseen({"s": "s1", "q": "1", "e": A}, lambda s, q: True)) == []
    assert list(unseen({"e": PONG}, lambda s, q: True)) == [PONG]


def test_a_malformed_index_is_not_trusted() -> None:
    entry = {"i": "4:x:s1", "b": f"{len(A) + 5}:s1\t1\t{A}"}
    assert list(unseen(entry, lambda s, q: False)) == [A]
    assert list(unseen(entry, lambda s, q: True)) == []

