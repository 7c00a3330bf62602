"""relay_cluster: a controller and its host on different relay nodes vs both on one
single-node relay, in the same run.

Reference: ``appserver relay serve --state FILE`` with our gateway as host (built-in
backend) and a controller on it. Ours: two ``appserver relay serve --redis URL`` nodes on a
real redis-server, the host linked to node A, the controller on node B — every frame
crosses from node to node on the direct path, and is written to (and read back from) the
host's Redis streams behind it. Round trips are sequential requests in alternating rounds;
throughput is a pipelined burst (64 in flight) per round, alternating. The relays' CPU per
answer (report only) sums the single node's, or both nodes' and redis-server's, over the
rounds of each side.

The floor: a second node is at least one more process in the path. A third controller, on
the single node through the minimal Python TCP byte relay (``benchmarks.refserver bytes``:
asyncio protocols copying bytes both ways, on the gateway's event loop), takes its turn in
the same sequential rounds; the cross-node round trip is reported against it too (report
only), which separates what any extra hop costs from what the second node adds. A fourth
controller, on node A itself, shows what being a cluster node costs when host and
controller share a node (every frame still written to Redis behind the local path).
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import time
from typing import Any
from urllib.parse import urlsplit

from benchmarks import services
from benchmarks.procs import cpu_seconds
from benchmarks.records import Metric, Results, Target, percentile
from benchmarks.scenarios import Context, Scenario
from benchmarks.scenarios.common import CHEAP_METHOD, WARMUP_REQUESTS
from benchmarks.services import Unavailable, python_env

SINGLE = "host and controller on one relay node (SQLite)"
P50 = "p50 round trip, host and controller on different nodes"
THROUGHPUT = "answers per second, host and controller on different nodes"
CPU = "relay CPU per answer, both nodes and redis-server / one node"
BYTE_HOP = "one relay node (SQLite) behind a minimal Python TCP byte relay"
FLOOR = "p50 round trip, one node behind a byte relay, the floor of one more hop"
VS_FLOOR = "p50 round trip, different nodes vs one node behind a byte relay"
SAME_NODE = "p50 round trip, host and controller on one node of the cluster"
WINDOW = 64
_BANNER = re.compile(r"listening on (http\S+/) ")
_CONNECTED = re.compile(r"remote control connected to \S+ \(server (\S+)\)")
APPSERVER = [sys.executable, "-m", "appserver"]


class Controller:
    """A minimal controller on the relay's controller WebSocket (docs/relay.md)."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.next_id = 0

    @classmethod
    async def open(cls, relay_url: str, token: str) -> Controller:
        from websockets.asyncio.client import connect

        url = relay_url.replace("http://", "ws://") + "api/v1/controller/ws"
        ws = await connect(url, additional_headers={"Authorization": f"Bearer {token}"}, max_size=None)
        first = json.loads(await ws.recv())
        if first.get("method") != "relay/stream":
            raise Unavailable(f"controller socket: unexpected first frame {first}")
        controller = cls(ws)
        await controller.call("initialize", {"clientInfo": {"name": "bench", "title": None, "version": "1"},
                                             "capabilities": {"experimentalApi": True}})
        await ws.send(json.dumps({"method": "initialized"}))
        return controller

    async def _answer(self, request_id: int) -> dict[str, Any]:
        while True:
            message = json.loads(await self.ws.recv())
            if message.get("id") == request_id and ("result" in message or "error" in message):
                return message

    async def call(self, method: str, params: Any) -> dict[str, Any]:
        self.next_id += 1
        await self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        return await self._answer(self.next_id)

    async def round_trips(self, count: int) -> list[float]:
        samples = []
        for _ in range(count):
            start = time.perf_counter()
            answer = await self.call(CHEAP_METHOD, {})
            samples.append(time.perf_counter() - start)
            if "result" not in answer:
                raise Unavailable(f"{CHEAP_METHOD} through the relay failed: {answer}")
        return samples

    async def burst(self, count: int) -> float:
        """Seconds for ``count`` requests with WINDOW in flight."""
        start = time.perf_counter()
        sent = answered = 0
        while answered < count:
            while sent < count and sent - answered < WINDOW:
                self.next_id += 1
                await self.ws.send(json.dumps({"id": self.next_id, "method": CHEAP_METHOD, "params": {}}))
                sent += 1
            message = json.loads(await self.ws.recv())
            if "id" in message and ("result" in message or "error" in message):
                answered += 1
        return time.perf_counter() - start

    async def close(self) -> None:
        await self.ws.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def start_redis(ctx: Context) -> tuple[str, int]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise Unavailable("redis-server is not installed (scripts/bench installs it)")
    port = _free_port()
    folder = ctx.runner.mkdir("redis")
    proc = await ctx.runner.start("redis", [
        binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder), "--save", "",
        "--appendonly", "no", "--logfile", "/dev/stderr",
    ])
    await proc.line_matching("Ready to accept connections", timeout=services.READY_TIMEOUT)
    return f"redis://127.0.0.1:{port}/0", proc.pid


async def start_relay(ctx: Context, name: str, state: list[str]) -> tuple[str, int]:
    """A relay node (profiled with ``--profile DIR``: ``relay_cluster-<name>.txt``)."""
    argv = [*APPSERVER, "relay", "serve", "--listen", "http://127.0.0.1:0", *state]
    proc = await ctx.runner.start(name, argv, env=python_env())
    url = await services._ready(proc, f"relay ({name})", line=_BANNER)
    if ctx.profile_dir is not None:
        await services.start_profiler(ctx.runner, proc, ctx.profile_dir / f"{ctx.scenario}-{name}.txt")
    return url, proc.pid


def add_account(ctx: Context, name: str, state: list[str]) -> str:
    out = ctx.runner.path(f"{name}.token")
    done = subprocess.run([*APPSERVER, "relay", "account", "add", name, "--out", str(out), *state],
                          capture_output=True, text=True, timeout=60, env=python_env())
    if done.returncode != 0:
        raise Unavailable(f"relay account add: {done.stderr.strip()}")
    return str(out)


async def start_host(ctx: Context, name: str, relay_url: str, token_file: str) -> tuple[str, int]:
    """The host's server id and pid."""
    home = ctx.runner.mkdir(f"{name}-home")
    argv = [*APPSERVER, "serve", "--backend", "builtin", "--listen", "off", "--remote-control", relay_url,
            "--remote-control-token-file", token_file]
    proc = await ctx.runner.start(name, argv, env=python_env(CODEX_HOME=str(home), LOG_LEVEL="INFO"))
    return await services._ready(proc, f"host ({name})", line=_CONNECTED), proc.pid


async def pair(state: Any, server_id: str, relay_url: str) -> str:
    import httpx

    from appserver.relay import pairing

    try:
        server = await state.server(server_id)
        minted = await pairing.mint(state, server, manual=False, now=int(time.time()))
    finally:
        await state.close()
    async with httpx.AsyncClient(base_url=relay_url, timeout=30) as http:
        claimed = await http.post("api/v1/pair/claim", json={"code": minted.pairing_code})
    if claimed.status_code != 200:
        raise Unavailable(f"pairing claim: {claimed.status_code} {claimed.text}")
    return str(claimed.json()["device_token"])


async def run_relay_cluster(ctx: Context, results: Results) -> None:
    from appserver.relay.redis_store import RedisStore
    from appserver.relay.sqlite_store import SqliteStore

    # Reference: one node, SQLite.
    db = str(ctx.runner.path("single.sqlite3"))
    single_state = ["--state", db]
    single_url, single_pid = await start_relay(ctx, "relay-single", single_state)
    single_host, single_host_pid = await start_host(ctx, "host-single", single_url, add_account(ctx, "single", single_state))
    single_token = await pair(await SqliteStore.open(ctx.runner.path("single.sqlite3")), single_host, single_url)
    # Ours: two nodes on Redis; host on A, controller on B.
    redis_url, redis_pid = await start_redis(ctx)
    cluster_state = ["--redis", redis_url]
    node_a, node_a_pid = await start_relay(ctx, "relay-node-a", cluster_state)
    node_b, node_b_pid = await start_relay(ctx, "relay-node-b", cluster_state)
    cluster_host, cluster_host_pid = await start_host(ctx, "host-cluster", node_a, add_account(ctx, "cluster", cluster_state))
    cluster_token = await pair(await RedisStore.open(redis_url), cluster_host, node_b)
    same_node_token = await pair(await RedisStore.open(redis_url), cluster_host, node_a)
    # The floor: the single node again, its controller behind a TCP byte relay (the relay's URL
    # with the byte relay's port).
    relay = urlsplit(single_url)
    byte_proc, byte_hop = await services.start_refserver(ctx.runner, "bytes", f"tcp:{relay.hostname}:{relay.port}")
    floor_url = relay._replace(netloc=urlsplit(byte_hop.address).netloc).geturl()
    # Per side (one node, different nodes, the floor, one node of the cluster), the processes
    # whose CPU is read: the relays first (the CPU row), then the host.
    cluster_procs = {"node A": node_a_pid, "node B": node_b_pid, "redis-server": redis_pid, "host": cluster_host_pid}
    watched = [{"relay": single_pid, "host": single_host_pid}, cluster_procs,
               {"relay": single_pid, "byte relay": byte_proc.pid, "host": single_host_pid}, cluster_procs]

    controllers = [await Controller.open(single_url, single_token), await Controller.open(node_b, cluster_token),
                   await Controller.open(floor_url, single_token), await Controller.open(node_a, same_node_token)]
    try:
        for controller in controllers:
            await controller.round_trips(WARMUP_REQUESTS)
        sizes = ctx.sizes
        per_round = max(1, sizes.rtt_requests // sizes.rtt_rounds)
        rtt: list[list[float]] = [[], [], [], []]
        seconds = [0.0, 0.0]
        # CPU seconds per side and process: in the sequential rounds, and in the bursts.
        rtt_cpu: list[dict[str, float]] = [dict.fromkeys(side, 0.0) for side in watched]
        burst_cpu: list[dict[str, float]] = [dict.fromkeys(side, 0.0) for side in watched[:2]]

        def cpu_now(i: int) -> dict[str, float]:
            return {name: cpu_seconds(pid) for name, pid in watched[i].items()}

        def count_cpu(into: dict[str, float], i: int, before: dict[str, float]) -> None:
            for name, seconds_now in cpu_now(i).items():
                into[name] += seconds_now - before[name]

        for _ in range(sizes.rtt_rounds):
            for i, controller in enumerate(controllers):
                before = cpu_now(i)
                rtt[i] += await controller.round_trips(per_round)
                count_cpu(rtt_cpu[i], i, before)
        for _ in range(sizes.burst_rounds):
            for i, controller in enumerate(controllers[:2]):  # one node, different nodes
                before = cpu_now(i)
                seconds[i] += await controller.burst(sizes.burst_requests)
                count_cpu(burst_cpu[i], i, before)
    finally:
        for controller in controllers:
            await controller.close()
    single_p50, cross_p50, floor_p50, same_node_p50 = (percentile(side, 50) for side in rtt)
    results.set(P50, reference=single_p50 * 1e3, ours=cross_p50 * 1e3)
    results.set(FLOOR, reference=single_p50 * 1e3, ours=floor_p50 * 1e3)
    results.set(VS_FLOOR, reference=floor_p50 * 1e3, ours=cross_p50 * 1e3)
    results.set(SAME_NODE, reference=single_p50 * 1e3, ours=same_node_p50 * 1e3)
    total = sizes.burst_requests * sizes.burst_rounds
    results.set(THROUGHPUT, reference=total / seconds[0], ours=total / seconds[1])
    answers = len(rtt[0]) + total
    per_answer = [{name: (rtt_cpu[i][name] + burst_cpu[i][name]) / answers * 1e6 for name in watched[i]}
                  for i in (0, 1)]
    results.set(CPU, reference=sum(v for k, v in per_answer[0].items() if k != "host"),
                ours=sum(v for k, v in per_answer[1].items() if k != "host"))
    results.note(P50, f"{len(rtt[0])} sequential {CHEAP_METHOD} per side in {sizes.rtt_rounds} alternating rounds; "
                      "controller on node B, host linked to node A")
    results.note(FLOOR, f"the same rounds; the controller reaches the one node through a byte relay (TCP) "
                        f"that adds {(floor_p50 - single_p50) * 1e6:.0f} us to the p50")
    results.note(VS_FLOOR, f"the same rounds; the second node adds {(cross_p50 - floor_p50) * 1e6:.0f} us "
                           "to the p50 beyond one more hop")
    results.note(SAME_NODE, "the same rounds; a controller on node A, the host's own node: a cluster node's "
                            f"cost without a second node (different nodes / this: {cross_p50 / same_node_p50:.2f}x)")
    results.note(THROUGHPUT, f"{sizes.burst_requests} requests, {WINDOW} in flight, {sizes.burst_rounds} rounds per side")
    split = "; ".join(", ".join(f"{name} {us:.0f} us" for name, us in side.items()) for side in per_answer)
    sequential = "; ".join(", ".join(f"{name} {used / len(rtt[i]) * 1e6:.0f} us" for name, used in rtt_cpu[i].items())
                           for i in (0, 2, 3))
    results.note(CPU, "user + system CPU of the relay processes over every round (sequential and burst), "
                      f"per answer; /proc ticks of 10 ms; per process (one node; different nodes): {split}; "
                      f"per sequential round trip (one node; one node behind the byte relay; "
                      f"one node of the cluster): {sequential}")


RELAY_CLUSTER = Scenario(
    "relay_cluster",
    "relay cluster: host and controller on different nodes (Redis) vs one single-node relay",
    [
        Metric(P50, "ms", "lower", Target("ratio", "<=", 1.5), SINGLE),
        Metric(FLOOR, "ms", "lower", None, SINGLE),
        Metric(VS_FLOOR, "ms", "lower", None, BYTE_HOP),
        Metric(SAME_NODE, "ms", "lower", None, SINGLE),
        Metric(THROUGHPUT, "1/s", "higher", Target("ratio", ">=", 0.7), SINGLE),
        Metric(CPU, "us", "lower", None, SINGLE),
    ],
    run_relay_cluster,
)
