"""The control socket and proxy against the real pinned codex, in both directions."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.launcher import (
    APPSERVER,
    BlockingLaunched,
    appserver_env,
    launch_blocking,
    short_dir,
    unix_socket_accepts,
)
from tests.support.rawws import RawWs
from tests.support.tui import TmuxTui
from tests.support import deadlines

pytestmark = pytest.mark.interop

BUILTIN = ["--backend", "builtin"]
COMPOSER = "Ask Codex to do anything"
INIT_PARAMS = {"clientInfo": {"name": "interop", "title": None, "version": "1"}, "capabilities": {"experimentalApi": True}}


@contextmanager
def our_gateway(path: Path, home: Path) -> Iterator[BlockingLaunched]:
    """``appserver serve`` (built-in backend) on the control socket ``path``."""
    argv = [*APPSERVER, "serve", *BUILTIN, "--listen", f"unix://{path}"]
    with launch_blocking(argv, env=appserver_env(home)) as server:
        server.line_matching(f"listening on: unix://{path}")
        yield server


@contextmanager
def codex_unix_server(codex_bin: str, codex_home: Path, path: Path) -> Iterator[BlockingLaunched]:
    """The real ``codex app-server --listen unix://PATH``, once it accepts."""
    argv = [codex_bin, "app-server", "--listen", f"unix://{path}"]
    with launch_blocking(argv, env=appserver_env(codex_home)) as codex:
        codex.until(lambda: unix_socket_accepts(path), f"accepting on {path}")
        yield codex


@pytest.fixture
def codex_home() -> Iterator[Path]:
    # Under /tmp codex warns (on stderr only) that it will not create helper binaries.
    with short_dir("as-codex-home-") as path:
        yield path


def test_codex_proxy_carries_a_websocket_client_to_our_gateway(codex_bin: str, short_tmp: Path, codex_home: Path) -> None:
    path = short_tmp / "s.sock"
    with our_gateway(path, short_tmp):
        proxy = subprocess.Popen(
            [codex_bin, "app-server", "proxy", "--sock", str(path)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env={**os.environ, "CODEX_HOME": str(codex_home)}, start_new_session=True,
        )
        try:
            assert proxy.stdin and proxy.stdout
            ws = RawWs.over_pipes(proxy.stdin.fileno(), proxy.stdout.fileno())
            response = ws.handshake()
            assert response.status_code == 101
            ws.send_json({"id": 1, "method": "initialize", "params": INIT_PARAMS})
            answer, _ = ws.wait_answer(1)
            assert answer["result"]["codexHome"] == str(short_tmp)  # our gateway answered
            assert "appserver/" in answer["result"]["userAgent"]
        finally:
            os.killpg(proxy.pid, 9)
            proxy.wait()


def test_our_proxy_and_call_drive_codex_app_server(codex_bin: str, short_tmp: Path, codex_home: Path) -> None:
    path = short_tmp / "codex.sock"
    with codex_unix_server(codex_bin, codex_home, path):
        requests = [
            {"id": 1, "method": "initialize", "params": INIT_PARAMS},
            {"method": "initialized"},
            {"id": 2, "method": "thread/loaded/list", "params": {}},
            {"id": "three", "method": "initialize", "params": INIT_PARAMS},
        ]
        result = subprocess.run(
            [*APPSERVER, "proxy", "--sock", str(path)],
            input="".join(json.dumps(r) + "\n" for r in requests),
            capture_output=True, text=True, timeout=deadlines.CODEX,
        )
        assert result.returncode == 0, result.stderr
        out = [json.loads(line) for line in result.stdout.splitlines()]
        by_id = {m["id"]: m for m in out if "id" in m}
        assert by_id[1]["result"]["codexHome"] == str(codex_home)
        assert by_id[2]["result"]["data"] == []
        assert by_id["three"] == {"id": "three", "error": {"code": -32600, "message": "Already initialized"}}
        assert any(m.get("method") == "remoteControl/status/changed" for m in out)

        call = subprocess.run(
            [*APPSERVER, "call", "--sock", str(path), "--notifications", "thread/loaded/list", "{}"],
            capture_output=True, text=True, timeout=deadlines.CODEX,
        )
        assert call.returncode == 0, call.stderr
        assert json.loads(call.stdout)["data"] == []
        notes = [json.loads(line) for line in call.stderr.splitlines()]
        assert "remoteControl/status/changed" in {n["method"] for n in notes}


def test_codex_tui_bootstraps_over_our_socket(codex_bin: str, short_tmp: Path, codex_home: Path) -> None:
    path = short_tmp / "s.sock"
    workdir = short_tmp / "wd"
    workdir.mkdir()
    argv = [codex_bin, "--remote", f"unix://{path}"]
    env = appserver_env(codex_home)
    with our_gateway(path, short_tmp) as server:
        with TmuxTui(argv, cwd=workdir, env=env, stderr_file=short_tmp / "tui.stderr") as tui:
            # The composer, with no login screen (the built-in backend needs no account).
            screen = tui.wait_for("the composer", lambda s: COMPOSER in s)
            assert "Sign in" not in screen
            tui.type("hello")
            # Enter only once the text shows, or the TUI takes the burst for a paste.
            tui.wait_for("the typed text", lambda s: "› hello" in s)
            tui.enter()
            tui.wait_for("the echo reply", lambda s: "echo: hello" in s)
        assert "Traceback" not in server.stderr
