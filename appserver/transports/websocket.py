"""The per-connection WebSocket loop shared by the Unix control socket and TCP listeners.

spec/transport.md §4.4: one JSON-RPC message per text frame in each direction; binary
frames are dropped with a warning; pings are answered once, by the ``websockets`` library
(upstream answers twice); close ends the connection. When the processor asks for a close
(a slow client, a backend failure, shutdown) the close frame carries its code and reason.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from appserver import limits
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


async def serve_websocket(processor: Processor, ws: ServerConnection, transport: str) -> None:
    """Serve one upgraded WebSocket connection until either side ends it."""
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
    if close.code != CloseCode.ABNORMAL:
        await ws.close(close.code, close.reason)
