"""The processes and files of one benchmark run, and their clean-up.

Processes are started with the same launcher the tests use (tests.support.launcher: own
process group, stderr read line by line and kept in the run's log folder, SIGTERM then
SIGKILL). Every child also carries the run's marker in its environment
(``APPSERVER_BENCH_RUN=<id>``): clean-up stops each launched process, then sweeps
``/proc`` for any process still carrying the marker — a grandchild that moved to a session
of its own (the gateway's codex child, codex's helpers) — and kills it by pid. So a run
leaves nothing behind, whether it ends normally, on an error or on Ctrl-C.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from contextlib import AsyncExitStack
from pathlib import Path

from tests.support.launcher import Launched, launch

MARKER_VAR = "APPSERVER_BENCH_RUN"
STOP_TIMEOUT = 5.0


def rss_bytes(pid: int) -> int:
    """Resident set size now (VmRSS), 0 once the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (``/proc/PID/stat``)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Runner:
    """The run's temp folder and every process started in it."""

    def __init__(self, parent: Path | None = None, marker: str | None = None) -> None:
        self.marker = marker or os.environ.get(MARKER_VAR) or uuid.uuid4().hex
        self.root = Path(tempfile.mkdtemp(prefix="appserver-bench-", dir=parent))
        os.chmod(self.root, 0o700)
        self._processes = AsyncExitStack()
        self._names = 0

    def path(self, name: str) -> Path:
        return self.root / name

    def mkdir(self, name: str) -> Path:
        path = self.root / name
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        return path

    async def start(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        stop_signal: int = signal.SIGTERM,
    ) -> Launched:
        """Launch ``argv``; it runs until :meth:`stop` or :meth:`aclose`. Its stderr is
        kept in ``logs/NN-NAME.err``."""
        self._names += 1
        log = self.mkdir("logs") / f"{self._names:02d}-{name}.err"
        full_env = dict(os.environ if env is None else env)
        full_env[MARKER_VAR] = self.marker
        return await self._processes.enter_async_context(
            launch(argv, env=full_env, cwd=cwd, name=name, log=log,
                   stop_signal=stop_signal, stop_grace=STOP_TIMEOUT)
        )  # fmt: skip

    async def stop(self, proc: Launched) -> None:
        """Signal the process group (SIGTERM unless told), wait, then SIGKILL what is left."""
        await proc.stop()

    async def aclose(self, keep_logs: Path | None = None) -> None:
        """Stop every process, sweep stragglers, remove the temp folder (copying logs first)."""
        await self._processes.aclose()
        self.close(keep_logs)

    def close(self, keep_logs: Path | None = None) -> None:
        """Sweep stragglers carrying the marker and remove the temp folder (copying logs
        first). Processes started here must be stopped first (:meth:`aclose`)."""
        kill_marked(self.marker)
        if keep_logs is not None and (self.root / "logs").is_dir():
            shutil.copytree(self.root / "logs", keep_logs, dirs_exist_ok=True)
        shutil.rmtree(self.root, ignore_errors=True)

    def __repr__(self) -> str:
        return f"<Runner {self.root} started={self._names}>"


def marked_pids(marker: str) -> list[int]:
    """Processes (other than this one) whose environment carries the run's marker."""
    needle = f"{MARKER_VAR}={marker}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                environ = f.read()
        except OSError:
            continue
        if needle in environ.split(b"\0"):
            found.append(int(entry))
    return found


def kill_marked(marker: str, timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM, then SIGKILL, every process still carrying the marker."""
    pids = marked_pids(marker)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while pids and time.monotonic() < deadline:
        time.sleep(0.05)
        pids = [pid for pid in marked_pids(marker) if pid in pids]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
