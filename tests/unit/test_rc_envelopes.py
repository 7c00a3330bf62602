"""Remote-control envelopes (spec/remote-control.md §4.2), literal frames, no event loop.

The frames are those of the 0.169.0 transcript (spec/remote-control-observed.md §2).
"""

from __future__ import annotations

import json

import pytest

from appserver.remote_control.envelopes import (
    Ack,
    ClientClosed,
    ClientMessage,
    ClientMessageChunk,
    EnvelopeError,
    Ping,
    Pong,
    PongStatus,
    ServerMessage,
    ServerMessageChunk,
    ack_head,
    client_message_affixes,
    encode,
    envelope_size,
    parse_client_envelope,
    parse_server_envelope,
    server_message_affixes,
    server_message_ending,
    split_ack,
    split_client_message,
    split_server_message,
    split_server_message_ending,
)

INIT = (
    '{"id":1,"method":"initialize","params":{"clientInfo":{"name":"phone","title":null,'
    '"version":"1.0"},"capabilities":{"experimentalApi":true}}}'
)


def test_client_message_keeps_the_inner_message_as_compact_text() -> None:
    frame = (
        '{"type":"client_message","client_id":"client-1","message":{"id": 1, "method": '
        '"initialize","params":{"clientInfo":{"name":"phone","title":null,"version":"1.0"},'
        '"capabilities":{"experimentalApi":true}}},"stream_id":"stream-1","seq_id":0}'
    )
    assert parse_client_envelope(frame) == ClientMessage("client-1", "stream-1", 0, INIT)


def test_server_envelopes_are_written_in_the_binarys_key_order() -> None:
    message = '{"id":1,"result":{"userAgent":"x"}}'
    assert encode(ServerMessage("client-1", "stream-1", 1, message)) == (
        '{"type":"server_message","message":{"id":1,"result":{"userAgent":"x"}},'
        '"client_id":"client-1","stream_id":"stream-1","seq_id":1}'
    )
    assert encode(Pong("client-x", "stream-unknown", 1, PongStatus.UNKNOWN)) == (
        '{"type":"pong","status":"unknown","client_id":"client-x",'
        '"stream_id":"stream-unknown","seq_id":1}'
    )
    assert encode(ServerMessageChunk("client-1", "stream-1", 5, 0, 3, 273103, "eyJp")) == (
        '{"type":"server_message_chunk","segment_id":0,"segment_count":3,'
        '"message_size_bytes":273103,"message_chunk_base64":"eyJp","client_id":"client-1",'
        '"stream_id":"stream-1","seq_id":5}'
    )


@pytest.mark.parametrize(
    ("client_id", "stream_id"),
    [("client-1", "stream-1"), ("clïent \"q\" \\", "strêam\u2028\n"), ("", "")],
)
@pytest.mark.parametrize("message", [INIT, '{"method":"n","params":{"text":"é \\"x\\" \\u0000"}}'])
@pytest.mark.parametrize("seq_id", [1, 9, 1234567890123])
def test_a_server_message_is_its_streams_affixes_around_the_message(
    client_id: str, stream_id: str, message: str, seq_id: int
) -> None:
    head, tail = server_message_affixes(client_id, stream_id)
    wire = head + message.encode() + tail + str(seq_id).encode() + b"}"
    assert wire == encode(ServerMessage(client_id, stream_id, seq_id, message)).encode()


@pytest.mark.parametrize(
    ("client_id", "stream_id"),
    [("client-1", "stream-1"), ("clïent \"q\" \\", "strêam\u2028\n"), ("", "")],
)
@pytest.mark.parametrize("message", [INIT, '{"method":"n","params":{"text":"é \\"x\\" \\u0000"}}'])
@pytest.mark.parametrize(("seq_id", "cursor"), [(0, "a1b2c3d4.1"), (1234567890123, "0.99")])
def test_a_client_message_is_its_streams_affixes_around_the_message_and_cursor(
    client_id: str, stream_id: str, message: str, seq_id: int, cursor: str
) -> None:
    head, middle = client_message_affixes(client_id, stream_id)
    wire = f'{head}{message}{middle}{seq_id},"cursor":"{cursor}"}}'
    assert wire == encode(ClientMessage(client_id, stream_id, seq_id, message, cursor))


@pytest.mark.parametrize(
    ("frame", "envelope"),
    [
        (
            '{"type":"ack","client_id":"client-1","stream_id":"stream-1","seq_id":5,"segment_id":0}',
            Ack("client-1", "stream-1", 5, 0),
        ),
        (
            '{"type":"ack","client_id":"client-1","stream_id":"stream-1","seq_id":1}',
            Ack("client-1", "stream-1", 1),
        ),
        (
            '{"type":"ping","client_id":"client-2","stream_id":"stream-2","cursor":"cursor-1"}',
            Ping("client-2", "stream-2", "cursor-1"),
        ),
        (
            '{"type":"client_closed","client_id":"client-1","stream_id":"stream-1"}',
            ClientClosed("client-1", "stream-1"),
        ),
        (
            '{"type":"client_message_chunk","segment_id":1,"segment_count":2,'
            '"message_size_bytes":9,"message_chunk_base64":"e30=","client_id":"c",'
            '"stream_id":"s","seq_id":7,"cursor":null}',
            ClientMessageChunk("c", "s", 7, 1, 2, 9, "e30="),
        ),
        # Legacy form: no stream_id, no seq_id.
        ('{"type":"ping","client_id":"c"}', Ping("c", None)),
    ],
)
def test_client_envelopes_parse_and_encode_back(frame: str, envelope: object) -> None:
    parsed = parse_client_envelope(frame)
    assert parsed == envelope
    assert parse_client_envelope(encode(parsed)) == parsed


def test_server_envelopes_round_trip() -> None:
    for envelope in (
        ServerMessage("c", "s", 2, '{"method":"x","params":{"a":"é"},"emittedAtMs":1}'),
        ServerMessageChunk("c", "s", 3, 1, 2, 10, "AAAA"),
        Pong("c", "s", 4, PongStatus.ACTIVE),
    ):
        assert parse_server_envelope(encode(envelope)) == envelope


@pytest.mark.parametrize(
    ("message", "text"),
    [
        # Beyond 64 bits: orjson would read a float; the stdlib keeps the integer.
        ('{"id": 1, "result": 123456789012345678901234}', '{"id":1,"result":123456789012345678901234}'),
        ('{"id":1,"result":-9223372036854775809}', '{"id":1,"result":-9223372036854775809}'),
        # Read by orjson: the same compact text the stdlib writes.
        ('{"id": 1, "result": [1e16, 0.1, -0.0, 18446744073709551615, "é\\n\\u0001"]}',
         '{"id":1,"result":[1e+16,0.1,-0.0,18446744073709551615,"é\\n\\u0001"]}'),
        # Refused by orjson (NaN): the stdlib reads and writes it, as before.
        ('{"id":1,"result":NaN}', '{"id":1,"result":NaN}'),
    ],
)
def test_inner_messages_keep_their_values(message: str, text: str) -> None:
    for frame in (
        f'{{"type":"client_message","message":{message},"client_id":"c","stream_id":"s","seq_id":1}}',
        f'{{"type":"client_message","message":{message},"client_id":"c","stream_id":"s","seq_id":1}}'.encode(),
    ):
        envelope = parse_client_envelope(frame)
        assert isinstance(envelope, ClientMessage)
        assert envelope.message == text
    server = parse_server_envelope(
        f'{{"type":"server_message","message":{message},"client_id":"c","stream_id":"s","seq_id":1}}'
    )
    assert isinstance(server, ServerMessage)
    assert server.message == text


def test_sizes_count_utf8_bytes() -> None:
    envelope = ServerMessage("c", "s", 1, '{"method":"é"}')
    assert envelope_size(envelope) == len(encode(envelope)) + 1


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ("not json", "not JSON"),
        ("[1]", "not a JSON object"),
        ('{"type":"client_message","message":{}}', "missing `client_id`"),
        ('{"type":"bogus","client_id":"c"}', "unknown envelope type"),
        ('{"client_id":"c"}', "missing `type`"),
        ('{"type":"client_message","client_id":"c","message":[1]}', "`message` is not"),
        ('{"type":"ack","client_id":"c","seq_id":-1}', "`seq_id` is not"),
        ('{"type":"ack","client_id":"c","seq_id":true}', "`seq_id` is not"),
        ('{"type":"ping","client_id":7}', "`client_id` is not a string"),
        ('{"type":"client_message_chunk","client_id":"c","segment_id":0}', "missing `segment_count`"),
        ("[" * 100_000, "not JSON"),
    ],
)
def test_bad_client_frames_say_why(frame: str, reason: str) -> None:
    with pytest.raises(EnvelopeError, match=reason):
        parse_client_envelope(frame)


def test_bad_server_frames_say_why() -> None:
    with pytest.raises(EnvelopeError, match="missing `seq_id`"):
        parse_server_envelope('{"type":"pong","status":"active","client_id":"c","stream_id":"s"}')
    with pytest.raises(EnvelopeError, match="`status`"):
        parse_server_envelope(
            '{"type":"pong","status":"gone","client_id":"c","stream_id":"s","seq_id":1}'
        )
    with pytest.raises(EnvelopeError, match="unknown envelope type"):
        parse_server_envelope('{"type":"ack","client_id":"c","stream_id":"s","seq_id":1}')


_SAME_FRAMES = [
    '{"type":"client_message","message":{"id":1,"method":"x"},"client_id":"c","stream_id":"s","seq_id":3}',
    '{"type":"client_message","message":{"id":1},"client_id":"c","stream_id":null,"seq_id":null,"cursor":"7"}',
    '{"type":"client_message","message":{"id":1},"client_id":"c"}',
    '{"type":"client_message","message":{"n":12345678901234567890123},"client_id":"c","seq_id":1}',  # stdlib
    '{"type":"client_message","message":[1],"client_id":"c"}',
    '{"type":"client_message","message":{},"client_id":"c","seq_id":-1}',
    '{"type":"client_message","message":{},"client_id":"c","seq_id":true}',
    '{"type":"client_message","message":{},"client_id":"c","seq_id":1.0}',
    '{"type":"client_message","message":{},"client_id":"c","cursor":5}',
    '{"type":"client_message","message":{},"client_id":7}',
    '{"type":"client_message","message":{},"stream_id":"s"}',
    '{"type":"ack","client_id":"c","stream_id":"s","seq_id":4}',
    '{"type":"ack","client_id":"c","stream_id":"s","seq_id":4,"segment_id":2,"cursor":"9"}',
    '{"type":"ack","client_id":"c","stream_id":"s","seq_id":4,"segment_id":-2}',
    '{"type":"ack","client_id":"c","stream_id":5,"seq_id":4}',
    '{"type":"ping","client_id":"c","stream_id":"s"}',
    '{"type":"nope","client_id":"c"}',
    '{"client_id":"c"}',
    '{"type":"server_message","message":{"id":1,"result":{}},"client_id":"c","stream_id":"s","seq_id":1}',
    '{"type":"server_message","message":{"x":NaN},"client_id":"c","stream_id":"s","seq_id":1}',  # stdlib
    '{"type":"server_message","message":{},"client_id":"c","stream_id":"s","seq_id":-1}',
    '{"type":"server_message","message":{},"client_id":"c","stream_id":"s"}',
    '{"type":"server_message","message":{},"client_id":"c","seq_id":1}',
    '{"type":"server_message","message":"{}","client_id":"c","stream_id":"s","seq_id":1}',
    '{"type":"server_message","message":{},"client_id":"c","stream_id":"s","seq_id":false}',
    '{"type":"pong","status":"active","client_id":"c","stream_id":"s","seq_id":2}',
]


def _outcome(parse: object, frame: str) -> object:
    try:
        return parse(frame)  # type: ignore[operator]
    except EnvelopeError as exc:
        return ("error", str(exc))


@pytest.mark.parametrize("frame", _SAME_FRAMES)
def test_the_inline_path_builds_what_the_field_by_field_path_builds(frame: str) -> None:
    from appserver.remote_control import envelopes

    general_client = lambda text: envelopes._client_envelope(*envelopes._load(text))  # noqa: E731
    general_server = lambda text: envelopes._server_envelope(*envelopes._load(text))  # noqa: E731
    assert _outcome(parse_client_envelope, frame) == _outcome(general_client, frame)
    assert _outcome(parse_server_envelope, frame) == _outcome(general_server, frame)


# --- split_server_message: our host's streamed message, sliced --------------------------

_STATUS = (
    '{"method":"remoteControl/status/changed","params":{"status":"connected","serverName":"vm",'
    '"installationId":"5efbd8d1-a5f5-43e4-a007-82b01f2428a1","environmentId":"env_stub1"},'
    '"emittedAtMs":1796034372188}'
)


def test_the_binarys_server_message_is_sliced_into_its_fields_and_the_message_as_sent() -> None:
    # Transcript frame (spec/remote-control-observed.md §2): the codex host's order is ours.
    frame = f'{{"type":"server_message","message":{_STATUS},"client_id":"client-1","stream_id":"stream-1","seq_id":3}}'
    assert split_server_message(frame) == ("client-1", "stream-1", 3, _STATUS)
    assert split_server_message(encode(ServerMessage("c", "s", 0, "{}"))) == ("c", "s", 0, "{}")


@pytest.mark.parametrize(
    "message",
    [
        # Kept as written (the full parse keeps the values but writes the text again).
        '{"id":1,"result":123456789012345678901234}',
        '{"id":1,"result":[1e16,0.10,-0.0,"\\u00e9\\n"]}',
        '{"id": 1, "result": {"a": [ ]}}',
        # The tail's keys inside the message do not confuse the slicing.
        '{"id":1,"result":{"x":",\\"client_id\\":\\"a\\",\\"seq_id\\":9}","client_id":"z","seq_id":7}}',
        '{"method":"x","params":{"a":{}},"client_id":"c","stream_id":"s","seq_id":1}',
    ],
)
def test_a_sliced_message_is_forwarded_exactly_as_the_host_wrote_it(message: str) -> None:
    frame = f'{{"type":"server_message","message":{message},"client_id":"c","stream_id":"s","seq_id":12}}'
    split = split_server_message(frame)
    assert split == ("c", "s", 12, message)
    # What the full parse reads from the same frame: the same fields and values.
    parsed = parse_server_envelope(frame)
    assert isinstance(parsed, ServerMessage)
    assert (parsed.client_id, parsed.stream_id, parsed.seq_id) == split[:3]
    assert json.loads(parsed.message) == json.loads(message)


_M = '{"id":1,"result":{}}'


#: Server message frames of another shape than the one encode() writes.
_OTHER_SHAPES = [
    # Another key order, fields added, a key twice, whitespace between members.
    f'{{"type":"server_message","client_id":"c","stream_id":"s","seq_id":1,"message":{_M}}}',
    f'{{"type":"server_message","message":{_M},"stream_id":"s","client_id":"c","seq_id":1}}',
    f'{{"type":"server_message","message":{_M},"client_id":"c","stream_id":"s","seq_id":1,"x":2}}',
    f'{{"type":"server_message","message":{_M},"x":2,"client_id":"c","stream_id":"s","seq_id":1}}',
    f'{{"type":"server_message","message":{_M},"client_id":"c","stream_id":"s","seq_id":1,"seq_id":2}}',
    f'{{"type":"server_message","message":{_M},"client_id":"c","client_id":"d","stream_id":"s","seq_id":1}}',
    f'{{"type":"server_message","message":{_M},"client_id":"c","stream_id":"s","stream_id":"t","seq_id":1}}',
    f'{{"type":"server_message","message":{_M},"message":{_M},"client_id":"c","stream_id":"s","seq_id":1}}',
    f'{{"type":"server_message","message":{_M}, "client_id":"c","stream_id":"s","seq_id":1}}',
    f'{{"type":"server_message","message":{_M},"client_id":"c","stream_id":"s","seq_id":1 }}',
    f'{{ "type":"server_message","message":{_M},"client_id":"c","stream_id":"s","seq_id":1}}',
    # Ids with escapes or of the wrong type; a seq_id that is not a plain count.
    f'{{"type":"server_message","message":{_M},"client_id":"c\\u0041","stream_id":"s","seq_id":1}}',
    f'{{"type":"server_message","message":{_M},"client_id":"c","stream_id":"s\\"","seq_id":1}}',
    f'{{"type":"server_message","message":{_M},"client_id":"c\t","stream_id":"s","seq_id":1}}',
    f'{{"type":"server_message","message":{_M},"client_id":7,"stream_id":"s","seq_id":1}}',
    f'{{"type":"server_message","message":{_M},"client_id":"c","stream_id":null,"seq_id":1}}',
    f'{{"type":"server_message","message":{_M},"client_id":"c","stream_id":"s","seq_id":-1}}',
    f'{{"type":"server_message","message":{_M},"client_id":"c","stream_id":"s","seq_id":01}}',
    f'{{"type":"server_message","message":{_M},"client_id":"c","stream_id":"s","seq_id":1.0}}',
    f'{{"type":"server_message","message":{_M},"client_id":"c","stream_id":"s","seq_id":"1"}}',
    f'{{"type":"server_message","message":{_M},"client_id":"c","stream_id":"s","seq_id":１}}',
    f'{{"type":"server_message","message":{_M},"client_id":"c","stream_id":"s","seq_id":1234567890123456789}}',
    f'{{"type":"server_message","message":{_M},"client_id":"c","stream_id":"s","seq_id":}}',
    # A message that is no JSON object, or one orjson refuses; text around the frame.
    '{"type":"server_message","message":[1],"client_id":"c","stream_id":"s","seq_id":1}',
    '{"type":"server_message","message":"{}","client_id":"c","stream_id":"s","seq_id":1}',
    '{"type":"server_message","message":{"a":NaN},"client_id":"c","stream_id":"s","seq_id":1}',
    '{"type":"server_message","message":{"a":"\\ud800"},"client_id":"c","stream_id":"s","seq_id":1}',
    '{"type":"server_message","message":{"a":1}},"client_id":"c","stream_id":"s","seq_id":1}',
    '{"type":"server_message","message":{"a":1,"client_id":"c","stream_id":"s","seq_id":1}',
    '{"type":"server_message","message":{},{},"client_id":"c","stream_id":"s","seq_id":1}',
    '{"type":"server_message","message":{"a":1} {"b":2},"client_id":"c","stream_id":"s","seq_id":1}',
    '{"type":"server_message","message":{},"client_id":"c","stream_id":"s","seq_id":1}}',
    '{"type":"server_message","message":{},"client_id":"c","stream_id":"s","seq_id":1} ',
    '{"type":"server_message","message":{,"client_id":"c","stream_id":"s","seq_id":1}',
    '{"type":"server_message","message":{}',
    '{"type":"server_message","message":{"client_id":"c","stream_id":"s","seq_id":1}',
    # Other envelope types.
    '{"type":"server_message_chunk","segment_id":0,"segment_count":1,"message_size_bytes":2,'
    '"message_chunk_base64":"e30=","client_id":"c","stream_id":"s","seq_id":1}',
    '{"type":"pong","status":"active","client_id":"c","stream_id":"s","seq_id":1}',
]


@pytest.mark.parametrize("frame", _OTHER_SHAPES)
def test_frames_of_any_other_shape_are_left_to_the_full_parse(frame: str) -> None:
    assert split_server_message(frame) is None


def test_a_streams_next_message_is_sliced_against_the_end_its_frame_must_have() -> None:
    tail = server_message_ending("c", "s", 12)
    assert tail == server_message_affixes("c", "s")[1].decode() + "12}"  # encode's end
    frame = f'{{"type":"server_message","message":{_M},"client_id":"c","stream_id":"s","seq_id":12}}'
    assert split_server_message_ending(frame, tail) == _M == split_server_message(frame)[3]  # type: ignore[index]
    for other in (
        frame.replace('"seq_id":12', '"seq_id":13'),  # not the number expected
        frame.replace('"stream_id":"s"', '"stream_id":"t"'),  # another stream
        frame.replace('"message":', '"message": '),  # another shape
        frame.replace(_M, '{"id":1,"result":NaN}'),  # no JSON orjson reads
        frame.replace(_M, '{"id":1} {"id":2}'),
        frame.replace(_M, "[1]"),
        '{"type":"server_message","message":{' + tail,
        '{"type":"server_message","message":' + tail,
        tail,
    ):
        assert split_server_message_ending(other, tail) is None, other


# --- split_client_message / split_ack: our relay's envelopes, sliced ----------------------


@pytest.mark.parametrize("message", [_M, '{"id": 1, "method": "x", "params": {"n": 12345678901234567890}}'])
@pytest.mark.parametrize("cursor", [None, "a1b2.7"])
def test_our_relays_client_message_is_sliced_into_its_fields_and_the_message_as_sent(
    message: str, cursor: str | None
) -> None:
    frame = encode(ClientMessage("client-1", "stream-1", 12, message, cursor))
    split = split_client_message(frame)
    assert split == ("client-1", "stream-1", 12, message, cursor)
    # What the full parse reads from the same frame: the same fields and values.
    parsed = parse_client_envelope(frame)
    assert isinstance(parsed, ClientMessage)
    assert (parsed.client_id, parsed.stream_id, parsed.seq_id, parsed.cursor) == (split[0], split[1], 12, cursor)
    assert json.loads(parsed.message) == json.loads(message)


@pytest.mark.parametrize(
    "frame",
    [
        # Every server message frame of another shape, as a client message (and as is).
        *(frame.replace('"server_message"', '"client_message"', 1) for frame in _OTHER_SHAPES),
        *_OTHER_SHAPES,
        # Cursors that are not a plain string, or out of place; no stream.
        f'{{"type":"client_message","message":{_M},"client_id":"c","stream_id":"s","seq_id":1,"cursor":"a\\"}}',
        f'{{"type":"client_message","message":{_M},"client_id":"c","stream_id":"s","seq_id":1,"cursor":7}}',
        f'{{"type":"client_message","message":{_M},"client_id":"c","stream_id":"s","cursor":"a","seq_id":1}}',
        f'{{"type":"client_message","message":{_M},"client_id":"c","stream_id":"s","seq_id":1,"cursor":"a",}}',
        f'{{"type":"client_message","message":{_M},"client_id":"c","seq_id":1}}',
        f'{{"type":"client_message","message":{_M},"client_id":"c","stream_id":"s"}}',
    ],
)
def test_client_frames_of_any_other_shape_are_left_to_the_full_parse(frame: str) -> None:
    assert split_client_message(frame) is None


@pytest.mark.parametrize(
    "ack",
    [Ack("c", "s", 0), Ack("client-1", "stream-1", 5, 0), Ack("c", "s", 3, None, "b.9"), Ack("c", "s", 3, 2, "b.9")],
)
def test_our_relays_ack_is_read_by_slicing_as_the_full_parse_reads_it(ack: Ack) -> None:
    frame = encode(ack)
    assert parse_client_envelope(frame) == ack
    assert split_ack(frame) == (ack.client_id, ack.stream_id, ack.seq_id, ack.segment_id, ack.cursor)


@pytest.mark.parametrize(
    "frame",
    [
        '{"type":"ack","client_id":"c","stream_id":"s","seq_id":01}',
        '{"type":"ack","client_id":"c","stream_id":"s","seq_id":-1}',
        '{"type":"ack","client_id":"c","stream_id":"s","seq_id":1234567890123456789}',
        '{"type":"ack","client_id":"c","stream_id":"s","seq_id":"1"}',
        '{"type":"ack","client_id":"c","stream_id":"s"}',
        '{"type":"ack","client_id":"c","seq_id":1}',
        '{"type":"ack","client_id":"c\\u0041","stream_id":"s","seq_id":1}',
        '{"type":"ack","client_id":"c","stream_id":"s","seq_id":1,"segment_id":0}',
        '{"type":"ack","segment_id":0.5,"client_id":"c","stream_id":"s","seq_id":1}',
        '{"type":"ack","client_id":"c","stream_id":"s","seq_id":1,"x":1}',
        '{"type":"ack","client_id":"c","stream_id":"s","seq_id":1} ',
        '{"type":"ack", "client_id":"c","stream_id":"s","seq_id":1}',
        '{"client_id":"c","type":"ack","stream_id":"s","seq_id":1}',
        '{"type":"ping","client_id":"c","stream_id":"s"}',
    ],
)
def test_acks_of_any_other_shape_are_left_to_the_full_parse(frame: str) -> None:
    assert split_ack(frame) is None


@pytest.mark.parametrize(("client_id", "stream_id"), [("c", "s"), ("clïent \"q\" \\", "strêam\u2028\n"), ("", "")])
@pytest.mark.parametrize("seq_id", [0, 7, 1234567890123])
def test_an_ack_is_its_streams_ack_head_and_number(client_id: str, stream_id: str, seq_id: int) -> None:
    assert f"{ack_head(client_id, stream_id)}{seq_id}}}" == encode(Ack(client_id, stream_id, seq_id))
