"""The scenarios, their sizes, and what each one gets to run with.

A scenario is an async function ``run(ctx, results)`` plus the metrics it reports,
declared up front so that a scenario that cannot run (a listener or backend not built
yet, codex missing) still reports every metric as ``unavailable: <why>``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.procs import Runner
from benchmarks.records import Metric, Results


@dataclass(frozen=True, slots=True)
class Sizes:
    """How much work each scenario does; ``tiny`` is for the test suite's smoke test."""

    rtt_requests: int  # sequential requests per side, split over rtt_rounds
    rtt_rounds: int
    burst_requests: int
    burst_rounds: int
    stream_deltas: int  # mock-model deltas per codex turn
    stream_rounds: int
    builtin_stream: int  # notifications per built-in turn (about one per word)
    builtin_rounds: int
    fanout_connections: int
    fanout_deltas: int
    connections: int
    slow_stream: int  # notifications streamed to the stalled client
    slow_window: float  # seconds the fast client is measured for, with and without
    slow_rounds: int


SIZES = {
    "tiny": Sizes(20, 1, 200, 1, 200, 1, 200, 1, 3, 50, 10, 500, 0.3, 1),
    "quick": Sizes(2_000, 4, 10_000, 1, 20_000, 2, 20_000, 2, 100, 1_000, 1_000, 100_000, 2.0, 2),
    "full": Sizes(20_000, 10, 10_000, 3, 20_000, 5, 50_000, 5, 100, 5_000, 1_000, 100_000, 4.0, 3),
}


@dataclass
class Context:
    """What a scenario runs with: its own process runner, the sizes, the codex binary."""

    runner: Runner
    sizes: Sizes
    codex_bin: str | None
    scenario: str = ""
    profile_dir: Path | None = None
    clients: list[Any] = field(default_factory=list)
    _profiles: int = 0

    def profile_path(self, process: str = "gateway") -> Path | None:
        """Where py-spy writes the next profile of a ``process`` (the gateway, a relay)
        (``--profile DIR``), or None."""
        if self.profile_dir is None:
            return None
        self._profiles += 1
        return self.profile_dir / f"{self.scenario}-{process}{self._profiles}.txt"

    async def connect(self, endpoint: Any, *, initialize: bool = True, **options: Any) -> Any:
        """A client on ``endpoint`` (initialized unless told not to), closed after the scenario."""
        from benchmarks.client import Client

        client = await Client.open(endpoint, **options)
        self.clients.append(client)
        if initialize:
            await client.initialize()
        return client

    async def close_clients(self) -> None:
        """Close every client first, so servers see orderly closes and stop at once."""
        clients, self.clients = self.clients, []
        for client in clients:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await client.close()

    def log(self, text: str) -> None:
        import sys

        print(f"  {text}", file=sys.stderr, flush=True)


Run = Callable[[Context, Results], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    summary: str
    metrics: list[Metric]
    run: Run
    needs_codex: bool = False


def all_scenarios() -> list[Scenario]:
    """Every scenario, in the order of the table in docs/performance.md."""
    from benchmarks.scenarios import (
        burst, connections, fanout, relay, relay_cluster, remote, rtt, slow_client, stream,
    )

    return [
        rtt.RTT_UNIX,
        rtt.RTT_BUILTIN,
        burst.BURST_10K,
        stream.STREAM_TURN,
        stream.STREAM_BUILTIN,
        fanout.FANOUT,
        connections.CONNECTIONS_1K,
        slow_client.SLOW_CLIENT,
        relay.RC_RTT,
        relay.RC_STREAM,
        remote.RC_IDLE_STREAMS,
        relay.RELAY_IDLE_STREAMS,
        relay_cluster.RELAY_CLUSTER,
    ]
