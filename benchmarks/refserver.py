"""Minimal reference servers on the same ``websockets`` library: the floor for Python.

    python -m benchmarks.refserver echo            # every text frame is sent back unchanged
    python -m benchmarks.refserver replay FILE     # each text frame received is answered by
                                                   # every frame of FILE (one per line), as is
    python -m benchmarks.refserver relay SOCK --unix PATH
                                                   # each connection on PATH is relayed, frame
                                                   # by frame, to a new connection to SOCK
    python -m benchmarks.refserver bytes SOCK --unix PATH
                                                   # each connection on PATH is relayed, byte
                                                   # by byte, to a new connection to SOCK
    python -m benchmarks.refserver bytes tcp:HOST:PORT
                                                   # the same over TCP: each connection on
                                                   # 127.0.0.1:0 to a new one to HOST:PORT

They listen on ``ws://127.0.0.1:0`` and print ``listening on: ws://ADDR`` on stderr, like
the gateway's banner, or on the Unix socket given with ``--unix``; ``bytes`` without
``--unix`` listens on ``127.0.0.1:0`` and prints ``listening on: tcp://ADDR`` (it relays
any protocol, so it does not claim a WebSocket). Its upstream is a Unix socket path, or
``tcp:HOST:PORT``; either listener goes to either upstream. ``replay`` sends
pre-encoded frames, one ``send`` per frame, the way the gateway's WebSocket writer does, so
it is the cost of the socket path alone. ``relay`` is the least a Python gateway in front
of codex can do with a WebSocket library (no parsing, no queues, no rules); ``bytes`` is the
least any Python process in the path can do (no framing either: asyncio protocols copying
bytes both ways, with flow control), the floor for rtt_unix next to ``socat``, and over TCP
the floor of one more relay hop for relay_cluster.

They run on the event loop the gateway runs on (``appserver.event_loop``: uvloop unless
``APPSERVER_EVENT_LOOP`` says otherwise), so ratios compare code, not loops.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from websockets.asyncio.client import unix_connect
from websockets.asyncio.server import ServerConnection, serve, unix_serve

from appserver.transports.unix_path import UDS_WEBSOCKET_URI

SERVER_OPTIONS = {"compression": None, "ping_interval": None, "max_size": None}
#: How ``bytes`` is told its upstream is on TCP: ``tcp:HOST:PORT`` (else a Unix socket path).
_TCP_UPSTREAM = "tcp:"


async def _echo(ws: ServerConnection) -> None:
    async for frame in ws:
        await ws.send(frame)


def _replayer(frames: list[str]):
    async def replay(ws: ServerConnection) -> None:
        async for _ in ws:
            for frame in frames:
                await ws.send(frame)

    return replay


def _relay(upstream: str):
    async def relay(ws: ServerConnection) -> None:
        async with unix_connect(upstream, UDS_WEBSOCKET_URI, **SERVER_OPTIONS) as up:

            async def pump(source, sink) -> None:  # type: ignore[no-untyped-def]
                async for frame in source:
                    await sink.send(frame)

            tasks = [asyncio.create_task(pump(ws, up)), asyncio.create_task(pump(up, ws))]
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:
                task.cancel()

    return relay


class _Pipe(asyncio.Protocol):
    """One side of a byte relay: what it reads is written to its peer, as is."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.peer: _Pipe | None = None
        self.pending: list[bytes] = []  # read before the peer's connection existed

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.write(data)
        else:
            self.pending.append(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.close()

    # flow control: the peer stops reading while this side cannot write
    def pause_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.resume_reading()


#: Opens a byte relay's upstream connection (its protocol is the :class:`_Pipe` returned).
UpstreamOpener = Callable[[], Awaitable[tuple[asyncio.BaseTransport, _Pipe]]]


def _upstream_opener(upstream: str) -> UpstreamOpener:
    """How the byte relay connects to ``upstream``: ``tcp:HOST:PORT``, else a Unix socket path.

    Raises ValueError for a ``tcp:`` upstream without a numeric port.
    """
    loop = asyncio.get_running_loop()
    if upstream.startswith(_TCP_UPSTREAM):
        host, _, port = upstream.removeprefix(_TCP_UPSTREAM).rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(upstream)
        return lambda: loop.create_connection(_Pipe, host, int(port))
    return lambda: loop.create_unix_connection(_Pipe, upstream)


async def _serve_bytes(open_upstream: UpstreamOpener, unix: str | None) -> None:
    """Relay bytes from each connection on ``unix`` (else on 127.0.0.1:0) to the upstream."""
    loop = asyncio.get_running_loop()

    def accepted() -> _Pipe:
        client = _Pipe()

        async def connect() -> None:
            try:
                _, server = await open_upstream()
            except OSError:
                if client.transport is not None:
                    client.transport.close()
                return
            server.peer, client.peer = client, server
            # Either side may have read before the pair existed: the upstream's first bytes
            # can arrive between its connection_made and this coroutine going on.
            for pipe in (client, server):
                for data in pipe.pending:
                    pipe.peer.transport.write(data)  # type: ignore[union-attr]
                pipe.pending.clear()

        loop.create_task(connect())
        return client

    if unix is not None:
        server = await loop.create_unix_server(accepted, unix)
        where = f"unix://{unix}"
    else:
        server = await loop.create_server(accepted, "127.0.0.1", 0)
        host, port = server.sockets[0].getsockname()[:2]
        where = f"tcp://{host}:{port}"
    async with server:
        print(f"reference server (bytes)\n  listening on: {where}", file=sys.stderr, flush=True)
        await asyncio.Future()


USAGE = (
    "usage: python -m benchmarks.refserver echo | replay FILE | relay SOCK [--unix PATH]"
    " | bytes (SOCK | tcp:HOST:PORT) [--unix PATH]"
)


async def main(argv: list[str]) -> int:
    unix = None
    if "--unix" in argv:
        at = argv.index("--unix")
        unix, argv = argv[at + 1], argv[:at] + argv[at + 2 :]
    if argv[:1] == ["echo"]:
        handler = _echo
    elif argv[:1] == ["replay"] and len(argv) == 2:
        handler = _replayer(Path(argv[1]).read_text().splitlines())
    elif argv[:1] == ["relay"] and len(argv) == 2:
        handler = _relay(argv[1])
    elif argv[:1] == ["bytes"] and len(argv) == 2:
        try:
            open_upstream = _upstream_opener(argv[1])
        except ValueError:
            print(USAGE, file=sys.stderr)
            return 2
        await _serve_bytes(open_upstream, unix)
        return 0
    else:
        print(USAGE, file=sys.stderr)
        return 2
    if unix is not None:
        async with unix_serve(handler, unix, **SERVER_OPTIONS):
            print(f"reference server ({argv[0]})\n  listening on: unix://{unix}", file=sys.stderr, flush=True)
            await asyncio.Future()
    async with serve(handler, "127.0.0.1", 0, **SERVER_OPTIONS) as server:
        host, port = next(iter(server.sockets)).getsockname()[:2]
        print(f"reference server ({argv[0]})\n  listening on: ws://{host}:{port}", file=sys.stderr, flush=True)
        await asyncio.Future()
    return 0


def _loop_factory():  # type: ignore[no-untyped-def]
    from appserver import event_loop

    if event_loop.choose(os.environ) == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    return None


if __name__ == "__main__":
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            sys.exit(runner.run(main(sys.argv[1:])))
    except KeyboardInterrupt:
        sys.exit(0)
