"""Routing between relay nodes through Redis (docs/relay.md "Cluster").

Every node of a cluster shares one Redis (``--redis``). A host's link lands on one node: that
node takes the host's lease (:mod:`appserver.relay.lease`) and is its *owner*. Controllers
of that host may be on any node. Traffic between them goes through two **Redis streams**
per host, never straight from node to node:

* ``<prefix>:up:<server_id>`` — controller -> host. The node holding a controller stream
  appends every frame (``client_message``, ``ping``, ``client_closed``) with the stream's
  next ``seq_id`` (batches of them per entry: :mod:`appserver.relay.up_batches`); the owner
  reads the stream in order and writes the envelopes to the host, each carrying a
  ``cursor`` that names its entry and row. The host echoes its latest
  cursor when it reconnects (``x-codex-subscribe-cursor``), to whichever node: the new
  owner goes on right after it, so nothing is lost or sent twice, and the host's own
  per-stream ``seq_id`` de-duplication covers the rest (spec/remote-control.md §4.3, §4.5).
* ``<prefix>:down:<server_id>`` — host -> controllers. The owner appends the envelopes as
  received (batches of them per entry: :mod:`appserver.relay.down_batches`) and acks each
  to the host only once Redis has it; every node that follows the
  host reads the stream, drops replays (:class:`~appserver.remote_control.streams.ReplayFilter`,
  a host resends unacked envelopes after reconnecting), reassembles chunks and hands
  messages to its own controller streams.

Why streams and not pub/sub: pub/sub forgets a message nobody is subscribed to at that
instant — exactly what happens while a host moves from a dead owner to a new one, or while
a node's connection to Redis blips. Streams keep entries (bounded: ``RELAY_HOST_REDELIVERY_*``
as on one node), give them a total order per host and ids that mean the same on every
node, so a cursor handed to the host by one node is understood by the next. Pub/sub
(``<prefix>:events``) only carries notices whose loss a periodic check repairs: host
online/offline (leases are polled every ``RELAY_CLUSTER_RECONCILE_INTERVAL``) and
revocations (the store's change marker is polled too).

Both streams are also written and read *behind* a faster copy of the traffic sent straight
from node to node (:mod:`appserver.relay.peers`, "the direct path"): the owner writes a
controller frame from it when it is the stream's next ``seq_id`` on the host's link, with
the newest cursor the owner has itself read from the up stream (never an ``initialize``,
which a host takes again whatever its ``seq_id``); a node hands a host message from it to
its controller stream when it is the next ``seq_id`` after what the stream has. The streams'
copies of what the direct path delivered are skipped; what it did not deliver comes from
the streams in order, so exactly-once and order rest on the streams alone.

Controller streams stay on the node that opened them (a resume must reach the same node:
balance controller sockets with affinity, docs/relay.md); the host link may move freely.
"""

from __future__ import annotations

import logging
import math
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
from prometheus_client import Counter, Gauge
from redis import asyncio as aioredis

from appserver import limits
from appserver.relay import down_batches, up_batches
from appserver.relay.cluster_host import REDIS_FAILED, ClusterHostLink, StreamWriter, UpThroughRedis
from appserver.relay.lease import Lease, Leases
from appserver.relay.peers import PATH as PEER_PATH
from appserver.relay.peers import Peers, fits, frame_message, frame_up, parse_frame
from appserver.remote_control.chunks import ChunkError, Reassembler
from appserver.remote_control.envelopes import (
    EnvelopeError,
    Pong,
    PongStatus,
    ServerMessage,
    ServerMessageChunk,
    parse_server_envelope,
)
from appserver.remote_control.streams import ReplayFilter

if TYPE_CHECKING:
    from aiohttp import web

    from appserver.relay.host_link import HostState
    from appserver.relay.hub import Relay
    from appserver.relay.metrics import RelayMetrics
    from appserver.relay.streams import ControllerStream

log = logging.getLogger("appserver.relay")


class ClusterMetrics:
    """Per-node cluster series, in the relay's registry (docs/relay.md "Metrics")."""

    def __init__(self, relay_metrics: RelayMetrics) -> None:
        registry = relay_metrics.registry
        self.owned_hosts = Gauge(
            "appserver_relay_cluster_owned_hosts", "Hosts whose lease (and link) this node holds.",
            registry=registry,
        )
        self.forwarded = Counter(
            "appserver_relay_cluster_forwarded_messages",
            "Envelopes this node passed through Redis: to_host (appended for an owner), "
            "from_controllers (read and written to a host it owns), to_controllers (appended from "
            "a host it owns), from_host (read and handed to its controller streams); "
            "direct_to_host and direct_to_controllers: frames used from the direct path between "
            "nodes, ahead of their copy in Redis.",
            ["direction"], registry=registry,
        )
        # The per-message ones, looked up once and counted in tallies (see RelayMetrics).
        per_message = relay_metrics.tally
        self.direct_to_host = per_message(self.forwarded.labels("direct_to_host"))
        self.direct_to_controllers = per_message(self.forwarded.labels("direct_to_controllers"))
        self.from_host = per_message(self.forwarded.labels("from_host"))
        self.from_controllers = per_message(self.forwarded.labels("from_controllers"))
        self.to_host = per_message(self.forwarded.labels("to_host"))
        self.to_controllers = per_message(self.forwarded.labels("to_controllers"))
        #: The tally of each direction, for the stream writers.
        self.forwarded_to = {"to_host": self.to_host, "to_controllers": self.to_controllers}
        self.lease_changes = Counter(
            "appserver_relay_cluster_lease_changes",
            "Host leases acquired, taken over from another node, released, or lost.",
            ["change"], registry=registry,
        )
        self.redis_errors = Counter(
            "appserver_relay_cluster_redis_errors", "Redis operations of the routing that failed.",
            registry=registry,
        )


class RemoteLink(UpThroughRedis):
    """What ``relay.links`` holds for a host owned by **another** node: controller traffic
    goes into the host's up stream, for the owner to send."""

    closed = False

    def __init__(self, cluster: Cluster, server_id: str, owner: str, epoch: int) -> None:
        self.cluster = cluster
        self.server_id = server_id
        self.owner = owner
        self.epoch = epoch

    def __repr__(self) -> str:
        return f"<RemoteLink {self.server_id} owner={self.owner} epoch={self.epoch}>"

    async def close(self, code: int, reason: str) -> None:
        """The host's socket is on another node; nothing to close here."""

    async def close_removed(self) -> None:
        self.cluster.drop_link(self.server_id, self)

    async def close_shutdown(self) -> None:
        pass


class _Follower:
    """One node's reading of one host's down stream."""

    def __init__(self, server_id: str, start: str) -> None:
        self.server_id = server_id
        self.last = start
        self.replay = ReplayFilter()
        self.chunks = Reassembler(per_stream=True)
        self.scope = anyio.CancelScope()
        #: Set when a direct message had to wait for the stream: read it now, not after the lag.
        self.behind = anyio.Event()

    def __repr__(self) -> str:
        return f"<Follower {self.server_id} at {self.last}>"



class Cluster:
    """This node's part of the cluster: leases, the two streams per host, events."""

    def __init__(self, relay: Relay, client: aioredis.Redis, prefix: str, *, node_id: str | None = None) -> None:
        self.relay = relay
        self.client = client
        #: Blocking reads get their own connections (a pool without a command timeout).
        self.reader = aioredis.Redis(connection_pool=aioredis.ConnectionPool(
            **{**client.connection_pool.connection_kwargs, "socket_timeout": None},
            connection_class=client.connection_pool.connection_class,
        ))
        self.prefix = prefix
        self.node_id = node_id or secrets.token_hex(4)
        self.channel = f"{prefix}:events"
        self.leases = Leases(client, prefix, self.node_id, self.channel)
        self.peers = Peers(client, prefix, self.node_id, self._peer_frames, self._peer_frames_now)
        self.metrics = ClusterMetrics(relay.metrics)
        #: server_id -> the link this node owns.
        self.owned: dict[str, ClusterHostLink] = {}
        self.followers: dict[str, _Follower] = {}
        #: server_id -> this node's ordered writer into the host's up stream.
        self.senders: dict[str, StreamWriter] = {}
        #: server_id -> (owner, epoch) last applied here.
        self.owners: dict[str, tuple[str, int]] = {}
        self._tasks: anyio.abc.TaskGroup | None = None
        #: (entries of up to RELAY_CLUSTER_WRITE_BATCH frames, appserver.relay.up_batches: at
        #: least as many frames as one node keeps; a burst's fill entries, so up to 32 times that)
        self._up_len = limits.RELAY_HOST_REDELIVERY_ENVELOPES
        #: (entries of up to RELAY_CLUSTER_WRITE_BATCH envelopes: appserver.relay.down_batches)
        self._down_len = limits.RELAY_HOST_REDELIVERY_ENVELOPES // limits.RELAY_CLUSTER_WRITE_BATCH

    def __repr__(self) -> str:
        return f"<Cluster node={self.node_id} owned={len(self.owned)} following={len(self.followers)}>"

    def key(self, kind: str, server_id: str) -> str:
        return f"{self.prefix}:{kind}:{server_id}"

    def spawn(self, work: Callable[[], Awaitable[None]]) -> None:
        """A task for the life of the node (writers into the hosts' up streams)."""
        assert self._tasks is not None, "the cluster is not running"
        self._tasks.start_soon(work)

    def make_link(self, relay: Relay, state: HostState, ws: web.WebSocketResponse, peer: str) -> ClusterHostLink:
        """``relay.link_factory``: host links on this node are cluster links."""
        return ClusterHostLink(self, relay, state, ws, peer)

    def add_routes(self, app: web.Application) -> None:
        """The other nodes' direct sockets (:mod:`appserver.relay.peers`)."""
        app.router.add_get(PEER_PATH, self._peer_socket)

    async def _peer_socket(self, request: web.Request) -> web.StreamResponse:
        peer = self.relay.peer(request)
        return await self.peers.handle(request, lambda why: self.relay.auth_failure("node", peer, "cluster", why))

    # --- running -------------------------------------------------------------------------

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """The node's background work; ready (``task_status``) before any link can arrive."""
        log.info("relay cluster node %s", self.node_id)
        try:
            async with anyio.create_task_group() as tasks:
                self._tasks = tasks
                await tasks.start(self.peers.run)
                tasks.start_soon(self._listen)
                tasks.start_soon(self._reconcile_loop)
                task_status.started()
        finally:
            with anyio.CancelScope(shield=True):
                await self.reader.aclose()

    async def _listen(self) -> None:
        """Events from every node; after any (re)subscription, a full check."""
        warned = False
        while True:
            try:
                async with self.client.pubsub() as pubsub:
                    await pubsub.subscribe(self.channel)
                    warned = False
                    await self.reconcile()
                    while True:
                        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                        if message is not None:
                            await self._event(str(message["data"]))
            except REDIS_FAILED as exc:
                self.metrics.redis_errors.inc()
                if not warned:
                    log.warning("relay cluster: Redis events unavailable (%s); retrying", type(exc).__name__)
                    warned = True
                await anyio.sleep(limits.RELAY_CLUSTER_RETRY)

    async def _event(self, text: str) -> None:
        kind, _, rest = text.partition(" ")
        args = rest.split(" ")
        if kind == "online" and len(args) == 3 and args[2].isdigit():
            await self._online(args[0], args[1], int(args[2]))
        elif kind == "offline" and len(args) == 2:
            await self._offline(args[0], args[1])
        elif kind == "revoke" and args[0]:
            await self.relay.device_revoked(args[0])
        elif kind == "server-removed" and args[0]:
            await self.relay.server_removed(args[0])
            self._unfollow(args[0])

    async def _reconcile_loop(self) -> None:
        while True:
            await anyio.sleep(limits.RELAY_CLUSTER_RECONCILE_INTERVAL)
            try:
                await self.reconcile()
            except REDIS_FAILED as exc:
                self.metrics.redis_errors.inc()
                log.debug("relay cluster: check failed (%s)", type(exc).__name__)

    async def reconcile(self) -> None:
        """Make ``relay.links`` agree with the leases for every host this node cares about."""
        hosts = {s.server_id for s in self.relay.streams.values()} | set(self.followers) | set(self.owners)
        for server_id in hosts:
            before = self.owners.get(server_id)
            owner = await self.leases.owner(server_id)
            if self.owners.get(server_id) != before:
                continue  # a notice arrived while reading: it is newer than what was read
            if owner is None:
                await self._offline(server_id, None)
            else:
                await self._online(server_id, owner[0], owner[1])

    # --- host online / offline -----------------------------------------------------------

    async def _online(self, server_id: str, node: str, epoch: int) -> None:
        await self._follow(server_id)
        # (Read after the wait: a notice of the same change handled meanwhile is not told twice.)
        known = self.owners.get(server_id)
        if known is not None and known[1] > epoch:
            return  # an older notice arriving late
        relay = self.relay
        link = relay.links.get(server_id)
        was_online = link is not None
        if node == self.node_id:
            if not isinstance(link, ClusterHostLink) or link.lease is None or link.lease.epoch != epoch:
                return  # our link went away meanwhile; its lease is released or expires
        else:
            if isinstance(link, ClusterHostLink):
                relay.links[server_id] = RemoteLink(self, server_id, node, epoch)
                await link.replaced()
            elif not (isinstance(link, RemoteLink) and (link.owner, link.epoch) == (node, epoch)):
                relay.links[server_id] = RemoteLink(self, server_id, node, epoch)
        self.owners[server_id] = (node, epoch)
        if known == (node, epoch) and was_online:
            return
        log.info("host %s is online on node %s (epoch %d)", server_id, node, epoch)
        current = relay.links[server_id]
        for stream in relay.streams_of_server(server_id):
            if not was_online:
                stream.host_state(True)
            # What waited first: a stream whose initialize was held is new to the host until then.
            await stream.flush_waiting()
            if stream.initialized and known is not None:
                # The host may have restarted: a pong "unknown" ends what it lost (4002).
                await current.send_ping(stream)

    async def _offline(self, server_id: str, node: str | None) -> None:
        relay = self.relay
        link = relay.links.get(server_id)
        if isinstance(link, ClusterHostLink):
            return  # ours: the link's own end tells its streams
        if node is not None and isinstance(link, RemoteLink) and link.owner != node:
            return  # a notice about an owner that was already replaced
        self.owners.pop(server_id, None)
        if isinstance(link, RemoteLink):
            del relay.links[server_id]
            log.info("host %s is offline", server_id)
            for stream in relay.streams_of_server(server_id):
                stream.host_state(False)

    def drop_link(self, server_id: str, link: RemoteLink) -> None:
        if self.relay.links.get(server_id) is link:
            del self.relay.links[server_id]
        self.owners.pop(server_id, None)
        self._unfollow(server_id)

    # --- leases (owner side) -------------------------------------------------------------

    async def take_lease(self, link: ClusterHostLink, server_id: str) -> Lease:
        lease = await self.leases.acquire(server_id)
        link.lease = lease
        self.owned[server_id] = link
        self.metrics.owned_hosts.set(len(self.owned))
        change = "acquired" if lease.previous_node in (None, self.node_id) else "taken_over"
        self.metrics.lease_changes.labels(change).inc()
        log.info("host %s: lease %s by node %s (epoch %d%s)", server_id, change.replace("_", " "), self.node_id,
                 lease.epoch, f", was node {lease.previous_node}" if lease.previous_node else "")
        await self._online(server_id, self.node_id, lease.epoch)
        return lease

    async def lease_ended(self, link: ClusterHostLink) -> None:
        if self.owned.get(link.server_id) is link:
            del self.owned[link.server_id]
            self.metrics.owned_hosts.set(len(self.owned))
        if link.lease is None:
            return
        try:
            if await self.leases.release(link.lease):
                self.metrics.lease_changes.labels("released").inc()
        except REDIS_FAILED as exc:
            self.metrics.redis_errors.inc()
            log.warning("host %s: lease not released (%s); it expires by itself", link.server_id, type(exc).__name__)

    async def up_position(self, server_id: str, cursor: tuple[str, int | None] | None) -> tuple[str, int | None]:
        """Where the owner starts reading controller traffic: right after the host's cursor
        (an entry, or a row inside one) when it is one of ours, else after the newest entry
        (a host without our cursor never had any of them; a restarted host must not get its
        old streams' frames)."""
        if cursor is not None:
            return cursor
        newest = await self.client.xrevrange(self.key("up", server_id), "+", "-", count=1)
        return (newest[0][0] if newest else "0-0"), None

    # --- controller -> host --------------------------------------------------------------

    async def send_up_message(self, server_id: str, stream: ControllerStream, text: str) -> bool:
        """:meth:`send_up_message_nowait`, then, when this node owns the host, a wait while
        the host's socket applies backpressure."""
        if not self.send_up_message_nowait(server_id, stream, text):
            return False
        link = self.relay.links.get(server_id)
        if isinstance(link, ClusterHostLink):
            await link.drain()
        return True

    def send_up_message_nowait(self, server_id: str, stream: ControllerStream, text: str) -> bool:
        """Number the frame (the stream's node numbers its frames, so the numbers survive a
        change of owner) and queue it; False when the queue is full (the stream holds it like
        an offline host's frame: answered after the wait, or sent later). Never waits."""
        seq_id = stream.next_seq
        client_id, stream_id = stream.client_id, stream.stream_id
        writer = self.senders.get(server_id) or self._sender(server_id)
        if not writer.put(("m", client_id, stream_id, seq_id, text)):
            log.warning("controller %s/%s: frame held (the queue to Redis is full)", client_id, stream_id)
            return False
        stream.next_seq = seq_id + 1
        # And the direct path, ahead of the up stream's copy; never an initialize (a host
        # takes it again whatever its seq_id: it must come once, in the up stream's order).
        if seq_id == 0 or '"initialize"' in text:
            writer.urgent()
            return True
        link = self.relay.links.get(server_id)
        if type(link) is RemoteLink:
            direct = fits(text) and self.peers.send(
                link.owner, frame_up(self.node_id, server_id, client_id, stream_id, seq_id, text))
        elif isinstance(link, ClusterHostLink):
            direct = link.take_direct(self.node_id, client_id, stream_id, seq_id, text)
        else:
            direct = False
        if not direct:
            writer.urgent()
        return True

    def send_up(self, server_id: str, kind: str, client_id: str, stream_id: str) -> None:
        """Queue a controller stream's ping (``p``) or close (``c``) for the host's up stream,
        after what the stream queued before; written at once (they go through Redis only)."""
        writer = self.senders.get(server_id) or self._sender(server_id)
        if not writer.put((kind, client_id, stream_id, None, "")):
            log.warning("controller %s/%s: frame held (the queue to Redis is full)", client_id, stream_id)
            return
        writer.urgent()

    def _sender(self, server_id: str) -> StreamWriter:
        """This node's ordered writer into the host's up stream, started on first use."""
        writer = self.senders[server_id] = StreamWriter(
            self, self.key("up", server_id), self._up_len, "to_host", limits.RELAY_CLUSTER_UP_WRITE_BATCH,
            up_batches.pack)
        self.spawn(writer.run)
        return writer

    # --- host -> controllers -------------------------------------------------------------

    async def _follow(self, server_id: str) -> None:
        if server_id in self.followers or self._tasks is None:
            return
        # Registered before the first await: two notices about one host start one reader.
        follower = self.followers[server_id] = _Follower(server_id, "$")
        try:
            newest = await self.client.xrevrange(self.key("down", server_id), "+", "-", count=1)
        except BaseException:
            del self.followers[server_id]
            raise
        follower.last = newest[0][0] if newest else "0-0"
        self._tasks.start_soon(self._read_down, follower)

    def _unfollow(self, server_id: str) -> None:
        follower = self.followers.pop(server_id, None)
        if follower is not None:
            follower.scope.cancel()

    async def _read_down(self, follower: _Follower) -> None:
        key = self.key("down", follower.server_id)
        with follower.scope:
            while True:
                try:
                    got = await self.reader.xread(
                        {key: follower.last}, count=limits.RELAY_CLUSTER_READ_BATCH,
                        block=int(limits.RELAY_CLUSTER_READ_BLOCK * 1000),
                    )
                except REDIS_FAILED as exc:
                    self.metrics.redis_errors.inc()
                    log.warning("host %s: reading its messages failed (%s)", follower.server_id, type(exc).__name__)
                    await anyio.sleep(limits.RELAY_CLUSTER_RETRY)
                    continue
                delivered = False
                for _key, entries in got or []:
                    for entry_id, fields in entries:
                        follower.last = entry_id
                        for text in down_batches.unseen(fields, lambda s, q: self._had_message(follower, s, q)):
                            delivered = True
                            await self._deliver(follower, text)
                if got and not delivered:
                    # The direct path is ahead: read the stream behind it in batches.
                    with anyio.move_on_after(limits.RELAY_CLUSTER_DIRECT_LAG):
                        await follower.behind.wait()
                follower.behind = anyio.Event()

    def _had(self, follower: _Follower, fields: dict[str, str]) -> bool:
        """A whole host message that is not for a stream here, or was used already (from the
        direct path): skipped without parsing it."""
        stream_id, seq_id = fields.get("s"), fields.get("q", "")
        return stream_id is not None and seq_id.isdigit() and self._had_message(follower, stream_id, seq_id)

    def _had_message(self, follower: _Follower, stream_id: str, seq_id: str) -> bool:
        stream = self.relay.streams.get(stream_id)
        if stream is None or stream.server_id != follower.server_id:
            return True
        seen = follower.replay.seen(stream.client_id, stream_id)
        return seen is not None and seen >= (int(seq_id), math.inf)

    async def _deliver(self, follower: _Follower, text: str) -> None:
        try:
            envelope = parse_server_envelope(text)
        except EnvelopeError:
            return
        stream = self.relay.streams.get(envelope.stream_id)
        if stream is None or stream.client_id != envelope.client_id or stream.server_id != follower.server_id:
            return  # another node's stream, or one that ended
        self.metrics.from_host.inc()
        if isinstance(envelope, Pong):
            if envelope.status is PongStatus.ACTIVE:
                # Pongs count in the stream's numbering: the direct path needs it without gaps.
                follower.replay.accept(envelope)
                return
            if envelope.status is PongStatus.UNKNOWN:  # (a restarted host numbers from 1 again)
                log.info("host %s lost stream %s/%s", follower.server_id, envelope.client_id, envelope.stream_id)
                follower.replay.forget(envelope.client_id, envelope.stream_id)
                await stream.end_expired(tell_host=False)
            return
        if isinstance(envelope, ServerMessageChunk):
            # As on one node (host_link.py): the reassembler drops replayed chunks itself.
            try:
                whole = follower.chunks.feed(envelope, len(text.encode("utf-8")))
            except ChunkError as exc:
                self.relay.metrics.bad_envelopes.inc()
                log.info("host %s: chunk dropped (%s)", follower.server_id, exc)
                return
            if whole is None:
                return
            stream.to_controller(whole.message)
            return
        if not follower.replay.accept(envelope):
            self.relay.metrics.duplicates.inc()
            return
        stream.to_controller(envelope.message)

    # --- the direct path (appserver.relay.peers) -----------------------------------------

    def direct_down(self, link: ClusterHostLink, client_id: str, stream_id: str, seq_id: int, message: str) -> bool:
        """A host message, straight to the node holding its stream (ahead of the down
        stream); whether it went."""
        origin = link.origins.get((client_id, stream_id))
        if origin == self.node_id:
            return self._take_direct_message(link.server_id, client_id, stream_id, seq_id, message)
        return origin is not None and fits(message) and self.peers.send(
            origin, frame_message(link.server_id, client_id, stream_id, seq_id, message)
        )

    def take_direct_down(self, server_id: str, envelope: ServerMessage) -> bool:
        """Used only when it is the stream's next envelope; otherwise the down stream brings
        it (and what is missing before it) in order."""
        return self._take_direct_message(
            server_id, envelope.client_id, envelope.stream_id, envelope.seq_id, envelope.message
        )

    def _take_direct_message(self, server_id: str, client_id: str, stream_id: str, seq_id: int, message: str) -> bool:
        follower = self.followers.get(server_id)
        stream = self.relay.streams.get(stream_id)
        if follower is None or stream is None or stream.client_id != client_id or stream.server_id != server_id:
            return False
        key = (client_id, stream_id)
        replay = follower.replay
        seen = replay.seen(client_id, stream_id)
        if seen != (seq_id - 1, math.inf) and not (seen is None and seq_id == 1):
            follower.behind.set()
            return False
        replay.accept_at(key, (seq_id, math.inf))
        self.metrics.direct_to_controllers.inc()
        stream.to_controller(message)
        return True

    async def _peer_frames(self, frames: list[str]) -> None:
        """A batch from another node, on its socket's task: handled, then the host links
        written to drained."""
        for link in self._take_peer_frames(frames):
            await link.drain()

    def _peer_frames_now(self, frames: list[str]) -> bool:
        """A batch from another node where it was read; False (nothing done) while a host
        link this node owns applies backpressure (the socket's task then waits for room)."""
        if not all(link.frames.idle for link in self.owned.values()):
            return False
        self._take_peer_frames(frames)
        return True

    def _take_peer_frames(self, frames: list[str]) -> list[ClusterHostLink]:
        """Host envelopes are written per link in one write, all before anything else can
        run (an up stream copy read meanwhile must not overtake); returns the links written to."""
        out: dict[ClusterHostLink, list[str]] = {}
        for frame in frames:
            parsed = parse_frame(frame)
            if parsed is None:
                continue
            kind, parts = parsed
            if kind == "u":
                origin, server_id, client_id, stream_id, seq_id, text = parts
                link = self.owned.get(server_id)
                wire = link and link.direct_envelope(origin, client_id, stream_id, int(seq_id), text)
                if link is not None and wire is not None:
                    out.setdefault(link, []).append(wire)
                continue
            server_id, client_id, stream_id, seq_id, text = parts
            self._take_direct_message(server_id, client_id, stream_id, int(seq_id), text)
        for link, texts in out.items():
            link.write_direct(texts)
        return list(out)
