"""The per-connection WebSocket loop shared by the Unix control socket and TCP listeners.

spec/transport.md §4.4: one JSON-RPC message per text frame in each direction; binary
frames are dropped with a warning; pings are answered once, by the ``websockets`` library
(upstream answers twice); close ends the connection. When the processor asks for a close
(a slow client, a backend failure, shutdown) the close frame carries its code and reason.
"""

from __future__ import annotations

import logging
import resource
from collections.abc import AsyncIterator

import anyio
from websockets.asyncio.server import Server, ServerConnection
from websockets.exceptions import ConnectionClosed

from appserver import limits, strings
from appserver.close import CloseCode
from appserver.processor import OverflowPolicy, Processor
from appserver.transports.base import TransportClosed, run_connection

log = logging.getLogger("appserver.websocket")

#: Keyword arguments for ``websockets`` servers: our frame-size limit, permessage-deflate
#: accepted (upstream hard-closes on it), no server-initiated keepalive pings (upstream
#: sends none; clients like the codex TUI do not expect them).
SERVER_OPTIONS: dict[str, object] = {
    "max_size": limits.MAX_MESSAGE_BYTES,
    "compression": "deflate",
    "ping_interval": None,
    "close_timeout": limits.WEBSOCKET_CLOSE_TIMEOUT,
    "open_timeout": limits.HANDSHAKE_TIMEOUT,
    "max_queue": limits.WEBSOCKET_SERVER_MAX_QUEUE,
}


#: Keyword arguments for ``websockets`` clients of the gateway (``appserver proxy``/``call``,
#: upstream sessions to codex; callers add their timeouts and keepalive): our frame-size
#: limit, no permessage-deflate (codex does not negotiate it; local and loopback links gain
#: nothing from it).
CLIENT_OPTIONS: dict[str, object] = {
    "max_size": limits.MAX_MESSAGE_BYTES,
    "compression": None,
    "close_timeout": limits.WEBSOCKET_CLOSE_TIMEOUT,
}


async def _frames(ws: ServerConnection, conn_id: int) -> AsyncIterator[str]:
    try:
        async for frame in ws:
            if isinstance(frame, str):
                yield frame
            else:
                log.warning(
                    "connection %d: dropping unsupported binary websocket message", conn_id
                )
    except ConnectionClosed:
        return


def _peer_name(ws: ServerConnection) -> str:
    """``IP:PORT`` of a TCP client, for logs; Unix socket clients have no address."""
    try:
        address = ws.remote_address
    except OSError:
        return ""
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return ""


def connection_cap() -> int:
    """limits.MAX_CONNECTIONS, lowered to what the open-file limit can hold."""
    try:
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (OSError, ValueError):
        return limits.MAX_CONNECTIONS
    if soft == resource.RLIM_INFINITY:
        return limits.MAX_CONNECTIONS
    fit = (soft - limits.FD_RESERVE) // limits.CONNECTION_FDS
    return max(1, min(limits.MAX_CONNECTIONS, fit))


async def serve_websocket(processor: Processor, ws: ServerConnection, transport: str) -> None:
    """Serve one upgraded WebSocket connection until either side ends it."""
    cap = connection_cap()
    if len(processor.connections) >= cap:
        log.warning(
            "refusing a %s connection from %s: %d connections are open (the cap)",
            transport,
            _peer_name(ws) or "a local client",
            cap,
        )
        await close_bounded(ws, CloseCode.TRY_AGAIN_LATER, strings.CLOSE_REASON_TOO_MANY)
        return
    conn = processor.register(transport, OverflowPolicy.DISCONNECT, peer=_peer_name(ws))

    async def send_batch(batch: list[str]) -> None:
        # One text frame per message, but one socket write and one drain per batch:
        # per-frame `ws.send` calls cost a system call each and dominated streaming.
        # `send_context` is websockets' own write path (state checks, flow control,
        # closing on errors); framing happens in its sans-I/O protocol object.
        try:
            async with ws.send_context():
                for text in batch:
                    ws.protocol.send_text(text.encode())
        except ConnectionClosed as exc:
            raise TransportClosed(str(exc)) from exc

    close = await run_connection(conn, _frames(ws, conn.id), send_batch, drain_on_eof=False)
    await close_bounded(ws, close.code, close.reason)


async def close_bounded(ws: ServerConnection, code: int, reason: str) -> None:
    """Send the close frame and wait for the handshake, at most WEBSOCKET_CLOSE_TIMEOUT;
    then drop the socket (a client that does not read never takes the close frame: its
    unsent data keeps the socket busy)."""
    if code != CloseCode.ABNORMAL:
        with anyio.move_on_after(limits.WEBSOCKET_CLOSE_TIMEOUT):
            await ws.close(code, reason)
            return
    ws.transport.abort()


async def close_server(server: Server) -> None:
    """Stop a listener's ``websockets`` server within 2 x WEBSOCKET_CLOSE_TIMEOUT: 1001 to
    every connection still open, then drop the sockets whose close did not finish (a
    client that does not read would otherwise keep the process alive)."""
    with anyio.CancelScope(shield=True):
        for connection in list(server.connections):
            # Unsent data at this point (after the drain, or on a second signal) means a
            # client that is not reading: no close frame can reach it.
            if connection.transport.get_write_buffer_size():
                connection.transport.abort()
        server.close(close_connections=True)
        with anyio.move_on_after(limits.WEBSOCKET_CLOSE_TIMEOUT):
            await server.wait_closed()
            return
        for connection in server.connections:
            connection.transport.abort()
        with anyio.move_on_after(limits.WEBSOCKET_CLOSE_TIMEOUT):
            await server.wait_closed()
