"""Instructions per round trip: ``scripts/bench --instructions [--round-trips N]``.

Counts the user-space instructions the gateway executes per ``rtt_unix`` round trip
(client -> gateway over its Unix socket -> codex), next to the byte relay's, with
valgrind's callgrind. Unlike times, the counts do not move with the machine's load (runs
agree to about 0.2 %), so two versions of the code can be compared on a busy machine:
run it in each checkout. Kernel time (the system calls, the same two reads and two writes
for both) is not counted.

Each server runs under ``valgrind --tool=callgrind`` with instrumentation off until it
is warm; counting is switched on (``callgrind_control -i on``), zeroed after a warm-up,
and dumped after the measured round trips.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

from benchmarks import services
from benchmarks.client import Client
from benchmarks.procs import Runner
from benchmarks.scenarios.common import CHEAP_METHOD, WARMUP_REQUESTS
from tests.support.launcher import Launched

#: Round trips run with counting on but before it is zeroed: the instrumented code warms up.
INSTRUMENTED_WARMUP = 100


def callgrind_prefix(out: Path) -> list[str]:
    """The command prefix that runs a process under callgrind, counting off until told,
    its dumps written to ``out``.<n>."""
    return ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"]


def callgrind_control(*args: str) -> None:
    """``callgrind_control ARGS`` (``-i on PID``, ``-z PID``, ``-d PID``)."""
    subprocess.run(["callgrind_control", *args], check=True, capture_output=True)


def callgrind_totals(dump: Path) -> int:
    """The instructions counted in one callgrind dump."""
    for line in dump.read_text().splitlines():
        if line.startswith("totals:"):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {dump}")


async def _per_round_trip(client: Client, server: Launched, out: Path, n: int) -> float:
    await client.round_trips(CHEAP_METHOD, WARMUP_REQUESTS)
    pid = str(server.pid)
    callgrind_control("-i", "on", pid)
    await client.round_trips(CHEAP_METHOD, INSTRUMENTED_WARMUP)
    callgrind_control("-z", pid)
    await client.round_trips(CHEAP_METHOD, n)
    callgrind_control("-d", pid)
    dumps = sorted(out.parent.glob(out.name + ".*"), key=lambda p: p.stat().st_mtime)
    return callgrind_totals(dumps[-1]) / n


async def measure(codex_bin: str, n: int) -> dict[str, float]:
    runner = Runner()
    try:
        _, codex = await services.start_codex(runner, codex_bin)
        gateway_out = runner.path("gateway.callgrind")
        gateway_proc, gateway = await services.start_gateway(
            runner, listen="unix", backend=f"unix://{codex.address}", wrap=callgrind_prefix(gateway_out)
        )
        bytes_out = runner.path("bytes.callgrind")
        bytes_proc, byte_relay = await services.start_refserver(
            runner, "bytes", codex.address, unix=True, wrap=callgrind_prefix(bytes_out)
        )
        counts = {}
        for name, endpoint, proc, out in (
            ("gateway", gateway, gateway_proc, gateway_out),
            ("byte relay", byte_relay, bytes_proc, bytes_out),
        ):
            client = await Client.open(endpoint)
            await client.initialize()
            counts[name] = await _per_round_trip(client, proc, out, n)
            await client.close()
        return counts
    finally:
        await runner.aclose()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench --instructions", description=__doc__.splitlines()[0])
    parser.add_argument("--round-trips", type=int, default=2000, metavar="N", help="measured round trips (default 2000)")
    parser.add_argument("--codex-bin", default=os.environ.get("APPSERVER_BENCH_CODEX_BIN"), metavar="PATH")
    args = parser.parse_args(argv)
    if args.round_trips < 1:
        parser.error("--round-trips must be at least 1")
    if not args.codex_bin:
        parser.error("no codex binary: pass --codex-bin (scripts/bench installs the pinned one)")
    if not (shutil.which("valgrind") and shutil.which("callgrind_control")):
        print("scripts/bench --instructions needs valgrind (apt-get install valgrind)", file=sys.stderr)
        return 2
    counts = asyncio.run(measure(args.codex_bin, args.round_trips))
    gateway, floor = counts["gateway"], counts["byte relay"]
    print(f"user-space instructions per {CHEAP_METHOD} round trip ({args.round_trips} measured):")
    print(f"  gateway     {gateway / 1000:8.1f}k")
    print(f"  byte relay  {floor / 1000:8.1f}k")
    print(f"  ratio       {gateway / floor:8.1f}x")
    return 0
