"""The codex backend is ready before the first client message is read (readiness is an
awaited state, not something a background task publishes later)."""

from __future__ import annotations

import json
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
