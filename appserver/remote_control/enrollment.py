"""The host's enrollment with a relay and the host-token refresh rules. Sans-I/O.

spec/remote-control.md §3.2–§3.3. An enrollment is ``(account_id, server_id,
environment_id, server_name)``, persisted; the host token (``remote_control_token``) and
its expiry live in memory only. Before each use the token's refresh requirement is:

* ``REQUIRED``: no token, no expiry, or expired;
* ``PROACTIVE``: it expires within 5 minutes and no deferral is pending;
* ``NOT_NEEDED``: otherwise (more than 5 minutes left, or a deferral in the future).

A transient refresh failure defers the next attempt until ``Retry-After`` or 24–36 s; a
required refresh that is deferred fails fast (WouldBlock) until then.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from appserver import limits


class RefreshRequirement(enum.Enum):
    REQUIRED = "required"
    PROACTIVE = "proactive"
    NOT_NEEDED = "not_needed"


@dataclass(slots=True)
class Enrollment:
    account_id: str
    server_id: str
    environment_id: str
    server_name: str
    token: str | None = field(default=None, repr=False)
    expires_at: datetime | None = None
    next_refresh_at: datetime | None = None

    def same_identity(self, other: Enrollment | None) -> bool:
        """Upstream: two enrollments are the same when account, server and environment match."""
        return (
            other is not None
            and other.account_id == self.account_id
            and other.server_id == self.server_id
            and other.environment_id == self.environment_id
        )

    def refresh_requirement(self, now: datetime) -> RefreshRequirement:
        if self.token is None or self.expires_at is None or self.expires_at <= now:
            return RefreshRequirement.REQUIRED
        if self.expires_at - now <= timedelta(seconds=limits.RC_REFRESH_PROACTIVE_WINDOW):
            if self.next_refresh_at is None or self.next_refresh_at <= now:
                return RefreshRequirement.PROACTIVE
        return RefreshRequirement.NOT_NEEDED

    def set_token(self, token: str, expires_at: datetime) -> None:
        self.token = token
        self.expires_at = expires_at
        self.next_refresh_at = None

    def clear_token(self) -> None:
        self.token = None
        self.expires_at = None

    def defer_refresh(self, retry_at: datetime | None, now: datetime) -> datetime:
        """After a transient failure: ``Retry-After`` if in the future, else 24–36 s."""
        if retry_at is not None and retry_at > now:
            self.next_refresh_at = retry_at
        else:
            delay = random.randint(limits.RC_REFRESH_BACKOFF_MIN, limits.RC_REFRESH_BACKOFF_MAX)
            self.next_refresh_at = now + timedelta(seconds=delay)
        return self.next_refresh_at

    def __repr__(self) -> str:
        return (
            f"<Enrollment server={self.server_id} environment={self.environment_id} "
            f"token={'yes' if self.token else 'no'} expires={self.expires_at}>"
        )
