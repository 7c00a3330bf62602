"""The controller stream's resume bookkeeping (sans-I/O, literal frames, no event loop)."""

from __future__ import annotations

from appserver.controller.resume import (
    ControllerStream,
    Frame,
    HostStatus,
    StreamLost,
    StreamOpened,
    StreamState,
)

NEW = '{"method":"relay/stream","params":{"streamId":"s1","resumed":false,"received":0,"hostOnline":true}}'


def _resumed(received: int, stream: str = "s1", resumed: bool = True) -> str:
    flag = "true" if resumed else "false"
    return (
        '{"method":"relay/stream","params":{"streamId":"%s","resumed":%s,"received":%d,'
        '"hostOnline":true}}' % (stream, flag, received)
    )


def test_new_stream_resends_what_was_queued_before_it_opened() -> None:
    s = ControllerStream()
    assert s.query() == (None, 0)
    s.send('{"id":1,"method":"initialize","params":{}}')  # typed before the socket opened
    event = s.receive(NEW)
    assert event == StreamOpened("s1", False, True, ('{"id":1,"method":"initialize","params":{}}',))
    assert s.state is StreamState.OPEN
    assert s.query() == ("s1", 0)


def test_frames_are_counted_and_relay_frames_are_not() -> None:
    s = ControllerStream()
    s.receive(NEW)
    assert s.receive('{"id":1,"result":{}}') == Frame('{"id":1,"result":{}}')
    assert s.receive('{"method":"relay/host","params":{"online":false}}') == HostStatus(False)
    assert s.host_online is False
    assert s.receive('{"method":"thread/started","params":{"x":"relay/"}}') == Frame(
        '{"method":"thread/started","params":{"x":"relay/"}}'
    )
    assert s.receive('{"method":"relay/host","params":{"online":true}}') == HostStatus(True)
    assert s.received == 2
    assert s.query() == ("s1", 2)


def test_resume_resends_exactly_the_frames_after_the_relays_count() -> None:
    s = ControllerStream()
    s.receive(NEW)
    for n in range(1, 6):
        s.send(f'{{"id":{n},"method":"m"}}')
    s.disconnected()
    assert s.state is StreamState.DISCONNECTED
    s.send('{"id":6,"method":"m"}')  # while disconnected: queued, not lost
    event = s.receive(_resumed(3))
    assert isinstance(event, StreamOpened) and event.resumed
    assert event.resend == ('{"id":4,"method":"m"}', '{"id":5,"method":"m"}', '{"id":6,"method":"m"}')
    # Confirmed frames are forgotten: a second resume at 6 resends nothing.
    s.disconnected()
    assert s.receive(_resumed(6)).resend == ()  # type: ignore[union-attr]


def test_a_resume_the_relay_refuses_loses_the_stream() -> None:
    s = ControllerStream()
    s.receive(NEW)
    s.disconnected()
    assert isinstance(s.receive(_resumed(0, resumed=False)), StreamLost)
    assert s.state is StreamState.LOST
    s2 = ControllerStream()
    s2.receive(NEW)
    s2.disconnected()
    assert isinstance(s2.receive(_resumed(0, stream="other")), StreamLost)


def test_relay_counting_more_than_sent_is_refused() -> None:
    s = ControllerStream()
    s.receive(NEW)
    s.send("{}")
    s.disconnected()
    lost = s.receive(_resumed(2))
    assert isinstance(lost, StreamLost) and "more messages" in lost.reason


def test_malformed_relay_stream_loses_the_stream() -> None:
    s = ControllerStream()
    event = s.receive('{"method":"relay/stream","params":{"streamId":5,"received":"x"}}')
    assert isinstance(event, StreamLost)


def _four_sent_then_disconnected() -> ControllerStream:
    """An open stream holding at most two frames, four sent (1-2 dropped), then its socket lost."""
    s = ControllerStream(max_frames=2, max_bytes=1000)
    s.receive(NEW)
    for n in range(1, 5):
        s.send(f'{{"id":{n}}}')
    s.disconnected()
    return s


def test_bounded_buffer_drops_oldest_while_connected_and_resume_past_it_is_lost() -> None:
    s = _four_sent_then_disconnected()
    event = s.receive(_resumed(1))  # frame 2 is no longer held
    assert isinstance(event, StreamLost) and "no longer held" in event.reason


def test_bounded_buffer_resume_within_it_works() -> None:
    s = _four_sent_then_disconnected()
    event = s.receive(_resumed(2))
    assert isinstance(event, StreamOpened) and event.resend == ('{"id":3}', '{"id":4}')


def test_overflow_while_disconnected_loses_rather_than_drops() -> None:
    s = ControllerStream(max_frames=2, max_bytes=1000)
    s.receive(NEW)
    s.disconnected()
    s.send("{}")
    s.send("{}")
    assert s.state is StreamState.DISCONNECTED
    s.send("{}")
    assert s.state is StreamState.LOST
    assert "ControllerStream s1 lost" in repr(s)


def test_frames_recorded_after_the_open_event_are_in_unconfirmed() -> None:
    s = ControllerStream()
    s.send("a")
    opened = s.receive(NEW)
    s.send("b")  # recorded by the uplink before the socket was ready for it
    assert isinstance(opened, StreamOpened) and opened.resend == ("a",)
    assert s.unconfirmed() == ("a", "b")


def test_the_byte_bound_counts_utf8_bytes_not_characters() -> None:
    s = ControllerStream(max_frames=100, max_bytes=12)
    s.receive(NEW)
    first, second = '"ééé"', '"éé"'  # 5 characters / 8 bytes, then 4 / 6
    s.send(first)
    s.send(second)  # 14 bytes > 12 (10 characters would fit): the oldest, delivered, goes
    assert s.unconfirmed() == (second,)
