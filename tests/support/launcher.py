"""One way to run a server process in tests and benchmarks: :func:`launch`.

Every test or benchmark that starts ``appserver serve``, the real ``codex app-server``,
a relay, a stub or a mock server uses this; nothing else spawns long-running processes.

::

    from tests.support.launcher import APPSERVER, appserver_env, launch

    async def test_something(tmp_path):
        argv = [*APPSERVER, "serve", "--backend", "builtin", "--listen", "ws://127.0.0.1:0"]
        async with launch(argv, env=appserver_env(tmp_path)) as server:
            match = await server.line_matching(r"listening on: (ws://\\S+)")
            url = match.group(1)
            ...                              # talk to it
            server.signal(signal.SIGTERM)    # optional: test the shutdown itself
            assert await server.wait() == 0
        # leaving the block: SIGTERM to its process group, SIGKILL after `stop_grace`

What it does, so tests need not:

* the process starts in its own session (process group), so stopping it also stops what
  it started (codex's node wrapper and native child, a gateway's helpers);
* a task reads stderr as it comes (never a full pipe), line by line, ANSI escapes removed:
  :attr:`Launched.lines`, :attr:`Launched.stderr`, and ``await`` :meth:`Launched.line_matching`
  (an event per line: no polling, no sleeps);
* waiting fails with the process's stderr in the message: when it exits first, or after
  :data:`STARTUP_TIMEOUT`; an exception that leaves the ``async with`` block gets the
  stderr attached as a note, so every failure shows what the server said;
* ``stdin=True`` / ``stdout=True`` give pipes (:class:`StdioChannel` speaks JSONL over
  them); otherwise they are ``/dev/null``; ``log=PATH`` also copies stderr to a file.

Synchronous code (a sync test, a module-scoped fixture) uses :func:`launch_blocking`, the
same thing on an event loop in a helper thread. For one-shot commands (``appserver call``, ``proxy``, a failing ``serve``) use :func:`run`.
For sockets, :func:`short_dir` (and the ``short_tmp`` fixture in tests/conftest.py) give
folders whose paths fit ``sun_path``. The module needs no pytest: benchmarks use it too.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import Process
from anyio.from_thread import BlockingPortal, start_blocking_portal
from anyio.streams.buffered import BufferedByteReceiveStream

from appserver.log import strip_ansi
from appserver.transports.unix_path import accepts_connections
from tests.support import deadlines

#: ``python -m appserver`` from this checkout.
APPSERVER = [sys.executable, "-m", "appserver"]

#: How long a test waits for a process to say something (startup of the real codex
#: included) or to exit, before it fails with the process's stderr.
STARTUP_TIMEOUT = deadlines.PROCESS
#: After SIGTERM, how long a process may take to clean up before its group is killed.
STOP_GRACE = 10.0
#: After the process exited, how long its stderr may stay open (a grandchild holding
#: it) before the reader stops.
STDERR_LINGER = 2.0

_MAX_LINE = 1 << 20
_SIGTERM = signal.SIGTERM  # (the class below has a method named `signal`)


class LaunchFailed(AssertionError):
    """The process exited, or said nothing that matched, in time; the message has its stderr."""


class Launched:
    """A running process started by :func:`launch`, with its stderr recorded line by line."""

    def __init__(
        self,
        name: str,
        process: Process,
        log: Path | None,
        stop_signal: int = _SIGTERM,
        stop_grace: float = STOP_GRACE,
    ) -> None:
        self.name = name
        self.process = process
        self.stop_signal = stop_signal
        self.stop_grace = stop_grace
        #: Every stderr line so far, without its newline and without ANSI escapes.
        self.lines: list[str] = []
        self._log = open(log, "w") if log is not None else None  # noqa: SIM115
        self._line_added = anyio.Event()
        self._stderr_done = anyio.Event()

    # --- what it said ------------------------------------------------------------------

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

    @property
    def stderr(self) -> str:
        """Everything it wrote to stderr so far (ANSI escapes removed)."""
        return "".join(line + "\n" for line in self.lines)

    async def line_matching(
        self, pattern: str | re.Pattern[str], *, timeout: float = STARTUP_TIMEOUT
    ) -> re.Match[str]:
        """The first stderr line (from the start) where ``pattern`` is found; waits for it.

        Raises :class:`LaunchFailed`, with the stderr so far, when the process exits
        without such a line or ``timeout`` passes.
        """
        return (await self.lines_matching(pattern, 1, timeout=timeout))[0]

    async def lines_matching(
        self, pattern: str | re.Pattern[str], count: int, *, timeout: float = STARTUP_TIMEOUT
    ) -> list[re.Match[str]]:
        """The first ``count`` stderr lines where ``pattern`` is found (e.g. one banner
        line per listener); waits for them, failing like :meth:`line_matching`."""
        regex = re.compile(pattern)
        found: list[re.Match[str]] = []
        seen = 0
        with anyio.move_on_after(timeout):
            while True:
                for line in self.lines[seen:]:
                    match = regex.search(line)
                    if match:
                        found.append(match)
                        if len(found) == count:
                            return found
                seen = len(self.lines)
                if self._stderr_done.is_set():
                    await self._exited(timeout)
                    raise LaunchFailed(
                        self.describe(f"exited ({self.returncode}) before printing /{regex.pattern}/")
                    )
                await self._line_added.wait()
        raise LaunchFailed(self.describe(f"printed no /{regex.pattern}/ within {timeout:.0f}s"))

    async def until(self, check: object, what: str, *, timeout: float = STARTUP_TIMEOUT) -> None:
        """Wait until ``check()`` is true, for a state only observable from outside (a
        socket that accepts, a file that appears). Re-checked on every stderr line and
        every 50 ms; fails like :meth:`line_matching`."""
        assert callable(check)
        with anyio.move_on_after(timeout):
            while not check():
                if self.returncode is not None:
                    raise LaunchFailed(self.describe(f"exited ({self.returncode}) before {what}"))
                with anyio.move_on_after(0.05):
                    await self._line_added.wait()
            return
        raise LaunchFailed(self.describe(f"not {what} within {timeout:.0f}s"))

    @property
    def last_error_line(self) -> str:
        """The most telling stderr line: the last ``Error: ...`` line, else the last line."""
        lines = [line.strip() for line in self.lines if line.strip()]
        for line in reversed(lines):
            if line.startswith("Error:"):
                return line
        return lines[-1] if lines else f"exited with status {self.returncode}"

    def describe(self, problem: str) -> str:
        tail = "\n".join(self.lines[-60:])
        return f"{self.name} {problem}; its stderr:\n{tail}"

    # --- controlling it ------------------------------------------------------------------

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the process itself (it may forward it to its children)."""
        if self.returncode is None:
            self.process.send_signal(signum)

    def signal_group(self, signum: int) -> None:
        """Send ``signum`` to its whole process group."""
        try:
            os.killpg(self.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass

    def kill(self) -> None:
        """SIGKILL the whole group: no clean-up runs (to test what a crash leaves behind)."""
        self.signal_group(signal.SIGKILL)

    async def wait(self, timeout: float = STARTUP_TIMEOUT) -> int:
        """Its exit status, once its stderr is read to the end (:attr:`stderr` is then
        complete); fails with its stderr if it is still running after ``timeout``."""
        status = await self._exited(timeout)
        if status is None:
            raise LaunchFailed(self.describe(f"still running after {timeout:.0f}s"))
        with anyio.move_on_after(STDERR_LINGER):
            await self._stderr_done.wait()
        return status

    async def stop(self, stop_signal: int | None = None, grace: float | None = None) -> int:
        """``stop_signal`` to the group, then SIGKILL after ``grace`` (default: what
        :func:`launch` was given); the exit status."""
        stop_signal = self.stop_signal if stop_signal is None else stop_signal
        grace = self.stop_grace if grace is None else grace
        if self.returncode is None:
            self.signal_group(stop_signal)
            await self._exited(grace)
        self.kill()  # stragglers in the group, even when the leader is gone
        status = await self._exited(STARTUP_TIMEOUT)
        assert status is not None
        return status

    async def _exited(self, timeout: float) -> int | None:
        with anyio.move_on_after(timeout):
            return await self.process.wait()
        return self.returncode

    # --- the stderr reader ----------------------------------------------------------------

    async def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        stream = BufferedByteReceiveStream(self.process.stderr)
        try:
            while True:
                try:
                    raw = await stream.receive_until(b"\n", _MAX_LINE)
                except anyio.IncompleteRead:
                    rest = stream.buffer
                    if rest:
                        self._add(rest)
                    return
                except anyio.DelimiterNotFound:
                    raw = await stream.receive_exactly(_MAX_LINE)
                except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
                    return
                self._add(raw)
        finally:
            self._stderr_done.set()
            self._line_added.set()
            if self._log is not None:
                self._log.close()

    def _add(self, raw: bytes) -> None:
        line = strip_ansi(raw.decode(errors="replace")).rstrip("\r")
        self.lines.append(line)
        if self._log is not None:
            self._log.write(line + "\n")
            self._log.flush()
        event, self._line_added = self._line_added, anyio.Event()
        event.set()

    def __repr__(self) -> str:
        state = "running" if self.returncode is None else f"exited {self.returncode}"
        return f"<Launched {self.name} pid={self.pid} {state} lines={len(self.lines)}>"


@asynccontextmanager
async def launch(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | str | None = None,
    name: str | None = None,
    stdin: bool = False,
    stdout: bool = False,
    log: Path | None = None,
    stop_signal: int = signal.SIGTERM,
    stop_grace: float = STOP_GRACE,
) -> AsyncIterator[Launched]:
    """Run ``argv`` for the duration of the block (see the module docstring)."""
    process = await anyio.open_process(
        list(argv),
        stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
        stdout=subprocess.PIPE if stdout else subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=dict(os.environ if env is None else env),
        cwd=cwd,
        start_new_session=True,
    )
    launched = Launched(name or _name_of(argv), process, log, stop_signal, stop_grace)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(launched._read_stderr)
            try:
                yield launched
            except BaseException as exc:
                _attach_stderr(exc, launched)
                raise
            finally:
                with anyio.CancelScope(shield=True):
                    await launched.stop()
                    with anyio.move_on_after(STDERR_LINGER):
                        await launched._stderr_done.wait()
                tg.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            await process.aclose()


class BlockingLaunched:
    """:class:`Launched` for synchronous code (a sync test, a module-scoped fixture): the
    same methods, run on the event loop of the portal the process lives in."""

    def __init__(self, launched: Launched, portal: BlockingPortal) -> None:
        self.launched = launched
        self._portal = portal

    @property
    def pid(self) -> int:
        return self.launched.pid

    @property
    def returncode(self) -> int | None:
        return self.launched.returncode

    @property
    def lines(self) -> list[str]:
        return list(self.launched.lines)

    @property
    def stderr(self) -> str:
        return self.launched.stderr

    def line_matching(self, pattern: str | re.Pattern[str], *, timeout: float = STARTUP_TIMEOUT) -> re.Match[str]:
        return self._portal.call(lambda: self.launched.line_matching(pattern, timeout=timeout))

    def lines_matching(
        self, pattern: str | re.Pattern[str], count: int, *, timeout: float = STARTUP_TIMEOUT
    ) -> list[re.Match[str]]:
        return self._portal.call(lambda: self.launched.lines_matching(pattern, count, timeout=timeout))

    def until(self, check: object, what: str, *, timeout: float = STARTUP_TIMEOUT) -> None:
        self._portal.call(lambda: self.launched.until(check, what, timeout=timeout))

    def signal(self, signum: int) -> None:
        self._portal.call(self.launched.signal, signum)

    def kill(self) -> None:
        self._portal.call(self.launched.kill)

    def wait(self, timeout: float = STARTUP_TIMEOUT) -> int:
        return self._portal.call(lambda: self.launched.wait(timeout))

    def __repr__(self) -> str:
        return repr(self.launched)


@contextmanager
def launch_blocking(argv: Sequence[str], **options: Any) -> Iterator[BlockingLaunched]:
    """:func:`launch` for synchronous code: the process and its stderr reader run on an
    event loop in a helper thread for the duration of the block."""
    with start_blocking_portal() as portal:
        with portal.wrap_async_context_manager(launch(argv, **options)) as launched:
            yield BlockingLaunched(launched, portal)


def _name_of(argv: Sequence[str]) -> str:
    """``appserver serve`` for ``python -m appserver serve ...``, else the program's name."""
    if argv[0] == sys.executable and len(argv) > 2 and argv[1] == "-m":
        return " ".join(argv[2:4])
    return Path(argv[0]).name


def _attach_stderr(exc: BaseException, launched: Launched) -> None:
    if isinstance(exc, (Exception, BaseExceptionGroup)) and not isinstance(exc, LaunchFailed):
        exc.add_note(launched.describe("was running when the test failed"))


async def run(
    argv: Sequence[str],
    *,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | str | None = None,
    timeout: float = STARTUP_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """Run a one-shot command to completion; its status, stdout and stderr as text."""
    with anyio.fail_after(timeout):
        result = await anyio.run_process(
            list(argv),
            input=input.encode() if input is not None else None,
            env=dict(os.environ if env is None else env),
            cwd=cwd,
            check=False,
            start_new_session=True,
        )
    return subprocess.CompletedProcess(
        result.args, result.returncode, result.stdout.decode(), result.stderr.decode()
    )


def run_stdio(
    args: list[str], lines: list[str], env: dict[str, str], timeout: float = STARTUP_TIMEOUT
) -> tuple[list[dict[str, Any]], str, int]:
    """``appserver ARGS`` with ``lines`` on stdin (then EOF), from synchronous code: the
    parsed stdout messages, stderr and exit status."""
    proc = subprocess.run(
        [*APPSERVER, *args],
        input="".join(line + "\n" for line in lines),
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    return [json.loads(line) for line in proc.stdout.splitlines()], proc.stderr, proc.returncode


def unix_socket_accepts(path: Path | str) -> bool:
    """Whether something accepts connections on the Unix socket at ``path`` (a readiness
    check for a process that prints nothing when it is ready; see :meth:`Launched.until`)."""
    try:
        return accepts_connections(path)
    except OSError:
        return False


def appserver_env(codex_home: Path, **extra: str) -> dict[str, str]:
    """This environment with ``CODEX_HOME`` set (and ``extra`` variables)."""
    env = dict(os.environ)
    env["CODEX_HOME"] = str(codex_home)
    env.update(extra)
    return env


@contextmanager
def short_dir(prefix: str = "as-") -> Iterator[Path]:
    """A fresh folder with a short path under /tmp, removed afterwards (pytest's tmp_path
    can exceed ``sun_path`` for sockets)."""
    path = Path(tempfile.mkdtemp(dir="/tmp", prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
