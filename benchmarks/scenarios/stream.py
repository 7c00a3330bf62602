"""stream_turn and stream_builtin: notifications per second delivered to one ws client.

stream_turn runs real codex turns whose mock model streams ``stream_deltas`` one-character
deltas, alternately with the client on the gateway (unix, in front of the same codex) and
straight on codex's socket. stream_builtin runs built-in turns (one delta per word), records
the frames the gateway sent, and has a minimal websockets server replay exactly those
pre-encoded frames. stream_turn's rate counts the frames from the first delta to
turn/completed (the model's stream is the source; both sides forward it). stream_builtin's
counts every frame from the request that starts the stream (turn/start, or the replay
trigger) to turn/completed, so the backend's work producing the stream is inside the
window: a backend that built the whole stream before sending any of it would otherwise
look as fast as the replay.
"""

from __future__ import annotations

import time

from benchmarks import services
from benchmarks.client import Client, StreamResult, consume
from benchmarks.records import Metric, Results, Target
from benchmarks.scenarios import Context, Scenario
from benchmarks.scenarios.common import (
    TURN_COMPLETED,
    gateway_builtin,
    gateway_on_codex,
    need_codex,
    start_thread,
    turn,
    words,
)
from benchmarks.services import Unavailable

RATE = "notifications per second"
FLOOR_RATE = "notifications per second vs the byte relay (floor)"


def rate(streams: list[StreamResult]) -> float:
    frames = sum(s.frames for s in streams)
    seconds = sum(s.seconds for s in streams)
    return frames / seconds if seconds else 0.0


async def run_stream_turn(ctx: Context, results: Results) -> None:
    sizes = ctx.sizes
    n = sizes.stream_deltas
    mock = await services.start_mock(ctx.runner, reply=("abcd " * (n // 5 + 1))[:n], chunks=n)
    _, codex = await services.start_codex(ctx.runner, need_codex(ctx), mock_url=mock)
    ref = await ctx.connect(codex)
    _, bytes_endpoint = await services.start_refserver(ctx.runner, "bytes", codex.address, unix=True)
    byte_relay = await ctx.connect(bytes_endpoint)
    ours: Client | None = None
    why = None
    try:
        _, gateway = await gateway_on_codex(ctx, codex)
        ours = await ctx.connect(gateway)
    except Unavailable as exc:
        why = exc
    ref_streams: list[StreamResult] = []
    our_streams: list[StreamResult] = []
    byte_streams: list[StreamResult] = []
    for _ in range(sizes.stream_rounds):
        ref_streams.append(await turn(ref, await start_thread(ref, "codex"), "go", "codex"))
        if ours is not None:
            our_streams.append(await turn(ours, await start_thread(ours, "the gateway"), "go", "the gateway"))
        byte_streams.append(
            await turn(byte_relay, await start_thread(byte_relay, "the byte relay"), "go", "the byte relay")
        )
    results.set(RATE, reference=rate(ref_streams), ours=rate(our_streams) if our_streams else None)
    results.set(FLOOR_RATE, reference=rate(byte_streams), ours=rate(our_streams) if our_streams else None)
    frames = ref_streams[0].frames
    results.note(RATE, f"{sizes.stream_rounds} turns per side, {n} mock deltas -> {frames} frames per turn")
    results.note(
        FLOOR_RATE,
        "the byte relay copies bytes between two Unix sockets on the gateway's event loop, in the same rounds",
    )
    if why is not None:
        raise why


async def run_stream_builtin(ctx: Context, results: Results) -> None:
    sizes = ctx.sizes
    _, gateway = await gateway_builtin(ctx)
    ours = await ctx.connect(gateway)
    thread_id = await start_thread(ours, "the built-in backend")
    text = words(sizes.builtin_stream)
    # The first turn is recorded for the replay server (and measured like the others).
    our_streams = [await turn(ours, thread_id, text, "the built-in backend", record=True, whole=True)]
    recorded = our_streams[0].recorded or []
    replay_file = ctx.runner.path("replay.jsonl")
    replay_file.write_text("\n".join(recorded) + "\n")
    _, replay = await services.start_refserver(ctx.runner, "replay", str(replay_file))
    ref = await ctx.connect(replay, initialize=False)
    ref_streams: list[StreamResult] = []
    for i in range(sizes.builtin_rounds):
        started = time.perf_counter()
        await ref.ws.send("go")
        ref_streams.append(await consume(ref, first=None, last=TURN_COMPLETED, started=started))
        if i:
            our_streams.append(await turn(ours, thread_id, text, "the built-in backend", whole=True))
    results.set(RATE, ours=rate(our_streams), reference=rate(ref_streams))
    results.note(
        RATE, f"{sizes.builtin_rounds} turns per side of {len(recorded)} frames each (one delta per word)"
    )


STREAM_TURN = Scenario(
    "stream_turn",
    "notifications/s to a ws client during a codex turn streaming mock deltas",
    [
        Metric(RATE, "msgs/s", "higher", Target("ratio", ">=", 0.9), "codex direct (unix socket)"),
        Metric(FLOOR_RATE, "msgs/s", "higher", None, "minimal Python byte relay (unix, same event loop) -> codex"),
    ],
    run_stream_turn,
    needs_codex=True,
)
STREAM_BUILTIN = Scenario(
    "stream_builtin",
    "notifications/s from the built-in backend vs a server replaying the same frames",
    [Metric(RATE, "msgs/s", "higher", Target("ratio", ">=", 0.7), "websockets server, pre-encoded frames")],
    run_stream_builtin,
)
