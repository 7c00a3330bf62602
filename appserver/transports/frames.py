"""Text frames handed over where they are parsed, without a task per message.

``websockets``' asyncio connections parse frames in the socket's ``data_received``
callback and put complete messages in a queue that a reader task awaits (``recv()`` /
``async for``): a task wake-up, a future and a queue round per message, on each side of
the gateway. On the per-message path that is most of what the WebSocket layer costs.

:class:`DirectTextFrames` lets a connection register a *text sink*: a callable that takes a
complete text message in that same callback and returns ``True`` when it handled it without
waiting. It returns ``False`` (having done nothing) when handling could have to wait — a
full inbound queue, a client whose policy is to wait for room — and the message then goes
through the library's queue to the reader task, as before. Order never changes: once a
message went to the queue, every later one follows it there until the reader has taken
them all (:meth:`DirectTextFrames.message_taken`).

Everything else stays the library's: the handshake, control frames, fragmented messages
(reassembled by the queue; rare on this path), UTF-8 validation (an invalid text frame
goes to the queue, whose reader closes the connection with 1007 as before), close
handshake, flow control of what is queued.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.server import ServerConnection
from websockets.frames import DATA_OPCODES, Frame, Opcode
from websockets.protocol import Event

log = logging.getLogger("appserver.websocket")

#: Takes one complete text message; ``True`` when handled, ``False`` (nothing done) when
#: the message must go through the reader task instead.
TextSink = Callable[[str], bool]

_TEXT = Opcode.TEXT


class DirectTextFrames:
    """Mixin for a ``websockets`` asyncio connection (see the module docstring)."""

    _text_sink: TextSink | None = None
    #: Messages given to the library's queue and not yet taken by the reader.
    _queued_messages = 0

    def set_text_sink(self, sink: TextSink | None) -> None:
        self._text_sink = sink

    def message_taken(self) -> None:
        """The reader task is done with one message it took from the queue."""
        if self._queued_messages:
            self._queued_messages -= 1

    def process_event(self, event: Event) -> None:
        sink = self._text_sink
        if (
            sink is not None
            and not self._queued_messages
            and type(event) is Frame  # not a handshake event
            and event.opcode is _TEXT
            and event.fin
        ):
            try:
                text = event.data.decode()
            except UnicodeDecodeError:
                pass  # the queue's reader closes the connection with 1007
            else:
                try:
                    if sink(text):
                        return
                except Exception:
                    # A bug, not bad input (sinks never raise for bad input): end this
                    # connection loudly rather than hang it.
                    log.exception("text sink failed; dropping the connection")
                    self.transport.abort()  # type: ignore[attr-defined]
                    return
        if type(event) is Frame and event.opcode in DATA_OPCODES and event.fin:
            self._queued_messages += 1
        super().process_event(event)  # type: ignore[misc]


class DirectServerConnection(DirectTextFrames, ServerConnection):
    """A server-side connection with a text sink."""


class DirectClientConnection(DirectTextFrames, ClientConnection):
    """A client-side connection with a text sink."""
