"""JSON-RPC "lite" (spec/transport.md §9.1): literal text in, messages out. No event loop."""

from __future__ import annotations

import pytest

from appserver import jsonrpc
from appserver.jsonrpc import MessageKind, ParseError


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ('{"id":1,"method":"initialize","params":{}}', MessageKind.REQUEST),
        ('{"jsonrpc":"2.0","id":"a","method":"x"}', MessageKind.REQUEST),
        ('{"method":"initialized"}', MessageKind.NOTIFICATION),
        ('{"id":1,"result":null}', MessageKind.RESPONSE),
        ('{"id":"x","error":{"code":-32600,"message":"no"}}', MessageKind.ERROR),
    ],
)
def test_kinds(text: str, kind: MessageKind) -> None:
    message = jsonrpc.parse(text)
    assert message.kind is kind
    assert message.text == text  # forwarded unchanged


def test_ids_keep_their_type() -> None:
    assert jsonrpc.parse('{"id":7,"method":"m"}').id == 7
    assert jsonrpc.parse('{"id":"7","method":"m"}').id == "7"
    assert jsonrpc.encode(jsonrpc.response("7", None)) == '{"id":"7","result":null}'
    assert jsonrpc.encode(jsonrpc.response(7, None)) == '{"id":7,"result":null}'


def test_bytes_are_utf8() -> None:
    assert jsonrpc.parse('{"method":"é"}'.encode()).method == "é"
    with pytest.raises(ParseError, match="UTF-8"):
        jsonrpc.parse(b'{"method":"\xff"}')


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("not json", "invalid JSON"),
        ('[{"id":1,"method":"a"}]', "batches are not supported"),
        ("42", "expected a JSON object"),
        ('{"id":null,"result":1}', "`id` must be an integer or a string"),
        ('{"method":5}', "`method` must be a string"),
        ('{"id":1}', "not a request"),
        ('{"id":1,"error":"bad"}', "not a request"),
        ("{}", "not a request"),
    ],
)
def test_malformed(text: str, why: str) -> None:
    with pytest.raises(ParseError, match=why):
        jsonrpc.parse(text)


def test_encode_is_compact_and_never_adds_jsonrpc() -> None:
    text = jsonrpc.encode(jsonrpc.error(7, jsonrpc.OVERLOADED, "Server overloaded; retry later."))
    assert text == '{"id":7,"error":{"code":-32001,"message":"Server overloaded; retry later."}}'
    assert jsonrpc.encode(jsonrpc.notification("a/b", {"x": "ü"})) == '{"method":"a/b","params":{"x":"ü"}}'
    assert jsonrpc.encode(jsonrpc.notification("n")) == '{"method":"n"}'


def test_from_payload_encodes_once() -> None:
    message = jsonrpc.Message.from_payload(jsonrpc.request(3, "thread/start", {}))
    assert message.kind is MessageKind.REQUEST
    assert message.text == '{"id":3,"method":"thread/start","params":{}}'
    assert repr(message) == "<Message request thread/start id=3>"


# --- result_answer_id: codex's result answers, recognised without building a message ----


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b'{"id":7,"result":{"data":[],"nextCursor":null}}', 7),
        (b'{"id":-3,"result":null}', -3),
        (b'{"id":9223372036854775807,"result":1}', 2**63 - 1),
        (b'{"id":9223372036854775808,"result":1}', None),  # not an i64: parse() decides
        (b'{"id":1e3,"result":1}', None),  # not an integer
        (b'{"id":"a","result":1}', None),  # string ids take the general path
        (b'{"id":1,"error":{"code":-32001,"message":"busy"}}', None),  # maybe retried
        (b'{"id":1,"result":1,"method":"x"}', None),  # parse() reads a request
        (b'{"id":1,"result":1,"id":2}', 2),  # the last of duplicate keys, as parse() reads it
        (b'{"id":1,"result":1,"id":"s"}', None),
        (b'{"method":"x","params":{}}', None),
        (b'{ "id":1,"result":1}', None),  # not how codex writes: parse() decides
        (b'{"id":1,"result":NaN}', None),
        (b'{"id":1,"result":"\xff"}', None),  # invalid UTF-8
        (b'{"id":1,"result":', None),
        (b'[{"id":1,"result":1}]', None),
    ],
)
def test_result_answer_id_agrees_with_parse(text: bytes, expected: int | None) -> None:
    framed = b"\x81\x00" + text + b"tail"
    assert jsonrpc.result_answer_id(framed, 2, 2 + len(text)) == expected
    if expected is not None:
        message = jsonrpc.parse(text)
        assert message.kind is jsonrpc.MessageKind.RESPONSE and message.id == expected


# --- notification_method_at + is_notification_of: codex's notifications, as bytes -----


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b'{"method":"item/agentMessage/delta","params":{"delta":"a"}}', "item/agentMessage/delta"),
        (b'{"method":"thread/started"}', "thread/started"),
        (b'{"method":"x","params":{"n":123456789012345678901234567890}}', "x"),  # numbers: no matter
        (b'{"method":"x","params":{},"method":"y"}', None),  # the last key is the method
        (b'{"method":"x","params":{},"id":1}', None),  # a request: parse() decides
        (b'{"method":"x","id":null}', None),  # an id codex cannot read: parse() decides
        (b'{"method":"a\\"b","params":{}}', None),  # escapes: the bytes are not the name
        (b'{"method":"\\u0078","params":{}}', None),
        (b'{"method":"\xc3\xa9","params":{}}', None),  # not ASCII: parse() decides
        (b'{"method":"x","params":"\xff"}', None),  # invalid UTF-8
        (b'{"method":"x","params":{}', None),  # malformed
        (b'{"method":"x', None),
        (b'{"method": "x"}', None),  # not how codex writes: parse() decides
        (b'{"id":1,"method":"x"}', None),
    ],
)
def test_a_notification_frame_is_recognised_only_as_parse_reads_it(text: bytes, expected: str | None) -> None:
    framed = b"\x81\x00" + text + b'"tail"}'
    end = 2 + len(text)
    method = jsonrpc.notification_method_at(framed, 2, end)
    found = method if method is not None and jsonrpc.is_notification_of(method, framed, 2, end) else None
    assert found == expected
    if expected is not None:
        message = jsonrpc.parse(text)
        assert message.kind is jsonrpc.MessageKind.NOTIFICATION and message.method == expected


def test_a_message_reads_its_id_and_method_once_when_built() -> None:
    request = jsonrpc.parse('{"id":"r1","method":"thread/list","params":{}}')
    assert (request.id, request.method, request.params) == ("r1", "thread/list", {})
    built = jsonrpc.Message.from_payload({"id": 3, "result": {}})
    assert (built.id, built.method) == (3, None)
    note = jsonrpc.Message.notification_of({"method": "turn/started", "params": {}})
    assert (note.id, note.method, note.kind) == (None, "turn/started", jsonrpc.MessageKind.NOTIFICATION)
