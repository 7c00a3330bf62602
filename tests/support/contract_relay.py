"""A small relay that follows the controller API of docs/relay.md ("Controller API"),
for testing controllers before (and independently of) ``appserver relay``.

It pairs codes it was told about, authenticates device tokens (header or the browser's
``bearer.<token>`` subprotocol), and maps each controller socket's stream onto one plain
WebSocket connection to a gateway (``appserver serve --listen ws://…``) instead of a host
link. Streams resume after a dropped socket exactly as docs/relay.md says (``relay/stream``
with the counts, resend after them); tests can drop sockets, expire streams, take the
"host" offline, and revoke devices (close 4001, then 401 on the upgrade). It also serves the
web controller's files at its root, as the real relay does.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.support.launcher import APPSERVER, appserver_env, launch

WEB_ROOT = Path(__file__).resolve().parents[2] / "appserver" / "controller" / "web"
OFFLINE_ERROR = "host is offline; the request was not delivered"


@dataclass(eq=False)
class Stream:
    id: str
    token: str
    upstream: ClientConnection
    to_controller: list[str] = field(default_factory=list)  # every JSON-RPC frame, numbered from 1
    accepted: int = 0  # JSON-RPC frames accepted from the controller
    socket: web.WebSocketResponse | None = None
    pump: asyncio.Task[None] | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # keeps resend-then-live order


class ContractRelay:
    def __init__(self, gateway_url: str, *, server_name: str = "test-host") -> None:
        self.gateway_url = gateway_url
        self.server_name = server_name
        self.codes: dict[str, str] = {}
        self.devices: dict[str, dict[str, Any]] = {}  # token -> claim body + client_id
        self.streams: dict[str, Stream] = {}
        self.host_online = True
        self.sockets_opened = 0
        self.runner: web.AppRunner | None = None
        self.url = ""

    # --- control from tests ---------------------------------------------------------------

    def add_code(self, code: str | None = None) -> str:
        code = code or secrets.token_urlsafe(16)
        self.codes[code.replace("-", "").upper()] = code
        return code

    async def revoke(self, client_id: str) -> None:
        for token, device in list(self.devices.items()):
            if device["client_id"] == client_id:
                del self.devices[token]
                for stream in list(self.streams.values()):
                    if stream.token == token and stream.socket is not None:
                        await stream.socket.close(code=4001, message=b"device revoked")

    async def drop_sockets(self) -> None:
        """Close every controller socket abnormally-ish (1012: the streams stay resumable)."""
        for stream in self.streams.values():
            if stream.socket is not None:
                await stream.socket.close(code=1012, message=b"dropped by the test")

    async def forget_streams(self) -> None:
        """Like a relay restart: every stream is gone; sockets closed with 1001."""
        streams, self.streams = self.streams, {}
        for stream in streams.values():
            if stream.socket is not None:
                await stream.socket.close(code=1001, message=b"relay shutting down")
            await stream.upstream.close()

    async def set_host_online(self, online: bool) -> None:
        self.host_online = online
        for stream in self.streams.values():
            if stream.socket is not None and not stream.socket.closed:
                await stream.socket.send_str(
                    json.dumps({"method": "relay/host", "params": {"online": online}})
                )

    # --- server ---------------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/api/v1/pair/claim", self._claim)
        app.router.add_get("/api/v1/controller/ws", self._controller)
        app.router.add_get("/", self._index)
        app.router.add_static("/", WEB_ROOT)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/"
        return self.url

    async def stop(self) -> None:
        await self.forget_streams()
        if self.runner is not None:
            await self.runner.cleanup()

    async def _index(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(WEB_ROOT / "index.html")

    async def _claim(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"detail": "invalid JSON"}, status=400)
        code = str(body.get("code", "")).replace("-", "").replace(" ", "").upper()
        if code not in self.codes:
            return web.json_response({"detail": "pairing code not found or expired"}, status=404)
        del self.codes[code]
        token = secrets.token_urlsafe(32)
        client_id = f"client-{len(self.devices) + 1}"
        self.devices[token] = {**body, "client_id": client_id}
        return web.json_response(
            {
                "client_id": client_id,
                "device_token": token,
                "environment_id": "env-test",
                "server_name": self.server_name,
                "relay_url": self.url,
            }
        )

    def _token(self, request: web.Request) -> tuple[str | None, bool]:
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            return auth[7:], False
        protocols = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
        for p in protocols:
            if p.startswith("bearer."):
                return p[len("bearer.") :], True
        return None, False

    async def _controller(self, request: web.Request) -> web.StreamResponse:
        token, browser = self._token(request)
        if token is None or token not in self.devices:
            return web.json_response({"detail": "unknown or revoked device"}, status=401)
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return web.json_response({"detail": "expected a WebSocket upgrade"}, status=400)
        ws = web.WebSocketResponse(protocols=("appserver.controller.v1",) if browser else ())
        await ws.prepare(request)
        self.sockets_opened += 1
        stream_id = request.query.get("stream")
        if stream_id is not None:
            stream = self.streams.get(stream_id)
            if stream is None or stream.token != token:
                await ws.close(code=4002, message=b"stream expired")
                return ws
            received = int(request.query.get("received", "0"))
            resumed = True
        else:
            upstream = await connect(self.gateway_url, max_size=None)
            stream = Stream(id=secrets.token_hex(8), token=token, upstream=upstream)
            self.streams[stream.id] = stream
            stream.pump = asyncio.create_task(self._pump(stream))
            received, resumed = 0, False
        if stream.socket is not None and not stream.socket.closed:
            await stream.socket.close(code=1000, message=b"replaced")
        async with stream.lock:
            # Registered before the controller can know it is connected: a revocation or a
            # host notice right after "relay/stream" must find this socket.
            stream.socket = ws
            opened = {
                "streamId": stream.id,
                "resumed": resumed,
                "received": stream.accepted,
                "hostOnline": self.host_online,
            }
            await ws.send_str(json.dumps({"method": "relay/stream", "params": opened}))
            for text in stream.to_controller[received:]:
                await ws.send_str(text)
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                await ws.close(code=1008, message=b"binary frames are not allowed")
                break
            stream.accepted += 1
            if not self.host_online:
                parsed = json.loads(message.data)
                if "method" in parsed and "id" in parsed:
                    error = {"code": -32000, "message": OFFLINE_ERROR}
                    await self._to_controller(stream, json.dumps({"id": parsed["id"], "error": error}))
                continue
            try:
                await stream.upstream.send(message.data)
            except ConnectionClosed:
                break
        return ws

    async def _to_controller(self, stream: Stream, text: str) -> None:
        async with stream.lock:
            stream.to_controller.append(text)
            socket = stream.socket
            if socket is not None and not socket.closed:
                try:
                    await socket.send_str(text)
                except ConnectionResetError:
                    pass

    async def _pump(self, stream: Stream) -> None:
        try:
            async for text in stream.upstream:
                await self._to_controller(stream, str(text))
        except ConnectionClosed:
            pass


@asynccontextmanager
async def relay_with_builtin_gateway(
    home: Path, *, server_name: str = "home-box"
) -> AsyncIterator[ContractRelay]:
    """A real gateway (``appserver serve --backend builtin`` on ``ws://127.0.0.1:0``, its
    state in ``home``) with this relay started in front of it."""
    home.mkdir(parents=True, exist_ok=True)
    argv = [*APPSERVER, "serve", "--backend", "builtin", "--listen", "ws://127.0.0.1:0"]
    async with launch(argv, env=appserver_env(home)) as gateway:
        url = (await gateway.line_matching(r"listening on: (ws://\S+)")).group(1)
        relay = ContractRelay(url, server_name=server_name)
        await relay.start()
        try:
            yield relay
        finally:
            await relay.stop()
