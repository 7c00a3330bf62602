"""Our gateway as a remote-control host, through the scripted loopback relay, with the
built-in backend: enroll, handshake, controller streams, pings, chunking, client_closed,
replay after a dropped link, the remoteControl/* methods from a local client."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.support.client import RpcClient
from tests.support.rc_host import host_process
from tests.support.rc_relay import RcTestRelay, Reply

pytestmark = pytest.mark.anyio

INIT_PARAMS = {"clientInfo": {"name": "phone", "title": None, "version": "1.0"}, "capabilities": {"experimentalApi": True}}


async def test_enroll_handshake_and_a_streamed_echo_turn(tmp_path: Path) -> None:
    async with RcTestRelay() as relay, host_process(relay.base_url, tmp_path) as host:
        await relay.wait_link()
        enroll = relay.requests("server/enroll")[0]
        assert enroll.header_names[:0] == []
        assert {"originator", "user-agent", "authorization", "chatgpt-account-id",
                "x-codex-installation-id", "content-type"} <= set(enroll.header_names)
        assert enroll.header("chatgpt-account-id") == "acct_test0000000000000000001"
        token = (tmp_path / "account.token").read_text().strip()
        assert enroll.header("authorization") == f"Bearer {token}"
        assert list(enroll.body) == ["name", "os", "arch", "app_server_version", "installation_id"]
        identity = json.loads(((tmp_path / "home") / "appserver/remote-control/identity.json").read_text())
        assert enroll.body["installation_id"] == identity["installation_id"]
        assert enroll.body["name"] == identity["server_name"]

        hs = relay.handshakes[0]
        assert hs.header("authorization") == "Bearer rc-token-2" or hs.header("authorization").startswith("Bearer rc-token-")
        assert hs.header("x-codex-server-id") == "srv_e_stub1"
        assert hs.header("x-codex-protocol-version") == "3"
        assert base64.b64decode(hs.header("x-codex-name")).decode() == identity["server_name"]
        assert hs.header("x-codex-installation-id") == identity["installation_id"]
        assert hs.header("chatgpt-account-id") is None and hs.header("user-agent") is None

        stream = relay.stream("client-1", "stream-1")
        init = await stream.initialize()
        assert "userAgent" in init["result"]
        status = await stream.notification("remoteControl/status/changed")
        assert status["params"]["status"] == "connected"
        assert status["params"]["environmentId"] == "env_stub1"
        assert isinstance(status["emittedAtMs"], int)
        first = [json.loads(t) for t in relay.received if '"client-1"' in t]
        assert [e["seq_id"] for e in first[:2]] == [1, 2]
        assert first[0]["type"] == "server_message" and first[0]["message"]["id"] == 1

        await stream.send_request(2, "thread/start", {"cwd": str(tmp_path)})
        thread = (await stream.answer(2))["result"]["thread"]
        await stream.send_request(3, "turn/start", {"threadId": thread["id"], "input": [{"type": "text", "text": "hello relay"}]})
        assert "turn" in (await stream.answer(3))["result"]
        deltas = []
        while True:
            m = await stream.recv()
            if m.get("method") == "item/agentMessage/delta":
                deltas.append(m["params"]["delta"])
            if m.get("method") == "turn/completed":
                break
        assert "".join(deltas) == "echo: hello relay"
        mode = stat.S_IMODE(os.stat((tmp_path / "home") / "appserver/remote-control/state.sqlite").st_mode)
        assert mode == 0o600
        assert stat.S_IMODE(os.stat((tmp_path / "home") / "appserver/remote-control").st_mode) == 0o700
    assert token not in host.stderr
    assert "remote control connected" in host.stderr
    assert "remote stream opened: client-1/stream-1" in host.stderr
