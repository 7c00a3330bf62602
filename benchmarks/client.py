"""The one benchmark client, used for "ours" and the reference alike, so ratios are fair.

A thin layer over the ``websockets`` asyncio client (the library the gateway itself uses):
no compression, no keepalive pings, frames handed over as text. Requests are encoded with
``%``-formatting and answers are parsed once, so the client's own cost per message is small
and identical on both sides of a comparison.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from typing import Any

from websockets.asyncio.client import ClientConnection, connect, unix_connect

from appserver.transports.unix_path import UDS_WEBSOCKET_URI
from benchmarks.services import Endpoint
from tests.support.client import initialize_params

CLIENT_OPTIONS: dict[str, Any] = {
    "compression": None,
    "max_size": None,
    "ping_interval": None,
    "max_queue": 1024,
    "open_timeout": 30,
    "close_timeout": 2,
}
DEFAULT_TIMEOUT = 60.0

INITIALIZE_PARAMS = initialize_params("appserver-bench")


class RpcFailed(Exception):
    """A request the scenario needs was answered with an error."""

    def __init__(self, method: str, error: dict[str, Any]) -> None:
        super().__init__(f"{method}: {error.get('message', error)}")
        self.error = error


class Client:
    """One WebSocket connection speaking JSON-RPC lite."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.ids = itertools.count(1)

    @classmethod
    async def open(cls, endpoint: Endpoint, **options: Any) -> Client:
        opts = {**CLIENT_OPTIONS, **options}
        if endpoint.kind == "unix":
            ws = await unix_connect(endpoint.address, UDS_WEBSOCKET_URI, **opts)
        else:
            ws = await connect(endpoint.address, **opts)
        return cls(ws)

    async def close(self) -> None:
        await self.ws.close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- requests -------------------------------------------------------------------------

    async def request(
        self, method: str, params: Any = None, *, timeout: float = DEFAULT_TIMEOUT
    ) -> dict[str, Any]:
        """Send one request; return its answer (notifications meanwhile are skipped)."""
        request_id = next(self.ids)
        payload: dict[str, Any] = {"id": request_id, "method": method}
        if params is not None:
            payload["params"] = params
        await self.ws.send(json.dumps(payload))
        async with asyncio.timeout(timeout):
            while True:
                message = json.loads(await self.ws.recv())
                if message.get("id") == request_id and "method" not in message:
                    return message

    async def call(self, method: str, params: Any = None, **kw: Any) -> Any:
        answer = await self.request(method, params, **kw)
        if "error" in answer:
            raise RpcFailed(method, answer["error"])
        return answer["result"]

    async def initialize(self) -> Any:
        result = await self.call("initialize", INITIALIZE_PARAMS)
        await self.ws.send('{"method":"initialized"}')
        return result

    # --- measurements ---------------------------------------------------------------------

    async def round_trips(self, method: str, count: int) -> list[float]:
        """``count`` sequential requests; each one's round trip in seconds."""
        ws, ids, clock = self.ws, self.ids, time.perf_counter
        template = '{"id":%d,"method":"' + method + '","params":{}}'
        samples = []
        for _ in range(count):
            request_id = next(ids)
            start = clock()
            await ws.send(template % request_id)
            while True:  # any frame with the id: an answer, or the echo server's echo
                message = json.loads(await ws.recv())
                if message.get("id") == request_id:
                    break
            samples.append(clock() - start)
            if "error" in message:
                raise RpcFailed(method, message["error"])
        return samples

    async def burst(self, method: str, count: int, window: int | None = None) -> BurstResult:
        """``count`` requests on this connection: all at once, or ``window`` in flight."""
        ws, clock = self.ws, time.perf_counter
        template = '{"id":%d,"method":"' + method + '","params":{}}'
        first = next(self.ids)
        ids = range(first, first + count)
        for _ in range(count - 1):
            next(self.ids)
        result = BurstResult(count)
        sent = 0
        can_send = asyncio.Event()

        async def writer() -> None:
            nonlocal sent
            for request_id in ids:
                if window is not None:
                    while sent - result.answered >= window:
                        can_send.clear()
                        await can_send.wait()
                await ws.send(template % request_id)
                sent += 1

        start = clock()
        writing = asyncio.create_task(writer())
        try:
            while result.answered < count:
                message = json.loads(await ws.recv())
                if "method" in message or message.get("id") not in ids:
                    continue
                result.answered += 1
                if "error" in message:
                    code = message["error"].get("code")
                    result.errors[code] = result.errors.get(code, 0) + 1
                if window is not None:
                    can_send.set()
            result.seconds = clock() - start
        finally:
            writing.cancel()
        return result


class BurstResult:
    def __init__(self, count: int) -> None:
        self.count = count
        self.answered = 0
        self.errors: dict[int, int] = {}
        self.seconds = 0.0

    @property
    def ok(self) -> int:
        return self.answered - sum(self.errors.values())

    @property
    def ok_per_second(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def __repr__(self) -> str:
        return f"<BurstResult {self.ok}/{self.count} ok in {self.seconds:.2f}s errors={self.errors}>"


class StreamResult:
    """Frames received from the first one matching ``first`` up to the one matching ``last``."""

    def __init__(self) -> None:
        self.frames = 0
        self.seconds = 0.0
        self.total_frames = 0
        self.recorded: list[str] | None = None

    @property
    def per_second(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0

    def __repr__(self) -> str:
        return f"<StreamResult {self.frames} frames in {self.seconds:.3f}s = {self.per_second:.0f}/s>"


async def consume(
    client: Client,
    *,
    first: str | None,
    last: str,
    record: bool = False,
    started: float | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> StreamResult:
    """Read frames until one contains ``last``; time and count them from the first with ``first``.

    With ``first=None`` the clock started at ``started`` (a ``perf_counter()`` reading taken
    just before the request that starts the stream was sent) and every frame counts.
    Markers are plain substrings (e.g. ``'"turn/completed"'``), so the frames of a stream are
    not parsed: the client's cost per frame is one ``recv`` and one or two ``in`` tests.
    """
    ws, clock = client.ws, time.perf_counter
    result = StreamResult()
    recorded: list[str] = []
    start = None
    if first is None:
        start = clock() if started is None else started
        first = ""
    async with asyncio.timeout(timeout):
        while True:
            text = await ws.recv()
            result.total_frames += 1
            if start is None:
                if first not in text:
                    continue
                start = clock()  # the first marked frame starts the clock; later ones count
            else:
                result.frames += 1
            if record:
                recorded.append(text)
            if last in text:
                result.seconds = clock() - start
                break
    if record:
        result.recorded = recorded
    return result
