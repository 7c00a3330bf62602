"""The host link: one WebSocket to the relay carrying every controller stream.

spec/remote-control.md §4 and remote-control-observed.md §2–§4 (the binary wins). The
envelope codec, the chunker/reassembler and the per-stream seq/replay state are the shared
sans-I/O wire modules (:mod:`.envelopes`, :mod:`.chunks`, :mod:`.streams`); this module
does the I/O around them:

* **One reader** demultiplexes envelopes: text frames are handed to :meth:`HostLink.on_frame`
  in the socket's data callback (:mod:`appserver.transports.frames`: no task wake-up per
  envelope); the receive loop only sees what the library queues (binary frames). A ``client_message``
  carrying ``initialize`` opens a processor connection (transport ``"remote"``, small
  bounds) for its ``(client_id, stream_id)``; later messages go to it with
  :meth:`Connection.receive_nowait`, which never waits, so one stream cannot block the
  link or another stream. Inbound ``seq_id`` duplicates are dropped; ``ping`` gets a
  ``pong`` (``active`` or ``unknown``); ``client_closed`` closes the connection (nothing
  is echoed); ``ack`` frees replay slots.
* **Per stream**, two tasks: the processor's dispatch, and a writer that takes everything
  queued in the connection's outbound queue (as far as the window allows) per wake-up and
  turns it into sequenced envelopes (chunked above 150 KiB), records them in the link's
  replay buffer and hands them to the link writer. The writer stops taking while 128
  envelopes are unacked (the relay's acks pace it). An answer that finds nothing queued
  ahead of it skips the queue: the processor hands it to the stream's direct writer
  (:meth:`HostLink._write_answer`), which sequences it the same way.
* **Per message**, the streamed path does no JSON and builds no object: a stream's
  envelopes are its encoded affixes around the message text
  (:func:`.envelopes.server_message_affixes`), numbered a batch at a time; the replay
  buffer keeps those bytes, which a replay writes again unchanged.
* **One link writer** sends queued envelopes: every frame of a batch masked and framed
  by :func:`appserver.transports.frames.encoded_text_frames` (masks from a pool of random bytes) and written in one socket write. The
  first envelope of a loop iteration that finds nothing queued is written at once instead
  (a lone round trip's answer or pong: no writer wake-up). When the socket drops, the
  queue is discarded: every envelope is still in the replay buffer, and the next socket
  replays all unacked envelopes first, unchanged.

Streams (and their ``seq_id`` counters) live as long as the process, not the socket:
controller sessions survive link drops. A stream ends on ``client_closed``, a
re-``initialize``, the idle timeout, or when the processor closes the connection.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import math
import time
import uuid
from collections.abc import Callable
from operator import itemgetter
from typing import Any

import anyio
import websockets
from anyio.abc import TaskGroup
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from appserver import limits, strings
from appserver.close import CloseCode
from appserver.errors import BackendUnavailable, QueueClosed
from appserver.processor import Connection, OverflowPolicy, Processor
from appserver.queues import Pulse, utf8_size
from appserver.remote_control import preview
from appserver.remote_control.chunks import ChunkError, MessageTooLarge, Reassembler, split_server_message
from appserver.remote_control.envelopes import (
    Ack,
    ClientClosed,
    ClientMessage,
    ClientMessageChunk,
    EnvelopeError,
    Ping,
    Pong,
    PongStatus,
    encode,
    parse_client_envelope,
    server_message_affixes,
    split_ack,
    split_client_message,
)
from appserver.remote_control.errors import ErrorKind, RemoteControlError
from appserver.remote_control.service import RemoteControlService
from appserver.remote_control.status import RcStatus
from appserver.remote_control.streams import Entry, ReplayBuffer, SeqNumbers
from appserver.transports.frames import DirectClientConnection, encoded_text_frames
from appserver.transports.websocket import CLIENT_OPTIONS, writable_now

log = logging.getLogger("appserver.remote_control")

TRANSPORT = "remote"
PROTOCOL_VERSION = "3"

#: ``websockets`` options for the link to the relay: the gateway's client options, with the
#: link's own frame limit (a chunk envelope is at most 150 KiB), a small frame queue, keepalive
#: pings, and no ``User-Agent`` (the upgrade carries only the bearer and the x-codex headers).
LINK_OPTIONS: dict[str, Any] = {
    **CLIENT_OPTIONS,
    "max_size": limits.RC_LINK_MAX_FRAME,
    "max_queue": limits.RC_LINK_MAX_QUEUE,
    "open_timeout": limits.RC_CONNECT_TIMEOUT,
    "ping_interval": limits.RC_KEEPALIVE_INTERVAL,
    "ping_timeout": limits.RC_KEEPALIVE_TIMEOUT,
    "user_agent_header": None,
}


_WHOLE = math.inf  # the position of a whole message among its stream's envelopes
#: The most an envelope's ``seq_id`` and closing brace add to its affixes and message: a
#: u64 has at most 20 digits.
_SEQ_ID_AND_END = 21
_payload = itemgetter(2)  # of a replay buffer entry


def _cannot_write_now(data: bytes) -> bool:
    return False


def _write_frame_now(socket: DirectClientConnection, data: bytes) -> bool:
    """Write one envelope at once, without waiting: ``False`` (nothing written) when the
    socket is not open or is applying backpressure; the caller queues it then."""
    if not writable_now(socket):
        return False
    socket.transport.write(encoded_text_frames((data,), masked=True))
    return True


def _is_initialize(text: str) -> bool:
    """Is this inner message a request with method ``initialize``? Parsed only when the
    text can be one (the hot path skips it)."""
    if '"initialize"' not in text:
        return False
    try:
        payload = json.loads(text)
    except ValueError:
        return False
    return isinstance(payload, dict) and payload.get("method") == "initialize" and "id" in payload


class RemoteStream:
    """One controller session: its processor connection and its wire state."""

    __slots__ = ("client_id", "stream_id", "conn", "last_inbound", "last_seen", "affixes", "pending")

    def __init__(self, client_id: str, stream_id: str, conn: Connection) -> None:
        self.client_id = client_id
        self.stream_id = stream_id
        self.conn = conn
        #: What surrounds each message of the stream in its envelope (encoded once).
        self.affixes = server_message_affixes(client_id, stream_id)
        #: Messages taken from the outbound queue and not sent yet: only after a chunked
        #: message filled the window in the middle of a batch; sent first.
        self.pending: list[str] = []
        #: The last inbound seq_id accepted (client_tracker.rs: later ones must be higher).
        self.last_inbound: int | None = None
        self.last_seen = time.monotonic()

    def accept(self, seq_id: int | None, *, initialize: bool) -> bool:
        """Inbound de-duplication: drop ``seq_id <=`` the last accepted, except initialize."""
        if seq_id is None:
            return True
        if not initialize and self.last_inbound is not None and seq_id <= self.last_inbound:
            return False
        self.last_inbound = seq_id
        return True

    def __repr__(self) -> str:
        return f"<RemoteStream {self.client_id}/{self.stream_id} conn={self.conn.id}>"


class HostLink:
    """Streams and the socket to the relay; :meth:`run` for the life of the gateway."""

    def __init__(self, service: RemoteControlService, processor: Processor) -> None:
        self.service = service
        self.processor = processor
        self.metrics = service.metrics
        self.streams: dict[tuple[str, str], RemoteStream] = {}
        #: seq_id counters (never restarted for a pair, observed §3.2) and the link-wide
        #: replay buffer (upstream stalls the whole link at 128 unacked envelopes).
        self._seq = SeqNumbers()
        #: The encoded envelopes (UTF-8), as written and as a replay writes them again.
        self.buffer: ReplayBuffer[bytes] = ReplayBuffer()
        self._room = Pulse()  # fired when acks free replay slots
        self._legacy: dict[str, str] = {}
        self._reassembler = Reassembler()
        self._socket: DirectClientConnection | None = None
        self._out: list[bytes] = []
        self._out_ready = Pulse()
        #: Writes one envelope on the socket now, or says it cannot without waiting.
        self._write_now: Callable[[bytes], bool] = _cannot_write_now
        self._wrote_now = False  # an envelope went out directly in this loop iteration
        #: The running loop, looked up once (in CPython 3.11 each
        #: ``asyncio.get_running_loop()`` is a getpid system call).
        self._loop: asyncio.AbstractEventLoop | None = None
        self._cursor: str | None = None
        self._tg: TaskGroup | None = None
        service.drop_link = self._abort
        service.open_streams = lambda: len(self.streams)

    # --- lifecycle -------------------------------------------------------------------------

    async def run(self) -> None:
        async with anyio.create_task_group() as tg:
            self._tg = tg
            tg.start_soon(self._idle_sweep)
            await self.service.run(self.connect_once)

    def _abort(self) -> None:
        """Drop the socket now, without a Close frame (as the binary does on disable)."""
        socket = self._socket
        if socket is not None:
            socket.transport.abort()

    async def connect_once(self) -> None:
        service = self.service
        enrollment, token = await service.fresh_token()
        headers = {
            "authorization": f"Bearer {token}",
            "x-codex-server-id": enrollment.server_id,
            "x-codex-name": base64.b64encode(enrollment.server_name.encode()).decode(),
            "x-codex-protocol-version": PROTOCOL_VERSION,
            "x-codex-installation-id": service.identity.installation_id,
        }
        if self._cursor is not None:
            headers["x-codex-subscribe-cursor"] = self._cursor
        url = service.target.websocket_url
        try:
            socket = await websockets.connect(
                url,
                additional_headers=headers,
                create_connection=DirectClientConnection,
                **LINK_OPTIONS,
            )
        except InvalidStatus as exc:
            await self._handshake_failed(exc, enrollment)
            raise AssertionError("unreachable")
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            kind = ErrorKind.TIMED_OUT if isinstance(exc, TimeoutError) else ErrorKind.OTHER
            raise RemoteControlError(
                kind, f"failed to connect app-server remote control websocket `{url}`: {exc or type(exc).__name__}"
            ) from None
        assert isinstance(socket, DirectClientConnection)
        # The link frames its envelopes itself (encoded_text_frames), which needs no extension
        # negotiated; it offers none (LINK_OPTIONS: no compression), so none can be.
        assert not socket.protocol.extensions
        if not service.enabled:
            socket.transport.abort()
            return
        self.metrics.connects += 1
        self._socket = socket
        self._write_now = lambda data: _write_frame_now(socket, data)
        socket.set_text_sink(self._on_text)
        log.info("remote control connected to %s (server %s)", url, enrollment.server_id)
        service.status.set_status(RcStatus.CONNECTED)
        self._replay()
        reason = "closed"
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._write, socket)
                tg.start_soon(self._watch_account, enrollment)
                reason = await self._read(socket)
                tg.cancel_scope.cancel()
        finally:
            self._socket = None
            self._write_now = _cannot_write_now
            self._out.clear()
            socket.transport.abort()
        log.info("remote control disconnected from %s: %s", url, reason)

    async def _watch_account(self, enrollment: Any) -> None:
        """Account change while connected (spec/remote-control.md §4): drop the link; the
        next connect forgets the old account's enrollment and enrolls for the new one."""
        while True:
            await anyio.sleep(limits.RC_ACCOUNT_CHECK_INTERVAL)
            if self.service.account_changed(enrollment):
                log.info("remote control account changed; reconnecting with an enrollment for the new account")
                self._abort()
                return

    async def _handshake_failed(self, exc: InvalidStatus, enrollment: Any) -> None:
        response = exc.response
        status = response.status_code
        body = bytes(response.body or b"")
        url = self.service.target.websocket_url
        if status in (401, 403):
            self.service.token_rejected(enrollment)
            raise RemoteControlError(
                ErrorKind.PERMISSION_DENIED, strings.RC_WS_AUTH_FAILED.format(status=status), status=status
            )
        if status == 404:
            try:
                detail = json.loads(body)
            except ValueError:
                detail = None
            if detail == strings.RC_SERVER_NOT_FOUND_BODY:
                await self.service.server_not_found(enrollment)
            else:
                log.warning("remote control websocket got a 404 that does not name the server; keeping the enrollment")
        raise RemoteControlError(
            kind_for(status),
            strings.RC_WS_CONNECT_FAILED.format(
                url=url,
                status=preview.status_text(status),
                headers=preview.format_headers(dict(response.headers.raw_items())),
                preview=preview.body_preview(body),
            ),
            status=status,
        )

    def _replay(self) -> None:
        """A new socket: every unacked envelope first, in order, unchanged."""
        self._out.clear()
        self._out.extend(self.buffer.replay())
        replayed = len(self._out)
        if replayed:
            self.metrics.replayed += replayed
            log.info("remote control: replaying %d unacked envelopes", replayed)
            self._out_ready.fire()

    # --- writing -------------------------------------------------------------------------------

    def _emit(self, data: bytes, *, fire: bool = True) -> None:
        """Send one envelope (already in the replay buffer): at once when it is the first of
        this loop iteration and nothing is queued, else through the link writer (``fire``
        wakes it; a batch fires once at its end)."""
        self.metrics.envelopes_out += 1
        if self._socket is None:
            return  # replayed from the buffer by the next socket
        out = self._out
        if fire and not out and not self._wrote_now and self._write_now(data):
            self._wrote_now = True
            loop = self._loop
            if loop is None:
                loop = self._loop = asyncio.get_running_loop()
            loop.call_soon(self._rearm_write_now)
            return
        out.append(data)
        if fire:
            self._out_ready.fire()

    def _rearm_write_now(self) -> None:
        self._wrote_now = False

    async def _write(self, socket: DirectClientConnection) -> None:
        out = self._out
        batch_size = limits.RC_WRITE_BATCH
        while True:
            while not out:
                await self._out_ready.wait()
            batch = out[:batch_size]
            del out[:batch_size]
            try:
                async with socket.send_context():
                    socket.transport.write(encoded_text_frames(batch, masked=True))
            except ConnectionClosed:
                return

    def _record(self, stream: RemoteStream, entries: list[Entry[bytes]], *, now: bool = False) -> None:
        """Keep a stream's new envelopes for replay and queue them for the link writer
        (``now``: a lone one may be written at once, see :meth:`_emit`; several wake the
        writer; without ``now`` the caller wakes it once per batch)."""
        if not entries:
            return
        self.buffer.record_many((stream.client_id, stream.stream_id), entries)
        if now and len(entries) == 1:
            self._emit(entries[0][2])
            return
        self.metrics.envelopes_out += len(entries)
        if self._socket is not None:  # (else replayed from the buffer by the next socket)
            self._out.extend(map(_payload, entries))
            if now:
                self._out_ready.fire()

    def _sequence(self, stream: RemoteStream, texts: list[str], *, now: bool = False) -> int:
        """Number the stream's next messages ``texts``, in order, record their envelopes for
        replay and queue them for the link writer's next batch (``now``: a lone message is
        written at once when :meth:`_emit` can). Chunked above the envelope limit. Stops
        after a chunked message that filled the window (callers pass at most
        ``buffer.room`` messages, so only one of several envelopes can); returns how many
        messages were sequenced.

        Each whole message's envelope is its stream's affixes around its text, encoded
        (:func:`.envelopes.server_message_affixes`): no envelope object, no JSON encoding.
        """
        client_id, stream_id = stream.client_id, stream.stream_id
        count = len(texts)
        first = self._seq.take(client_id, stream_id, count)
        head, tail = stream.affixes
        limit = limits.RC_MAX_ENVELOPE_BYTES
        entries: list[Entry[bytes]] = []
        append = entries.append
        done = 0
        for seq_id, text in enumerate(texts, first):
            data = b"%b%b%b%d}" % (head, text.encode(), tail, seq_id)
            done += 1
            if len(data) <= limit:
                append((seq_id, _WHOLE, data))
                continue
            self._record(stream, entries)
            entries = []
            append = entries.append
            self._record(stream, self._chunked(stream, seq_id, text), now=now)
            if self.buffer.full and done < count:
                self._seq.give_back(client_id, stream_id, count - done)
                break
        self._record(stream, entries, now=now)
        return done

    def _chunked(self, stream: RemoteStream, seq_id: int, text: str) -> list[Entry[bytes]]:
        """The envelopes of a message too large for one (§4.4), all numbered ``seq_id``."""
        try:
            envelopes = split_server_message(stream.client_id, stream.stream_id, seq_id, text)
        except MessageTooLarge:
            log.warning(
                "remote stream %s/%s: dropping a message too large to send", stream.client_id, stream.stream_id
            )
            return []
        return [(seq_id, envelope.segment_id, encode(envelope).encode()) for envelope in envelopes]

    def _write_answer(self, stream: RemoteStream, text: str) -> bool:
        """The stream connection's direct writer (:meth:`Connection.set_direct_writer`): an
        answer with nothing queued before it goes out now; ``False`` (nothing done) while
        the replay window is full or the stream writer holds messages taken from the queue,
        so that it queues behind them."""
        buffer = self.buffer
        if buffer.full or stream.pending:
            return False
        head, tail = stream.affixes
        data = text.encode()
        if len(head) + len(data) + len(tail) + _SEQ_ID_AND_END > limits.RC_MAX_ENVELOPE_BYTES:
            self._sequence(stream, [text], now=True)  # (maybe chunked)
            return True
        # _sequence of one whole message, inline: the round trip's path.
        client_id, stream_id = stream.client_id, stream.stream_id
        seq_id = self._seq.take(client_id, stream_id, 1)
        data = b"%b%b%b%d}" % (head, data, tail, seq_id)
        buffer.record_many((client_id, stream_id), [(seq_id, _WHOLE, data)])
        self._emit(data)
        return True

    async def _stream_writer(self, stream: RemoteStream) -> None:
        """Moves the stream's outbound messages into envelopes: everything queued, as far
        as the window allows, per wake-up (one wake-up of the link writer per batch)."""
        outbound = stream.conn.outbound
        buffer = self.buffer
        pending = stream.pending
        while True:
            while buffer.full:
                await self._room.wait()
            if not pending:
                try:
                    pending.append(await outbound.get())
                except QueueClosed:
                    return
                if buffer.full:
                    continue  # (an answer written directly filled it meanwhile)
            room = buffer.room
            if len(pending) < room:
                pending += outbound.get_many_nowait(room - len(pending))
            done = self._sequence(stream, pending if len(pending) <= room else pending[:room])
            del pending[:done]
            self._out_ready.fire()

    # --- reading -------------------------------------------------------------------------------

    def _on_text(self, frame: str) -> bool:
        """The socket's text sink: one envelope, handled in the data callback (never waits)."""
        self.metrics.envelopes_in += 1
        try:
            self.on_frame(frame)
        except Exception:
            # One bad envelope (or a bug) must not end the link for every stream.
            self.metrics.bad_envelopes += 1
            log.exception("remote control: failed to handle an envelope")
        return True

    async def _read(self, socket: DirectClientConnection) -> str:
        try:
            async for frame in socket:
                if isinstance(frame, str):
                    self._on_text(frame)  # (a fragmented one: the library reassembled it)
                else:
                    log.warning("remote control: dropping a binary frame from the relay")
                socket.message_taken()
        except ConnectionClosed as exc:
            if "keepalive ping timeout" in str(exc):
                return strings.RC_WS_PONG_TIMEOUT
            return str(exc)
        close = socket.close_code
        return f"closed by the relay ({close})" if close is not None else "closed"

    def on_frame(self, frame: str) -> None:
        """One envelope from the relay (the single reader; never waits).

        A message or an ack in the exact shape our relay writes is read by slicing
        (:func:`.envelopes.split_client_message`, :func:`.envelopes.split_ack`): the
        message text goes to the processor as it came, no envelope object is built;
        anything else is parsed in full."""
        split = split_client_message(frame)
        if split is not None:
            client_id, stream_id, seq_id, message, cursor = split
            if cursor is not None:
                self._cursor = cursor
            self._on_message(client_id, stream_id, seq_id, message)
            return
        ack = split_ack(frame)
        if ack is not None:
            client_id, stream_id, seq_id, segment_id, cursor = ack
            if cursor is not None:
                self._cursor = cursor
            self._on_ack(client_id, stream_id, seq_id, segment_id)
            return
        try:
            envelope = parse_client_envelope(frame)
        except EnvelopeError as exc:
            self.metrics.bad_envelopes += 1
            log.warning("remote control: ignoring a bad envelope: %s", exc)
            return
        if envelope.cursor is not None:
            self._cursor = envelope.cursor
        if isinstance(envelope, ClientMessage):
            self._on_message(envelope.client_id, envelope.stream_id, envelope.seq_id, envelope.message)
        elif isinstance(envelope, ClientMessageChunk):
            try:
                done = self._reassembler.feed(envelope, utf8_size(frame))
            except ChunkError as exc:
                self.metrics.bad_envelopes += 1
                log.warning("remote control: dropping a chunked message: %s", exc)
                return
            if done is not None:
                self._on_message(done.client_id, done.stream_id, done.seq_id, done.message)
        elif isinstance(envelope, Ack):
            if envelope.stream_id is not None and envelope.seq_id is not None:
                self._on_ack(envelope.client_id, envelope.stream_id, envelope.seq_id, envelope.segment_id)
        elif isinstance(envelope, Ping):
            self._on_ping(envelope.client_id, envelope.stream_id)
        elif isinstance(envelope, ClientClosed):
            self._on_closed(envelope.client_id, envelope.stream_id)

    def _on_message(self, client_id: str, stream_id: str | None, seq_id: int | None, text: str) -> None:
        initialize = _is_initialize(text)
        if stream_id is None:  # legacy controllers: the host picks the stream
            if initialize:
                stream_id = self._legacy[client_id] = str(uuid.uuid4())
            else:
                stream_id = self._legacy.get(client_id)
                if stream_id is None:
                    return
        key = (client_id, stream_id)
        stream = self.streams.get(key)
        if stream is not None and not initialize:
            if stream.accept(seq_id, initialize=False):
                stream.last_seen = time.monotonic()
                stream.conn.receive_nowait(text)
            return
        if not initialize:
            return  # before initialize: ignored, as upstream
        if stream is not None:
            stream.accept(seq_id, initialize=True)
            self._close_stream(stream, strings.RC_CLOSE_REASON_REINITIALIZED)
        self._open_stream(client_id, stream_id, seq_id, text)

    def _open_stream(self, client_id: str, stream_id: str, seq_id: int | None, text: str) -> None:
        key = (client_id, stream_id)
        conn = self.processor.register(
            TRANSPORT,
            OverflowPolicy.DISCONNECT,
            outbound_items=limits.RC_STREAM_OUTBOUND_MESSAGES,
            inbound_items=limits.RC_STREAM_INBOUND_MESSAGES,
            inbound_bytes=limits.RC_STREAM_INBOUND_BYTES,
            peer=f"{client_id}/{stream_id}",
        )
        stream = RemoteStream(client_id, stream_id, conn)
        conn.set_direct_writer(lambda text: self._write_answer(stream, text))
        stream.accept(seq_id, initialize=True)
        self.streams[key] = stream
        self.metrics.streams_opened += 1
        log.info("remote stream opened: %s/%s (connection %d)", client_id, stream_id, conn.id)
        conn.receive_nowait(text)
        assert self._tg is not None
        self._tg.start_soon(self._run_stream, stream)

    async def _run_stream(self, stream: RemoteStream) -> None:
        conn = stream.conn
        try:
            try:
                await conn.open()
            except BackendUnavailable as exc:
                log.warning("remote stream %s/%s: backend unavailable: %s", stream.client_id, stream.stream_id, exc)
                conn.close(CloseCode.INTERNAL_ERROR, strings.CLOSE_REASON_BACKEND.format(reason=exc), flush=False)
            else:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(conn.dispatch)
                    await self._stream_writer(stream)
                    tg.cancel_scope.cancel()
        finally:
            await conn.aclose()
            self._retire(stream)
            close = conn.close_request
            log.info(
                "remote stream closed: %s/%s (%s)", stream.client_id, stream.stream_id,
                close.reason or close.code if close is not None else "closed",
            )

    def _retire(self, stream: RemoteStream) -> None:
        key = (stream.client_id, stream.stream_id)
        if self.streams.get(key) is stream:
            del self.streams[key]

    def _close_stream(self, stream: RemoteStream, reason: str) -> None:
        self._retire(stream)
        stream.conn.close(CloseCode.NORMAL, reason, flush=False)

    def _on_ack(self, client_id: str, stream_id: str, seq_id: int, segment_id: int | None) -> None:
        if self.buffer.ack(client_id, stream_id, seq_id, segment_id):
            self._room.fire()

    def _on_ping(self, client_id: str, stream_id: str | None) -> None:
        if stream_id is None:
            stream_id = self._legacy.get(client_id) or str(uuid.uuid4())
        stream = self.streams.get((client_id, stream_id))
        if stream is not None:
            stream.last_seen = time.monotonic()
        status = PongStatus.ACTIVE if stream is not None else PongStatus.UNKNOWN
        seq_id = self._seq.next(client_id, stream_id)
        data = encode(Pong(client_id, stream_id, seq_id, status)).encode()
        self.buffer.record_many((client_id, stream_id), [(seq_id, _WHOLE, data)])
        self._emit(data)

    def _on_closed(self, client_id: str, stream_id: str | None) -> None:
        if stream_id is None:
            stream_id = self._legacy.pop(client_id, None)
            if stream_id is None:
                return
        stream = self.streams.get((client_id, stream_id))
        if stream is not None:
            self._reassembler.invalidate(client_id, stream_id)
            self._close_stream(stream, strings.RC_CLOSE_REASON_CLIENT_CLOSED)

    async def _idle_sweep(self) -> None:
        while True:
            await anyio.sleep(limits.RC_IDLE_SWEEP_INTERVAL)
            self.close_idle(time.monotonic())

    def close_idle(self, now: float) -> int:
        """Close the streams with no message or ping for ``RC_IDLE_TIMEOUT``; how many."""
        deadline = now - limits.RC_IDLE_TIMEOUT
        idle = [s for s in self.streams.values() if s.last_seen < deadline]
        for stream in idle:
            log.info("remote stream %s/%s idle; closing", stream.client_id, stream.stream_id)
            self._close_stream(stream, strings.RC_CLOSE_REASON_IDLE)
        return len(idle)

    def __repr__(self) -> str:
        return f"<HostLink streams={len(self.streams)} connected={self._socket is not None}>"


def kind_for(status: int) -> ErrorKind:
    if status in (401, 403):
        return ErrorKind.PERMISSION_DENIED
    if status == 404:
        return ErrorKind.NOT_FOUND
    return ErrorKind.OTHER
