"""The parent-death guard (appserver/backends/codex/guard.py) with a stand-in process tree.

The stand-in is a shell that starts a grandchild, like the codex node wrapper starting
the native binary; a grandchild that ignores SIGTERM checks the SIGKILL escalation.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from appserver.backends.codex.child import GUARD
from tests.support.gateway import alive
from tests.support import deadlines

def _start(tmp_path: Path, script: str, grace: float = 5.0) -> tuple[subprocess.Popen[bytes], list[int]]:
    pids = tmp_path / "pids"
    guard = subprocess.Popen(
        [sys.executable, "-I", str(GUARD), str(grace), "sh", "-c", script.format(pids=pids)],
        stdin=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if pids.exists() and len(pids.read_text().split()) == 2:
            return guard, [int(p) for p in pids.read_text().split()]
        time.sleep(0.02)
    guard.kill()
    raise AssertionError("the stand-in tree did not start")


TREE = "sleep 300 & echo $$ $! > {pids}.tmp; mv {pids}.tmp {pids}; wait"
STUBBORN = "sh -c 'trap \"\" TERM; sleep 300' & echo $$ $! > {pids}.tmp; mv {pids}.tmp {pids}; wait"


def _wait_gone(pids: list[int], timeout: float = 10.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.02)
    return [p for p in pids if alive(p)]


def test_stdin_eof_stops_the_whole_tree(tmp_path: Path) -> None:
    guard, pids = _start(tmp_path, TREE)
    assert guard.stdin is not None
    guard.stdin.close()  # what the kernel does when the gateway dies, even by SIGKILL
    assert guard.wait(timeout=deadlines.STEP) == 128 + signal.SIGTERM
    assert _wait_gone(pids) == []


def test_a_child_ignoring_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    guard, pids = _start(tmp_path, STUBBORN, grace=0.3)
    guard.send_signal(signal.SIGTERM)
    guard.wait(timeout=deadlines.STEP)
    assert _wait_gone(pids) == []


def test_guard_reports_the_child_exit_status(tmp_path: Path) -> None:
    guard = subprocess.Popen(
        [sys.executable, "-I", str(GUARD), "1", "sh", "-c", "exit 3"], stdin=subprocess.PIPE
    )
    assert guard.wait(timeout=deadlines.STEP) == 3
