"""Raw mode: relay bytes both ways, like upstream ``codex app-server proxy`` (spec §8).

The stdio client performs the WebSocket upgrade and framing itself. On stdin EOF the
socket's write side is shut down (half-close) and the relay waits for the server to end
the stream, then flushes stdout. With ``--connect`` and a token, the client's upgrade
request gets the ``Authorization: Bearer`` header injected (any it sent is replaced), so
clients built for the Unix socket work against an authenticated TCP gateway unchanged.
"""

from __future__ import annotations

import logging

import anyio
from anyio.abc import ByteStream

from appserver.proxy.framing import MAX_HEAD_BYTES, inject_authorization
from appserver.proxy.jsonl import Outcome
from appserver.stdio_streams import StdinStream, StdoutStream

log = logging.getLogger("appserver.proxy")


async def relay_raw(
    stream: ByteStream, stdin: StdinStream, stdout: StdoutStream, target: str, token: str | None = None
) -> Outcome:
    failure: list[str] = []

    async def uplink() -> None:
        try:
            if token is not None:
                await _send_head_with_token(stream, stdin, token)
            while chunk := await stdin.read():
                await stream.send(chunk)
            try:
                await stream.send_eof()
            except NotImplementedError:
                pass  # TLS cannot half-close; the server ends the stream when it is done
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError) as exc:
            log.info("sending to %s stopped: %s", target, exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(uplink)
        try:
            while True:
                try:
                    data = await stream.receive()
                except anyio.EndOfStream:
                    break
                await stdout.write(data)
        except (anyio.BrokenResourceError, OSError) as exc:
            failure.append(f"failed to copy data from {target} to stdout: {exc}")
        tg.cancel_scope.cancel()
    await stream.aclose()
    await stdout.aclose()
    return Outcome(1, failure[0]) if failure else Outcome(0)


async def _send_head_with_token(stream: ByteStream, stdin: StdinStream, token: str) -> None:
    head = b""
    while b"\r\n\r\n" not in head and len(head) < MAX_HEAD_BYTES:
        chunk = await stdin.read()
        if not chunk:
            break
        head += chunk
    end = head.find(b"\r\n\r\n")
    if end < 0:
        log.warning("no complete HTTP request head on stdin; not adding the bearer token")
        await stream.send(head)
        return
    await stream.send(inject_authorization(head[: end + 4], token) + head[end + 4 :])
