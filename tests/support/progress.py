"""A count of answers with an awaitable milestone, for chaos tests that drop links as they go."""

from __future__ import annotations

import anyio


class Progress:
    """Answers so far, and an event for the next milestone of the task that drops links."""

    def __init__(self) -> None:
        self.total = 0
        self.target = 0
        self.reached = anyio.Event()

    def tick(self) -> None:
        self.total += 1
        if self.total >= self.target:
            self.reached.set()

    async def wait_for(self, target: int) -> None:
        self.target, self.reached = target, anyio.Event()
        if self.total < target:
            await self.reached.wait()

    def __repr__(self) -> str:
        return f"<Progress {self.total} (next milestone {self.target})>"
