"""The direct path's frames between relay nodes (appserver.relay.peers). Sans-I/O."""

from __future__ import annotations

from appserver.relay.peers import advertised, frame_message, frame_up, parse_frame, unbatch


def test_a_controller_frame_keeps_its_message_whole_tabs_and_all() -> None:
    message = '{"id":1,\t"method":"a\\tb"}'
    frame = frame_up("n1", "srv_1", "client_1", "stream_1", 7, message)
    assert frame == 'u\tn1\tsrv_1\tclient_1\tstream_1\t7\t{"id":1,\t"method":"a\\tb"}'
    assert parse_frame(frame) == ("u", ["n1", "srv_1", "client_1", "stream_1", "7", message])


def test_a_host_frame_carries_the_parsed_message_whole_tabs_and_all() -> None:
    message = '{"id":1,\t"result":"a\\tb"}'
    frame = frame_message("srv_1", "client_1", "stream_1", 2, message)
    assert frame == 'm\tsrv_1\tclient_1\tstream_1\t2\t{"id":1,\t"result":"a\\tb"}'
    assert parse_frame(frame) == ("m", ["srv_1", "client_1", "stream_1", "2", message])


def test_malformed_frames_are_refused() -> None:
    for bad in ("", "x\tsrv", "u\tn1\tsrv\tc\ts\tseven\t{}", "u\tn1\tsrv", "m\tsrv\tc\ts\tseven\t{}",
                "m\tsrv\tc\ts", "d\tsrv\t{}", "u", "m"):
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
    assert parse_frame("m\tsrv\tc\ts\t\u00b2\t{}") is None
