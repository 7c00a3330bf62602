"""Text frames of an aiohttp server WebSocket handed over where they are parsed.

aiohttp parses frames in the socket's ``data_received`` callback and puts each complete
message into a queue (``WebSocketDataQueue``) that ``ws.receive()`` / ``async for msg in
ws`` awaits: a task wake-up, a future and a queue round per message. On the relay's
per-message path that was a large part of what a relayed message cost.

:class:`InlineWebSocketResponse` lets the handler register a *text sink*: a callable that
takes a complete text message inside that same callback and returns ``True`` when it
handled it without waiting. It returns ``False`` (having done nothing) when handling could
have to wait, and the message then goes through aiohttp's queue to the reader task, as
before. Order never changes: once a message went to the queue, every later one follows it
there until the reader has handled them all (it calls :meth:`~InlineWebSocketResponse.message_taken`
after each text or binary message it got from ``receive()``). After a close frame (or an
error) nothing more is taken inline.

Everything else stays aiohttp's: the handshake, control frames (pings answered by
``receive()``), fragmented messages (reassembled by aiohttp before they get here), UTF-8
validation (an invalid text frame never reaches the sink: aiohttp closes with 1007),
heartbeats, the close handshake, flow control of what is queued (a message taken inline
is not counted against the queue's limit: the sink's owner bounds its own buffers).

A sink may come with a *read end* callback, called once the frames of one socket read
have all been handed over (after the last message of the read, before anything else runs):
the place to write what a batch of messages calls for in one socket write (the relay's
acks to a host).

Heartbeats (``heartbeat=``): aiohttp pushes its ping timer back on every socket read, with
a callback scheduled for the end of the loop iteration (a handle, a timer computation and
a pong-timer cancel per read, twice per relayed round trip). Here a read only sets a flag
in the parser; when the ping timer fires and something was read since it was set, the
peer is alive and the timer is set again ``heartbeat`` from then (instead of from the last
read); likewise a pong deadline that passes after a read is not a dead peer. So a ping
goes out after between one and two ``heartbeat`` of silence (aiohttp: exactly one), and a
peer that answers nothing is still closed half a heartbeat after that ping.

aiohttp has no public hook for this, so this is the ONE module that touches its private
API (aiohttp 3.14): the queue class (``aiohttp._websocket.reader.WebSocketDataQueue``,
compiled with Cython; a Python subclass's ``feed_data`` overrides the ``cpdef`` method
the compiled parser calls), the frame parser class (``WebSocketReader``, whose
``feed_data`` the server protocol calls with each read's bytes) and
``WebSocketResponse._post_start``, which builds both from ``aiohttp.web_ws``'s module
names ``WebSocketDataQueue`` and ``WebSocketReader``. Should a later aiohttp build them
another way, :meth:`InlineWebSocketResponse.prepare` raises at once (and
``tests/unit/test_relay_inline_ws.py`` fails) rather than silently losing the fast path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web, web_ws
from aiohttp._websocket.reader import WebSocketDataQueue, WebSocketReader

__all__ = ["InlineWebSocketResponse", "ReadDone", "TextSink"]

log = logging.getLogger("appserver.relay")

#: Takes one complete text message; ``True`` when handled, ``False`` (nothing done) when
#: the message must go through the reader task instead.
TextSink = Callable[[str], bool]
#: Called after the messages of one socket read were handed over.
ReadDone = Callable[[], None]

_TEXT = WSMsgType.TEXT
_BINARY = WSMsgType.BINARY
_PING_PONG = (WSMsgType.PING, WSMsgType.PONG)


class _InlineQueue(WebSocketDataQueue):  # type: ignore[misc]
    """aiohttp's message queue, with a sink that takes text messages before it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sink: TextSink | None = None
        #: Text and binary messages queued and not yet handled by the reader.
        self.queued = 0

    def feed_data(self, data: Any, size: int) -> None:  # called by the compiled parser
        kind = data[0]
        if kind is _TEXT:
            sink = self.sink
            if sink is not None and not self.queued:
                try:
                    handled = sink(data[1])
                except Exception:
                    # A bug, not bad input (sinks never raise for bad input): aiohttp
                    # takes the exception as the parser's and ends the connection.
                    log.exception("text sink failed; dropping the connection")
                    self.sink = None
                    raise
                if handled:
                    return
            self.queued += 1
        elif kind is _BINARY:
            self.queued += 1
        elif kind not in _PING_PONG:
            self.sink = None  # close (or error): whatever follows is aiohttp's
        super().feed_data(data, size)


class _ReadEndParser(WebSocketReader):  # type: ignore[misc]
    """aiohttp's frame parser, calling ``read_done`` after the frames of each read, and
    noting that something was read (``heard``: the heartbeat's sign of life)."""

    read_done: ReadDone | None = None
    heard = False

    def feed_data(self, data: Any) -> Any:  # called by the server protocol, once per read
        self.heard = True
        result = super().feed_data(data)
        read_done = self.read_done
        if read_done is not None:
            read_done()
        return result


class InlineWebSocketResponse(web.WebSocketResponse):
    """An aiohttp server WebSocket with :meth:`set_text_sink` (see the module docstring)."""

    _inline: _InlineQueue | None = None
    _read_end: _ReadEndParser | None = None
    _pending_sink: TextSink | None = None
    _pending_read_done: ReadDone | None = None

    def set_text_sink(self, sink: TextSink | None, read_done: ReadDone | None = None) -> None:
        """Hand complete text messages to ``sink`` from now on (``None``: the queue only),
        and call ``read_done`` after the messages of each socket read."""
        if self._inline is None or self._read_end is None:
            self._pending_sink, self._pending_read_done = sink, read_done
        else:
            self._inline.sink = sink
            self._read_end.read_done = read_done

    def message_taken(self) -> None:
        """The reader is done with one text or binary message it got from ``receive()``."""
        inline = self._inline
        if inline is not None and inline.queued:
            inline.queued -= 1

    def _post_start(self, request: Any, protocol: Any, writer: Any) -> None:
        # aiohttp builds its queue here, by the module name: ours for this one call
        # (synchronous: nothing else runs meanwhile).
        queue_class, parser_class = web_ws.WebSocketDataQueue, web_ws.WebSocketReader
        web_ws.WebSocketDataQueue = _InlineQueue  # type: ignore[misc]
        web_ws.WebSocketReader = _ReadEndParser  # type: ignore[misc]
        try:
            super()._post_start(request, protocol, writer)
        finally:
            web_ws.WebSocketDataQueue = queue_class  # type: ignore[misc]
            web_ws.WebSocketReader = parser_class  # type: ignore[misc]
        queue = self._reader
        parser = getattr(request.protocol, "_payload_parser", None)
        if not isinstance(queue, _InlineQueue) or not isinstance(parser, _ReadEndParser):
            raise RuntimeError(
                "aiohttp no longer builds its WebSocket queue and parser in WebSocketResponse._post_start "
                "(appserver.relay.inline_ws needs updating for this aiohttp version)"
            )
        if getattr(request.protocol, "_data_received_cb", None) != (
            None if self._heartbeat is None else self._on_data_received
        ):
            raise RuntimeError(
                "aiohttp no longer resets the heartbeat through the protocol's _data_received_cb "
                "(appserver.relay.inline_ws needs updating for this aiohttp version)"
            )
        # The parser notes each read instead (see the module docstring: heartbeats).
        request.protocol._data_received_cb = None
        self._inline, self._read_end = queue, parser
        queue.sink, parser.read_done = self._pending_sink, self._pending_read_done
        self._pending_sink = self._pending_read_done = None

    def _heard(self) -> bool:
        """Something was read since the last call (or the start)."""
        parser = self._read_end
        if parser is None or not parser.heard:
            return False
        parser.heard = False
        return True

    def _send_heartbeat(self) -> None:
        if self._heard():  # alive: look again a heartbeat from now
            self._heartbeat_cb = None
            self._reset_heartbeat()
            return
        super()._send_heartbeat()

    def _pong_not_received(self) -> None:
        if self._heard():  # read since the ping: alive (as aiohttp's per-read reset says)
            self._pong_response_cb = None
            self._reset_heartbeat()
            return
        super()._pong_not_received()
