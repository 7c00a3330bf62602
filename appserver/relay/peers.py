"""The direct path between relay nodes (docs/relay.md "Cluster", "The direct path").

The Redis streams of :mod:`appserver.relay.cluster` stay the durable, ordered log of every
frame between a host and its controllers; the direct path is a second, faster copy of the
frames over one WebSocket from each node to each other node, so a message crosses one hop
between nodes instead of two through Redis. Whatever the direct path loses (a node not
connected yet, a socket that dropped, a full queue) the streams still deliver; the
receiving side uses a direct frame only when it is the very next one of its controller
stream, and drops the streams' copy of what it already used (cluster.py says how).

* Every node advertises where it can be reached (``--node-url``, else its listen URL) as
  ``<prefix>:node:<node_id>`` (a TTL of ``RELAY_CLUSTER_NODE_TTL``, refreshed); a node
  listening on a wildcard address without ``--node-url`` has nothing to advertise and takes
  no direct frames (it still sends its own).
* Nodes authenticate each other with the cluster's shared secret
  ``<prefix>:cluster-secret`` (made by the first node; anyone who can read the relay's
  Redis is trusted with the whole relay anyway), as ``Authorization: Bearer`` on
  ``GET /cluster/v1/peer``; compared in constant time, never logged.
* :meth:`Peers.send` never waits: a frame is queued for the peer's socket (bounded by
  ``RELAY_CLUSTER_PEER_QUEUE``) or not sent at all. What is queued is written by a
  callback at the end of the event loop's current step (every frame queued meanwhile in
  ONE socket write, no task woken); only a socket applying backpressure leaves the rest
  to a task that waits for room. The outgoing socket is a ``websockets`` client (its
  sans-I/O framing writes without waiting); the incoming one is the relay's aiohttp server.

Frames are text, fields separated by U+001F: ``u <from node> <server> <client> <stream>
<seq_id> <message>`` (a controller message for the host's owner) and ``m <server> <client>
<stream> <seq_id> <message>`` (a host's ``server_message``, already sliced by the owner, for
the node holding its stream: that node parses no JSON). One WebSocket message carries every
frame queued when it was written, separated by U+001E (a batch), so a burst costs one
write, not one per frame, and the receiving node splits it with two ``str.split`` calls.
No JSON text holds those two control characters (not even as whitespace) and ids are
base64url: a message that does hold one is not sent this way (:func:`fits`; the streams
carry it), and a frame whose fields do not line up is not used.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import secrets
from collections import deque
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import anyio
import anyio.abc
from aiohttp import WSMsgType, web
from redis import asyncio as aioredis
from redis import exceptions as redis_errors
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException
from websockets.protocol import State

from appserver import limits, strings
from appserver.relay.http import HttpError, bearer
from appserver.relay.inline_ws import InlineWebSocketResponse
from appserver.transports.websocket import CLIENT_OPTIONS, write_now

log = logging.getLogger("appserver.relay")

PATH = "/cluster/v1/peer"


def advertised(listen_url: str) -> str | None:
    """The address other nodes can dial for a node listening at ``listen_url``; ``None``
    for a wildcard address (0.0.0.0, ::)."""
    host = urlsplit(listen_url).hostname or ""
    try:
        if ipaddress.ip_address(host).is_unspecified:
            return None
    except ValueError:
        pass
    return listen_url.rstrip("/")


class _Peer:
    """This node's outgoing socket to one other node, and what waits for it."""

    def __init__(self, node_id: str) -> None:
        self.node_id = node_id
        self.queue: deque[str] = deque()
        #: A write is due at the end of the loop's current step (:meth:`Peers._flush`).
        self.flush_due = False
        #: Set when the socket applied backpressure: the peer's task waits for room.
        self.blocked = anyio.Event()
        self.ws: ClientConnection | None = None

    def __repr__(self) -> str:
        return f"<Peer {self.node_id} {'connected' if self.ws is not None else 'not connected'} queued={len(self.queue)}>"


class Peers:
    """This node's direct sockets to the others (outgoing) and its endpoint for theirs."""

    def __init__(self, client: aioredis.Redis, prefix: str, node_id: str,
                 on_frames: Callable[[list[str]], Awaitable[None]],
                 take_frames: Callable[[list[str]], bool]) -> None:
        self.client = client
        self.prefix = prefix
        self.node_id = node_id
        #: A batch from another node, handled by the socket's task (may wait for room)...
        self.on_frames = on_frames
        #: ...or where it was read, when handling it cannot wait (``False``: nothing done).
        self.take_frames = take_frames
        self.secret: str | None = None
        self.url: str | None = None
        self._peers: dict[str, _Peer] = {}
        self._tasks: anyio.abc.TaskGroup | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._advertised = anyio.Event()
        #: Set once the cluster's secret is known: from then on :meth:`send` dials peers.
        self.ready = anyio.Event()
        #: Other nodes' sockets to this one, open now (closed by :meth:`close`).
        self._incoming: set[web.WebSocketResponse] = set()
        #: The node is shutting down: no more sockets to peers are dialled.
        self.closing = False

    def __repr__(self) -> str:
        return f"<Peers node={self.node_id} url={self.url} peers={len(self._peers)}>"

    def _node_key(self, node_id: str) -> str:
        return f"{self.prefix}:node:{node_id}"

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """The shared secret, then the sockets to peers for the life of the node."""
        async with anyio.create_task_group() as tasks:
            task_status.started()
            key = f"{self.prefix}:cluster-secret"
            while self.secret is None:
                try:
                    await self.client.set(key, secrets.token_urlsafe(32), nx=True)
                    self.secret = await self.client.get(key)
                except (OSError, redis_errors.RedisError):
                    await anyio.sleep(limits.RELAY_CLUSTER_RETRY)
            # Kept, not looked up per batch (in CPython 3.11 each lookup is a getpid call).
            self._loop = asyncio.get_running_loop()
            self._tasks = tasks
            self.ready.set()
            tasks.start_soon(self._advertise)
            await anyio.sleep_forever()

    def advertise(self, listen_url: str) -> None:
        """Where this node listens (known once the server is up); nothing for a wildcard."""
        self.url = advertised(listen_url)
        if self.url is None:
            log.info("relay cluster: listening on a wildcard address without --node-url; "
                     "other nodes send here through Redis only")
        self._advertised.set()

    async def _advertise(self) -> None:
        await self._advertised.wait()
        if self.url is None:
            return
        while True:
            try:
                await self.client.set(self._node_key(self.node_id), self.url,
                                      px=int(limits.RELAY_CLUSTER_NODE_TTL * 1000))
            except (OSError, redis_errors.RedisError):
                pass  # the next refresh tries again; the key outlives a few failures
            await anyio.sleep(limits.RELAY_CLUSTER_NODE_REFRESH)

    # --- sending -------------------------------------------------------------------------

    def send(self, node_id: str, frame: str) -> bool:
        """Queue ``frame`` for ``node_id``'s socket; False when it is not connected or full."""
        peer = self._peers.get(node_id)
        if peer is None:
            if self._tasks is None or self.closing:
                return False
            peer = self._peers[node_id] = _Peer(node_id)
            self._tasks.start_soon(self._run_peer, peer)
            return False
        if peer.ws is None or len(peer.queue) >= limits.RELAY_CLUSTER_PEER_QUEUE:
            return False
        peer.queue.append(frame)
        if not peer.flush_due:
            peer.flush_due = True
            assert self._loop is not None  # (set with _tasks, before any peer exists)
            self._loop.call_soon(self._flush, peer)
        return True

    @staticmethod
    def _flush(peer: _Peer) -> None:
        """Write what is queued, in batches of ``RELAY_CLUSTER_READ_BATCH`` frames, each one
        WebSocket message; stops (the peer's task goes on) when the socket is full."""
        peer.flush_due = False
        queue, ws = peer.queue, peer.ws
        while queue and ws is not None:
            count = min(len(queue), limits.RELAY_CLUSTER_READ_BATCH)
            if not write_now(ws, FRAME.join(_first(queue, count))):
                if ws.state is State.OPEN and not ws.transport.is_closing():
                    peer.blocked.set()  # backpressure: the peer's task writes once there is room
                else:
                    queue.clear()  # going away: the streams carry these
                return
            for _ in range(count):
                queue.popleft()

    async def _run_peer(self, peer: _Peer) -> None:
        warned = False
        while not self.closing:
            try:
                url = await self.client.get(self._node_key(peer.node_id))
                if url is None:
                    # Not advertised (yet): that node may still be starting, or be gone, or
                    # listen on a wildcard address; forgotten after one more look.
                    await anyio.sleep(limits.RELAY_CLUSTER_NODE_REFRESH)
                    if await self.client.get(self._node_key(peer.node_id)) is None:
                        del self._peers[peer.node_id]
                        return
                    continue
                ws = await connect(
                    url.replace("http", "ws", 1) + PATH, additional_headers={"Authorization": f"Bearer {self.secret}"},
                    open_timeout=limits.RELAY_CLUSTER_PEER_CONNECT_TIMEOUT,
                    ping_interval=limits.RELAY_CONTROLLER_HEARTBEAT, **CLIENT_OPTIONS,
                )
            except (TimeoutError, WebSocketException, OSError, redis_errors.RedisError) as exc:
                # (a refused or failed handshake, a socket closed during it: tried again)
                if not warned:
                    log.info("relay cluster: no direct socket to node %s yet (%s)", peer.node_id, type(exc).__name__)
                    warned = True
                await anyio.sleep(limits.RELAY_CLUSTER_RETRY)
                continue
            log.info("relay cluster: direct socket to node %s open", peer.node_id)
            warned = False
            peer.ws = ws
            try:
                async with anyio.create_task_group() as tasks:
                    tasks.start_soon(self._unblock, peer, ws)
                    await ws.wait_closed()  # nothing comes this way
                    tasks.cancel_scope.cancel()
            finally:
                peer.ws = None
                peer.queue.clear()
                with anyio.CancelScope(shield=True):
                    await ws.close()
            log.info("relay cluster: direct socket to node %s closed (%s)", peer.node_id, ws.close_code)
            if self.closing:
                return
            await anyio.sleep(limits.RELAY_CLUSTER_RETRY)

    async def _unblock(self, peer: _Peer, ws: ClientConnection) -> None:
        """Writes what waited while the socket applied backpressure, once it has room."""
        while True:
            await peer.blocked.wait()
            peer.blocked = anyio.Event()
            try:
                await ws.drain()
            except OSError:
                return  # closed: wait_closed ends the socket
            self._flush(peer)

    # --- receiving -----------------------------------------------------------------------

    async def handle(self, request: web.Request, on_auth_failure: Callable[[str], None]) -> web.StreamResponse:
        """``GET /cluster/v1/peer``: another node's socket; its frames go to ``take_frames``
        a batch at a time inside the socket's read callback (no task woken per batch), or to
        ``on_frames`` on the socket's task when that could have to wait."""
        try:
            offered = bearer(request)
        except HttpError:
            on_auth_failure("no bearer")
            raise
        if self.secret is None or not hmac.compare_digest(offered.encode(), self.secret.encode()):
            on_auth_failure("wrong cluster secret")
            raise HttpError(401, strings.RELAY_BAD_NODE_SECRET)
        ws = InlineWebSocketResponse(
            max_msg_size=limits.RELAY_HOST_MAX_FRAME_BYTES, compress=False, autoping=True,
            heartbeat=limits.RELAY_CONTROLLER_HEARTBEAT,
        )
        await ws.prepare(request)
        ws.set_text_sink(lambda text: self.take_frames(frames_of(text)))
        self._incoming.add(ws)
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    await self.on_frames(frames_of(msg.data))
                elif msg.type is not WSMsgType.BINARY:
                    break
                ws.message_taken()
        finally:
            self._incoming.discard(ws)
        return ws

    async def close(self) -> None:
        """The node is shutting down: every direct socket, both ways, closed with 1001 (its
        peers send through Redis from then on), and none dialled again. Without it the
        server would wait out its shutdown timeout, twice, for sockets that never end."""
        self.closing = True
        for ws in list(self._incoming):
            await ws.close(code=limits.RELAY_CLOSE_SHUTDOWN, message=strings.RELAY_CLOSE_SHUTDOWN.encode())
        for peer in list(self._peers.values()):
            peer.queue.clear()
            if peer.ws is not None:
                await peer.ws.close(limits.RELAY_CLOSE_SHUTDOWN, strings.RELAY_CLOSE_SHUTDOWN)

    @property
    def connected(self) -> list[str]:
        return [node for node, peer in self._peers.items() if peer.ws is not None]


def _first(queue: deque[str], count: int) -> list[str]:
    return [queue[i] for i in range(count)] if count < len(queue) else list(queue)


#: Between a frame's fields, and between a batch's frames (control characters no JSON
#: text holds).
FIELD = "\x1f"
FRAME = "\x1e"


def fits(message: str) -> bool:
    """``message`` can go in a frame (it holds neither separator)."""
    return FIELD not in message and FRAME not in message


def frame_up(node_id: str, server_id: str, client_id: str, stream_id: str, seq_id: int, text: str) -> str:
    return f"u\x1f{node_id}\x1f{server_id}\x1f{client_id}\x1f{stream_id}\x1f{seq_id}\x1f{text}"


def frame_message(server_id: str, client_id: str, stream_id: str, seq_id: int, message: str) -> str:
    return f"m\x1f{server_id}\x1f{client_id}\x1f{stream_id}\x1f{seq_id}\x1f{message}"


def frames_of(text: str) -> list[str]:
    """The frames of one batch between nodes."""
    return text.split(FRAME)


def batch(frames: list[str]) -> str:
    """Items as one text: ``<length>:<item>`` each (lengths in characters): the form of the
    Redis streams' batch entries (:mod:`appserver.relay.down_batches`), whose items may hold
    anything."""
    return "".join([f"{len(frame)}:{frame}" for frame in frames])


def unbatch(text: str) -> list[str]:
    """The items of one :func:`batch` (a malformed tail is dropped)."""
    frames = []
    at = 0
    while at < len(text):
        colon = text.find(":", at, at + 12)
        if colon < 0 or not _is_count(text[at:colon]):
            break
        end = colon + 1 + int(text[at:colon])
        if end > len(text):
            break
        frames.append(text[colon + 1:end])
        at = end
    return frames


def _is_count(text: str) -> bool:
    # ASCII digits only: str.isdigit() also accepts "²", which int() refuses.
    return text.isascii() and text.isdigit()


def parse_frame(frame: str) -> tuple[str, list[str]] | None:
    """``("u", [node, server, client, stream, seq, message])`` or ``("m", [server, client,
    stream, seq, message])``."""
    parts = frame.split(FIELD)
    kind = parts[0]
    if kind == "m":
        if len(parts) == 6 and _is_count(parts[4]):
            return "m", parts[1:]
    elif kind == "u" and len(parts) == 7 and _is_count(parts[5]):
        return "u", parts[1:]
    return None


