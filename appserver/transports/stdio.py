"""stdio transport: one JSON-RPC message per line on stdin and stdout (spec/transport.md §2).

Exactly one connection, with the waiting overflow policy (a slow reader of stdout makes the
gateway wait; it is never dropped). ``\\n`` and ``\\r\\n`` terminators are stripped; blank
lines are skipped; lines that are not one JSON-RPC message are logged and ignored. When
stdin closes, the answers owed to requests already read are written, then the connection
ends (upstream exits without waiting for them). Logs go to stderr, never stdout.

Pipes, sockets and terminals are read and written without threads; a regular file on
stdin or stdout (``< requests.jsonl``) falls back to a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import sys
from collections.abc import AsyncIterator
from typing import BinaryIO

import anyio
import anyio.to_thread

from appserver import limits
from appserver.close import CloseRequest
from appserver.processor import OverflowPolicy, Processor
from appserver.transports.base import TransportClosed, run_connection

log = logging.getLogger("appserver.stdio")


class _FlowControl(asyncio.streams.FlowControlMixin):
    """Write-side protocol for ``connect_write_pipe`` that supports ``drain()``."""


def _pollable(stream: BinaryIO) -> bool:
    """Can the event loop wait on it? Pipes, sockets and terminals: yes; regular files
    and other character devices (``< /dev/null``: epoll refuses it with EPERM): no."""
    try:
        fd = stream.fileno()
        mode = os.fstat(fd).st_mode
    except (OSError, ValueError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or os.isatty(fd)


async def _stdin_lines(stdin: BinaryIO) -> AsyncIterator[bytes]:
    """Yield raw lines (with terminator, possibly missing on the last) until EOF."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=limits.MAX_MESSAGE_BYTES + 2, loop=loop)
    try:
        if not _pollable(stdin):
            raise ValueError("not pollable")
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader, loop=loop), stdin
        )
    except (ValueError, OSError):
        # A regular file or /dev/null: no event-loop support, read it from a thread.
        while line := await anyio.to_thread.run_sync(stdin.readline):
            yield line
        return
    try:
        while True:
            try:
                line = await reader.readuntil(b"\n")
            except asyncio.IncompleteReadError as exc:
                if exc.partial:
                    yield exc.partial
                return
            except asyncio.LimitOverrunError:
                log.warning("dropping a stdin line longer than %d bytes", limits.MAX_MESSAGE_BYTES)
                await _skip_line(reader)
                continue
            yield line
    finally:
        transport.close()


async def _skip_line(reader: asyncio.StreamReader) -> None:
    while True:
        chunk = await reader.read(limits.STDIO_SKIP_CHUNK)
        if not chunk:
            return
        newline = chunk.find(b"\n")
        if newline >= 0:
            # Put back what follows the oversized line (StreamReader has no unread).
            reader._buffer[:0] = chunk[newline + 1 :]  # noqa: SLF001
            return


async def _decoded(lines: AsyncIterator[bytes]) -> AsyncIterator[str]:
    async for line in lines:
        line = line.rstrip(b"\n").rstrip(b"\r")
        if not line.strip():
            continue
        if len(line) > limits.MAX_MESSAGE_BYTES:
            # The reader's limit leaves room for the terminator; the message may not use it.
            log.warning("dropping a stdin line longer than %d bytes", limits.MAX_MESSAGE_BYTES)
            continue
        try:
            yield line.decode("utf-8")
        except UnicodeDecodeError as exc:
            log.warning("ignoring a stdin line that is not UTF-8: %s", exc)


class _StdoutWriter:
    """Writes batches of messages to stdout, each followed by ``\\n``."""

    def __init__(self, stdout: BinaryIO) -> None:
        self._stdout = stdout
        self._writer: asyncio.StreamWriter | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            # A duplicate fd: closing the pipe transport must not close the real stdout
            # while logging or the interpreter still use it.
            if not _pollable(self._stdout):
                return  # a regular file or /dev/null: write from a thread
            pipe = os.fdopen(os.dup(self._stdout.fileno()), "wb", buffering=0)
            transport, protocol = await loop.connect_write_pipe(_FlowControl, pipe)
        except (ValueError, OSError):
            return  # a regular file: write from a thread
        self._writer = asyncio.StreamWriter(transport, protocol, None, loop)

    async def send_batch(self, batch: list[str]) -> None:
        data = "\n".join(batch).encode("utf-8") + b"\n"
        try:
            if self._writer is None:
                await anyio.to_thread.run_sync(self._write_blocking, data)
            else:
                self._writer.write(data)
                await self._writer.drain()
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise TransportClosed(str(exc)) from exc

    def _write_blocking(self, data: bytes) -> None:
        self._stdout.write(data)
        self._stdout.flush()

    async def aclose(self) -> None:
        if self._writer is not None:
            try:
                await self._writer.drain()
            except (BrokenPipeError, ConnectionResetError):
                pass
            self._writer.close()


async def serve_stdio(
    processor: Processor,
    stdin: BinaryIO | None = None,
    stdout: BinaryIO | None = None,
) -> CloseRequest:
    """Serve the single stdio connection until stdin closes; return how it ended."""
    stdin = stdin if stdin is not None else sys.stdin.buffer
    stdout = stdout if stdout is not None else sys.stdout.buffer
    writer = _StdoutWriter(stdout)
    await writer.start()
    conn = processor.register("stdio", OverflowPolicy.WAIT, peer="stdio")
    try:
        return await run_connection(
            conn, _decoded(_stdin_lines(stdin)), writer.send_batch, drain_on_eof=True
        )
    finally:
        await writer.aclose()


def end_stdio_session() -> None:
    """The stdio client's session is over but the process goes on (other listeners run):
    its end of stdout sees EOF and its writes to stdin fail, instead of a silent hang.
    fd 0 and fd 1 are pointed at /dev/null (nothing may reuse them for something else)."""
    for fd, mode in ((1, os.O_WRONLY), (0, os.O_RDONLY)):
        null = os.open(os.devnull, mode)
        try:
            os.dup2(null, fd)
        except OSError:
            pass
        finally:
            os.close(null)
