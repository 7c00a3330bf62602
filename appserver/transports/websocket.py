"""The per-connection WebSocket loop shared by the Unix control socket and TCP listeners.

spec/transport.md §4.4: one JSON-RPC message per text frame in each direction; binary
frames are dropped with a warning; pings are answered once, by the ``websockets`` library
(upstream answers twice); close ends the connection. When the processor asks for a close
(a slow client, a backend failure, shutdown) the close frame carries its code and reason.
"""

from __future__ import annotations

import logging
import resource
from collections.abc import AsyncIterator, Iterable
from functools import partial
from typing import Any

import anyio
from websockets.asyncio.connection import Connection
from websockets.asyncio.server import Server, ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from appserver import limits, strings
from appserver.close import CloseCode
from appserver.processor import OverflowPolicy, Processor
from appserver.transports.base import TransportClosed, run_connection
from appserver.transports.frames import (
    DirectServerConnection,
    DirectTextFrames,
    text_frame,
    text_frames,
)

log = logging.getLogger("appserver.websocket")

_OPEN = State.OPEN  # a global: an enum member lookup costs ten times more (Python 3.11)

#: Keyword arguments for ``websockets`` servers: our frame-size limit, permessage-deflate
#: accepted (upstream hard-closes on it), no server-initiated keepalive pings (upstream
#: sends none; clients like the codex TUI do not expect them).
SERVER_OPTIONS: dict[str, Any] = {
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
CLIENT_OPTIONS: dict[str, Any] = {
    "max_size": limits.MAX_MESSAGE_BYTES,
    "compression": None,
    "close_timeout": limits.WEBSOCKET_CLOSE_TIMEOUT,
}


async def send_texts(ws: Connection, texts: Iterable[str]) -> None:
    """Send each text as one text frame, all of them in ONE socket write.

    websockets' own write path (``send_context``: state checks, flow control, closing on
    errors) writes each frame with its own ``transport.write``, which is a ``send``
    system call per frame whenever the socket keeps up: a 20,000-delta turn made 20,000
    of them. The frames are built by :func:`.frames.text_frames` and written at once.
    Raises ``ConnectionClosed`` like ``ws.send``.
    """
    async with ws.send_context():
        data = text_frames(ws.protocol, texts)
        if data:
            ws.transport.write(data)


def write_now(ws: Connection, text: str) -> bool:
    """Send one text frame at once, without waiting: ``False`` (nothing sent) when the
    connection is not open or its socket is applying backpressure (``send_texts`` would
    wait for room); the caller queues the message then."""
    if not writable_now(ws):
        return False
    ws.transport.write(text_frame(ws.protocol, text))
    return True


def write_frame_now(ws: Connection, frame: bytes) -> bool:
    """Write a complete unmasked text frame verbatim (one a server wrote, passed through),
    at once: ``False`` (nothing sent) when :func:`write_now` could not, or when the
    connection negotiated an extension (its frames are compressed) or holds library
    output that must go first."""
    protocol = ws.protocol
    if protocol.extensions or protocol.writes or not writable_now(ws):
        return False
    ws.transport.write(frame)
    return True


def writable_now(ws: Connection) -> bool:
    """Can a frame be written at once: the connection is open and its socket is not
    applying backpressure (websockets' flow control has not paused writing)."""
    # ``_state``: the ``state`` property's call costs more than the check (see frames.py).
    return ws.protocol._state is _OPEN and not ws.paused and not ws.transport.is_closing()


async def _frames(ws: ServerConnection, conn_id: int) -> AsyncIterator[str]:
    """The messages the text sink left to the reader task (see :mod:`.frames`)."""
    taken = ws.message_taken if isinstance(ws, DirectTextFrames) else _nothing
    try:
        async for frame in ws:
            if isinstance(frame, str):
                yield frame  # resumed once the reader handled it
            else:
                log.warning(
                    "connection %d: dropping unsupported binary websocket message", conn_id
                )
            taken()
    except ConnectionClosed:
        return


def _nothing() -> None:
    pass


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
    conn.set_direct_writer(partial(write_now, ws), partial(write_frame_now, ws))
    if isinstance(ws, DirectTextFrames):
        ws.set_text_sink(conn.offer, conn.client_read_done)

    async def send_batch(batch: list[str]) -> None:
        # One text frame per message, one socket write and one drain per batch.
        try:
            await send_texts(ws, batch)
        except ConnectionClosed as exc:
            raise TransportClosed(str(exc)) from exc

    try:
        close = await run_connection(conn, _frames(ws, conn.id), send_batch, drain_on_eof=False)
    finally:
        if isinstance(ws, DirectTextFrames):
            ws.set_text_sink(None)  # the connection is over: what still arrives is dropped
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
