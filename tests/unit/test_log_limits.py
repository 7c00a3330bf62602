"""Log volume a client can cause is bounded (appserver.log.RepeatLimiter). Sans-I/O."""

from __future__ import annotations

import logging

from appserver.log import RepeatLimiter


def _record(msg: str, level: int = logging.WARNING, name: str = "appserver.processor", **extra: object) -> logging.LogRecord:
    record = logging.LogRecord(name, level, __file__, 1, msg, ("x",), None)
    record.__dict__.update(extra)
    return record


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_per_template_then_silence_then_a_count() -> None:
    clock = Clock()
    limiter = RepeatLimiter(burst=3, interval=10.0, clock=clock)
    passed = [limiter.filter(_record("ignoring malformed message: %s")) for _ in range(100_000)]
    assert passed.count(True) == 3
    # Another template is counted apart.
    assert limiter.filter(_record("dropping unsupported binary websocket message: %s"))
    clock.now = 10.0
    record = _record("ignoring malformed message: %s")
    assert limiter.filter(record)
    assert record.getMessage() == "ignoring malformed message: x [99997 more like this were not logged in the last 10s]"


def test_info_lines_are_not_limited_unless_marked() -> None:
    limiter = RepeatLimiter(burst=1, interval=10.0, clock=Clock())
    assert all(limiter.filter(_record("connection %s opened", logging.INFO)) for _ in range(50))
    marked = [
        limiter.filter(_record("rejecting websocket client during upgrade: %s", logging.INFO, rate_limited=True))
        for _ in range(50)
    ]
    assert marked.count(True) == 1


def test_tracebacks_of_failed_accepts_are_limited_too() -> None:
    limiter = RepeatLimiter(burst=2, interval=10.0, clock=Clock())
    record = lambda: _record("socket.accept() out of system resource", logging.ERROR, name="asyncio")  # noqa: E731
    assert [limiter.filter(record()) for _ in range(5000)].count(True) == 2
