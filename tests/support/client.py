"""A small JSON-RPC test client over WebSocket (TCP URL or Unix socket path).

Shared by integration and interop tests::

    async with RpcClient.connect_unix(path) as client:
        await client.initialize()
        result = await client.call("thread/start", {})

The pieces every test-side client shares (this one, the relay test harnesses' streams and
controllers, the benchmark client) are here too: :func:`initialize_params`,
:func:`answer_to`, :func:`notification_named` and :func:`wait_for_message`. They classify
messages by their keys on purpose, independently of the product's ``appserver.jsonrpc``
they are testing.
"""

from __future__ import annotations

import itertools
import json
import ssl
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import anyio
from websockets.asyncio.client import ClientConnection, connect, unix_connect

from appserver.transports.unix_path import UDS_WEBSOCKET_URI
from tests.support import deadlines

DEFAULT_TIMEOUT = deadlines.STEP

Received = dict[str, Any]


def initialize_params(name: str, *, experimental: bool = True, **capabilities: Any) -> dict[str, Any]:
    """``initialize`` params of a test client called ``name`` (version 1.0)."""
    return {
        "clientInfo": {"name": name, "title": None, "version": "1.0"},
        "capabilities": {"experimentalApi": experimental, **capabilities},
    }


def answer_to(request_id: Any) -> Callable[[Received], bool]:
    """Matches the response or error to request ``request_id``."""
    return lambda m: m.get("id") == request_id and ("result" in m or "error" in m)


def notification_named(method: str) -> Callable[[Received], bool]:
    """Matches a notification ``method`` (not a server request of that name)."""
    return lambda m: m.get("method") == method and "id" not in m


async def wait_for_message(
    inbox: list[Received],
    receive: Callable[[], Awaitable[Received]],
    predicate: Callable[[Received], bool],
    timeout: float,
) -> Received:
    """The first message matching ``predicate``: from ``inbox`` (messages received earlier
    and not asked for yet), else received now; the others are kept in ``inbox``, in order."""
    for i, message in enumerate(inbox):
        if predicate(message):
            return inbox.pop(i)
    with anyio.fail_after(timeout):
        while True:
            message = await receive()
            if predicate(message):
                return message
            inbox.append(message)


class ErrorAnswer(Exception):
    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(f"{error.get('code')}: {error.get('message')}")
        self.error = error


class RpcClient:
    """One WebSocket connection; collects notifications while waiting for answers."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        #: Every message received that was not returned by ``wait_for``/``call`` yet.
        self.inbox: list[dict[str, Any]] = []

    @classmethod
    def connect_unix(cls, path: Path | str, **kwargs: Any) -> _Connecting:
        return _Connecting(unix_connect(str(path), UDS_WEBSOCKET_URI, max_size=None, **kwargs))

    @classmethod
    def connect_url(
        cls,
        url: str,
        headers: Mapping[str, str] | None = None,
        ssl_context: ssl.SSLContext | None = None,
        **kwargs: Any,
    ) -> _Connecting:
        if ssl_context is not None:
            kwargs["ssl"] = ssl_context
        return _Connecting(connect(url, additional_headers=headers, max_size=None, **kwargs))

    async def send(self, payload: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(payload))

    async def recv(self, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        """The next message: from the inbox first, else from the socket."""
        if self.inbox:
            return self.inbox.pop(0)
        with anyio.fail_after(timeout):
            return json.loads(await self.ws.recv())

    async def wait_for(self, predicate: Any, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        """The first message matching ``predicate``; others stay in the inbox, in order."""
        return await wait_for_message(self.inbox, self._receive, predicate, timeout)

    async def _receive(self) -> dict[str, Any]:
        return json.loads(await self.ws.recv())

    async def request(self, method: str, params: Any = None, *, id: Any = None) -> dict[str, Any]:
        """Send a request and return its whole answer (result or error)."""
        request_id = next(self.ids) if id is None else id
        payload: dict[str, Any] = {"id": request_id, "method": method}
        if params is not None:
            payload["params"] = params
        await self.send(payload)
        return await self.wait_for(answer_to(request_id))

    async def call(self, method: str, params: Any = None) -> Any:
        """Send a request and return its result; raise :class:`ErrorAnswer` for an error."""
        answer = await self.request(method, params)
        if "error" in answer:
            raise ErrorAnswer(answer["error"])
        return answer["result"]

    async def initialize(self, name: str = "tests", *, experimental: bool = True, **caps: Any) -> Any:
        result = await self.call("initialize", initialize_params(name, experimental=experimental, **caps))
        await self.send({"method": "initialized"})
        return result

    async def notification(self, method: str, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        return await self.wait_for(notification_named(method), timeout)


class _Connecting:
    def __init__(self, connecting: Any) -> None:
        self._connecting = connecting
        self._client: RpcClient | None = None

    async def __aenter__(self) -> RpcClient:
        self._client = RpcClient(await self._connecting.__aenter__())
        return self._client

    async def __aexit__(self, *exc: Any) -> None:
        await self._connecting.__aexit__(*exc)
