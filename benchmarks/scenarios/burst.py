"""burst_10k: 10,000 pipelined requests on one connection.

Three clients, each on a fresh connection, in alternating rounds: the gateway (unix) in
front of codex with the whole burst written at once; codex direct with the same burst
(most answers are -32001: codex has one 128-slot queue for the process); codex direct
with a well-behaved client that keeps 64 requests in flight (what the gateway does for
its clients, so the throughput it should approach).
"""

from __future__ import annotations

from benchmarks import services
from benchmarks.client import BurstResult
from benchmarks.records import Metric, Results, Target
from benchmarks.scenarios import Context, Scenario
from benchmarks.scenarios.common import CHEAP_METHOD, check_cheap_method, gateway_on_codex, need_codex
from benchmarks.services import Endpoint, Unavailable

WINDOW = 64
SHARE = "answered without error"
THROUGHPUT = "successful answers per second"
DIRECT_BURST_THROUGHPUT = "successful answers per second, same burst"


async def one_burst(ctx: Context, endpoint: Endpoint, count: int, window: int | None) -> BurstResult:
    client = await ctx.connect(endpoint)
    try:
        return await client.burst(CHEAP_METHOD, count, window)
    finally:
        await client.close()


def pooled(results: list[BurstResult]) -> tuple[float, float]:
    """(share answered without error in %, successful answers per second) over all rounds."""
    count = sum(r.count for r in results)
    ok = sum(r.ok for r in results)
    seconds = sum(r.seconds for r in results)
    return 100.0 * ok / count, ok / seconds if seconds else 0.0


async def run(ctx: Context, results: Results) -> None:
    sizes = ctx.sizes
    n = sizes.burst_requests
    _, codex = await services.start_codex(ctx.runner, need_codex(ctx))
    gateway: Endpoint | None = None
    why = None
    try:
        _, gateway = await gateway_on_codex(ctx, codex)
        probe = await ctx.connect(gateway)
        await check_cheap_method(probe, "the gateway")
        await probe.close()
    except Unavailable as exc:
        why, gateway = exc, None
    direct, windowed, ours = [], [], []
    for _ in range(sizes.burst_rounds):
        direct.append(await one_burst(ctx, codex, n, None))
        windowed.append(await one_burst(ctx, codex, n, WINDOW))
        if gateway is not None:
            ours.append(await one_burst(ctx, gateway, n, None))
    direct_share, direct_rate = pooled(direct)
    _, windowed_rate = pooled(windowed)
    results.set(SHARE, reference=direct_share)
    results.set(THROUGHPUT, reference=windowed_rate)
    results.set(DIRECT_BURST_THROUGHPUT, reference=direct_rate)
    if ours:
        our_share, our_rate = pooled(ours)
        results.set(SHARE, ours=our_share)
        results.set(THROUGHPUT, ours=our_rate)
        results.set(DIRECT_BURST_THROUGHPUT, ours=our_rate)
        errors: dict[int, int] = {}
        for r in ours:
            for code, k in r.errors.items():
                errors[code] = errors.get(code, 0) + k
        results.note(SHARE, f"{n} requests x {sizes.burst_rounds} rounds; our errors: {errors or 'none'}")
    results.note_all(f"method {CHEAP_METHOD}, {n} requests written at once per round")
    results.note(THROUGHPUT, f"reference keeps {WINDOW} requests in flight")
    if why is not None:
        raise why


BURST_10K = Scenario(
    "burst_10k",
    "10,000 pipelined requests on one connection: gateway vs codex direct",
    [
        Metric(SHARE, "%", "higher", Target("ours", ">=", 100), "codex direct, same burst"),
        Metric(THROUGHPUT, "answers/s", "higher", Target("ratio", ">=", 0.8), f"codex direct, {WINDOW} in flight"),
        Metric(DIRECT_BURST_THROUGHPUT, "answers/s", "higher", None, "codex direct, same burst"),
    ],
    run,
    needs_codex=True,
)
