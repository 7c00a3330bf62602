"""The loop every transport runs for one connection: read, dispatch, write.

:func:`run_connection` ties a :class:`~appserver.processor.Connection` to a source of
incoming text messages and a writer, and returns once the connection is over with the
:class:`~appserver.close.CloseRequest` the transport should carry out.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import anyio

from appserver import limits, strings
from appserver.close import CloseCode, CloseRequest, public_reason
from appserver.errors import BackendUnavailable, QueueClosed
from appserver.processor import Connection

log = logging.getLogger("appserver.transport")

SendBatch = Callable[[list[str]], Awaitable[None]]


class TransportClosed(Exception):
    """The peer is gone: a write failed because the socket or pipe closed."""


async def run_connection(
    conn: Connection,
    incoming: AsyncIterator[str],
    send_batch: SendBatch,
    *,
    drain_on_eof: bool,
    eof_drain_timeout: float = limits.STDIO_EOF_DRAIN_TIMEOUT,
) -> CloseRequest:
    """Serve ``conn`` until it is over; return how it should be closed.

    ``incoming`` yields one text message per frame or line and ends at EOF.
    ``send_batch`` writes several messages, in order, and raises :class:`TransportClosed`
    when the peer is gone. With ``drain_on_eof`` (stdio) the answers owed to requests
    already read are delivered after EOF, for at most ``eof_drain_timeout`` seconds;
    otherwise EOF means the client is gone and nothing more is written.
    """
    try:
        try:
            await conn.open()
        except BackendUnavailable as exc:
            log.warning("connection %d: backend unavailable: %s", conn.id, exc)
            conn.close(
                CloseCode.INTERNAL_ERROR,
                strings.CLOSE_REASON_BACKEND.format(reason=public_reason(str(exc))),
                flush=False,
            )
        else:
            async with anyio.create_task_group() as tg:
                tg.start_soon(conn.dispatch)
                tg.start_soon(_read, conn, incoming, drain_on_eof, eof_drain_timeout)
                with anyio.CancelScope() as writing:
                    tg.start_soon(_bound_last_writes, conn, writing)
                    await _write(conn, send_batch)
                if writing.cancelled_caught:
                    # A client that does not read cannot hold its socket (or a shutdown).
                    log.info(
                        "connection %d: gave up writing to a client that is not reading "
                        "(%d messages unsent)",
                        conn.id,
                        len(conn.outbound),
                    )
                tg.cancel_scope.cancel()
    finally:
        await conn.aclose()
    assert conn.close_request is not None
    return conn.close_request


async def _read(
    conn: Connection, incoming: AsyncIterator[str], drain_on_eof: bool, timeout: float
) -> None:
    async for text in incoming:
        await conn.receive(text)
    if not drain_on_eof:
        conn.close(CloseCode.ABNORMAL, "", flush=False)
        return
    conn.finish_input()
    with anyio.move_on_after(timeout) as scope:
        await conn.wait_drained()
    if scope.cancelled_caught:
        log.warning(
            "connection %d: input closed; gave up waiting %.0fs for owed answers", conn.id, timeout
        )
    conn.close(CloseCode.NORMAL, "")


async def _bound_last_writes(conn: Connection, writing: anyio.CancelScope) -> None:
    """Once closing is requested, what is still being written (and, with a flushing
    close, what is queued) gets ``CLOSE_FLUSH_TIMEOUT`` seconds, then the writer stops."""
    await conn.wait_closing()
    writing.deadline = anyio.current_time() + limits.CLOSE_FLUSH_TIMEOUT


async def _write(conn: Connection, send_batch: SendBatch) -> None:
    outbound = conn.outbound
    while True:
        try:
            batch = [await outbound.get()]
        except QueueClosed:
            return
        batch += outbound.get_many_nowait(limits.WRITE_BATCH_MESSAGES - 1)
        try:
            await send_batch(batch)
        except TransportClosed:
            conn.close(CloseCode.ABNORMAL, "", flush=False)
            return
