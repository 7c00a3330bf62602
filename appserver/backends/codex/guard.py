"""Parent-death guard for the codex child. Stdlib only; run as a script, not imported.

Usage: ``python guard.py GRACE_SECONDS COMMAND [ARGS...]`` with stdin a pipe whose write
end only the gateway holds.

Why a guard process (docs/codex-backend.md "Never leaking codex"): ``prctl(PR_SET_PDEATHSIG)``
applies to one process and is not inherited, and ``codex`` from npm is a node wrapper that
spawns the native binary as its own child (node 20 has no ``execve``). A gateway killed
with SIGKILL would leave that native process behind. The guard

* reads its stdin: EOF means the gateway is gone, whichever way it died, and it stops codex;
* runs codex in a process group of its own: stopping sends SIGTERM to the wrapper (which
  forwards it, and codex shuts down cleanly), then SIGKILL to the whole group (wrapper *and*
  native binary) after ``GRACE_SECONDS``;
* is a child subreaper, so processes codex orphans (``git``, tool runs) are re-parented to
  it and killed and reaped too, never left to init;
* asks for SIGTERM itself if the gateway dies (``PR_SET_PDEATHSIG``), and sets the same on
  the wrapper, in case the guard itself is killed with SIGKILL;
* exits with codex's status (``128 + N`` for a signal), so the gateway can log why.
"""

from __future__ import annotations

import ctypes
import os
import select
import signal
import subprocess
import sys
import time

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36

_libc = ctypes.CDLL(None, use_errno=True)


def _prctl(option: int, value: int) -> None:
    _libc.prctl(option, value, 0, 0, 0)


def _in_child() -> None:
    # Runs in the forked child before exec: its own group, and SIGTERM when the guard dies.
    os.setpgid(0, 0)
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _descendants() -> list[int]:
    """Our children (codex and re-parented orphans), from /proc."""
    pids: list[int] = []
    try:
        for task in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{task}/children") as f:
                pids.extend(int(p) for p in f.read().split())
    except OSError:
        pass
    return pids


def _signal_all(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        pass
    if signum == signal.SIGKILL:
        for pid in _descendants():
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass


def _terminate(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass


def _reap(child_pid: int) -> int | None:
    """Reap every exited child; the wait status of ``child_pid`` if it was among them."""
    status = None
    while True:
        try:
            pid, st = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return status
        if pid == 0:
            return status
        if pid == child_pid:
            status = st


def main(argv: list[str]) -> int:
    grace = float(argv[0])
    command = argv[1:]
    parent = os.getppid()
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    stop_requested = False

    def _on_stop(signum: int, frame: object) -> None:
        nonlocal stop_requested
        stop_requested = True

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, _on_stop)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # only to wake select()

    child = subprocess.Popen(command, stdin=subprocess.DEVNULL, preexec_fn=_in_child)
    pgid = child.pid
    stdin = sys.stdin.fileno()
    watching_stdin = True
    status: int | None = None
    deadline: float | None = None
    if os.getppid() != parent:
        stop_requested = True  # the gateway died before PR_SET_PDEATHSIG was armed
    while status is None:
        if stop_requested and deadline is None:
            # The wrapper forwards SIGTERM to the native binary, which shuts down cleanly;
            # signalling the whole group would deliver it twice, which codex takes as
            # "exit now" (spec/transport.md §7.6).
            _terminate(child.pid)
            deadline = time.monotonic() + grace
        timeout = 1.0 if deadline is None else max(0.0, deadline - time.monotonic())
        fds = [wake_r] + ([stdin] if watching_stdin else [])
        try:
            readable, _, _ = select.select(fds, [], [], timeout)
        except InterruptedError:
            readable = []
        if wake_r in readable:
            os.read(wake_r, 512)
        if stdin in readable and not os.read(stdin, 512):
            watching_stdin = False
            stop_requested = True
        status = _reap(child.pid)
        if status is None and deadline is not None and time.monotonic() >= deadline:
            _signal_all(pgid, signal.SIGKILL)
            while status is None:
                try:
                    pid, st = os.waitpid(child.pid, 0)
                except ChildProcessError:
                    status = 0
                    break
                status = st
    child.returncode = 0  # reaped above; keep Popen from waiting on it again
    # Whatever codex left behind dies with it: the group, and orphans re-parented to us
    # (killing one may orphan its own children, which come to us next round).
    while True:
        _signal_all(pgid, signal.SIGKILL)
        if not _descendants():
            break
        try:
            os.wait()
        except ChildProcessError:
            break
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
