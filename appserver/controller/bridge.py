"""One local client's stream through the relay, across relay sockets (the I/O side).

:class:`RelayLink` connects to the relay's controller WebSocket with the device
credential, relays JSON-RPC text frames both ways between the local client and the host,
and when the relay socket drops, reconnects (jittered backoff) and resumes the stream, so
the local client never notices (:mod:`.resume` keeps the counts and the frames to resend).

How a link ends (the relay's close codes, docs/relay.md):

- the local client closes → the relay socket is closed normally;
- 4001 (device revoked), or HTTP 401/403 on the upgrade → :class:`DeviceRefused` is
  raised, after the local client was closed with code 4001 and a clear reason;
- 4002 (stream expired), 4003 (too slow), 1008, a resume the relay refuses, or the relay
  unreachable for ``CONTROLLER_RESUME_GIVE_UP`` seconds → the local client is closed with
  the reason; the link returns;
- anything else (1001 relay shutting down, a dropped TCP connection) → reconnect.

``relay/host`` notifications are logged, not forwarded; while the host is offline the
relay itself answers requests with a JSON-RPC error, which reaches the client as usual.
"""

from __future__ import annotations

import logging
import random
import time
from typing import Protocol

import anyio
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from appserver import __version__, limits, strings
from appserver.controller.credentials import Device
from appserver.controller.links import controller_ws_url
from appserver.transports.websocket import CLIENT_OPTIONS
from appserver.controller.resume import (
    ControllerStream,
    Frame,
    HostStatus,
    StreamLost,
    StreamOpened,
    StreamState,
)

log = logging.getLogger("appserver.remote")

CLOSE_INTERNAL = 1011
USER_AGENT = f"appserver-remote/{__version__}"


class DeviceRefused(Exception):
    """The relay refused the device credential (revoked or unknown)."""


class LocalClient(Protocol):
    """The local end of a link: a WebSocket client or stdio."""

    peer: str

    async def receive(self) -> str | None:
        """The next JSON-RPC text from the client; ``None`` once it is gone."""
        ...

    async def send(self, text: str) -> None: ...

    async def close(self, code: int, reason: str) -> None: ...


def _jitter(delay: float) -> float:
    return delay * random.uniform(0.8, 1.2)


class RelayLink:
    """One local client bridged to the paired host through one resumable relay stream."""

    def __init__(self, device: Device, local: LocalClient) -> None:
        self.device = device
        self.local = local
        self.stream = ControllerStream()
        self._ws: ClientConnection | None = None
        self._lock = anyio.Lock()  # resend-then-live ordering of frames to the relay
        self.reconnects = 0
        #: Set when the relay refused the device; :meth:`run` raises it at the end. Set
        #: before the local client is closed, because that close also ends the uplink.
        self.refused: DeviceRefused | None = None

    async def run(self) -> None:
        """Until the local client leaves or the stream ends; raises :class:`DeviceRefused`."""
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._uplink, tg.cancel_scope)
                await self._downlink()
                tg.cancel_scope.cancel()
        finally:
            ws, self._ws = self._ws, None
            if ws is not None:
                with anyio.CancelScope(shield=True):
                    await ws.close(1000)
        if self.refused is not None:
            raise self.refused

    # --- local -> relay -----------------------------------------------------------------

    async def _uplink(self, scope: anyio.CancelScope) -> None:
        while (text := await self.local.receive()) is not None:
            async with self._lock:
                self.stream.send(text)
                if self.stream.state is StreamState.LOST:
                    await self._end(strings.CONTROLLER_CLOSE_LOST.format(reason=strings.CONTROLLER_LOST_TOO_MANY), scope)
                    return
                ws = self._ws
                if self.stream.state is StreamState.OPEN and ws is not None:
                    try:
                        await ws.send(text)
                    except ConnectionClosed:
                        pass  # kept in the stream; resent after the resume
        log.info("%s: local client left", self.local.peer)
        scope.cancel()

    async def _end(self, reason: str, scope: anyio.CancelScope, code: int = CLOSE_INTERNAL) -> None:
        log.warning("%s: closing the local client: %s", self.local.peer, reason)
        await self.local.close(code, reason)
        scope.cancel()

    # --- relay -> local -----------------------------------------------------------------

    async def _downlink(self) -> None:
        delay = limits.CONTROLLER_RECONNECT_INITIAL
        down_since: float | None = None
        while True:
            stream_id, received = self.stream.query()
            url = controller_ws_url(self.device.relay_url, stream_id, received)
            try:
                ws = await connect(
                    url,
                    additional_headers={"Authorization": f"Bearer {self.device.device_token}"},
                    user_agent_header=USER_AGENT,
                    open_timeout=limits.CONNECT_TIMEOUT,
                    **CLIENT_OPTIONS,
                )
            except InvalidStatus as exc:
                if exc.response.status_code in (401, 403):
                    await self._refuse()
                    return
                failure = f"HTTP {exc.response.status_code}"
            except (OSError, InvalidHandshake, TimeoutError) as exc:
                failure = str(exc) or type(exc).__name__
            else:
                delay = limits.CONTROLLER_RECONNECT_INITIAL
                down_since = None
                if not await self._serve(ws):
                    return
                self.reconnects += 1
                continue
            now = time.monotonic()
            down_since = down_since if down_since is not None else now
            if now - down_since >= limits.CONTROLLER_RESUME_GIVE_UP:
                log.warning("%s: relay unreachable: %s", self.local.peer, failure)
                await self.local.close(CLOSE_INTERNAL, strings.CONTROLLER_CLOSE_UNREACHABLE)
                return
            log.info("%s: relay unreachable (%s); retrying in %.1fs", self.local.peer, failure, delay)
            await anyio.sleep(_jitter(delay))
            delay = min(delay * 2, limits.CONTROLLER_RECONNECT_MAX)

    async def _serve(self, ws: ClientConnection) -> bool:
        """Relay frames until the socket ends; ``True`` to reconnect and resume."""
        try:
            async for text in ws:
                if not isinstance(text, str):
                    continue  # the relay sends text only
                event = self.stream.receive(text)
                if isinstance(event, Frame):
                    await self.local.send(text)
                elif isinstance(event, StreamOpened):
                    async with self._lock:
                        # Not event.resend: the uplink may have recorded frames since.
                        resend = self.stream.unconfirmed()
                        for frame in resend:
                            await ws.send(frame)
                        self._ws = ws
                    log.info(
                        "%s: stream %s %s (%d resent)%s",
                        self.local.peer,
                        event.stream_id,
                        "resumed" if event.resumed else "opened",
                        len(resend),
                        "" if event.host_online else "; the host is offline",
                    )
                elif isinstance(event, HostStatus):
                    log.info(
                        "%s: %s",
                        self.local.peer,
                        strings.CONTROLLER_HOST_ONLINE if event.online else strings.CONTROLLER_HOST_OFFLINE,
                    )
                elif isinstance(event, StreamLost):
                    await self.local.close(CLOSE_INTERNAL, strings.CONTROLLER_CLOSE_LOST.format(reason=event.reason))
                    return False
        except ConnectionClosed:
            pass
        finally:
            async with self._lock:
                if self._ws is ws:
                    self._ws = None
        self.stream.disconnected()
        close = ws.protocol.close_rcvd
        code = close.code if close is not None else None
        if code == limits.RELAY_CLOSE_DEVICE_REVOKED:
            await self._refuse()
            return False
        if code == limits.RELAY_CLOSE_STREAM_EXPIRED:
            reason = strings.CONTROLLER_CLOSE_LOST.format(reason="stream expired")
            await self.local.close(limits.RELAY_CLOSE_STREAM_EXPIRED, reason)
            return False
        if code == limits.RELAY_CLOSE_CONTROLLER_TOO_SLOW:
            await self.local.close(limits.RELAY_CLOSE_CONTROLLER_TOO_SLOW, strings.CONTROLLER_CLOSE_TOO_SLOW)
            return False
        if code == limits.RELAY_CLOSE_PROTOCOL:
            reason = strings.CONTROLLER_CLOSE_PROTOCOL.format(code=code, reason=close.reason if close else "")
            await self.local.close(CLOSE_INTERNAL, reason)
            return False
        log.info("%s: relay socket closed (%s); resuming", self.local.peer, code or "dropped")
        return True

    async def _refuse(self) -> None:
        self.refused = DeviceRefused(strings.CONTROLLER_DEVICE_REFUSED)
        log.warning("%s: the relay refused this device (revoked or unknown)", self.local.peer)
        with anyio.CancelScope(shield=True):
            await self.local.close(limits.RELAY_CLOSE_DEVICE_REVOKED, strings.CONTROLLER_CLOSE_REVOKED)

    def __repr__(self) -> str:
        return f"<RelayLink {self.local.peer} {self.stream!r} reconnects={self.reconnects}>"
