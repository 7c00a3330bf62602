"""stdin and stdout for the event loop: the one adapter behind the stdio transport,
``appserver proxy`` and ``appserver remote connect --stdio``.

Pipes, sockets and terminals are read and written without threads (the loop's pipe
transports); a regular file or a device the loop cannot wait on (``< requests.jsonl``,
``< /dev/null``: epoll refuses them) falls back to a worker thread. stdin is read in
chunks of at most ``limits.STDIO_READ_CHUNK`` bytes, and the loop stops reading while
unread chunks pile up (flow control); :func:`messages` splits them into one JSON-RPC
message per line. A write to stdout waits while the pipe is full, so a slow reader of
stdout slows the writer instead of growing memory; once a write fails (the reader is
gone) :attr:`StdoutStream.broken` says why and later writes are dropped.
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

from appserver import limits, strings
from appserver.proxy.framing import LineSplitter

log = logging.getLogger("appserver.stdio")


def pollable(stream: BinaryIO) -> bool:
    """Can the event loop wait on it? Pipes, sockets and terminals: yes; regular files
    and other character devices (``< /dev/null``: epoll refuses it with EPERM): no."""
    try:
        fd = stream.fileno()
        mode = os.fstat(fd).st_mode
    except (OSError, ValueError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or os.isatty(fd)


class StdinStream:
    """stdin as chunks of bytes: :meth:`read` returns ``b""`` at EOF. Bytes read too far
    can be pushed back (:meth:`unread`); after :meth:`close`, reads raise
    ``anyio.ClosedResourceError``. Make one with :meth:`open`."""

    def __init__(self, stdin: BinaryIO) -> None:
        self._stdin = stdin
        self._reader: asyncio.StreamReader | None = None  # None: read from a thread
        self._transport: asyncio.ReadTransport | None = None
        self._pushed: list[bytes] = []
        self._closed = False

    @classmethod
    async def open(cls, stdin: BinaryIO | None = None) -> StdinStream:
        """Read ``stdin`` (default: this process's) from the event loop where it can."""
        self = cls(stdin if stdin is not None else sys.stdin.buffer)
        if pollable(self._stdin):
            loop = asyncio.get_running_loop()
            # The limit only sets how much the loop reads ahead before it pauses.
            reader = asyncio.StreamReader(limit=limits.STDIO_READ_CHUNK, loop=loop)
            try:
                self._transport, _ = await loop.connect_read_pipe(
                    lambda: asyncio.StreamReaderProtocol(reader, loop=loop), self._stdin
                )
            except (ValueError, OSError):
                return self  # the loop refused it after all: read from a thread
            self._reader = reader
        return self

    async def read(self) -> bytes:
        if self._closed:
            raise anyio.ClosedResourceError
        if self._pushed:
            return self._pushed.pop(0)
        if self._reader is None:
            chunk = await anyio.to_thread.run_sync(self._stdin.read1, limits.STDIO_READ_CHUNK)
        else:
            chunk = await self._reader.read(limits.STDIO_READ_CHUNK)
        if self._closed:
            raise anyio.ClosedResourceError  # closed while this read waited
        return chunk

    def unread(self, data: bytes) -> None:
        if data:
            self._pushed.append(data)

    def close(self) -> None:
        """Stop reading; a read waiting now ends with ``anyio.ClosedResourceError``."""
        self._closed = True
        if self._transport is not None:
            self._transport.close()  # the reader sees EOF, the read above sees _closed

    def __repr__(self) -> str:
        how = "thread" if self._reader is None else "loop"
        return f"<StdinStream {how} closed={self._closed} pushed={len(self._pushed)}>"


class _Flow(asyncio.BaseProtocol):
    """Write-side protocol for a pipe transport: pause/resume and the end, as events."""

    def __init__(self) -> None:
        self.writable = asyncio.Event()
        self.writable.set()
        self.lost = asyncio.Event()
        self.error: Exception | None = None

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.error = exc
        self.lost.set()
        self.writable.set()


class StdoutStream:
    """Writes bytes to stdout; :meth:`write` waits only while the pipe is full.

    :meth:`aclose` waits until every byte handed over is written (the "flush stdout"
    before exit). A write failure (the reader of stdout is gone) sets :attr:`broken` and
    later writes are dropped. Make one with :meth:`open`.
    """

    def __init__(self, stdout: BinaryIO) -> None:
        self._stdout = stdout
        self._transport: asyncio.WriteTransport | None = None  # None: write from a thread
        self._flow = _Flow()
        self.broken: OSError | None = None

    @classmethod
    async def open(cls, stdout: BinaryIO | None = None) -> StdoutStream:
        """Write ``stdout`` (default: this process's) from the event loop where it can."""
        self = cls(stdout if stdout is not None else sys.stdout.buffer)
        if pollable(self._stdout):
            loop = asyncio.get_running_loop()
            # A duplicate fd: closing the pipe transport must not close the real stdout
            # while logging or the interpreter still use it.
            pipe = os.fdopen(os.dup(self._stdout.fileno()), "wb", buffering=0)
            try:
                self._transport, _ = await loop.connect_write_pipe(lambda: self._flow, pipe)
            except (ValueError, OSError):
                pipe.close()  # the loop refused it after all: write from a thread
        return self

    async def write(self, data: bytes) -> None:
        if self.broken is not None:
            return
        if self._transport is None:
            try:
                await anyio.to_thread.run_sync(self._write_blocking, data)
            except OSError as exc:
                self.broken = exc
            return
        if self._flow.lost.is_set():
            self.broken = self._lost_error()
            return
        self._transport.write(data)
        if not self._flow.writable.is_set():
            await self._flow.writable.wait()
        if self._flow.lost.is_set():
            self.broken = self._lost_error()

    def _write_blocking(self, data: bytes) -> None:
        self._stdout.write(data)
        self._stdout.flush()

    def _lost_error(self) -> OSError:
        error = self._flow.error
        return error if isinstance(error, OSError) else BrokenPipeError(strings.STDOUT_CLOSED)

    async def aclose(self, *, flush_timeout: float | None = None) -> None:
        """Wait until everything handed over is written (or stdout broke), then close.

        With ``flush_timeout``, a reader that stops reading gets that long; what it did
        not take by then is dropped (the stdio transport: a shutdown never hangs on it).
        """
        transport = self._transport
        if transport is None or self._flow.lost.is_set():
            return
        # Pause until the pipe has taken every byte: closing with bytes still buffered
        # would lose them on some loops.
        transport.set_write_buffer_limits(high=0)
        with anyio.move_on_after(flush_timeout):
            await self._flow.writable.wait()
        if self._flow.writable.is_set():
            transport.close()
        else:
            transport.abort()
        await self._flow.lost.wait()

    def __repr__(self) -> str:
        how = "thread" if self._transport is None else "loop"
        return f"<StdoutStream {how} broken={self.broken is not None}>"


async def messages(stdin: StdinStream) -> AsyncIterator[str]:
    """One JSON-RPC message per line of ``stdin`` until EOF.

    ``\\n`` and ``\\r\\n`` end lines (the last may end without one); blank lines are
    skipped; a line over ``limits.MAX_MESSAGE_BYTES`` or not UTF-8 is logged and dropped.
    """
    splitter = LineSplitter(limits.MAX_MESSAGE_BYTES)
    while True:
        chunk = await stdin.read()
        for line in splitter.feed(chunk) if chunk else splitter.finish():
            if not line.strip():
                continue
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                log.warning(strings.STDIN_LINE_NOT_UTF8, exc)
                continue
            yield text
        for size in splitter.dropped:
            log.warning(strings.STDIN_LINE_TOO_LONG, size, limits.MAX_MESSAGE_BYTES)
        splitter.dropped.clear()
        if not chunk:
            return
