"""Raw HTTP to a WebSocket listener (ours or the real codex), byte for byte.

``raw_request`` sends bytes exactly as given over a plain or TLS socket and parses the
status line, headers and body, so nothing between the test and the server normalises the
request. ``WS_ADDR`` finds a listener's address in a banner line the way upstream's tests
do (the first ``ws://`` or ``wss://`` token); start servers with tests.support.launcher.
"""

from __future__ import annotations

import re
import socket
import ssl
import time
from dataclasses import dataclass, field

WS_ADDR = re.compile(r"wss?://(\[[0-9a-fA-F:]+\]|[0-9.]+):(\d+)")


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
