"""The Unix control socket listener: WebSocket over a Unix stream (spec/transport.md §3).

``--listen unix://`` (the default socket) and ``--listen unix://PATH``. The socket file is
prepared by :mod:`appserver.transports.unix_path`; this module serves it:

* every accepted stream does a standard HTTP/1.1 WebSocket upgrade on any request path
  (spec §3.4); the 101 response carries
  ``x-codex-websocket-max-unfragmented-message-bytes`` (§3.5);
* ``/daemon/shutdown`` is answered 403 ``unmanaged server``, like a codex app-server that
  is not a managed daemon (§3.5);
* a plain HTTP request without ``Upgrade`` gets no response and the stream is closed,
  like upstream (health routes exist only on the TCP listener);
* each connection is its own session, served by
  :func:`appserver.transports.websocket.serve_websocket` (one message per text frame,
  binary frames dropped, one pong per ping, permessage-deflate accepted,
  ``MAX_MESSAGE_BYTES`` frames).

Access control is the file mode (0600 socket in a 0700 folder), as upstream: no token
and no Origin check here.
"""

from __future__ import annotations

import http
import logging
import os
from pathlib import Path

import anyio
from anyio.abc import TaskStatus
from websockets.asyncio.server import ServerConnection, unix_serve
from websockets.http11 import Request, Response

from appserver import limits, strings
from appserver.config import ListenUrl, ServeConfig, default_control_socket
from appserver.errors import ConfigError, RuntimeFailure
from appserver.processor import Processor
from appserver.transports.listener import Listener
from appserver.transports.unix_path import SocketPathError, open_control_socket
from appserver.transports.frames import DirectServerConnection
from appserver.transports.websocket import SERVER_OPTIONS, close_server, serve_websocket

log = logging.getLogger("appserver.unix")

TRANSPORT_LABEL = "unix"


def _default_socket() -> Path | None:
    try:
        return default_control_socket(os.environ)
    except ConfigError:
        return None


async def _process_request(conn: ServerConnection, request: Request) -> Response | None:
    if request.path.split("?", 1)[0] == strings.DAEMON_SHUTDOWN_PATH:
        return conn.respond(http.HTTPStatus.FORBIDDEN, strings.UNMANAGED_SERVER)
    if "websocket" not in request.headers.get("Upgrade", "").lower():
        # Upstream sends nothing back and drops the stream. Closing the transport and
        # letting it finish before we return means websockets finds the connection closed
        # and writes no response.
        log.info("control socket: closing a plain HTTP request for %s (no Upgrade)", request.path)
        conn.transport.close()
        while not conn.connection_lost_waiter.done():
            await anyio.sleep(0)
        return conn.respond(http.HTTPStatus.BAD_REQUEST, "")
    return None


def _process_response(conn: ServerConnection, request: Request, response: Response) -> None:
    if response.status_code == http.HTTPStatus.SWITCHING_PROTOCOLS:
        response.headers[strings.MAX_UNFRAGMENTED_HEADER] = str(
            limits.ADVERTISED_MAX_UNFRAGMENTED_MESSAGE_BYTES
        )


async def run_unix_listener(
    listen: ListenUrl,
    processor: Processor,
    config: ServeConfig,
    *,
    task_status: TaskStatus[object] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Bind the control socket, report the banner, serve until cancelled, then clean up.

    Setup failures (socket in use, a non-socket file in the way, an unsafe folder) raise
    :class:`~appserver.errors.RuntimeFailure`: one line, exit status 1, like upstream.
    """
    assert listen.path is not None
    default = listen.url == "unix://" or listen.path == _default_socket()
    try:
        bound = await open_control_socket(listen.path, default_dir=default)
    except SocketPathError as exc:
        raise RuntimeFailure(str(exc)) from None

    async def handler(ws: ServerConnection) -> None:
        await serve_websocket(processor, ws, TRANSPORT_LABEL)

    try:
        server = await unix_serve(
            handler,
            sock=bound.sock,
            process_request=_process_request,
            process_response=_process_response,
            server_header=None,
            create_connection=DirectServerConnection,
            **SERVER_OPTIONS,
        )
    except BaseException:
        bound.sock.close()
        bound.remove()
        raise
    try:
        banner = ["appserver (Unix control socket)", f"  listening on: unix://{listen.path}"]
        if bound.linked:
            banner.append(f"  socket: {bound.physical}")
        task_status.started(
            Listener(banner=banner, stop_accepting=lambda: server.close(close_connections=False))
        )
        await anyio.sleep_forever()
    finally:
        await close_server(server)
        bound.remove()
