"""The built-in backend's threads: records, subscriptions, broadcast, and the bounded store.

A thread lives in memory for the gateway process's lifetime (or, if ephemeral, until its
last subscriber leaves). Connections subscribe to a thread by starting, resuming or
forking it and leave with ``thread/unsubscribe`` or by disconnecting; the thread's turn
and item notifications go to its subscribers only.

Broadcast delivers to one subscriber after another through ``Peer.deliver``. That never
lets a slow subscriber hold up the others: socket connections never block in ``deliver``
(a client whose bounded outbound queue is full is disconnected instead), and the only
connection that does wait, stdio, is alone in its process.

Memory is bounded by the caps in :mod:`appserver.limits` ("builtin backend"): when the
store holds too many threads or too much text, the least recently updated threads
without a running turn are forgotten first.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio

from appserver import jsonrpc, limits, strings
from appserver.backends.base import Peer
from appserver.backends.builtin import catalog
from appserver.backends.builtin.events import now_s, uuid7
from appserver.errors import RpcError

IDLE = {"type": "idle"}
ACTIVE = {"type": "active", "activeFlags": []}


@dataclass(eq=False)
class Turn:
    """One turn: the user's message and the agent's reply."""

    id: str
    items: list[dict[str, Any]] = field(default_factory=list)
    status: str = "inProgress"
    started_at: int | None = None
    completed_at: int | None = None
    duration_ms: int | None = None
    #: Cancelled by ``turn/interrupt`` while the reply streams.
    scope: anyio.CancelScope | None = None
    interrupt_requested: bool = False
    #: The protocol ``TurnError`` of a failed turn.
    error: dict[str, Any] | None = None

    def interrupt(self) -> None:
        """Stop streaming the reply (now, or as soon as streaming starts)."""
        self.interrupt_requested = True
        if self.scope is not None:
            self.scope.cancel()

    @property
    def chars(self) -> int:
        return sum(len(item.get("text", "")) for item in self.items) + sum(
            len(part.get("text", ""))
            for item in self.items
            for part in item.get("content", ())
            if isinstance(part, dict)
        )

    def to_wire(self, view: str) -> dict[str, Any]:
        """The protocol ``Turn``; ``view`` is its ``itemsView`` (notLoaded, summary, full)."""
        if view == "full":
            items = list(self.items)
        elif view == "summary":
            items = [item for item in self.items if item["type"] == "agentMessage"]
        else:
            items = []
        return {
            "id": self.id,
            "rootTurnId": self.id,
            "items": items,
            "itemsView": view,
            "status": self.status,
            "error": self.error,
            "startedAt": self.started_at,
            "completedAt": self.completed_at,
            "durationMs": self.duration_ms,
        }

    def __repr__(self) -> str:
        return f"<Turn {self.id} {self.status} items={len(self.items)}>"


@dataclass(eq=False)
class Thread:
    """One conversation, its settings, its turns and the connections subscribed to it."""

    id: str
    cwd: str
    ephemeral: bool
    originator: str
    thread_source: str | None
    approval_policy: Any
    approvals_reviewer: str
    sandbox: dict[str, Any]
    forked_from: str | None = None
    name: str | None = None
    preview: str = ""
    created_at: int = field(default_factory=now_s)
    updated_at: int = 0
    turns: list[Turn] = field(default_factory=list)
    active_turn: Turn | None = None
    subscribers: dict[int, Peer] = field(default_factory=dict)

    #: ``thread/archive``: listed only by ``thread/list`` with ``archived: true``.
    archived: bool = False

    def __post_init__(self) -> None:
        self.updated_at = self.updated_at or self.created_at

    @property
    def status(self) -> dict[str, Any]:
        return ACTIVE if self.active_turn is not None else IDLE

    @property
    def chars(self) -> int:
        return sum(turn.chars for turn in self.turns)

    def to_wire(self, *, turns: str | None = None) -> dict[str, Any]:
        """The protocol ``Thread``; ``turns`` is the items view to include turns with."""
        return {
            "id": self.id,
            "environments": [
                {"environmentId": "local", "cwd": self.cwd, "runtimeWorkspaceRoots": [self.cwd]}
            ],
            "extra": None,
            "sessionId": self.id,
            "forkedFromId": self.forked_from,
            "attachedToThreadId": None,
            "parentThreadId": None,
            "preview": self.preview,
            "ephemeral": self.ephemeral,
            "section": None,
            "sectionEnteredAt": None,
            "projectId": None,
            "historyMode": "paginated",
            "modelProvider": catalog.MODEL_PROVIDER,
            "model": catalog.MODEL,
            "reasoningEffort": None,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "recencyAt": self.updated_at,
            "status": self.status,
            "path": None,
            "cwd": self.cwd,
            "cliVersion": catalog.UPSTREAM_VERSION,
            "originator": self.originator,
            # What codex 0.169.0 reports for threads started through the app server.
            "source": "vscode",
            "canAcceptDirectInput": True,
            "threadSource": self.thread_source,
            "agentNickname": None,
            "agentRole": None,
            "gitInfo": None,
            "name": self.name,
            "daybreakEnabled": None,
            "turns": [turn.to_wire(turns) for turn in self.turns] if turns else [],
        }

    def settings(self) -> dict[str, Any]:
        """The fields thread/start, thread/resume and thread/fork answer with."""
        return {
            "model": catalog.MODEL,
            "modelProvider": catalog.MODEL_PROVIDER,
            "serviceTier": None,
            "disabledPluginIds": [],
            "cwd": self.cwd,
            "runtimeWorkspaceRoots": [self.cwd],
            "instructionSources": [],
            "approvalPolicy": self.approval_policy,
            "approvalsReviewer": self.approvals_reviewer,
            "sandbox": self.sandbox,
            "activePermissionProfile": None,
            "reasoningEffort": None,
            "multiAgentMode": "explicitRequestOnly",
        }

    def find_turn(self, turn_id: str) -> Turn | None:
        for turn in reversed(self.turns):
            if turn.id == turn_id:
                return turn
        return None

    async def broadcast(self, message: jsonrpc.Message) -> None:
        """Send a notification to every subscriber (see the module docstring)."""
        for peer in list(self.subscribers.values()):
            if peer.waits_for_room:
                await peer.deliver(message)
            else:
                peer.deliver_nowait(message)

    async def broadcast_many(self, messages: list[jsonrpc.Message]) -> None:
        """:meth:`broadcast` for several notifications in order (a run of deltas)."""
        for peer in list(self.subscribers.values()):
            if peer.waits_for_room:
                for message in messages:
                    await peer.deliver(message)
            else:
                peer.deliver_many_nowait(messages)

    def __repr__(self) -> str:
        return (
            f"<Thread {self.id} turns={len(self.turns)} subscribers={len(self.subscribers)} "
            f"{'active' if self.active_turn else 'idle'}{' ephemeral' if self.ephemeral else ''}>"
        )


class ThreadStore:
    """Every thread of the process, least recently updated first, within the caps."""

    def __init__(
        self,
        *,
        max_threads: int = limits.BUILTIN_MAX_THREADS,
        max_turns: int = limits.BUILTIN_MAX_TURNS_PER_THREAD,
        max_chars: int = limits.BUILTIN_MAX_STORED_CHARS,
    ) -> None:
        self.max_threads = max_threads
        self.max_turns = max_turns
        self.max_chars = max_chars
        self._threads: OrderedDict[str, Thread] = OrderedDict()
        self._chars = 0

    def __len__(self) -> int:
        return len(self._threads)

    def __iter__(self) -> Iterator[Thread]:
        return iter(list(self._threads.values()))

    def __contains__(self, thread_id: str) -> bool:
        return thread_id in self._threads

    def add(self, thread: Thread) -> Thread:
        self._threads[thread.id] = thread
        self._chars += thread.chars
        self._trim(keep=thread)
        return thread

    def get(self, thread_id: str) -> Thread:
        """The thread, or ``-32600 thread not loaded: {id}`` like upstream."""
        thread = self._threads.get(thread_id)
        if thread is None:
            raise RpcError(
                jsonrpc.INVALID_REQUEST,
                strings.BUILTIN_THREAD_NOT_LOADED.format(thread_id=thread_id),
            )
        return thread

    def new_turn(self, thread: Thread) -> Turn:
        turn = Turn(id=uuid7())
        thread.turns.append(turn)
        thread.active_turn = turn
        while len(thread.turns) > self.max_turns:
            self._chars -= thread.turns.pop(0).chars
        return turn

    def turn_finished(self, thread: Thread, turn: Turn) -> None:
        """Account for a finished turn's text and note the thread as recently updated."""
        if thread.active_turn is turn:
            thread.active_turn = None
        thread.updated_at = now_s()
        if thread.id in self._threads:
            self._threads.move_to_end(thread.id)
            if any(t is turn for t in thread.turns):
                self._chars += turn.chars
            self._trim(keep=thread)

    def subscribe(self, thread: Thread, peer: Peer) -> None:
        thread.subscribers[peer.id] = peer

    def unsubscribe(self, thread: Thread, peer_id: int) -> bool:
        """Remove one subscription; an ephemeral thread goes with its last subscriber."""
        if thread.subscribers.pop(peer_id, None) is None:
            return False
        self._drop_if_abandoned(thread)
        return True

    def unsubscribe_all(self, peer_id: int) -> None:
        """A connection closed: every subscription it held goes."""
        for thread in self:
            self.unsubscribe(thread, peer_id)

    def _drop_if_abandoned(self, thread: Thread) -> None:
        if thread.ephemeral and not thread.subscribers:
            if thread.active_turn is not None:
                thread.active_turn.interrupt()
            self._forget(thread)

    def _forget(self, thread: Thread) -> None:
        if self._threads.pop(thread.id, None) is not None:
            self._chars -= thread.chars

    def _trim(self, keep: Thread) -> None:
        # Forget the least recently updated idle threads until within the caps.
        for thread in self:
            if len(self._threads) <= self.max_threads and self._chars <= self.max_chars:
                return
            if thread is not keep and thread.active_turn is None:
                self._forget(thread)

    def __repr__(self) -> str:
        return f"<ThreadStore threads={len(self._threads)} chars={self._chars}>"
