"""How a connection ends: WebSocket close codes and the close request a transport carries out.

A processor connection is not a socket (remote control carries many over one link), so the
processor never closes anything itself: it records a :class:`CloseRequest` and the
transport carries it out (a close frame on a WebSocket; forgetting the stream on a
multiplexed link). The reason is cut here, and only here, to what a close frame can hold.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from appserver import limits


class CloseCode(enum.IntEnum):
    """The close codes the gateway uses (RFC 6455 §7.4.1)."""

    NORMAL = 1000
    #: The gateway is shutting down.
    GOING_AWAY = 1001
    #: Never sent on the wire: the peer went away without a close handshake.
    ABNORMAL = 1006
    #: The client broke a bound: it does not read its messages (outbound queue full), or
    #: it sends faster than the gateway reads (inbound queue full).
    POLICY_VIOLATION = 1008
    #: The backend behind this connection failed.
    INTERNAL_ERROR = 1011
    #: Refused for now: the gateway holds as many connections as it may (limits.MAX_CONNECTIONS).
    TRY_AGAIN_LATER = 1013


def cut_reason(reason: str, max_bytes: int = limits.CLOSE_REASON_MAX_BYTES) -> str:
    """``reason`` cut to at most ``max_bytes`` of UTF-8, never inside a character.

    A close frame's payload is the 2-byte code and at most 123 bytes of reason (RFC 6455
    §5.5); a reason cut by characters can be longer than that in bytes (``é`` is two),
    and the WebSocket library then refuses to send the close at all.
    """
    data = reason.encode("utf-8")
    if len(data) <= max_bytes:
        return reason
    return data[:max_bytes].decode("utf-8", errors="ignore")


@dataclass(frozen=True, slots=True)
class CloseRequest:
    """Why the processor wants a connection closed: a close code and a reason that fits a
    close frame (build it with :meth:`of`, which cuts the reason)."""

    code: int
    reason: str

    @classmethod
    def of(cls, code: int, reason: str) -> CloseRequest:
        return cls(int(code), cut_reason(reason))


#: An absolute path of two or more parts (``/home/me/.codex/x.sock``).
_ABSOLUTE_PATH = re.compile(r"(?<![\w:/.])/(?:[^\s/:'\"`]+/)+([^\s/:'\"`]+)")


def public_reason(reason: str) -> str:
    """``reason`` as a remote client may see it (close reasons, -32603 messages): absolute
    paths are cut to their last part, so a failure never reveals CODEX_HOME or a user's
    home folder. Logs keep the whole reason."""
    return _ABSOLUTE_PATH.sub(r"\1", reason)
