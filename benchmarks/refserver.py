"""Minimal reference servers on the same ``websockets`` library: the floor for Python.

    python -m benchmarks.refserver echo            # every text frame is sent back unchanged
    python -m benchmarks.refserver replay FILE     # each text frame received is answered by
                                                   # every frame of FILE (one per line), as is
    python -m benchmarks.refserver relay SOCK --unix PATH
                                                   # each connection on PATH is relayed, frame
                                                   # by frame, to a new connection to SOCK

They listen on ``ws://127.0.0.1:0`` and print ``listening on: ws://ADDR`` on stderr, like
the gateway's banner, or on the Unix socket given with ``--unix``. ``replay`` sends
pre-encoded frames, one ``send`` per frame, the way the gateway's WebSocket writer does, so
it is the cost of the socket path alone. ``relay`` is the least a Python gateway in front
of codex can do (no parsing, no queues, no rules): the floor for rtt_unix.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from websockets.asyncio.client import unix_connect
from websockets.asyncio.server import ServerConnection, serve, unix_serve

from appserver.transports.unix_path import UDS_WEBSOCKET_URI

SERVER_OPTIONS = {"compression": None, "ping_interval": None, "max_size": None}


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


USAGE = "usage: python -m benchmarks.refserver echo | replay FILE | relay SOCK [--unix PATH]"


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


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main(sys.argv[1:])))
    except KeyboardInterrupt:
        sys.exit(0)
