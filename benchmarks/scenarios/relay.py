"""rc_rtt, rc_stream and relay_idle_streams: remote control through the product relay
(``appserver relay serve``).

The gateway (built-in backend) serves a ``ws://`` listener and, with ``--remote-control``,
is enrolled with ``appserver relay`` (an account made with ``appserver relay account
add``); a controller pairs through the relay's controller API and talks over
``api/v1/controller/ws``. The reference is a client straight on the same gateway's
``ws://`` listener, measured in the same run:

* ``rc_rtt``: sequential round trips of a cheap method, through the relay vs direct (two
  extra WebSocket hops, the relay, the envelope protocol and the host link);
* ``rc_stream``: notifications per second of a streamed built-in turn, relay vs direct;
* ``relay_idle_streams``: the relay's RSS growth per idle controller stream, with 1,000
  streams open (each initialized, then silent).

The round trip and the stream are what both the host side (remote control) and the relay
are judged by, so one scenario serves both; the gateway's own memory per stream is
``rc_idle_streams`` (:mod:`.remote`).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import urllib.request
from typing import Any

from benchmarks.client import Client
from benchmarks.records import Metric, Results, Target
from benchmarks.scenarios import Context, Scenario
from benchmarks.scenarios.common import CHEAP_METHOD, check_cheap_method, rss_growth_per_item, start_thread, turn, words
from benchmarks.scenarios.rtt import alternate_round_trips, report
from benchmarks.scenarios.stream import RATE, rate
from benchmarks.services import ROOT, Endpoint, _ready, python_env, start_gateway, start_profiler
from tests.support.launcher import Launched

RSS = "relay RSS growth per idle controller stream"
IDLE_STREAMS = 1000
#: Streams per paired device (the relay allows 256).
STREAMS_PER_DEVICE = 250


DIRECT = "a client straight on the gateway's ws:// listener"
RELAY_CPU = "relay CPU per round trip"
GATEWAY_CPU = "the gateway's CPU per direct round trip"


def round_trip_metrics() -> list[Metric]:
    """What ``rc_rtt`` reports: p50/p99 beside the direct client, the relay's CPU beside the gateway's."""
    return [
        Metric("p50 round trip", "ms", "lower", Target("ratio", "<=", 2.5), DIRECT),
        Metric("p99 round trip", "ms", "lower", None, DIRECT),
        Metric(RELAY_CPU, "us", "lower", None, GATEWAY_CPU),
    ]


def stream_metrics() -> list[Metric]:
    """What ``rc_stream`` reports: notifications per second beside the direct client."""
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


async def run_rc_rtt(ctx: Context, results: Results) -> None:
    relayed = await _start(ctx)
    token = await _device(ctx, relayed)
    direct = await ctx.connect(relayed.direct)
    remote = await _controller(ctx, relayed, token)
    await compare_round_trips(
        ctx, results, direct, remote, gateway=relayed.gateway, relay=relayed.relay,
        via="appserver relay", hops="controller -> appserver relay -> host link -> gateway (built-in)",
    )


async def run_rc_stream(ctx: Context, results: Results) -> None:
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


RC_RTT = Scenario(
    "rc_rtt",
    "round trip through appserver relay (remote control) vs a direct ws client on the same gateway",
    round_trip_metrics(),
    run_rc_rtt,
)
RC_STREAM = Scenario(
    "rc_stream",
    "notifications/s through appserver relay (remote control) vs a direct ws client on the same gateway",
    stream_metrics(),
    run_rc_stream,
)
RELAY_IDLE_STREAMS = Scenario(
    "relay_idle_streams",
    "appserver relay memory per idle controller stream at 1,000 streams",
    [Metric(RSS, "KiB", "lower", Target("ours", "<=", 64))],
    run_relay_idle_streams,
)
