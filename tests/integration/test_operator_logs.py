"""What an operator sees on stderr: a line per connection (peer, transport, close reason),
auth refusals with the peer and never the credential, the banner's auth mode, JSON lines
with LOG_FORMAT=json (banner and ``Error:`` included), and a checked log level."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from tests.support.launcher import APPSERVER, appserver_env, launch, run
from tests.support.rawhttp import raw_request, upgrade_request

pytestmark = pytest.mark.anyio

INITIALIZE = '{"id":1,"method":"initialize","params":{"clientInfo":{"name":"t","version":"1"}}}'


async def test_json_logs_connections_and_auth_refusals(tmp_path: Path) -> None:
    import anyio

    token = tmp_path / "token"
    token.write_text("a-capability-token-that-must-not-be-logged\n")
    argv = [
        *APPSERVER, "serve", "--backend", "builtin", "--listen", "ws://127.0.0.1:0",
        "--ws-auth", "capability-token", "--ws-token-file", str(token),
    ]
    async with launch(argv, env=appserver_env(tmp_path, LOG_FORMAT="json")) as server:
        match = await server.line_matching(r'"message": "  listening on: (ws://127\.0\.0\.1:(\d+))"')
        url, port = match.group(1), int(match.group(2))
        await server.line_matching(r'"message": "  auth: capability-token"')
        refused = await anyio.to_thread.run_sync(
            lambda: raw_request(port, upgrade_request(extra="Authorization: Bearer wrong-secret\r\n"))
        )
        assert refused.status == 401
        await server.line_matching(r"rejecting websocket client 127\.0\.0\.1:\d+ during upgrade")
        headers = {"Authorization": "Bearer a-capability-token-that-must-not-be-logged"}
        async with connect(url, additional_headers=headers) as ws:
            await ws.send(INITIALIZE)
            await ws.recv()
        await server.line_matching(r"connection \d+ opened: ws 127\.0\.0\.1:\d+")
        await server.line_matching(r"connection \d+ closed: ws 127\.0\.0\.1:\d+, by the client")
    for line in server.lines:
        if line.strip():
            json.loads(line)  # every line, the banner included, is one JSON object
    assert "must-not-be-logged" not in server.stderr and "wrong-secret" not in server.stderr


async def test_log_level_is_checked_and_errors_are_json_too(tmp_path: Path) -> None:
    bad = await run([*APPSERVER, "--log-level", "chatty", "serve"], env=appserver_env(tmp_path))
    assert bad.returncode == 2
    assert bad.stderr == (
        "Error: invalid log level `chatty`; expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL\n"
    )
    env = appserver_env(tmp_path, LOG_LEVEL="loud", LOG_FORMAT="json")
    bad_env = await run([*APPSERVER, "serve"], env=env)
    assert bad_env.returncode == 2
    (line,) = bad_env.stderr.splitlines()
    assert json.loads(line)["message"].startswith("Error: invalid log level `loud`")
    quiet = await run(
        [*APPSERVER, "--log-level", "error", "serve", "--backend", "builtin", "-c", "x=1"],
        env=appserver_env(tmp_path),
        input="",
    )
    assert quiet.returncode == 0
    assert "WARNING" not in quiet.stderr  # the -c warning is below the chosen level
