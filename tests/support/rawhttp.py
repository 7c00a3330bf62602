"""Start a WebSocket listener process (ours or the real codex) and talk raw HTTP to it.

``ListenerProcess`` runs a command whose stderr carries an upstream-shaped banner, finds
the bound port the way upstream's tests do (strip ANSI escapes, first ``ws://`` or
``wss://`` token), and kills the whole process group on exit. ``raw_request`` sends bytes
exactly as given over a plain or TLS socket and parses the status line, headers and body,
so nothing between the test and the server normalises the request.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
WS_ADDR = re.compile(r"wss?://(\[[0-9a-fA-F:]+\]|[0-9.]+):(\d+)")
STARTUP_TIMEOUT = 60.0


class ListenerProcess:
    """A server process with a TCP WebSocket listener; use as a context manager."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: str | None = None) -> None:
        self.argv = argv
        self.env = env
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None
        self.port: int | None = None
        self._stderr: list[str] = []
        self._found = threading.Event()
        self._changed = threading.Condition()
        #: Every ``listening on: URL`` banner line seen so far, in order.
        self.urls: list[str] = []

    @property
    def stderr(self) -> str:
        return "".join(self._stderr)

    def __enter__(self) -> ListenerProcess:
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=self.env,
            cwd=self.cwd,
            start_new_session=True,
        )
        threading.Thread(target=self._read_stderr, daemon=True).start()
        if not self._found.wait(STARTUP_TIMEOUT) or self.port is None:
            self.__exit__(None, None, None)
            raise AssertionError(f"no listening banner from {self.argv[:3]}: {self.stderr[-2000:]}")
        return self

    def _read_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = ANSI.sub("", raw.decode(errors="replace"))
            with self._changed:
                self._stderr.append(line)
                listening = re.search(r"listening on: (wss?://\S+)", line)
                if listening:
                    self.urls.append(listening.group(1))
                self._changed.notify_all()
            if self.port is None:
                match = WS_ADDR.search(line)
                if match:
                    self.port = int(match.group(2))
                    self._found.set()
        self._found.set()
        with self._changed:
            self._changed.notify_all()

    def wait_for_stderr(self, predicate: Callable[[ListenerProcess], bool], timeout: float = STARTUP_TIMEOUT) -> None:
        """Wait until ``predicate(self)`` holds (checked whenever a stderr line arrives)."""
        with self._changed:
            if not self._changed.wait_for(lambda: predicate(self) or self._exited(), timeout):
                raise AssertionError(f"timed out; stderr so far: {self.stderr[-2000:]}")
        assert predicate(self), f"process ended; stderr: {self.stderr[-2000:]}"

    def _exited(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None

    def port_of(self, url: str) -> int:
        return int(url.rsplit(":", 1)[1])

    def __exit__(self, *exc: Any) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(timeout=30)
        if self.proc.stdin is not None:
            self.proc.stdin.close()


@dataclass
class HttpReply:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


def raw_request(
    port: int,
    request: bytes | str,
    *,
    host: str = "127.0.0.1",
    ssl_context: ssl.SSLContext | None = None,
    server_hostname: str | None = None,
    timeout: float = 30.0,
) -> HttpReply:
    """Send ``request`` verbatim; read one response (a 101 ends at its headers)."""
    data = request.encode("latin-1") if isinstance(request, str) else request
    sock = socket.create_connection((host, port), timeout=timeout)
    if ssl_context is not None:
        sock = ssl_context.wrap_socket(sock, server_hostname=server_hostname or host)
    with sock:
        sock.sendall(data)
        buf = b""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                break
            buf += chunk
            if time.monotonic() > deadline:
                break
        head, _, body = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        if not lines[0]:
            raise ConnectionError("connection closed without an HTTP response")
        status = int(lines[0].split(" ", 2)[1])
        headers = [tuple(s.strip() for s in line.split(":", 1)) for line in lines[1:] if ":" in line]
        reply = HttpReply(status, headers)  # type: ignore[arg-type]
        if status == 101 or data.startswith(b"HEAD "):
            return reply
        length = reply.header("content-length")
        if length is not None:
            while len(body) < int(length):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                body += chunk
        reply.body = body[: int(length)] if length is not None else body
        return reply


def upgrade_request(path: str = "/", extra: str = "", *, method: str = "GET", protocol: str = "HTTP/1.1") -> str:
    """A WebSocket upgrade request with ``extra`` header lines (each ending in CRLF)."""
    return (
        f"{method} {path} {protocol}\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\n"
        "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
        f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n"
    )
