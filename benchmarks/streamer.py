"""A streaming client in its own process, for slow_client.

    python -m benchmarks.streamer URL_OR_UNIX_PATH WORDS read|stall STALL_SECONDS

Connects, initializes, starts a thread and a built-in turn echoing WORDS words, and
prints ``turn started`` (on stderr) once turn/start is sent. Then ``read`` reads every frame until
turn/completed; ``stall`` reads nothing for STALL_SECONDS (its socket buffers fill and the
gateway's outbound queue for it too), then reads what is left. Either way it prints one
``outcome: …`` line and exits. Its own process, so the harness's fast client does not
share an event loop (or a core's time slice) with the stream.
"""

from __future__ import annotations

import asyncio
import sys

from websockets.exceptions import ConnectionClosed

from benchmarks.client import Client
from benchmarks.scenarios.common import TURN_COMPLETED, send_turn, words
from benchmarks.services import Endpoint

#: The stalled client's receive buffer in frames: it stops reading after this many.
STALLED_MAX_QUEUE = 1
#: After the stall, read again until nothing came for this long.
IDLE_TIMEOUT = 2.0


async def main(target: str, count: int, mode: str, stall: float) -> str:
    endpoint = Endpoint("tcp", target) if target.startswith("ws://") else Endpoint("unix", target)
    client = await Client.open(endpoint, max_queue=STALLED_MAX_QUEUE if mode == "stall" else 1024)
    await client.initialize()
    thread = await client.call("thread/start", {})
    await send_turn(client, thread["thread"]["id"], words(count))
    print("turn started", file=sys.stderr, flush=True)
    if mode == "stall":
        await asyncio.sleep(stall)
    frames = 0
    try:
        while True:
            text = await asyncio.wait_for(client.ws.recv(), IDLE_TIMEOUT)
            frames += 1
            if mode == "read" and TURN_COMPLETED in text:
                await client.close()
                return f"read {frames} frames up to turn/completed"
    except ConnectionClosed as exc:
        rcvd = exc.rcvd
        how = f"closed by the gateway: {rcvd.code} {rcvd.reason!r}" if rcvd else "connection lost"
        return f"read {frames} frames, then was {how}"
    except TimeoutError:
        return f"read {frames} frames; nothing more for {IDLE_TIMEOUT:g}s and still open"


if __name__ == "__main__":
    target, count, mode, stall = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    print(f"outcome: {asyncio.run(main(target, count, mode, stall))}", file=sys.stderr, flush=True)
