"""A real ``redis-server`` for tests (Debian package ``redis-server``; scripts/test installs it).

:class:`RedisServer` starts one (through :func:`tests.support.launcher.launch_blocking`) on a
free loopback port in a temporary folder, without persistence (no RDB snapshots, no AOF),
waits for its "Ready to accept connections" line (an event, not a sleep), and stops it;
:meth:`RedisServer.start` again brings it back, empty, on the same port. ``url`` is what
``--redis`` takes.
"""

from __future__ import annotations

import shutil
import socket
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.support.launcher import BlockingLaunched, launch_blocking

READY = "Ready to accept connections"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """One ``redis-server`` process; :meth:`start` / :meth:`stop` (restartable on its port)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = _free_port()
        self.proc: BlockingLaunched | None = None
        self._stack: ExitStack | None = None

    def __repr__(self) -> str:
        state = "running" if self.proc is not None else "stopped"
        return f"<RedisServer 127.0.0.1:{self.port} {state}>"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is missing: run the suite with scripts/test")
        self.folder.mkdir(parents=True, exist_ok=True)
        argv = [
            binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
            "--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", "/dev/stderr",
            "--protected-mode", "yes",
        ]
        stack = ExitStack()
        self.proc = stack.enter_context(launch_blocking(argv, name="redis-server"))
        self._stack = stack
        try:
            self.proc.line_matching(READY)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """SIGTERM (the launcher kills it after its grace if it lingers)."""
        stack, self._stack, self.proc = self._stack, None, None
        if stack is not None:
            stack.close()

    def flush(self) -> None:
        """Empty every database (between tests sharing one server)."""
        import redis

        client = redis.Redis(host="127.0.0.1", port=self.port)
        try:
            client.flushall()
        finally:
            client.close()
