"""The host link's outgoing WebSocket frames, built a batch at a time. Sans-I/O.

The link is a WebSocket *client* (RFC 6455 §5.3: every frame it sends is masked with a
fresh 4-byte key). ``websockets`` frames one message per call (a ``Frame`` object, a
``BytesIO``, and ``os.urandom(4)`` — one ``getrandom`` system call — per frame); on a
streamed turn the link sends tens of thousands of envelopes a second, so it builds its
text frames here instead: one ``os.urandom`` call for the keys of a whole batch, each
frame's key still its own, the masking itself by ``websockets``' C ``apply_mask``.

Only what the link sends goes this way: unfragmented text frames (an envelope is at most
``RC_MAX_ENVELOPE_BYTES``), on a connection without extensions (the link never offers
compression). Control frames, the close handshake and flow control stay the library's.
"""

from __future__ import annotations

import os
import struct

from websockets.frames import apply_mask  # the C version where websockets built it

__all__ = ["masked_text_frames"]

_FIN_TEXT = 0x81  # FIN, opcode 1 (text)
_MASKED = 0x80
#: Header and masking key of a frame whose payload is shorter than 126 bytes, 64 KiB, or longer.
_SHORT = struct.Struct("!BB4s").pack
_MEDIUM = struct.Struct("!BBH4s").pack
_LONG = struct.Struct("!BBQ4s").pack


def masked_text_frames(payloads: list[bytes]) -> bytes:
    """Client text frames (FIN set, masked, each with its own random key) carrying each of
    ``payloads`` (UTF-8 text), joined for one socket write."""
    keys = os.urandom(4 * len(payloads))
    parts: list[bytes] = []
    append = parts.append
    at = 0
    for data in payloads:
        key = keys[at : at + 4]
        at += 4
        size = len(data)
        if size < 126:
            append(_SHORT(_FIN_TEXT, _MASKED | size, key))
        elif size < 65536:
            append(_MEDIUM(_FIN_TEXT, _MASKED | 126, size, key))
        else:
            append(_LONG(_FIN_TEXT, _MASKED | 127, size, key))
        append(apply_mask(data, key))
    return b"".join(parts)
