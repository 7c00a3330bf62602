"""The remote-control status and its ``remoteControl/status/changed`` notification. Sans-I/O.

spec/remote-control.md §8 and remote-control-observed.md §3.1, §3.5–§3.6: the status
object is ``{status, serverName, installationId, environmentId}``; notifications carry a
top-level ``emittedAtMs`` (unix ms); duplicates are suppressed; ``environmentId`` is null
whenever the status becomes ``disabled`` and updates to it are ignored while disabled.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from appserver import jsonrpc

STATUS_CHANGED = "remoteControl/status/changed"


class RcStatus(enum.Enum):
    DISABLED = "disabled"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    ERRORED = "errored"


@dataclass(frozen=True, slots=True)
class StatusSnapshot:
    status: RcStatus
    server_name: str
    installation_id: str
    environment_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "serverName": self.server_name,
            "installationId": self.installation_id,
            "environmentId": self.environment_id,
        }


def now_ms() -> int:
    return int(time.time() * 1000)


def status_notification(snapshot: StatusSnapshot, emitted_at_ms: int | None = None) -> jsonrpc.Message:
    """The notification as the binary writes it: method, params, emittedAtMs."""
    return jsonrpc.Message.from_payload(
        {
            "method": STATUS_CHANGED,
            "params": snapshot.to_json(),
            "emittedAtMs": now_ms() if emitted_at_ms is None else emitted_at_ms,
        }
    )


class StatusModel:
    """The current status; ``on_change`` is called with every new (different) value."""

    def __init__(
        self,
        server_name: str,
        installation_id: str,
        *,
        on_change: Callable[[StatusSnapshot], None] | None = None,
    ) -> None:
        self._value = StatusSnapshot(RcStatus.DISABLED, server_name, installation_id)
        self._on_change = on_change

    @property
    def value(self) -> StatusSnapshot:
        return self._value

    def set_status(self, status: RcStatus) -> bool:
        value = replace(self._value, status=status)
        if status is RcStatus.DISABLED:
            value = replace(value, environment_id=None)
        return self._publish(value)

    def set_environment(self, environment_id: str | None) -> bool:
        if self._value.status is RcStatus.DISABLED:
            return False
        return self._publish(replace(self._value, environment_id=environment_id))

    def _publish(self, value: StatusSnapshot) -> bool:
        if value == self._value:
            return False
        self._value = value
        if self._on_change is not None:
            self._on_change(value)
        return True

    def __repr__(self) -> str:
        v = self._value
        return f"<StatusModel {v.status.value} environment={v.environment_id}>"
