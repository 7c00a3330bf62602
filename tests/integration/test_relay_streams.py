"""Host link and controller streams through the relay, with a scripted host on the wire modules."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from appserver import limits, strings
from tests.support.relay import RelayController, RelayHandle, account_headers, running_relay
from tests.support.scripted_host import ScriptedHost

pytestmark = pytest.mark.anyio

WAIT = 30.0


@dataclass
class Setup:
    r: RelayHandle
    host: ScriptedHost
    enrolled: dict[str, Any]
    credential: str
    device: dict[str, Any]

    def controller(self, device: dict[str, Any] | None = None) -> RelayController:
        return RelayController(self.r.url, (device or self.device)["device_token"])

    async def new_device(self) -> dict[str, Any]:
        codes = await self.r.pair(self.enrolled["remote_control_token"])
        return await self.r.claim(codes["pairing_code"], display_name="another")


async def until(predicate: Any, timeout: float = WAIT) -> None:
    """Poll a condition on in-process state (no event exists for it) until true."""
    with anyio.fail_after(timeout):
        while not predicate():
            await anyio.sleep(0.01)


@asynccontextmanager
async def setup(tmp_path: Path, **config: Any) -> AsyncIterator[Setup]:
    async with running_relay(tmp_path / "s.db", **config) as r:
        credential = await r.account()
        enrolled = await r.enroll(credential)
        host = ScriptedHost(r.url, enrolled["server_id"], enrolled["remote_control_token"])
        codes = await r.pair(enrolled["remote_control_token"])
        device = await r.claim(codes["pairing_code"], display_name="Phone")
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(host.run)
            with anyio.fail_after(WAIT):
                await host.connected.wait()
            await until(lambda: enrolled["server_id"] in r.relay.links)
            yield Setup(r, host, enrolled, credential, device)
            host.stop()
            await host.drop()
            tasks.cancel_scope.cancel()


async def test_controller_initializes_and_talks_to_the_host(tmp_path: Path) -> None:
    async with setup(tmp_path) as s:
        c = s.controller()
        first = await c.connect()
        assert first == {"streamId": c.stream_id, "resumed": False, "received": 0, "hostOnline": True}
        init = await c.initialize()
        assert init == {"id": 1, "result": {"userAgent": "scripted-host/0.0.0", "platformOs": "linux"}}
        answer = await c.request("thread/list", {"limit": 5})
        assert answer == {"id": 2, "result": {"echo": {"limit": 5}, "method": "thread/list"}}
        await s.host.notify(s.device["client_id"], c.stream_id, "thing/happened", {"n": 1})
        assert await c.recv() == {"method": "thing/happened", "params": {"n": 1}}
        # Envelopes carried: per-stream seq from 0, every one acked (the host's buffer drains).
        delivered = [m for (cl, st, m) in s.host.delivered if st == c.stream_id]
        assert len(delivered) == 3
        assert [m.get("method") for m in delivered] == ["initialize", "initialized", "thread/list"]
        await until(lambda: s.host.replay.unacked == 0)
        assert s.host.inbound_last[(s.device["client_id"], c.stream_id)] == 2
        await c.close()


async def test_requests_before_initialize_are_refused_by_the_relay(tmp_path: Path) -> None:
    async with setup(tmp_path) as s:
        c = s.controller()
        await c.connect()
        answer = await c.request("thread/list", {})
        assert answer == {"id": 1, "error": {"code": -32600, "message": strings.NOT_INITIALIZED}}
        await c.send({"method": "initialized"})
        await c.send({"garbage": True})
        assert (await c.initialize())["id"] == 2
        await until(lambda: len(s.host.delivered) == 2)
        assert [m.get("method") for (_, _, m) in s.host.delivered] == ["initialize", "initialized"]


async def test_large_messages_are_chunked_both_ways(tmp_path: Path) -> None:
    async with setup(tmp_path) as s:
        c = s.controller()
        await c.connect()
        await c.initialize()
        big = "y" * (400 * 1024)
        answer = await c.request("echo/big", {"blob": big})
        assert answer["result"]["echo"]["blob"] == big
        size = 1024 * 1024
        answer = await c.request("big", {"size": size})
        assert len(answer["result"]["data"]) == size
        text = (await s.r.http.get("metrics")).text
        assert 'appserver_relay_host_envelopes_received_total{type="ServerMessageChunk"}' in text


async def test_resume_after_a_dropped_socket_loses_and_repeats_nothing(tmp_path: Path) -> None:
    async with setup(tmp_path) as s:
        c = s.controller()
        await c.connect()
        await c.initialize()
        c.ws.transport.abort()
        stream = s.r.relay.streams[c.stream_id]
        await until(lambda: stream.socket is None)
        for n in range(5):
            await s.host.notify(s.device["client_id"], c.stream_id, "tick", {"n": n})
        await until(lambda: stream.buffer.last == 1 + 5)
        # Frames sent while the socket was gone are resent by the controller after k.
        c.sent.append(json.dumps({"id": 50, "method": "late", "params": {}}))
        params = await c.connect()
        assert params == {"streamId": c.stream_id, "resumed": True, "received": 2, "hostOnline": True}
        ticks = [await c.recv() for _ in range(5)]
        assert [t["params"]["n"] for t in ticks] == [0, 1, 2, 3, 4]
        assert (await c.recv()) == {"id": 50, "result": {"echo": {}, "method": "late"}}
        # Drop again mid-way; resume with what we really got.
        c.ws.transport.abort()
        await until(lambda: stream.socket is None)
        await s.host.notify(s.device["client_id"], c.stream_id, "tick", {"n": 5})
        await c.connect()
        assert (await c.recv())["params"] == {"n": 5}
        assert s.r.relay.metrics.resumes._value.get() == 2  # type: ignore[attr-defined]


async def test_resume_of_an_unknown_stream_or_from_the_future_is_refused(tmp_path: Path) -> None:
    async with setup(tmp_path) as s:
        url = s.r.url.replace("http", "ws") + "api/v1/controller/ws"
        headers = {"Authorization": f"Bearer {s.device['device_token']}"}
        async with connect(url + "?stream=stream_nope&received=0", additional_headers=headers) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
            assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4002, strings.RELAY_CLOSE_EXPIRED)
        c = s.controller()
        await c.connect()
        await c.initialize()
        async with connect(url + f"?stream={c.stream_id}&received=99", additional_headers=headers) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd.code == 1008
        # Another device cannot resume this stream.
        other = await s.new_device()
        other_headers = {"Authorization": f"Bearer {other['device_token']}"}
        async with connect(url + f"?stream={c.stream_id}&received=1", additional_headers=other_headers) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd.code == 4002


async def test_grace_expiry_tells_the_host(tmp_path: Path) -> None:
    async with setup(tmp_path, stream_grace=0.2) as s:
        c = s.controller()
        await c.connect()
        await c.initialize()
        c.ws.transport.abort()
        await until(lambda: (s.device["client_id"], c.stream_id) in s.host.closed_streams)
        assert c.stream_id not in s.r.relay.streams
        with pytest.raises(ConnectionClosed) as closed:
            await c.connect()
            await c.recv()
        assert closed.value.rcvd.code == 4002


async def test_a_clean_close_ends_the_stream_at_once(tmp_path: Path) -> None:
    async with setup(tmp_path) as s:
        c = s.controller()
        await c.connect()
        await c.initialize()
        await c.close(1000)
        await until(lambda: (s.device["client_id"], c.stream_id) in s.host.closed_streams)


async def test_host_offline_requests_get_an_error_and_the_stream_carries_on(tmp_path: Path) -> None:
    async with setup(tmp_path, host_offline_wait=0.3) as s:
        c = s.controller()
        await c.connect()
        await c.initialize()
        s.host.stop()
        await s.host.drop()
        await until(lambda: s.enrolled["server_id"] not in s.r.relay.links)
        answer = await c.request("thread/list", {})
        assert answer == {"id": 2, "error": {"code": -32000, "message": strings.RELAY_HOST_OFFLINE}}
        assert {"method": "relay/host", "params": {"online": False}} in c.control
        # The host comes back (a new process would not know the stream; this one does).
        s.host._stop = False
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(s.host.run)
            await until(lambda: s.enrolled["server_id"] in s.r.relay.links)
            answer = await c.request("thread/read", {"x": 1})
            assert answer == {"id": 3, "result": {"echo": {"x": 1}, "method": "thread/read"}}
            assert {"method": "relay/host", "params": {"online": True}} in c.control
            # The request answered "not delivered" never reached the host.
            assert "thread/list" not in [m.get("method") for (_, _, m) in s.host.delivered]
            s.host.stop()
            await s.host.drop()
            tasks.cancel_scope.cancel()


async def test_a_request_the_host_got_before_it_went_away_is_answered_offline_once(tmp_path: Path) -> None:
    async with setup(tmp_path, host_offline_wait=0.3) as s:
        c = s.controller()
        await c.connect()
        await c.initialize()

        def vanish(client_id: str, stream_id: str, message: dict[str, Any]) -> Any:
            # The host got the request; its link drops before the answer reaches the relay.
            # The answer stays in the host's replay buffer (sent again on its next link).
            s.host.answer = None
            s.host.stop()
            assert s.host.ws is not None
            s.host.ws.transport.abort()
            return {"late": True}

        s.host.answer = vanish
        c.ids = 2
        await c.send({"id": 2, "method": "thread/list", "params": {}})
        with anyio.fail_after(WAIT):
            answer = await c.recv()
        assert answer == {"id": 2, "error": {"code": -32000, "message": strings.RELAY_HOST_OFFLINE_UNANSWERED}}
        assert "thread/list" in [m.get("method") for (_, _, m) in s.host.delivered]
        assert s.enrolled["server_id"] not in s.r.relay.links
        late = s.r.relay.metrics.late_answers._value.get()
        # The host returns and replays its answer to id 2 first: the relay drops it.
        s.host._stop = False
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(s.host.run)
            await c.send({"id": 3, "method": "thread/read", "params": {"x": 1}})
            with anyio.fail_after(WAIT):
                answer = await c.recv()  # the next frame: no second answer to id 2 before it
            assert answer == {"id": 3, "result": {"echo": {"x": 1}, "method": "thread/read"}}
            assert s.r.relay.metrics.late_answers._value.get() == late + 1
            stream = s.r.relay.streams[c.stream_id]
            assert not stream.open_requests and not stream.answered_by_relay
            s.host.stop()
            await s.host.drop()
            tasks.cancel_scope.cancel()


async def test_a_request_sent_while_the_host_is_reconnecting_is_delivered(tmp_path: Path) -> None:
    async with setup(tmp_path) as s:
        c = s.controller()
        await c.connect()
        await c.initialize()
        await s.host.drop()
        answer = await c.request("thread/list", {"n": 1})
        assert answer == {"id": 2, "result": {"echo": {"n": 1}, "method": "thread/list"}}
        assert s.host.links >= 2


async def test_an_initialize_sent_while_the_host_is_offline_opens_the_stream_when_it_returns(tmp_path: Path) -> None:
    """The held initialize reaches the host before the relay's ping of the stream (a ping
    first would get `unknown` and end, 4002, a stream the host was about to open)."""
    async with setup(tmp_path) as s:
        s.host.stop()
        await s.host.drop()
        await until(lambda: s.enrolled["server_id"] not in s.r.relay.links)
        c = s.controller()
        await c.connect()
        c.ids = 1
        await c.send({"id": 1, "method": "initialize", "params": {
            "clientInfo": {"name": "late", "title": None, "version": "1"},
            "capabilities": {"experimentalApi": True},
        }})
        await until(lambda: len(s.r.relay.streams[c.stream_id].waiting) == 1)
        s.host._stop = False
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(s.host.run)
            with anyio.fail_after(WAIT):
                answer = await c.recv()
            assert answer["id"] == 1 and "result" in answer
            assert await c.request("thread/list", {"n": 1}) == {
                "id": 2, "result": {"echo": {"n": 1}, "method": "thread/list"}
            }
            s.host.stop()
            await s.host.drop()
            tasks.cancel_scope.cancel()


async def test_host_that_lost_the_stream_ends_it_with_4002(tmp_path: Path) -> None:
    async with setup(tmp_path) as s:
        c = s.controller()
        await c.connect()
        await c.initialize()
        # A restarted host process: it knows no streams and numbers from 1 again.
        s.host.open_streams.clear()
        s.host.inbound_last.clear()
        await s.host.drop()
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await c.recv()
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4002, strings.RELAY_CLOSE_EXPIRED)


async def test_revoke_closes_sockets_with_4001_and_tells_the_host(tmp_path: Path) -> None:
    async with setup(tmp_path) as s:
        c = s.controller()
        await c.connect()
        await c.initialize()
        env = s.enrolled["environment_id"]
        answer = await s.r.http.delete(
            f"wham/remote/control/environments/{env}/clients/{s.device['client_id']}",
            headers=account_headers(s.credential),
        )
        assert answer.status_code == 204
        with pytest.raises(ConnectionClosed) as closed:
            await c.recv()
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4001, strings.RELAY_CLOSE_REVOKED)
        await until(lambda: (s.device["client_id"], c.stream_id) in s.host.closed_streams)
        with pytest.raises(InvalidStatus) as refused:
            await s.controller().connect()
        assert refused.value.response.status_code == 401


async def test_binary_frames_close_1008_and_other_streams_carry_on(tmp_path: Path) -> None:
    async with setup(tmp_path) as s:
        good, bad = s.controller(), s.controller()
        await good.connect()
        await good.initialize()
        await bad.connect()
        await bad.ws.send(b"\x00\x01")
        with pytest.raises(ConnectionClosed) as closed:
            await bad.recv()
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1008, strings.RELAY_CLOSE_BINARY)
        assert (await good.request("ping/me", {}))["result"]["method"] == "ping/me"


async def test_browser_subprotocol_auth(tmp_path: Path) -> None:
    async with setup(tmp_path) as s:
        c = s.controller()
        await c.connect(subprotocol=True)
        assert c.ws.subprotocol == "appserver.controller.v1"
        assert (await c.initialize())["id"] == 1


@pytest.mark.parametrize("token", [None, "rdt_nope"])
async def test_bad_device_tokens_get_401_before_the_upgrade(tmp_path: Path, token: str | None) -> None:
    async with setup(tmp_path) as s:
        url = s.r.url.replace("http", "ws") + "api/v1/controller/ws"
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url, additional_headers=headers):
                pass
        assert refused.value.response.status_code == 401
        assert json.loads(refused.value.response.body) == {"detail": strings.RELAY_BAD_DEVICE_TOKEN}


async def test_host_handshake_statuses(tmp_path: Path) -> None:
    async with running_relay(tmp_path / "s.db") as r:
        credential = await r.account()
        a = await r.enroll(credential, installation_id="a")
        b = await r.enroll(credential, installation_id="b")
        url = r.url.replace("http", "ws") + "wham/remote/control/server"

        async def status(token: str, server_id: str) -> tuple[int, bytes]:
            headers = {"Authorization": f"Bearer {token}", "x-codex-server-id": server_id}
            with pytest.raises(InvalidStatus) as refused:
                async with connect(url, additional_headers=headers):
                    pass
            return refused.value.response.status_code, refused.value.response.body

        assert await status(a["remote_control_token"], "srv_e_unknown") == (
            404, b'{"detail":"Remote app server not found"}'
        )
        assert (await status("rct_bad", a["server_id"]))[0] == 401
        assert (await status(a["remote_control_token"], b["server_id"]))[0] == 401
        async with httpx.AsyncClient() as http:
            plain = await http.get(r.url + "wham/remote/control/server")
        assert plain.status_code == 401


async def test_a_new_link_replaces_the_old_one(tmp_path: Path) -> None:
    async with setup(tmp_path) as s:
        c = s.controller()
        await c.connect()
        await c.initialize()
        second = ScriptedHost(s.r.url, s.enrolled["server_id"], s.enrolled["remote_control_token"])
        second.seq, second.replay, second.open_streams, second.inbound_last = (
            s.host.seq, s.host.replay, s.host.open_streams, s.host.inbound_last
        )
        s.host.stop()
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(second.run)
            with anyio.fail_after(WAIT):
                await second.connected.wait()
            await until(lambda: s.r.relay.links[s.enrolled["server_id"]].ws is not None and second.links == 1)
            answer = await c.request("after/replace", {})
            assert answer["result"]["method"] == "after/replace"
            second.stop()
            await second.drop()
            tasks.cancel_scope.cancel()


async def test_malformed_host_envelopes_are_dropped_and_the_link_stays(tmp_path: Path) -> None:
    async with setup(tmp_path) as s:
        c = s.controller()
        await c.connect()
        await c.initialize()
        assert s.host.ws is not None
        for junk in ("{nope", '{"type":"mystery","client_id":"a","stream_id":"b","seq_id":1}', "[]"):
            await s.host.ws.send(junk)
        await s.host.ws.send(json.dumps({
            "type": "server_message_chunk", "segment_id": 3, "segment_count": 2, "message_size_bytes": 10,
            "message_chunk_base64": "eA==", "client_id": s.device["client_id"], "stream_id": c.stream_id,
            "seq_id": 99,
        }))
        assert (await c.request("still/here", {}))["result"]["method"] == "still/here"
        await until(lambda: s.r.relay.metrics.bad_envelopes._value.get() == 4)  # type: ignore[attr-defined]


async def test_stream_limits_per_device(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "RELAY_MAX_STREAMS_PER_DEVICE", 2)
    async with setup(tmp_path) as s:
        first, second = s.controller(), s.controller()
        await first.connect()
        await second.connect()
        with pytest.raises(InvalidStatus) as refused:
            await s.controller().connect()
        assert refused.value.response.status_code == 429


async def test_chaos_2000_requests_with_host_and_controller_drops(tmp_path: Path) -> None:
    """4 controllers x 500 pipelined requests while the host link and the controller sockets
    are dropped every 50 answers: every request is answered exactly once, in order."""
    controllers, per_controller, window, every = 4, 500, 8, 50
    async with setup(tmp_path, host_offline_wait=60.0) as s:
        answered: list[list[int]] = [[] for _ in range(controllers)]
        clients = [s.controller() for _ in range(controllers)]
        progress = anyio.Event()
        drops = {"host": 0, "controller": 0}

        async def drive(index: int) -> None:
            c = clients[index]
            await c.connect()
            await c.initialize(f"chaos-{index}")
            first_id = c.ids + 1
            sent = 0
            outstanding = 0
            while len(answered[index]) < per_controller:
                try:
                    while sent < per_controller and outstanding < window:
                        c.ids += 1
                        sent += 1
                        outstanding += 1
                        await c.send({"id": c.ids, "method": "chaos/echo", "params": {"i": c.ids}})
                    message = await c.recv()
                except ConnectionClosed:
                    with anyio.fail_after(WAIT):
                        while True:
                            try:
                                await c.connect()
                                break
                            except (ConnectionClosed, OSError):
                                await anyio.sleep(0.01)
                    continue
                if "id" in message:
                    assert message["result"] == {"echo": {"i": message["id"]}, "method": "chaos/echo"}, message
                    answered[index].append(message["id"])
                    outstanding -= 1
                    nonlocal progress
                    progress.set()
            assert answered[index] == list(range(first_id, first_id + per_controller))

        async def chaos() -> None:
            nonlocal progress
            threshold = every
            turn = 0
            while sum(map(len, answered)) < controllers * per_controller:
                await progress.wait()
                progress = anyio.Event()
                if sum(map(len, answered)) < threshold:
                    continue
                threshold += every
                turn += 1
                if turn % 2:
                    drops["host"] += 1
                    await s.host.drop()
                else:
                    victim = clients[turn // 2 % controllers]
                    if victim.ws is not None:
                        drops["controller"] += 1
                        victim.ws.transport.abort()

        with anyio.fail_after(600):
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(chaos)
                async with anyio.create_task_group() as drivers:
                    for index in range(controllers):
                        drivers.start_soon(drive, index)
                progress.set()
        assert sum(map(len, answered)) == controllers * per_controller
        assert drops["host"] >= 15 and drops["controller"] >= 15
        assert s.host.links >= drops["host"]
        # The host saw every request once (duplicates from redelivery were dropped by seq_id).
        delivered = [(st, m["id"]) for (_, st, m) in s.host.delivered if m.get("method") == "chaos/echo"]
        assert len(delivered) == len(set(delivered)) == controllers * per_controller


async def test_load_200_concurrent_streams(tmp_path: Path) -> None:
    """200 controller streams on one host at once, each initialized and answered without error."""
    streams = 200
    async with setup(tmp_path) as s:
        devices = [s.device] + [await s.new_device() for _ in range(3)]
        clients = [s.controller(devices[i % len(devices)]) for i in range(streams)]
        results: list[dict[str, Any]] = []

        async def one(c: RelayController, index: int) -> None:
            await c.connect()
            await c.initialize(f"load-{index}")
            for n in range(3):
                results.append(await c.request("load/echo", {"stream": index, "n": n}))

        with anyio.fail_after(300):
            async with anyio.create_task_group() as tasks:
                for index, c in enumerate(clients):
                    tasks.start_soon(one, c, index)
        assert len(results) == streams * 3
        assert all("result" in r and r["result"]["method"] == "load/echo" for r in results)
        assert len({c.stream_id for c in clients}) == streams
        assert len(s.r.relay.streams) == streams
        for c in clients:
            await c.close()


async def test_tooling_in_another_process_revokes_live_devices_and_removes_hosts(tmp_path: Path) -> None:
    """`appserver relay device revoke` / `account remove` change the state file; the running
    relay notices and closes the live sockets (4001), tells the host, and drops the link."""
    from appserver.relay import accounts
    from appserver.relay.sqlite_store import SqliteStore

    async with setup(tmp_path) as s:
        c = s.controller()
        await c.connect()
        await c.initialize()
        other = await SqliteStore.open(tmp_path / "s.db")  # what the tooling opens
        try:
            assert await other.remove_device(s.device["client_id"]) is not None
            with pytest.raises(ConnectionClosed) as closed:
                with anyio.fail_after(WAIT):
                    await c.recv()
            assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4001, strings.RELAY_CLOSE_REVOKED)
            await until(lambda: (s.device["client_id"], c.stream_id) in s.host.closed_streams)
            s.host.stop()  # a removed host must not come back
            await accounts.remove_account(other, "alice")
            await until(lambda: s.enrolled["server_id"] not in s.r.relay.links)
        finally:
            await other.close()


async def test_traffic_for_a_stream_the_relay_does_not_know_gets_client_closed(tmp_path: Path) -> None:
    async with setup(tmp_path) as s:
        c = s.controller()
        await c.connect()
        await c.initialize()
        # As after a relay restart: the relay forgets the stream without telling the host.
        s.r.relay.forget_stream(s.r.relay.streams[c.stream_id])
        for n in range(3):
            await s.host.notify(s.device["client_id"], c.stream_id, "orphan", {"n": n})
        await until(lambda: (s.device["client_id"], c.stream_id) in s.host.closed_streams)
        await until(lambda: s.host.replay.unacked == 0)  # still acked
        assert s.host.closed_streams.count((s.device["client_id"], c.stream_id)) == 1
        assert (await s.controller().connect())["hostOnline"] is True  # others carry on


async def test_resume_after_a_clean_non_1000_close_mid_pipeline_answers_each_request_once(tmp_path: Path) -> None:
    """A controller closes its socket cleanly (4000) while requests and answers are in
    flight — waiting for the closing handshake, or like a browser reconnecting at once —
    resumes, and resends what the relay's ``received`` says is missing: every request reaches
    the host once and is answered exactly once, in order."""
    rounds, per_round = 10, 8
    async with setup(tmp_path) as s:
        c = s.controller()
        await c.connect()
        await c.initialize()
        first_id = c.ids + 1
        answered: list[int] = []
        old_sockets: list[Any] = []

        async def take(count: int) -> None:
            with anyio.fail_after(WAIT):
                while count:
                    message = await c.recv()
                    if "id" in message:
                        assert message["result"] == {"echo": {"i": message["id"]}, "method": "pipe/echo"}, message
                        answered.append(message["id"])
                        count -= 1

        for turn in range(rounds):
            for _ in range(per_round):
                c.ids += 1
                await c.send({"id": c.ids, "method": "pipe/echo", "params": {"i": c.ids}})
            # Leave half a round of answers in flight (and the client's queue short).
            await take((turn + 1) * per_round - per_round // 2 - len(answered))
            if turn % 2:
                await c.close(4000)
            else:
                # Send the close frame and reconnect without waiting for the relay's answer.
                c.ws.protocol.send_close(4000, "")
                c.ws.send_data()
                old_sockets.append(c.ws)
            params = await c.connect()
            assert params["resumed"] is True
        await take(rounds * per_round - len(answered))
        assert answered == list(range(first_id, first_id + rounds * per_round))
        seen = [m["id"] for (_, st, m) in s.host.delivered if st == c.stream_id and m.get("method") == "pipe/echo"]
        assert seen == answered
        await c.close()
        for old in old_sockets:
            old.transport.abort()
