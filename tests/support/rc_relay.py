"""A scripted loopback relay for remote-control tests (aiohttp), speaking codex's host
protocol: the HTTP API of spec/remote-control.md §3/§10 and the host WebSocket of §4.

It records every HTTP request (method, path, query, headers in order, body) and every
envelope, and lets a test play controllers on the host link::

    async with RcTestRelay() as relay:
        ...start a host with relay.base_url...
        link = await relay.wait_link()
        stream = relay.stream("client-1", "stream-1")
        await stream.send_request(1, "initialize", {...})
        answer = await stream.answer(1)

* ``relay.replies[path_suffix]`` is a list of :class:`CannedResponse` served (and removed) before
  the default behaviour, e.g. ``relay.replies["server/refresh"] = [CannedResponse(404)]``.
* Every received server envelope is acked (``relay.auto_ack = False`` stops that).
* Client envelopes carry a ``cursor`` (``relay.cursors``): a host that reconnects with
  ``x-codex-subscribe-cursor: N`` gets every later client envelope again (the host
  de-duplicates by ``seq_id``), so a dropped link loses nothing.
* Replayed server envelopes are de-duplicated per stream by ``(seq_id, segment_id)``.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from aiohttp import WSMsgType, web

from appserver import event_loop, limits
from appserver.relay.frames import FrameWriter
from appserver.remote_control.chunks import split_client_message
from appserver.remote_control.envelopes import Ack, ClientMessage, ServerMessage, encode, parse_server_envelope
from tests.support.client import answer_to, initialize_params, notification_named, wait_for_message

PREFIX = "/backend-api/"
SERVER = PREFIX + "wham/remote/control/server"
NOT_FOUND_SERVER = {"detail": "Remote app server not found"}


@dataclass
class CannedResponse:
    """What the test relay answers an HTTP request with, instead of its own answer."""

    status: int = 200
    body: Any = None  # dict/list -> JSON; str/bytes as is
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class HttpRecord:
    method: str
    path: str
    query: str
    headers: list[tuple[str, str]]
    body: Any

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name), None)

    @property
    def header_names(self) -> list[str]:
        return [k.lower() for k, _ in self.headers]


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


class RelayStream:
    """One controller stream as the relay sees it: sends client envelopes, collects the
    host's messages for it (chunks reassembled, replays dropped)."""

    def __init__(self, relay: RcTestRelay, client_id: str, stream_id: str | None) -> None:
        self.relay = relay
        self.client_id = client_id
        self.stream_id = stream_id
        self.seq = itertools.count(0)
        self.messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.pongs: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.envelopes: list[dict[str, Any]] = []  # every server envelope for this stream
        self._last: tuple[int, int] = (-1, -1)
        self._parts: list[bytes] = []
        self.inbox: list[dict[str, Any]] = []
        #: For a controller WebSocket (``/controller``): this stream's messages as text.
        self.sink: FrameWriter | None = None
        self.opened: asyncio.Future[None] | None = None

    # --- relay -> host
    async def send_message(self, message: dict[str, Any] | str, *, seq_id: int | None = None) -> int:
        text = message if isinstance(message, str) else json.dumps(message, separators=(",", ":"))
        seq = next(self.seq) if seq_id is None else seq_id
        await self.relay.send_client({"type": "client_message", "client_id": self.client_id,
                                      "stream_id": self.stream_id, "seq_id": seq,
                                      "message": json.loads(text)})
        return seq

    async def send_chunked(self, message: dict[str, Any]) -> int:
        """A message as ``client_message_chunk`` envelopes when it is over 150 KiB (the
        shared chunker cuts it as codex's relay side would)."""
        seq = next(self.seq)
        text = json.dumps(message, separators=(",", ":"))
        assert self.stream_id is not None
        for envelope in split_client_message(self.client_id, self.stream_id, seq, text):
            await self.relay.send_client(json.loads(encode(envelope)))
        return seq

    async def send_request(self, request_id: Any, method: str, params: Any = None) -> int:
        msg: dict[str, Any] = {"id": request_id, "method": method}
        if params is not None:
            msg["params"] = params
        return await self.send_message(msg)

    async def initialize(self, name: str = "phone", *, experimental: bool = True) -> dict[str, Any]:
        await self.send_request(1, "initialize", initialize_params(name, experimental=experimental))
        answer = await self.answer(1)
        await self.send_message({"method": "initialized"})
        return answer

    async def ping(self) -> None:
        await self.relay.send_client({"type": "ping", "client_id": self.client_id, "stream_id": self.stream_id})

    async def close(self) -> None:
        await self.relay.send_client({"type": "client_closed", "client_id": self.client_id, "stream_id": self.stream_id})

    # --- host -> relay
    def _on_envelope(self, env: dict[str, Any]) -> None:
        self.envelopes.append(env)
        key = (env["seq_id"], env.get("segment_id", 0))
        if key <= self._last:
            self.relay.duplicates += 1
            return
        self._last = key
        kind = env["type"]
        if self.opened is not None and not self.opened.done() and kind == "server_message":
            self.opened.set_result(None)  # the initialize answer of a /bench/streams stream
            return
        if self.sink is not None and kind == "server_message":
            return  # (the fast path forwards these)
        if kind == "pong":
            self.pongs.put_nowait(env)
        elif kind == "server_message":
            self.messages.put_nowait(env["message"])
        elif kind == "server_message_chunk":
            self._parts.append(base64.b64decode(env["message_chunk_base64"]))
            if env["segment_id"] == env["segment_count"] - 1:
                raw = b"".join(self._parts)
                self._parts = []
                assert len(raw) == env["message_size_bytes"]
                self.messages.put_nowait(json.loads(raw))

    async def recv(self, timeout: float = 60.0) -> dict[str, Any]:
        if self.inbox:
            return self.inbox.pop(0)
        return await asyncio.wait_for(self.messages.get(), timeout)

    async def wait_for(self, predicate: Any, timeout: float = 60.0) -> dict[str, Any]:
        return await wait_for_message(self.inbox, self.messages.get, predicate, timeout)

    async def answer(self, request_id: Any, timeout: float = 60.0) -> dict[str, Any]:
        return await self.wait_for(answer_to(request_id), timeout)

    async def notification(self, method: str, timeout: float = 60.0) -> dict[str, Any]:
        return await self.wait_for(notification_named(method), timeout)


class RcTestRelay:
    """The loopback relay. ``async with RcTestRelay() as relay``."""

    def __init__(self, *, token_ttl: float = 3600.0) -> None:
        self.token_ttl = token_ttl
        self.http: list[HttpRecord] = []
        self.replies: dict[str, list[CannedResponse]] = defaultdict(list)
        self.handshakes: list[HttpRecord] = []
        self.received: list[str] = []  # every server envelope text, in order
        self.sent: list[str] = []  # every client envelope text, in order
        self.auto_ack = True
        self.cursors = True
        self.duplicates = 0
        self.servers: dict[str, str] = {}  # server_id -> environment_id
        self.tokens: dict[str, str] = {}  # host token -> server_id
        self.pairings: dict[str, bool] = {}
        self.clients: list[dict[str, Any]] = []
        self.links = 0
        self._history: list[tuple[int, dict[str, Any]]] = []
        self._cursor = itertools.count(1)
        self._ids = itertools.count(1)
        self._ws: web.WebSocketResponse | None = None
        self._frames: FrameWriter | None = None
        self._link_up = asyncio.Event()
        self._streams: dict[tuple[str, str | None], RelayStream] = {}
        self._sinks = 0
        #: The /controller fast path: acks due (newest seq per stream) and how many
        #: envelopes they cover; messages waiting for this loop iteration's write per sink.
        self._pending_acks: dict[tuple[str, str], int] = {}
        self._acks_due = 0
        self._ack_timer: asyncio.TimerHandle | None = None
        self._ack_soon = False
        self._to_sinks: dict[FrameWriter, list[str]] = {}
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PREFIX}"

    async def __aenter__(self) -> RcTestRelay:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self._ws is not None:
            await self._ws.close()
        assert self._runner is not None
        await self._runner.cleanup()

    def stream(self, client_id: str, stream_id: str | None) -> RelayStream:
        key = (client_id, stream_id)
        if key not in self._streams:
            self._streams[key] = RelayStream(self, client_id, stream_id)
        return self._streams[key]

    def requests(self, suffix: str) -> list[HttpRecord]:
        return [r for r in self.http if r.path.endswith(suffix)]

    # --- HTTP
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        record = HttpRecord(request.method, request.raw_path.split("?")[0], request.raw_path.partition("?")[2], list(request.headers.items()), body)
        if request.path == SERVER and request.headers.get("upgrade", "").lower() == "websocket":
            self.handshakes.append(record)
            return await self._websocket(request)
        if request.path == "/controller":
            return await self._controller(request)
        if request.path == "/bench/streams":
            return await self._bench_streams(request)
        self.http.append(record)
        for suffix, queue in self.replies.items():
            if queue and request.path.endswith(suffix):
                return self._reply(queue.pop(0))
        path = request.path
        if path == SERVER + "/enroll":
            n = next(self._ids)
            server_id, env_id = f"srv_e_stub{n}", f"env_stub{n}"
            self.servers[server_id] = env_id
            return self._json(self._token_for(server_id))
        if path == SERVER + "/refresh":
            server_id = (body or {}).get("server_id")
            if server_id not in self.servers:
                return self._json({"detail": "not found"}, 404)
            return self._json(self._token_for(server_id))
        if path == SERVER + "/pair":
            server_id = self._host(request)
            if server_id is None:
                return self._json({"detail": "unauthorized"}, 401)
            n = next(self._ids)
            code, manual = f"pair-code-{n}", (f"MANU-{n:04d}" if (body or {}).get("manual_code") else None)
            self.pairings[code] = False
            if manual:
                self.pairings[manual] = False
            return self._json({"pairing_code": code, "manual_pairing_code": manual, "server_id": server_id,
                               "environment_id": self.servers[server_id],
                               "expires_at": _iso(datetime.now(timezone.utc) + timedelta(minutes=10))})
        if path == SERVER + "/pair/status":
            if self._host(request) is None:
                return self._json({"detail": "unauthorized"}, 401)
            code = (body or {}).get("pairing_code") or (body or {}).get("manual_pairing_code")
            if code not in self.pairings:
                return self._json({"detail": "pairing code not found"}, 404)
            return self._json({"claimed": self.pairings[code]})
        if "/wham/remote/control/environments/" in path and path.endswith("/clients") and request.method == "GET":
            return self._json({"items": self.clients, "cursor": None})
        if "/wham/remote/control/environments/" in path and request.method == "DELETE":
            return web.Response(status=204)
        return self._json({"detail": "Not Found"}, 404)

    def _token_for(self, server_id: str) -> dict[str, Any]:
        token = f"rc-token-{next(self._ids)}"
        self.tokens[token] = server_id
        expires = datetime.now(timezone.utc) + timedelta(seconds=self.token_ttl)
        return {"server_id": server_id, "environment_id": self.servers[server_id],
                "remote_control_token": token, "expires_at": _iso(expires)}

    def _host(self, request: web.Request) -> str | None:
        auth = request.headers.get("authorization", "")
        return self.tokens.get(auth.removeprefix("Bearer "))

    @staticmethod
    def _json(obj: Any, status: int = 200) -> web.Response:
        return web.Response(status=status, text=json.dumps(obj, separators=(",", ":")), content_type="application/json")

    def _reply(self, reply: CannedResponse) -> web.Response:
        if isinstance(reply.body, (dict, list)):
            text = json.dumps(reply.body, separators=(",", ":"))
            return web.Response(status=reply.status, text=text, content_type="application/json", headers=reply.headers)
        body = reply.body.encode() if isinstance(reply.body, str) else (reply.body or b"")
        return web.Response(status=reply.status, body=body, headers=reply.headers)

    # --- the host link
    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        for suffix in ("server",):
            queue = self.replies.get("ws")
            if queue:
                return self._reply(queue.pop(0))
        server_id = self._host(request)
        if server_id is None:
            return self._json({"detail": "unauthorized"}, 401)
        if request.headers.get("x-codex-server-id") != server_id:
            return self._json(NOT_FOUND_SERVER, 404)
        ws = web.WebSocketResponse(autoping=True, max_msg_size=4 * 1024 * 1024)
        frames = await FrameWriter.prepare(ws, request)
        if self._ws is not None:
            await self._ws.close()
        cursor = request.headers.get("x-codex-subscribe-cursor")
        if cursor is not None and self.cursors:
            # Resend everything after the host's cursor, then go live with no await in
            # between the last check and publishing the socket (nothing slips through).
            sent = int(cursor)
            while pending := [(n, env) for n, env in self._history if n > sent]:
                for n, env in pending:
                    await ws.send_str(json.dumps(env, separators=(",", ":")))
                    sent = n
        self._ws = ws
        self._frames = frames
        self.links += 1
        self._link_up.set()
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                if self._fast_path(msg.data):
                    continue
                self.received.append(msg.data)
                env = json.loads(msg.data)
                if self.auto_ack and env["type"] in ("server_message", "server_message_chunk", "pong"):
                    ack = {"type": "ack", "client_id": env["client_id"], "stream_id": env["stream_id"], "seq_id": env["seq_id"]}
                    if env["type"] == "server_message_chunk":
                        ack["segment_id"] = env["segment_id"]
                    await ws.send_str(json.dumps(ack))
                self.stream(env["client_id"], env["stream_id"])._on_envelope(env)
        finally:
            if self._ws is ws:
                self._ws = None
                self._frames = None
                self._link_up.clear()
                self._pending_acks.clear()
                self._acks_due = 0
        return ws

    # --- a minimal controller side (benchmarks): one WebSocket per stream, plain JSON-RPC
    async def _controller(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        sink = await FrameWriter.prepare(ws, request)
        stream = self.stream(f"ctl-{next(self._ids)}", f"stream-{next(self._ids)}")
        stream.sink = sink
        self._sinks += 1
        async for msg in ws:
            frames = self._frames
            if msg.type is WSMsgType.TEXT and frames is not None:
                # As is, through the shared envelope codec (the relay never re-serialises),
                # with the acks due in the same write.
                seq = next(stream.seq)
                texts = self._take_acks()
                texts.append(encode(ClientMessage(stream.client_id, stream.stream_id, seq, msg.data)))
                try:
                    frames.write(texts)
                    await frames.drain()
                except ConnectionError:
                    pass
        return ws

    async def _bench_streams(self, request: web.Request) -> web.Response:
        """``POST /bench/streams?n=N``: open N idle streams (initialize each) and wait for
        every initialize answer."""
        n = int(request.query.get("n", "1"))
        loop = asyncio.get_running_loop()
        waits = []
        for _ in range(n):
            stream = self.stream(f"idle-{next(self._ids)}", f"stream-{next(self._ids)}")
            stream.opened = loop.create_future()
            waits.append(stream.opened)
            await stream.send_request(1, "initialize", {"clientInfo": {"name": "idle", "title": None, "version": "1"},
                                                         "capabilities": {"experimentalApi": True}})
        await asyncio.wait_for(asyncio.gather(*waits), 300)
        return self._json({"opened": n})

    def _fast_path(self, text: str) -> bool:
        """A ``server_message`` for a ``/controller`` stream: its message text (as is: the
        shared envelope codec, no re-serialising) is written to the controller socket with
        the others of this loop iteration in one write, and its ack is due (see
        :meth:`_due`). False for anything else."""
        if not self._sinks:
            return False
        envelope = parse_server_envelope(text)
        stream = self._streams.get((envelope.client_id, envelope.stream_id))
        if stream is None or stream.sink is None or not isinstance(envelope, ServerMessage):
            return False
        self._due(envelope.client_id, envelope.stream_id, envelope.seq_id)
        if envelope.seq_id <= stream._last[0]:
            return True  # a replay of what it already got: acked, not delivered again
        stream._last = (envelope.seq_id, 0)
        pending = self._to_sinks.get(stream.sink)
        if pending is None:
            if not self._to_sinks:
                asyncio.get_running_loop().call_soon(self._write_sinks)
            pending = self._to_sinks[stream.sink] = []
        pending.append(envelope.message)
        return True

    def _write_sinks(self) -> None:
        batches, self._to_sinks = self._to_sinks, {}
        for sink, texts in batches.items():
            try:
                sink.write(texts)  # (a benchmark's controller keeps up: no backpressure here)
            except ConnectionError:
                pass

    def _due(self, client_id: str, stream_id: str, seq_id: int) -> None:
        """An ack is due: it rides with the next client message, or goes out on its own
        with the others once RELAY_ACK_EVERY are due or RELAY_ACK_DELAY after the first
        (the product relay's policy, appserver.relay.host_link)."""
        self._pending_acks[(client_id, stream_id)] = seq_id
        self._acks_due += 1
        if self._acks_due >= limits.RELAY_ACK_EVERY:
            if not self._ack_soon:
                self._ack_soon = True
                asyncio.get_running_loop().call_soon(self._flush_acks)
        elif self._ack_timer is None:
            self._ack_timer = asyncio.get_running_loop().call_later(limits.RELAY_ACK_DELAY, self._ack_delay_over)

    def _take_acks(self) -> list[str]:
        pending, self._pending_acks = self._pending_acks, {}
        self._acks_due = 0
        return [encode(Ack(client_id, stream_id, seq_id)) for (client_id, stream_id), seq_id in pending.items()]

    def _ack_delay_over(self) -> None:
        self._ack_timer = None  # (never cancelled: one timer per delay at most)
        self._flush_acks()

    def _flush_acks(self) -> None:
        self._ack_soon = False
        frames = self._frames
        acks = self._take_acks()
        if acks and frames is not None:
            try:
                frames.write(acks)
            except ConnectionError:
                pass

    async def wait_link(self, timeout: float = 60.0) -> None:
        await asyncio.wait_for(self._link_up.wait(), timeout)

    async def send_client(self, envelope: dict[str, Any]) -> None:
        """Send a client envelope (with a cursor) on the link; kept for cursor resume."""
        envelope = {k: v for k, v in envelope.items() if v is not None}
        if self.cursors:
            n = next(self._cursor)
            envelope["cursor"] = str(n)
            self._history.append((n, envelope))
        text = json.dumps(envelope, separators=(",", ":"))
        self.sent.append(text)
        ws = self._ws
        if ws is not None and not ws.closed:
            try:
                await ws.send_str(text)
            except (ConnectionError, RuntimeError):
                pass

    async def send_raw(self, text: str) -> None:
        assert self._ws is not None
        await self._ws.send_str(text)

    async def drop(self) -> None:
        """Close the host link (the host reconnects)."""
        ws = self._ws
        if ws is not None:
            self._ws = None
            self._link_up.clear()
            await ws.close()


async def _main(port: int) -> None:
    relay = RcTestRelay()
    relay.cursors = False  # a long-running relay keeps no history
    relay.port = port
    async with relay:
        import sys

        print(f"rc test relay listening on: {relay.base_url}", file=sys.stderr, flush=True)
        await asyncio.Event().wait()


def main() -> None:
    """``python -m tests.support.rc_relay [--port N]``: serve until killed (benchmarks)."""
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    # On the gateway's event loop (uvloop where installed), like the relay it stands for.
    event_loop.run(_main, args.port, env=os.environ)


if __name__ == "__main__":
    main()
