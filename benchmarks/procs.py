"""Processes and files of one benchmark run, and their clean-up.

Every child gets its own process group and the run's marker in its environment
(``APPSERVER_BENCH_RUN=<id>``). Clean-up signals each group (SIGTERM, then SIGKILL), then
sweeps ``/proc`` for any process still carrying the marker — a grandchild that moved to a
session of its own (the gateway's codex child, codex's helpers) — and kills it by pid. So a
run leaves nothing behind, whether it ends normally, on an error or on Ctrl-C.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

MARKER_VAR = "APPSERVER_BENCH_RUN"
STOP_TIMEOUT = 5.0


class Proc:
    """One child process; its stdout and stderr go to files in the run's log folder."""

    def __init__(
        self,
        name: str,
        popen: subprocess.Popen[bytes],
        stdout: Path,
        stderr: Path,
        stop_signal: int = signal.SIGTERM,
    ) -> None:
        self.name = name
        self.stop_signal = stop_signal
        self.popen = popen
        self.stdout = stdout
        self.stderr = stderr

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def stderr_text(self) -> str:
        try:
            return self.stderr.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def last_error_line(self) -> str:
        """The most telling stderr line: the last ``Error: …`` line, else the last line."""
        lines = [line.strip() for line in self.stderr_text().splitlines() if line.strip()]
        for line in reversed(lines):
            if line.startswith("Error:"):
                return line
        return lines[-1] if lines else f"exited with status {self.popen.returncode}"

    def rss_bytes(self) -> int:
        """Resident set size now (VmRSS), 0 once the process is gone."""
        return rss_bytes(self.pid)

    def __repr__(self) -> str:
        state = "running" if self.alive else f"exited {self.popen.returncode}"
        return f"<Proc {self.name} pid={self.pid} {state}>"


def rss_bytes(pid: int) -> int:
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
        self._procs: list[Proc] = []
        self._names = 0

    def path(self, name: str) -> Path:
        return self.root / name

    def mkdir(self, name: str) -> Path:
        path = self.root / name
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        return path

    def spawn(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        stop_signal: int = signal.SIGTERM,
    ) -> Proc:
        self._names += 1
        logs = self.mkdir("logs")
        stdout = logs / f"{self._names:02d}-{name}.out"
        stderr = logs / f"{self._names:02d}-{name}.err"
        full_env = dict(os.environ if env is None else env)
        full_env[MARKER_VAR] = self.marker
        with open(stdout, "wb") as out, open(stderr, "wb") as err:
            popen = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=full_env,
                cwd=cwd,
                start_new_session=True,  # its own group: Ctrl-C is ours to handle, not its
            )
        proc = Proc(name, popen, stdout, stderr, stop_signal)
        self._procs.append(proc)
        return proc

    def stop(self, proc: Proc, timeout: float = STOP_TIMEOUT) -> None:
        """Signal the process group (SIGTERM unless told), wait, then SIGKILL what is left."""
        if proc.alive:
            _signal_group(proc.pid, proc.stop_signal)
            try:
                proc.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        _signal_group(proc.pid, signal.SIGKILL)
        try:
            proc.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            pass

    def close(self, keep_logs: Path | None = None) -> None:
        """Stop everything, sweep stragglers, remove the temp folder (copying logs first)."""
        for proc in reversed(self._procs):
            self.stop(proc)
        self._procs.clear()
        kill_marked(self.marker)
        if keep_logs is not None and (self.root / "logs").is_dir():
            shutil.copytree(self.root / "logs", keep_logs, dirs_exist_ok=True)
        shutil.rmtree(self.root, ignore_errors=True)

    def __repr__(self) -> str:
        return f"<Runner {self.root} procs={len(self._procs)}>"


def _signal_group(pid: int, signum: int) -> None:
    try:
        os.killpg(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


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
