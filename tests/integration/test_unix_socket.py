"""The Unix control socket listener over real processes (spec/transport.md §3)."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

import anyio.to_thread
import pytest
from websockets.frames import Opcode

from appserver.transports.unix_path import physical_path
from tests.support import launcher
from tests.support.client import RpcClient
from tests.support.launcher import APPSERVER, Launched, appserver_env, launch
from tests.support.rawws import RawWs
from tests.support import deadlines

pytestmark = pytest.mark.anyio
T = TypeVar("T")

BUILTIN = ["--backend", "builtin"]
UPGRADE = (
    "GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
)
INIT_PARAMS = {"clientInfo": {"name": "t", "title": None, "version": "1"}}


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


async def serve_once(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``appserver serve`` expected to fail at startup."""
    return await launcher.run([*APPSERVER, "serve", *BUILTIN, *args], env=env)


@asynccontextmanager
async def serving(args: list[str], env: dict[str, str]) -> AsyncIterator[Launched]:
    """``appserver serve ARGS``, once its banner says it listens."""
    async with launch([*APPSERVER, "serve", *args], env=env) as server:
        await server.line_matching("listening on:")
        yield server


async def blocking(fn: Callable[[], T]) -> T:
    """Run a blocking raw-socket exchange off the event loop (the server's stderr is read
    meanwhile)."""
    return await anyio.to_thread.run_sync(fn)


def raw_exchange(path: Path, request: bytes) -> bytes:
    """Send ``request`` and read until the server closes the stream."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(os.path.realpath(path))
        sock.settimeout(deadlines.STEP)
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


async def test_folders_modes_lock_and_cleanup(short_tmp: Path) -> None:
    home = short_tmp / "home"
    (home / "app-server-control").mkdir(parents=True, mode=0o755)
    os.chmod(home / "app-server-control", 0o755)
    mine = short_tmp / "mine"
    mine.mkdir(mode=0o755)
    os.chmod(mine, 0o755)
    default = home / "app-server-control" / "app-server-control.sock"
    created = short_tmp / "new" / "s.sock"
    in_mine = mine / "s.sock"
    env = appserver_env(home)
    args = [*BUILTIN, "--listen", "unix://", "--listen", f"unix://{created}", "--listen", f"unix://{in_mine}"]
    async with serving(args, env) as server:
        for sock in (default, created, in_mine):
            assert stat.S_ISSOCK(os.lstat(sock).st_mode), sock  # a real socket, no link
            assert mode(sock) == 0o600
            await server.line_matching(f"listening on: unix://{sock}$")
        assert mode(default.parent) == 0o700  # the default folder is tightened, like upstream
        assert mode(created.parent) == 0o700  # a folder we create is 0700
        assert mode(mine) == 0o755  # a folder the user named is left alone, like upstream
        lock = default.parent / "app-server-startup.lock"
        assert lock.is_file() and mode(lock) == 0o600
        server.signal(signal.SIGTERM)
        assert await server.wait() == 0
    for sock in (default, created, in_mine):
        assert not os.path.lexists(sock)
    assert lock.exists()  # like upstream, the startup lock stays


async def test_parent_writable_by_others_is_refused(short_tmp: Path) -> None:
    shared = short_tmp / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    result = await serve_once(["--listen", f"unix://{shared}/s.sock"], appserver_env(short_tmp))
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        "Error: socket parent must be owned by the user or root and prevent other users "
        "from replacing socket entries"
    )
    assert "Traceback" not in result.stderr
    assert list(shared.iterdir()) == []


async def test_clients_are_isolated_sessions(short_tmp: Path) -> None:
    path = short_tmp / "s.sock"
    async with serving([*BUILTIN, "--listen", f"unix://{path}"], appserver_env(short_tmp)):
        async with RpcClient.connect_unix(path) as a, RpcClient.connect_unix(path) as b:
            # The same request id on both connections: each gets its own answer.
            await a.send({"id": 1, "method": "initialize", "params": INIT_PARAMS})
            await b.send({"id": 1, "method": "foo/bar", "params": {}})
            answer_a = await a.wait_for(lambda m: m.get("id") == 1)
            answer_b = await b.wait_for(lambda m: m.get("id") == 1)
            assert "result" in answer_a and answer_a["result"]["codexHome"] == str(short_tmp)
            assert answer_b["error"]["code"] == -32600
            assert answer_b["error"]["message"].startswith("Invalid request: unknown variant `foo/bar`")
            # b initializes on its own; a second initialize on a is refused only for a.
            assert "userAgent" in await b.call("initialize", INIT_PARAMS)
            again = await a.request("initialize", INIT_PARAMS, id=2)
            assert again == {"id": 2, "error": {"code": -32600, "message": "Already initialized"}}
            assert a.inbox == [] or all("id" not in m for m in a.inbox)
            assert all(m.get("id") != 2 for m in b.inbox)


async def test_socket_in_use_is_refused(short_tmp: Path) -> None:
    path = short_tmp / "s.sock"
    env = appserver_env(short_tmp)
    async with serving([*BUILTIN, "--listen", f"unix://{path}"], env):
        result = await serve_once(["--listen", f"unix://{path}"], env)
        assert result.returncode == 1
        assert result.stderr.splitlines()[-1] == f"Error: app-server control socket is already in use at {path}"
        assert "Traceback" not in result.stderr
        assert stat.S_ISSOCK(os.lstat(path).st_mode)  # the live server's socket is untouched


async def test_stale_socket_is_replaced(short_tmp: Path) -> None:
    path = short_tmp / "s.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))
    stale.close()  # the file stays, nobody listens: connect is refused
    os.chmod(path, 0o644)
    async with serving([*BUILTIN, "--listen", f"unix://{path}"], appserver_env(short_tmp)) as server:
        assert "removing stale control socket" in server.stderr
        assert mode(path) == 0o600
        async with RpcClient.connect_unix(path) as client:
            assert "userAgent" in await client.call("initialize", INIT_PARAMS)


async def test_non_socket_file_is_refused(short_tmp: Path) -> None:
    path = short_tmp / "s.sock"
    path.write_text("precious")
    result = await serve_once(["--listen", f"unix://{path}"], appserver_env(short_tmp))
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        f"Error: app-server control socket path exists and is not a socket: {path}"
    )
    assert "Traceback" not in result.stderr
    assert path.read_text() == "precious"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_signal_removes_the_socket(short_tmp: Path, signum: int) -> None:
    path = short_tmp / "s.sock"
    async with serving([*BUILTIN, "--listen", f"unix://{path}"], appserver_env(short_tmp)) as server:
        def client() -> None:
            with socket.socket(socket.AF_UNIX) as sock:
                sock.connect(str(path))
                ws = RawWs.over_socket(sock)
                ws.handshake()
                server.signal(signum)
                close = ws.next_frame()  # connected clients are told the server is going away
                assert close.opcode is Opcode.CLOSE and close.data[:2] == (1001).to_bytes(2, "big")

        await blocking(client)
        assert await server.wait() == 0
    assert not os.path.lexists(path)


async def test_a_replaced_socket_is_not_removed(short_tmp: Path) -> None:
    path = short_tmp / "s.sock"
    async with serving([*BUILTIN, "--listen", f"unix://{path}"], appserver_env(short_tmp)) as server:
        os.unlink(path)
        other = socket.socket(socket.AF_UNIX)
        other.bind(str(path))  # someone else's socket now lives at the path
        theirs = os.lstat(path)
        try:
            server.signal(signal.SIGTERM)
            assert await server.wait() == 0
            assert os.lstat(path) == theirs
        finally:
            other.close()


async def test_long_path_binds_through_a_short_physical_socket(short_tmp: Path) -> None:
    folder = short_tmp / ("d" * 60) / ("e" * 60)
    folder.mkdir(parents=True)
    path = folder / "control.sock"
    assert len(str(path)) > 108
    physical = physical_path(path)
    env = appserver_env(short_tmp)
    args = [*BUILTIN, "--listen", f"unix://{path}"]
    async with serving(args, env) as server:
        assert os.readlink(path) == str(physical)
        assert stat.S_ISSOCK(os.lstat(physical).st_mode) and mode(physical) == 0o600
        assert mode(physical.parent) == 0o700
        async with RpcClient.connect_unix(os.path.realpath(path)) as client:
            assert "userAgent" in await client.call("initialize", INIT_PARAMS)
        server.kill()  # no cleanup: the link and the physical socket are left stale
    assert os.path.islink(path) and os.path.exists(physical)
    async with serving(args, env) as server:  # the stale link is recognised and replaced
        proxy = await launcher.run(
            [*APPSERVER, "proxy", "--sock", str(path)],
            input=json.dumps({"id": 7, "method": "initialize", "params": INIT_PARAMS}) + "\n",
            env=env,
        )
        assert proxy.returncode == 0, proxy.stderr
        assert json.loads(proxy.stdout.splitlines()[0])["id"] == 7
        server.signal(signal.SIGTERM)
        assert await server.wait() == 0
    assert not os.path.lexists(path) and not os.path.lexists(physical)


@pytest.fixture
async def upgraded_server(short_tmp: Path) -> AsyncIterator[tuple[Path, Launched]]:
    path = short_tmp / "s.sock"
    async with serving([*BUILTIN, "--listen", f"unix://{path}"], appserver_env(short_tmp)) as server:
        yield path, server


async def test_http_details_of_the_upgrade(upgraded_server: tuple[Path, Launched]) -> None:
    path, _ = upgraded_server

    def client() -> None:
        forbidden = raw_exchange(path, UPGRADE.format(path="/daemon/shutdown").encode())
        assert forbidden.startswith(b"HTTP/1.1 403 Forbidden\r\n")
        assert forbidden.endswith(b"\r\n\r\nunmanaged server")
        # A plain HTTP request (no Upgrade) gets no response at all, like upstream.
        assert raw_exchange(path, b"GET /readyz HTTP/1.1\r\nHost: localhost\r\n\r\n") == b""
        # Any path upgrades, with upstream's size header on the 101.
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(str(path))
            ws = RawWs.over_socket(sock, uri="ws://localhost/any/path?x=1")
            response = ws.handshake()
            assert response.status_code == 101
            assert response.headers["x-codex-websocket-max-unfragmented-message-bytes"] == "16777216"

    await blocking(client)


async def test_one_pong_per_ping_and_binary_frames_dropped(upgraded_server: tuple[Path, Launched]) -> None:
    path, server = upgraded_server

    def client() -> None:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(str(path))
            ws = RawWs.over_socket(sock)
            ws.handshake()
            ws.send_ping(b"p1")
            ws.send_binary(b"\x00\x01")
            ws.send_json({"id": 1, "method": "initialize", "params": INIT_PARAMS})
            answer, before = ws.wait_answer(1)
            assert "userAgent" in answer["result"]
            # The server handles frames in order: the pong for p1 precedes the answer.
            assert [(f.opcode, f.data) for f in before if f.opcode is Opcode.PONG] == [(Opcode.PONG, b"p1")]
            assert all(f.opcode is not Opcode.BINARY for f in before)
            ws.send_ping(b"p2")
            ws.send_json({"id": 2, "method": "initialize", "params": INIT_PARAMS})
            answer, before = ws.wait_answer(2)
            assert answer["error"]["message"] == "Already initialized"
            assert [f.data for f in before if f.opcode is Opcode.PONG] == [b"p2"]

    await blocking(client)
    await server.line_matching("dropping unsupported binary")


async def test_deflate_and_messages_larger_than_16_mib(upgraded_server: tuple[Path, Launched]) -> None:
    path, _ = upgraded_server

    def client() -> None:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(str(path))
            ws = RawWs.over_socket(sock, deflate=True)
            response = ws.handshake()
            assert "permessage-deflate" in response.headers.get("Sec-WebSocket-Extensions", "")
            big = {"clientInfo": {"name": "t", "title": "x" * (17 * 1024 * 1024), "version": "1"}}
            ws.send_json({"id": "big", "method": "initialize", "params": big})
            answer, _ = ws.wait_answer("big")
            assert "userAgent" in answer["result"]

    await blocking(client)
