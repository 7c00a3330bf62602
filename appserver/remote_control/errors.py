"""Errors of the remote-control HTTP side, classified as upstream classifies them.

spec/remote-control.md §3.1: 401/403 -> PermissionDenied; 404 -> NotFound (pair/status:
404 and 410 -> InvalidInput; client management: 400 -> InvalidInput); a timeout without a
4xx status -> TimedOut; else Other. Transient (refresh is deferred, not failed for good):
TimedOut, 429 and 5xx. The kind decides the JSON-RPC code of a ``remoteControl/*`` answer.
"""

from __future__ import annotations

import enum
from datetime import datetime


class ErrorKind(enum.Enum):
    PERMISSION_DENIED = "permission_denied"
    NOT_FOUND = "not_found"
    TIMED_OUT = "timed_out"
    INVALID_INPUT = "invalid_input"
    INVALID_DATA = "invalid_data"
    WOULD_BLOCK = "would_block"
    INTERRUPTED = "interrupted"
    OTHER = "other"


class RemoteControlError(Exception):
    """One failure; ``str(err)`` is upstream's text (never a token or pairing code)."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        status: int | None = None,
        retry_at: datetime | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status
        self.retry_at = retry_at

    @property
    def transient(self) -> bool:
        return self.kind is ErrorKind.TIMED_OUT or (
            self.status is not None and (self.status == 429 or self.status >= 500)
        )

    def __repr__(self) -> str:
        return f"<RemoteControlError {self.kind.value} status={self.status}>"


def kind_for_status(status: int | None, *, timed_out: bool = False) -> ErrorKind:
    """Upstream's ``io_error`` classification for the server calls (enroll/refresh/pair)."""
    if status in (401, 403):
        return ErrorKind.PERMISSION_DENIED
    if status == 404:
        return ErrorKind.NOT_FOUND
    if timed_out and (status is None or not 400 <= status < 500):
        return ErrorKind.TIMED_OUT
    return ErrorKind.OTHER
