"""A controllable backend for processor tests: it records what it is sent and answers
only when the test says so (``initialize`` is answered at once unless told otherwise);
and what a transport does with a connection (:func:`forward`, :func:`drain`)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio

from appserver import jsonrpc
from appserver.backends.base import Peer
from appserver.client_state import Rejection
from appserver.errors import BackendUnavailable

if TYPE_CHECKING:
    from appserver.processor import Connection


class FakeSession:
    def __init__(self, backend: FakeBackend, peer: Peer) -> None:
        self.backend = backend
        self.peer = peer
        self.received: list[jsonrpc.Message] = []
        self.closed = False

    async def send(self, message: jsonrpc.Message) -> None:
        if self.backend.fail_sends:
            raise BackendUnavailable("fake backend is down")
        self.received.append(message)
        if message.method == "initialize" and self.backend.answer_initialize:
            await self.answer(message.id, {"userAgent": "fake/1.0"})

    async def send_batch(self, messages: list[jsonrpc.Message]) -> None:
        for message in messages:
            await self.send(message)

    async def answer(self, request_id: Any, result: Any = None) -> None:
        await self.peer.deliver(jsonrpc.Message.from_payload(jsonrpc.response(request_id, result)))

    async def notify(self, method: str, params: Any = None) -> None:
        await self.peer.deliver(jsonrpc.Message.from_payload(jsonrpc.notification(method, params)))

    def requests(self) -> list[Any]:
        return [m.id for m in self.received if m.kind is jsonrpc.MessageKind.REQUEST]

    async def aclose(self) -> None:
        self.closed = True


class FakeBackend:
    name = "fake"
    description = "fake backend for tests"
    ready = True

    def __init__(self) -> None:
        self.sessions: list[FakeSession] = []
        self.answer_initialize = True
        self.fail_sends = False
        self.unavailable = False

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        yield

    async def open_session(self, peer: Peer) -> FakeSession:
        if self.unavailable:
            raise BackendUnavailable("fake backend is not running")
        session = FakeSession(self, peer)
        self.sessions.append(session)
        return session

    def reject_method(self, method: str) -> Rejection | None:
        if method == "nope":
            return Rejection(jsonrpc.INVALID_REQUEST, "Invalid request: unknown variant `nope`")
        return None


async def forward(conn: Connection) -> None:
    """Let ``conn``'s dispatcher forward everything it can now (every task blocked), then
    stop it: what a transport's dispatch task does between two client messages."""
    async with anyio.create_task_group() as tg:
        tg.start_soon(conn.dispatch)
        await anyio.wait_all_tasks_blocked()
        tg.cancel_scope.cancel()


def req(request_id: Any, method: str = "thread/list") -> str:
    """A client request with empty params, as text."""
    return json.dumps({"id": request_id, "method": method, "params": {}})


def drain(conn: Connection) -> list[dict[str, Any]]:
    """Everything queued for the client now, decoded, in order."""
    out = []
    while len(conn.outbound):
        out.append(json.loads(conn.outbound.get_nowait()))
    return out
