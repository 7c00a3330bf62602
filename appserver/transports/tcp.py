"""The TCP listener: ``ws://IP:PORT`` and, with native TLS, ``wss://IP:PORT``.

spec/transport.md §4: one port serves the health probes (``/readyz``, ``/healthz``), ours
``/metrics``, and the WebSocket upgrade on every other path, with bearer auth at upgrade
(§5). :mod:`appserver.transports.tcp_routes` decides what each HTTP request gets;
:func:`appserver.transports.websocket.serve_websocket` serves upgraded connections, the
same loop as the Unix control socket. The ``x-codex-app-server-compression`` offer of the
codex TUI is ignored (the TUI then speaks plain JSON text frames, as with upstream).
"""

from __future__ import annotations

import asyncio
import http
import ipaddress
import logging
import os
import ssl
import time

import anyio
import h11
from anyio.abc import TaskStatus
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from appserver import limits, metrics, strings
from appserver.auth import Policy
from appserver.config import ListenKind, ListenUrl, ServeConfig
from appserver.errors import ConfigError, RuntimeFailure
from appserver.processor import Processor
from appserver.transports.listener import Listener
from appserver.transports import tcp_routes
from appserver.transports.tcp_routes import HttpResponse, Route
from appserver.transports.frames import DirectServerConnection
from appserver.transports.websocket import SERVER_OPTIONS, close_server, serve_websocket

log = logging.getLogger("appserver.tcp")

#: TLS handshakes in progress (asyncio keeps only weak references to tasks).
_TLS_HANDSHAKES: set[asyncio.Task[None]] = set()


def socket_addr(host: str, port: int) -> str:
    """``IP:PORT`` the way upstream prints a socket address (IPv6 in brackets)."""
    return f"[{host}]:{port}" if ipaddress.ip_address(host).version == 6 else f"{host}:{port}"


def check_startup(listen: ListenUrl, policy: Policy | None) -> None:
    """Upstream refuses a non-loopback listener without auth (§4.1)."""
    if not listen.is_loopback and policy is None:
        assert listen.host is not None and listen.port is not None
        raise ConfigError(
            strings.WS_NON_LOOPBACK_WITHOUT_AUTH.format(addr=socket_addr(listen.host, listen.port))
        )


def banner(
    kind: ListenKind, host: str, port: int, loopback: bool, policy: Policy | None = None
) -> list[str]:
    """The stderr block for one bound listener, in upstream's shape (§4.1)."""
    addr = socket_addr(host, port)
    tls = kind is ListenKind.WSS
    ws, http_scheme = ("wss", "https") if tls else ("ws", "http")
    return [
        strings.WS_BANNER_TITLE_TLS if tls else strings.WS_BANNER_TITLE,
        f"  listening on: {ws}://{addr}",
        f"  readyz: {http_scheme}://{addr}/readyz",
        f"  healthz: {http_scheme}://{addr}/healthz",
        f"  metrics: {http_scheme}://{addr}/metrics",
        "  auth: " + (policy.mode.value if policy is not None else strings.WS_BANNER_NO_AUTH),
        "  " + (strings.WS_BANNER_NOTE_LOOPBACK if loopback else strings.WS_BANNER_NOTE_REMOTE),
    ]


def _response(reply: HttpResponse, *, content_type: str = "text/plain; charset=utf-8") -> Response:
    body = reply.body.encode()
    headers = Headers(
        [*reply.headers, ("Content-Length", str(len(body)))]
        + ([("Content-Type", content_type)] if body else [])
    )
    return Response(reply.status, http.HTTPStatus(reply.status).phrase, headers, body)


def _peer(connection: ServerConnection) -> str:
    """``IP:PORT`` of the client, for logs (never anything it sent)."""
    try:
        host, port = connection.remote_address[:2]
    except (OSError, TypeError, ValueError):
        return "-"
    return socket_addr(host, port)


class _Router:
    """``process_request`` for the ``websockets`` server: every non-upgrade answer."""

    def __init__(self, processor: Processor, policy: Policy | None) -> None:
        self.processor = processor
        self.policy = policy

    def __call__(self, connection: ServerConnection, request: Request) -> Response | None:
        headers = list(request.headers.raw_items())
        decision = tcp_routes.route(
            request.method,
            request.path,
            request.protocol,
            headers,
            ready=bool(self.processor.backend.ready),
            policy=self.policy,
            now=int(time.time()),
        )
        if decision is Route.METRICS:
            return _response(
                HttpResponse(200, metrics.render(self.processor)), content_type=metrics.CONTENT_TYPE
            )
        if isinstance(decision, HttpResponse):
            if decision.status == 403:
                log.info(
                    "rejecting websocket listener request with Origin header from %s",
                    _peer(connection),
                    extra={"rate_limited": True},
                )
            elif decision.status == 401:
                # The body is one of the fixed auth messages; never the presented token.
                log.info(
                    "rejecting websocket client %s during upgrade: %s",
                    _peer(connection),
                    decision.body,
                    extra={"rate_limited": True},
                )
            return _response(decision)
        # Upstream checks only the first Connection/Upgrade/Version/Key header, and
        # "upgrade" anywhere in Connection; hand websockets the canonical single values
        # so it accepts exactly what upstream accepts.
        key = tcp_routes.first_header(headers, "Sec-WebSocket-Key") or ""
        for name, value in (
            ("Connection", "Upgrade"),
            ("Upgrade", "websocket"),
            ("Sec-WebSocket-Version", "13"),
            ("Sec-WebSocket-Key", key),
        ):
            del request.headers[name]
            request.headers[name] = value
        return None

    def __repr__(self) -> str:
        return f"<TcpRouter policy={self.policy!r}>"


def _tls_failure_reason(exc: BaseException) -> str:
    """What an operator needs of a failed handshake: the OpenSSL reason, never the bytes."""
    if isinstance(exc, ssl.SSLError):
        return exc.reason or type(exc).__name__
    if isinstance(exc, TimeoutError):
        return "handshake timed out"
    return type(exc).__name__


def _pipelined_http(router: _Router, tls: ssl.SSLContext | None = None) -> type[ServerConnection]:
    """A ``websockets`` connection that also answers pipelined HTTP/1.1 requests.

    ``websockets`` reads one request per connection; a client that sends a second request
    before the first answer (``GET /healthz`` twice in one write) got no answer at all,
    and a traceback in the log. Codex answers each in order. When the first request head
    is followed by more bytes and is not an upgrade, the requests are parsed with h11 and
    answered here, in order, through the same router; then the connection is closed.
    Everything else goes to ``websockets`` untouched.

    With ``tls`` (a wss:// listener) the connection does its TLS handshake itself, with
    ``loop.start_tls``, before ``websockets`` sees it: asyncio reports a failed server-side
    handshake only in debug mode, and an operator must see it (peer and reason, rate
    limited). The listener is then created without ``ssl=``.
    """

    class PipelinedHttpConnection(DirectServerConnection):
        _head = b""
        _passed = False
        _secured = False

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            if tls is None:
                super().connection_made(transport)
                return
            assert isinstance(transport, asyncio.Transport)
            transport.pause_reading()  # no TLS bytes reach the WebSocket parser
            task = self.loop.create_task(self._start_tls(transport, tls))
            _TLS_HANDSHAKES.add(task)
            task.add_done_callback(_TLS_HANDSHAKES.discard)

        async def _start_tls(self, raw: asyncio.Transport, context: ssl.SSLContext) -> None:
            try:
                secured = await self.loop.start_tls(
                    raw, self, context, server_side=True,
                    ssl_handshake_timeout=limits.HANDSHAKE_TIMEOUT,
                )  # fmt: skip
            except (OSError, TimeoutError, EOFError) as exc:
                peer = raw.get_extra_info("peername")
                where = socket_addr(*peer[:2]) if isinstance(peer, tuple) else "-"
                log.info(strings.TLS_HANDSHAKE_FAILED, where, _tls_failure_reason(exc),
                         extra={"rate_limited": True})  # fmt: skip
                raw.abort()
                return
            if secured is None:  # the peer went away during the handshake
                raw.abort()
                return
            self._secured = True
            super().connection_made(secured)

        def connection_lost(self, exc: Exception | None) -> None:
            # start_tls's protocol reports a failed handshake to us as well; the WebSocket
            # side never started then (connection_made was not called), so nothing to end.
            if tls is None or self._secured:
                super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self._passed:
                super().data_received(data)
                return
            self._head += data
            end = self._head.find(b"\r\n\r\n")
            if end < 0 and len(self._head) < limits.HTTP_HEAD_MAX_BYTES:
                return  # wait for the whole head
            pipelined = 0 <= end and len(self._head) > end + 4
            if pipelined and b"upgrade" not in self._head[:end].lower():
                self._answer_all(self._head)
                return
            self._passed = True
            head, self._head = self._head, b""
            super().data_received(head)

        def _answer_all(self, data: bytes) -> None:
            conn = h11.Connection(h11.SERVER)
            conn.receive_data(data)
            out: list[bytes] = []
            try:
                while True:
                    event = conn.next_event()
                    if isinstance(event, h11.Request):
                        out.append(self._answer(conn, event))
                    elif isinstance(event, h11.EndOfMessage):
                        if conn.our_state is h11.DONE:
                            conn.start_next_cycle()
                    elif event is h11.NEED_DATA or event is h11.PAUSED:
                        break
            except h11.ProtocolError:
                pass  # answered what was well-formed
            self.transport.write(b"".join(out))
            self.transport.close()

        def _answer(self, conn: h11.Connection, event: h11.Request) -> bytes:
            request = Request(
                event.target.decode("latin-1"),
                Headers([(k.decode("latin-1"), v.decode("latin-1")) for k, v in event.headers]),
                method=event.method.decode("latin-1"),
                protocol="HTTP/" + event.http_version.decode("latin-1"),
            )
            response = router(self, request)
            if response is None:  # an upgrade in the middle of a pipeline
                response = _response(HttpResponse(400, strings.HTTP_PIPELINED_UPGRADE))
            return b"".join(
                (
                    conn.send(h11.Response(status_code=response.status_code,
                                           headers=list(response.headers.raw_items()),
                                           reason=response.reason_phrase.encode())) or b"",
                    conn.send(h11.Data(data=response.body or b"")) or b"",
                    conn.send(h11.EndOfMessage()) or b"",
                )
            )

    return PipelinedHttpConnection


async def run_tcp_listener(
    listen: ListenUrl,
    processor: Processor,
    config: ServeConfig,
    *,
    task_status: TaskStatus[Listener] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Bind ``listen``, report the banner, serve until cancelled (see ``server.ListenerRunner``)."""
    # The policy and the TLS context were loaded and checked once, at start-up
    # (appserver.startup); a listener only uses them.
    policy = config.ws_auth
    ssl_context = config.tls_context if listen.kind is ListenKind.WSS else None
    if listen.kind is ListenKind.WSS and ssl_context is None:
        raise ConfigError(strings.TLS_REQUIRED.format(url=listen.url))
    transport = listen.kind.value

    async def handler(ws: ServerConnection) -> None:
        await serve_websocket(processor, ws, transport)

    router = _Router(processor, policy)

    try:
        server: Server = await serve(
            handler,
            listen.host,
            listen.port,
            process_request=router,
            create_connection=_pipelined_http(router, ssl_context),
            server_header=None,
            **SERVER_OPTIONS,  # type: ignore[arg-type]
        )
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise RuntimeFailure(strings.WS_CANNOT_LISTEN.format(url=listen.url, reason=reason)) from None
    try:
        host, port = server.sockets[0].getsockname()[:2]
        log.debug("listening on %s://%s", transport, socket_addr(host, port))
        task_status.started(
            Listener(
                banner=banner(listen.kind, host, port, listen.is_loopback, policy),
                stop_accepting=lambda: server.close(close_connections=False),
            )
        )
        await anyio.sleep_forever()
    finally:
        await close_server(server)
