"""Smaller boundary defects: what remote clients are told, the stdio size limit."""

from __future__ import annotations

import os

import anyio
import pytest

from appserver import limits
from appserver.close import CloseCode, public_reason
from appserver.processor import OverflowPolicy, Processor
from appserver.stdio_streams import StdinStream, messages
from tests.support.fakes import FakeBackend, drain, req
from tests.unit.test_processor import ready

pytestmark = pytest.mark.anyio

SOCKET = "/home/alice/.codex/appserver/codex-4242.sock"


@pytest.mark.parametrize(
    ("reason", "public"),
    [
        (f"cannot reach app-server at {SOCKET}: [Errno 111] Connection refused",
         "cannot reach app-server at codex-4242.sock: [Errno 111] Connection refused"),
        ("codex app-server exited (killed by signal 9)", "codex app-server exited (killed by signal 9)"),
        ("cannot run `/opt/tools/bin/codex`: denied", "cannot run `codex`: denied"),
        ("see https://example.com/a/b", "see https://example.com/a/b"),
    ],
)
def test_public_reason_cuts_local_paths(reason: str, public: str) -> None:
    assert public_reason(reason) == public


async def test_a_backend_failure_tells_the_client_no_local_path() -> None:
    processor = Processor(FakeBackend(), window=1)
    conn = await ready(processor, OverflowPolicy.WAIT)
    await conn.receive(req(7))
    async with anyio.create_task_group() as tg:
        tg.start_soon(conn.dispatch)
        await anyio.wait_all_tasks_blocked()
        conn.backend_failed(f"cannot reach app-server at {SOCKET}: refused")
    (answer,) = drain(conn)
    assert "/home/alice" not in answer["error"]["message"]
    assert "codex-4242.sock" in answer["error"]["message"]
    assert conn.close_request is not None and conn.close_request.code == CloseCode.INTERNAL_ERROR
    assert "/home/alice" not in conn.close_request.reason


async def test_stdio_refuses_a_line_one_byte_over_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_MESSAGE_BYTES", 10)
    read_end, write_end = os.pipe()
    with os.fdopen(read_end, "rb", buffering=0) as stdin_pipe:
        with os.fdopen(write_end, "wb", buffering=0) as writer:
            writer.write(b"x" * 10 + b"\r\n" + b"y" * 11 + b"\n" + b"z" * 11)
        stdin = await StdinStream.open(stdin_pipe)
        got = [text async for text in messages(stdin)]
    assert got == ["x" * 10]  # as on the sockets: at most MAX_MESSAGE_BYTES per message


async def test_an_answer_over_the_message_limit_becomes_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from appserver import jsonrpc

    monkeypatch.setattr(limits, "MAX_MESSAGE_BYTES", 64)
    processor = Processor(FakeBackend())
    conn = await ready(processor)
    await conn.deliver(jsonrpc.Message.from_payload(jsonrpc.response(9, "é" * 40)))  # 80+ bytes
    await conn.deliver(jsonrpc.Message.from_payload(jsonrpc.notification("n", {"x": "y" * 100})))
    await conn.deliver(jsonrpc.Message.from_payload(jsonrpc.response(10, "small")))
    first, second = drain(conn)
    assert first["id"] == 9 and first["error"]["code"] == -32603
    assert "over the 64-byte message limit" in first["error"]["message"]
    assert second == {"id": 10, "result": "small"}  # the dropped notification is not sent
