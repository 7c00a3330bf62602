"""The seam between the processor and a backend.

A :class:`Backend` serves many connections; for each client connection the processor
opens one :class:`BackendSession` (for the codex backend, one upstream app-server
session, so codex keeps its own per-connection semantics). The processor hands the session
every client message that passed the initialize rules; the session answers by calling
:meth:`Peer.deliver` on the connection it was opened for.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol

from appserver import jsonrpc
from appserver.client_state import Rejection, ClientState


class Peer(Protocol):
    """What a backend session sees of its client connection."""

    @property
    def id(self) -> int: ...

    @property
    def client(self) -> ClientState: ...

    async def deliver(self, message: jsonrpc.Message) -> None:
        """Send a message to the client: an answer, a notification or a server request.

        Notifications are filtered by the connection's initialize state and opt-outs;
        answers always reach it. May wait (stdio) when the client is slow.
        """
        ...

    @property
    def waits_for_room(self) -> bool:
        """Whether :meth:`deliver` may wait; when not, :meth:`deliver_nowait` may be used."""
        ...

    def deliver_nowait(self, message: jsonrpc.Message) -> None:
        """:meth:`deliver` without a coroutine, for a peer that does not wait for room."""
        ...

    def deliver_many_nowait(self, messages: list[jsonrpc.Message]) -> None:
        """:meth:`deliver_nowait` for each of ``messages`` in order (a streamed turn's run of
        deltas), without a call chain per message."""
        ...

    def backend_failed(self, reason: str) -> None:
        """The session cannot go on: the processor answers what is owed and closes."""
        ...


class BackendSession(Protocol):
    """One client connection's session with the backend."""

    async def send(self, message: jsonrpc.Message) -> None:
        """A client message: a request, a notification, or an answer to a server request."""
        ...

    async def send_batch(self, messages: list[jsonrpc.Message]) -> None:
        """Several client messages, in order (what the processor calls). A session that
        writes to a socket sends them with one write; others may loop over :meth:`send`."""
        ...

    async def aclose(self) -> None:
        """The client connection is gone; release everything held for it."""
        ...

    # Optional (the processor's direct path; looked up with getattr):
    #
    # def send_nowait(self, message: jsonrpc.Message) -> bool:
    #     """Send one client message at once, without waiting, and return True; or return
    #     False, having sent nothing, when that is not possible now (the processor queues it
    #     and calls send_batch later). Raises BackendUnavailable like send_batch."""


class Backend(Protocol):
    """A source of app-server semantics shared by every connection of the gateway."""

    #: Short name for logs and the banner: ``builtin``, ``codex``, ...
    name: str

    @property
    def description(self) -> str:
        """One line for the startup banner, e.g. where the codex binary is."""
        ...

    @property
    def ready(self) -> bool:
        """Whether new sessions can be opened now (feeds ``/readyz``)."""
        ...

    def running(self) -> AbstractAsyncContextManager[None]:
        """Start the backend for the lifetime of the ``async with`` block."""
        ...

    async def open_session(self, peer: Peer) -> BackendSession:
        """Open a session for a new client connection; raises :class:`~appserver.errors.BackendUnavailable`."""
        ...

    def reject_method(self, method: str) -> Rejection | None:
        """Refuse a request method before any other rule applies (unknown methods).

        Upstream checks the method name before initialization (spec/transport.md §7.2),
        so a backend that knows its method table answers here; one that forwards
        everything returns ``None`` and lets the upstream server answer.
        """
        ...
