"""JSONL mode: each stdin line becomes one WebSocket text frame, each frame one stdout line.

This is what upstream's raw-only proxy lacks (spec/transport.md §8: JSONL written to
``codex app-server proxy`` produces silence). At stdin EOF the answers owed to requests
already sent are awaited (at most ``PROXY_EOF_DRAIN_TIMEOUT``), then the connection is
closed normally, so a client that writes a burst and closes stdin still gets every
response.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import anyio
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from appserver import limits
from appserver.proxy.framing import PendingRequests, one_line
from appserver.stdio_streams import StdinStream, StdoutStream, messages

log = logging.getLogger("appserver.proxy")


@dataclass
class Outcome:
    """How a proxied connection ended: exit status and, for failures, the one line."""

    status: int
    message: str = ""


class JsonlBridge:
    """One JSONL client (stdio) bridged onto one WebSocket connection."""

    def __init__(
        self, ws: ClientConnection, stdin: StdinStream, stdout: StdoutStream, target: str
    ) -> None:
        self.ws = ws
        self.stdin = stdin
        self.stdout = stdout
        self.target = target
        self.pending = PendingRequests()
        self._input_done = False
        self._drained = anyio.Event()
        self.sent = 0
        self.received = 0

    async def run(self) -> Outcome:
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._uplink, tg.cancel_scope)
            outcome = await self._downlink()
            tg.cancel_scope.cancel()
        await self.stdout.aclose()
        return outcome

    async def _uplink(self, scope: anyio.CancelScope) -> None:
        async for text in messages(self.stdin):
            await self._send(text)
        self._input_done = True
        if len(self.pending):
            log.debug("stdin closed; waiting for %d owed answer(s)", len(self.pending))
            with anyio.move_on_after(limits.PROXY_EOF_DRAIN_TIMEOUT) as wait:
                self._check_drained()
                await self._drained.wait()
            if wait.cancelled_caught:
                log.warning(
                    "gave up after %.0fs waiting for %d answer(s)",
                    limits.PROXY_EOF_DRAIN_TIMEOUT,
                    len(self.pending),
                )
        await self.ws.close(1000)

    async def _send(self, text: str) -> None:
        self.pending.sent(text)
        try:
            await self.ws.send(text)
        except ConnectionClosed:
            return  # _downlink reports how the connection ended
        self.sent += 1

    def _check_drained(self) -> None:
        if self._input_done and not len(self.pending):
            self._drained.set()

    async def _downlink(self) -> Outcome:
        try:
            async for frame in self.ws:
                if not isinstance(frame, str):
                    log.warning("dropping a binary WebSocket message (%d bytes)", len(frame))
                    continue
                self.received += 1
                self.pending.received(frame)
                await self.stdout.write(one_line(frame).encode("utf-8") + b"\n")
                self._check_drained()
        except ConnectionClosed:
            pass  # _outcome reads the close frames
        return self._outcome()

    def _outcome(self) -> Outcome:
        protocol = self.ws.protocol
        received, sent = protocol.close_rcvd, protocol.close_sent
        if received is not None and received.code == 1000:
            return Outcome(0)
        if self._input_done and sent is not None and not protocol.close_rcvd_then_sent:
            # We closed after stdin EOF; codex drops the stream without a close reply.
            return Outcome(0)
        if received is None:
            return Outcome(1, f"connection to {self.target} was lost")
        reason = f" {received.reason}" if received.reason else ""
        return Outcome(1, f"{self.target} closed the connection: {received.code}{reason}")

    def __repr__(self) -> str:
        return f"<JsonlBridge {self.target} sent={self.sent} received={self.received} {self.pending!r}>"
