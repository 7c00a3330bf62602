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
from benchmarks.scenarios.common import rss_growth_per_item
from benchmarks.scenarios.relayed import compare_round_trips, compare_streams, round_trip_metrics, stream_metrics
from benchmarks.services import ROOT, Endpoint, _ready, python_env, start_gateway, start_profiler
from tests.support.launcher import Launched
from tests.support.rc_host import write_token

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
    await compare_round_trips(
        ctx, results, direct, remote, gateway=gateway, relay=relay,
        via="the relay", hops="controller -> relay -> host link -> gateway (built-in)",
    )


async def run_rc_stream(ctx: Context, results: Results) -> None:
    direct_endpoint, controller_endpoint, _, _, _ = await _relay_and_gateway(ctx)
    direct = await ctx.connect(direct_endpoint)
    remote = await ctx.connect(controller_endpoint)
    await compare_streams(ctx, results, direct, remote, via="the relay")


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


RC_RTT = Scenario(
    "rc_rtt",
    "round trip through a relay (remote control) vs a direct ws client on the same gateway",
    round_trip_metrics(),
    run_rc_rtt,
)
RC_STREAM = Scenario(
    "rc_stream",
    "notifications/s through a relay (remote control) vs a direct ws client on the same gateway",
    stream_metrics(),
    run_rc_stream,
)
RC_IDLE_STREAMS = Scenario(
    "rc_idle_streams",
    "gateway memory per idle controller stream at 1,000 streams through a relay",
    [Metric(RSS, "KiB", "lower", Target("ours", "<=", 64))],
    run_rc_idle_streams,
)
