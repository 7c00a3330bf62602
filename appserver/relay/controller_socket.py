"""The controller WebSocket ``GET <public_url>api/v1/controller/ws`` (docs/relay.md).

Auth: ``Authorization: Bearer <device_token>``, or for browsers the subprotocols
``appserver.controller.v1`` and ``bearer.<device_token>`` (the relay selects the first).
401 before the upgrade for a missing, unknown or revoked token; 429 when the device or its
host has too many streams. ``?stream=ID&received=N`` resumes a stream; no query opens one.

After the upgrade the relay sends ``relay/stream`` first, then the frames after the
controller's ``received``, then plain JSON-RPC text frames both ways. Close codes: 4001
device revoked, 4002 stream expired (unknown stream, resume too late), 4003 controller too
slow, 1008 protocol violation (binary frame, ``received`` ahead of the relay), 1009 frame
too large, 1001 relay shutting down. A controller closing with 1000 ends its stream; any
other close or drop keeps it resumable for ``RELAY_STREAM_GRACE``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

import anyio
from aiohttp import WSMsgType, web

from appserver import limits, strings
from appserver.relay import credentials
from appserver.relay.controller_api import SOCKET_PATH
from appserver.relay.frames import FrameWriter
from appserver.relay.http import HttpError, offered_bearer
from appserver.relay.hub import RELAY_KEY, Relay
from appserver.relay.inline_ws import InlineWebSocketResponse
from appserver.relay.store import Device
from appserver.relay.streams import ControllerStream, StreamPhase, relay_frame

log = logging.getLogger("appserver.relay")

SUBPROTOCOL = "appserver.controller.v1"
BEARER_PROTOCOL = "bearer."


class ControllerSocket:
    """One controller WebSocket attached to a stream; writes the stream's unwritten frames.

    Frames are written without waiting, all that are ready in one socket write: when the
    socket keeps up, at the end of the loop iteration in which the first of them became
    ready (a round trip's answer, or a burst read from the host link: no task wake-up);
    otherwise by :meth:`writer`, which waits while the socket applies backpressure
    (meanwhile frames pile up in the stream's bounded buffer: a controller that falls too
    far behind is closed 4003 by the stream)."""

    def __init__(self, relay: Relay, stream: ControllerStream, frames: FrameWriter, peer: str) -> None:
        self.relay = relay
        self.stream = stream
        self.frames = frames
        self.ws = frames.ws
        self.peer = peer
        self._control: deque[str] = deque()
        self._wanted = anyio.Event()
        self._flush_soon = False  # a write is scheduled for the end of this loop iteration
        self.closed = False
        # Kept: in CPython 3.11 each asyncio.get_running_loop() is a getpid system call.
        self._loop = asyncio.get_running_loop()

    def __repr__(self) -> str:
        return f"<ControllerSocket {self.stream.client_id}/{self.stream.stream_id} from {self.peer}>"

    def wake(self) -> None:
        """A frame is ready: written at the end of this loop iteration if the socket keeps
        up, else by :meth:`writer`."""
        if self._flush_soon:
            return
        if self.closed or self._wanted.is_set() or not self.frames.idle:
            self._wanted.set()
            return
        self._flush_soon = True
        self._loop.call_soon(self._flush_now)

    def _flush_now(self) -> None:
        self._flush_soon = False
        if self.closed:
            return
        if self._wanted.is_set() or not self.frames.idle:
            self._wanted.set()  # the writer is at it, or the socket is behind: it waits
            return
        self._flush()

    def take(self, text: str) -> bool:
        """The socket's text sink (:mod:`appserver.relay.inline_ws`): a controller frame
        handled inside the data callback unless that would wait; ``False`` (nothing done)
        leaves it, and every frame after it, to the reader task."""
        if self.closed or self.stream.socket is not self:
            return False  # the reader ends this socket
        return self.stream.from_controller_nowait(text)

    def send_control(self, text: str) -> None:
        """A relay/* frame (not counted, not buffered for resume)."""
        self._control.append(text)
        self._wanted.set()

    def _flush(self) -> bool:
        """Write the control frames and every unwritten frame in one write; False when this
        socket is done (closed, or the stream moved to another socket)."""
        if self.stream.socket is not self:
            return False
        buffer = self.stream.buffer
        unwritten = buffer.unwritten_texts()
        if self._control:
            texts = [*self._control, *unwritten]
            self._control.clear()
        else:
            texts = unwritten
        if not texts:
            return True
        try:
            self.frames.write(texts)
        except ConnectionError:
            return False
        buffer.written = buffer.last
        return True

    async def writer(self) -> None:
        while not self.closed:
            await self._wanted.wait()
            self._wanted = anyio.Event()
            if not self._flush():
                return
            try:
                await self.frames.drain()
            except (ConnectionError, RuntimeError):
                return

    async def close(self, code: int, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self._wanted.set()
        self.relay.metrics.closes.labels(str(code)).inc()
        log.info("controller %s/%s from %s closed by the relay: %d %s",
                 self.stream.client_id, self.stream.stream_id, self.peer, code, reason)
        await self.ws.close(code=code, message=reason.encode())


def _token(request: web.Request) -> str | None:
    """The device token: the ``Authorization`` bearer, else a ``bearer.<token>`` subprotocol
    (a browser cannot set headers on a WebSocket)."""
    token = offered_bearer(request)
    if token is not None:
        return token
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
    for protocol in offered:
        if protocol.startswith(BEARER_PROTOCOL) and len(protocol) > len(BEARER_PROTOCOL):
            return protocol[len(BEARER_PROTOCOL):]
    return None


async def _device(relay: Relay, request: web.Request, peer: str) -> Device:
    token = _token(request)
    if token is None:
        relay.auth_failure("device", peer, "controller", "no token")
        raise HttpError(401, strings.RELAY_BAD_DEVICE_TOKEN)
    device = await relay.store.device_for_token(credentials.digest(token))
    if device is None:
        relay.auth_failure("device", peer, "controller", "unknown or revoked device token")
        raise HttpError(401, strings.RELAY_BAD_DEVICE_TOKEN)
    return device


async def controller_socket(request: web.Request) -> web.StreamResponse:
    relay = request.app[RELAY_KEY]
    peer = relay.peer(request)
    device = await _device(relay, request, peer)
    stream_id = request.query.get("stream")
    received_text = request.query.get("received", "0")
    if stream_id is None:
        mine = relay.streams_of_device(device.client_id)
        if (
            len(mine) >= limits.RELAY_MAX_STREAMS_PER_DEVICE
            or len(relay.streams_of_server(device.server_id)) >= limits.RELAY_MAX_STREAMS_PER_HOST
        ):
            raise HttpError(429, strings.RELAY_TOO_MANY_STREAMS)
    ws = InlineWebSocketResponse(
        protocols=(SUBPROTOCOL,), max_msg_size=limits.RELAY_CONTROLLER_MAX_FRAME_BYTES, compress=False,
        autoping=True, heartbeat=limits.RELAY_CONTROLLER_HEARTBEAT,
    )
    frames = await FrameWriter.prepare(ws, request)
    await relay.store.touch_device(device.client_id, relay.now())
    if stream_id is None:
        stream = ControllerStream(relay, credentials.new_stream_id(), device.client_id, device.server_id)
        relay.add_stream(stream)
        resumed = False
        received = 0
    else:
        found = relay.streams.get(stream_id)
        if (
            found is None
            or found.client_id != device.client_id
            or found.phase is StreamPhase.ENDED
            or not received_text.isdigit()
            or not found.buffer.can_resume(int(received_text))
        ):
            reason = strings.RELAY_CLOSE_EXPIRED
            code = limits.RELAY_CLOSE_STREAM_EXPIRED
            if found is not None and received_text.isdigit() and int(received_text) > found.buffer.last:
                code, reason = limits.RELAY_CLOSE_PROTOCOL, strings.RELAY_CLOSE_BAD_RESUME
            relay.metrics.closes.labels(str(code)).inc()
            log.info("controller %s from %s: resume of stream %s refused (%s)", device.client_id, peer, stream_id, reason)
            await ws.close(code=code, message=reason.encode())
            return ws
        stream = found
        resumed = True
        received = int(received_text)
        relay.metrics.resumes.inc()
        if stream.socket is not None:
            await stream.socket.close(limits.RELAY_CLOSE_STREAM_EXPIRED, strings.RELAY_CLOSE_RESUMED_ELSEWHERE)
    socket = ControllerSocket(relay, stream, frames, peer)
    stream.buffer.rewind(received)
    stream.attach(socket)
    relay.metrics.controller_sockets.inc()
    log.info("controller %s/%s connected from %s (%s)", device.client_id, stream.stream_id, peer,
             "resumed" if resumed else "new stream")
    socket.send_control(relay_frame("relay/stream", {
        "streamId": stream.stream_id, "resumed": resumed, "received": stream.received,
        "hostOnline": stream.host_online,
    }))
    # Frames are taken inside the socket's data callback when nothing has to wait (a
    # single node's own host link; a cluster node queues them for Redis and the direct
    # path: UpThroughRedis.ready_for / send_message_nowait).
    ws.set_text_sink(socket.take)
    ended_by_controller = False
    try:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(socket.writer)
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    if stream.socket is not socket:
                        break
                    await stream.from_controller(msg.data)
                elif msg.type is WSMsgType.BINARY:
                    await socket.close(limits.RELAY_CLOSE_PROTOCOL, strings.RELAY_CLOSE_BINARY)
                    break
                else:
                    break
                ws.message_taken()
            ended_by_controller = ws.close_code == 1000 and not socket.closed
            socket.closed = True
            socket.wake()
            tasks.cancel_scope.cancel()
    finally:
        socket.closed = True
        relay.metrics.controller_sockets.dec()
        stream.detach(socket)
        if ended_by_controller and stream.socket is None:
            await stream.end()
        log.info("controller %s/%s from %s disconnected (close code %s)", device.client_id,
                 stream.stream_id, peer, ws.close_code)
    return ws


def add_routes(app: web.Application) -> None:
    app.router.add_get(SOCKET_PATH, controller_socket)
