"""stdio transport: one JSON-RPC message per line on stdin and stdout (spec/transport.md §2).

Exactly one connection, with the waiting overflow policy (a slow reader of stdout makes the
gateway wait; it is never dropped). ``\\n`` and ``\\r\\n`` terminators are stripped; blank
lines are skipped; lines that are not one JSON-RPC message are logged and ignored. When
stdin closes, the answers owed to requests already read are written, then the connection
ends (upstream exits without waiting for them). Logs go to stderr, never stdout.

stdin and stdout are :mod:`appserver.stdio_streams` (the adapter ``appserver proxy`` uses
too): no threads for pipes, sockets and terminals, a worker thread for a regular file.
"""

from __future__ import annotations

import logging
import os
from typing import BinaryIO

from appserver import limits
from appserver.close import CloseRequest
from appserver.processor import OverflowPolicy, Processor
from appserver.stdio_streams import StdinStream, StdoutStream, messages
from appserver.transports.base import TransportClosed, run_connection

log = logging.getLogger("appserver.stdio")


async def serve_stdio(
    processor: Processor,
    stdin: BinaryIO | None = None,
    stdout: BinaryIO | None = None,
) -> CloseRequest:
    """Serve the single stdio connection until stdin closes; return how it ended."""
    reader = await StdinStream.open(stdin)
    writer = await StdoutStream.open(stdout)

    async def send_batch(batch: list[str]) -> None:
        await writer.write("\n".join(batch).encode("utf-8") + b"\n")
        if writer.broken is not None:
            raise TransportClosed(str(writer.broken))

    conn = processor.register("stdio", OverflowPolicy.WAIT, peer="stdio")
    try:
        return await run_connection(conn, messages(reader), send_batch, drain_on_eof=True)
    finally:
        reader.close()
        # Like a socket's close: a client that stopped reading does not hold the gateway.
        await writer.aclose(flush_timeout=limits.CLOSE_FLUSH_TIMEOUT)


def end_stdio_session() -> None:
    """The stdio client's session is over but the process goes on (other listeners run):
    its end of stdout sees EOF and its writes to stdin fail, instead of a silent hang.
    fd 0 and fd 1 are pointed at /dev/null (nothing may reuse them for something else)."""
    for fd, mode in ((1, os.O_WRONLY), (0, os.O_RDONLY)):
        null = os.open(os.devnull, mode)
        try:
            os.dup2(null, fd)
        except OSError:
            pass
        finally:
            os.close(null)
