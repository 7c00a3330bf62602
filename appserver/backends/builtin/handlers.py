"""The built-in backend's request handlers, one per implemented method.

Each handler takes the calling :class:`~.backend.BuiltinSession` and the raw params and
returns the result, or a :class:`Reply` whose ``then`` runs once the response has been
delivered (so ``thread/started`` and a turn's notifications follow the response, as
with codex). Bad params raise :class:`~appserver.errors.RpcError` with upstream's wording.
Which methods exist, and which need ``experimentalApi``, is in :mod:`.methods`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from appserver import jsonrpc, limits, strings
from appserver.backends.builtin import catalog
from appserver.backends.builtin import params as p
from appserver.backends.builtin.agent import TurnRunner, compact
from appserver.backends.builtin.events import notification, uuid7
from appserver.errors import RpcError
from appserver.backends.builtin.threads import Thread

if TYPE_CHECKING:
    from appserver.backends.builtin.backend import BuiltinSession


@dataclass(frozen=True, slots=True)
class Reply:
    """A result, and what to do right after it has been delivered."""

    result: Any
    then: Callable[[], Awaitable[None]] | None = None


Handler = Callable[["BuiltinSession", Any], Awaitable[Any]]


# --- pagination ---------------------------------------------------------------------------


def _page(items: list[Any], args: dict[str, Any]) -> tuple[list[Any], str | None]:
    """One page of ``items`` for ``cursor``/``limit``; the cursor is an opaque offset."""
    cursor = p.opt_str(args, "cursor")
    limit = p.opt_uint(args, "limit") or limits.BUILTIN_DEFAULT_PAGE_SIZE
    limit = min(limit, limits.BUILTIN_MAX_PAGE_SIZE)
    start = 0
    if cursor is not None:
        # ASCII digits only ("²".isdigit() is true) and no longer than an offset can be;
        # codex's wording, without the "Invalid request: " prefix (observed with 0.169.0).
        if not (cursor.isascii() and cursor.isdigit() and len(cursor) <= limits.BUILTIN_CURSOR_MAX_DIGITS):
            raise RpcError(
                jsonrpc.INVALID_REQUEST, strings.BUILTIN_INVALID_CURSOR.format(cursor=cursor)
            )
        start = int(cursor)
    page = items[start : start + limit]
    more = start + limit < len(items)
    return page, str(start + limit) if more else None


# --- identity, account, catalog -----------------------------------------------------------


async def initialize(session: BuiltinSession, params: Any) -> Any:
    args = p.obj(params)
    info = args.get("clientInfo")
    if not isinstance(info, dict):
        raise p.invalid_request(strings.BUILTIN_MISSING_FIELD.format(field="clientInfo"))
    return catalog.initialize_result(
        session.backend.codex_home,
        p.opt_str(info, "name"),
        p.opt_str(info, "version"),
        windows=sys.platform == "win32",
        os_name={"darwin": "macos", "win32": "windows"}.get(sys.platform, sys.platform),
    )


async def account_read(session: BuiltinSession, params: Any) -> Any:
    p.obj(params)
    return catalog.account()


async def model_list(session: BuiltinSession, params: Any) -> Any:
    data, next_cursor = _page(catalog.models(), p.obj(params))
    return {"data": data, "nextCursor": next_cursor}


async def config_read(session: BuiltinSession, params: Any) -> Any:
    args = p.obj(params)
    return catalog.config(bool(p.opt_bool(args, "includeLayers")))


async def config_requirements_read(session: BuiltinSession, params: Any) -> Any:
    return catalog.config_requirements()


def _cwds(args: dict[str, Any]) -> list[str]:
    cwds = args.get("cwds")
    return [c for c in cwds if isinstance(c, str)] if isinstance(cwds, list) else [os.getcwd()]


async def hooks_list(session: BuiltinSession, params: Any) -> Any:
    return catalog.hooks(_cwds(p.obj(params)))


async def skills_list(session: BuiltinSession, params: Any) -> Any:
    return catalog.skills(_cwds(p.obj(params)))


async def plugin_installed(session: BuiltinSession, params: Any) -> Any:
    p.obj(params)
    return catalog.installed_plugins()


async def collaboration_mode_list(session: BuiltinSession, params: Any) -> Any:
    p.obj(params)
    return catalog.collaboration_modes()


async def experimental_feature_list(session: BuiltinSession, params: Any) -> Any:
    # No feature flags offline; the TUI asks after bootstrap (id tui-daybreak-forwarding).
    _page([], p.obj(params, required=False))
    return {"data": [], "nextCursor": None}


async def gov_cloud_requirements(session: BuiltinSession, params: Any) -> Any:
    p.obj(params)
    return catalog.gov_cloud()


# --- threads ------------------------------------------------------------------------------


def _announce(session: BuiltinSession, thread: Thread) -> Callable[[], Awaitable[None]]:
    async def then() -> None:
        await session.backend.broadcast(
            notification("thread/started", {"thread": thread.to_wire()})
        )

    return then


def _new_thread(session: BuiltinSession, args: dict[str, Any], **extra: Any) -> Thread:
    peer = session.peer
    return Thread(
        id=uuid7(),
        cwd=p.opt_str(args, "cwd") or os.getcwd(),
        ephemeral=bool(p.opt_bool(args, "ephemeral")),
        originator=peer.client.client_name or "appserver",
        thread_source=p.opt_str(args, "threadSource"),
        approval_policy=args.get("approvalPolicy") or "on-request",
        approvals_reviewer=p.opt_str(args, "approvalsReviewer") or "user",
        sandbox=catalog.sandbox(p.opt_str(args, "sandbox")),
        **extra,
    )


async def thread_start(session: BuiltinSession, params: Any) -> Any:
    args = p.obj(params, required=False)
    store = session.backend.store
    thread = store.add(_new_thread(session, args))
    store.subscribe(thread, session.peer)
    return Reply({"thread": thread.to_wire(), **thread.settings()}, _announce(session, thread))


async def thread_resume(session: BuiltinSession, params: Any) -> Any:
    args = p.obj(params)
    store = session.backend.store
    thread = store.get(p.thread_id(args))
    store.subscribe(thread, session.peer)
    view = None if p.opt_bool(args, "excludeTurns") else "full"
    return {"thread": thread.to_wire(turns=view), **thread.settings()}


async def thread_fork(session: BuiltinSession, params: Any) -> Any:
    args = p.obj(params)
    store = session.backend.store
    source = store.get(p.thread_id(args))
    thread = _new_thread(
        session,
        {"cwd": source.cwd, **{k: v for k, v in args.items() if v is not None}},
        forked_from=source.id,
        name=source.name,
        preview=source.preview,
    )
    # Finished turns only: a fork does not inherit a reply still streaming.
    thread.turns = [turn for turn in source.turns if turn.status != "inProgress"]
    store.add(thread)
    store.subscribe(thread, session.peer)
    view = None if p.opt_bool(args, "excludeTurns") else "full"
    return Reply(
        {"thread": thread.to_wire(turns=view), **thread.settings()}, _announce(session, thread)
    )


def _listed(thread: Thread, args: dict[str, Any]) -> bool:
    if thread.ephemeral or thread.archived != (args.get("archived") is True):
        return False
    kinds = args.get("sourceKinds")
    if isinstance(kinds, list) and kinds and "vscode" not in kinds:
        return False
    cwd = args.get("cwd")
    if isinstance(cwd, str) and cwd != thread.cwd:
        return False
    if isinstance(cwd, list) and thread.cwd not in cwd:
        return False
    term = args.get("searchTerm")
    if isinstance(term, str) and term:
        haystack = f"{thread.name or ''}\n{thread.preview}".lower()
        return term.lower() in haystack
    return True


async def thread_list(session: BuiltinSession, params: Any) -> Any:
    args = p.obj(params, required=False)
    threads = [t for t in session.backend.store if _listed(t, args)]
    threads.sort(key=lambda t: t.updated_at, reverse=args.get("sortDirection") != "asc")
    page, next_cursor = _page(threads, args)
    return {
        "data": [t.to_wire() for t in page],
        "readStates": {},
        "nextCursor": next_cursor,
        "backwardsCursor": None,
    }


async def thread_loaded_list(session: BuiltinSession, params: Any) -> Any:
    ids = [t.id for t in session.backend.store]
    page, next_cursor = _page(ids, p.obj(params, required=False))
    return {"data": page, "nextCursor": next_cursor}


async def thread_read(session: BuiltinSession, params: Any) -> Any:
    args = p.obj(params)
    thread = session.backend.store.get(p.thread_id(args))
    view = "full" if p.opt_bool(args, "includeTurns") else None
    return {"thread": thread.to_wire(turns=view), "readState": None}


async def thread_turns_list(session: BuiltinSession, params: Any) -> Any:
    args = p.obj(params)
    thread = session.backend.store.get(p.thread_id(args))
    if not thread.turns:
        raise RpcError(
            jsonrpc.INVALID_REQUEST,
            strings.BUILTIN_THREAD_NOT_MATERIALIZED.format(thread_id=thread.id),
        )
    view = p.opt_str(args, "itemsView") or "summary"
    turns = list(thread.turns)
    if args.get("sortDirection") != "asc":
        turns.reverse()
    page, next_cursor = _page(turns, args)
    return {
        "data": [turn.to_wire(view) for turn in page],
        "nextCursor": next_cursor,
        "backwardsCursor": None,
    }


async def thread_unsubscribe(session: BuiltinSession, params: Any) -> Any:
    args = p.obj(params)
    thread_id = p.thread_id(args)
    store = session.backend.store
    if thread_id not in store:
        return {"status": "notLoaded"}
    unsubscribed = store.unsubscribe(store.get(thread_id), session.peer.id)
    return {"status": "unsubscribed" if unsubscribed else "notSubscribed"}


async def thread_name_set(session: BuiltinSession, params: Any) -> Any:
    args = p.obj(params)
    thread = session.backend.store.get(p.thread_id(args))
    thread.name = p.req_str(args, "name")

    async def then() -> None:
        await thread.broadcast(
            notification("thread/name/updated", {"threadId": thread.id, "threadName": thread.name})
        )

    return Reply({}, then)


async def thread_read_state_update(session: BuiltinSession, params: Any) -> Any:
    args = p.obj(params)
    session.backend.store.get(p.thread_id(args))
    # Turns are read as they stream: nothing is ever unread on an offline server.
    return {"readState": {"firstUnread": None, "revision": uuid7()}}


async def thread_archive(session: BuiltinSession, params: Any) -> Any:
    thread = session.backend.store.get(p.thread_id(p.obj(params)))
    thread.archived = True

    async def then() -> None:
        await session.backend.broadcast(notification("thread/archived", {"threadId": thread.id}))

    return Reply({}, then)


async def thread_unarchive(session: BuiltinSession, params: Any) -> Any:
    thread = session.backend.store.get(p.thread_id(p.obj(params)))
    thread.archived = False

    async def then() -> None:
        await session.backend.broadcast(notification("thread/unarchived", {"threadId": thread.id}))

    return Reply({"thread": thread.to_wire()}, then)


async def thread_compact_start(session: BuiltinSession, params: Any) -> Any:
    """Nothing to compact offline; announced as codex does: a turn with one
    ``contextCompaction`` item, and the older ``thread/compacted`` notification."""
    backend = session.backend
    thread = backend.store.get(p.thread_id(p.obj(params)))
    if thread.active_turn is not None:
        raise RpcError(
            jsonrpc.INVALID_REQUEST, strings.BUILTIN_TURN_IN_PROGRESS.format(thread_id=thread.id)
        )
    turn = backend.store.new_turn(thread)

    async def then() -> None:
        backend.spawn(lambda: compact(backend.store, thread, turn))

    return Reply({}, then)


async def thread_items_list(session: BuiltinSession, params: Any) -> Any:
    """One page of a thread's items (what ``codex resume`` and the TUI's attach read)."""
    args = p.obj(params)
    thread = session.backend.store.get(p.thread_id(args))
    turn_id = p.opt_str(args, "turnId")
    entries = [
        {
            "item": item,
            "turnId": turn.id,
            "startedAtMs": item.get("startedAtMs"),
            "completedAtMs": item.get("completedAtMs"),
        }
        for turn in thread.turns
        if turn_id is None or turn.id == turn_id
        for item in turn.items
    ]
    if args.get("sortDirection") == "desc":
        entries.reverse()
    cursor = args.get("cursor")
    if isinstance(cursor, dict):
        # An item anchor (exclusive): the page starts after that item.
        item_id = cursor.get("itemId")
        anchor = next((i for i, e in enumerate(entries) if e["item"].get("id") == item_id), None)
        if anchor is None or turn_id is None:
            raise RpcError(
                jsonrpc.INVALID_REQUEST, strings.BUILTIN_INVALID_CURSOR.format(cursor=item_id)
            )
        args = {**args, "cursor": str(anchor + 1)}
    page, next_cursor = _page(entries, args)
    start = int(args["cursor"]) if isinstance(args.get("cursor"), str) else 0
    return {
        "data": page,
        "nextCursor": next_cursor,
        "backwardsCursor": str(len(entries) - start) if page else None,
    }


# --- turns --------------------------------------------------------------------------------


async def turn_start(session: BuiltinSession, params: Any) -> Any:
    args = p.obj(params)
    backend = session.backend
    thread = backend.store.get(p.thread_id(args))
    user_input = p.req_list(args, "input")
    client_id = p.opt_str(args, "clientUserMessageId")
    if thread.active_turn is not None:
        raise RpcError(
            jsonrpc.INVALID_REQUEST, strings.BUILTIN_TURN_IN_PROGRESS.format(thread_id=thread.id)
        )
    turn = backend.store.new_turn(thread)
    runner = TurnRunner(
        backend.store,
        thread,
        turn,
        user_input,
        client_id,
        args.get("outputSchema"),
        backend.delta_interval,
        backend.approvals,
    )

    async def then() -> None:
        backend.spawn(runner.run)

    return Reply({"turn": turn.to_wire("notLoaded")}, then)


async def turn_interrupt(session: BuiltinSession, params: Any) -> Any:
    args = p.obj(params)
    thread = session.backend.store.get(p.thread_id(args))
    turn = thread.find_turn(p.req_str(args, "turnId"))
    if turn is not None and turn.status == "inProgress":
        turn.interrupt()
    return {}


HANDLERS: dict[str, Handler] = {
    "initialize": initialize,
    "account/read": account_read,
    "account/bedrock/checkGovCloudRequirements": gov_cloud_requirements,
    "model/list": model_list,
    "config/read": config_read,
    "configRequirements/read": config_requirements_read,
    "hooks/list": hooks_list,
    "skills/list": skills_list,
    "plugin/installed": plugin_installed,
    "collaborationMode/list": collaboration_mode_list,
    "experimentalFeature/list": experimental_feature_list,
    "thread/start": thread_start,
    "thread/resume": thread_resume,
    "thread/fork": thread_fork,
    "thread/list": thread_list,
    "thread/loaded/list": thread_loaded_list,
    "thread/read": thread_read,
    "thread/turns/list": thread_turns_list,
    "thread/unsubscribe": thread_unsubscribe,
    "thread/name/set": thread_name_set,
    "thread/readState/update": thread_read_state_update,
    "thread/archive": thread_archive,
    "thread/unarchive": thread_unarchive,
    "thread/compact/start": thread_compact_start,
    "thread/items/list": thread_items_list,
    "turn/start": turn_start,
    "turn/interrupt": turn_interrupt,
}
