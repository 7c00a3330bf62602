"""``appserver call``: one request for scripts and operators.

Connect (the same connectors as the proxy), ``initialize`` with ``experimentalApi``, send
the request, and return its answer. Notifications that arrive meanwhile are passed to
``on_notification`` (the command prints them only with ``--notifications``); server
requests (e.g. approvals) cannot be answered by a one-shot caller and get an error reply
so the server does not wait for them.
"""

from __future__ import annotations

import json
import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from appserver import __version__, jsonrpc, limits, strings
from appserver.connect import Target, open_websocket

CLIENT_NAME = "appserver-call"
INITIALIZE_ID = "initialize"
CALL_ID = 1


class CallFailed(Exception):
    """The connection ended before the answer; ``str(err)`` is the one line shown."""


@dataclass(frozen=True)
class Answer:
    """The response to the call: exactly one of ``result`` / ``error`` is meaningful."""

    ok: bool
    payload: Any  # the result, or the error object


def initialize_params() -> dict[str, Any]:
    return {
        "clientInfo": {"name": CLIENT_NAME, "title": None, "version": __version__},
        "capabilities": {"experimentalApi": True},
    }


def request_payload(request_id: Any, method: str, params: Any, has_params: bool) -> dict[str, Any]:
    payload: dict[str, Any] = {"id": request_id, "method": method}
    if has_params:
        payload["params"] = params
    return payload


class _Exchange:
    """One connection's messages: what we send, and what we read on the way to an answer."""

    def __init__(
        self, ws: ClientConnection, target: Target, on_notification: Callable[[str], None]
    ) -> None:
        self.ws = ws
        self.target = target
        self.on_notification = on_notification

    async def request(self, payload: dict[str, Any]) -> Answer:
        await self._send(payload)
        wanted = payload["id"]
        while True:
            message = await self._next()
            if message.is_answer and message.id == wanted and type(message.id) is type(wanted):
                if message.kind is jsonrpc.MessageKind.ERROR:
                    return Answer(False, message.payload["error"])
                return Answer(True, message.payload.get("result"))

    async def wait_notification(self, method: str) -> None:
        """Read until a notification ``method`` arrives (it goes to ``on_notification`` too)."""
        while True:
            message = await self._next()
            if message.kind is jsonrpc.MessageKind.NOTIFICATION and message.method == method:
                return

    async def _next(self) -> jsonrpc.Message:
        """The next notification or answer (classified by :mod:`appserver.jsonrpc`).

        Notifications go to ``on_notification``; a server request (e.g. an approval) goes
        there too and is refused rather than left to stall; frames that are not JSON-RPC
        are skipped.
        """
        while True:
            try:
                frame = await self.ws.recv()
            except ConnectionClosed as exc:
                raise CallFailed(self._closed_message(exc)) from None
            if not isinstance(frame, str):
                continue
            try:
                message = jsonrpc.parse(frame)
            except jsonrpc.ParseError:
                continue
            if message.kind is jsonrpc.MessageKind.REQUEST:
                self.on_notification(frame)
                assert message.id is not None  # a request has an id
                refusal = jsonrpc.error(
                    message.id, jsonrpc.METHOD_NOT_FOUND, strings.CALL_SERVER_REQUEST_REFUSED
                )
                await self._send(refusal)
                continue
            if message.kind is jsonrpc.MessageKind.NOTIFICATION:
                self.on_notification(frame)
            return message

    async def notify(self, method: str) -> None:
        await self._send({"method": method})

    async def _send(self, payload: dict[str, Any]) -> None:
        try:
            await self.ws.send(json.dumps(payload))
        except ConnectionClosed as exc:
            raise CallFailed(self._closed_message(exc)) from None

    def _closed_message(self, exc: ConnectionClosed) -> str:
        received = exc.rcvd
        if received is None:
            return strings.CALL_CONNECTION_LOST.format(target=self.target)
        reason = f" {received.reason}" if received.reason else ""
        return strings.CALL_CONNECTION_CLOSED.format(
            target=self.target, code=received.code, reason=reason
        )


class Caller:
    """An initialized connection for several requests in turn (``appserver pair``)."""

    def __init__(self, exchange: _Exchange) -> None:
        self._exchange = exchange
        self._ids = itertools.count(CALL_ID)

    async def request(self, method: str, params: Any = None) -> Answer:
        payload = request_payload(next(self._ids), method, params, params is not None)
        return await self._exchange.request(payload)


@asynccontextmanager
async def connected(
    target: Target, on_notification: Callable[[str], None] = lambda _: None
) -> AsyncIterator[Caller]:
    """Connect and initialize; raises ConnectFailed / CallFailed (also if initialize fails)."""
    ws = await open_websocket(target)
    try:
        caller = _Exchange(ws, target, on_notification)
        init = await caller.request(
            request_payload(INITIALIZE_ID, "initialize", initialize_params(), True)
        )
        if not init.ok:
            message = init.payload.get("message") if isinstance(init.payload, dict) else None
            raise CallFailed(strings.CALL_INITIALIZE_FAILED.format(message=message or init.payload))
        await caller.notify("initialized")
        yield Caller(caller)
    finally:
        await ws.close()


async def call_once(
    target: Target,
    method: str,
    params: Any,
    *,
    has_params: bool,
    on_notification: Callable[[str], None],
    wait_for: str | None = None,
) -> Answer:
    """Initialize, send ``method``, return its answer. Raises ConnectFailed / CallFailed.

    ``method`` ``initialize`` is sent as the connection's initialize (with our params
    unless given), so its answer is the server's own. With ``wait_for``, after a successful
    answer the call also waits (at most limits.CALL_WAIT_TIMEOUT) for that notification.
    """
    ws = await open_websocket(target)
    try:
        caller = _Exchange(ws, target, on_notification)
        if method == "initialize":
            answer = await caller.request(
                request_payload(
                    INITIALIZE_ID, method, params if has_params else initialize_params(), True
                )
            )
            if answer.ok:
                await caller.notify("initialized")
        else:
            init = await caller.request(
                request_payload(INITIALIZE_ID, "initialize", initialize_params(), True)
            )
            if not init.ok:
                return init
            await caller.notify("initialized")
            answer = await caller.request(request_payload(CALL_ID, method, params, has_params))
        if answer.ok and wait_for is not None:
            with anyio.move_on_after(limits.CALL_WAIT_TIMEOUT):
                await caller.wait_notification(wait_for)
                return answer
            raise CallFailed(
                strings.CALL_WAIT_TIMED_OUT.format(method=wait_for, seconds=limits.CALL_WAIT_TIMEOUT)
            )
        return answer
    finally:
        await ws.close()
