"""The processor's vocabulary: overflow policies, connection states, process-wide
metrics, and the seam for methods the gateway answers itself."""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from appserver import jsonrpc

if TYPE_CHECKING:
    from appserver.processor.connection import Connection


class OverflowPolicy(enum.Enum):
    """What happens when a client does not read its messages fast enough."""

    #: Producers wait for room (stdio: the only client, never dropped; upstream does so).
    WAIT = "wait"
    #: The client is closed with 1008 (sockets; others never wait for it).
    DISCONNECT = "disconnect"


class ConnectionState(enum.Enum):
    OPEN = "open"
    #: The client sent its last message; answers it is owed are still being delivered.
    DRAINING = "draining"
    #: Closing was requested; the transport flushes what it must and closes.
    CLOSING = "closing"


class GatewayMethods(Protocol):
    """Methods the gateway answers itself, whatever the backend (e.g. ``remoteControl/*``).

    Set as ``Processor(backend, gateway=...)`` or ``processor.gateway = ...`` before
    listeners start. Owned requests still get ``Not initialized`` before ``initialize``;
    experimental gating is the handler's job (it knows which of its methods are).
    """

    def owns(self, method: str) -> bool:
        """Requests with this method are answered by :meth:`handle`, never by the backend."""
        ...

    def owns_notification(self, method: str) -> bool:
        """Backend notifications with this method are dropped (the gateway sends its own)."""
        ...

    async def handle(self, conn: Connection, request: jsonrpc.Message) -> dict[str, Any]:
        """The full answer payload for ``request`` (``jsonrpc.response``/``jsonrpc.error``
        with ``request.id``). Runs concurrently with the connection's other traffic; an
        exception becomes a -32603 answer, never a dead connection."""
        ...

    def on_ready(self, conn: Connection) -> list[jsonrpc.Message]:
        """Called once, right after ``conn``'s initialize answer was queued; the returned
        notifications are queued right behind it. ``conn.client`` knows the client."""
        ...


@dataclass(slots=True)
class Metrics:
    """Process-wide counters, exported by ``/metrics``."""

    messages_in: int = 0
    messages_out: int = 0
    bytes_in: int = 0  # UTF-8 bytes of message text
    bytes_out: int = 0
    malformed: int = 0
    overload_answers: int = 0
    inbound_full_closes: int = 0
    gateway_calls: int = 0
    gateway_failures: int = 0
    #: Client messages handed to the backend by the reader itself (the direct path).
    forwarded_direct: int = 0
    #: Answers and notifications written to the client's socket by the backend's reader itself.
    written_direct: int = 0
    connections_opened: Counter[str] = field(default_factory=Counter)
    closes_by_reason: Counter[str] = field(default_factory=Counter)
    outbound_high_water: int = 0
