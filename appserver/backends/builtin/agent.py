"""The deterministic echo agent and the turn runner that streams its reply.

The reply to user text ``T`` is exactly ``echo: T`` (the text inputs of the turn joined
by newlines). A turn that asks for structured output (``outputSchema``, as the TUI does
to make a thread title) gets a JSON object instead: every required string property set
to ``echo: <last line of T>``, cut to the property's ``maxLength``.

A turn streams the notification sequence codex 0.169.0 sends for a one-message turn
(observed with the binary; tests/integration/test_builtin_stdio.py checks the order),
after the ``turn/start`` response::

    thread/status/changed {active}   turn/started
    item/started userMessage         item/completed userMessage
    item/started agentMessage        item/agentMessage/delta × N     item/completed agentMessage
    thread/status/changed {idle}     turn/completed

``turn/interrupt`` cancels the stream; the turn then completes with status
``interrupted`` and the agent message holds what was streamed so far.

A message ``!run CMD`` first asks for approval (:mod:`.approvals`); the reply is then
``approved: CMD`` or ``declined: CMD`` and nothing is executed.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

import anyio
import anyio.lowlevel

from appserver import limits, strings
from appserver.backends.builtin.approvals import Approvals, run_command
from appserver.backends.builtin.events import notification, now_ms, now_s, uuid7
from appserver.backends.builtin.threads import ACTIVE, IDLE, Thread, ThreadStore, Turn

log = logging.getLogger("appserver.builtin")

_WORD = re.compile(r"\S+\s*|\s+")


def input_text(items: list[Any]) -> str:
    """The user's text: the ``text`` inputs of a turn, joined by newlines."""
    return "\n".join(
        item["text"]
        for item in items
        if isinstance(item, dict)
        and item.get("type") == "text"
        and isinstance(item.get("text"), str)
    )


def reply(text: str, output_schema: Any = None) -> str:
    """The agent's complete reply to ``text``."""
    answer = f"echo: {text}"
    if isinstance(output_schema, dict) and isinstance(output_schema.get("properties"), dict):
        last_line = next((line for line in reversed(text.splitlines()) if line.strip()), "")
        value = f"echo: {last_line.strip()}"
        fields: dict[str, str] = {}
        for name in output_schema.get("required") or ():
            spec = output_schema["properties"].get(name)
            if isinstance(spec, dict) and spec.get("type") == "string":
                max_length = spec.get("maxLength")
                fields[name] = value[:max_length] if isinstance(max_length, int) else value
        return json.dumps(fields, ensure_ascii=False)
    return answer


def chunks(text: str, max_chars: int = limits.BUILTIN_DELTA_MAX_CHARS) -> list[str]:
    """Split a reply into deltas at word ends (each word with its trailing space)."""
    parts: list[str] = []
    for match in _WORD.finditer(text):
        word = match.group()
        parts.extend(word[i : i + max_chars] for i in range(0, len(word), max_chars))
    return parts or [""]


class TurnRunner:
    """Runs one turn of a thread and streams it to the thread's subscribers."""

    def __init__(
        self,
        store: ThreadStore,
        thread: Thread,
        turn: Turn,
        user_input: list[Any],
        client_id: str | None,
        output_schema: Any,
        delta_interval: float,
        approvals: Approvals | None = None,
    ) -> None:
        self.store = store
        self.thread = thread
        self.turn = turn
        self.user_input = user_input
        self.client_id = client_id
        self.output_schema = output_schema
        self.delta_interval = delta_interval
        self.approvals = approvals if approvals is not None else Approvals()

    async def _emit(self, method: str, params: dict[str, Any]) -> None:
        await self.thread.broadcast(notification(method, params))

    def _delta(self, item_id: str, delta: str) -> dict[str, Any]:
        return {"threadId": self.thread.id, "turnId": self.turn.id, "itemId": item_id, "delta": delta}

    async def _emit_deltas(self, item_id: str, run: list[str], streamed: list[str]) -> None:
        """Stream a run of deltas, adding each to ``streamed`` once sent: together to
        clients that never wait for room, one at a time when one may wait (an interrupt
        can then land between two deltas, and ``streamed`` must say which were sent)."""
        thread = self.thread
        if any(peer.waits_for_room for peer in thread.subscribers.values()):
            for delta in run:
                await self._emit("item/agentMessage/delta", self._delta(item_id, delta))
                streamed.append(delta)
            return
        await thread.broadcast_many(
            [notification("item/agentMessage/delta", self._delta(item_id, delta)) for delta in run]
        )
        streamed.extend(run)

    async def _item(self, method: str, item: dict[str, Any], at_ms: int) -> None:
        ids = {"threadId": self.thread.id, "turnId": self.turn.id}
        if method == "item/started":
            await self._emit(method, {"item": item, **ids, "startedAtMs": at_ms})
        else:
            await self._emit(
                method, {"item": item, **ids, "contentTokenCount": None, "completedAtMs": at_ms}
            )

    async def run(self) -> None:
        try:
            await self._run()
        except Exception:
            # A turn the agent cannot run (e.g. an outputSchema it cannot read) ends the
            # way a failed codex turn does: `error`, idle, `turn/completed` status failed.
            log.exception("turn %s of thread %s failed", self.turn.id, self.thread.id)
            await self._fail(strings.BUILTIN_TURN_FAILED)
        finally:
            if self.turn.status == "inProgress":  # cancelled part-way
                self.turn.status = "failed"
                self.store.turn_finished(self.thread, self.turn)

    async def _fail(self, message: str) -> None:
        thread, turn = self.thread, self.turn
        if turn.status != "inProgress":
            return
        error = {"message": message, "codexErrorInfo": None, "additionalDetails": None}
        turn.scope = None
        turn.status = "failed"
        turn.error = error
        turn.completed_at = now_s()
        self.store.turn_finished(thread, turn)
        ids = {"threadId": thread.id, "turnId": turn.id}
        await self._emit("error", {"error": error, "willRetry": False, **ids})
        await self._emit("thread/status/changed", {"threadId": thread.id, "status": IDLE})
        await self._emit("turn/completed", {"threadId": thread.id, "turn": turn.to_wire("summary")})

    async def _run(self) -> None:
        thread, turn = self.thread, self.turn
        started = time.monotonic()
        text = input_text(self.user_input)
        turn.started_at = now_s()
        await self._emit("thread/status/changed", {"threadId": thread.id, "status": ACTIVE})
        await self._emit("turn/started", {"threadId": thread.id, "turn": turn.to_wire("notLoaded")})

        at = now_ms()
        user = {
            "type": "userMessage",
            "id": uuid7(),
            "clientId": self.client_id,
            "content": self.user_input,
            "startedAtMs": at,
            "completedAtMs": None,
        }
        await self._item("item/started", user, at)
        user = {**user, "completedAtMs": now_ms()}
        await self._item("item/completed", user, user["completedAtMs"])
        if not thread.preview and text:
            thread.preview = text[: limits.BUILTIN_DELTA_MAX_CHARS * 4]

        answer = reply(text, self.output_schema)
        command = run_command(text) if self.output_schema is None else None
        if command is not None:
            answer = await self._decide(command)

        at = now_ms()
        agent = {
            "type": "agentMessage",
            "moderation": None,
            "id": f"msg_{uuid.uuid4().hex}",
            "text": "",
            "phase": None,
            "memoryCitation": None,
            "delivery": None,
            "questions": None,
            "startedAtMs": at,
            "completedAtMs": None,
        }
        await self._item("item/started", agent, at)
        streamed: list[str] = []
        with anyio.CancelScope() as scope:
            turn.scope = scope
            if turn.interrupt_requested:
                scope.cancel()
            pieces = chunks(answer)
            if self.delta_interval:
                for delta in pieces:
                    await anyio.sleep(self.delta_interval)
                    await self._emit("item/agentMessage/delta", self._delta(agent["id"], delta))
                    streamed.append(delta)
            else:
                for start in range(0, len(pieces), limits.BUILTIN_DELTAS_PER_YIELD):
                    # Delivering to socket clients never waits, so without this a long
                    # reply would hold the event loop for the whole turn (scripts/bench
                    # slow_client measured 1.2 s round trips for other clients).
                    await anyio.lowlevel.checkpoint()
                    run = pieces[start : start + limits.BUILTIN_DELTAS_PER_YIELD]
                    await self._emit_deltas(agent["id"], run, streamed)
        turn.scope = None

        agent = {**agent, "text": "".join(streamed), "completedAtMs": now_ms()}
        await self._item("item/completed", agent, agent["completedAtMs"])
        turn.items = [user, agent]
        turn.status = "interrupted" if scope.cancelled_caught else "completed"
        turn.completed_at = now_s()
        turn.duration_ms = int((time.monotonic() - started) * 1000)
        self.store.turn_finished(thread, turn)
        await self._emit("thread/status/changed", {"threadId": thread.id, "status": IDLE})
        await self._emit("turn/completed", {"threadId": thread.id, "turn": turn.to_wire("summary")})

    async def _decide(self, command: str) -> str:
        """Ask for approval of ``command``; the reply text (empty if interrupted meanwhile:
        the streaming scope below is then cancelled at once)."""
        with anyio.CancelScope() as scope:
            self.turn.scope = scope
            if self.turn.interrupt_requested:
                scope.cancel()
            approved = await self.approvals.ask(self.thread, self.turn, command)
        self.turn.scope = None
        if scope.cancelled_caught:
            return ""
        template = strings.BUILTIN_RUN_APPROVED if approved else strings.BUILTIN_RUN_DECLINED
        return template.format(command=command)

    def __repr__(self) -> str:
        return f"<TurnRunner thread={self.thread.id} turn={self.turn.id}>"


async def compact(store: ThreadStore, thread: Thread, turn: Turn) -> None:
    """A compaction turn with nothing to compact: one ``contextCompaction`` item."""
    started = time.monotonic()
    turn.started_at = now_s()

    async def emit(method: str, params: dict[str, Any]) -> None:
        await thread.broadcast(notification(method, params))

    ids = {"threadId": thread.id, "turnId": turn.id}
    await emit("thread/status/changed", {"threadId": thread.id, "status": ACTIVE})
    await emit("turn/started", {"threadId": thread.id, "turn": turn.to_wire("notLoaded")})
    at = now_ms()
    item = {"type": "contextCompaction", "id": uuid7()}
    await emit("item/started", {"item": item, **ids, "startedAtMs": at})
    await emit("item/completed", {"item": item, **ids, "contentTokenCount": None, "completedAtMs": now_ms()})
    await emit("thread/compacted", ids)
    turn.items = [item]
    turn.status = "completed"
    turn.completed_at = now_s()
    turn.duration_ms = int((time.monotonic() - started) * 1000)
    store.turn_finished(thread, turn)
    await emit("thread/status/changed", {"threadId": thread.id, "status": IDLE})
    await emit("turn/completed", {"threadId": thread.id, "turn": turn.to_wire("summary")})
