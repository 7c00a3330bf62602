"""The built-in agent's deterministic approval path: ``!run CMD`` (docs/builtin-backend.md).

A user message ``!run CMD`` makes the turn ask the thread's subscribers for approval with
codex 0.169.0's ``item/commandExecution/requestApproval`` server request, wait for the
first answer, tell every subscriber that the request is settled
(``serverRequest/resolved``), and reply ``approved: CMD`` or ``declined: CMD``. Nothing is
ever executed: the path exists so that controllers (approval cards, the TUI's approval
prompt) can be demonstrated and tested offline.

The params follow the 0.169.0 wire shape (``codex app-server generate-ts``): ``kind``,
``threadId``, ``turnId``, ``itemId``, ``startedAtMs`` and ``environmentId`` always present,
the optional fields present only when set (serde's ``skip_serializing_if``).

Answers: ``{"decision": "accept" | "acceptForSession" | {"acceptWith…": …}}`` approves;
``decline``, ``cancel``, an error answer or anything unreadable declines. An interrupt of
the turn withdraws the request (the subscribers still get ``serverRequest/resolved``).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio

from appserver import jsonrpc
from appserver.backends.builtin.events import notification, now_ms, uuid7

if TYPE_CHECKING:
    from appserver.backends.builtin.threads import Thread, Turn

METHOD = "item/commandExecution/requestApproval"
#: What a client may answer with (``availableDecisions``): approve once, or decline.
AVAILABLE_DECISIONS = ("accept", "decline")
_RUN = re.compile(r"!run\s+(\S.*)\Z", re.DOTALL)
_APPROVING = frozenset({"accept", "acceptForSession"})


def run_command(text: str) -> str | None:
    """The command of a ``!run CMD`` message (``CMD`` stripped), else ``None``."""
    match = _RUN.match(text.strip())
    return match.group(1).strip() if match else None


def approves(answer: dict[str, Any]) -> bool:
    """Whether a client's answer to the approval request approves the command."""
    result = answer.get("result")
    if not isinstance(result, dict):
        return False  # an error answer, or no result object
    decision = result.get("decision")
    if isinstance(decision, str):
        return decision in _APPROVING
    if isinstance(decision, dict) and len(decision) == 1:
        return next(iter(decision)) in ("acceptWithExecpolicyAmendment",)
    return False


def request_params(thread: Thread, turn: Turn, command: str, item_id: str) -> dict[str, Any]:
    """The ``item/commandExecution/requestApproval`` params, in 0.169.0's field order."""
    return {
        "kind": "command",
        "threadId": thread.id,
        "turnId": turn.id,
        "itemId": item_id,
        "startedAtMs": now_ms(),
        "environmentId": "local",
        "command": command,
        "cwd": thread.cwd,
        "commandActions": [{"type": "unknown", "command": command}],
        "availableDecisions": list(AVAILABLE_DECISIONS),
    }


@dataclass(eq=False)
class PendingApproval:
    """One approval request sent to a thread's subscribers, waiting for its first answer."""

    request_id: int
    thread_id: str
    asked: frozenset[int]
    answered: anyio.Event = field(default_factory=anyio.Event)
    approved: bool = False

    def __repr__(self) -> str:
        state = "answered" if self.answered.is_set() else "waiting"
        return f"<PendingApproval id={self.request_id} thread={self.thread_id} {state}>"


class Approvals:
    """The backend's open approval requests, keyed by server request id.

    Ids are integers from one counter for the whole backend, so an answer identifies its
    request whichever connection sends it; only connections that were asked may answer.
    """

    def __init__(self) -> None:
        self._ids = itertools.count()
        self._pending: dict[int, PendingApproval] = {}

    def __len__(self) -> int:
        return len(self._pending)

    async def ask(self, thread: Thread, turn: Turn, command: str) -> bool:
        """Ask ``thread``'s subscribers to approve ``command``; ``True`` if approved.

        Waits for the first answer (cancel the caller to withdraw the request); then
        every subscriber gets ``serverRequest/resolved``.
        """
        pending = PendingApproval(
            request_id=next(self._ids), thread_id=thread.id, asked=frozenset(thread.subscribers)
        )
        self._pending[pending.request_id] = pending
        request = jsonrpc.Message.from_payload(
            jsonrpc.request(
                pending.request_id, METHOD, request_params(thread, turn, command, uuid7())
            )
        )
        try:
            for peer in list(thread.subscribers.values()):
                await peer.deliver(request)
            await pending.answered.wait()
            return pending.approved
        finally:
            self._pending.pop(pending.request_id, None)
            with anyio.CancelScope(shield=True):
                await thread.broadcast(
                    notification(
                        "serverRequest/resolved",
                        {"threadId": thread.id, "requestId": pending.request_id},
                    )
                )

    def answer(self, peer_id: int, message: jsonrpc.Message) -> bool:
        """A client's answer (response or error); ``False`` if it answers nothing open."""
        pending = self._pending.get(message.id) if isinstance(message.id, int) else None
        if pending is None or peer_id not in pending.asked or pending.answered.is_set():
            return False
        pending.approved = approves(message.payload)
        pending.answered.set()
        return True

    def __repr__(self) -> str:
        return f"<Approvals pending={len(self._pending)}>"
