"""What the relay keeps, behind one interface: accounts, servers, tokens, codes, devices, audit.

:class:`RelayStore` is the seam a shared engine (Redis, for a cluster of relay nodes) can
implement later; :class:`appserver.relay.sqlite_store.SqliteStore` is the single-node one.
Secrets never enter the store: only their SHA-256 digests (:mod:`appserver.relay.credentials`).
Times are unix seconds passed in by the caller, so the rules can be tested without a clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol


class StoreError(Exception):
    """The store refused an operation; ``str(err)`` is safe to show."""


class StoreUnavailable(StoreError):
    """The shared engine (Redis) cannot be reached now: answer 503, change nothing."""


@dataclass(frozen=True, slots=True)
class Account:
    account_id: str
    name: str
    created_at: int


@dataclass(frozen=True, slots=True)
class Server:
    """One enrolled host (codex calls it a server; its environment is what devices pair with)."""

    server_id: str
    environment_id: str
    account_id: str
    installation_id: str
    name: str
    os: str
    arch: str
    app_server_version: str
    created_at: int


@dataclass(frozen=True, slots=True)
class Pairing:
    code_digest: bytes
    manual_digest: bytes | None
    server_id: str
    expires_at: int
    claimed_by: str | None


@dataclass(frozen=True, slots=True)
class Device:
    """A paired controller (codex's "client"); the fields client list reports."""

    client_id: str
    server_id: str
    display_name: str | None
    device_type: str | None
    platform: str | None
    os_version: str | None
    device_model: str | None
    app_version: str | None
    created_at: int
    last_seen_at: int | None


DEVICE_FIELDS = ("display_name", "device_type", "platform", "os_version", "device_model", "app_version")


@dataclass(frozen=True, slots=True)
class AuditEvent:
    id: int
    ts: int
    event: str
    account: str | None
    server_id: str | None
    client_id: str | None
    peer: str | None
    detail: str | None


class RelayStore(Protocol):
    """Everything the relay persists. Every method is a single atomic operation."""

    async def close(self) -> None: ...
    async def ping(self) -> None: ...
    async def change_marker(self) -> int:
        """A value that changes when another process changed the state (tooling)."""
        ...

    # accounts
    async def add_account(self, name: str, account_id: str, credential: bytes, now: int) -> Account: ...
    async def accounts(self) -> list[Account]: ...
    async def account_by_name(self, name: str) -> Account | None: ...
    async def remove_account(self, name: str) -> Account | None: ...
    async def add_credential(self, account_id: str, credential: bytes, now: int) -> None: ...
    async def account_for_credential(self, credential: bytes) -> Account | None: ...
    async def server_count(self, account_id: str) -> int: ...

    # servers and host tokens
    async def server(self, server_id: str) -> Server | None: ...
    async def server_by_environment(self, environment_id: str) -> Server | None: ...
    async def server_by_installation(self, account_id: str, installation_id: str) -> Server | None: ...
    async def servers(self) -> list[Server]: ...
    async def add_server(self, server: Server) -> None: ...
    async def update_server(self, server: Server) -> None: ...
    async def add_host_token(self, server_id: str, token: bytes, expires_at: int, now: int) -> None: ...
    async def host_token_server(self, token: bytes, now: int) -> str | None: ...

    # pairing codes
    async def add_pairing(self, pairing: Pairing, now: int) -> bool:
        """False when the manual code collides with a remembered one (make another)."""
        ...
    async def pairing_by_code(self, code: bytes) -> Pairing | None: ...
    async def pairing_by_manual(self, manual: bytes) -> Pairing | None: ...
    async def claim_pairing(self, code: bytes, device: Device, token: bytes, now: int) -> bool:
        """Atomically: the code is unclaimed and unexpired -> mark it, add the device."""
        ...

    # devices
    async def device_count(self, server_id: str) -> int: ...
    async def device_for_token(self, token: bytes) -> Device | None: ...
    async def device(self, client_id: str) -> Device | None: ...
    async def devices(
        self, server_id: str | None, *, after: tuple[int, str] | None, limit: int, descending: bool
    ) -> list[Device]: ...
    async def remove_device(self, client_id: str) -> Device | None: ...
    async def touch_device(self, client_id: str, now: int) -> None: ...
    async def existing_devices(self, client_ids: Iterable[str]) -> set[str]: ...
    async def existing_servers(self, server_ids: Iterable[str]) -> set[str]: ...

    # audit
    async def audit(
        self,
        event: str,
        now: int,
        *,
        account: str | None = None,
        server_id: str | None = None,
        client_id: str | None = None,
        peer: str | None = None,
        detail: str | None = None,
    ) -> None: ...
    async def audit_events(self, *, limit: int, event: str | None = None) -> list[AuditEvent]: ...
