"""Text frames to an aiohttp WebSocket, several in one socket write.

aiohttp's ``send_str`` writes each frame with its own ``transport.write``: one ``send``
system call per frame whenever the socket keeps up, which was most of the relay's CPU when
it forwarded a stream of small messages. Here the frames are built by the gateway's frame
builder (:func:`appserver.transports.frames.encoded_text_frames`; RFC 6455 §5.2, server
side: FIN, opcode 1, unmasked, no extension: the relay's sockets never compress) and
written at once on the request's transport. aiohttp's
own writes (pings, pongs, the close frame) are whole frames too, so frames never
interleave.

Flow control is the caller's: :attr:`FrameWriter.idle` says the socket keeps up (nothing
buffered), and :meth:`FrameWriter.drain` waits while the socket applies backpressure
(aiohttp's stream writer, as ``send_str`` does).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter

from appserver.transports.frames import encoded_text_frames

__all__ = ["FrameWriter", "text_frame"]


def text_frame(text: str) -> bytes:
    """One unmasked text frame (the gateway's frame builder, server side)."""
    return encoded_text_frames([text.encode()], masked=False)


class FrameWriter:
    """Writes batches of text frames to one prepared aiohttp WebSocket."""

    __slots__ = ("ws", "transport", "stream")

    def __init__(
        self, ws: web.WebSocketResponse, transport: asyncio.BaseTransport | None, stream: AbstractStreamWriter
    ) -> None:
        self.ws = ws
        self.transport = transport
        self.stream = stream

    @classmethod
    async def prepare(cls, ws: web.WebSocketResponse, request: web.Request) -> FrameWriter:
        """Do the WebSocket handshake (``ws.prepare``) and return the socket's writer."""
        stream = await ws.prepare(request)
        return cls(ws, request.transport, stream)

    @property
    def idle(self) -> bool:
        """Nothing is waiting in the transport's buffer: a write goes out at once."""
        transport = self.transport
        return transport is not None and not transport.is_closing() and transport.get_write_buffer_size() == 0  # type: ignore[attr-defined]

    def write(self, texts: Iterable[str]) -> None:
        """Write every text as one text frame, all in ONE ``transport.write``; never waits.

        Raises :class:`ConnectionResetError` (nothing written) once the socket is closing.
        """
        transport = self.transport
        if self.ws.closed or transport is None or transport.is_closing():
            raise ConnectionResetError("the WebSocket is closing")
        transport.write(encoded_text_frames([text.encode() for text in texts], masked=False))  # type: ignore[attr-defined]

    async def drain(self) -> None:
        """Wait while the socket applies backpressure (returns at once otherwise)."""
        await self.stream.drain()

    def __repr__(self) -> str:
        return f"<FrameWriter {'idle' if self.idle else 'busy'}>"
