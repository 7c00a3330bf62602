"""Controllers' frames stored many to one entry in a host's up stream
(appserver.relay.up_batches): what the owner reads back, what it skips from the index
alone, and the cursors that name a frame inside an entry. Sans-I/O: literal fields, no Redis."""

from __future__ import annotations

from appserver.relay.up_batches import all_written, before, cursor_of, pack, position_of, rows

REQUEST = '{"id":1,"method":"x","params":{"text":"a\\tb"}}'


def test_a_batch_entry_keeps_every_frame_in_order_with_an_index_of_each_streams_highest() -> None:
    entry = pack([("m", "c1", "s1", 1, REQUEST), ("m", "c2", "s2", 7, "{}"), ("m", "c1", "s1", 2, "{}")])
    assert list(entry) == ["i", "b"]  # the one field that may hold tabs comes last
    assert entry["i"] == "7:2:c1:s17:7:c2:s2"
    assert rows(entry) == [("m", "c1", "s1", "1", REQUEST), ("m", "c2", "s2", "7", "{}"), ("m", "c1", "s1", "2", "{}")]


def test_pings_and_closes_make_a_batch_read_row_by_row() -> None:
    entry = pack([("m", "c1", "s1", 1, "{}"), ("p", "c1", "s1", None, ""), ("c", "c1", "s1", None, "")])
    assert entry["o"] == "1"
    assert rows(entry)[1:] == [("p", "c1", "s1", "", ""), ("c", "c1", "s1", "", "")]
    assert all_written(entry, lambda client_id, stream_id, seq_id: True) is False


def test_a_batch_the_owner_wrote_all_of_is_skipped_from_its_index_alone() -> None:
    entry = pack([("m", "c1", "s1", 1, "{}"), ("m", "c1", "s1", 2, "{}"), ("m", "c2", "s2", 7, "{}")])
    asked: list[tuple[str, str, int]] = []

    def written(client_id: str, stream_id: str, seq_id: int) -> bool:
        asked.append((client_id, stream_id, seq_id))
        return seq_id <= 2

    assert all_written(entry, written) is False  # s2's 7 is not written yet
    assert asked == [("c1", "s1", 2), ("c2", "s2", 7)]  # one question per stream
    assert all_written(entry, lambda client_id, stream_id, seq_id: True) is True


def test_a_single_frame_entry_of_an_older_node_is_read_as_before() -> None:
    old = {"k": "m", "c": "c1", "s": "s1", "q": "4", "m": REQUEST}
    assert rows(old) == [("m", "c1", "s1", "4", REQUEST)]
    assert all_written(old, lambda client_id, stream_id, seq_id: True) is False


def test_a_cursor_names_an_entry_or_a_row_inside_one() -> None:
    assert cursor_of("17-3") == "x17-3" and cursor_of("17-3", 5) == "x17-3:5"
    assert position_of("x17-3") == ("17-3", None)
    assert position_of("x17-3:5") == ("17-3", 5)
    for other in (None, "", "17-3", "x17", "x17-3:", "x17-3:a", "y17-3", "x17-3:5:6"):
        assert position_of(other) is None, other
    # Reading from the id just below an entry starts at the entry itself.
    assert before("17-3") == "17-2"
    assert before("17-0") == "16-18446744073709551615"
    assert before("0-0") == "0-0"
