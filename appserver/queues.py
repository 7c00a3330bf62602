"""A bounded FIFO of messages, limited by count and by bytes.

anyio's memory object streams bound the number of items only; a connection's memory
ceiling also needs a byte bound, so every queue in the gateway is one of these. A single
item larger than the byte bound is still admitted into an empty queue, so one large
message is never refused for its size alone (frame-size limits refuse those earlier).
"""

from __future__ import annotations

from collections import deque
from itertools import islice
from operator import itemgetter
from typing import Generic, TypeVar

import anyio

from appserver.errors import QueueClosed

T = TypeVar("T")

_item = itemgetter(0)  # of a queued (item, size) pair
_size = itemgetter(1)


def utf8_size(text: str) -> int:
    """The size of ``text`` in UTF-8 bytes, which is what queue and metric bounds count.

    ``str.isascii`` is a flag check in CPython, so the common (ASCII) case costs no
    encoding; other text is encoded once to be measured.
    """
    return len(text) if text.isascii() else len(text.encode("utf-8"))


class Pulse:
    """Wakes every task waiting on it. Cheap when nobody waits: the event is created only
    by a waiter, so firing on the hot path (every message) costs a ``None`` check."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event: anyio.Event | None = None

    async def wait(self) -> None:
        if self._event is None:
            self._event = anyio.Event()
        await self._event.wait()

    def fire(self) -> None:
        if self._event is not None:
            self._event.set()
            self._event = None

    def __repr__(self) -> str:
        return f"<Pulse {'armed' if self._event is not None else 'idle'}>"


class QueueFull(Exception):
    """``put_nowait`` found no room."""


class MessageQueue(Generic[T]):
    """A FIFO bounded by ``max_items`` and ``max_bytes``; any number of waiting tasks."""

    __slots__ = (
        "name",
        "max_items",
        "max_bytes",
        "_items",
        "_nbytes",
        "_closed",
        "_readable",
        "_writable",
        "high_water",
    )

    def __init__(self, name: str, max_items: int, max_bytes: int) -> None:
        self.name = name
        self.max_items = max_items
        self.max_bytes = max_bytes
        self._items: deque[tuple[T, int]] = deque()
        self._nbytes = 0
        self._closed = False
        self._readable = Pulse()
        self._writable = Pulse()
        #: The most items this queue ever held, for metrics.
        self.high_water = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def nbytes(self) -> int:
        return self._nbytes

    @property
    def closed(self) -> bool:
        return self._closed

    def has_room(self, size: int) -> bool:
        if not self._items:
            return True
        return len(self._items) < self.max_items and self._nbytes + size <= self.max_bytes

    def put_nowait(self, item: T, size: int) -> None:
        if self._closed:
            raise QueueClosed(self.name)
        if not self.has_room(size):
            raise QueueFull(self.name)
        self._append(item, size)

    def put_many_nowait(self, items: list[tuple[T, int]]) -> int:
        """:meth:`put_nowait` for ``(item, size)`` pairs in order, stopping at the first that
        does not fit; returns how many were appended. Raises :class:`QueueClosed` if closed."""
        if self._closed:
            raise QueueClosed(self.name)
        queue = self._items
        room = self.max_items - len(queue)
        nbytes = self._nbytes
        put = 0
        for item in items:
            size = item[1]
            if queue and (put >= room or nbytes + size > self.max_bytes):
                break
            queue.append(item)
            nbytes += size
            put += 1
        self._nbytes = nbytes
        if len(queue) > self.high_water:
            self.high_water = len(queue)
        if put:
            self._readable.fire()
        return put

    async def put(self, item: T, size: int) -> None:
        """Wait for room, then append. Raises :class:`QueueClosed` if closed meanwhile."""
        while True:
            if self._closed:
                raise QueueClosed(self.name)
            if self.has_room(size):
                self._append(item, size)
                return
            await self._writable.wait()

    def get_nowait(self) -> T:
        if not self._items:
            if self._closed:
                raise QueueClosed(self.name)
            raise anyio.WouldBlock
        return self._pop()

    def get_many_nowait(self, limit: int) -> list[T]:
        """Up to ``limit`` items at once, oldest first (none when empty, closed or not):
        :meth:`get_nowait` for a batch, without a call per item."""
        items = self._items
        count = min(limit, len(items))
        if count <= 0:
            return []
        if count == len(items):
            taken = list(items)
            items.clear()
        else:
            taken = list(islice(items, count))
            for _ in range(count):
                items.popleft()
        self._nbytes -= sum(map(_size, taken))
        self._writable.fire()
        return list(map(_item, taken))

    def peek(self) -> T | None:
        """The next item without removing it, or ``None`` when empty."""
        return self._items[0][0] if self._items else None

    async def get(self) -> T:
        """Wait for an item. Raises :class:`QueueClosed` once closed and empty."""
        while not self._items:
            if self._closed:
                raise QueueClosed(self.name)
            await self._readable.wait()
        return self._pop()

    def close(self, *, discard: bool = False) -> None:
        """Refuse further puts; getters drain what is left (or nothing, with ``discard``)."""
        self._closed = True
        if discard:
            self._items.clear()
            self._nbytes = 0
        self._readable.fire()
        self._writable.fire()

    def _append(self, item: T, size: int) -> None:
        self._items.append((item, size))
        self._nbytes += size
        if len(self._items) > self.high_water:
            self.high_water = len(self._items)
        self._readable.fire()

    def _pop(self) -> T:
        item, size = self._items.popleft()
        self._nbytes -= size
        self._writable.fire()
        return item

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return (
            f"<MessageQueue {self.name} {state} items={len(self._items)}/{self.max_items} "
            f"bytes={self._nbytes}/{self.max_bytes}>"
        )
