"""The direct path's frames between relay nodes (appserver.relay.peers). Sans-I/O."""

from __future__ import annotations

from appserver.relay.peers import (
    FRAME,
    advertised,
    batch,
    fits,
    frame_message,
    frame_up,
    frames_of,
    parse_frame,
    unbatch,
)


def test_a_controller_frame_keeps_its_message_whole_tabs_and_all() -> None:
    message = '{"id":1,\t"method":"a\\tb"}'
    frame = frame_up("n1", "srv_1", "client_1", "stream_1", 7, message)
    assert frame == 'u\x1fn1\x1fsrv_1\x1fclient_1\x1fstream_1\x1f7\x1f{"id":1,\t"method":"a\\tb"}'
    assert parse_frame(frame) == ("u", ["n1", "srv_1", "client_1", "stream_1", "7", message])


def test_a_host_frame_carries_the_sliced_message_whole_tabs_and_all() -> None:
    message = '{"id":1,\t"result":"a\\tb"}'
    frame = frame_message("srv_1", "client_1", "stream_1", 2, message)
    assert frame == 'm\x1fsrv_1\x1fclient_1\x1fstream_1\x1f2\x1f{"id":1,\t"result":"a\\tb"}'
    assert parse_frame(frame) == ("m", ["srv_1", "client_1", "stream_1", "2", message])


def test_malformed_frames_are_refused() -> None:
    for bad in ("", "x\x1fsrv", "u\x1fn1\x1fsrv\x1fc\x1fs\x1fseven\x1f{}", "u\x1fn1\x1fsrv",
                "m\x1fsrv\x1fc\x1fs\x1fseven\x1f{}", "m\x1fsrv\x1fc\x1fs", "d\x1fsrv\x1f{}", "u", "m",
                "m\x1fsrv\x1fc\x1fs\x1f1\x1f{}\x1fmore", "m\tsrv\tc\ts\t1\t{}"):
        assert parse_frame(bad) is None, bad


def test_a_batch_is_split_back_into_its_frames() -> None:
    frames = [frame_message("srv", "c", "s", 1, '{"x":"12:34"}'), frame_up("n", "srv", "c", "s", 2, "é" * 3)]
    assert frames_of(FRAME.join(frames)) == frames
    assert [parse_frame(frame) for frame in frames_of(FRAME.join(frames))] == [
        ("m", ["srv", "c", "s", "1", '{"x":"12:34"}']), ("u", ["n", "srv", "c", "s", "2", "ééé"])]


def test_a_message_holding_a_separator_is_not_framed() -> None:
    # No JSON text holds either (not even as whitespace); anything else goes by the streams.
    assert fits('{"id":1,\n "result":"a\\u001e"}')
    assert not fits('{"id":1}\x1e') and not fits('{"id":1}\x1f')


def test_a_redis_batch_is_split_back_into_its_items() -> None:
    items = ["d\tsrv\t{}", "", "u\tn\ts\tc\tst\t1\t{\"x\":\"12:34\"}", "é" * 3, "a\x1eb"]
    assert unbatch(batch(items)) == items


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
    assert parse_frame("u\x1fn1\x1fsrv\x1fc\x1fs\x1f\u00b2\x1f{}") is None
    assert parse_frame("m\x1fsrv\x1fc\x1fs\x1f\u00b2\x1f{}") is None
