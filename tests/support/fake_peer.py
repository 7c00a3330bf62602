"""A fake :class:`appserver.backends.base.Peer` for driving backends without sockets."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import anyio

from appserver import jsonrpc
from appserver.client_state import ClientState, ClientPhase
from tests.support import deadlines

_ids = itertools.count(1000)


class FakePeer:
    """Records everything a backend delivers; its session is initialized already."""

    def __init__(self, *, experimental: bool = True, name: str = "tests") -> None:
        self.id = next(_ids)
        self.client = ClientState(
            state=ClientPhase.READY, experimental_api=experimental, client_name=name
        )
        self.messages: list[dict[str, Any]] = []
        #: Every ``backend_failed`` reason, in order.
        self.failures: list[str] = []
        self._changed = anyio.Event()
        self._request_ids = itertools.count(1)

    @property
    def failed(self) -> str | None:
        """The last ``backend_failed`` reason, if any."""
        return self.failures[-1] if self.failures else None

    #: Like a socket client: never waits for room, so backends may deliver in a callback.
    waits_for_room = False

    async def deliver(self, message: jsonrpc.Message) -> None:
        self.deliver_nowait(message)

    def deliver_nowait(self, message: jsonrpc.Message) -> None:
        # Round-trip through the wire text: what a client would really receive.
        self.messages.append(jsonrpc.parse(message.text).payload)
        self._pulse()

    def deliver_many_nowait(self, messages: list[jsonrpc.Message]) -> None:
        for message in messages:
            self.deliver_nowait(message)

    def backend_failed(self, reason: str) -> None:
        self.failures.append(reason)
        self._pulse()

    def _pulse(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def wait_until(self, condition: Callable[[], object]) -> None:
        """Wait until ``condition()`` holds, re-checked on every delivery or failure."""
        with anyio.fail_after(deadlines.STEP):  # a deadline against hangs, not a timing assertion
            while not condition():
                await self._changed.wait()

    async def wait_for(self, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The first delivered message matching ``predicate``, waiting for it if needed."""
        found: list[dict[str, Any]] = []

        def match() -> bool:
            found[:] = [m for m in self.messages if predicate(m)][:1]
            return bool(found)

        await self.wait_until(match)
        return found[0]

    async def call(
        self, session: Any, method: str, params: Any = None, *, omit_params: bool = False
    ) -> dict[str, Any]:
        """Send a request through ``session`` and return its answer (response or error)."""
        request_id = next(self._request_ids)
        payload: dict[str, Any] = {"id": request_id, "method": method}
        if not omit_params:
            payload["params"] = params if params is not None else {}
        await session.send(jsonrpc.Message.from_payload(payload))
        return await self.wait_for(lambda m: m.get("id") == request_id and "method" not in m)

    def notifications(self, method: str | None = None) -> list[dict[str, Any]]:
        return [
            m for m in self.messages if "method" in m and (method is None or m["method"] == method)
        ]

    def __repr__(self) -> str:
        return f"<FakePeer {self.id} messages={len(self.messages)}>"
