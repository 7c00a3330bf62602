"""orjson on the hot path decides nothing: parse and encode agree with the stdlib path.

Literal frames, no event loop. Each case is parsed twice: as the gateway does (orjson
first, the stdlib where orjson refuses or would read a number differently) and with
orjson switched off; the outcome (message or error text) must be the same.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from appserver import jsonrpc, limits

REQ = '{"id":1,"method":"thread/list","params":%s}'

CORPUS = [
    REQ % "{}",
    REQ % '{"cursor":"\\ud800"}',  # lone surrogate escape: orjson refuses, the rule decides
    REQ % '{"x":"\\udc00\\ud800"}',
    REQ % '{"x":"\\ud83d\\ude00"}',  # a pair: both read one character
    REQ % '{"x":NaN}',
    REQ % '{"x":-Infinity}',
    REQ % '{"x":1e400}',  # orjson refuses; the stdlib reads inf, as before
    REQ % '{"x":18446744073709551616}',  # beyond u64: orjson would read a float
    REQ % '{"x":-9223372036854775809}',  # below i64: the same
    REQ % '{"x":18446744073709551615}',
    '{"id":18446744073709551616,"method":"thread/list"}',  # an id codex cannot read
    '{"id":9223372036854775807,"method":"thread/list"}',
    '{"id":-9223372036854775809,"result":{}}',
    REQ % '{"a":1,"a":2}',  # duplicate keys: the last wins in both
    REQ % '{"x":"\\u2028\\u0000\\/"}',
    REQ % '{"x":-0.0,"y":1.5E+2,"z":1e-400}',
    REQ % ('{"x":' + "[" * 125 + "]" * 125 + "}"),  # at the nesting bound
    REQ % ('{"x":' + "[" * 126 + "]" * 126 + "}"),  # one past it
    REQ % ('{"x":' + "[" * 2000 + "]" * 2000 + "}"),  # past orjson's own limit
    '\ufeff{"method":"x"}',  # a BOM
    ' \t{"method":"x"}\r\n',
    '{"method":"x"} x',
    '{"method":"x","params":"\x01"}',  # a raw control character
    "[]",
    '"text"',
    "",
    '{"id":1,"error":{"code":-32001,"message":"busy"}}',
    '{"id":"a","result":null}',
    '{"method":1}',
]


def _outcome(text: str) -> tuple[str, Any]:
    try:
        message = jsonrpc.parse(text)
    except jsonrpc.ParseError as exc:
        return "error", str(exc)
    return message.kind.value, repr(message.payload)


def _stdlib_only(text: str) -> tuple[str, Any]:
    fast = jsonrpc._fast_decode

    def refuse(_: str) -> Any:
        raise jsonrpc._FastDecodeError("off", "", 0)

    jsonrpc._fast_decode = refuse  # type: ignore[assignment]
    try:
        return _outcome(text)
    finally:
        jsonrpc._fast_decode = fast


@pytest.mark.parametrize("text", CORPUS)
def test_parse_agrees_with_the_stdlib_path(text: str) -> None:
    assert _outcome(text) == _stdlib_only(text)


def test_the_corpus_exercises_both_paths() -> None:
    assert limits.JSON_MAX_NESTING == 127  # the nesting cases above are built around it
    outcomes = [_outcome(text)[0] for text in CORPUS]
    assert "request" in outcomes and "error" in outcomes and "notification" in outcomes


def test_an_integer_beyond_64_bits_stays_an_integer() -> None:
    message = jsonrpc.parse(REQ % '{"x":18446744073709551616}')
    assert message.params == {"x": 18446744073709551616}
    assert jsonrpc.parse('{"id":18446744073709551616,"method":"m"}').kind is (
        jsonrpc.MessageKind.NOTIFICATION
    )


STDLIB = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


@pytest.mark.parametrize(
    "payload",
    [
        {"id": 1, "result": {"data": [], "nextCursor": None}},
        {"method": "item/agentMessage/delta", "params": {"delta": "é\u2028😀", "n": -0.5}},
        {"id": "x", "error": {"code": -32001, "message": "Server overloaded; retry later."}},
        {"id": 1, "result": {"big": 2**64, "neg": -(2**63) - 1}},  # orjson refuses: stdlib
        {"id": 1, "result": {1: "int key"}},  # orjson refuses: stdlib
        {"id": 1, "result": [True, False, None, 1.0, 0.1, 1e16]},
    ],
)
def test_encode_agrees_with_the_stdlib(payload: dict[str, Any]) -> None:
    assert jsonrpc.encode(payload) == STDLIB.encode(payload)


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_encode_refuses_what_json_cannot_carry_as_the_stdlib_does(value: float) -> None:
    with pytest.raises(ValueError):
        jsonrpc.encode({"id": 1, "result": {"x": value}})
