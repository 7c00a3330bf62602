"""slow_client: a fast client's round trips while another client stops reading.

On the built-in backend over ws. The stalled client starts a turn streaming
``slow_stream`` notifications and never reads (its socket buffers fill, then the gateway's
outbound queue for it, until the gateway disconnects it). Meanwhile a fast client on the
same gateway does sequential round trips for ``slow_window`` seconds. The reference is the
same fast client for the same time on the same gateway with no stalled client. The gateway's
RSS is sampled during the stall: it must stay bounded (the stalled client's queue has a
ceiling; the stream is not buffered whole).
"""

from __future__ import annotations

import asyncio
import time

from websockets.exceptions import ConnectionClosed

from benchmarks.client import Client
from benchmarks.procs import Proc
from benchmarks.records import Metric, Results, Target, percentile
from benchmarks.scenarios import Context, Scenario
from benchmarks.scenarios.common import (
    CHEAP_METHOD,
    WARMUP_REQUESTS,
    check_cheap_method,
    gateway_builtin,
    send_turn,
    start_thread,
    words,
)

P99 = "fast client p99 round trip"
RSS = "gateway RSS growth during the stall"
RSS_BOUND_MIB = 64
RSS_SAMPLE_INTERVAL = 0.05
#: The stalled client's receive buffer in frames: it stops reading after this many.
STALLED_MAX_QUEUE = 1
#: After the window, the stalled client reads again until nothing came for this long.
STALLED_IDLE_TIMEOUT = 2.0


async def fast_round_trips(client: Client, seconds: float) -> list[float]:
    samples: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        samples += await client.round_trips(CHEAP_METHOD, 20)
    return samples


async def sample_rss(proc: Proc, peak: list[int], stop: asyncio.Event) -> None:
    while not stop.is_set():
        peak[0] = max(peak[0], proc.rss_bytes())
        try:
            await asyncio.wait_for(stop.wait(), RSS_SAMPLE_INTERVAL)
        except TimeoutError:
            pass


async def stalled_outcome(client: Client) -> str:
    """Read what the stalled client was sent after all, and how its connection ended."""
    frames = 0
    try:
        while True:
            await asyncio.wait_for(client.ws.recv(), STALLED_IDLE_TIMEOUT)
            frames += 1
    except ConnectionClosed as exc:
        rcvd = exc.rcvd
        how = f"closed by the gateway: {rcvd.code} {rcvd.reason!r}" if rcvd else "connection lost"
        return f"stalled client then read {frames} frames and was {how}"
    except TimeoutError:
        return f"stalled client then read {frames} frames; still open (the stream fit in buffers)"


async def run(ctx: Context, results: Results) -> None:
    sizes = ctx.sizes
    proc, gateway = await gateway_builtin(ctx)
    fast = await ctx.connect(gateway)
    await check_cheap_method(fast, "the built-in backend")
    await fast.round_trips(CHEAP_METHOD, WARMUP_REQUESTS)
    stalled = await ctx.connect(gateway, max_queue=STALLED_MAX_QUEUE)
    thread_id = await start_thread(stalled, "the built-in backend")

    reference = await fast_round_trips(fast, sizes.slow_window)
    await asyncio.sleep(0.5)
    before = proc.rss_bytes()
    peak = [before]
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample_rss(proc, peak, stop))
    await send_turn(stalled, thread_id, words(sizes.slow_stream))  # ... and never read
    try:
        ours = await fast_round_trips(fast, sizes.slow_window)
    finally:
        stop.set()
        await sampler
    outcome = await stalled_outcome(stalled)
    results.set(P99, ours=percentile(ours, 99) * 1e3, reference=percentile(reference, 99) * 1e3)
    results.set(RSS, ours=(peak[0] - before) / 2**20)
    results.note(
        P99,
        f"{len(ours)} round trips in {sizes.slow_window:g}s with the stall, "
        f"{len(reference)} without; p50 {percentile(ours, 50) * 1e3:.3f} vs "
        f"{percentile(reference, 50) * 1e3:.3f} ms",
    )
    results.note(RSS, f"{sizes.slow_stream} notifications to the stalled client; {outcome}")


SLOW_CLIENT = Scenario(
    "slow_client",
    "a fast client's p99 round trip while another client stalls during a 100k-notification stream",
    [
        Metric(P99, "ms", "lower", Target("ratio", "<=", 1.2), "same gateway, no stalled client"),
        Metric(RSS, "MiB", "lower", Target("ours", "<=", RSS_BOUND_MIB)),
    ],
    run,
)
