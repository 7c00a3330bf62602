"""appserver.stdio_streams: stdin and stdout on pipes (event loop) and regular files (thread)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import anyio
import pytest

from appserver import limits
from appserver.stdio_streams import StdinStream, StdoutStream, messages, pollable

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "uvloop"])
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, bool]]:
    """Both loops the gateway runs on (``appserver serve`` picks uvloop where it can)."""
    return ("asyncio", {"use_uvloop": request.param == "uvloop"})


@pytest.fixture
def pipe() -> Iterator[tuple[BinaryIO, BinaryIO]]:
    """(read end, write end) of an OS pipe, as unbuffered binary files."""
    r, w = os.pipe()
    reader, writer = os.fdopen(r, "rb", buffering=0), os.fdopen(w, "wb", buffering=0)
    yield reader, writer
    for end in (reader, writer):
        try:
            end.close()
        except OSError:
            pass


async def test_reads_chunks_pushes_back_and_ends_at_eof(pipe: tuple[BinaryIO, BinaryIO]) -> None:
    read_end, write_end = pipe
    assert pollable(read_end)
    stdin = await StdinStream.open(read_end)
    write_end.write(b"GET / HTTP/1.1\r\n")
    head = await stdin.read()
    assert head == b"GET / HTTP/1.1\r\n"
    stdin.unread(head)
    assert await stdin.read() == head
    write_end.close()
    assert await stdin.read() == b""
    stdin.close()


async def test_close_ends_a_waiting_read(pipe: tuple[BinaryIO, BinaryIO]) -> None:
    stdin = await StdinStream.open(pipe[0])
    failures: list[BaseException] = []

    async def wait_for_data() -> None:
        try:
            await stdin.read()
        except anyio.ClosedResourceError as exc:
            failures.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(wait_for_data)
        await anyio.wait_all_tasks_blocked()
        stdin.close()
    assert len(failures) == 1
    with pytest.raises(anyio.ClosedResourceError):
        await stdin.read()


async def test_messages_split_lines_and_drop_what_is_not_a_message(
    pipe: tuple[BinaryIO, BinaryIO], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(limits, "MAX_MESSAGE_BYTES", 16)
    read_end, write_end = pipe
    stdin = await StdinStream.open(read_end)
    write_end.write(b'{"id":1}\r\n\n   \n' + b"x" * 17 + b'\n\xff\xfe\n{"id":2}\n{"id":3}')
    write_end.close()
    got = [text async for text in messages(stdin)]
    assert got == ['{"id":1}', '{"id":2}', '{"id":3}']
    warnings = sorted(r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    assert len(warnings) == 2
    assert warnings[0] == "dropping a stdin line of 17 bytes (limit 16)"
    assert warnings[1].startswith("dropping a stdin line that is not valid UTF-8: ")


async def test_regular_files_fall_back_to_a_thread(tmp_path: Path) -> None:
    source = tmp_path / "requests.jsonl"
    source.write_bytes(b'{"id":1}\n{"id":2}\n')
    sink = tmp_path / "answers.jsonl"
    with source.open("rb") as infile, sink.open("wb") as outfile:
        assert not pollable(infile) and not pollable(outfile)
        stdin = await StdinStream.open(infile)
        stdout = await StdoutStream.open(outfile)
        async for text in messages(stdin):
            await stdout.write(text.encode() + b"\n")
        await stdout.aclose()
    assert sink.read_bytes() == b'{"id":1}\n{"id":2}\n'


async def test_writes_wait_for_a_slow_reader_and_close_flushes(pipe: tuple[BinaryIO, BinaryIO]) -> None:
    read_end, write_end = pipe
    stdout = await StdoutStream.open(write_end)
    data = bytes(range(256)) * 4096  # 1 MiB: far more than a pipe holds
    received = bytearray()

    def read_all() -> None:
        while chunk := read_end.read(65536):
            received.extend(chunk)

    async with anyio.create_task_group() as tg:
        tg.start_soon(anyio.to_thread.run_sync, read_all)
        for start in range(0, len(data), 100_000):
            await stdout.write(data[start : start + 100_000])
        await stdout.aclose()
        write_end.close()  # our copy of the write end: the reader sees EOF
    assert bytes(received) == data
    assert stdout.broken is None


async def test_a_gone_reader_breaks_stdout_without_raising(pipe: tuple[BinaryIO, BinaryIO]) -> None:
    read_end, write_end = pipe
    stdout = await StdoutStream.open(write_end)
    read_end.close()
    for _ in range(3):  # the loop may learn of EPIPE one write late
        await stdout.write(b"x" * 1024)
        await anyio.wait_all_tasks_blocked()
    assert isinstance(stdout.broken, OSError)
    await stdout.write(b"dropped")
    await stdout.aclose()


async def test_a_reader_that_stopped_reading_does_not_hold_close_with_a_flush_timeout(
    pipe: tuple[BinaryIO, BinaryIO],
) -> None:
    read_end, write_end = pipe
    stdout = await StdoutStream.open(write_end)
    data = b"x" * (100 * 1024)  # more than the pipe holds, less than the loop's own buffer
    await stdout.write(data)  # nobody reads: the rest waits in the loop's buffer
    await stdout.aclose(flush_timeout=0)  # gives up at once instead of waiting for the reader
    write_end.close()
    received = read_end.read()
    assert 0 < len(received) < len(data)
