"""The built-in backend: sessions, method dispatch, and the shared state of the process.

A request goes through, in order (upstream's order, spec/transport.md §7):

1. :meth:`BuiltinBackend.reject_method` (called by the processor before the initialize
   rules): a method upstream does not know gets ``-32600 Invalid request: unknown variant
   `foo`, expected one of …`` with the full 0.169.0 method list;
2. ``experimentalApi`` gating: an experimental method, or an experimental params field
   that is set, is refused with ``-32600 {what} requires experimentalApi capability``
   unless the connection opted in;
3. a method upstream has but this backend does not implement gets -32601 with
   ``strings.BUILTIN_UNSUPPORTED_METHOD`` (-32601 so that clients probing for optional
   methods treat it as "unsupported", not as a broken call);
4. the handler (:mod:`.handlers`); bad params give upstream's ``Invalid request: …``.

State (threads, turns, subscriptions) is in memory and shared by every connection of the
gateway process; see :mod:`.threads` for subscriptions and the caps that bound it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
from anyio.abc import TaskGroup

from appserver import jsonrpc, strings
from appserver.backends.base import Peer
from appserver.backends.builtin import methods
from appserver.backends.builtin.approvals import Approvals
from appserver.backends.builtin.handlers import HANDLERS, Reply
from appserver.errors import BackendUnavailable, RpcError
from appserver.backends.builtin.threads import ThreadStore
from appserver.client_state import Rejection

log = logging.getLogger("appserver.builtin")


class BuiltinSession:
    """One client connection's session with the built-in backend."""

    def __init__(self, backend: BuiltinBackend, peer: Peer) -> None:
        self.backend = backend
        self.peer = peer

    async def send(self, message: jsonrpc.Message) -> None:
        if message.is_answer:
            # An answer to a server request (the `!run` approval); unknown ones are dropped.
            if not self.backend.approvals.answer(self.peer.id, message):
                log.info(
                    "connection %d: ignoring an answer to no open server request (id %r)",
                    self.peer.id,
                    message.id,
                )
            return
        if message.kind is not jsonrpc.MessageKind.REQUEST:
            return  # client notifications (`initialized`) need no reply
        method = message.method
        assert method is not None
        reply: Reply | None = None
        try:
            reason = methods.experimental_reason(method, message.params)
            if reason is not None and not self.peer.client.experimental_api:
                raise RpcError(
                    jsonrpc.INVALID_REQUEST, strings.EXPERIMENTAL_REQUIRED.format(reason=reason)
                )
            handler = HANDLERS.get(method)
            if handler is None:
                raise RpcError(
                    jsonrpc.METHOD_NOT_FOUND,
                    strings.BUILTIN_UNSUPPORTED_METHOD.format(method=method),
                )
            result = await handler(self, message.params)
            if isinstance(result, Reply):
                reply, result = result, result.result
            answer = jsonrpc.Message.from_payload(jsonrpc.response(message.id, result))
        except RpcError as exc:
            answer = jsonrpc.Message.from_payload(jsonrpc.error(message.id, exc.code, exc.message))
        except Exception:
            # A handler bug or params it did not foresee: this request fails, nothing else.
            log.exception("connection %d: built-in handler for %s failed", self.peer.id, method)
            reply = None
            answer = jsonrpc.Message.from_payload(
                jsonrpc.error(
                    message.id,  # type: ignore[arg-type]
                    jsonrpc.INTERNAL_ERROR,
                    strings.BUILTIN_HANDLER_FAILED.format(method=method),
                )
            )
        await self.peer.deliver(answer)
        if reply is not None and reply.then is not None:
            await reply.then()

    async def send_batch(self, messages: list[jsonrpc.Message]) -> None:
        for message in messages:
            await self.send(message)

    async def aclose(self) -> None:
        self.backend.sessions.pop(self.peer.id, None)
        self.backend.store.unsubscribe_all(self.peer.id)

    def __repr__(self) -> str:
        return f"<BuiltinSession connection={self.peer.id}>"


class BuiltinBackend:
    """In-process app-server semantics shared by every connection of the gateway.

    ``delta_interval`` pauses between streamed deltas (seconds; 0 streams as fast as the
    clients read, which is what benchmarks want).
    """

    name = "builtin"

    def __init__(
        self, codex_home: Path, *, delta_interval: float = 0.0, store: ThreadStore | None = None
    ) -> None:
        self.codex_home = codex_home
        self.delta_interval = delta_interval
        self.store = store if store is not None else ThreadStore()
        self.sessions: dict[int, BuiltinSession] = {}
        self.approvals = Approvals()
        self._tasks: TaskGroup | None = None

    @property
    def description(self) -> str:
        return "built-in offline backend"

    @property
    def ready(self) -> bool:
        return self._tasks is not None

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        async with anyio.create_task_group() as tasks:
            self._tasks = tasks
            try:
                yield
            finally:
                self._tasks = None
                tasks.cancel_scope.cancel()  # running turns end with the backend

    def spawn(self, fn: Callable[[], Awaitable[None]]) -> None:
        """Run ``fn`` in the background for as long as the backend runs."""
        if self._tasks is None:
            raise BackendUnavailable(strings.BUILTIN_NOT_RUNNING)
        self._tasks.start_soon(self._guard, fn)

    @staticmethod
    async def _guard(fn: Callable[[], Awaitable[None]]) -> None:
        try:
            await fn()
        except Exception:  # one turn's bug must not take the backend down
            log.exception("built-in backend task failed: %r", fn)

    async def open_session(self, peer: Peer) -> BuiltinSession:
        if self._tasks is None:
            raise BackendUnavailable(strings.BUILTIN_NOT_RUNNING)
        session = BuiltinSession(self, peer)
        self.sessions[peer.id] = session
        return session

    async def broadcast(self, message: jsonrpc.Message) -> None:
        """Send a notification to every connection (the processor filters by initialize
        state and opt-outs); like :meth:`.threads.Thread.broadcast`, never held up by a
        slow socket client."""
        for session in list(self.sessions.values()):
            await session.peer.deliver(message)

    def reject_method(self, method: str) -> Rejection | None:
        if method in _KNOWN:
            return None
        return Rejection(
            jsonrpc.INVALID_REQUEST,
            strings.INVALID_REQUEST_PREFIX + methods.unknown_variant(method),
        )

    def __repr__(self) -> str:
        return (
            f"<BuiltinBackend sessions={len(self.sessions)} threads={len(self.store)} "
            f"running={self._tasks is not None}>"
        )


_KNOWN = frozenset(methods.CLIENT_METHODS)
