"""fanout: one thread's turn notifications delivered to many subscribed connections.

On the built-in backend over ws: one connection starts a thread, the others subscribe
with ``thread/resume``, then the first one starts a turn streaming ``fanout_deltas``
deltas. Reported: notifications delivered per second across all connections (from
turn/start until the last connection saw turn/completed), and the p99 delivery lag of
the deltas — receive time minus the ``emittedAtMs`` stamp the backend put on each, so it
includes the backend, the gateway's queues and sockets, and the client's own backlog (one
Python process reads every connection).
"""

from __future__ import annotations

import asyncio
import re
import time

from benchmarks.client import Client
from benchmarks.records import Metric, Results, percentile
from benchmarks.scenarios import Context, Scenario
from benchmarks.scenarios.common import (
    FIRST_DELTA,
    TURN_COMPLETED,
    gateway_builtin,
    send_turn,
    start_thread,
    words,
)
from benchmarks.services import Unavailable

RATE = "notifications delivered per second (all connections)"
LAG = "p99 delivery lag"
_EMITTED = re.compile(r'"emittedAtMs":\s*(\d+)')


async def receive_turn(client: Client, lags: list[float]) -> int:
    """Frames received until turn/completed; appends each delta's lag (ms) to ``lags``."""
    ws, now, frames = client.ws, time.time, 0
    while True:
        text = await ws.recv()
        frames += 1
        if FIRST_DELTA in text:
            stamp = _EMITTED.search(text)
            if stamp:
                lags.append(now() * 1e3 - int(stamp.group(1)))
        elif TURN_COMPLETED in text:
            return frames


async def run(ctx: Context, results: Results) -> None:
    sizes = ctx.sizes
    _, gateway = await gateway_builtin(ctx)
    clients = [await ctx.connect(gateway) for _ in range(sizes.fanout_connections)]
    owner = clients[0]
    thread_id = await start_thread(owner, "the built-in backend")
    for client in clients[1:]:
        answer = await client.request("thread/resume", {"threadId": thread_id})
        if "error" in answer:
            raise Unavailable(f"thread/resume: {answer['error'].get('message')}"[:200])
    lags: list[float] = []
    start = time.perf_counter()
    request_id = await send_turn(owner, thread_id, words(sizes.fanout_deltas))
    counts = await asyncio.wait_for(
        asyncio.gather(*(receive_turn(c, lags) for c in clients)), timeout=300
    )
    seconds = time.perf_counter() - start
    delivered = sum(counts) - 1  # the owner's turn/start answer is not a notification
    results.set(RATE, ours=delivered / seconds)
    if lags:
        results.set(LAG, ours=percentile(lags, 99))
    note = (
        f"{sizes.fanout_connections} connections, {sizes.fanout_deltas} deltas "
        f"({max(counts)} frames per connection) in {seconds:.2f}s; turn/start id {request_id}"
    )
    results.note_all(note)
    if not lags:
        results.note(LAG, "no emittedAtMs stamps on the deltas")


FANOUT = Scenario(
    "fanout",
    "one thread's turn notifications delivered to 100 subscribed connections (built-in backend)",
    [Metric(RATE, "msgs/s", "higher"), Metric(LAG, "ms", "lower")],
    run,
)
