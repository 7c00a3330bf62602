"""Text frames to an aiohttp WebSocket, several in one socket write.

aiohttp's ``send_str`` writes each frame with its own ``transport.write``: one ``send``
system call per frame whenever the socket keeps up, which was most of the relay's CPU when
it forwarded a stream of small messages. Here the frames are built as aiohttp's writer
builds them (RFC 6455 §5.2, server side: FIN, opcode 1, unmasked, no extension: the
relay's sockets never compress) and written at once on the request's transport. aiohttp's
own writes (pings, pongs, the close frame) are whole frames too, so frames never
interleave.

Flow control is the caller's: :attr:`FrameWriter.idle` says the socket keeps up (nothing
buffered), and :meth:`FrameWriter.drain` waits while the socket applies backpressure
(aiohttp's stream writer, as ``send_str`` does).
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Iterable

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
__all__ = ["FrameWriter", "text_frame"]

_FIN_TEXT = 0x81  # FIN bit, opcode 0x1 (text)
_HEADER_16 = struct.Struct("!BBH").pack
_HEADER_64 = struct.Struct("!BBQ").pack


def _header(size: int) -> bytes:
    """An unmasked text frame's header (RFC 6455 §5.2): the payload length in 7, 16 or 64 bits."""
    if size < 126:
        return bytes((_FIN_TEXT, size))
    if size < 1 << 16:
        return _HEADER_16(_FIN_TEXT, 126, size)
    return _HEADER_64(_FIN_TEXT, 127, size)


def text_frame(text: str) -> bytes:
    """One unmasked text frame."""
    data = text.encode()
    return _header(len(data)) + data


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
        parts: list[bytes] = []
        for text in texts:
            data = text.encode()
            parts.append(_header(len(data)))
            parts.append(data)
        transport.write(b"".join(parts))  # type: ignore[attr-defined]

    async def drain(self) -> None:
        """Wait while the socket applies backpressure (returns at once otherwise)."""
        await self.stream.drain()

    def __repr__(self) -> str:
        return f"<FrameWriter {'idle' if self.idle else 'busy'}>"
