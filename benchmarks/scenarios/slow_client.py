"""slow_client: a fast client's round trips while another client stops reading.

On the built-in backend over ws. A streaming client (its own process,
:mod:`benchmarks.streamer`) starts a turn streaming ``slow_stream`` notifications. In the
measured windows it stops reading (its socket buffers fill, then the gateway's outbound
queue for it, until the gateway disconnects it); in the reference windows it reads
everything. Meanwhile a fast client on the same gateway does sequential round trips for
``slow_window`` seconds from turn/start on. Windows alternate, so the reference carries the
same turn and the ratio isolates what the stalled client costs others. The gateway's RSS is
sampled during each window: it must stay bounded (the stalled client's queue has a ceiling;
the stream is not buffered whole).
"""

from __future__ import annotations

import asyncio
import sys
import time

from benchmarks.client import Client
from benchmarks.procs import rss_bytes
from tests.support.launcher import Launched, LaunchFailed
from benchmarks.records import Metric, Results, Target, percentile
from benchmarks.scenarios import Context, Scenario
from benchmarks.scenarios.common import CHEAP_METHOD, WARMUP_REQUESTS, check_cheap_method, gateway_builtin
from benchmarks.services import ROOT, Endpoint, Unavailable, python_env

P99 = "fast client p99 round trip"
MAX = "fast client max round trip"
RSS = "gateway RSS growth during the stall"
RSS_BOUND_MIB = 64
RSS_SAMPLE_INTERVAL = 0.05
STREAMER_TIMEOUT = 120.0


async def fast_round_trips(client: Client, seconds: float) -> list[float]:
    samples: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        samples += await client.round_trips(CHEAP_METHOD, 10)
    return samples


async def sample_rss(proc: Launched, peak: list[int], stop: asyncio.Event) -> None:
    while not stop.is_set():
        peak[0] = max(peak[0], rss_bytes(proc.pid))
        try:
            await asyncio.wait_for(stop.wait(), RSS_SAMPLE_INTERVAL)
        except TimeoutError:
            pass


async def window(
    ctx: Context, proc: Launched, gateway: Endpoint, fast: Client, mode: str
) -> tuple[list[float], float, str]:
    """One window: fast samples, peak gateway RSS growth (MiB), the streamer's outcome."""
    sizes = ctx.sizes
    streamer = await ctx.runner.start(
        f"streamer-{mode}",
        [sys.executable, "-m", "benchmarks.streamer", gateway.address, str(sizes.slow_stream),
         mode, str(sizes.slow_window)],
        env=python_env(),
        cwd=ROOT,
    )
    try:
        await streamer.line_matching("turn started", timeout=STREAMER_TIMEOUT)
    except LaunchFailed:
        raise Unavailable(f"streaming client: {streamer.last_error_line}") from None
    deadline = time.monotonic() + STREAMER_TIMEOUT
    before = rss_bytes(proc.pid)
    peak = [before]
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample_rss(proc, peak, stop))
    try:
        samples = await fast_round_trips(fast, sizes.slow_window)
    finally:
        stop.set()
        await sampler
    try:
        outcome = (await streamer.line_matching(r"outcome: (.*)", timeout=max(0.0, deadline - time.monotonic()))).group(1)
    except LaunchFailed:
        outcome = f"no outcome ({streamer.last_error_line})"
    await ctx.runner.stop(streamer)
    return samples, (peak[0] - before) / 2**20, outcome


async def run(ctx: Context, results: Results) -> None:
    sizes = ctx.sizes
    proc, gateway = await gateway_builtin(ctx)
    fast = await ctx.connect(gateway)
    await check_cheap_method(fast, "the built-in backend")
    await fast.round_trips(CHEAP_METHOD, WARMUP_REQUESTS)
    reference: list[float] = []
    ours: list[float] = []
    growth: list[float] = []
    outcomes: dict[str, str] = {}
    for _ in range(sizes.slow_rounds):
        samples, _, outcomes["read"] = await window(ctx, proc, gateway, fast, "read")
        reference += samples
        samples, grew, outcomes["stall"] = await window(ctx, proc, gateway, fast, "stall")
        ours += samples
        growth.append(grew)
    for name, p in ((P99, 99), (MAX, 100)):
        results.set(name, ours=percentile(ours, p) * 1e3, reference=percentile(reference, p) * 1e3)
    results.set(RSS, ours=max(growth))
    note = (
        f"{sizes.slow_rounds} alternating windows of {sizes.slow_window:g}s from turn/start of a "
        f"{sizes.slow_stream}-notification turn: {len(ours)} round trips with the streaming "
        f"client stalled, {len(reference)} with it reading"
    )
    results.note(P99, f"{note}; p50 {percentile(ours, 50) * 1e3:.3f} vs {percentile(reference, 50) * 1e3:.3f} ms")
    results.note(MAX, note)
    results.note(RSS, f"largest of {sizes.slow_rounds} windows; stalled client: {outcomes['stall']}; "
                      f"reading client: {outcomes['read']}")


SLOW_CLIENT = Scenario(
    "slow_client",
    "a fast client's p99 round trip while another client stalls during a 100k-notification stream",
    [
        Metric(P99, "ms", "lower", Target("ratio", "<=", 1.2), "same turn, streaming client reading"),
        Metric(MAX, "ms", "lower", None, "same turn, streaming client reading"),
        Metric(RSS, "MiB", "lower", Target("ours", "<=", RSS_BOUND_MIB)),
    ],
    run,
)
