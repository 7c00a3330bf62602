"""stdin and stdout for the proxy, moved by daemon threads through bounded streams.

Blocking reads and writes on fds 0 and 1 work for every kind of stdio (pipes, files,
terminals, sockets), unlike non-blocking pipe transports. The threads are daemons, so a
thread blocked in ``read`` never keeps the process alive after the proxy is done; the
streams between them and the event loop hold at most ``PROXY_PIPE_ITEMS`` chunks each,
so a slow side slows the other instead of buffering without bound.
"""

from __future__ import annotations

import logging
import os
import threading

import anyio
import anyio.from_thread
import anyio.lowlevel
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from appserver import limits

log = logging.getLogger("appserver.proxy")


class Stdin:
    """Chunks of stdin; :meth:`read` returns ``b""`` at EOF. Supports pushing bytes back."""

    def __init__(self, fd: int = 0) -> None:
        self.fd = fd
        self._pushed: list[bytes] = []
        self._send, self._receive = anyio.create_memory_object_stream[bytes](
            limits.PROXY_PIPE_ITEMS
        )
        self._token = anyio.lowlevel.current_token()
        self._thread = threading.Thread(target=self._run, name="proxy-stdin", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        send = self._send
        try:
            while True:
                try:
                    chunk = os.read(self.fd, limits.PROXY_READ_CHUNK)
                except OSError as exc:
                    log.warning("reading stdin failed: %s", exc)
                    chunk = b""
                if not chunk:
                    break
                anyio.from_thread.run(send.send, chunk, token=self._token)
        except BaseException:  # the event loop is gone or the reader stopped listening
            return
        finally:
            try:
                anyio.from_thread.run_sync(send.close, token=self._token)
            except BaseException:
                pass

    async def read(self) -> bytes:
        if self._pushed:
            return self._pushed.pop(0)
        try:
            return await self._receive.receive()
        except anyio.EndOfStream:
            return b""

    def close(self) -> None:
        """Stop reading: the thread's pending hand-over fails and it ends."""
        self._receive.close()

    def unread(self, data: bytes) -> None:
        if data:
            self._pushed.append(data)

    def __repr__(self) -> str:
        return f"<Stdin fd={self.fd} alive={self._thread.is_alive()}>"


class Stdout:
    """Writes to stdout from a daemon thread; :meth:`write` waits only when it is full.

    :meth:`aclose` waits until everything handed over is written (the "flush stdout"
    before exit). A write failure (the reader of stdout is gone) sets :attr:`broken`
    and later writes are dropped.
    """

    def __init__(self, fd: int = 1) -> None:
        self.fd = fd
        self.broken: OSError | None = None
        self._send: MemoryObjectSendStream[bytes]
        self._receive: MemoryObjectReceiveStream[bytes]
        self._send, self._receive = anyio.create_memory_object_stream[bytes](
            limits.PROXY_PIPE_ITEMS
        )
        self._done = anyio.Event()
        self._token = anyio.lowlevel.current_token()
        self._thread = threading.Thread(target=self._run, name="proxy-stdout", daemon=True)
        self._thread.start()

    async def _next_batch(self) -> bytes:
        try:
            parts = [await self._receive.receive()]
        except anyio.EndOfStream:
            return b""
        size = len(parts[0])
        while size < limits.PROXY_READ_CHUNK:
            try:
                parts.append(self._receive.receive_nowait())
            except (anyio.WouldBlock, anyio.EndOfStream):
                break
            size += len(parts[-1])
        return b"".join(parts)

    def _run(self) -> None:
        try:
            while True:
                data = anyio.from_thread.run(self._next_batch, token=self._token)
                if not data:
                    break
                if self.broken is None:
                    self._write_all(data)
        except BaseException:  # the event loop is gone
            return
        finally:
            try:
                anyio.from_thread.run_sync(self._done.set, token=self._token)
            except BaseException:
                pass

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                written = os.write(self.fd, view)
                view = view[written:]
        except OSError as exc:
            self.broken = exc

    async def write(self, data: bytes) -> None:
        if self.broken is None:
            await self._send.send(data)

    async def aclose(self) -> None:
        """Close and wait until every byte handed over is written (or stdout broke)."""
        self._send.close()
        await self._done.wait()

    def __repr__(self) -> str:
        return f"<Stdout fd={self.fd} broken={self.broken is not None}>"
