"""relay_rtt, relay_stream and relay_idle_streams: the product relay (``appserver relay serve``).

The gateway (built-in backend) serves a ``ws://`` listener and is enrolled with
``appserver relay`` (an account made with ``appserver relay account add``); a controller
pairs through the relay's controller API and talks over ``api/v1/controller/ws``. The
reference is a client straight on the same gateway's ``ws://`` listener, in the same run:

* ``relay_rtt``: sequential round trips of a cheap method, through the relay vs direct;
* ``relay_stream``: notifications per second of a streamed built-in turn, relay vs direct;
* ``relay_idle_streams``: the relay's RSS growth per idle controller stream, with 1,000
  streams open (each initialized, then silent).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import urllib.request
from typing import Any

from benchmarks.records import Metric, Results, Target
from benchmarks.scenarios import Context, Scenario
from benchmarks.scenarios.common import rss_growth_per_item
from benchmarks.scenarios.relayed import compare_round_trips, compare_streams, round_trip_metrics, stream_metrics
from benchmarks.services import ROOT, Endpoint, _ready, python_env, start_gateway, start_profiler
from tests.support.launcher import Launched

RSS = "relay RSS growth per idle controller stream"
IDLE_STREAMS = 1000
#: Streams per paired device (the relay allows 256).
STREAMS_PER_DEVICE = 250


class Relayed:
    def __init__(self, relay: Launched, gateway: Launched, relay_url: str, direct: Endpoint) -> None:
        self.relay = relay
        self.gateway = gateway
        self.relay_pid = relay.pid
        self.relay_url = relay_url
        self.direct = direct
        self.controller = Endpoint("tcp", relay_url.replace("http://", "ws://") + "api/v1/controller/ws")


async def _start(ctx: Context) -> Relayed:
    state = ctx.runner.path("relay.sqlite3")
    relay = await ctx.runner.start(
        "relay",
        [sys.executable, "-m", "appserver", "relay", "serve", "--listen", "http://127.0.0.1:0", "--state", str(state)],
        env=python_env(), cwd=ROOT,
    )
    url = await _ready(relay, "appserver relay", line=r"listening on (http://\S+/) ")
    if (profile := ctx.profile_path("relay")) is not None:
        await start_profiler(ctx.runner, relay, profile)
    token = ctx.runner.path("account.token")
    await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "appserver", "relay", "account", "add", "bench", "--out", str(token),
         "--state", str(state)],
        check=True, capture_output=True, env=python_env(), cwd=ROOT,
    )
    proc, direct = await start_gateway(
        ctx.runner, listen="ws", backend="builtin", profile=ctx.profile_path(),
        extra=["--remote-control", url, "--remote-control-token-file", str(token)],
    )
    await _ready(proc, "remote control connected", line=r"(remote control connected)")
    return Relayed(relay, proc, url, direct)


async def _device(ctx: Context, relayed: Relayed) -> str:
    """Pair one device: a pairing code from the gateway, claimed at the relay."""
    local = await ctx.connect(relayed.direct)
    codes = (await local.request("remoteControl/pairing/start", {}))["result"]

    def claim() -> dict[str, Any]:
        request = urllib.request.Request(
            relayed.relay_url + "api/v1/pair/claim", method="POST",
            data=json.dumps({"code": codes["pairingCode"], "display_name": "bench"}).encode(),
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as reply:
            return json.load(reply)

    return (await asyncio.to_thread(claim))["device_token"]


async def _controller(ctx: Context, relayed: Relayed, token: str) -> Any:
    return await ctx.connect(relayed.controller, additional_headers={"Authorization": f"Bearer {token}"})


async def run_relay_rtt(ctx: Context, results: Results) -> None:
    relayed = await _start(ctx)
    token = await _device(ctx, relayed)
    direct = await ctx.connect(relayed.direct)
    remote = await _controller(ctx, relayed, token)
    await compare_round_trips(
        ctx, results, direct, remote, gateway=relayed.gateway, relay=relayed.relay,
        via="appserver relay", hops="controller -> appserver relay -> host link -> gateway (built-in)",
    )


async def run_relay_stream(ctx: Context, results: Results) -> None:
    relayed = await _start(ctx)
    token = await _device(ctx, relayed)
    direct = await ctx.connect(relayed.direct)
    remote = await _controller(ctx, relayed, token)
    await compare_streams(ctx, results, direct, remote, via="appserver relay")


async def run_relay_idle_streams(ctx: Context, results: Results) -> None:
    relayed = await _start(ctx)
    n = IDLE_STREAMS if ctx.sizes.connections >= IDLE_STREAMS else ctx.sizes.connections
    tokens = [await _device(ctx, relayed) for _ in range(-(-(n + 10) // STREAMS_PER_DEVICE))]

    async def open_streams(first: int, count: int) -> None:
        for index in range(first, first + count):
            await _controller(ctx, relayed, tokens[index // STREAMS_PER_DEVICE])

    await open_streams(0, 10)  # warm: first-use allocations done
    await rss_growth_per_item(
        results, RSS, relayed.relay_pid, lambda: open_streams(10, n), n, process="relay", items="idle streams"
    )


RELAY_RTT = Scenario(
    "relay_rtt",
    "round trip through appserver relay vs a direct ws client on the same gateway",
    round_trip_metrics(),
    run_relay_rtt,
)
RELAY_STREAM = Scenario(
    "relay_stream",
    "notifications/s through appserver relay vs a direct ws client on the same gateway",
    stream_metrics(),
    run_relay_stream,
)
RELAY_IDLE_STREAMS = Scenario(
    "relay_idle_streams",
    "appserver relay memory per idle controller stream at 1,000 streams",
    [Metric(RSS, "KiB", "lower", Target("ours", "<=", 64))],
    run_relay_idle_streams,
)
