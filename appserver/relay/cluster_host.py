"""A relay cluster node's side of one host link (docs/relay.md "Cluster").

:class:`ClusterHostLink` is the host's link on the node that owns the host: it feeds the
host the controllers' frames from the host's up stream and from the direct path
(:mod:`appserver.relay.peers`), in each stream's ``seq_id`` order, never twice on one link,
and passes the host's envelopes into its down stream (acked once Redis has them) and
straight to the node holding their stream. :class:`StreamWriter` appends to one Redis
stream in call order, in batches. The routing between nodes is :mod:`appserver.relay.cluster`.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, cast

import anyio
from redis import exceptions as redis_errors

from appserver import limits, strings
from appserver.relay import down_batches, up_batches
from appserver.relay.host_link import HostLink, HostState
from appserver.relay.lease import Lease
from appserver.relay.up_batches import cursor_of, position_of
from appserver.remote_control.chunks import MessageTooLarge, split_client_message
from appserver.remote_control.envelopes import (
    ClientClosed,
    Ping,
    ServerMessage,
    client_message_affixes,
    encode,
    server_message_ending,
    split_server_message,
    split_server_message_ending,
)

if TYPE_CHECKING:
    from aiohttp import web

    from appserver.relay.cluster import Cluster
    from appserver.relay.hub import Relay
    from appserver.relay.streams import ControllerStream

log = logging.getLogger("appserver.relay")

#: Redis failures that mean "unreachable now"; the node reports them and retries.
REDIS_DOWN = (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError)
REDIS_FAILED = (*REDIS_DOWN, redis_errors.RedisError)

class UpThroughRedis:
    """Controller -> host on a cluster node, wherever the host's link is: into the host's
    up stream, for its owner to send (the owner itself goes the same way)."""

    cluster: Cluster
    server_id: str
    closed: bool

    async def send_message(self, stream: ControllerStream, text: str) -> bool:
        return await self.cluster.send_up_message(self.server_id, stream, text)

    def ready_for(self, text: str) -> bool:
        """:meth:`send_message_nowait` can take a frame now: always, unless closed (a frame
        is queued for Redis and the direct path, or held by its stream when Redis's queue
        is full)."""
        return not self.closed

    def send_message_nowait(self, stream: ControllerStream, text: str) -> bool:
        return self.cluster.send_up_message_nowait(self.server_id, stream, text)

    async def send_ping(self, stream: ControllerStream) -> None:
        self.cluster.send_up(self.server_id, "p", stream.client_id, stream.stream_id)

    async def send_client_closed(self, client_id: str, stream_id: str) -> None:
        self.cluster.send_up(self.server_id, "c", client_id, stream_id)


class ClusterHostLink(UpThroughRedis, HostLink):
    """A host link on a cluster node: the lease, the up stream pump, and host envelopes
    into the down stream (acked once Redis has them)."""

    def __init__(self, cluster: Cluster, relay: Relay, state: HostState, ws: web.WebSocketResponse, peer: str) -> None:
        super().__init__(relay, state, ws, peer)
        self.cluster = cluster
        self.lease: Lease | None = None
        #: Where the up stream resumes: after this entry, or inside it after this row.
        self._start: tuple[str, int | None] = ("0-0", None)
        self._down = StreamWriter(cluster, cluster.key("down", self.server_id), cluster._down_len, "to_controllers",
                                  limits.RELAY_CLUSTER_WRITE_BATCH, down_batches.pack, self._acked_in_redis)
        #: Per controller stream, the last seq_id written to the host on this link: a direct
        #: frame is used only when it is the next one, and the up stream's copy of a frame
        #: already written is skipped.
        self._written: dict[tuple[str, str], int] = {}
        #: The cursor of the newest up-stream frame handled (written, or skipped as written):
        #: direct frames carry it, so the host's cursor never passes a frame it has not had.
        self._verified: str | None = None
        #: Which node holds each controller stream (learned from its direct frames): where
        #: the host's envelopes for it go on the direct path.
        self.origins: dict[tuple[str, str], str] = {}
        #: Per controller stream seen on the direct path, what surrounds its messages in
        #: their ``client_message`` envelopes (the same streams as ``origins``).
        self._affixes: dict[tuple[str, str], tuple[str, str]] = {}
        #: Set when a direct frame had to wait for the up stream: read it now, not after the lag.
        self._behind = anyio.Event()
        #: ``(client_id, stream_id, seq_id, frame ending)`` of the message that would follow
        #: the host's last sliced one on its stream (:func:`server_message_ending`).
        self._next_message: tuple[str, str, int, str] | None = None

    def ready_for(self, text: str) -> bool:
        """The owner's own link also writes the frame to the host at once: only while the
        host's socket keeps up."""
        return not self.closed and self.frames.idle

    def __repr__(self) -> str:
        epoch = self.lease.epoch if self.lease else None
        return f"<ClusterHostLink {self.server_id} from {self.peer} epoch={epoch}{' closed' if self.closed else ''}>"

    async def handle(self, text: str) -> None:
        self._take(text)

    def take(self, text: str) -> bool:
        """A host envelope: into the down stream, then acked (never acked before Redis has
        it), and on the direct path. Never waits, so it can run where the host socket's
        frames are read (:mod:`appserver.relay.inline_ws`); False once the link is closed."""
        if self.closed:
            return False
        self._take(text)
        return True

    def _take(self, text: str) -> None:
        # Acked once Redis has it (:meth:`_acked_in_redis`): a host whose envelopes cannot
        # be passed on stalls at its unacked bound (128) instead of losing them; a full
        # queue closes the link (the host reconnects and replays what was not acked).
        expected = self._next_message
        sliced = True
        if expected is not None and (message := split_server_message_ending(text, expected[3])) is not None:
            # The next message of the stream the host wrote last (as on one node): known by
            # the frame's end, its ids and number not read again.
            client_id, stream_id, seq_id = expected[0], expected[1], expected[2]
        elif (split := split_server_message(text)) is not None:
            # Our host's message, found by slicing (as on one node, host_link.py): the
            # message goes on as the host wrote it, not parsed and written again.
            client_id, stream_id, seq_id, message = split
        else:
            sliced = False
            self._next_message = None
            envelope = self._parse(text)
            if envelope is None:
                return
            if not isinstance(envelope, ServerMessage):
                if self._queue_down((envelope, text)):
                    self._down.urgent()
                return
            client_id, stream_id, seq_id, message = (
                envelope.client_id, envelope.stream_id, envelope.seq_id, envelope.message)
        if sliced:  # (its ids are plain JSON strings: the next message's ending is known)
            self._received_messages.inc()
            after = seq_id + 1
            self._next_message = (client_id, stream_id, after, server_message_ending(client_id, stream_id, after))
        # Its stream and seq_id let followers skip it without parsing it again. (The relay's
        # stream ids never hold a tab; a host's made-up one is just parsed.)
        queued = self._queue_down(
            (client_id, stream_id, seq_id, text) if "\t" not in stream_id
            else (ServerMessage(client_id, stream_id, seq_id, message), text)
        )
        if queued and not self.cluster.direct_down(self, client_id, stream_id, seq_id, message):
            self._down.urgent()

    def _queue_down(self, item: down_batches.Item) -> bool:
        if self._down.put(item):
            return True
        log.warning("host %s: its envelopes cannot be passed on; closing its link", self.server_id)
        self.relay.spawn(self.close(1011, strings.RELAY_STORE_UNAVAILABLE))
        self.closed = True
        return False

    def _acked_in_redis(self, written: list[down_batches.Item]) -> None:
        """Envelopes Redis has now, in the order the host sent them: acked, each run of one
        stream's messages as one ack."""
        client_id = stream_id = ""
        seq_id = count = 0
        for item in written:
            if len(item) == 4:  # a whole message: (client_id, stream_id, seq_id, envelope)
                if count and (item[1] != stream_id or item[0] != client_id):
                    self._ack_at((client_id, stream_id), seq_id, None, count)
                    count = 0
                client_id, stream_id, seq_id = item[0], item[1], item[2]
                count += 1
            else:
                if count:
                    self._ack_at((client_id, stream_id), seq_id, None, count)
                    count = 0
                self._ack(cast(Any, item[0]))
        if count:
            self._ack_at((client_id, stream_id), seq_id, None, count)

    async def redeliver(self, cursor_header: str | None) -> None:
        """Before the link takes traffic: where the up stream resumes for this host (right
        after its cursor: that is the redelivery)."""
        try:
            self._start = await self.cluster.up_position(self.server_id, position_of(cursor_header))
            if self._start != ("0-0", None):
                self._verified = cursor_of(*self._start)
        except REDIS_FAILED as exc:
            self._refuse(exc)

    async def go_live(self) -> None:
        """Take the lease (over); the online notice then releases what waited, everywhere."""
        if self.closed:
            return
        try:
            self.lease = await self.cluster.take_lease(self, self.server_id)
        except REDIS_FAILED as exc:
            self._refuse(exc)

    def _refuse(self, exc: BaseException) -> None:
        self.cluster.metrics.redis_errors.inc()
        log.warning("host %s: link refused, Redis is unreachable (%s)", self.server_id, type(exc).__name__)
        self.closed = True
        self.relay.spawn(self.close(1011, strings.RELAY_STORE_UNAVAILABLE))

    async def run(self) -> None:
        if self.lease is None:
            return
        try:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(self._pump_up)
                tasks.start_soon(self._keep_lease)
                tasks.start_soon(self._down.run)
                try:
                    await super().run()
                finally:
                    tasks.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await self.cluster.lease_ended(self)

    async def replaced(self) -> None:
        """Another node took the host: this link is stale."""
        if not self.closed:
            log.info("host %s moved to another node: closing its old link here", self.server_id)
            await self.close(1000, strings.RELAY_CLOSE_REPLACED)

    async def _keep_lease(self) -> None:
        assert self.lease is not None
        last_renewed = anyio.current_time()
        while not self.closed:
            await anyio.sleep(limits.RELAY_LEASE_RENEW)
            try:
                ours = await self.cluster.leases.renew(self.lease)
            except REDIS_FAILED as exc:
                self.cluster.metrics.redis_errors.inc()
                if anyio.current_time() - last_renewed < limits.RELAY_LEASE_TTL:
                    log.warning("host %s: lease renewal failed (%s); retrying", self.server_id, type(exc).__name__)
                    continue
                ours = False
            if not ours:
                self.cluster.metrics.lease_changes.labels("lost").inc()
                log.info("host %s: lease lost (epoch %d): closing the link", self.server_id, self.lease.epoch)
                await self.replaced()
                return
            last_renewed = anyio.current_time()

    async def _pump_up(self) -> None:
        """Controller traffic for this host, in order, from the up stream to the socket."""
        last, skip = resume, skip = self._start
        if skip is not None:
            # The host has that entry's rows up to ``skip``: read the entry again, from the next.
            resume, last = last, up_batches.before(last)
        key = self.cluster.key("up", self.server_id)
        while not self.closed:
            try:
                got = await self.cluster.reader.xread(
                    {key: last}, count=limits.RELAY_CLUSTER_READ_BATCH,
                    block=int(limits.RELAY_CLUSTER_READ_BLOCK * 1000),
                )
            except REDIS_FAILED as exc:
                self.cluster.metrics.redis_errors.inc()
                log.warning("host %s: reading controller traffic failed (%s)", self.server_id, type(exc).__name__)
                await anyio.sleep(limits.RELAY_CLUSTER_RETRY)
                continue
            wrote = False
            for _key, entries in got or []:
                for entry_id, fields in entries:
                    if self.closed:
                        return
                    first = 0
                    if skip is not None:
                        first = skip + 1 if entry_id == resume else 0
                        skip = None
                    wrote = await self._send_entry(entry_id, fields, first) or wrote
                    last = entry_id
            if got and not wrote:
                # The direct path is ahead: read the stream behind it in batches.
                with anyio.move_on_after(limits.RELAY_CLUSTER_DIRECT_LAG):
                    await self._behind.wait()
            self._behind = anyio.Event()

    def _written_already(self, client_id: str, stream_id: str, seq_id: int) -> bool:
        written = self._written.get((client_id, stream_id))
        return written is not None and seq_id <= written

    async def _send_entry(self, entry_id: str, fields: dict[str, str], first: int = 0) -> bool:
        """Write one up-stream entry's frames (from row ``first``) to the host; False when
        there was nothing to write (the direct path wrote them already)."""
        if first == 0 and up_batches.all_written(fields, self._written_already):
            self._verified = cursor_of(entry_id)
            return False
        frames = up_batches.rows(fields)
        wrote = False
        for row in range(first, len(frames)):
            if self.closed:
                return wrote
            kind, client_id, stream_id, seq_id, message = frames[row]
            cursor = cursor_of(entry_id, None if row == len(frames) - 1 else row)
            wrote = await self._send_frame(kind, client_id, stream_id, seq_id, message, cursor) or wrote
            self._verified = cursor  # (already, unless it was chunked)
        return wrote

    async def _send_frame(
        self, kind: str, client_id: str, stream_id: str, seq_text: str, message: str, cursor: str
    ) -> bool:
        """Write one up-stream frame to the host; False when there was nothing to write."""
        if kind == "m":
            try:
                seq_id = int(seq_text)
                key = (client_id, stream_id)
                written = self._written.get(key)
                if written is not None and seq_id <= written:
                    return False
                envelopes = split_client_message(client_id, stream_id, seq_id, message)
            except (MessageTooLarge, ValueError) as exc:
                log.info("controller %s/%s: message not sent (%s)", client_id, stream_id, exc)
                return False
            if len(self._written) >= limits.RELAY_MAX_STREAMS_PER_HOST and key not in self._written:
                del self._written[next(iter(self._written))]  # the oldest (see take_direct)
            # A host that got part of a chunked message resumes before it (the cursor of
            # what came before), and drops the pieces it already has.
            previous = self._verified
            if len(envelopes) == 1:
                # One frame, written before anything else can run: from now on direct frames
                # may carry this frame's cursor (never an older one: see take_direct).
                self._written[key] = seq_id
                self._verified = cursor
            for index, envelope in enumerate(envelopes):
                # Only the last piece names this frame.
                piece_cursor = cursor if index == len(envelopes) - 1 else previous
                await self._send(encode(replace(envelope, cursor=piece_cursor)), "client_message")
            # A chunked one counts once every piece is out: no direct frame between its pieces.
            self._written[key] = max(seq_id, self._written.get(key, seq_id))
        elif kind == "p":
            self._verified = cursor
            await self._send(encode(Ping(client_id, stream_id, cursor)), "ping")
        elif kind == "c":
            self._written.pop((client_id, stream_id), None)
            self.origins.pop((client_id, stream_id), None)
            self._affixes.pop((client_id, stream_id), None)
            self._verified = cursor
            await self._send(encode(ClientClosed(client_id, stream_id, cursor)), "client_closed")
        else:
            return False
        self.cluster.metrics.from_controllers.inc()
        return True

    def take_direct(self, origin: str, client_id: str, stream_id: str, seq_id: int, text: str) -> bool:
        """A controller message from the direct path: written now (never waiting) if it is
        the stream's next one on this link (else its copy in the up stream comes in order);
        whether it was."""
        wire = self.direct_envelope(origin, client_id, stream_id, seq_id, text)
        if wire is None:
            return False
        return self.write_direct([wire])

    def direct_envelope(self, origin: str, client_id: str, stream_id: str, seq_id: int, text: str) -> str | None:
        """The envelope for a direct controller message when it is the stream's next one on
        this link, counted as written (the caller writes it before anything else can run);
        ``None`` when its copy in the up stream is to be waited for."""
        key = (client_id, stream_id)
        affixes = self._affixes.get(key)
        if affixes is None:
            self.origins[key] = origin
            affixes = self._affixes[key] = client_message_affixes(client_id, stream_id)
            if len(self._affixes) > limits.RELAY_MAX_STREAMS_PER_HOST:
                # Streams closed without a close reaching this link: forget the oldest (the
                # direct path then waits for the up stream once for it: nothing is lost).
                oldest = next(iter(self._affixes))
                del self._affixes[oldest]
                self.origins.pop(oldest, None)
                self._written.pop(oldest, None)
        written = self._written.get(key)
        # Never a stream's first frames: they come from the up stream, which leaves the host's
        # cursor past them. A host takes an ``initialize`` again whatever its seq_id (it
        # re-initializes the stream), so the cursor must never fall back before one.
        if self.closed or written is None or seq_id != written + 1 or '"initialize"' in text:
            self._behind.set()
            return None
        # encode(ClientMessage(...)) by concatenation (our cursors are plain JSON strings).
        head, middle = affixes
        cursor = self._verified
        wire = (f'{head}{text}{middle}{seq_id},"cursor":"{cursor}"}}' if cursor is not None
                else f"{head}{text}{middle}{seq_id}}}")
        limit = limits.RC_MAX_ENVELOPE_BYTES
        if len(wire) * 4 > limit and len(wire.encode("utf-8")) > limit:
            return None  # chunked (or too large) messages come from the up stream only
        self._written[key] = seq_id
        return wire

    def write_direct(self, texts: list[str]) -> bool:
        """Direct envelopes (with the acks due) in one socket write; never waits. False when
        the link is gone (nothing written)."""
        if self.closed:
            return False
        try:
            self.frames.write([*self._take_acks(), *texts])
        except ConnectionError as exc:
            log.info("host %s: send failed (%s)", self.server_id, exc)
            self.closed = True
            return False
        self.relay.metrics.sent("client_message").inc(len(texts))
        self.cluster.metrics.direct_to_host.inc(len(texts))
        return True

    async def drain(self) -> None:
        try:
            await self.frames.drain()
        except (ConnectionError, RuntimeError) as exc:  # written; the link is going away
            log.info("host %s: send failed (%s)", self.server_id, exc)
            self.closed = True


class StreamWriter:
    """Appends to one Redis stream in the order :meth:`put` was called, without making
    the caller wait: a task writes whatever is queued, ``RELAY_CLUSTER_WRITE_BATCH`` items
    per entry, one ``XADD`` each (not a Lua script appending several: Redis spent more on a
    script call than on the ``XADD`` of a whole batch entry), retries an entry that failed
    until Redis takes it, then tells ``written`` which items Redis has. Bounded: ``put``
    refuses past ``RELAY_CLUSTER_WRITE_QUEUE`` items (the caller holds the frame, or stalls
    the host). What the direct path carries too is written ``RELAY_CLUSTER_DIRECT_LAG``
    behind it, or at once when ``batch`` items wait."""

    def __init__(
        self, cluster: Cluster, key: str, maxlen: int, direction: str, batch: int,
        entry: Callable[[list[Any]], dict[str, str]],
        written: Callable[[list[Any]], None] | None = None,
    ) -> None:
        self.cluster = cluster
        self.key = key
        self.maxlen = maxlen
        self.direction = direction
        self.batch = batch
        #: The stream entry for up to RELAY_CLUSTER_WRITE_BATCH of what was queued...
        self.entry = entry
        #: ...and what is told, once Redis has them, which items (in :meth:`put` order) it has.
        self.written = written
        self._pending: deque[Any] = deque()
        self._wake = anyio.Event()
        #: ``_wake`` is set (a flag: a put then costs no Event call).
        self._woken = False
        #: Set when an entry is queued that the direct path did not carry: written at once.
        self._urgent = anyio.Event()
        self.failing = False

    def __repr__(self) -> str:
        return f"<Writer {self.key} pending={len(self._pending)}{' failing' if self.failing else ''}>"

    def put(self, item: Any) -> bool:
        if len(self._pending) >= limits.RELAY_CLUSTER_WRITE_QUEUE:
            return False
        self._pending.append(item)
        if not self._woken:
            self._woken = True
            self._wake.set()
        if len(self._pending) >= self.batch:
            self._urgent.set()
        return True

    def urgent(self) -> None:
        """What is queued is not on its way by the direct path: write it without waiting."""
        self._urgent.set()

    async def run(self) -> None:
        metrics = self.cluster.metrics
        while True:
            await self._wake.wait()
            if not self._urgent.is_set():
                # Everything queued went by the direct path too: gather more into one write.
                with anyio.move_on_after(limits.RELAY_CLUSTER_DIRECT_LAG):
                    await self._urgent.wait()
            self._rearm()
            due = len(self._pending)
            while due > 0:
                count = min(due, limits.RELAY_CLUSTER_WRITE_BATCH)
                batch = [self._pending[i] for i in range(count)]
                entry = self.entry(batch)
                try:
                    await self.cluster.client.xadd(self.key, entry, maxlen=self.maxlen, approximate=True)
                except REDIS_FAILED as exc:
                    metrics.redis_errors.inc()
                    if not self.failing:
                        log.warning("relay cluster: writing %s failed (%s); retrying", self.key, type(exc).__name__)
                    self.failing = True
                    await anyio.sleep(limits.RELAY_CLUSTER_RETRY)
                    continue
                if self.failing:
                    log.info("relay cluster: writing %s works again", self.key)
                self.failing = False
                for _ in batch:
                    self._pending.popleft()
                due -= count
                metrics.forwarded_to[self.direction].inc(count)
                if self.written is not None:
                    self.written(batch)
                if due == 0 and (len(self._pending) >= self.batch or self._urgent.is_set()):
                    # Enough came meanwhile for a full batch (or something urgent): on at once.
                    # Fewer wait for the next batch, as the first one did (not an entry each).
                    self._rearm()
                    due = len(self._pending)

    def _rearm(self) -> None:
        """Everything queued until now is being written: the next put wakes the task again."""
        self._wake = anyio.Event()
        self._woken = False
        self._urgent = anyio.Event()
