"""A TCP load balancer for tests: what sits in front of a relay cluster.

:class:`Balancer` listens on a loopback port and pipes each new connection to its current
``target`` port (set it to move new connections to another node, like a balancer whose
health check found the node dead); :meth:`Balancer.drop` cuts every open connection
abruptly, as a network failure would.
"""

from __future__ import annotations

from typing import Any

import anyio
from anyio.abc import SocketStream, TaskGroup


class Balancer:
    def __init__(self, target: int) -> None:
        self.target = target
        self.port = 0
        self.accepted = 0
        self._pairs: set[tuple[SocketStream, SocketStream]] = set()
        self._tasks: TaskGroup | None = None

    def __repr__(self) -> str:
        return f"<Balancer :{self.port} -> :{self.target} open={len(self._pairs)}>"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    async def start(self, tasks: TaskGroup) -> None:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        self.port = listener.extra(anyio.abc.SocketAttribute.local_port)
        self._tasks = tasks
        tasks.start_soon(listener.serve, self._handle)

    async def _handle(self, client: SocketStream) -> None:
        self.accepted += 1
        try:
            backend = await anyio.connect_tcp("127.0.0.1", self.target)
        except OSError:
            await client.aclose()
            return
        pair = (client, backend)
        self._pairs.add(pair)
        try:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(self._pipe, client, backend, tasks)
                tasks.start_soon(self._pipe, backend, client, tasks)
        finally:
            self._pairs.discard(pair)
            for stream in pair:
                await stream.aclose()

    @staticmethod
    async def _pipe(source: SocketStream, sink: SocketStream, tasks: Any) -> None:
        try:
            async for chunk in source:
                await sink.send(chunk)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            pass
        tasks.cancel_scope.cancel()

    async def drop(self) -> int:
        """Cut every open connection; how many were cut."""
        pairs = list(self._pairs)
        for pair in pairs:
            for stream in pair:
                await stream.aclose()
        return len(pairs)
