"""A real ``redis-server`` for tests (Debian package ``redis-server``; scripts/test installs it).

:class:`RedisServer` starts one on a free loopback port in a temporary folder, without
persistence (no RDB snapshots, no AOF), waits for its "Ready to accept connections" line
(an event, not a sleep), and stops it. ``url`` is what ``--redis`` takes.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import threading
from pathlib import Path

import pytest

READY = "Ready to accept connections"
START_TIMEOUT = 30.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """One ``redis-server`` process; :meth:`start` / :meth:`stop` (restartable on its port)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = _free_port()
        self.proc: subprocess.Popen[str] | None = None
        self.log: list[str] = []

    def __repr__(self) -> str:
        state = "running" if self.proc and self.proc.poll() is None else "stopped"
        return f"<RedisServer 127.0.0.1:{self.port} {state}>"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is missing: run the suite with scripts/test")
        self.folder.mkdir(parents=True, exist_ok=True)
        args = [
            binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
            "--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", "",
            "--protected-mode", "yes",
        ]
        self.proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL
        )
        ready = threading.Event()

        def pump() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                self.log.append(line.rstrip())
                if READY in line:
                    ready.set()
            ready.set()  # exited: let start() see it

        threading.Thread(target=pump, daemon=True).start()
        ready.wait(START_TIMEOUT)
        if self.proc.poll() is not None or not any(READY in line for line in self.log):
            self.stop()
            pytest.fail("redis-server did not start:\n" + "\n".join(self.log[-20:]))

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def flush(self) -> None:
        """Empty every database (between tests sharing one server)."""
        import redis

        client = redis.Redis(host="127.0.0.1", port=self.port)
        try:
            client.flushall()
        finally:
            client.close()
