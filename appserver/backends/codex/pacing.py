"""Retry and restart pacing: exponential backoff with full jitter. Sans-I/O.

Two users (docs/codex-backend.md "Overload" and "Failure"):

* an upstream request that codex answered ``-32001 Server overloaded; retry later.`` was
  not processed (spec/transport.md §6), so it is sent again after :meth:`Backoff.delay`;
  after ``attempts`` retries the ``-32001`` is passed on to the client;
* a codex child that exited is started again after a delay that grows with each
  consecutive failure and is forgotten once a child stayed healthy for a while.

The policy holds no clock and sleeps nowhere: callers ask for a delay and sleep themselves,
so tests feed it a seeded random source and check the numbers.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delays ``uniform(0, min(cap, base * 2**n))`` for retry ``n`` (AWS "full jitter").

    ``attempts`` bounds the number of retries (``None``: unbounded, for restarts).
    Full jitter spreads retries of a burst over the whole interval, so a thousand
    requests refused together do not come back together.
    """

    base: float
    cap: float
    attempts: int | None = None
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def delay(self, retry: int) -> float | None:
        """Seconds to wait before retry number ``retry`` (0-based); ``None``: give up."""
        if self.attempts is not None and retry >= self.attempts:
            return None
        ceiling = min(self.cap, self.base * (2 ** min(retry, 62)))
        return self.rng.uniform(0.0, ceiling)

    def ceiling(self, retry: int) -> float:
        """The largest delay retry ``retry`` can get (for docs and tests)."""
        return min(self.cap, self.base * (2 ** min(retry, 62)))


@dataclass(slots=True)
class RestartPacer:
    """Counts consecutive failed runs of a supervised child and paces its restarts.

    A run that lasted at least ``healthy_after`` seconds resets the count: a child that
    crashes once a day restarts at once, one that crashes at start-up backs off.
    """

    backoff: Backoff
    healthy_after: float
    failures: int = 0

    def next_delay(self, ran_for: float) -> float:
        """A run ended after ``ran_for`` seconds; how long to wait before the next one."""
        if ran_for >= self.healthy_after:
            self.failures = 0
        delay = self.backoff.delay(self.failures)
        self.failures += 1
        assert delay is not None  # restarts are unbounded
        return delay

    def __repr__(self) -> str:
        return f"<RestartPacer failures={self.failures} healthy_after={self.healthy_after}s>"
