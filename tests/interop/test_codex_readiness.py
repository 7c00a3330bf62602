"""The codex backend is ready before the first client message is read (readiness is an
awaited state, not something a background task publishes later)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.support.launcher import APPSERVER, STARTUP_TIMEOUT, appserver_env

pytestmark = pytest.mark.interop

REQUESTS = [
    {"id": 1, "method": "initialize", "params": {"clientInfo": {"name": "t", "version": "1"}}},
    {"method": "initialized"},
    {"id": 2, "method": "thread/list", "params": {}},
]


def test_stdio_from_and_to_files_is_answered(tmp_path: Path, codex_bin: str) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in REQUESTS))
    with open(tmp_path / "in.jsonl", "rb") as stdin, open(tmp_path / "out.jsonl", "wb") as stdout:
        done = subprocess.run(
            [*APPSERVER, "serve", "--backend", "codex", "--codex-bin", codex_bin],
            stdin=stdin,
            stdout=stdout,
            stderr=subprocess.PIPE,
            env=appserver_env(home),
            timeout=STARTUP_TIMEOUT,
            text=True,
        )
    assert done.returncode == 0, done.stderr
    assert "restarting" not in done.stderr
    answers = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    by_id = {a["id"]: a for a in answers if "id" in a}
    assert "result" in by_id[1] and "result" in by_id[2], answers


@pytest.mark.anyio
async def test_ready_as_soon_as_running_yields(tmp_path: Path, codex_bin: str) -> None:
    from appserver.backends.codex import CodexBackend

    backend = CodexBackend(codex_bin, tmp_path, env=appserver_env(tmp_path))
    assert not backend.ready
    async with backend.running():
        # No checkpoint in between: a stdio line read right now must find codex ready.
        assert backend.ready


@pytest.mark.anyio
async def test_stdio_client_sees_eof_when_its_backend_dies_while_listeners_run(
    tmp_path: Path, codex_bin: str
) -> None:
    import signal

    import anyio

    from tests.support.gateway import descendants, native_codex, stdio_gateway
    from tests.support.launcher import short_dir, unix_socket_accepts

    home = tmp_path / "home"
    home.mkdir()
    with short_dir() as sockets:
        args = ["--backend", "codex", "--codex-bin", codex_bin,
                "--listen", "stdio://", "--listen", f"unix://{sockets / 's.sock'}"]
        async with stdio_gateway(args, appserver_env(home), cwd=tmp_path) as gw:
            await gw.client.initialize()
            for pid in native_codex(descendants(gw.process.pid)):
                os.kill(pid, signal.SIGKILL)
            # The stdio client is not left hanging: its stdout ends.
            with anyio.fail_after(STARTUP_TIMEOUT):  # a guard against a hang, not a bound
                with pytest.raises((anyio.EndOfStream, anyio.IncompleteRead)):
                    while True:
                        await gw.channel.recv()
            assert gw.process.returncode is None  # the other listeners go on
            assert unix_socket_accepts(sockets / "s.sock")
            assert "still serving the other listeners" in gw.stderr


@pytest.mark.anyio
async def test_readyz_turns_503_on_the_first_failed_health_probe(tmp_path: Path, codex_bin: str) -> None:
    """A stalled codex (SIGSTOP) makes ``/readyz`` 503 at its first failed probe, long
    before the restart that CODEX_HEALTH_FAILURES failures in a row would trigger; it is
    200 again once codex answers (SIGCONT)."""
    import signal

    import anyio

    from appserver import limits
    from tests.support.gateway import alive, descendants, native_codex, parent_of
    from tests.support.launcher import launch
    from tests.support.rawhttp import WS_ADDR, raw_request

    home = tmp_path / "home"
    home.mkdir()
    argv = [*APPSERVER, "serve", "--backend", "codex", "--codex-bin", codex_bin,
            "--listen", "ws://127.0.0.1:0"]  # fmt: skip
    # One failed probe takes at most an interval plus the probe's timeout; the deadline is
    # generous for a loaded machine (a guard against a hang, not a bound under test).
    deadline = 4 * (limits.CODEX_HEALTH_INTERVAL + limits.CODEX_PROBE_TIMEOUT)

    async def readyz(port: int) -> int:
        request = "GET /readyz HTTP/1.1\r\nHost: localhost\r\n\r\n"
        return (await anyio.to_thread.run_sync(lambda: raw_request(port, request))).status

    async def await_readyz(port: int, status: int) -> None:
        with anyio.fail_after(deadline):
            while await readyz(port) != status:
                await anyio.sleep(0.2)  # polling the endpoint until it changes

    async with launch(argv, env=appserver_env(home), cwd=tmp_path) as gateway:
        port = int((await gateway.line_matching(WS_ADDR)).group(2))
        assert await readyz(port) == 200
        stalled = native_codex(descendants(gateway.pid))
        # The app-server itself (codex may also be running a short-lived helper of its own
        # binary below it, which ends by itself once let go).
        servers = {pid for pid in stalled if parent_of(pid) not in stalled}
        assert servers, "no native codex child found"
        for pid in stalled:
            os.kill(pid, signal.SIGSTOP)
        try:
            await await_readyz(port, 503)
            await gateway.line_matching(r"codex health probe failed \(1/\d+\)")
        finally:
            for pid in stalled:
                os.kill(pid, signal.SIGCONT)
        # The same child answers again: readiness came back without a restart (had /readyz
        # waited for the restart, this child would be gone and never "answer again").
        await gateway.line_matching("codex app-server answers its health probe again", timeout=deadline)
        await await_readyz(port, 200)
        assert all(alive(pid) for pid in servers)
        assert "restarting it" not in gateway.stderr
        assert "Traceback" not in gateway.stderr
