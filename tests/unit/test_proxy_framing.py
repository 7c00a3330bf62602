"""Sans-I/O proxy pieces: sniffing, line splitting, owed answers, header injection."""

from __future__ import annotations

import json

from appserver.proxy.framing import (
    LineSplitter,
    Mode,
    PendingRequests,
    inject_authorization,
    one_line,
    sniff,
)


def test_sniff_decides_on_get_prefix() -> None:
    assert sniff(b"GET /rpc HTTP/1.1\r\n", eof=False) is Mode.RAW
    assert sniff(b'{"id":1}', eof=False) is Mode.JSONL
    assert sniff(b"\n{", eof=False) is Mode.JSONL
    assert sniff(b"GE", eof=False) is None  # could still become "GET "
    assert sniff(b"GE", eof=True) is Mode.JSONL
    assert sniff(b"", eof=True) is Mode.JSONL
    assert sniff(b"GET{", eof=False) is Mode.JSONL


def test_line_splitter_joins_chunks_and_strips_cr() -> None:
    splitter = LineSplitter(max_line=100)
    assert list(splitter.feed(b'{"a":1}\r\n{"b"')) == [b'{"a":1}']
    assert list(splitter.feed(b":2}\n\n")) == [b'{"b":2}', b""]
    assert list(splitter.feed(b"tail")) == []
    assert list(splitter.finish()) == [b"tail"]
    assert splitter.dropped == []


def test_line_splitter_drops_over_long_lines_without_buffering_them() -> None:
    splitter = LineSplitter(max_line=4)
    assert list(splitter.feed(b"abcdefgh")) == []
    assert list(splitter.feed(b"ij\nok\n")) == [b"ok"]
    assert splitter.dropped == [10]
    assert list(splitter.feed(b"toolong\n")) == []
    assert splitter.dropped == [10, 7]


def test_pending_requests_tracks_ids_with_their_type() -> None:
    pending = PendingRequests()
    pending.sent('{"id":1,"method":"a"}')
    pending.sent('{"id":"1","method":"b"}')
    pending.sent('{"method":"initialized"}')  # notification: owes nothing
    pending.sent('{"id":2,"result":{}}')  # answer to a server request: owes nothing
    pending.sent('{"id":1.5,"method":"c"}')  # servers never answer non-integer ids
    pending.sent("not json")
    assert len(pending) == 2
    pending.received('{"method":"x","params":{}}')
    pending.received('{"id":1,"method":"item/tool/call","params":{}}')  # server request
    assert len(pending) == 2
    pending.received('{"id":"1","error":{"code":-32600,"message":"m"}}')
    assert len(pending) == 1
    pending.received('{"id":1,"result":null}')
    assert len(pending) == 0


def test_one_line_keeps_compact_json_and_flattens_multiline() -> None:
    assert one_line('{"a":1}') == '{"a":1}'
    assert json.loads(one_line('{\n  "a": "x\\ny"\n}')) == {"a": "x\ny"}
    assert "\n" not in one_line("not\njson")


def test_inject_authorization_replaces_client_header() -> None:
    head = b"GET /rpc HTTP/1.1\r\nHost: x\r\nauthorization: Bearer old\r\nUpgrade: websocket\r\n\r\n"
    out = inject_authorization(head, "tok")
    assert out == (
        b"GET /rpc HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nAuthorization: Bearer tok\r\n\r\n"
    )


def test_the_line_limit_does_not_count_the_terminator() -> None:
    splitter = LineSplitter(max_line=4)
    assert list(splitter.feed(b"abcd\r")) == []  # 5 buffered bytes: may still be a CRLF line
    assert list(splitter.feed(b"\nabcde\r\nvwxy")) == [b"abcd"]
    assert splitter.dropped == [5]
    assert list(splitter.finish()) == [b"vwxy"]
    assert list(splitter.feed(b"abcde")) == []
    assert list(splitter.finish()) == [] and splitter.dropped == [5, 5]
