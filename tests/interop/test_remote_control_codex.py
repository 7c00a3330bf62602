"""Our gateway in front of the real codex 0.169.0 as a remote-control host: a controller
through the loopback relay lists threads and runs a full model turn (mock model), and
only the gateway's own remoteControl/status/changed reaches it (codex's stays off)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.mock_responses import mock_provider_config, start_mock
from tests.support.rc_host import host_process
from tests.support.rc_relay import RcTestRelay

pytestmark = [pytest.mark.anyio, pytest.mark.interop]


async def test_thread_list_and_a_model_turn_through_the_relay(tmp_path: Path, codex_bin: str) -> None:
    server, base_url = start_mock(reply="Hello from the mock model.", chunks=3, delay=0.0)
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(mock_provider_config(base_url))
    try:
        async with RcTestRelay() as relay, host_process(
            relay.base_url, tmp_path, "--backend", "codex", "--codex-bin", codex_bin,
            env={"MOCK_API_KEY": "mock-key"},
        ) as host:
            await relay.wait_link(90)
            stream = relay.stream("client-1", "stream-1")
            init = await stream.initialize("phone")
            assert "phone" in init["result"]["userAgent"]
            await stream.send_request(2, "thread/list", {})
            listed = await stream.answer(2)
            assert listed["result"]["data"] == []
            await stream.send_request(3, "thread/start", {"cwd": str(tmp_path)})
            thread = (await stream.answer(3, 90))["result"]["thread"]
            await stream.send_request(4, "turn/start", {"threadId": thread["id"], "input": [{"type": "text", "text": "hi"}]})
            assert "turn" in (await stream.answer(4, 90))["result"]
            completed = await stream.notification("turn/completed", 120)
            assert completed["params"]["turn"]["status"] == "completed"
            deltas = [m["params"]["delta"] for m in stream.inbox if m.get("method") == "item/agentMessage/delta"]
            assert "".join(deltas) == "Hello from the mock model."
            statuses = [m for m in stream.inbox if m.get("method") == "remoteControl/status/changed"]
            assert statuses and all(m["params"]["status"] == "connected" for m in statuses)
            assert all(m["params"]["environmentId"] == "env_stub1" for m in statuses)
            # remoteControl/* is answered by the gateway, never by the codex child.
            await stream.send_request(5, "remoteControl/status/read")
            status = (await stream.answer(5))["result"]
            assert status["status"] == "connected" and status["environmentId"] == "env_stub1"
    finally:
        server.shutdown()
    assert "remote stream opened: client-1/stream-1" in host.stderr
