"""Clock and notification helpers shared by the built-in backend's modules."""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

from appserver import jsonrpc


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def now_s() -> int:
    return int(time.time())


def uuid7() -> str:
    """A time-ordered UUIDv7 (RFC 9562), like the thread and turn ids codex makes."""
    value = (now_ms() & ((1 << 48) - 1)) << 80
    value |= int.from_bytes(os.urandom(10), "big") & ((1 << 80) - 1)
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    return str(uuid.UUID(int=value))


#: Every notification the built-in backend emits. The schema test drives a session that
#: must produce each of them and validates them against the real ``ServerNotification``.
NOTIFICATION_METHODS = frozenset(
    {
        "thread/started",
        "thread/name/updated",
        "thread/status/changed",
        "turn/started",
        "turn/completed",
        "item/started",
        "item/completed",
        "item/agentMessage/delta",
        "serverRequest/resolved",
        "error",
        "thread/archived",
        "thread/unarchived",
        "thread/compacted",
    }
)


def notification(method: str, params: dict[str, Any]) -> jsonrpc.Message:
    """A server notification stamped with ``emittedAtMs``, as codex sends them."""
    assert method in NOTIFICATION_METHODS, method
    return jsonrpc.Message.notification_of(
        {"method": method, "params": params, "emittedAtMs": now_ms()}
    )
