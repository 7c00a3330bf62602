"""The host WebSocket ``GET <root>wham/remote/control/server`` (spec/remote-control.md §4).

Handshake: ``Authorization: Bearer <host token>`` and ``x-codex-server-id``. An unknown or
expired token is 401 (codex refreshes, then redials); an unknown server is 404
``{"detail":"Remote app server not found"}`` (codex re-enrolls), also with a valid token of
another server; a token of another known server is 401. A new link of a server replaces
the old one.

On the link, using the shared wire modules (:mod:`appserver.remote_control`):

* every server envelope received is acked, coalesced per stream to the newest position:
  once ``RELAY_ACK_RIDE`` are due they ride along with the next envelope the relay writes
  to the host (same socket write), and they are written on their own once ``RELAY_ACK_EVERY``
  envelopes are due (after the frames already read are handled: the host stalls at 128
  unacked) or ``RELAY_ACK_DELAY`` after the first one;
* envelopes to the host are written without waiting (several in one socket write when
  acks ride along); a writer then waits only while the host's socket applies backpressure;
* replays after a reconnect are dropped by a per-host
  :class:`~appserver.remote_control.streams.ReplayFilter`; host chunks are rebuilt by a
  per-stream :class:`~appserver.remote_control.chunks.Reassembler`;
* controller messages go out as ``client_message`` (or ``client_message_chunk`` when large)
  with per-stream ``seq_id`` from 0 and a ``cursor`` on every envelope; on reconnect the
  envelopes after the host's ``x-codex-subscribe-cursor`` are sent again, then every stream
  gets what waited for the host and a ``ping`` (a ``pong`` ``unknown`` means the host lost
  it: the stream ends, 4002);
* malformed frames, unknown types and chunk rule violations are logged and dropped; binary
  frames are ignored (as codex does); the link and other streams carry on.
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import anyio
from aiohttp import WSMsgType, web

from appserver import limits, strings
from appserver.relay import credentials
from appserver.relay.buffers import Redelivery
from appserver.relay.frames import FrameWriter
from appserver.relay.http import HttpError, bearer, error_response
from appserver.relay.hub import RELAY_KEY, Relay
from appserver.relay.inline_ws import InlineWebSocketResponse
from appserver.remote_control.chunks import ChunkError, MessageTooLarge, Reassembler, split_client_message
from appserver.remote_control.envelopes import (
    Ack,
    ClientClosed,
    ClientMessage,
    EnvelopeError,
    Ping,
    Pong,
    PongStatus,
    ServerEnvelope,
    ServerMessage,
    ServerMessageChunk,
    ack_head,
    encode,
    parse_server_envelope,
    server_message_ending,
    split_server_message,
    split_server_message_ending,
)
from appserver.remote_control.streams import ReplayFilter

if TYPE_CHECKING:
    from appserver.relay.streams import ControllerStream

log = logging.getLogger("appserver.relay")

PATH = "/wham/remote/control/server"

#: Distinguishes this relay process's cursors from an earlier one's.
BOOT = secrets.token_hex(4)


@dataclass
class HostState:
    """What the relay keeps about one host across its links."""

    server_id: str
    replay: ReplayFilter = field(default_factory=ReplayFilter)
    chunks: Reassembler = field(default_factory=lambda: Reassembler(per_stream=True))
    redelivery: Redelivery = field(
        default_factory=lambda: Redelivery(
            BOOT, limits.RELAY_HOST_REDELIVERY_ENVELOPES, limits.RELAY_HOST_REDELIVERY_BYTES
        )
    )
    #: Streams that ended while the host was offline: ``client_closed`` on reconnect.
    closed_while_offline: list[tuple[str, str]] = field(default_factory=list)
    #: Unknown streams the host was told are closed (bounded; oldest forgotten first).
    told_closed: OrderedDict[tuple[str, str], None] = field(default_factory=OrderedDict)


class HostLink:
    """One host WebSocket. ``frames`` (its writer) is set by :func:`host_socket` right after
    the link is made, whatever ``relay.link_factory`` made it."""

    frames: FrameWriter

    def __init__(self, relay: Relay, state: HostState, ws: web.WebSocketResponse, peer: str) -> None:
        self.relay = relay
        self.state = state
        self.ws = ws
        self.peer = peer
        #: Acks due, one per stream (the newest ``(seq_id, segment_id)``), and how many
        #: envelopes they cover.
        self._acks: dict[tuple[str, str], tuple[int, int | None]] = {}
        self._acks_due = 0
        self._ack_timer: asyncio.TimerHandle | None = None
        self._ack_soon = False
        self._received_messages = relay.metrics.received("ServerMessage")
        self._sent_messages = relay.metrics.sent("client_message")
        #: A run of our host's messages taken in the socket read being handled: new,
        #: consecutive, of one stream; delivered together at the end of the read, or before
        #: anything else is handled (:meth:`_deliver_run`).
        self._run: list[str] = []
        #: The run's stream, and the number of its next message. Kept after the run is
        #: delivered at the end of a read, until any other envelope is handled
        #: (:meth:`_end_run`): the stream's next message, in the next read (the next
        #: round trip's answer), is then known by its frame's end alone.
        self._run_stream: ControllerStream | None = None
        self._run_next = -1
        #: How the frame of the run's next message must end (:func:`server_message_ending`).
        self._run_expected = ""
        self.closed = False

    def __repr__(self) -> str:
        return f"<HostLink {self.state.server_id} from {self.peer}{' closed' if self.closed else ''}>"

    @property
    def server_id(self) -> str:
        return self.state.server_id

    # --- sending -----------------------------------------------------------------------

    async def _send(self, text: str, kind: str) -> bool:
        """Write one envelope (with the acks due); False when the link is gone (nothing was
        written). Waits only while the host's socket applies backpressure."""
        if not self._write(text):
            return False
        self.relay.metrics.sent(kind).inc()
        try:
            await self.frames.drain()
        except (ConnectionError, RuntimeError) as exc:  # written; the link is going away
            log.info("host %s: send failed (%s)", self.server_id, exc)
            self.closed = True
        return True

    def _write(self, text: str | None) -> bool:
        """One socket write: the acks due (with ``text``: once ``RELAY_ACK_RIDE`` are), then
        ``text``; False once the link is gone."""
        if self.closed:
            return False
        if text is None:
            texts = self._take_acks()
        else:
            texts = self._take_acks() if self._acks_due >= limits.RELAY_ACK_RIDE else []
            texts.append(text)
        if not texts:
            return True
        try:
            self.frames.write(texts)
        except ConnectionError as exc:
            log.info("host %s: send failed (%s)", self.server_id, exc)
            self.closed = True
            return False
        return True

    def _take_acks(self) -> list[str]:
        if not self._acks:
            return []
        acks, self._acks = self._acks, {}
        self._acks_due = 0
        self.relay.metrics.sent("ack").inc(len(acks))
        return [
            f"{ack_head(client_id, stream_id)}{seq_id}}}" if segment is None
            else encode(Ack(client_id, stream_id, seq_id, segment))
            for (client_id, stream_id), (seq_id, segment) in acks.items()
        ]

    def _flush_acks(self) -> None:
        self._ack_soon = False
        if self._acks:
            self._write(None)

    def _read_done(self) -> None:
        """The host socket's envelopes of one read are handled: the run of messages taken
        goes to its stream, and the acks a burst made due are written now, before the
        controllers' writes of the same burst (at the end of this loop iteration), so the
        host makes its next envelopes meanwhile."""
        self._deliver_run()
        if self._acks_due >= limits.RELAY_ACK_EVERY:
            self._flush_acks()

    def _ack_delay_over(self) -> None:
        # The timer is not cancelled when the acks leave earlier (a round trip's ride along
        # with the next request): one timer per RELAY_ACK_DELAY at most, not one per ack.
        self._ack_timer = None
        self._flush_acks()

    def ready_for(self, text: str) -> bool:
        """:meth:`send_message_nowait` can take ``text`` now: this link sends it itself (not
        a cluster node's link), the host's socket keeps up, and it fits one envelope."""
        return (
            type(self).send_message is HostLink.send_message
            and not self.closed
            and self.frames.idle
            and len(text) * 4 + limits.RELAY_ENVELOPE_OVERHEAD <= limits.RC_MAX_ENVELOPE_BYTES
        )

    def send_message_nowait(self, stream: ControllerStream, text: str) -> bool:
        """A controller message that :meth:`ready_for` accepted, written at once (with the
        acks due) as one ``client_message``; False (nothing sent) when the link is gone."""
        redelivery = self.state.redelivery
        cursor = redelivery.next_cursor
        # encode(ClientMessage(...)) by concatenation (client_message_affixes).
        head, middle = stream.envelope_affixes
        wire = f'{head}{text}{middle}{stream.next_seq},"cursor":{redelivery.cursor_json(cursor)}}}'
        if not self._write(wire):
            return False
        stream.next_seq += 1
        redelivery.take()
        redelivery.record(cursor, stream.stream_id, wire)
        self._sent_messages.inc()
        return True

    async def send_message(self, stream: ControllerStream, text: str) -> bool:
        """A controller message: numbered, cut into chunks when large, with cursors.

        False when the link turned out to be gone before the message was written: the
        caller holds it for the next link (it is not in the redelivery buffer).
        """
        seq_id = stream.next_seq
        stream.next_seq += 1
        redelivery = self.state.redelivery
        # The common case, one envelope: encoded once, with the cursor it will carry.
        limit = limits.RC_MAX_ENVELOPE_BYTES
        wire = encode(ClientMessage(
            stream.client_id, stream.stream_id, seq_id, text, redelivery.cursor_text(redelivery.next_cursor)
        ))
        if len(wire) * 4 <= limit or len(wire.encode("utf-8")) <= limit:
            cursor = redelivery.take()
            if not await self._send(wire, "client_message"):
                return False
            redelivery.record(cursor, stream.stream_id, wire)
            return True
        try:
            envelopes = split_client_message(stream.client_id, stream.stream_id, seq_id, text)
        except MessageTooLarge as exc:
            log.info("controller %s/%s: message not sent (%s)", stream.client_id, stream.stream_id, exc)
            return True
        for envelope in envelopes:
            cursor = redelivery.take()
            wire = encode(replace(envelope, cursor=redelivery.cursor_text(cursor)))
            if not await self._send(wire, "client_message"):
                return False
            redelivery.record(cursor, stream.stream_id, wire)
        return True

    async def send_ping(self, stream: ControllerStream) -> None:
        cursor = self.state.redelivery.cursor_text(self.state.redelivery.next_cursor - 1)
        await self._send(encode(Ping(stream.client_id, stream.stream_id, cursor)), "ping")

    async def send_client_closed(self, client_id: str, stream_id: str) -> None:
        cursor = self.state.redelivery.take()
        wire = encode(ClientClosed(client_id, stream_id, self.state.redelivery.cursor_text(cursor)))
        self.state.redelivery.record(cursor, stream_id, wire)
        await self._send(wire, "client_closed")

    def _ack(self, envelope: ServerMessage | ServerMessageChunk | Pong) -> None:
        segment = envelope.segment_id if isinstance(envelope, ServerMessageChunk) else None
        self._ack_at((envelope.client_id, envelope.stream_id), envelope.seq_id, segment)

    def _ack_at(self, key: tuple[str, str], seq_id: int, segment: int | None, count: int = 1) -> None:
        """Ack the stream ``key`` up to ``seq_id`` (``segment``): ``count`` envelopes."""
        self._acks[key] = (seq_id, segment)
        self._acks_due += count
        if self._acks_due >= limits.RELAY_ACK_EVERY:
            if not self._ack_soon:  # after the frames already read: one write for all
                self._ack_soon = True
                asyncio.get_running_loop().call_soon(self._flush_acks)
        elif self._ack_timer is None:
            self._ack_timer = asyncio.get_running_loop().call_later(limits.RELAY_ACK_DELAY, self._ack_delay_over)

    # --- receiving -----------------------------------------------------------------------

    def _stream(self, client_id: str, stream_id: str) -> ControllerStream | None:
        stream = self.relay.streams.get(stream_id)
        if stream is None or stream.client_id != client_id or stream.server_id != self.server_id:
            return None
        return stream

    def _parse(self, text: str) -> ServerEnvelope | None:
        """A host envelope, counted by type; ``None`` (logged, counted) when malformed."""
        metrics = self.relay.metrics
        try:
            envelope = parse_server_envelope(text)
        except EnvelopeError as exc:
            metrics.bad_envelopes.inc()
            log.info("host %s: envelope dropped (%s)", self.server_id, exc)
            return None
        metrics.received(type(envelope).__name__).inc()
        return envelope

    def take(self, text: str) -> bool:
        """The host WebSocket's text sink (:mod:`appserver.relay.inline_ws`): an envelope
        handled inside the socket's data callback when that needs no waiting (a message
        or chunk of a known stream, a pong); ``False``, having done nothing, for what
        :meth:`handle` does in the reader task (malformed input, unknown streams, a pong
        ``unknown``, anything once the link is closed)."""
        if self.closed:
            return False
        stream = self._run_stream
        if stream is not None:
            message = split_server_message_ending(text, self._run_expected)
            # The run's next message, new by its number; in a later read, of a stream
            # that has not ended meanwhile.
            if message is not None and (self._run or self.relay.streams.get(stream.stream_id) is stream):
                self._run.append(message)
                self._run_next = seq_id = self._run_next + 1
                self._run_expected = server_message_ending(stream.client_id, stream.stream_id, seq_id)
                return True
        split = split_server_message(text)
        if split is not None:
            # Our host's streamed message (the shape checked whole): forwarded as sliced.
            client_id, stream_id, seq_id, message = split
            self._end_run()
            stream = self._stream(client_id, stream_id)
            if stream is None:
                return False
            seen = self.state.replay.seen(client_id, stream_id)
            if seen is not None and (seq_id, math.inf) <= seen:
                self._received_messages.inc()
                self._ack_at((client_id, stream_id), seq_id, None)
                self.relay.metrics.duplicates.inc()
                return True
            self._run.append(message)
            self._run_stream = stream
            self._run_next = seq_id + 1
            self._run_expected = server_message_ending(client_id, stream_id, seq_id + 1)
            return True
        self._end_run()
        try:
            envelope = parse_server_envelope(text)
        except EnvelopeError:
            return False
        stream = self._stream(envelope.client_id, envelope.stream_id)
        if isinstance(envelope, Pong):
            if stream is not None and envelope.status is PongStatus.UNKNOWN:
                return False
            self.relay.metrics.received("Pong").inc()
            self._ack(envelope)
            return True
        if stream is None:
            return False
        self.relay.metrics.received(type(envelope).__name__).inc()
        self._deliver(envelope, text, stream)
        return True

    def _deliver_run(self) -> None:
        """The run of messages taken (:meth:`take`) to its stream: recorded as received,
        acked, then to the controller, in order."""
        run = self._run
        if not run:
            return
        stream = self._run_stream
        assert stream is not None
        last = self._run_next - 1
        self._run = []
        key = (stream.client_id, stream.stream_id)
        self.state.replay.accept_at(key, (last, math.inf))
        self._received_messages.inc(len(run))
        self._ack_at(key, last, None, len(run))
        stream.to_controller_many(run)

    def _end_run(self) -> None:
        """Another envelope is handled: the run is delivered and its stream forgotten."""
        self._deliver_run()
        self._run_stream = None

    async def handle(self, text: str) -> None:
        self._end_run()
        envelope = self._parse(text)
        if envelope is None:
            return
        stream = self._stream(envelope.client_id, envelope.stream_id)
        if isinstance(envelope, Pong):
            self._ack(envelope)
            if envelope.status is PongStatus.UNKNOWN and stream is not None:
                log.info("host %s lost stream %s/%s", self.server_id, envelope.client_id, envelope.stream_id)
                self.state.replay.forget(envelope.client_id, envelope.stream_id)
                await stream.end_expired(tell_host=False)
            return
        if stream is not None:
            self._deliver(envelope, text, stream)
            return
        self._ack(envelope)
        if self._message(envelope, text) is None:
            return
        # A stream this relay does not know (it ended, or the relay restarted): tell the
        # host once, so its virtual connection does not linger until its idle timeout.
        key = (envelope.client_id, envelope.stream_id)
        if key not in self.state.told_closed:
            self.state.told_closed[key] = None
            while len(self.state.told_closed) > limits.RELAY_MAX_STREAMS_PER_HOST:
                self.state.told_closed.popitem(last=False)
            await self.send_client_closed(*key)

    def _deliver(self, envelope: ServerMessage | ServerMessageChunk, text: str, stream: ControllerStream) -> None:
        """A message (or chunk) of a known stream: acked, then to the controller once whole
        and not a replay. Never waits."""
        self._ack(envelope)
        message = self._message(envelope, text)
        if message is not None:
            stream.to_controller(message)

    def _message(self, envelope: ServerMessage | ServerMessageChunk, text: str) -> str | None:
        """The JSON-RPC message an envelope completes; ``None`` for a replay, a chunk of a
        message not complete yet, or a chunk that breaks a rule (logged, counted)."""
        if isinstance(envelope, ServerMessageChunk):
            # The reassembler drops replayed chunks itself, and a chunk that breaks a rule
            # never advances what counts as seen.
            try:
                whole = self.state.chunks.feed(envelope, len(text.encode("utf-8")))
            except ChunkError as exc:
                self.relay.metrics.bad_envelopes.inc()
                log.info("host %s: chunk dropped (%s)", self.server_id, exc)
                return None
            return None if whole is None else whole.message
        if not self.state.replay.accept(envelope):
            self.relay.metrics.duplicates.inc()
            return None
        return envelope.message

    async def redeliver(self, cursor_header: str | None) -> None:
        """Before the link takes new traffic: what the host missed, then the closes."""
        redelivery = self.state.redelivery
        seen = redelivery.parse_cursor(cursor_header)
        if seen is not None:
            again = redelivery.after(seen)
            redelivery.confirm(seen)
            if again:
                log.info("host %s: sending %d envelopes again after cursor", self.server_id, len(again))
            for sent in again:
                await self._send(sent.text, "redelivered")
        closed, self.state.closed_while_offline = self.state.closed_while_offline, []
        for client_id, stream_id in closed:
            await self.send_client_closed(client_id, stream_id)

    async def go_live(self) -> None:
        """The link takes traffic: per stream, what waited, then a ``ping`` (a stream the
        host lost ends). What waited goes first: a stream whose ``initialize`` was held
        while the host was offline is new to the host until that is delivered."""
        for stream in self.relay.streams_of_server(self.server_id):
            stream.host_state(True)
            await stream.flush_waiting()
            if stream.initialized:
                await self.send_ping(stream)

    async def run(self) -> None:
        ws = self.ws
        # A subclass with its own handling reads in its task only, unless it takes envelopes
        # inline its own way too (a cluster node's link: ClusterHostLink.take).
        inline = isinstance(ws, InlineWebSocketResponse) and (
            type(self).handle is HostLink.handle or type(self).take is not HostLink.take
        )
        if inline:
            ws.set_text_sink(self.take, self._read_done)
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    await self.handle(msg.data)
                elif msg.type is WSMsgType.BINARY:
                    log.info("host %s: binary frame ignored", self.server_id)
                else:
                    break
                if inline:
                    ws.message_taken()
        finally:
            self._stop()

    def _stop(self) -> None:
        self._end_run()
        self.closed = True
        if self._ack_timer is not None:
            self._ack_timer.cancel()
            self._ack_timer = None

    async def close(self, code: int, reason: str) -> None:
        self._stop()
        await self.ws.close(code=code, message=reason.encode())

    async def close_removed(self) -> None:
        await self.close(limits.RELAY_CLOSE_PROTOCOL, strings.RELAY_CLOSE_SERVER_REMOVED)

    async def close_shutdown(self) -> None:
        await self.close(limits.RELAY_CLOSE_SHUTDOWN, strings.RELAY_CLOSE_SHUTDOWN)


async def host_socket(request: web.Request) -> web.StreamResponse:
    relay = request.app[RELAY_KEY]
    peer = relay.peer(request)
    try:
        token = bearer(request)
    except HttpError:
        relay.auth_failure("host", peer, "websocket", "no bearer")
        raise
    token_server = await relay.store.host_token_server(credentials.digest(token), relay.now())
    if token_server is None:
        relay.auth_failure("host", peer, "websocket", "unknown or expired host token")
        raise HttpError(401, strings.RELAY_BAD_HOST_TOKEN)
    server_id = request.headers.get("x-codex-server-id", "")
    server = await relay.store.server(server_id) if server_id else None
    if server is None:
        log.info("host handshake from %s for unknown server %r", peer, server_id)
        return error_response(404, strings.RELAY_SERVER_NOT_FOUND)
    if token_server != server.server_id:
        relay.auth_failure("host", peer, "websocket", "token of another server")
        raise HttpError(401, strings.RELAY_HOST_TOKEN_OTHER_SERVER)
    ws = InlineWebSocketResponse(
        max_msg_size=limits.RELAY_HOST_MAX_FRAME_BYTES, compress=False, autoping=True,
        heartbeat=limits.RELAY_CONTROLLER_HEARTBEAT,
    )
    frames = await FrameWriter.prepare(ws, request)
    state = relay.hosts.setdefault(server.server_id, HostState(server.server_id))
    link = (relay.link_factory or HostLink)(relay, state, ws, peer)
    link.frames = frames
    old = relay.links.get(server.server_id)
    if old is not None:
        await old.close(limits.RELAY_CLOSE_NORMAL, strings.RELAY_CLOSE_REPLACED)
    # Redelivered envelopes go first: until the link is registered, new controller frames
    # wait in their streams and cannot overtake them (the host would drop the older seq_id).
    await link.redeliver(request.headers.get("x-codex-subscribe-cursor"))
    relay.links[server.server_id] = link
    relay.metrics.host_links.set(len(relay.links))
    log.info("host %s (%s) connected from %s", server.server_id, server.name, peer)
    try:
        await link.go_live()
        await link.run()
    finally:
        link._stop()
        if relay.links.get(server.server_id) is link:
            del relay.links[server.server_id]
            relay.metrics.host_links.set(len(relay.links))
            for stream in relay.streams_of_server(server.server_id):
                stream.host_state(False)
        log.info("host %s disconnected (close code %s)", server.server_id, ws.close_code)
    return ws


def add_routes(app: web.Application) -> None:
    app.router.add_get(PATH, host_socket)
