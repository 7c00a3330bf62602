"""A relay cluster as operators run it: a real redis-server, relay nodes as separate
``appserver relay serve --redis`` processes, our gateway as the host behind a TCP balancer,
controllers on other nodes than the host's (docs/relay.md "Cluster")."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import TaskGroup
import httpx
import pytest

from appserver.relay import credentials, pairing
from appserver.relay.redis_store import RedisStore
from tests.support.balancer import Balancer
from tests.support.launcher import APPSERVER, Launched, launch
from tests.support.progress import Progress
from tests.support.rc_host import host_process
from tests.support.relay import BANNER, RelayController

pytestmark = pytest.mark.anyio

CONNECTED = re.compile(r"remote control connected to \S+ \(server (\S+)\)")


@dataclass
class Node:
    name: str
    proc: Launched
    url: str

    @property
    def port(self) -> int:
        return int(self.url.rstrip("/").rsplit(":", 1)[1])

    async def metric(self, name: str, **labels: str) -> float:
        """One sample of the node's /metrics (0 when absent)."""
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as http:
            text = (await http.get("metrics")).text
        shown = ",".join(f'{k}="{v}"' for k, v in labels.items())
        wanted = f"{name}{{{shown}}}" if labels else name
        for line in text.splitlines():
            if line.startswith(wanted + " "):
                return float(line.split()[-1])
        return 0.0


@asynccontextmanager
async def relay_node(
    stack: AsyncExitStack, redis_url: str, name: str, tmp_path: Path, *flags: str
) -> AsyncIterator[Node]:
    argv = [*APPSERVER, "relay", "serve", "--listen", "http://127.0.0.1:0", "--redis", redis_url, *flags]
    proc = await stack.enter_async_context(launch(argv, name=f"relay node {name}", log=tmp_path / f"node-{name}.log"))
    url = (await proc.line_matching(BANNER)).group(1)
    yield Node(name, proc, url)


def add_account(tmp_path: Path, redis_url: str) -> Path:
    out = tmp_path / "account.token"
    done = subprocess.run(
        [*APPSERVER, "relay", "account", "add", "alice", "--out", str(out), "--redis", redis_url],
        capture_output=True, text=True, timeout=60, env=dict(os.environ),
    )
    assert done.returncode == 0, done.stderr
    return out


async def pair_device(redis_url: str, server_id: str, node: Node, name: str) -> str:
    """A paired device of the host (code minted in the shared state, claimed on ``node``)."""
    store = await RedisStore.open(redis_url)
    try:
        server = await store.server(server_id)
        assert server is not None
        minted = await pairing.mint(store, server, manual=False, now=int(time.time()))
    finally:
        await store.close()
    async with httpx.AsyncClient(base_url=node.url, timeout=30) as http:
        claimed = await http.post("api/v1/pair/claim", json={"code": minted.pairing_code, "display_name": name})
    assert claimed.status_code == 200, claimed.text
    return str(claimed.json()["device_token"])


@dataclass
class ClusterSetup:
    nodes: list[Node]
    balancer: Balancer
    host: Launched
    server_id: str
    redis_url: str
    #: In front of each node for the other nodes' direct sockets (``--node-url``).
    peer_fronts: list[Balancer]


@asynccontextmanager
async def cluster(tmp_path: Path, redis_url: str, count: int, tasks: TaskGroup) -> AsyncIterator[ClusterSetup]:
    """``count`` nodes; the host on the first, through a balancer (served by ``tasks``);
    the nodes reach each other through balancers too, so the direct path can be cut."""
    token = add_account(tmp_path, redis_url)
    async with AsyncExitStack() as stack:
        nodes, peer_fronts = [], []
        for name in "abc"[:count]:
            front = Balancer(0)  # pointed at the node once its port is known
            await front.start(tasks)
            node = await stack.enter_async_context(
                relay_node(stack, redis_url, name, tmp_path, "--node-url", front.url)
            )
            front.target = node.port
            nodes.append(node)
            peer_fronts.append(front)
        balancer = Balancer(nodes[0].port)
        await balancer.start(tasks)
        host = await stack.enter_async_context(
            host_process(balancer.url, tmp_path, "--remote-control-token-file", str(token), token=False)
        )
        server_id = (await host.line_matching(CONNECTED)).group(1)
        yield ClusterSetup(nodes, balancer, host, server_id, redis_url, peer_fronts)


async def test_controller_on_another_node_than_the_host_and_the_owner_dies(tmp_path: Path, redis_url: str) -> None:
    async with anyio.create_task_group() as tasks, cluster(tmp_path, redis_url, 2, tasks) as c:
        node_a, node_b = c.nodes
        device = await pair_device(redis_url, c.server_id, node_b, "phone")
        controller = RelayController(node_b.url, device)
        opened = await controller.connect()
        assert opened["resumed"] is False
        answer = await controller.initialize()
        assert "result" in answer, answer
        listed = await controller.request("model/list", {})
        assert "result" in listed, listed
        assert await node_a.metric("appserver_relay_cluster_owned_hosts") == 1
        assert await node_b.metric("appserver_relay_cluster_owned_hosts") == 0
        assert await node_b.metric("appserver_relay_cluster_forwarded_messages_total", direction="to_host") >= 2
        written = [await node_a.metric("appserver_relay_cluster_forwarded_messages_total", direction=direction)
                   for direction in ("from_controllers", "direct_to_host")]
        assert sum(written) >= 2  # from Redis, or ahead of it from node B straight

        # The owner dies; the balancer sends the host to node B, which takes the lease over.
        c.balancer.target = node_b.port
        node_a.proc.signal(signal.SIGKILL)
        # A request sent meanwhile waits in Redis for the host's next link, wherever it lands.
        again = await controller.request("model/list", {})
        assert "result" in again, again
        assert await node_b.metric("appserver_relay_cluster_owned_hosts") == 1
        assert await node_b.metric("appserver_relay_cluster_lease_changes_total", change="taken_over") == 1
        await controller.close()
        tasks.cancel_scope.cancel()


async def test_a_node_shutting_down_closes_its_direct_sockets_as_going_away(tmp_path: Path, redis_url: str) -> None:
    async with anyio.create_task_group() as tasks, cluster(tmp_path, redis_url, 2, tasks) as c:
        node_a, node_b = c.nodes
        device = await pair_device(redis_url, c.server_id, node_b, "phone")
        controller = RelayController(node_b.url, device)
        await controller.connect()
        assert "result" in await controller.initialize()
        for _ in range(3):
            assert "result" in await controller.request("model/list", {})
        # Both direct sockets are open: B's to the owner (requests), A's to B (answers).
        for node in (node_a, node_b):
            await node.proc.line_matching(r"direct socket to node \S+ open")
        node_a.proc.signal(signal.SIGTERM)
        # Node A closes the socket B opened to it as going away, rather than leaving it to
        # the server's shutdown timeout (twice) and dropping it when the process ends.
        await node_b.proc.line_matching(r"direct socket to node \S+ closed \(1001\)")
        assert await node_a.proc.wait() == 0
        await controller.close()
        tasks.cancel_scope.cancel()


async def test_frames_take_the_direct_path_between_nodes_and_redis_keeps_every_one(
    tmp_path: Path, redis_url: str
) -> None:
    from redis import asyncio as aioredis

    from appserver.relay import up_batches
    from appserver.relay.redis_store import PREFIX

    async with anyio.create_task_group() as tasks, cluster(tmp_path, redis_url, 2, tasks) as c:
        node_a, node_b = c.nodes
        controller = RelayController(node_b.url, await pair_device(redis_url, c.server_id, node_b, "phone"))
        await controller.connect()
        assert "result" in await controller.initialize()
        # The nodes dial each other when traffic first needs it; until then Redis carries all.
        sent = 0
        while (
            await node_a.metric("appserver_relay_cluster_forwarded_messages_total", direction="direct_to_host") == 0
            or await node_b.metric(
                "appserver_relay_cluster_forwarded_messages_total", direction="direct_to_controllers"
            ) == 0
        ):
            assert sent < 200, "the direct path never carried a frame"
            assert "result" in await controller.request("model/list", {})
            sent += 1
        # Redis still has every controller frame, in order: the log a new owner resumes from
        # (written behind the direct path: read with XREAD BLOCK until the last one is in).
        redis = aioredis.from_url(redis_url, decode_responses=True)
        numbered: list[int] = []
        try:
            last = "0-0"
            with anyio.fail_after(30):
                while len(numbered) < 2 + sent:
                    for _key, entries in await redis.xread({f"{PREFIX}:up:{c.server_id}": last}, block=1000) or []:
                        for entry_id, fields in entries:
                            last = entry_id
                            numbered += [int(seq) for kind, _c, _s, seq, _m in up_batches.rows(fields) if kind == "m"]
        finally:
            await redis.aclose()
        assert numbered == list(range(2 + sent))  # initialize, initialized, then each request
        await controller.close()
        tasks.cancel_scope.cancel()


async def test_a_node_refuses_a_direct_socket_without_the_cluster_secret(tmp_path: Path, redis_url: str) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    from appserver.relay.peers import PATH

    async with AsyncExitStack() as stack:
        node = await stack.enter_async_context(relay_node(stack, redis_url, "a", tmp_path))
        url = node.url.replace("http://", "ws://").rstrip("/") + PATH
        for headers in ({}, {"Authorization": "Bearer not-the-secret"}):
            with pytest.raises(InvalidStatus) as refused:
                await connect(url, additional_headers=headers)
            assert refused.value.response.status_code == 401
        assert await node.metric("appserver_relay_auth_failures_total", kind="node") == 2


CONTROLLERS = 4  # two on node B, two on node C
REQUESTS = 2000
AFTER_FAILOVER = 200
WINDOW = 16  # requests in flight per controller
DROP_EVERY = 100  # answers between two dropped links (host, controllers, between nodes in turn)




async def exchange(controller: RelayController, ids: list[int], answered: list[int], progress: Progress) -> None:
    """Send ``ids`` (model/list) with WINDOW in flight, resuming the stream whenever its socket drops.

    A request counts as sent as soon as it is handed to ``controller.send``, even when the
    write then fails on a socket that just dropped: the controller has recorded it, and its
    resume sends it again if the relay did not get it. Sending it once more here would make
    it a second request with the same id, answered twice.
    """
    from websockets.exceptions import ConnectionClosed

    start = len(answered)
    sent = 0
    while len(answered) - start < len(ids):
        try:
            while sent < len(ids) and sent - (len(answered) - start) < WINDOW:
                request = {"id": ids[sent], "method": "model/list", "params": {}}
                sent += 1
                await controller.send(request)
            message = await controller.recv()
        except ConnectionClosed:
            opened = await controller.connect()  # resume: resends what the relay did not get
            assert opened["resumed"] is True, opened
            continue
        if "id" in message and ("result" in message or "error" in message):
            assert "result" in message, message
            answered.append(message["id"])
            progress.tick()


async def test_a_request_whose_write_failed_on_a_dropped_socket_is_answered_once(
    tmp_path: Path, redis_url: str
) -> None:
    """The chaos test's controllers: a request written just after the socket dropped is
    sent by the resume alone, and answered once (cross-node, like the chaos test)."""
    from websockets.exceptions import ConnectionClosed

    async with anyio.create_task_group() as tasks, cluster(tmp_path, redis_url, 2, tasks) as c:
        node_b = c.nodes[1]
        front = Balancer(node_b.port)
        await front.start(tasks)
        controller = RelayController(front.url, await pair_device(redis_url, c.server_id, node_b, "phone"))
        await controller.connect()
        assert "result" in await controller.initialize()
        assert await front.drop() == 1
        await controller.ws.wait_closed()
        with pytest.raises(ConnectionClosed):  # what the first write of exchange() meets
            await controller.ws.send("{}")
        ids = list(range(1000, 1000 + 2 * WINDOW))
        answered: list[int] = []
        await exchange(controller, ids, answered, Progress())
        assert answered == ids
        # Each request reached the host once: the next frame answers the next request.
        await controller.send({"id": 1, "method": "model/list", "params": {}})
        assert (await controller.recv())["id"] == 1
        await controller.close()
        tasks.cancel_scope.cancel()


async def test_chaos_across_three_nodes_then_the_owner_is_killed(tmp_path: Path, redis_url: str) -> None:
    async with anyio.create_task_group() as tasks, cluster(tmp_path, redis_url, 3, tasks) as c:
        node_a, node_b, node_c = c.nodes
        # Controllers reach B and C through balancers too, so their links can be cut.
        fronts = [Balancer(node_b.port), Balancer(node_c.port)]
        for front in fronts:
            await front.start(tasks)
        controllers = []
        for i in range(CONTROLLERS):
            node, front = (node_b, node_c)[i % 2], fronts[i % 2]
            controller = RelayController(front.url, await pair_device(redis_url, c.server_id, node, f"phone-{i}"))
            await controller.connect()
            assert "result" in await controller.initialize(f"phone-{i}")
            controllers.append(controller)
        per = REQUESTS // CONTROLLERS
        ids = [[100_000 * (i + 1) + n for n in range(per)] for i in range(CONTROLLERS)]
        answered: list[list[int]] = [[] for _ in range(CONTROLLERS)]
        progress = Progress()
        host_drops = socket_drops = peer_drops = 0

        async def dropper() -> None:
            nonlocal host_drops, socket_drops, peer_drops
            milestone = DROP_EVERY
            while milestone < REQUESTS:
                await progress.wait_for(milestone)
                turn = milestone // DROP_EVERY
                if turn % 3 == 1:
                    host_drops += await c.balancer.drop()  # the host link (through the balancer)
                elif turn % 3 == 2:
                    socket_drops += await fronts[(turn // 3) % 2].drop()
                else:
                    for front in c.peer_fronts:  # the direct path between nodes
                        peer_drops += await front.drop()
                milestone += DROP_EVERY

        async with anyio.create_task_group() as work:
            work.start_soon(dropper)
            async with anyio.create_task_group() as talk:
                for i, controller in enumerate(controllers):
                    talk.start_soon(exchange, controller, ids[i], answered[i], progress)
            work.cancel_scope.cancel()
        for i in range(CONTROLLERS):
            assert answered[i] == ids[i]  # each answered exactly once, in order
        assert host_drops >= 5 and socket_drops >= 5 and peer_drops >= 1
        # The direct path carried traffic (and Redis what it did not).
        assert await node_a.metric("appserver_relay_cluster_forwarded_messages_total", direction="direct_to_host") > 0
        assert await node_a.metric("appserver_relay_cluster_owned_hosts") == 1

        # Node A (the owner) is killed while requests are in flight; the host comes back
        # through node B and every stream carries on without re-initializing.
        more = [[200_000 * (i + 1) + n for n in range(AFTER_FAILOVER)] for i in range(CONTROLLERS)]
        later: list[list[int]] = [[] for _ in range(CONTROLLERS)]

        async def kill_owner() -> None:
            await progress.wait_for(progress.total + CONTROLLERS * 20)
            c.balancer.target = node_b.port
            node_a.proc.signal(signal.SIGKILL)

        async with anyio.create_task_group() as talk:
            talk.start_soon(kill_owner)
            for i, controller in enumerate(controllers):
                talk.start_soon(exchange, controller, more[i], later[i], progress)
        for i in range(CONTROLLERS):
            assert later[i] == more[i]
        assert await node_b.metric("appserver_relay_cluster_owned_hosts") == 1
        assert await node_b.metric("appserver_relay_cluster_lease_changes_total", change="taken_over") >= 1
        assert await node_c.metric("appserver_relay_cluster_owned_hosts") == 0
        assert all(c.control[0]["params"]["resumed"] is False for c in controllers)  # one initialize each
        for controller in controllers:
            await controller.close()
        tasks.cancel_scope.cancel()


async def test_revoking_a_device_closes_its_sockets_on_every_node(tmp_path: Path, redis_url: str) -> None:
    from websockets.exceptions import ConnectionClosed

    async with anyio.create_task_group() as tasks, cluster(tmp_path, redis_url, 3, tasks) as c:
        _, node_b, node_c = c.nodes
        token = await pair_device(redis_url, c.server_id, node_b, "phone")
        on_b, on_c = RelayController(node_b.url, token), RelayController(node_c.url, token)
        for controller in (on_b, on_c):
            await controller.connect()
            assert "result" in await controller.initialize()
        store = await RedisStore.open(redis_url)
        try:
            device = await store.device_for_token(credentials.digest(token))
        finally:
            await store.close()
        assert device is not None
        done = subprocess.run(
            [*APPSERVER, "relay", "device", "revoke", device.client_id, "--redis", redis_url],
            capture_output=True, text=True, timeout=60, env=dict(os.environ),
        )
        assert done.returncode == 0, done.stderr
        for controller in (on_b, on_c):
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await controller.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4001
        # The host was told: each stream's virtual connection is closed there.
        closed_on_host = await c.host.lines_matching(re.compile(r"remote stream closed: (\S+)/"), 2)
        assert {m.group(1) for m in closed_on_host} == {device.client_id}
        tasks.cancel_scope.cancel()
