"""``appserver remote`` against a relay that follows the controller API (tests/support/
contract_relay.py) in front of a real gateway (built-in backend): pairing, the credential
file, bridging local WebSocket and stdio clients, resume after dropped sockets, host
offline, expired streams and revocation.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from tests.support.client import RpcClient
from tests.support.contract_relay import OFFLINE_ERROR, ContractRelay, relay_with_builtin_gateway
from tests.support.launcher import APPSERVER, Launched, appserver_env, launch, run
from tests.support import deadlines

pytestmark = pytest.mark.anyio


LOCAL = r"listening on (ws://127\.0\.0\.1:\d+)"


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[ContractRelay]:
    async with relay_with_builtin_gateway(tmp_path / "gateway-home") as relay:
        yield relay


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "ctl-home"
    home.mkdir()
    return appserver_env(home, APPSERVER_CONFIG_DIR=str(tmp_path / "cfg"))


async def _run(args: list[str], env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return await run([*APPSERVER, *args], input=stdin, env=env)


async def _pair(relay: ContractRelay, env: dict[str, str], name: str = "laptop") -> None:
    code = relay.add_code()
    done = await _run(["remote", "pair", f"{relay.url}#pair={code}", "--name", name], env)
    assert done.returncode == 0, done.stderr


async def _echo_turn(client: RpcClient, text: str) -> str:
    started = await client.call("thread/start", {})
    thread_id = started["thread"]["id"]
    await client.call("turn/start", {"threadId": thread_id, "input": [{"type": "text", "text": text}]})
    done = await client.wait_for(lambda m: m.get("method") == "item/completed" and m["params"]["item"]["type"] == "agentMessage")
    return done["params"]["item"]["text"]


def _connect_proc(env: dict[str, str], name: str = "laptop") -> Any:
    return launch([*APPSERVER, "remote", "connect", name, "--listen", "ws://127.0.0.1:0"], env=env)


async def _local_url(proc: Launched) -> str:
    return (await proc.line_matching(LOCAL)).group(1)


@asynccontextmanager
async def _local_client(proc: Launched) -> AsyncIterator[RpcClient]:
    """A local client of ``appserver remote connect --listen``, initialized."""
    async with RpcClient.connect_url(await _local_url(proc)) as client:
        await client.initialize()
        yield client


async def test_pair_saves_a_private_credential_and_the_device_name(
    relay: ContractRelay, env: dict[str, str], tmp_path: Path
) -> None:
    code = relay.add_code("ABCD-EFGH")
    done = await _run(["remote", "pair", "abcd efgh", "--relay", relay.url, "--name", "laptop"], env)
    assert done.returncode == 0, done.stderr
    assert "paired with home-box as `laptop` (device client-1)" in done.stdout
    path = tmp_path / "cfg" / "remote" / "laptop.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    saved = json.loads(path.read_text())
    assert saved["client_id"] == "client-1" and saved["relay_url"] == relay.url
    (device,) = relay.devices.values()
    assert device["display_name"] == "laptop" and device["device_type"] == "cli"
    assert saved["device_token"] not in done.stdout + done.stderr
    assert code not in relay.codes.values()

    listed = await _run(["remote", "list"], env)
    assert listed.stdout.split("\t")[:3] == ["laptop", "home-box", relay.url]
    again = await _run(["remote", "pair", f"{relay.url}#pair=ABCDEFGH"], env)  # single use
    assert again.returncode == 1
    assert again.stderr == (
        "Error: the relay refused the pairing code: HTTP 404: pairing code not found or expired\n"
    )
    forgot = await _run(["remote", "forget", "laptop"], env)
    assert forgot.returncode == 0 and not path.exists()


async def test_pair_without_name_uses_the_hosts_name(relay: ContractRelay, env: dict[str, str]) -> None:
    for _ in range(2):
        code = relay.add_code()
        assert (await _run(["remote", "pair", f"{relay.url}#pair={code}"], env)).returncode == 0
    listed = (await _run(["remote", "list"], env)).stdout.splitlines()
    assert [line.split("\t")[0] for line in listed] == ["home-box", "home-box-2"]
    refused = await _run(["remote", "connect", "--stdio"], env)
    assert refused.returncode == 2
    assert "several paired hosts (home-box, home-box-2)" in refused.stderr


async def test_listen_bridges_each_local_client_as_its_own_stream(
    relay: ContractRelay, env: dict[str, str]
) -> None:
    await _pair(relay, env)
    async with _connect_proc(env) as proc:
        url = await _local_url(proc)
        async with RpcClient.connect_url(url) as one, RpcClient.connect_url(url) as two:
            await one.initialize("one")
            await two.initialize("two")
            assert await _echo_turn(one, "hello") == "echo: hello"
            assert await _echo_turn(two, "again") == "echo: again"
        assert len(relay.streams) == 2


async def test_dropped_relay_sockets_are_invisible_to_the_local_client(
    relay: ContractRelay, env: dict[str, str]
) -> None:
    await _pair(relay, env)
    async with _connect_proc(env) as proc:
        async with _local_client(proc) as client:
            thread = (await client.call("thread/start", {}))["thread"]["id"]
            for n in range(5):
                await relay.drop_sockets()
                # Sent while the controller reconnects: resent after the resume, answered once.
                turn = await client.call(
                    "turn/start", {"threadId": thread, "input": [{"type": "text", "text": f"m{n}"}]}
                )
                assert turn["turn"]["status"] == "inProgress"
                done = await client.wait_for(lambda m: m.get("method") == "turn/completed")
                assert done["params"]["turn"]["id"] == turn["turn"]["id"]
            ids = [m.get("id") for m in client.inbox if "id" in m and "method" not in m]
            assert ids == []  # no answer arrived twice
            listed = await client.call("thread/turns/list", {"threadId": thread, "itemsView": "full"})
            texts = [t["items"][1]["text"] for t in reversed(listed["data"])]
            assert texts == [f"echo: m{n}" for n in range(5)]
        assert len(relay.streams) == 1
        assert relay.sockets_opened >= 6


async def test_host_offline_answers_with_an_error_and_keeps_the_connection(
    relay: ContractRelay, env: dict[str, str]
) -> None:
    await _pair(relay, env)
    async with _connect_proc(env) as proc:
        async with _local_client(proc) as client:
            await relay.set_host_online(False)
            answer = await client.request("thread/list", {})
            assert answer["error"] == {"code": -32000, "message": OFFLINE_ERROR}
            await relay.set_host_online(True)
            assert "data" in await client.call("thread/list", {})
        await proc.line_matching("the host is offline")


async def test_an_expired_stream_closes_the_local_client_with_the_reason(
    relay: ContractRelay, env: dict[str, str]
) -> None:
    await _pair(relay, env)
    async with _connect_proc(env) as proc:
        async with _local_client(proc) as client:
            await relay.forget_streams()  # like a relay restart: the resume gets 4002
            with pytest.raises(ConnectionClosed) as closed:
                await client.wait_for(lambda m: False, timeout=deadlines.PROCESS)  # until the close
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 4002
            assert closed.value.rcvd.reason == "the relay could not resume the stream: stream expired"
        # The command keeps serving new local clients.
        async with _local_client(proc) as client:
            assert "data" in await client.call("thread/list", {})


async def test_revocation_closes_local_clients_at_once_and_exits_non_zero(
    relay: ContractRelay, env: dict[str, str]
) -> None:
    await _pair(relay, env)
    async with _connect_proc(env) as proc:
        async with _local_client(proc) as client:
            await relay.revoke("client-1")
            with pytest.raises(ConnectionClosed) as closed:
                await client.wait_for(lambda m: False, timeout=deadlines.PROCESS)  # until the close
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4001
            assert closed.value.rcvd.reason.startswith("device revoked")
        assert await proc.wait(deadlines.PROCESS) == 1
        assert "Error: the relay refused this device's credential (revoked or unknown)" in proc.stderr
    # Afterwards the credential is refused before any local client is served.
    done = await _run(["remote", "connect", "--stdio"], env, '{"id":1,"method":"initialize","params":{}}\n')
    assert done.returncode == 1
    assert done.stderr.endswith(
        "Error: the relay refused this device's credential (revoked or unknown); "
        "pair again with `appserver remote pair`\n"
    )


async def test_stdio_bridges_a_jsonl_client(relay: ContractRelay, env: dict[str, str]) -> None:
    await _pair(relay, env)
    lines = [
        {"id": 1, "method": "initialize", "params": {"clientInfo": {"name": "editor", "version": "1"}}},
        {"method": "initialized"},
        {"id": 2, "method": "thread/list", "params": {}},
    ]
    stdin = "".join(json.dumps(line) + "\n" for line in lines)
    done = await _run(["remote", "connect", "laptop", "--stdio"], env, stdin)
    assert done.returncode == 0, done.stderr
    answers: list[dict[str, Any]] = [json.loads(line) for line in done.stdout.splitlines()]
    assert [a.get("id") for a in answers if "id" in a] == [1, 2]
    assert answers[-1]["result"]["data"] == []


def test_bad_flags_are_usage_errors(tmp_path: Path) -> None:
    env = appserver_env(tmp_path, APPSERVER_CONFIG_DIR=str(tmp_path / "cfg"))
    cases = [
        (["remote", "pair", "http://relay.example/#pair=x"], "refusing plain http:// to `relay.example`"),
        (["remote", "pair", "https://r.example/#x=1"], "not a pairing link"),
        (["remote", "connect"], "give exactly one of --listen"),
        (["remote", "forget", "nope"], "no paired host named `nope` (paired: none)"),
    ]
    for args, message in cases:
        done = subprocess.run([*APPSERVER, *args], env=env, capture_output=True, text=True, timeout=deadlines.PROCESS)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stderr.startswith("Error: ") and message in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
    listen = subprocess.run(
        [*APPSERVER, "remote", "connect", "x", "--listen", "ws://0.0.0.0:1"],
        env=env, capture_output=True, text=True, timeout=deadlines.PROCESS,
    )  # fmt: skip
    assert listen.returncode == 2
    assert "--listen must be a loopback address (local clients are not authenticated); got `0.0.0.0`" in listen.stderr
