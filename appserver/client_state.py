"""Per-connection protocol state: initialize, experimentalApi, notification opt-outs. Sans-I/O.

spec/transport.md §7.2–7.4. A connection starts :attr:`ClientPhase.NEW`. Its first
``initialize`` moves it to ``INITIALIZING`` (forwarded to the backend) and the backend's
successful answer to ``READY``; an error answer puts it back to ``NEW`` so the client may
try again. Until ``READY`` the connection receives only answers to its own requests, never
notifications (upstream's "outbound-initialized").
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from appserver import jsonrpc, strings


class ClientPhase(enum.Enum):
    NEW = "new"
    INITIALIZING = "initializing"
    READY = "ready"


# Bound to module names: an enum class's ``__getattr__`` (Python 3.11) makes each
# ``ClientPhase.READY`` cost about ten times a global on the per-message path.
_NEW = ClientPhase.NEW
_INITIALIZING = ClientPhase.INITIALIZING
_READY = ClientPhase.READY


@dataclass(frozen=True, slots=True)
class Rejection:
    """An error answer the gateway gives itself, without asking the backend."""

    code: int
    message: str

    def to_error(self, request_id: jsonrpc.RequestId) -> dict[str, Any]:
        return jsonrpc.error(request_id, self.code, self.message)


def _is_header_value(value: str) -> bool:
    # RFC 9110 field-value: visible ASCII, space and tab; no control characters. Upstream
    # checks with the `http` crate's HeaderValue (spec/transport.md §7.2).
    return all(c == "\t" or 0x20 <= ord(c) < 0x7F for c in value)


@dataclass(slots=True)
class ClientState:
    """What the gateway knows about one client connection's protocol state."""

    state: ClientPhase = ClientPhase.NEW
    #: The connection's transport: ``stdio``, ``unix``, ``ws``, ``wss`` or ``remote``.
    transport: str = ""
    experimental_api: bool = False
    opt_out: frozenset[str] = field(default_factory=frozenset)
    client_name: str | None = None
    client_version: str | None = None
    initialize_id: jsonrpc.RequestId | None = None

    def check_request(self, request: jsonrpc.Message) -> Rejection | None:
        """Apply the initialize rules to a client request before it is forwarded.

        Returns the rejection to answer with, or ``None`` to forward the request.
        """
        if request.method == "initialize":
            if self.state is not _NEW:
                return Rejection(jsonrpc.INVALID_REQUEST, strings.ALREADY_INITIALIZED)
            return self._begin_initialize(request)
        if self.state is _NEW:
            return Rejection(jsonrpc.INVALID_REQUEST, strings.NOT_INITIALIZED)
        # INITIALIZING: the request is queued behind initialize and the backend handles
        # them in order, as upstream does for a client that pipelines them.
        return None

    def _begin_initialize(self, request: jsonrpc.Message) -> Rejection | None:
        params = request.params if isinstance(request.params, dict) else {}
        client_info = params.get("clientInfo") if isinstance(params.get("clientInfo"), dict) else {}
        name = client_info.get("name")
        if isinstance(name, str) and not _is_header_value(name):
            return Rejection(
                jsonrpc.INVALID_REQUEST, strings.INVALID_CLIENT_NAME.format(name=name)
            )
        capabilities = params.get("capabilities")
        capabilities = capabilities if isinstance(capabilities, dict) else {}
        opt_out = capabilities.get("optOutNotificationMethods") or ()
        self.experimental_api = capabilities.get("experimentalApi") is True
        self.opt_out = frozenset(m for m in opt_out if isinstance(m, str))
        self.client_name = name if isinstance(name, str) else None
        version = client_info.get("version")
        self.client_version = version if isinstance(version, str) else None
        self.initialize_id = request.id
        self.state = _INITIALIZING
        return None

    def on_answer(self, answer: jsonrpc.Message) -> None:
        """Note a backend answer; the one to ``initialize`` decides the client's phase."""
        if self.state is _INITIALIZING and answer.id == self.initialize_id:
            if answer.kind is jsonrpc.MessageKind.RESPONSE:
                self.state = _READY
            else:
                self.state = _NEW
            self.initialize_id = None

    def wants_notification(self, method: str | None) -> bool:
        """Deliver a server notification? Only once ready, and never an opted-out one."""
        return self.state is _READY and method not in self.opt_out

    def __repr__(self) -> str:
        return (
            f"<ClientState {self.transport} {self.state.value} client={self.client_name!r} "
            f"experimental={self.experimental_api} opt_out={len(self.opt_out)}>"
        )
