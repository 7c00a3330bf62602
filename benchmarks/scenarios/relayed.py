"""The two comparisons shared by rc_* (a loopback relay) and relay_* (``appserver relay``):
a controller through the relay vs a client straight on the same gateway's ``ws://``
listener, measured in the same run.

Its own module rather than ``common.py``: it is built on the round-trip step of
:mod:`~benchmarks.scenarios.rtt` and the rate of :mod:`~benchmarks.scenarios.stream`, which
themselves import ``common``.
"""

from __future__ import annotations

from benchmarks.client import Client
from benchmarks.records import Metric, Results, Target
from benchmarks.scenarios import Context
from benchmarks.scenarios.common import CHEAP_METHOD, check_cheap_method, start_thread, turn, words
from benchmarks.scenarios.rtt import alternate_round_trips, report
from benchmarks.scenarios.stream import RATE, rate
from tests.support.launcher import Launched

DIRECT = "a client straight on the gateway's ws:// listener"
RELAY_CPU = "relay CPU per round trip"
GATEWAY_CPU = "the gateway's CPU per direct round trip"


def round_trip_metrics() -> list[Metric]:
    """What ``*_rtt`` reports: p50/p99 beside the direct client, the relay's CPU beside the gateway's."""
    return [
        Metric("p50 round trip", "ms", "lower", Target("ratio", "<=", 2.5), DIRECT),
        Metric("p99 round trip", "ms", "lower", None, DIRECT),
        Metric(RELAY_CPU, "us", "lower", None, GATEWAY_CPU),
    ]


def stream_metrics() -> list[Metric]:
    """What ``*_stream`` reports: notifications per second beside the direct client."""
    return [Metric(RATE, "msgs/s", "higher", Target("ratio", ">=", 0.5), DIRECT)]


async def compare_round_trips(
    ctx: Context,
    results: Results,
    direct: Client,
    remote: Client,
    *,
    gateway: Launched,
    relay: Launched,
    via: str,
    hops: str,
) -> None:
    """Sequential round trips of the cheap method, ``direct`` and ``remote`` (through ``via``)
    in alternating rounds, with the relay's CPU per relayed round trip beside the gateway's
    per direct one; ``hops`` names the path in the note."""
    await check_cheap_method(remote, f"the gateway through {via}")
    (ref, ours), cpu = await alternate_round_trips(ctx, [direct, remote], CHEAP_METHOD, [gateway, relay])
    report(results, ref, ours, len(ref), ctx.sizes.rtt_rounds)
    if ref and ours:
        results.set(RELAY_CPU, reference=cpu[0] / len(ref) * 1e6, ours=cpu[1] / len(ours) * 1e6)
        results.note(RELAY_CPU, "/proc CPU time (10 ms ticks) over the measured rounds")
    results.note_all(f"method {CHEAP_METHOD}; {hops}")


async def compare_streams(ctx: Context, results: Results, direct: Client, remote: Client, *, via: str) -> None:
    """Streamed built-in turns, one per side per round, ``direct`` then ``remote`` (through ``via``)."""
    sizes = ctx.sizes
    text = words(sizes.builtin_stream)
    direct_thread = await start_thread(direct, "the gateway")
    remote_thread = await start_thread(remote, f"the gateway through {via}")
    ref_streams, our_streams = [], []
    for _ in range(sizes.builtin_rounds):
        ref_streams.append(await turn(direct, direct_thread, text, "direct", whole=True))
        our_streams.append(await turn(remote, remote_thread, text, f"through {via}", whole=True))
    results.set(RATE, ours=rate(our_streams), reference=rate(ref_streams))
    results.note(RATE, f"{sizes.builtin_rounds} built-in turns per side, one delta per word ({len(text) // 2} words)")
