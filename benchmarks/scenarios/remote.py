"""rc_rtt, rc_stream and rc_idle_streams: remote control through a relay.

The gateway (built-in backend) serves a ``ws://`` listener and, with ``--remote-control``,
is enrolled with a minimal loopback relay (``python -m tests.support.rc_relay``: codex's
host protocol on one side, one plain JSON-RPC WebSocket per controller stream on the other;
our product relay replaces it when it can be driven the same way). The reference is a
client straight on the same gateway's ``ws://`` listener, measured in the same run:

* ``rc_rtt``: sequential round trips of a cheap method, through the relay vs direct
  (two extra WebSocket hops and the envelope protocol);
* ``rc_stream``: notifications per second of a streamed built-in turn, through the relay
  vs direct;
* ``rc_idle_streams``: the gateway's RSS growth per idle controller stream, with 1,000
  streams opened through the relay (each initialized, then silent).
"""

from __future__ import annotations

import asyncio
import json
import sys
import urllib.request

from benchmarks.records import Metric, Results, Target
from benchmarks.scenarios import Context, Scenario
from benchmarks.scenarios.common import (
    CHEAP_METHOD,
    check_cheap_method,
    rss_growth_per_item,
    start_thread,
    turn,
    words,
)
from benchmarks.scenarios.rtt import alternate_round_trips, report
from benchmarks.scenarios.stream import RATE, rate
from benchmarks.services import ROOT, Endpoint, _ready, python_env, start_gateway, start_profiler
from tests.support.launcher import Launched
from tests.support.rc_host import write_token

DIRECT = "a client straight on the gateway's ws:// listener"
RELAY_CPU = "relay CPU per round trip"
GATEWAY_CPU = "the gateway's CPU per direct round trip"
RSS = "RSS growth per idle controller stream"
IDLE_STREAMS = 1000


async def _relay_and_gateway(ctx: Context) -> tuple[Endpoint, Endpoint, Launched, str, Launched]:
    """(direct endpoint, controller endpoint, gateway, relay base URL, relay process)."""
    relay = await ctx.runner.start(
        "rc-relay", [sys.executable, "-m", "tests.support.rc_relay"], env=python_env(), cwd=ROOT
    )
    base = await _ready(relay, "loopback relay", line=r"listening on: (http://\S+)")
    if (profile := ctx.profile_path("relay")) is not None:
        await start_profiler(ctx.runner, relay, profile)
    token = ctx.runner.path("account.token")
    write_token(token)
    proc, direct = await start_gateway(
        ctx.runner, listen="ws", backend="builtin", profile=ctx.profile_path(),
        extra=["--remote-control", base, "--remote-control-token-file", str(token)],
    )
    await _ready(proc, "remote control connected", line=r"(remote control connected)")
    controller = Endpoint("tcp", base.replace("http://", "ws://").split("/backend-api/")[0] + "/controller")
    return direct, controller, proc, base, relay


async def run_rc_rtt(ctx: Context, results: Results) -> None:
    direct_endpoint, controller_endpoint, gateway, _, relay = await _relay_and_gateway(ctx)
    direct = await ctx.connect(direct_endpoint)
    remote = await ctx.connect(controller_endpoint)
    await check_cheap_method(remote, "the gateway through the relay")
    (ref, ours), cpu = await alternate_round_trips(ctx, [direct, remote], CHEAP_METHOD, [gateway, relay])
    report(results, ref, ours, len(ref), ctx.sizes.rtt_rounds)
    report_relay_cpu(results, cpu, len(ref), len(ours))
    results.note_all(f"method {CHEAP_METHOD}; controller -> relay -> host link -> gateway (built-in)")


async def run_rc_stream(ctx: Context, results: Results) -> None:
    sizes = ctx.sizes
    direct_endpoint, controller_endpoint, _, _, _ = await _relay_and_gateway(ctx)
    direct = await ctx.connect(direct_endpoint)
    remote = await ctx.connect(controller_endpoint)
    text = words(sizes.builtin_stream)
    direct_thread = await start_thread(direct, "the gateway")
    remote_thread = await start_thread(remote, "the gateway through the relay")
    ref_streams, our_streams = [], []
    for _ in range(sizes.builtin_rounds):
        ref_streams.append(await turn(direct, direct_thread, text, "direct", whole=True))
        our_streams.append(await turn(remote, remote_thread, text, "through the relay", whole=True))
    results.set(RATE, ours=rate(our_streams), reference=rate(ref_streams))
    results.note(RATE, f"{sizes.builtin_rounds} built-in turns per side, one delta per word ({len(text) // 2} words)")


async def run_rc_idle_streams(ctx: Context, results: Results) -> None:
    direct_endpoint, _, gateway, base, _ = await _relay_and_gateway(ctx)
    pid = gateway.pid
    await ctx.connect(direct_endpoint)
    n = IDLE_STREAMS if ctx.sizes.connections >= IDLE_STREAMS else ctx.sizes.connections
    url = base.split("/backend-api/")[0] + "/bench/streams"

    def open_streams(count: int) -> None:
        request = urllib.request.Request(f"{url}?n={count}", method="POST")
        with urllib.request.urlopen(request, timeout=600) as reply:
            assert json.load(reply)["opened"] == count

    await asyncio.to_thread(open_streams, 10)  # warm: first-use allocations done
    await rss_growth_per_item(
        results, RSS, pid, lambda: asyncio.to_thread(open_streams, n), n, process="gateway", items="idle streams"
    )


def report_relay_cpu(results: Results, cpu: list[float], direct_rts: int, relayed_rts: int) -> None:
    """The relay's CPU per relayed round trip beside the gateway's per direct one."""
    if direct_rts and relayed_rts:
        results.set(RELAY_CPU, reference=cpu[0] / direct_rts * 1e6, ours=cpu[1] / relayed_rts * 1e6)
        results.note(RELAY_CPU, "/proc CPU time (10 ms ticks) over the measured rounds")


RC_RTT = Scenario(
    "rc_rtt",
    "round trip through a relay (remote control) vs a direct ws client on the same gateway",
    [
        Metric("p50 round trip", "ms", "lower", Target("ratio", "<=", 2.5), DIRECT),
        Metric("p99 round trip", "ms", "lower", None, DIRECT),
        Metric(RELAY_CPU, "us", "lower", None, GATEWAY_CPU),
    ],
    run_rc_rtt,
)
RC_STREAM = Scenario(
    "rc_stream",
    "notifications/s through a relay (remote control) vs a direct ws client on the same gateway",
    [Metric(RATE, "msgs/s", "higher", Target("ratio", ">=", 0.5), DIRECT)],
    run_rc_stream,
)
RC_IDLE_STREAMS = Scenario(
    "rc_idle_streams",
    "gateway memory per idle controller stream at 1,000 streams through a relay",
    [Metric(RSS, "KiB", "lower", Target("ours", "<=", 64))],
    run_rc_idle_streams,
)
