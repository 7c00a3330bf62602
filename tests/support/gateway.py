"""Running a gateway in tests, beyond what tests.support.launcher does for any process.

* :func:`stdio_gateway`: ``python -m appserver serve ...`` launched with pipes, with an
  :class:`~tests.support.client.RpcClient` speaking JSONL on its stdin/stdout;
* :func:`inprocess_unix_gateway`: the processor and a backend in the test's own event
  loop, behind a small ``websockets`` Unix server that runs the shared per-connection loop
  (:func:`appserver.transports.websocket.serve_websocket`), for tests that reach into the
  backend (e.g. kill its codex child by pid) while clients are connected;
* :func:`descendants`, :func:`wait_gone`: the process tree, for the never-leak tests.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream
from websockets.asyncio.server import unix_serve

from appserver import limits
from appserver.backends.base import Backend
from appserver.processor import Processor
from appserver.transports.websocket import SERVER_OPTIONS, serve_websocket
from tests.support.client import RpcClient
from tests.support.launcher import APPSERVER, Launched, launch


class StdioChannel:
    """``send``/``recv`` of text messages over a process's stdin and stdout (JSONL)."""

    def __init__(self, process: Process) -> None:
        assert process.stdin is not None and process.stdout is not None
        self._stdin = process.stdin
        self._stdout = BufferedByteReceiveStream(process.stdout)

    async def send(self, text: str) -> None:
        await self._stdin.send(text.encode() + b"\n")

    async def recv(self) -> str:
        line = await self._stdout.receive_until(b"\n", limits.MAX_MESSAGE_BYTES)
        return line.decode()

    async def close_input(self) -> None:
        await self._stdin.aclose()


@dataclass
class StdioGateway:
    server: Launched
    client: RpcClient
    channel: StdioChannel

    @property
    def process(self) -> Process:
        return self.server.process

    @property
    def stderr(self) -> str:
        return self.server.stderr


@asynccontextmanager
async def stdio_gateway(
    args: list[str], env: Mapping[str, str], cwd: Path | None = None
) -> AsyncIterator[StdioGateway]:
    """``appserver serve ARGS`` with a JSONL client on its stdin/stdout (see launch())."""
    async with launch([*APPSERVER, "serve", *args], env=env, cwd=cwd, stdin=True, stdout=True) as server:
        channel = StdioChannel(server.process)
        yield StdioGateway(server, RpcClient(channel), channel)  # type: ignore[arg-type]


@asynccontextmanager
async def inprocess_unix_gateway(backend: Backend, socket: Path) -> AsyncIterator[Processor]:
    """``backend`` behind an in-test Unix WebSocket server at ``socket``."""
    processor = Processor(backend)
    async with backend.running():
        server = await unix_serve(
            lambda ws: serve_websocket(processor, ws, "unix"), str(socket), **SERVER_OPTIONS
        )
        try:
            yield processor
        finally:
            server.close()
            await server.wait_closed()


def parent_of(pid: int) -> int | None:
    """The parent of a live process, from /proc (``None`` once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except OSError:
        return None


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid``, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (ppid := parent_of(int(entry))) is not None:
            children.setdefault(ppid, []).append(int(entry))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


async def wait_gone(pids: set[int], deadline: float = 30.0) -> set[int]:
    """Poll until none of ``pids`` runs, at most ``deadline`` seconds; the survivors."""
    with anyio.move_on_after(deadline):
        while any(alive(p) for p in pids):
            await anyio.sleep(0.05)
    return {p for p in pids if alive(p)}


def native_codex(pids: set[int]) -> set[int]:
    """The pids in ``pids`` that run the native codex binary (not the node wrapper)."""
    found = set()
    for pid in pids:
        try:
            exe = os.readlink(f"/proc/{pid}/exe")
        except OSError:
            continue
        if os.path.basename(exe) == "codex":
            found.add(pid)
    return found
