"""Chaos: 3 controllers exchange 2,000 requests with our host (built-in backend) while the
relay drops the host link 10 times. Every request is answered exactly once, nothing is
lost or duplicated, and each stream's answers come in order."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from tests.support.progress import Progress
from tests.support.rc_host import host_process
from tests.support.rc_relay import RcTestRelay, RelayStream

pytestmark = pytest.mark.anyio

CONTROLLERS = 3
REQUESTS = 2000
DROPS = 10
WINDOW = 16  # requests in flight per controller




async def _controller(stream: RelayStream, first_id: int, count: int, answered: list[int], progress: Progress) -> None:
    await stream.initialize(f"phone-{stream.client_id}")
    ids = list(range(first_id, first_id + count))
    sent = 0
    while len(answered) < count:
        while sent < count and sent - len(answered) < WINDOW:
            await stream.send_request(ids[sent], "model/list", {})
            sent += 1
        message = await stream.wait_for(lambda m: "id" in m and ("result" in m or "error" in m), timeout=120)
        assert "result" in message, message
        answered.append(message["id"])
        progress.tick()


async def test_three_controllers_2000_requests_10_link_drops(tmp_path: Path) -> None:
    per = [REQUESTS // CONTROLLERS + (1 if i < REQUESTS % CONTROLLERS else 0) for i in range(CONTROLLERS)]
    answered: list[list[int]] = [[] for _ in range(CONTROLLERS)]
    progress = Progress()
    async with RcTestRelay() as relay, host_process(relay.base_url, tmp_path) as host:
        await relay.wait_link()
        streams = [relay.stream(f"client-{i}", f"stream-{i}") for i in range(CONTROLLERS)]
        async with anyio.create_task_group() as tg:
            first = 100
            for i, stream in enumerate(streams):
                tg.start_soon(_controller, stream, first, per[i], answered[i], progress)
                first += per[i]
            drops = 0
            while drops < DROPS:
                # Drop the link each time another ~1/12 of the requests got answered.
                target = (drops + 1) * REQUESTS // (DROPS + 2)
                with anyio.fail_after(120):
                    await progress.wait_for(target)
                await relay.drop()
                drops += 1
                await relay.wait_link(120)
        assert relay.links == DROPS + 1
    first = 100
    for i in range(CONTROLLERS):
        assert answered[i] == list(range(first, first + per[i])), f"controller {i}"
        first += per[i]
    assert sum(len(a) for a in answered) == REQUESTS
    assert host.stderr.count("remote control connected to") == DROPS + 1
