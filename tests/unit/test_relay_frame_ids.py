"""The relay's quick reads of a controller request's id and a host answer's id
(appserver.jsonrpc.request_id_of / answer_id_of) against the full parse. Sans-I/O."""

from __future__ import annotations

import pytest

from appserver import jsonrpc
from appserver.jsonrpc import answer_id_of, request_id_of

FRAMES = [
    '{"id":1,"method":"thread/loaded/list","params":{}}',
    '{"method":"x","id":"a"}',
    '{"jsonrpc":"2.0","id":-9223372036854775808,"method":"x"}',
    '{"id":9223372036854775807,"method":"x"}',
    '{"id":9223372036854775808,"method":"x"}',  # beyond i64: a notification
    '{"id":18446744073709551616,"method":"x"}',  # beyond u64
    '{"id":1.0,"method":"x"}',
    '{"id":true,"method":"x"}',
    '{"id":null,"method":"x"}',
    '{"id":1,"method":7}',
    '{"method":"x"}',
    '{"id":1,"id":2,"method":"x"}',
    '{"id":1,"method":"x","params":{"n":NaN}}',
    '{"id":1,"method":"x","params":{"s":"\\ud800"}}',
    '{"id":1,"method":"x","params":{"s":"\\ud83d\\ude00"}}',
    '{"id":1,"method":"x","params":{"n":12345678901234567890123}}',
    '{"id":1,"method":"x","params":' + "[" * 130 + "]" * 130 + "}",
    '{"id":1,"method":"x","params":"' + "[" * 130 + '"}',
    '{"id":1,"result":{}}',
    '{"id":"r","result":null}',
    '{"id":1,"error":{"code":-32000,"message":"m"}}',
    '{"id":1,"error":{"code":"x","message":"m"}}',
    '{"id":1.5,"result":{}}',
    '{"id":1}',
    '{"result":{},"id":3,"method":"x"}',
    '[{"id":1,"method":"x"}]',
    "7",
    "not json",
    '{"id":1,"method":"x"} {}',
]


def _full(text: str, *, strict: bool) -> jsonrpc.Message | None:
    try:
        return jsonrpc.parse(text, strict=strict)
    except jsonrpc.ParseError:
        return None


@pytest.mark.parametrize("text", FRAMES)
def test_a_request_id_read_quickly_is_the_one_the_full_parse_reads(text: str) -> None:
    quick = request_id_of(text)
    message = _full(text, strict=True)
    if quick is not None:  # else the relay parses it in full
        assert message is not None and message.kind is jsonrpc.MessageKind.REQUEST
        assert quick == message.id and type(quick) is type(message.id)


def test_the_common_request_is_read_quickly() -> None:
    assert request_id_of(FRAMES[0]) == 1
    assert request_id_of(FRAMES[1]) == "a"


@pytest.mark.parametrize("text", FRAMES)
def test_an_answer_id_is_the_one_the_full_parse_reads(text: str) -> None:
    message = _full(text, strict=False)
    expected = message.id if message is not None and message.is_answer else None
    assert answer_id_of(text) == expected
