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
from tests.support.launcher import APPSERVER, appserver_env, run, short_dir, unix_socket_accepts
from tests.support.rc_host import host_process
from tests.support.rc_relay import RcTestRelay, CannedResponse

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


async def test_remote_control_methods_from_a_local_client(tmp_path: Path) -> None:
    with short_dir() as short:
        sock = short / "gw.sock"
        async with RcTestRelay() as relay, host_process(relay.base_url, tmp_path, listen=[f"unix://{sock}"]) as host:
            await host.until(lambda: unix_socket_accepts(sock), "accepting")
            await relay.wait_link()
            relay.replies["server/pair"] = [CannedResponse(200, {
                "pairing_code": "pc-1", "manual_pairing_code": "ABCD-EFGH", "server_id": "srv_e_stub1",
                "environment_id": "env_stub1", "expires_at": "2026-11-30T10:36:12Z",
                "pairing_url": "http://relay.example/#pair=pc-1"})]
            async with RpcClient.connect_unix(sock) as plain:
                await plain.initialize("plain", experimental=False)
                denied = await plain.request("remoteControl/status/read")
                assert denied["error"] == {"code": -32600, "message": "remoteControl/status/read requires experimentalApi capability"}
            async with RpcClient.connect_unix(sock) as local:
                await local.initialize("desk")
                first = await local.notification("remoteControl/status/changed")
                assert first["params"]["status"] == "connected" and isinstance(first["emittedAtMs"], int)
                status = await local.call("remoteControl/status/read")
                assert status["environmentId"] == "env_stub1"
                # Parameters are checked before any I/O, with upstream's words.
                calls = len(relay.http)
                both = await local.request("remoteControl/pairing/status", {"pairingCode": "a", "manualPairingCode": "b"})
                assert both["error"] == {"code": -32600, "message": "remoteControl/pairing/status accepts either pairingCode or manualPairingCode, not both"}
                neither = await local.request("remoteControl/pairing/status", {})
                assert neither["error"]["message"] == "remoteControl/pairing/status requires pairingCode or manualPairingCode"
                no_params = await local.request("remoteControl/pairing/start")
                assert no_params["error"] == {"code": -32600, "message": "Invalid request: missing field `params`"}
                limit = await local.request("remoteControl/client/list", {"environmentId": "e", "limit": 0})
                assert limit["error"]["message"] == "remote control client list limit must be between 1 and 100"
                no_env = await local.request("remoteControl/client/list", {"environmentId": ""})
                assert no_env["error"]["message"] == "remote control client list requires environmentId"
                no_client = await local.request("remoteControl/client/revoke", {"environmentId": "e", "clientId": ""})
                assert no_client["error"]["message"] == "remote control client revoke requires clientId"
                assert len(relay.http) == calls
                # Pairing: the host token, codex's bodies, unix seconds, the relay's link passed through.
                pair = await local.call("remoteControl/pairing/start", {"manualCode": True})
                assert pair == {"pairingCode": "pc-1", "manualPairingCode": "ABCD-EFGH", "environmentId": "env_stub1",
                                "expiresAt": 1796034972, "pairingUrl": "http://relay.example/#pair=pc-1"}
                request = relay.requests("server/pair")[-1]
                assert request.body == {"manual_code": True}
                assert request.header("authorization").startswith("Bearer rc-token-")
                assert request.header("chatgpt-account-id") is None and request.header("x-codex-installation-id") is None
                assert request.header("originator") == "plain"  # the first local client
                relay.pairings["pc-1"] = True
                assert await local.call("remoteControl/pairing/status", {"pairingCode": "pc-1"}) == {"claimed": True}
                gone = await local.request("remoteControl/pairing/status", {"manualPairingCode": "NOPE-0000"})
                assert gone["error"]["code"] == -32600
                assert gone["error"]["message"].startswith("remote control pairing status failed at `")
                assert "HTTP 404 Not Found, request-id: <none>, cf-ray: <none>, body: {\"detail\":\"pairing code not found\"}" in gone["error"]["message"]
                # Client list and revoke: account credential, query string, field mapping.
                relay.clients = [{"client_id": "c1", "display_name": "Phone", "last_seen_at": "2026-11-30T09:00:00Z",
                                  "enrollment_status": "enrolled_device_key"}]
                listed = await local.call("remoteControl/client/list", {"environmentId": "env /?", "cursor": "c 1", "limit": 10, "order": "desc"})
                assert listed == {"data": [{"clientId": "c1", "displayName": "Phone", "deviceType": None, "platform": None,
                                            "osVersion": None, "deviceModel": None, "appVersion": None, "lastSeenAt": 1796029200}],
                                  "nextCursor": None}
                list_request = relay.requests("/clients")[-1]
                assert list_request.path.endswith("/environments/env%20%2F%3F/clients")
                assert list_request.query == "cursor=c+1&limit=10&order=desc"
                assert list_request.header("chatgpt-account-id") == "acct_test0000000000000000001"
                assert await local.call("remoteControl/client/revoke", {"environmentId": "env_stub1", "clientId": "c1"}) == {}
                assert relay.http[-1].method == "DELETE"
                relay.replies["/clients"] = [CannedResponse(403, {"detail": "nope", "remote_control_token": "leak"}, {"x-request-id": "req-9"})]
                refused = await local.request("remoteControl/client/list", {"environmentId": "env_stub1"})
                assert refused["error"]["code"] == -32600
                assert refused["error"]["message"].endswith(
                    "HTTP 403 Forbidden, request-id: req-9, cf-ray: <none>, body: {\"detail\":\"nope\",\"remote_control_token\":\"<redacted>\"}")
                # Disable (ephemeral): the link goes away, status disabled with no environment.
                disabled = await local.call("remoteControl/disable", {"ephemeral": True})
                assert disabled["status"] == "disabled" and disabled["environmentId"] is None
                changed = await local.wait_for(lambda m: m.get("method") == "remoteControl/status/changed"
                                               and m["params"]["status"] == "disabled")
                assert changed["params"]["environmentId"] is None
                not_enabled = await local.request("remoteControl/pairing/start", {})
                assert not_enabled["error"] == {"code": -32600, "message": "remote control pairing requires remote control to be enabled"}
                links = relay.links
                enabled = await local.call("remoteControl/enable", {"ephemeral": True})
                assert enabled["status"] in ("connecting", "connected")
                await local.wait_for(lambda m: m.get("method") == "remoteControl/status/changed"
                                     and m["params"]["status"] == "connected")
                assert relay.links == links + 1
                assert len(relay.requests("server/enroll")) == 1  # the in-memory enrollment is reused
    assert "leak" not in host.stderr and "pc-1" not in host.stderr and "ABCD-EFGH" not in host.stderr


async def test_restart_refreshes_the_persisted_enrollment_and_404_reenrolls(tmp_path: Path) -> None:
    async with RcTestRelay() as relay:
        async with host_process(relay.base_url, tmp_path):
            await relay.wait_link()
        assert len(relay.requests("server/enroll")) == 1
        async with host_process(relay.base_url, tmp_path):
            await relay.wait_link()
            refresh = relay.requests("server/refresh")
            assert len(refresh) == 1 and len(relay.requests("server/enroll")) == 1
            identity = json.loads((tmp_path / "home/appserver/remote-control/identity.json").read_text())
            assert refresh[0].body == {"server_id": "srv_e_stub1", "installation_id": identity["installation_id"]}
            assert relay.handshakes[-1].header("x-codex-server-id") == "srv_e_stub1"
        relay.servers.clear()  # the relay forgot us: refresh 404 -> re-enroll
        async with host_process(relay.base_url, tmp_path) as host:
            await relay.wait_link()
            assert len(relay.requests("server/enroll")) == 2
            assert relay.handshakes[-1].header("x-codex-server-id") != "srv_e_stub1"
        assert "stale" in host.stderr


async def test_handshake_401_refreshes_then_reconnects(tmp_path: Path) -> None:
    async with RcTestRelay() as relay:
        relay.replies["ws"] = [CannedResponse(401, {"detail": "expired"})]
        async with host_process(relay.base_url, tmp_path) as host:
            await relay.wait_link()
            assert len(relay.requests("server/refresh")) == 1
            tokens = [h.header("authorization") for h in relay.handshakes]
            assert len(tokens) == 2 and tokens[0] != tokens[1]
        assert "websocket auth failed with HTTP 401" in host.stderr


async def test_a_corrupt_state_file_is_moved_aside_and_a_fresh_one_used(tmp_path: Path) -> None:
    state = tmp_path / "home/appserver/remote-control"
    state.mkdir(parents=True)
    (state / "state.sqlite").write_bytes(b"this is not a database" * 100)
    async with RcTestRelay() as relay, host_process(relay.base_url, tmp_path) as host:
        await relay.wait_link()
    assert [p.name.startswith("state.sqlite.corrupt-") for p in state.iterdir()].count(True) == 1
    assert "is not a database; moved it to" in host.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--remote-control", "http://relay.example.com/"], "plain http to `relay.example.com`"),
        (["--remote-control", "https://relay.example.com/", "--remote-control-token-file", "/nonexistent/t"],
         "cannot read --remote-control-token-file /nonexistent/t: No such file or directory"),
        (["--remote-control-token-file", "/x"], "`--remote-control-token-file` requires `--remote-control URL`"),
    ],
)
async def test_bad_remote_control_flags_are_one_line_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    result = await run([*APPSERVER, "serve", "--backend", "builtin", *args], env=appserver_env(tmp_path))
    assert result.returncode == 2
    assert result.stderr.startswith("Error: ") and message in result.stderr and result.stderr.count("\n") == 1


async def test_metrics_and_banner(tmp_path: Path) -> None:
    import httpx

    async with RcTestRelay() as relay, host_process(relay.base_url, tmp_path, listen=["ws://127.0.0.1:0"]) as host:
        url = (await host.line_matching(r"listening on: (ws://\S+)")).group(1)
        await relay.wait_link()
        stream = relay.stream("client-1", "stream-1")
        await stream.initialize()
        await stream.ping()
        async with httpx.AsyncClient() as http:
            text = (await http.get(url.replace("ws://", "http://") + "/metrics")).text
    assert 'appserver_remote_control_status{status="connected"} 1' in text
    assert 'appserver_remote_control_status{status="errored"} 0' in text
    assert "appserver_remote_control_streams 1" in text
    assert "appserver_remote_control_enrolls_total 1" in text
    assert 'appserver_open_connections{transport="remote"} 1' in text
    envelopes_in = int(float(text.split('appserver_remote_control_envelopes_total{direction="in"} ')[1].split()[0]))
    assert envelopes_in >= 3  # initialize, initialized, ping (and acks)
    banner = host.stderr
    assert "appserver (remote control)" in banner and f"  relay: {relay.base_url}" in banner
    assert "  status: connecting (server name " in banner


async def test_durable_enable_with_auth_json_is_honoured_at_the_next_start(tmp_path: Path) -> None:
    from tests.support.launcher import launch
    from tests.support.rc_codex import write_chatgpt_home

    home = tmp_path / "home"
    home.mkdir()
    with short_dir() as short:
        sock = short / "gw.sock"
        async with RcTestRelay() as relay:
            access = write_chatgpt_home(home, relay.base_url, None)
            argv = [*APPSERVER, "serve", "--backend", "builtin", "--listen", f"unix://{sock}"]
            async with launch(argv, env=appserver_env(home)) as gateway:
                await gateway.until(lambda: unix_socket_accepts(sock), "accepting")
                async with RpcClient.connect_unix(sock) as local:
                    await local.initialize("desk")
                    assert (await local.call("remoteControl/status/read"))["status"] == "disabled"
                    enabled = await local.call("remoteControl/enable")
                    assert (enabled["status"], enabled["environmentId"]) == ("connecting", "env_stub1")
                    await relay.wait_link()
            enroll = relay.requests("server/enroll")[0]
            assert enroll.header("authorization") == f"Bearer {access}"
            assert enroll.header("chatgpt-account-id") == "acc-rc-stub"
            # No flag, no local client: the stored durable enable brings the link up, even
            # with `--listen off`.
            argv = [*APPSERVER, "serve", "--backend", "builtin", "--listen", "off"]
            async with launch(argv, env=appserver_env(home)):
                await relay.wait_link()
                assert relay.links == 2 and len(relay.requests("server/refresh")) == 1
            # A durable disable is remembered too: `--listen off` then has nothing to serve.
            argv = [*APPSERVER, "serve", "--backend", "builtin", "--listen", f"unix://{sock}"]
            async with launch(argv, env=appserver_env(home)) as gateway:
                await gateway.until(lambda: unix_socket_accepts(sock), "accepting")
                async with RpcClient.connect_unix(sock) as local:
                    await local.initialize("desk")
                    assert (await local.call("remoteControl/disable"))["status"] == "disabled"
            result = await run([*APPSERVER, "serve", "--backend", "builtin", "--listen", "off"], env=appserver_env(home))
            assert (result.returncode, result.stderr) == (1, "Error: no transport configured; use --listen or enable remote control\n")


async def test_an_account_change_while_connected_enrolls_for_the_new_account(tmp_path: Path) -> None:
    """spec/remote-control.md §4: the old account's enrollment is dropped, the link closed,
    and the host reconnects with an enrollment for the new account."""
    from tests.support.launcher import launch
    from tests.support.rc_codex import ACCOUNT, write_chatgpt_home

    home = tmp_path / "home"
    home.mkdir()
    async with RcTestRelay() as relay:
        write_chatgpt_home(home, relay.base_url, None)
        argv = [*APPSERVER, "serve", "--backend", "builtin", "--listen", "off", "--remote-control", relay.base_url]
        async with launch(argv, env=appserver_env(home)) as gateway:
            await relay.wait_link()
            auth = json.loads((home / "auth.json").read_text())
            auth["tokens"]["account_id"] = "acc-rc-other"
            (home / "auth.json").write_text(json.dumps(auth))
            await gateway.until(lambda: len(relay.handshakes) >= 2, "reconnected for the new account")
            enrolls = relay.requests("server/enroll")
            assert [e.header("chatgpt-account-id") for e in enrolls] == [ACCOUNT, "acc-rc-other"]
            first, second = (h.header("x-codex-server-id") for h in relay.handshakes[:2])
            assert second in relay.servers and second != first
        assert "remote control account changed" in gateway.stderr


async def test_messages_over_150_kib_travel_as_chunks_both_ways(tmp_path: Path) -> None:
    text = "x" * (200 * 1024)
    async with RcTestRelay() as relay, host_process(relay.base_url, tmp_path):
        await relay.wait_link()
        stream = relay.stream("client-1", "stream-1")
        await stream.initialize()
        await stream.send_request(2, "thread/start", {})
        thread = (await stream.answer(2))["result"]["thread"]["id"]
        sent_before = len(relay.sent)
        await stream.send_chunked({"id": 3, "method": "turn/start",
                                   "params": {"threadId": thread, "input": [{"type": "text", "text": text}]}})
        kinds = [json.loads(t)["type"] for t in relay.sent[sent_before:]]
        assert len(kinds) >= 2 and set(kinds) == {"client_message_chunk"}
        assert "turn" in (await stream.answer(3))["result"]
        done = await stream.wait_for(lambda m: m.get("method") == "item/completed"
                                     and m["params"]["item"]["type"] == "agentMessage")
        assert done["params"]["item"]["text"] == f"echo: {text}"
    chunks = [json.loads(t) for t in relay.received if '"server_message_chunk"' in t[:40]]
    assert chunks and len({c["seq_id"] for c in chunks}) == len({(c["seq_id"], c["segment_count"]) for c in chunks})
    assert all(len(t.encode()) <= 150 * 1024 for t in relay.received)
    assert all(list(c)[:5] == ["type", "segment_id", "segment_count", "message_size_bytes", "message_chunk_base64"] for c in chunks)


async def test_enable_without_a_chatgpt_login_is_32603_like_codex(tmp_path: Path) -> None:
    from tests.support.launcher import run_stdio

    lines = [json.dumps({"id": 1, "method": "initialize", "params": {"clientInfo": {"name": "t", "version": "1"},
                                                                     "capabilities": {"experimentalApi": True}}}),
             json.dumps({"id": 2, "method": "remoteControl/enable"}),
             json.dumps({"id": 3, "method": "remoteControl/status/read"})]
    (tmp_path / "auth.json").write_text(json.dumps({"tokens": {"id_token": "not-a-jwt", "access_token": "a", "account_id": "x"}}))
    out, err, status = await anyio.to_thread.run_sync(
        lambda: run_stdio(["serve", "--backend", "builtin"], lines, appserver_env(tmp_path)))
    assert status == 0, err
    by_id = {m.get("id"): m for m in out}
    assert by_id[2]["error"] == {"code": -32603, "message": "remote control requires ChatGPT authentication"}
    assert by_id[3]["result"]["status"] == "disabled" and by_id[3]["result"]["environmentId"] is None
