"""Drive the real codex TUI in a private tmux server (``tmux -L``) and read its screen.

Polling the screen with a deadline is the only way to wait for an external terminal
program; every wait names what it waits for and fails with the screen it last saw.
"""

from __future__ import annotations

import shlex
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from tests.support import deadlines

POLL_INTERVAL = 0.25
TUI_TIMEOUT = 90.0


class TmuxTui:
    """One TUI process in its own tmux server; use as a context manager."""

    def __init__(self, argv: list[str], *, cwd: Path, env: dict[str, str], stderr_file: Path) -> None:
        self.socket = f"appserver-test-{uuid.uuid4().hex[:12]}"
        self.argv = argv
        self.cwd = cwd
        self.env = env
        self.stderr_file = stderr_file

    def _tmux(self, *args: str, check: bool = True) -> str:
        proc = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, env=self.env, timeout=deadlines.STEP
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"tmux {args[0]} failed: {proc.stderr}")
        return proc.stdout

    def __enter__(self) -> TmuxTui:
        command = (
            f"{shlex.join(self.argv)} 2> {shlex.quote(str(self.stderr_file))}; "
            "echo TUI-EXIT=$?; sleep 600"
        )
        self._tmux("new-session", "-d", "-x", "160", "-y", "45", "-c", str(self.cwd), command)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._tmux("kill-server", check=False)

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", check=False)

    def stderr(self) -> str:
        return self.stderr_file.read_text(errors="replace") if self.stderr_file.exists() else ""

    def type(self, text: str) -> None:
        self._tmux("send-keys", "-l", text)

    def enter(self) -> None:
        self._tmux("send-keys", "Enter")

    def wait_for(self, what: str, predicate: Callable[[str], bool], timeout: float = TUI_TIMEOUT) -> str:
        """Poll the screen until ``predicate(screen)``; fail naming ``what``."""
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if predicate(screen):
                return screen
            if "TUI-EXIT=" in screen and "TUI-EXIT=" not in what:
                break
            time.sleep(POLL_INTERVAL)
        raise AssertionError(
            f"waiting for {what}; screen:\n{screen}\nTUI stderr:\n{self.stderr()[-3000:]}"
        )
