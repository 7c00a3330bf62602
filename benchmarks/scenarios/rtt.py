"""rtt_unix and rtt_builtin: sequential request round trips.

Both sides are measured on connections opened up front, in alternating rounds
(reference, ours, reference, …) so that load from the rest of the machine hits both
alike; the samples of all rounds are pooled.
"""

from __future__ import annotations

from benchmarks import services
from benchmarks.client import Client
from benchmarks.procs import cpu_seconds
from tests.support.launcher import Launched
from benchmarks.records import Metric, Results, Target, percentile
from benchmarks.scenarios import Context, Scenario
from benchmarks.scenarios.common import (
    CHEAP_METHOD,
    WARMUP_REQUESTS,
    check_cheap_method,
    gateway_builtin,
    gateway_on_codex,
    need_codex,
)
from benchmarks.services import Unavailable

CODEX_DIRECT = "codex direct (unix socket)"
RELAY = "minimal Python websockets relay (unix) -> codex"
RELAY_P50 = "p50 round trip vs a minimal relay"
RELAY_CPU = "CPU per round trip vs a minimal relay"
ECHO_SERVER = "websockets echo server"


def rtt_metrics(reference: str, p50: float, p99: float) -> list[Metric]:
    return [
        Metric("p50 round trip", "ms", "lower", Target("ratio", "<=", p50), reference),
        Metric("p99 round trip", "ms", "lower", Target("ratio", "<=", p99), reference),
    ]


async def alternate_round_trips(
    ctx: Context, clients: list[Client | None], method: str, servers: list[Launched | None] | None = None
) -> tuple[list[list[float]], list[float]]:
    """Pooled round-trip samples (seconds) per client, measured in alternating rounds, and
    the CPU seconds the matching ``servers`` process spent while its client was measured."""
    sizes = ctx.sizes
    servers = servers or [None] * len(clients)
    per_round = max(1, sizes.rtt_requests // sizes.rtt_rounds)
    present = [c for c in clients if c is not None]
    for client in present:
        await client.round_trips(method, WARMUP_REQUESTS)
    samples: list[list[float]] = [[] for _ in clients]
    cpu = [0.0 for _ in clients]
    for _ in range(sizes.rtt_rounds):
        for i, client in enumerate(clients):
            if client is not None:
                server = servers[i]
                before = cpu_seconds(server.pid) if server else 0.0
                samples[i] += await client.round_trips(method, per_round)
                cpu[i] += cpu_seconds(server.pid) - before if server else 0.0
    return samples, cpu


def report(results: Results, ref: list[float], ours: list[float], n: int, rounds: int) -> None:
    for name, p in (("p50 round trip", 50), ("p99 round trip", 99)):
        results.set(
            name,
            reference=percentile(ref, p) * 1e3 if ref else None,
            ours=percentile(ours, p) * 1e3 if ours else None,
        )
    results.note_all(f"{n} sequential requests per side in {rounds} alternating rounds")


async def run_rtt_unix(ctx: Context, results: Results) -> None:
    codex_bin = need_codex(ctx)
    _, codex = await services.start_codex(ctx.runner, codex_bin)
    ref = await ctx.connect(codex)
    relay_proc, relay_endpoint = await services.start_refserver(
        ctx.runner, "relay", codex.address, unix=True
    )
    relay = await ctx.connect(relay_endpoint)
    ours = gateway_proc = None
    why = None
    try:
        gateway_proc, gateway = await gateway_on_codex(ctx, codex)
        ours = await ctx.connect(gateway)
        await check_cheap_method(ours, "the gateway")
    except Unavailable as exc:
        why, ours = exc, None
    (ref_samples, our_samples, relay_samples), cpu = await alternate_round_trips(
        ctx, [ref, ours, relay], CHEAP_METHOD, [None, gateway_proc, relay_proc]
    )
    report(results, ref_samples, our_samples, len(ref_samples), ctx.sizes.rtt_rounds)
    results.set(
        RELAY_P50,
        reference=percentile(relay_samples, 50) * 1e3,
        ours=percentile(our_samples, 50) * 1e3 if our_samples else None,
    )
    results.set(
        RELAY_CPU,
        reference=cpu[2] / len(relay_samples) * 1e6,
        ours=cpu[1] / len(our_samples) * 1e6 if our_samples else None,
    )
    results.note_all(f"method {CHEAP_METHOD}; client -> gateway (unix) -> codex (unix)")
    results.note(RELAY_P50, "the relay forwards frames between two websockets connections, nothing else")
    results.note(RELAY_CPU, "user+system CPU of the gateway (relay) process per round trip")
    if why is not None:
        raise why


async def run_rtt_builtin(ctx: Context, results: Results) -> None:
    _, echo = await services.start_refserver(ctx.runner, "echo")
    ref = await ctx.connect(echo, initialize=False)
    ours = None
    why = None
    try:
        _, gateway = await gateway_builtin(ctx)
        ours = await ctx.connect(gateway)
        await check_cheap_method(ours, "the built-in backend")
    except Unavailable as exc:
        why = exc
    (ref_samples, our_samples), _ = await alternate_round_trips(ctx, [ref, ours], CHEAP_METHOD)
    report(results, ref_samples, our_samples, len(ref_samples), ctx.sizes.rtt_rounds)
    results.note_all(
        f"method {CHEAP_METHOD} over ws://127.0.0.1; the echo server sends each frame back"
    )
    if why is not None:
        raise why


RTT_UNIX = Scenario(
    "rtt_unix",
    "sequential round trip of a cheap codex method: gateway (unix) -> codex vs codex direct",
    [
        *rtt_metrics(CODEX_DIRECT, 1.25, 1.5),
        Metric(RELAY_P50, "ms", "lower", None, RELAY),
        Metric(RELAY_CPU, "us", "lower", None, RELAY),
    ],
    run_rtt_unix,
    needs_codex=True,
)
RTT_BUILTIN = Scenario(
    "rtt_builtin",
    "sequential round trip on the built-in backend vs a minimal websockets echo server",
    rtt_metrics(ECHO_SERVER, 1.5, 1.5),
    run_rtt_builtin,
)
