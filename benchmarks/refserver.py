"""Minimal reference servers on the same ``websockets`` library: the floor for Python.

    python -m benchmarks.refserver echo            # every text frame is sent back unchanged
    python -m benchmarks.refserver replay FILE     # each text frame received is answered by
                                                   # every frame of FILE (one per line), as is

Both listen on ``ws://127.0.0.1:0`` and print ``listening on: ws://ADDR`` on stderr, like
the gateway's banner. ``replay`` sends pre-encoded frames, one ``send`` per frame, the way
the gateway's WebSocket writer does, so it is the cost of the socket path alone.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from websockets.asyncio.server import ServerConnection, serve

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


async def main(argv: list[str]) -> int:
    if argv[:1] == ["echo"]:
        handler = _echo
    elif argv[:1] == ["replay"] and len(argv) == 2:
        handler = _replayer(Path(argv[1]).read_text().splitlines())
    else:
        print("usage: python -m benchmarks.refserver echo | replay FILE", file=sys.stderr)
        return 2
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
