"""``appserver relay`` with real hosts: the stock codex 0.169.0 (CODEX_HOME from
``appserver relay codex-home``) and our gateway (``--remote-control-token-file`` with a credential
from ``appserver relay account add``). A local client enables remote control and starts pairing;
a controller claims the code through the controller API, then runs ``thread/list`` and a full
model turn (mock Responses model) through the relay; client list and revoke go through codex.

Everything runs as real processes on loopback: the relay, the host, the mock model.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from tests.support.client import RpcClient
from tests.support.launcher import APPSERVER, Launched, launch, unix_socket_accepts
from tests.support.mock_responses import mock_provider_config, start_mock
from tests.support.relay import BANNER, RelayController
from tests.support import deadlines

pytestmark = [pytest.mark.anyio, pytest.mark.interop]

#: codex dials, enrolls and reconnects slowly (spec/remote-control-observed.md §3 item 4).
SLOW = 120.0
REPLY = "Hello through the relay."


def relay_cli(state: Path, *args: str) -> str:
    done = subprocess.run(
        [*APPSERVER, "relay", *args, "--state", str(state)], capture_output=True, text=True, timeout=deadlines.PROCESS
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@asynccontextmanager
async def relay_process(tmp_path: Path) -> AsyncIterator[tuple[str, Path, Launched]]:
    state = tmp_path / "relay.sqlite3"
    argv = [*APPSERVER, "relay", "serve", "--listen", "http://127.0.0.1:0", "--state", str(state)]
    async with launch(argv, env={**os.environ, "LOG_LEVEL": "INFO"}, name="relay") as relay:
        match = await relay.line_matching(BANNER, timeout=deadlines.PROCESS)
        yield match.group(1), state, relay


async def pair_and_drive(local: RpcClient, relay_url: str, tmp_path: Path) -> dict[str, Any]:
    """Pairing from the local client, the claim, and a controller's thread/list + model turn."""
    codes = await local.call("remoteControl/pairing/start", {"manualCode": True})
    assert set(codes) >= {"pairingCode", "manualPairingCode", "environmentId", "expiresAt"}
    assert re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{4}", codes["manualPairingCode"])
    assert await local.call("remoteControl/pairing/status", {"pairingCode": codes["pairingCode"]}) == {"claimed": False}
    async with httpx.AsyncClient(base_url=relay_url, timeout=deadlines.STEP) as http:
        claim = await http.post("api/v1/pair/claim", json={
            "code": codes["manualPairingCode"].lower(), "display_name": "Phone", "device_type": "phone",
            "platform": "ios", "os_version": "18.1", "device_model": "iPhone16,1", "app_version": "1.0",
        })
    assert claim.status_code == 200, claim.text
    device = claim.json()
    assert device["environment_id"] == codes["environmentId"]
    status = await local.call("remoteControl/pairing/status", {"manualPairingCode": codes["manualPairingCode"]})
    assert status == {"claimed": True}

    controller = RelayController(relay_url, device["device_token"])
    first = await controller.connect()
    assert first["hostOnline"] is True and first["resumed"] is False
    init = await controller.initialize("phone")
    assert "phone" in init["result"]["userAgent"]
    listed = await controller.request("thread/list", {})
    assert listed["result"]["data"] == []
    thread = (await controller.request("thread/start", {"cwd": str(tmp_path)}))["result"]["thread"]
    turn = await controller.request(
        "turn/start", {"threadId": thread["id"], "input": [{"type": "text", "text": "hi"}]}
    )
    assert "turn" in turn["result"]
    deltas: list[str] = []
    with anyio.fail_after(SLOW):
        while True:
            message = await controller.recv()
            if message.get("method") == "item/agentMessage/delta":
                deltas.append(message["params"]["delta"])
            if message.get("method") == "turn/completed":
                assert message["params"]["turn"]["status"] == "completed"
                break
    assert "".join(deltas) == REPLY
    return {"device": device, "controller": controller, "environment_id": codes["environmentId"]}


async def list_and_revoke(local: RpcClient, paired: dict[str, Any]) -> None:
    device, controller = paired["device"], paired["controller"]
    listed = await local.call("remoteControl/client/list", {"environmentId": paired["environment_id"], "limit": 10})
    (client,) = listed["data"]
    assert client["clientId"] == device["client_id"]
    assert (client["displayName"], client["deviceType"], client["platform"]) == ("Phone", "phone", "ios")
    assert isinstance(client["lastSeenAt"], int)
    assert listed["nextCursor"] is None
    assert await local.call(
        "remoteControl/client/revoke", {"environmentId": paired["environment_id"], "clientId": device["client_id"]}
    ) == {}
    with pytest.raises(ConnectionClosed) as closed:
        with anyio.fail_after(SLOW):
            while True:
                await controller.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4001


async def test_the_stock_codex_host_through_appserver_relay(tmp_path: Path, codex_bin: str) -> None:
    mock, mock_url = start_mock(reply=REPLY, chunks=3, delay=0.0)
    home = tmp_path / "codex-home"
    try:
        async with relay_process(tmp_path) as (relay_url, state, relay):
            relay_cli(state, "account", "add", "alice", "--out", str(tmp_path / "alice.token"))
            relay_cli(state, "codex-home", "--account", "alice", "--relay", relay_url, "--out", str(home))
            with open(home / "config.toml", "a") as config:
                config.write(mock_provider_config(mock_url))
            sock = home / "cs.sock"
            port = relay_url.rsplit(":", 1)[1].strip("/")
            env = {
                **os.environ, "CODEX_HOME": str(home), "MOCK_API_KEY": "mock-key", "RUST_LOG": "info",
                "CODEX_REFRESH_TOKEN_URL_OVERRIDE": f"http://127.0.0.1:{port}/oauth/token",
                "CODEX_REVOKE_TOKEN_URL_OVERRIDE": "http://127.0.0.1:1/oauth/revoke",
            }
            async with launch([codex_bin, "app-server", "--listen", f"unix://{sock}"], env=env, name="codex") as codex:
                await codex.until(lambda: unix_socket_accepts(sock), f"accepting on {sock}", timeout=SLOW)
                async with RpcClient.connect_unix(sock) as local:
                    await local.initialize("rc-local")
                    enabled = await local.call("remoteControl/enable")
                    assert enabled["status"] in ("connecting", "connected")
                    assert enabled["environmentId"].startswith("env_")
                    await local.wait_for(
                        lambda m: m.get("method") == "remoteControl/status/changed"
                        and m["params"]["status"] == "connected", SLOW,
                    )
                    paired = await pair_and_drive(local, relay_url, tmp_path)
                    await list_and_revoke(local, paired)
            await relay.line_matching(r"host srv_e_\S+ \(\S+\) connected from 127\.0\.0\.1")
        audit = relay_cli(state, "audit")
        for event in ("enroll", "pair", "claim", "revoke"):
            assert f" {event} " in audit
        assert (tmp_path / "alice.token").read_text().strip() not in relay.stderr
    finally:
        mock.shutdown()


async def test_our_gateway_host_through_appserver_relay(tmp_path: Path, codex_bin: str) -> None:
    mock, mock_url = start_mock(reply=REPLY, chunks=3, delay=0.0)
    home = tmp_path / "gw-home"
    home.mkdir()
    (home / "config.toml").write_text(mock_provider_config(mock_url))
    try:
        async with relay_process(tmp_path) as (relay_url, state, relay):
            token = tmp_path / "alice.token"
            relay_cli(state, "account", "add", "alice", "--out", str(token))
            sock = home / "gw.sock"
            argv = [
                *APPSERVER, "serve", "--backend", "codex", "--codex-bin", codex_bin,
                "--remote-control", relay_url, "--remote-control-token-file", str(token),
                "--listen", f"unix://{sock}",
            ]
            env = {**os.environ, "CODEX_HOME": str(home), "MOCK_API_KEY": "mock-key", "LOG_LEVEL": "INFO"}
            async with launch(argv, env=env, name="gateway"):
                await relay.line_matching(r"host srv_e_\S+ \(\S+\) connected from 127\.0\.0\.1", timeout=SLOW)
                async with RpcClient.connect_unix(sock) as local:
                    await local.initialize("rc-local")
                    paired = await pair_and_drive(local, relay_url, tmp_path)
                    await list_and_revoke(local, paired)
    finally:
        mock.shutdown()
