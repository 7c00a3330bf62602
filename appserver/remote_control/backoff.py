"""Reconnect delays for the host link. Sans-I/O.

spec/remote-control.md §4.6: ``min(200 ms * 2**(n-1), 30 s)`` with +-10 % jitter;
attempts 0 and 1 both give about 200 ms. We do not reset the counter at the cap (the newer
upstream rule); a successful connection resets it.
"""

from __future__ import annotations

import random

from appserver import limits


def reconnect_delay(attempt: int, rng: random.Random | None = None) -> float:
    exponent = max(attempt - 1, 0)
    base = limits.RC_RECONNECT_CAP
    if exponent < 32:
        base = min(limits.RC_RECONNECT_BASE * (2**exponent), limits.RC_RECONNECT_CAP)
    jitter = (rng or random).uniform(-limits.RC_RECONNECT_JITTER, limits.RC_RECONNECT_JITTER)
    return base * (1.0 + jitter)
