"""``appserver remote connect``: local clients (WebSocket listener or stdio) onto the relay.

``--listen ws://127.0.0.1:PORT`` serves plain WebSocket clients (the codex TUI's
``--remote``) on a loopback address; each connection gets its own relay stream, so each
is its own session on the host. ``--stdio`` bridges one JSONL client on stdin/stdout
(an editor) through the stdio adapter the proxy and the stdio transport use. When the relay refuses
the device (revoked), every local client is closed with code 4001 and a clear reason and
the command fails (exit 1); it never waits for a client that will not come.
"""

from __future__ import annotations

import logging
import os
import sys
from urllib.parse import urlsplit

import anyio
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from appserver import limits, strings
from appserver.errors import ConfigError, RuntimeFailure
from appserver.controller.bridge import DeviceRefused, RelayLink
from appserver.controller.credentials import Device
from appserver.proxy.framing import PendingRequests, one_line
from appserver.stdio_streams import StdinStream, StdoutStream, messages
from appserver.url_rules import is_loopback_host

log = logging.getLogger("appserver.remote")


def parse_listen(url: str) -> tuple[str, int]:
    """``ws://IP:PORT`` on a loopback address (the local side has no auth of its own)."""
    bad = ConfigError(strings.CONTROLLER_BAD_LISTEN.format(url=url))
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise bad from None
    if parts.scheme != "ws" or not parts.hostname or port is None or parts.path not in ("", "/"):
        raise bad
    if not is_loopback_host(parts.hostname):
        raise ConfigError(strings.CONTROLLER_LISTEN_NOT_LOOPBACK.format(host=parts.hostname))
    return parts.hostname, port


class WebSocketClient:
    """A local WebSocket client (e.g. ``codex --remote ws://127.0.0.1:PORT``)."""

    def __init__(self, ws: ServerConnection) -> None:
        self.ws = ws
        address = ws.remote_address
        self.peer = f"{address[0]}:{address[1]}" if address else "local"

    async def receive(self) -> str | None:
        while True:
            try:
                message = await self.ws.recv()
            except ConnectionClosed:
                return None
            if isinstance(message, str):
                return message
            log.warning("%s: dropping a binary frame (%d bytes)", self.peer, len(message))

    async def send(self, text: str) -> None:
        try:
            await self.ws.send(text)
        except ConnectionClosed:
            pass  # the uplink sees the close and ends the link

    async def close(self, code: int, reason: str) -> None:
        await self.ws.close(code, reason)


class StdioClient:
    """A JSONL client on stdin/stdout; at stdin EOF, owed answers are awaited first."""

    peer = "stdio"

    def __init__(self, stdin: StdinStream, stdout: StdoutStream) -> None:
        self.stdin = stdin
        self.stdout = stdout
        self.pending = PendingRequests()
        self._messages = messages(stdin)
        self._answered = anyio.Event()
        self.closed: tuple[int, str] | None = None

    async def receive(self) -> str | None:
        if self.closed is not None:
            return None
        try:
            text = await anext(self._messages)
        except StopAsyncIteration:  # stdin ended: the answers owed come first
            await self._drain()
            return None
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            return None  # closed by :meth:`close`
        self.pending.sent(text)
        return text

    async def _drain(self) -> None:
        with anyio.move_on_after(limits.PROXY_EOF_DRAIN_TIMEOUT):
            while len(self.pending):
                answered = self._answered = anyio.Event()
                if len(self.pending):
                    await answered.wait()

    async def send(self, text: str) -> None:
        await self.stdout.write(one_line(text).encode("utf-8") + b"\n")
        self.pending.received(text)  # only once handed to stdout: the drain may end the link
        self._answered.set()

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)
        self.stdin.close()


async def run_stdio(device: Device) -> None:
    """Bridge stdin/stdout to the host until stdin ends; ``RuntimeFailure`` if refused."""
    client = StdioClient(await StdinStream.open(), await StdoutStream.open())
    try:
        await RelayLink(device, client).run()
    except DeviceRefused as exc:
        raise RuntimeFailure(str(exc)) from None
    finally:
        await client.stdout.aclose()
    if client.closed is not None:
        raise RuntimeFailure(client.closed[1])


async def run_listener(device: Device, host: str, port: int, *, ready: anyio.Event | None = None) -> None:
    """Serve local WebSocket clients until interrupted; ``RuntimeFailure`` if revoked."""
    clients: set[WebSocketClient] = set()
    refused: list[DeviceRefused] = []
    stop = anyio.Event()

    async def handle(ws: ServerConnection) -> None:
        if refused:
            await ws.close(limits.RELAY_CLOSE_DEVICE_REVOKED, strings.CONTROLLER_CLOSE_REVOKED)
            return
        if len(clients) >= limits.CONTROLLER_MAX_LOCAL_CLIENTS:
            await ws.close(1013, strings.CONTROLLER_TOO_MANY_CLIENTS)
            return
        client = WebSocketClient(ws)
        clients.add(client)
        log.info("%s: local client connected", client.peer)
        try:
            await RelayLink(device, client).run()
        except DeviceRefused as exc:
            refused.append(exc)
            stop.set()
        finally:
            clients.discard(client)

    try:
        server = await serve(
            handle,
            host,
            port,
            max_size=limits.MAX_MESSAGE_BYTES,
            compression=None,
            close_timeout=limits.WEBSOCKET_CLOSE_TIMEOUT,
        )
    except OSError as exc:
        raise RuntimeFailure(
            strings.CONTROLLER_LISTEN_FAILED.format(host=host, port=port, reason=exc.strerror or exc)
        ) from None
    bound = server.sockets[0].getsockname()[1] if server.sockets else port
    # The banner line on stderr (like `appserver serve`'s): where local clients connect.
    line = strings.CONTROLLER_LISTENING.format(
        host=host, port=bound, name=device.name, server=device.server_name or "?"
    )
    if os.environ.get("LOG_FORMAT") == "json":
        log.info(line)
    else:
        print(line, file=sys.stderr, flush=True)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        with anyio.CancelScope(shield=True):
            code, reason = (
                (limits.RELAY_CLOSE_DEVICE_REVOKED, strings.CONTROLLER_CLOSE_REVOKED)
                if refused
                else (1001, strings.CONTROLLER_SHUTTING_DOWN)
            )
            for client in list(clients):
                await client.close(code, reason)
            server.close()
            await server.wait_closed()
    raise RuntimeFailure(str(refused[0]))
