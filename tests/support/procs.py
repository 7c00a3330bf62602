"""Running the real ``appserver`` command in tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

APPSERVER = [sys.executable, "-m", "appserver"]


def appserver_env(codex_home: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["CODEX_HOME"] = str(codex_home)
    env.update(extra)
    return env


def run_stdio(args: list[str], lines: list[str], env: dict[str, str], timeout: float = 60) -> tuple[list[dict[str, Any]], str, int]:
    """Run ``appserver ARGS`` with ``lines`` on stdin (then EOF); parsed stdout, stderr, status."""
    proc = subprocess.run(
        [*APPSERVER, *args],
        input="".join(line + "\n" for line in lines),
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    return out, proc.stderr, proc.returncode
