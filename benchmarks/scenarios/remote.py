"""rc_idle_streams: the gateway's memory per idle remote-control stream.

The gateway (built-in backend) serves a ``ws://`` listener and, with ``--remote-control``,
is enrolled with the minimal loopback relay of the tests (``python -m
tests.support.rc_relay``), whose ``/bench/streams`` endpoint opens and initializes
controller streams in bulk over the host link: the gateway's RSS growth per idle stream is
measured with 1,000 of them, without 1,000 controller sockets whose client-side cost
would land in the same machine's memory. The round trip and the stream through a relay
(``rc_rtt``, ``rc_stream``) run through the product relay: :mod:`.relay`.
"""

from __future__ import annotations

import asyncio
import json
import sys
import urllib.request

from benchmarks.records import Metric, Results, Target
from benchmarks.scenarios import Context, Scenario
from benchmarks.scenarios.common import rss_growth_per_item
from benchmarks.services import ROOT, Endpoint, _ready, python_env, start_gateway
from tests.support.launcher import Launched
from tests.support.rc_host import write_token

RSS = "RSS growth per idle controller stream"
IDLE_STREAMS = 1000


async def _gateway_on_test_relay(ctx: Context) -> tuple[Endpoint, Launched, str]:
    """(the gateway's direct endpoint, the gateway, the test relay's base URL)."""
    relay = await ctx.runner.start(
        "rc-relay", [sys.executable, "-m", "tests.support.rc_relay"], env=python_env(), cwd=ROOT
    )
    base = await _ready(relay, "loopback relay", line=r"listening on: (http://\S+)")
    token = ctx.runner.path("account.token")
    write_token(token)
    proc, direct = await start_gateway(
        ctx.runner, listen="ws", backend="builtin", profile=ctx.profile_path(),
        extra=["--remote-control", base, "--remote-control-token-file", str(token)],
    )
    await _ready(proc, "remote control connected", line=r"(remote control connected)")
    return direct, proc, base


async def run_rc_idle_streams(ctx: Context, results: Results) -> None:
    direct_endpoint, gateway, base = await _gateway_on_test_relay(ctx)
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


RC_IDLE_STREAMS = Scenario(
    "rc_idle_streams",
    "gateway memory per idle controller stream at 1,000 streams (opened through the test relay)",
    [Metric(RSS, "KiB", "lower", Target("ours", "<=", 64))],
    run_rc_idle_streams,
)
