"""What codex 0.169.0's parser refuses, ours refuses: literal frames, no event loop.

Each case was sent to the pinned binary over stdio: "ignored" means no answer and the
connection goes on (codex logs ``Failed to deserialize JSONRPCMessage``); "notification"
means codex read the request as a notification (silently unanswered).
"""

from __future__ import annotations

import pytest

from appserver import jsonrpc, limits

REQ = '{"id":1,"method":"thread/list","params":%s}'


def _nested(levels: int) -> str:
    """A request whose containers nest ``levels`` deep (message object included)."""
    arrays = levels - 2
    return REQ % ('{"x":' + "[" * arrays + "]" * arrays + "}")


@pytest.mark.parametrize(
    "text",
    [
        REQ % '{"cursor":"\\ud800"}',  # lone high surrogate
        REQ % '{"x":"\\udfff"}',  # lone low surrogate
        REQ % '{"x":"a\\uDBFFb"}',  # upper-case escape, letters around it
        '{"id":1,"method":"thread/list","params":{"\\ud800":1}}',  # in a key
        REQ % '{"x":["ok",{"y":"\\ud83d"}]}',  # half a pair, nested
        REQ % '{"x":NaN}',
        REQ % '{"x":-Infinity}',
        REQ % '{"x":Infinity}',
        _nested(limits.JSON_MAX_NESTING + 1),
        _nested(5000),  # beyond Python's own recursion limit
        "[" * 100_000,
    ],
)
def test_what_codex_ignores_is_a_parse_error(text: str) -> None:
    with pytest.raises(jsonrpc.ParseError):
        jsonrpc.parse(text)
    with pytest.raises(jsonrpc.ParseError):
        jsonrpc.parse(text.encode())


@pytest.mark.parametrize(
    "text",
    [
        REQ % '{"x":"\\ud83d\\ude00"}',  # a surrogate pair is one character
        REQ % '{"x":"\\\\ud800"}',  # an escaped backslash, then text
        REQ % '{"x":"\\ud7ff\\ue000"}',  # either side of the surrogate range
        _nested(limits.JSON_MAX_NESTING),
        REQ % ('{"x":[' + ",".join(["[[]]"] * 500) + "]}"),  # wide, not deep
    ],
)
def test_what_codex_answers_parses(text: str) -> None:
    message = jsonrpc.parse(text)
    assert message.kind is jsonrpc.MessageKind.REQUEST
    assert message.id == 1


def test_nesting_bound_is_codexs() -> None:
    # codex 0.169.0: 127 nested levels answered, 128 ignored.
    assert limits.JSON_MAX_NESTING == 127


@pytest.mark.parametrize(
    "raw_id",
    [
        "123456789012345678901234567890",
        "9223372036854775808",  # i64::MAX + 1
        "-9223372036854775809",  # i64::MIN - 1
        "18446744073709551615",
        "1.5",
        "1.0",
        "1e2",
        "null",
        "true",
        "[1]",
        "{}",
    ],
)
def test_ids_codex_cannot_read_make_a_notification(raw_id: str) -> None:
    message = jsonrpc.parse('{"id":%s,"method":"thread/list","params":{}}' % raw_id)
    assert message.kind is jsonrpc.MessageKind.NOTIFICATION


@pytest.mark.parametrize("raw_id", ["9223372036854775807", "-9223372036854775808", "-5", '""'])
def test_ids_in_range_make_a_request(raw_id: str) -> None:
    message = jsonrpc.parse('{"id":%s,"method":"thread/list","params":{}}' % raw_id)
    assert message.kind is jsonrpc.MessageKind.REQUEST


@pytest.mark.parametrize("raw_id", ["1.5", "123456789012345678901234567890", "null"])
def test_answers_with_unreadable_ids_are_parse_errors(raw_id: str) -> None:
    with pytest.raises(jsonrpc.ParseError):
        jsonrpc.parse('{"id":%s,"result":{}}' % raw_id)


def test_codex_output_is_not_walked() -> None:
    # What codex itself wrote (strict=False) skips the nesting walk and the surrogate scan.
    assert jsonrpc.parse(_nested(300), strict=False).id == 1
