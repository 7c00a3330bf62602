"""connections_1k: many concurrent initialized ws connections on the built-in backend.

Opens ``connections`` WebSocket connections (at most ``CONCURRENT_OPENS`` handshakes at
a time), each sending initialize + initialized, and keeps them all open. Reports the p99
of connect+initialize and the gateway's RSS growth per idle connection: (RSS with all
open − RSS with one open) / count, after a short settle.

File descriptors: the client needs one per connection, and so does the gateway (which
inherits the harness's limits), so the harness raises its soft RLIMIT_NOFILE to the hard
limit before the run (see ``benchmarks.cli``); a limit below what the scenario needs
makes it unavailable rather than failing half way.
"""

from __future__ import annotations

import asyncio
import resource
import time

from benchmarks.records import Metric, Results, Target, percentile
from benchmarks.scenarios import Context, Scenario
from benchmarks.scenarios.common import gateway_builtin, rss_growth_per_item
from benchmarks.services import Unavailable

CONCURRENT_OPENS = 50
RSS = "RSS growth per idle connection"
CONNECT = "p99 connect + initialize"


async def run(ctx: Context, results: Results) -> None:
    n = ctx.sizes.connections
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n + 256:
        raise Unavailable(f"RLIMIT_NOFILE is {soft}; {n} connections need at least {n + 256}")
    proc, gateway = await gateway_builtin(ctx)
    await ctx.connect(gateway)  # one warm connection: imports and first-use allocations done
    gate = asyncio.Semaphore(CONCURRENT_OPENS)
    samples: list[float] = []
    elapsed = 0.0

    async def open_one() -> None:
        async with gate:
            start = time.perf_counter()
            await ctx.connect(gateway)
            samples.append(time.perf_counter() - start)

    async def open_all() -> None:
        nonlocal elapsed
        started = time.perf_counter()
        await asyncio.gather(*(open_one() for _ in range(n)))
        elapsed = time.perf_counter() - started

    await rss_growth_per_item(results, RSS, proc.pid, open_all, n, process="gateway", items="connections")
    results.set(CONNECT, ours=percentile(samples, 99) * 1e3)
    results.note(CONNECT, f"{n} connections, {CONCURRENT_OPENS} handshakes at a time, all open after {elapsed:.2f}s")
    await ctx.close_clients()


CONNECTIONS_1K = Scenario(
    "connections_1k",
    "1,000 concurrent initialized ws connections on the built-in backend",
    [
        Metric(RSS, "KiB", "lower", Target("ours", "<=", 64)),
        Metric(CONNECT, "ms", "lower"),
    ],
    run,
)
