"""Helpers shared by scenarios: the gateway in front of codex or the built-in backend, turns."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable

from benchmarks import services
from benchmarks.client import Client, RpcFailed
from benchmarks.procs import rss_bytes
from benchmarks.records import Results
from tests.support.launcher import Launched
from benchmarks.scenarios import Context
from benchmarks.services import Endpoint, Unavailable

CHEAP_METHOD = "thread/loaded/list"
WARMUP_REQUESTS = 50
#: A process gets this long to settle (lazy allocations, frees) before its RSS is read.
SETTLE_SECONDS = 1.0


async def rss_growth_per_item(
    results: Results,
    metric: str,
    pid: int,
    grow: Callable[[], Awaitable[None]],
    n: int,
    *,
    process: str,
    items: str,
) -> None:
    """Record ``metric``: the RSS growth (KiB) of process ``pid`` per item while ``grow()``
    adds ``n`` items (RSS read after settling, before and after), with a note naming the
    ``process`` ("gateway", "relay") and the ``items``."""
    await asyncio.sleep(SETTLE_SECONDS)
    before = rss_bytes(pid)
    await grow()
    await asyncio.sleep(SETTLE_SECONDS)
    after = rss_bytes(pid)
    results.set(metric, ours=(after - before) / n / 1024)
    results.note(metric, f"{process} RSS {before / 2**20:.1f} MiB -> {after / 2**20:.1f} MiB with {n} more {items}")


def need_codex(ctx: Context) -> str:
    if not ctx.codex_bin:
        raise Unavailable("no codex binary (scripts/bench installs the pinned one)")
    return ctx.codex_bin


async def gateway_on_codex(ctx: Context, codex: Endpoint) -> tuple[Launched, Endpoint]:
    """The gateway on a Unix socket, attached to the running codex's socket."""
    return await services.start_gateway(
        ctx.runner, listen="unix", backend=f"unix://{codex.address}", profile=ctx.profile_path()
    )


async def gateway_builtin(ctx: Context, listen: str = "ws") -> tuple[Launched, Endpoint]:
    return await services.start_gateway(
        ctx.runner, listen=listen, backend="builtin", profile=ctx.profile_path()
    )


async def check_cheap_method(client: Client, who: str) -> None:
    """Unavailable unless ``who`` answers the cheap method with a result."""
    answer = await client.request(CHEAP_METHOD, {})
    if "error" in answer:
        raise Unavailable(f"{who} answers {CHEAP_METHOD} with: {answer['error'].get('message')}"[:200])


async def start_thread(client: Client, who: str) -> str:
    try:
        result = await client.call("thread/start", {})
    except RpcFailed as exc:
        raise Unavailable(f"{who}: {exc}"[:200]) from None
    return result["thread"]["id"]


def turn_start_frame(request_id: int, thread_id: str, text: str) -> str:
    params = {
        "threadId": thread_id,
        "input": [{"type": "text", "text": text, "text_elements": []}],
    }
    return json.dumps({"id": request_id, "method": "turn/start", "params": params})


async def send_turn(client: Client, thread_id: str, text: str) -> int:
    """Send turn/start without waiting; return its request id."""
    request_id = next(client.ids)
    await client.ws.send(turn_start_frame(request_id, thread_id, text))
    return request_id


def words(count: int) -> str:
    """Text the built-in backend echoes as about ``count`` deltas (one per word)."""
    return "w " * max(1, count - 1)


FIRST_DELTA = '"item/agentMessage/delta"'
TURN_COMPLETED = '"turn/completed"'


async def turn(
    client: Client, thread_id: str, text: str, who: str, *, record: bool = False, whole: bool = False
):
    """Run one turn; return its stream, from the first delta (or, ``whole``, from the
    turn/start request) to turn/completed."""
    from benchmarks.client import consume

    started = time.perf_counter()
    request_id = await send_turn(client, thread_id, text)
    skipped = []
    while True:
        frame = await client.ws.recv()
        message = json.loads(frame)
        if message.get("id") == request_id and "method" not in message:
            break
        skipped.append(frame)
    if "error" in message:
        raise Unavailable(f"{who}: turn/start: {message['error'].get('message')}"[:200])
    if whole:
        # Frames that came before the answer count too (the answer itself does not).
        result = await consume(client, first=None, last=TURN_COMPLETED, record=record, started=started)
        result.frames += len(skipped)
        if result.recorded is not None:
            result.recorded[:0] = skipped
        return result
    return await consume(client, first=FIRST_DELTA, last=TURN_COMPLETED, record=record)
