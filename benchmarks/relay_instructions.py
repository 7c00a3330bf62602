"""Instructions per answer of the relays in ``relay_cluster``:
``python -m benchmarks.relay_instructions [--round-trips N] [--burst N]``.

The same processes as the ``relay_cluster`` scenario (one single-node relay; two nodes on
a redis-server, the host on node A, the controller on node B), each relay under valgrind's
callgrind (as ``scripts/bench --instructions`` does for the gateway): the user-space
instructions each relay executes per sequential round trip and per answer of a burst
(64 in flight), counting switched on after a warm-up. Unlike times and CPU seconds, the
counts barely move with the machine's load (two runs agree to about 2 %: how frames
batch still depends on timing), so two versions can be compared on a busy machine: run
it in each checkout. Kernel time and redis-server are not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
from pathlib import Path

from benchmarks import services
from benchmarks.instructions import callgrind_prefix, callgrind_control, callgrind_totals
from benchmarks.procs import Runner
from benchmarks.scenarios import SIZES, Context
from benchmarks.scenarios import relay_cluster as scenario
from benchmarks.services import python_env

#: Answers with counting on but before it is zeroed: the instrumented code warms up.
INSTRUMENTED_WARMUP = 100


class Relays:
    """The relays started under callgrind: name -> (pid, callgrind output)."""

    def __init__(self) -> None:
        self.started: dict[str, tuple[int, Path]] = {}

    async def start(self, ctx: Context, name: str, state: list[str]) -> tuple[str, int]:
        out = ctx.runner.path(f"{name}.callgrind")
        argv = [*callgrind_prefix(out), *scenario.APPSERVER, "relay", "serve", "--listen", "http://127.0.0.1:0", *state]
        proc = await ctx.runner.start(name, argv, env=python_env())
        url = await services._ready(proc, f"relay ({name})", line=scenario._BANNER)
        self.started[name] = (proc.pid, out)
        return url, proc.pid

    def control(self, names: list[str], *args: str) -> None:
        for name in names:
            callgrind_control(*args, str(self.started[name][0]))

    def dump(self, name: str) -> int:
        pid, out = self.started[name]
        callgrind_control("-d", str(pid))
        dumps = sorted(out.parent.glob(out.name + ".*"), key=lambda p: p.stat().st_mtime)
        return callgrind_totals(dumps[-1])


async def measure(round_trips: int, burst: int) -> list[tuple[str, float, float]]:
    """``(relay, instructions per round trip, per burst answer)`` for each relay."""
    from appserver.relay.redis_store import RedisStore
    from appserver.relay.sqlite_store import SqliteStore

    relays = Relays()
    runner = Runner()
    ctx = Context(runner=runner, sizes=SIZES["quick"], codex_bin=None, scenario="relay_instructions")
    try:
        db = ["--state", str(runner.path("single.sqlite3"))]
        single_url, _ = await relays.start(ctx, "one node", db)
        single_host, _ = await scenario.start_host(ctx, "host-single", single_url, scenario.add_account(ctx, "single", db))
        single_token = await scenario.pair(await SqliteStore.open(runner.path("single.sqlite3")), single_host, single_url)
        redis_url, _ = await scenario.start_redis(ctx)
        cluster = ["--redis", redis_url]
        node_a, _ = await relays.start(ctx, "node A", cluster)
        node_b, _ = await relays.start(ctx, "node B", cluster)
        host, _ = await scenario.start_host(ctx, "host-cluster", node_a, scenario.add_account(ctx, "cluster", cluster))
        token = await scenario.pair(await RedisStore.open(redis_url), host, node_b)
        rows = []
        for url, secret, names in ((single_url, single_token, ["one node"]), (node_b, token, ["node A", "node B"])):
            controller = await scenario.Controller.open(url, secret)
            try:
                await controller.round_trips(scenario.WARMUP_REQUESTS)
                relays.control(names, "-i", "on")
                await controller.round_trips(INSTRUMENTED_WARMUP)
                await controller.burst(INSTRUMENTED_WARMUP)
                relays.control(names, "-z")
                await controller.round_trips(round_trips)
                sequential = {name: relays.dump(name) for name in names}
                relays.control(names, "-z")
                await controller.burst(burst)
                rows += [(name, sequential[name] / round_trips, relays.dump(name) / burst) for name in names]
            finally:
                await controller.close()
        return rows
    finally:
        await runner.aclose()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.relay_instructions", description=__doc__.splitlines()[0])
    parser.add_argument("--round-trips", type=int, default=200, metavar="N", help="sequential round trips (default 200)")
    parser.add_argument("--burst", type=int, default=1000, metavar="N", help="answers of the burst (default 1000)")
    args = parser.parse_args(argv)
    if args.round_trips < 1 or args.burst < 1:
        parser.error("--round-trips and --burst must be at least 1")
    if not (shutil.which("valgrind") and shutil.which("callgrind_control") and shutil.which("redis-server")):
        print("Error: needs valgrind and redis-server (apt-get install valgrind redis-server)", file=sys.stderr)
        return 2
    rows = asyncio.run(measure(args.round_trips, args.burst))
    print(f"user-space instructions per answer ({args.round_trips} sequential round trips, a burst of {args.burst}):")
    for name, sequential, burst in rows:
        print(f"  {name:9s} sequential {sequential / 1000:8.1f}k   burst {burst / 1000:8.1f}k")
    one = next(row for row in rows if row[0] == "one node")
    nodes = [row for row in rows if row[0] != "one node"]
    print(f"  nodes / one node: sequential {sum(r[1] for r in nodes) / one[1]:.2f}x, burst {sum(r[2] for r in nodes) / one[2]:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
