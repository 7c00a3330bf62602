"""Pairing codes: minted for a host (``server/pair``), polled (``pair/status``), claimed by a
controller (``api/v1/pair/claim``), single use, expiring after ``RELAY_PAIRING_CODE_TTL``.

A pairing code carries ``RELAY_PAIRING_CODE_BYTES`` random bytes; a manual code is
``XXXX-XXXX`` in Crockford base32 (40 bits), so claims are rate limited
(:class:`ClaimLimiter`). Only digests of both are stored.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from dataclasses import dataclass

from appserver import limits
from appserver.relay import credentials
from appserver.relay.store import DEVICE_FIELDS, Device, Pairing, RelayStore, Server


@dataclass(frozen=True, slots=True)
class NewPairing:
    pairing_code: str
    manual_pairing_code: str | None
    expires_at: int


class PairingLookup:
    """The answer of :func:`find`: ``FOUND``, ``EXPIRED`` or ``UNKNOWN``."""

    FOUND = "found"
    EXPIRED = "expired"
    UNKNOWN = "unknown"


async def mint(store: RelayStore, server: Server, *, manual: bool, now: int) -> NewPairing:
    expires_at = now + limits.RELAY_PAIRING_CODE_TTL
    while True:
        code = credentials.pairing_code()
        manual_code = credentials.manual_code() if manual else None
        manual_digest = (
            credentials.digest(credentials.normalize_manual_code(manual_code)) if manual_code else None
        )
        pairing = Pairing(credentials.digest(code), manual_digest, server.server_id, expires_at, None)
        if await store.add_pairing(pairing, now):
            return NewPairing(code, manual_code, expires_at)


async def find(store: RelayStore, code: str, *, manual: bool) -> Pairing | None:
    if manual:
        return await store.pairing_by_manual(credentials.digest(credentials.normalize_manual_code(code)))
    return await store.pairing_by_code(credentials.digest(code))


async def find_any(store: RelayStore, code: str) -> Pairing | None:
    """A controller's code: a pairing code as is, else a manual code (normalized)."""
    found = await store.pairing_by_code(credentials.digest(code.strip()))
    if found is None and len(credentials.normalize_manual_code(code)) == limits.RELAY_MANUAL_CODE_CHARS:
        found = await find(store, code, manual=True)
    return found


@dataclass(frozen=True, slots=True)
class Claimed:
    device: Device
    device_token: str


async def claim(
    store: RelayStore, pairing: Pairing, fields: dict[str, str | None], *, now: int
) -> Claimed | None:
    """Claim ``pairing`` for a new device; ``None`` if it was claimed or expired meanwhile."""
    token = credentials.device_token()
    values = {name: fields.get(name) for name in DEVICE_FIELDS}
    device = Device(
        client_id=credentials.new_client_id(),
        server_id=pairing.server_id,
        created_at=now,
        last_seen_at=now,
        **values,
    )
    if not await store.claim_pairing(pairing.code_digest, device, credentials.digest(token), now):
        return None
    return Claimed(device, token)


class ClaimLimiter:
    """Sliding-window limits on claim attempts: per client address and across all. Sans-I/O."""

    def __init__(
        self,
        per_address: int = limits.RELAY_CLAIM_ATTEMPTS,
        overall: int = limits.RELAY_CLAIM_ATTEMPTS_GLOBAL,
        window: float = limits.RELAY_CLAIM_WINDOW,
        tracked: int = limits.RELAY_CLAIM_TRACKED_ADDRESSES,
    ) -> None:
        self.per_address = per_address
        self.overall = overall
        self.window = window
        self.tracked = tracked
        self._by_address: OrderedDict[str, deque[float]] = OrderedDict()
        self._all: deque[float] = deque()

    def __repr__(self) -> str:
        return f"<ClaimLimiter addresses={len(self._by_address)} recent={len(self._all)}>"

    def attempt(self, address: str, now: float | None = None) -> float:
        """Record an attempt; 0 if allowed, else the seconds to wait (nothing recorded)."""
        now = time.monotonic() if now is None else now
        horizon = now - self.window
        while self._all and self._all[0] <= horizon:
            self._all.popleft()
        times = self._by_address.get(address)
        if times is None:
            times = self._by_address[address] = deque()
            while len(self._by_address) > self.tracked:
                self._by_address.popitem(last=False)
        else:
            self._by_address.move_to_end(address)
        while times and times[0] <= horizon:
            times.popleft()
        wait = 0.0
        if len(times) >= self.per_address:
            wait = times[0] + self.window - now
        if len(self._all) >= self.overall:
            wait = max(wait, self._all[0] + self.window - now)
        if wait > 0:
            return max(1.0, float(math.ceil(wait)))
        times.append(now)
        self._all.append(now)
        return 0.0
