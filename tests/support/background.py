"""Background processes for socket tests: ``appserver serve`` and real codex servers.

Sockets live in short temp folders under /tmp (pytest's tmp_path can exceed ``sun_path``).
Every process is started in its own session and killed with its group on exit, so the
codex node wrapper and its native child both go.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.procs import APPSERVER

DEADLINE = 60.0


@contextmanager
def short_dir(prefix: str = "as-") -> Iterator[Path]:
    """A fresh folder with a short path under /tmp, removed afterwards."""
    path = Path(tempfile.mkdtemp(dir="/tmp", prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A fresh folder with a short path, for sockets."""
    with short_dir() as path:
        yield path


class Proc:
    """A background process whose stderr goes to a file we can poll."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path, cwd: Path | None = None) -> None:
        self.log = log
        self._log_file = open(log, "wb")
        self.popen = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._log_file,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )

    @property
    def stderr(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_until(self, predicate, what: str, timeout: float = DEADLINE) -> None:  # type: ignore[no-untyped-def]
        """Poll ``predicate()`` (an external process: no event to await) until true."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if self.popen.poll() is not None:
                raise AssertionError(f"process exited ({self.popen.returncode}) before {what}:\n{self.stderr}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}:\n{self.stderr}")
            time.sleep(0.05)

    def wait_for_stderr(self, text: str, timeout: float = DEADLINE) -> None:
        self.wait_until(lambda: text in self.stderr, repr(text), timeout)

    def signal(self, signum: int) -> None:
        self.popen.send_signal(signum)

    def wait(self, timeout: float = DEADLINE) -> int:
        return self.popen.wait(timeout)

    def kill(self) -> None:
        """SIGKILL the whole process group (no cleanup runs)."""
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.popen.wait(10)
        self._log_file.close()

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM the group so it cleans up (codex removes its socket and link), then kill."""
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
                self.popen.wait(grace)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        self.kill()


@contextmanager
def gateway(args: list[str], env: dict[str, str], workdir: Path, ready: str = "listening on:") -> Iterator[Proc]:
    """``appserver serve ARGS``; yields once the banner shows ``ready``."""
    proc = Proc([*APPSERVER, "serve", *args], env, workdir / f"serve-{time.monotonic_ns()}.log")
    try:
        proc.wait_for_stderr(ready)
        yield proc
    finally:
        proc.kill()


def socket_accepts(path: Path | str) -> bool:
    import socket

    with socket.socket(socket.AF_UNIX) as sock:
        try:
            sock.connect(os.path.realpath(path))
        except OSError:
            return False
    return True


@contextmanager
def codex_unix_server(codex_bin: str, codex_home: Path, socket_path: Path, workdir: Path) -> Iterator[Proc]:
    """The real ``codex app-server --listen unix://PATH``; yields once it accepts."""
    proc = Proc(
        [codex_bin, "app-server", "--listen", f"unix://{socket_path}"],
        {**os.environ, "CODEX_HOME": str(codex_home)},
        workdir / "codex-server.log",
    )
    try:
        proc.wait_until(lambda: socket_accepts(socket_path), f"codex socket {socket_path}")
        yield proc
    finally:
        proc.stop()
