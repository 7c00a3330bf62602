"""The direct path's frames between relay nodes (appserver.relay.peers). Sans-I/O."""

from __future__ import annotations

from appserver.relay.peers import advertised, frame_down, frame_up, parse_frame, unbatch


def test_a_controller_frame_keeps_its_message_whole_tabs_and_all() -> None:
    message = '{"id":1,\t"method":"a\\tb"}'
    frame = frame_up("n1", "srv_1", "client_1", "stream_1", 7, message)
    assert frame == 'u\tn1\tsrv_1\tclient_1\tstream_1\t7\t{"id":1,\t"method":"a\\tb"}'
    assert parse_frame(frame) == ("u", ["n1", "srv_1", "client_1", "stream_1", "7", message])


def test_a_host_frame_carries_the_envelope_as_received() -> None:
    envelope = '{"type":"server_message","message":{"id":1},"client_id":"c","stream_id":"s","seq_id":2}'
    assert parse_frame(frame_down("srv_1", envelope)) == ("d", ["srv_1", envelope])


def test_malformed_frames_are_refused() -> None:
    for bad in ("", "x\tsrv", "u\tn1\tsrv\tc\ts\tseven\t{}", "u\tn1\tsrv", "d\tsrv_only", "u", "d"):
        assert parse_frame(bad) is None, bad


def test_a_batch_is_split_back_into_its_frames() -> None:
    frames = ["d\tsrv\t{}", "", "u\tn\ts\tc\tst\t1\t{\"x\":\"12:34\"}", "é" * 3]
    batch = "".join(f"{len(frame)}:{frame}" for frame in frames)
    assert unbatch(batch) == frames


def test_a_damaged_batch_keeps_what_came_before_the_damage() -> None:
    assert unbatch("3:abc5:de") == ["abc"]  # length past the end
    assert unbatch("3:abcxx:de") == ["abc"]  # not a length
    assert unbatch("") == []


def test_a_node_on_a_wildcard_address_has_nothing_to_advertise() -> None:
    assert advertised("http://127.0.0.1:8787/") == "http://127.0.0.1:8787"
    assert advertised("https://10.0.0.11:8787/") == "https://10.0.0.11:8787"
    assert advertised("http://[::1]:8787/") == "http://[::1]:8787"
    assert advertised("http://0.0.0.0:8787/") is None
    assert advertised("http://[::]:8787/") is None


def test_counts_that_are_not_ascii_digits_are_malformed() -> None:
    assert unbatch("3:abc\u00b2:xy") == ["abc"]  # the tail's length is not a number
    assert parse_frame("u\tn1\tsrv\tc\ts\t\u00b2\t{}") is None
