"""The built-in backend's sessions and method dispatch."""

from __future__ import annotations

import logging
import platform
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from appserver import __version__, jsonrpc, strings
from appserver.backends.base import Peer
from appserver.session import Rejection

log = logging.getLogger("appserver.builtin")


class RpcError(Exception):
    """Raised by a handler to answer its request with a JSON-RPC error."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


Handler = Callable[["BuiltinSession", Any], Awaitable[Any]]


class BuiltinSession:
    """One client connection's session with the built-in backend."""

    def __init__(self, backend: BuiltinBackend, peer: Peer) -> None:
        self.backend = backend
        self.peer = peer

    async def send(self, message: jsonrpc.Message) -> None:
        if message.kind is not jsonrpc.MessageKind.REQUEST:
            return  # client notifications (`initialized`) and answers are only noted
        handler = self.backend.handlers[message.method]  # reject_method vetted the name
        try:
            result = await handler(self, message.params)
        except RpcError as exc:
            payload = jsonrpc.error(message.id, exc.code, exc.message, exc.data)
        else:
            payload = jsonrpc.response(message.id, result)
        await self.peer.deliver(jsonrpc.Message.from_payload(payload))

    async def aclose(self) -> None:
        pass

    def __repr__(self) -> str:
        return f"<BuiltinSession connection={self.peer.id}>"


async def _initialize(session: BuiltinSession, params: Any) -> dict[str, Any]:
    return {
        "userAgent": f"appserver/{__version__} ({platform.system()} {platform.release()})",
        "codexHome": str(session.backend.codex_home),
        "platformFamily": "windows" if sys.platform == "win32" else "unix",
        "platformOs": {"darwin": "macos", "win32": "windows"}.get(sys.platform, sys.platform),
    }


class BuiltinBackend:
    """In-process app-server semantics shared by every connection."""

    name = "builtin"

    def __init__(self, codex_home: Path) -> None:
        self.codex_home = codex_home
        self.handlers: dict[str, Handler] = {"initialize": _initialize}

    @property
    def description(self) -> str:
        return "built-in offline backend"

    @property
    def ready(self) -> bool:
        return True

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        yield

    async def open_session(self, peer: Peer) -> BuiltinSession:
        return BuiltinSession(self, peer)

    def reject_method(self, method: str) -> Rejection | None:
        if method in self.handlers:
            return None
        expected = ", ".join(f"`{m}`" for m in self.handlers)
        return Rejection(
            jsonrpc.INVALID_REQUEST,
            f"{strings.INVALID_REQUEST_PREFIX}unknown variant `{method}`, expected one of {expected}",
        )

    def __repr__(self) -> str:
        return f"<BuiltinBackend methods={len(self.handlers)}>"
