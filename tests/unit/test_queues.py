"""MessageQueue bounds by items and bytes."""

from __future__ import annotations

import anyio
import pytest

from appserver.errors import QueueClosed
from appserver.queues import MessageQueue, QueueFull


def test_bounded_by_items_and_bytes() -> None:
    queue: MessageQueue[str] = MessageQueue("q", max_items=3, max_bytes=10)
    queue.put_nowait("a", 4)
    queue.put_nowait("b", 4)
    with pytest.raises(QueueFull):
        queue.put_nowait("c", 4)  # 12 bytes > 10
    queue.put_nowait("c", 2)
    with pytest.raises(QueueFull):
        queue.put_nowait("d", 0)  # 4 items > 3
    assert (len(queue), queue.nbytes, queue.high_water) == (3, 10, 3)
    assert [queue.get_nowait() for _ in range(3)] == ["a", "b", "c"]
    assert queue.nbytes == 0


def test_one_large_item_fits_an_empty_queue() -> None:
    queue: MessageQueue[str] = MessageQueue("q", max_items=3, max_bytes=10)
    queue.put_nowait("huge", 1000)
    with pytest.raises(QueueFull):
        queue.put_nowait("small", 1)


def test_close_drains_then_raises_and_discard_drops() -> None:
    queue: MessageQueue[str] = MessageQueue("q", 10, 100)
    queue.put_nowait("a", 1)
    queue.close()
    with pytest.raises(QueueClosed):
        queue.put_nowait("b", 1)
    assert queue.get_nowait() == "a"
    with pytest.raises(QueueClosed):
        queue.get_nowait()
    other: MessageQueue[str] = MessageQueue("q", 10, 100)
    other.put_nowait("a", 1)
    other.close(discard=True)
    with pytest.raises(QueueClosed):
        other.get_nowait()


def test_get_many_takes_a_batch_in_order_and_frees_its_bytes() -> None:
    queue: MessageQueue[str] = MessageQueue("q", max_items=4, max_bytes=100)
    for item, size in (("a", 1), ("b", 2), ("c", 3), ("d", 4)):
        queue.put_nowait(item, size)
    assert queue.get_many_nowait(0) == []
    assert queue.get_many_nowait(2) == ["a", "b"]
    assert (len(queue), queue.nbytes) == (2, 7)
    queue.put_nowait("e", 5)  # room again
    assert queue.get_many_nowait(10) == ["c", "d", "e"]
    assert (len(queue), queue.nbytes) == (0, 0)
    assert queue.get_many_nowait(10) == []
    queue.put_nowait("f", 1)
    queue.close()
    assert queue.get_many_nowait(10) == ["f"]  # what is left, closed or not


@pytest.mark.anyio
async def test_get_many_wakes_a_waiting_put() -> None:
    queue: MessageQueue[str] = MessageQueue("q", max_items=1, max_bytes=100)
    queue.put_nowait("a", 1)
    async with anyio.create_task_group() as tg:
        tg.start_soon(queue.put, "b", 1)
        await anyio.wait_all_tasks_blocked()
        assert queue.get_many_nowait(5) == ["a"]
    assert queue.get_nowait() == "b"


@pytest.mark.anyio
async def test_waiting_put_and_get() -> None:
    queue: MessageQueue[int] = MessageQueue("q", max_items=1, max_bytes=100)
    got: list[int] = []

    async def consume() -> None:
        try:
            while True:
                got.append(await queue.get())
        except QueueClosed:
            pass

    async with anyio.create_task_group() as tg:
        tg.start_soon(consume)
        for i in range(5):
            await queue.put(i, 1)  # waits for the consumer each time
        await anyio.wait_all_tasks_blocked()
        queue.close()
    assert got == [0, 1, 2, 3, 4]


@pytest.mark.anyio
async def test_close_wakes_a_waiting_put() -> None:
    queue: MessageQueue[int] = MessageQueue("q", max_items=1, max_bytes=100)
    queue.put_nowait(0, 1)
    outcome: list[str] = []

    async def put() -> None:
        try:
            await queue.put(1, 1)
            outcome.append("put")
        except QueueClosed:
            outcome.append("closed")

    async with anyio.create_task_group() as tg:
        tg.start_soon(put)
        await anyio.wait_all_tasks_blocked()
        assert outcome == []
        queue.close()
    assert outcome == ["closed"]


def test_put_many_nowait_stops_at_the_first_item_that_does_not_fit() -> None:
    queue: MessageQueue[str] = MessageQueue("q", max_items=3, max_bytes=10)
    assert queue.put_many_nowait([("a", 4), ("b", 4), ("c", 4), ("d", 1)]) == 2  # c: 12 bytes
    assert queue.put_many_nowait([("d", 1), ("e", 1)]) == 1  # e would be a 4th item
    assert (len(queue), queue.nbytes, queue.high_water) == (3, 9, 3)
    empty: MessageQueue[str] = MessageQueue("q", max_items=3, max_bytes=10)
    assert empty.put_many_nowait([("huge", 1000), ("x", 1)]) == 1  # like put_nowait
    empty.close()
    with pytest.raises(QueueClosed):
        empty.put_many_nowait([("x", 1)])
