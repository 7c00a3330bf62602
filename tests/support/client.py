"""A small JSON-RPC test client over WebSocket (TCP URL or Unix socket path).

Shared by integration and interop tests::

    async with RpcClient.connect_unix(path) as client:
        await client.initialize()
        result = await client.call("thread/start", {})
"""

from __future__ import annotations

import itertools
import json
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio
from websockets.asyncio.client import ClientConnection, connect, unix_connect

from appserver.transports.unix_path import UDS_WEBSOCKET_URI

DEFAULT_TIMEOUT = 30.0


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
        for i, message in enumerate(self.inbox):
            if predicate(message):
                return self.inbox.pop(i)
        with anyio.fail_after(timeout):
            while True:
                message = json.loads(await self.ws.recv())
                if predicate(message):
                    return message
                self.inbox.append(message)

    async def request(self, method: str, params: Any = None, *, id: Any = None) -> dict[str, Any]:
        """Send a request and return its whole answer (result or error)."""
        request_id = next(self.ids) if id is None else id
        payload: dict[str, Any] = {"id": request_id, "method": method}
        if params is not None:
            payload["params"] = params
        await self.send(payload)
        return await self.wait_for(
            lambda m: m.get("id") == request_id and ("result" in m or "error" in m)
        )

    async def call(self, method: str, params: Any = None) -> Any:
        """Send a request and return its result; raise :class:`ErrorAnswer` for an error."""
        answer = await self.request(method, params)
        if "error" in answer:
            raise ErrorAnswer(answer["error"])
        return answer["result"]

    async def initialize(self, name: str = "tests", *, experimental: bool = True, **caps: Any) -> Any:
        capabilities = {"experimentalApi": experimental, **caps}
        result = await self.call(
            "initialize",
            {"clientInfo": {"name": name, "title": None, "version": "1.0"}, "capabilities": capabilities},
        )
        await self.send({"method": "initialized"})
        return result

    async def notification(self, method: str, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        return await self.wait_for(lambda m: m.get("method") == method and "id" not in m, timeout)


class _Connecting:
    def __init__(self, connecting: Any) -> None:
        self._connecting = connecting
        self._client: RpcClient | None = None

    async def __aenter__(self) -> RpcClient:
        self._client = RpcClient(await self._connecting.__aenter__())
        return self._client

    async def __aexit__(self, *exc: Any) -> None:
        await self._connecting.__aexit__(*exc)
