"""Backoff with full jitter and restart pacing (appserver.backends.codex.pacing). Sans-I/O."""

from __future__ import annotations

import random

from appserver import limits
from appserver.backends.codex.pacing import Backoff, RestartPacer


def test_delays_stay_under_a_doubling_ceiling_up_to_the_cap() -> None:
    policy = Backoff(base=0.01, cap=1.0, attempts=None, rng=random.Random(7))
    assert [policy.ceiling(n) for n in range(9)] == [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.0, 1.0]
    for n in range(200):
        delay = policy.delay(n)
        assert delay is not None and 0.0 <= delay <= policy.ceiling(n)


def test_jitter_spreads_a_burst_of_retries() -> None:
    policy = Backoff(base=0.1, cap=10.0, rng=random.Random(1))
    delays = {policy.delay(3) for _ in range(100)}
    assert len(delays) == 100  # not one synchronised wave


def test_attempts_are_bounded() -> None:
    policy = Backoff(base=0.01, cap=1.0, attempts=3, rng=random.Random(0))
    assert [policy.delay(n) is None for n in range(5)] == [False, False, False, True, True]


def test_upstream_retry_limits_give_up_within_seconds() -> None:
    policy = Backoff(limits.UPSTREAM_RETRY_BASE, limits.UPSTREAM_RETRY_CAP, limits.UPSTREAM_RETRY_ATTEMPTS)
    worst = sum(policy.ceiling(n) for n in range(limits.UPSTREAM_RETRY_ATTEMPTS))
    assert 1.0 < worst < 10.0


def test_restart_pacer_backs_off_on_crash_loops_and_resets_after_a_healthy_run() -> None:
    pacer = RestartPacer(Backoff(base=1.0, cap=8.0, rng=random.Random(3)), healthy_after=60.0)
    for expected_failures in range(1, 6):
        delay = pacer.next_delay(ran_for=0.5)
        assert 0.0 <= delay <= min(8.0, 2.0 ** (expected_failures - 1))
        assert pacer.failures == expected_failures
    pacer.next_delay(ran_for=3600.0)
    assert pacer.failures == 1
    assert "failures=1" in repr(pacer)
