"""The real pinned codex behind the gateway (docs/codex-backend.md).

Every test uses its own CODEX_HOME. Transports (``TRANSPORTS``): a real gateway process
serving stdio, its ``unix://`` listener, or its ``ws://`` listener. Tests that reach into the
backend (killing the child by pid) run the processor in the test's own event loop behind
the shared WebSocket connection loop (tests.support.gateway.inprocess_unix_gateway).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from websockets.exceptions import ConnectionClosed

from appserver.backends.codex import CodexBackend
from tests.support.client import RpcClient
from tests.support.gateway import (
    descendants,
    inprocess_unix_gateway,
    native_codex,
    stdio_gateway,
    wait_gone,
)
from tests.support.launcher import APPSERVER, appserver_env, launch, short_dir, unix_socket_accepts
from tests.support.mock_responses import mock_provider_config, start_mock
from tests.support.rawhttp import WS_ADDR
from tests.support import deadlines


pytestmark = [pytest.mark.anyio, pytest.mark.interop]

TURN_ORDER = [
    "turn/started",
    "item/started:userMessage",
    "item/completed:userMessage",
    "item/started:agentMessage",
    "item/agentMessage/delta",
    "item/completed:agentMessage",
    "turn/completed",
]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "codex-home"
    path.mkdir()
    return path


@pytest.fixture
def env(home: Path) -> dict[str, str]:
    return appserver_env(home, MOCK_API_KEY="mock-key", LOG_LEVEL="INFO")


@pytest.fixture
def mock_model(home: Path) -> AsyncIterator[Any]:
    server, base_url = start_mock(reply="Hello from the mock model.", chunks=3, delay=0.0)
    (home / "config.toml").write_text(mock_provider_config(base_url))
    yield server
    server.shutdown()


def codex_args(codex_bin: str) -> list[str]:
    return ["--backend", "codex", "--codex-bin", codex_bin]


#: Every transport a client can reach the gateway by.
TRANSPORTS = ["stdio", "unix", "ws"]


@asynccontextmanager
async def listening_gateway(args: Sequence[str], env: dict[str, str]) -> AsyncIterator[tuple[Path, int]]:
    """A gateway process on a unix socket and an ephemeral ws port: (socket, port)."""
    with short_dir() as folder:
        socket = folder / "gw.sock"
        listen = ["--listen", f"unix://{socket}", "--listen", "ws://127.0.0.1:0"]
        async with launch([*APPSERVER, "serve", *args, *listen], env=env) as server:
            match = await server.line_matching(WS_ADDR)
            await server.line_matching(f"listening on: unix://{socket}")
            yield socket, int(match.group(2))


@asynccontextmanager
async def gateway_client(
    transport: str, codex_bin: str, env: dict[str, str], tmp_path: Path, overrides: Sequence[str] = ()
) -> AsyncIterator[RpcClient]:
    """A client of a fresh codex-backed gateway, over ``transport``; ``client.ws.recv()``
    returns the raw text of the next message on either transport."""
    if transport == "stdio":
        args = codex_args(codex_bin) + [arg for o in overrides for arg in ("-c", o)]
        async with stdio_gateway(args, env) as gw:
            yield gw.client
            return
    args = codex_args(codex_bin) + [arg for o in overrides for arg in ("-c", o)]
    async with listening_gateway(args, env) as (socket, port):
        connecting = (
            RpcClient.connect_unix(socket)
            if transport == "unix"
            else RpcClient.connect_url(f"ws://127.0.0.1:{port}")
        )
        async with connecting as client:
            yield client


def _step(message: dict[str, Any]) -> str:
    method = message["method"]
    if method in ("item/started", "item/completed"):
        return f"{method}:{message['params']['item']['type']}"
    return method


async def _run_turn(client: RpcClient, thread_id: str, text: str) -> list[dict[str, Any]]:
    """Start a turn; every notification up to ``turn/completed``, in arrival order."""
    answer = await client.call(
        "turn/start", {"threadId": thread_id, "input": [{"type": "text", "text": text}]}
    )
    assert answer["turn"]["status"] == "inProgress"
    seen = []
    while True:
        message = await client.recv(timeout=deadlines.PROCESS)
        if "method" in message and "id" not in message:
            seen.append(message)
            if message["method"] == "turn/completed":
                return seen


def _turn_steps(notifications: list[dict[str, Any]]) -> list[str]:
    steps = [_step(m) for m in notifications]
    wanted = [s for s in steps if s in TURN_ORDER]
    # Collapse the streamed deltas: their number depends on chunking.
    return [s for i, s in enumerate(wanted) if i == 0 or s != wanted[i - 1]]


# --- pass-through -----------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_initialize_and_thread_start_pass_through(
    transport: str, codex_bin: str, env: dict[str, str], home: Path, tmp_path: Path
) -> None:
    async with gateway_client(transport, codex_bin, env, tmp_path) as client:
        await client.send(
            {"id": "init", "method": "initialize",
             "params": {"clientInfo": {"name": "tests", "title": None, "version": "1.0"}}}
        )
        raw = await client.ws.recv()
        # codex's text, unchanged: its field order, no "jsonrpc" added.
        assert raw.startswith('{"id":"init","result":{"userAgent":"tests/0.169.0 ')
        result = json.loads(raw)["result"]
        assert result["codexHome"] == str(home)
        assert result["userAgent"].endswith("(tests; 1.0)")
        started = await client.call("thread/start", {})
        thread_id = started["thread"]["id"]
        note = await client.notification("thread/started")
        assert note["params"]["thread"]["id"] == thread_id
        # codex answers what it does not know: the gateway forwards everything.
        bad = await client.request("no/such/method", {})
        assert bad["error"]["code"] == -32600
        assert bad["error"]["message"].startswith("Invalid request: unknown variant `no/such/method`")


async def test_banner_names_the_codex_backend(codex_bin: str, env: dict[str, str], tmp_path: Path) -> None:
    async with stdio_gateway(codex_args(codex_bin), env) as gw:
        await gw.client.initialize()
    banner = next(line for line in gw.stderr.splitlines() if line.startswith("appserver "))
    assert banner == f"appserver 0.1.0: backend codex (codex app-server child `{codex_bin}`; --backend codex)"


async def test_two_clients_share_a_thread(
    codex_bin: str, env: dict[str, str], home: Path, tmp_path: Path, mock_model: Any
) -> None:
    async with listening_gateway(codex_args(codex_bin), env) as (socket, port):
        async with RpcClient.connect_unix(socket) as a, RpcClient.connect_url(f"ws://127.0.0.1:{port}") as b:
            await a.initialize("client-a")
            await b.initialize("client-b")
            thread_id = (await a.call("thread/start", {}))["thread"]["id"]
            await _run_turn(a, thread_id, "hello")  # a thread can be resumed once it has a turn
            resumed = await b.call("thread/resume", {"threadId": thread_id})
            assert resumed["thread"]["id"] == thread_id
            notifications = await _run_turn(a, thread_id, "MOCK_REPLY:second answer")
            assert _turn_steps(notifications) == TURN_ORDER
            # b subscribed by resuming: it sees the same turn, in the same order.
            seen_by_b = []
            while not seen_by_b or seen_by_b[-1]["method"] != "turn/completed":
                seen_by_b.append(await b.wait_for(lambda m: "method" in m and "id" not in m))
            assert _turn_steps(seen_by_b) == TURN_ORDER
            assert seen_by_b[-1]["params"]["threadId"] == thread_id
            deltas = [m["params"]["delta"] for m in seen_by_b if m["method"] == "item/agentMessage/delta"]
            assert "".join(deltas) == "second answer"


# --- a model turn -----------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_model_turn_streams_in_order(
    transport: str,
    codex_bin: str,
    env: dict[str, str],
    tmp_path: Path,
    home: Path,
    request: pytest.FixtureRequest,
) -> None:
    # The provider comes from `-c key=value` overrides passed through to the child.
    mock, base_url = start_mock(reply="Hello from the mock model.", chunks=3, delay=0.0)
    request.addfinalizer(mock.shutdown)
    overrides = [
        'model="mock-model"',
        'model_provider="mock"',
        'model_providers.mock.name="Mock"',
        f'model_providers.mock.base_url="{base_url}"',
        'model_providers.mock.wire_api="responses"',
        'model_providers.mock.env_key="MOCK_API_KEY"',
        "model_providers.mock.request_max_retries=0",
        "model_providers.mock.stream_max_retries=0",
    ]
    assert not (home / "config.toml").exists()
    async with gateway_client(transport, codex_bin, env, tmp_path, overrides) as client:
        await client.initialize()
        thread_id = (await client.call("thread/start", {}))["thread"]["id"]
        notifications = await _run_turn(client, thread_id, "hello")
    assert _turn_steps(notifications) == TURN_ORDER
    text = "".join(
        m["params"]["delta"] for m in notifications if m["method"] == "item/agentMessage/delta"
    )
    assert text == "Hello from the mock model."
    assert any(r["path"].endswith("/responses") for r in mock.requests)


# --- overload -------------------------------------------------------------------------------------


async def test_pipelined_burst_of_10000_is_answered_without_errors(
    codex_bin: str, env: dict[str, str], tmp_path: Path
) -> None:
    count = 10_000
    async with stdio_gateway(codex_args(codex_bin), env) as gw:
        await gw.client.initialize()
        burst = "".join(
            f'{{"id":{i},"method":"thread/loaded/list","params":{{}}}}\n' for i in range(count)
        )
        started = time.perf_counter()
        await gw.process.stdin.send(burst.encode())  # type: ignore[union-attr]
        answers: dict[int, dict[str, Any]] = {}
        while len(answers) < count:
            message = await gw.client.recv(timeout=deadlines.CODEX)
            if "id" in message:
                answers[message["id"]] = message
        elapsed = time.perf_counter() - started
    errors = [m for m in answers.values() if "error" in m]
    assert sorted(answers) == list(range(count))
    assert errors == []
    print(f"\n10,000 pipelined requests through the gateway: {elapsed:.2f}s")


# --- failure ----------------------------------------------------------------------------------------


async def test_child_killed_clients_told_gateway_restarts_it(
    codex_bin: str, env: dict[str, str], home: Path, tmp_path: Path
) -> None:
    backend = CodexBackend(codex_bin, home, env=env)
    socket = tmp_path / "gw.sock"
    async with inprocess_unix_gateway(backend, socket):
        assert backend.ready and backend.restarts == 0
        async with RpcClient.connect_unix(socket) as client:
            await client.initialize()
            assert backend.child is not None
            victims = native_codex(descendants(backend.child.pid))
            assert victims
            for pid in victims:
                os.kill(pid, signal.SIGKILL)
            with pytest.raises(ConnectionClosed) as closed:
                await client.wait_for(lambda m: False, timeout=deadlines.STEP)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1011
            assert closed.value.rcvd.reason == "backend failed: codex app-server exited (killed by SIGKILL)"
        with anyio.fail_after(deadlines.PROCESS):
            while not (backend.ready and backend.restarts == 1):
                await anyio.sleep(0.05)
        async with RpcClient.connect_unix(socket) as client:
            result = await client.initialize()
            assert result["codexHome"] == str(home)


async def test_stdio_client_of_a_dead_child_gets_error_and_exit_1(
    codex_bin: str, env: dict[str, str], tmp_path: Path
) -> None:
    async with stdio_gateway(codex_args(codex_bin), env) as gw:
        await gw.client.initialize()
        victims = native_codex(descendants(gw.process.pid))
        assert victims
        for pid in victims:
            os.kill(pid, signal.SIGKILL)
        with anyio.fail_after(deadlines.PROCESS):
            status = await gw.server.wait()
    assert status == 1
    last = gw.stderr.strip().splitlines()[-1]
    assert last == "Error: backend failed: codex app-server exited (killed by SIGKILL)"


@pytest.mark.parametrize(
    ("signum", "status"), [(signal.SIGKILL, -signal.SIGKILL), (signal.SIGTERM, 0)], ids=["SIGKILL", "SIGTERM"]
)
async def test_stopping_the_gateway_leaves_no_codex_behind(
    codex_bin: str, env: dict[str, str], tmp_path: Path, signum: int, status: int
) -> None:
    """SIGTERM drains, stops codex last and exits 0; SIGKILL leaves the guard to stop it."""
    async with stdio_gateway(codex_args(codex_bin), env) as gw:
        await gw.client.initialize()
        tree = descendants(gw.process.pid)
        assert native_codex(tree), tree  # the node wrapper *and* the native binary
        gw.server.signal(signum)
        with anyio.fail_after(deadlines.PROCESS):
            assert await gw.server.wait() == status
        assert await wait_gone(tree) == set()
    if signum == signal.SIGTERM:
        assert "SIGTERM: draining" in gw.stderr


# --- --backend unix://PATH ----------------------------------------------------------------------


async def test_attach_to_a_running_app_server_socket(
    codex_bin: str, env: dict[str, str], home: Path, tmp_path: Path
) -> None:
    socket = tmp_path / "daemon.sock"
    async with launch([codex_bin, "app-server", "--listen", f"unix://{socket}"], env=env) as daemon:
        await daemon.until(lambda: unix_socket_accepts(socket), "accepting on its socket")
        async with stdio_gateway(["--backend", f"unix://{socket}"], env) as gw:
            result = await gw.client.initialize("attached")
            assert result["userAgent"].startswith("attached/0.169.0 ")
            assert result["codexHome"] == str(home)
            thread = (await gw.client.call("thread/start", {}))["thread"]
            note = await gw.client.notification("thread/started")
            assert note["params"]["thread"]["id"] == thread["id"]
        assert f"app-server at unix://{socket}" in gw.stderr


async def test_attach_to_a_socket_nobody_serves_exits_1(env: dict[str, str], tmp_path: Path) -> None:
    socket = tmp_path / "none.sock"
    async with stdio_gateway(["--backend", f"unix://{socket}"], env) as gw:
        with anyio.fail_after(deadlines.STEP):
            status = await gw.server.wait()
    assert status == 1
    lines = gw.stderr.strip().splitlines()
    assert lines == [f"Error: cannot reach app-server at {socket}: [Errno 2] No such file or directory"]


# --- the real codex TUI ------------------------------------------------------------------------------


def _tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=False).stdout


async def test_codex_remote_tui_through_the_gateway_shows_the_login_screen(
    codex_bin: str, env: dict[str, str], home: Path, tmp_path: Path
) -> None:
    tui_home = tmp_path / "tui-home"
    tui_home.mkdir()
    name = f"appserver-tui-{os.getpid()}"
    async with listening_gateway(codex_args(codex_bin), env) as (socket, _port):
        command = f"CODEX_HOME={tui_home} TERM=xterm-256color {codex_bin} --remote unix://{socket}"
        _tmux("new-session", "-d", "-s", name, "-x", "120", "-y", "40", "-c", str(tmp_path), command)
        try:
            screen = ""
            with anyio.move_on_after(deadlines.PROCESS):
                while "Sign in with ChatGPT" not in screen:
                    await anyio.sleep(0.2)
                    screen = _tmux("capture-pane", "-p", "-t", name)
            assert "Welcome to Codex" in screen, screen
            assert "Sign in with ChatGPT" in screen, screen
        finally:
            _tmux("kill-session", "-t", name)
