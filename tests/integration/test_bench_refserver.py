"""benchmarks.refserver's byte relay (the floor of one more hop): bytes arrive unchanged both
ways, over TCP and over Unix sockets, and closing one end closes the other (no timings)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anyio
import pytest
from anyio.abc import ByteStream, Listener, SocketAttribute
from anyio.streams.buffered import BufferedByteReceiveStream

from tests.support import deadlines
from tests.support.launcher import launch, run

ROOT = Path(__file__).resolve().parents[2]
REFSERVER = [sys.executable, "-m", "benchmarks.refserver"]
#: Larger than the sockets' buffers, so the relay's flow control (pause/resume) takes part.
SIZE = 4 << 20


async def _upstream(form: str, folder: Path) -> tuple[Listener[ByteStream], list[str]]:
    """The server the relay forwards to, and the relay's arguments for this form."""
    if form == "tcp":
        tcp = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        return tcp, [f"tcp:127.0.0.1:{tcp.extra(SocketAttribute.local_port)}"]  # type: ignore[return-value]
    unix = await anyio.create_unix_listener(folder / "upstream.sock")
    return unix, [str(folder / "upstream.sock"), "--unix", str(folder / "relay.sock")]  # type: ignore[return-value]


async def _connect(banner_address: str) -> ByteStream:
    kind, _, where = banner_address.partition("://")
    if kind == "tcp":
        host, _, port = where.rpartition(":")
        return await anyio.connect_tcp(host, int(port))
    assert kind == "unix", banner_address
    return await anyio.connect_unix(where)


@pytest.mark.anyio
@pytest.mark.parametrize("form", ["tcp", "unix"])
async def test_byte_relay_carries_bytes_unchanged_both_ways_and_passes_the_close_on(
    form: str, short_tmp: Path
) -> None:
    up, down = os.urandom(SIZE), os.urandom(SIZE)
    got_up: list[bytes] = []
    upstream_saw_eof = anyio.Event()

    async def upstream_side(stream: ByteStream) -> None:
        async with stream:
            received = BufferedByteReceiveStream(stream)
            async with anyio.create_task_group() as both_ways:
                both_ways.start_soon(stream.send, down)
                got_up.append(await received.receive_exactly(len(up)))
            with pytest.raises(anyio.EndOfStream):
                await received.receive()
            upstream_saw_eof.set()

    with anyio.fail_after(deadlines.PROCESS):
        listener, args = await _upstream(form, short_tmp)
        async with listener, anyio.create_task_group() as tasks:
            tasks.start_soon(listener.serve, upstream_side)
            async with launch([*REFSERVER, "bytes", *args], cwd=ROOT) as relay:
                banner = await relay.line_matching(r"listening on: (\S+)")
                assert banner.group(1).startswith(f"{form}://")
                client = await _connect(banner.group(1))
                async with client:
                    async with anyio.create_task_group() as both_ways:
                        both_ways.start_soon(client.send, up)
                        got_down = await BufferedByteReceiveStream(client).receive_exactly(len(down))
                await upstream_saw_eof.wait()  # the client's close reached the upstream
            tasks.cancel_scope.cancel()
    assert got_up == [up]
    assert got_down == down


@pytest.mark.anyio
@pytest.mark.parametrize("upstream", ["tcp:127.0.0.1", "tcp::80", "tcp:127.0.0.1:port"])
async def test_byte_relay_refuses_a_tcp_upstream_without_host_and_port(upstream: str) -> None:
    done = await run([*REFSERVER, "bytes", upstream], cwd=ROOT)
    assert done.returncode == 2
    assert "usage:" in done.stderr and "tcp:HOST:PORT" in done.stderr
