"""A minimal remote-control host for relay tests, built on the shared wire modules.

It speaks the host side of spec/remote-control.md §4 the way codex 0.169.0 does: per-stream
``seq_id`` from 1 that never restarts, a replay buffer of unacked envelopes sent first on a
new link, inbound de-duplication by ``seq_id`` (``initialize`` never dropped), chunk
reassembly, ``pong`` ``active``/``unknown``, and ``x-codex-subscribe-cursor`` with the last
cursor seen. Requests are answered at once: ``initialize`` with a small result, anything
else with ``{"echo": <params>, "method": <method>}``; ``big`` answers with ``params.size``
bytes of text (chunked on the way out).

:meth:`drop` aborts the TCP connection (no close frame) and the host dials again at once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anyio
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from appserver.remote_control.chunks import Reassembler, split_server_message
from appserver.remote_control.envelopes import (
    Ack,
    ClientClosed,
    ClientMessage,
    ClientMessageChunk,
    Ping,
    Pong,
    PongStatus,
    encode,
    parse_client_envelope,
)
from appserver.remote_control.streams import ReplayBuffer, SeqNumbers


class ScriptedHost:
    def __init__(self, relay_url: str, server_id: str, token: str) -> None:
        self.url = relay_url.replace("http://", "ws://") + "wham/remote/control/server"
        self.server_id = server_id
        self.token = token
        self.seq = SeqNumbers()
        self.replay = ReplayBuffer()
        self.chunks = Reassembler()
        self.inbound_last: dict[tuple[str, str], int] = {}
        self.open_streams: set[tuple[str, str]] = set()
        self.cursor: str | None = None
        self.ws: ClientConnection | None = None
        self.connected = anyio.Event()
        self.links = 0
        #: Every inner message delivered, in order: (client_id, stream_id, payload).
        self.delivered: list[tuple[str, str, dict[str, Any]]] = []
        self.closed_streams: list[tuple[str, str]] = []
        self.handshake_status: int | None = None
        #: Called for each request; return a result (default: the echo) or raise KeyError to not answer.
        self.answer: Callable[[str, str, dict[str, Any]], Any] | None = None
        self._stop = False

    def headers(self) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {self.token}", "x-codex-server-id": self.server_id,
            "x-codex-protocol-version": "3", "x-codex-name": "dm0=", "x-codex-installation-id": "test",
        }
        if self.cursor is not None:
            headers["x-codex-subscribe-cursor"] = self.cursor
        return headers

    async def run(self) -> None:
        """Dial, serve, and dial again after every drop, until :meth:`stop`."""
        while not self._stop:
            try:
                async with connect(self.url, additional_headers=self.headers(), max_size=None) as ws:
                    self.ws = ws
                    self.links += 1
                    for envelope in self.replay.replay():
                        await ws.send(encode(envelope))
                    self.connected.set()
                    async for frame in ws:
                        await self._handle(ws, frame)  # type: ignore[arg-type]
            except InvalidStatus as exc:
                self.handshake_status = exc.response.status_code
                self.connected.set()
                return
            except (ConnectionClosed, OSError):
                pass
            self.connected = anyio.Event()
            self.ws = None
            await anyio.sleep(0.01)

    async def drop(self) -> None:
        """Abort the link like a network failure (the relay sees 1006)."""
        if self.ws is not None:
            self.ws.transport.abort()

    def stop(self) -> None:
        self._stop = True

    async def _send(self, ws: ClientConnection, client_id: str, stream_id: str, message: dict[str, Any]) -> None:
        text = json.dumps(message, separators=(",", ":"))
        for envelope in split_server_message(client_id, stream_id, self.seq.next(client_id, stream_id), text):
            self.replay.record(envelope)
            try:
                await ws.send(encode(envelope))
            except ConnectionClosed:
                return  # replayed on the next link

    async def _handle(self, ws: ClientConnection, frame: str) -> None:
        envelope = parse_client_envelope(frame)
        if envelope.cursor is not None:
            self.cursor = envelope.cursor
        key = (envelope.client_id, envelope.stream_id or "")
        if isinstance(envelope, Ack):
            self.replay.ack(envelope.client_id, key[1], envelope.seq_id or 0, envelope.segment_id)
            return
        if isinstance(envelope, Ping):
            status = PongStatus.ACTIVE if key in self.open_streams else PongStatus.UNKNOWN
            pong = Pong(key[0], key[1], self.seq.next(*key), status)
            self.replay.record(pong)
            await ws.send(encode(pong))
            return
        if isinstance(envelope, ClientClosed):
            self.open_streams.discard(key)
            self.closed_streams.append(key)
            return
        if isinstance(envelope, ClientMessageChunk):
            whole = self.chunks.feed(envelope)
            if whole is None:
                return
            envelope = ClientMessage(whole.client_id, whole.stream_id, whole.seq_id, whole.message)
        assert isinstance(envelope, ClientMessage)
        message = json.loads(envelope.message)
        is_initialize = message.get("method") == "initialize" and "id" in message
        last = self.inbound_last.get(key)
        if not is_initialize and last is not None and envelope.seq_id is not None and envelope.seq_id <= last:
            return  # a redelivered duplicate
        if envelope.seq_id is not None:
            self.inbound_last[key] = envelope.seq_id
        if is_initialize:
            self.open_streams.add(key)
        elif key not in self.open_streams:
            return  # codex ignores traffic on a stream that was never initialized
        self.delivered.append((key[0], key[1], message))
        if "id" not in message or "method" not in message:
            return
        if is_initialize:
            result: Any = {"userAgent": "scripted-host/0.0.0", "platformOs": "linux"}
        elif message["method"] == "big":
            result = {"data": "x" * int(message["params"]["size"])}
        else:
            try:
                result = (self.answer or _echo)(key[0], key[1], message)
            except KeyError:
                return
        await self._send(ws, key[0], key[1], {"id": message["id"], "result": result})

    async def notify(self, client_id: str, stream_id: str, method: str, params: Any) -> None:
        """A notification from the host to one stream."""
        assert self.ws is not None
        await self._send(self.ws, client_id, stream_id, {"method": method, "params": params})


def _echo(client_id: str, stream_id: str, message: dict[str, Any]) -> Any:
    return {"echo": message.get("params"), "method": message["method"]}
