"""One run of the managed ``codex app-server --listen unix://PATH`` child.

The child runs under :mod:`.guard` (see there for why): the gateway holds the write end of
the guard's stdin, so the codex process tree ends when the gateway ends, however it ends.
codex's stderr is copied to our log line by line, prefixed ``codex[PID]:``, without the
ANSI colours codex puts in it.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import anyio
from anyio.abc import Process
from anyio.streams.text import TextReceiveStream

from appserver import limits
from appserver.log import strip_ansi

log = logging.getLogger("appserver.codex")

GUARD = Path(__file__).with_name("guard.py")


def child_command(codex_bin: str, socket: Path, overrides: Sequence[str]) -> list[str]:
    """The codex command line: ``codex [-c k=v]... app-server --listen unix://SOCKET``."""
    command = [codex_bin]
    for override in overrides:
        command += ["-c", override]
    return [*command, "app-server", "--listen", f"unix://{socket}"]


def describe_status(status: int | None) -> str:
    """``exit status 3`` / ``killed by SIGKILL`` from the guard's exit status."""
    if status is None:
        return "still running"
    if status > 128:
        try:
            return f"killed by {signal.Signals(status - 128).name}"
        except ValueError:
            pass
    if status < 0:
        try:
            return f"killed by {signal.Signals(-status).name}"
        except ValueError:
            pass
    return f"exit status {status}"


class CodexChild:
    """A started codex child (under its guard); :meth:`stop` ends it, bounded in time."""

    def __init__(self, process: Process, command: Sequence[str]) -> None:
        self.process = process
        self.command = list(command)
        self.exited = anyio.Event()
        self.status: int | None = None

    @classmethod
    async def start(
        cls, command: Sequence[str], env: Mapping[str, str], *, stop_grace: float
    ) -> CodexChild:
        """Start ``command`` under the guard; raises ``OSError`` if it cannot be started."""
        process = await anyio.open_process(
            [sys.executable, "-I", str(GUARD), str(stop_grace), *command],
            stdin=subprocess.PIPE,  # its EOF tells the guard that we are gone
            stdout=subprocess.DEVNULL,  # codex writes nothing useful there
            stderr=subprocess.PIPE,
            env=dict(env),
            # Its own session: a Ctrl-C in the gateway's terminal reaches the gateway,
            # which drains first and stops codex last.
            start_new_session=True,
        )
        return cls(process, command)

    @property
    def pid(self) -> int:
        return self.process.pid

    async def run(self) -> None:
        """Copy stderr to the log until the child exits, then set :attr:`exited`."""
        try:
            stderr = self.process.stderr
            if stderr is not None:
                await _copy_lines(stderr, self.process.pid)
            self.status = await self.process.wait()
        finally:
            self.exited.set()

    async def stop(self) -> None:
        """Ask the guard to stop codex (SIGTERM, then SIGKILL); wait for it, bounded.

        Shielded: stopping must finish even while the gateway is being cancelled.
        """
        with anyio.CancelScope(shield=True):
            if self.process.returncode is None and self.process.stdin is not None:
                try:
                    await self.process.stdin.aclose()
                except OSError:
                    pass
            with anyio.move_on_after(limits.CODEX_STOP_GRACE + limits.CODEX_GUARD_SLACK):
                await self.process.wait()
            if self.process.returncode is None:
                log.warning("codex guard %d did not stop; killing its process group", self.pid)
                _kill_group(self.pid)
                await self.process.wait()
            self.status = self.process.returncode

    def __repr__(self) -> str:
        return f"<CodexChild pid={self.pid} {describe_status(self.process.returncode)}>"


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


async def _copy_lines(stream: anyio.abc.ByteReceiveStream, pid: int) -> None:
    pending = ""
    async for chunk in TextReceiveStream(stream, errors="replace"):
        pending += chunk
        *lines, pending = pending.split("\n")
        for line in lines:
            _log_line(line, pid)
        if len(pending) > limits.CODEX_STDERR_LINE_BYTES:
            _log_line(pending, pid)
            pending = ""
    if pending:
        _log_line(pending, pid)


def _log_line(line: str, pid: int) -> None:
    line = strip_ansi(line).rstrip()
    if line:
        log.info("codex[%d]: %s", pid, line)
