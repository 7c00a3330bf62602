"""The status model, its notification, and the reconnect backoff."""

from __future__ import annotations

import json
import random

from appserver.remote_control.backoff import reconnect_delay
from appserver.remote_control.status import RcStatus, StatusModel, status_notification


def test_changes_are_published_once_and_disabled_clears_the_environment() -> None:
    seen = []
    model = StatusModel("vm", "inst", on_change=seen.append)
    assert model.set_environment("env") is False  # ignored while disabled
    assert model.set_status(RcStatus.CONNECTING)
    assert not model.set_status(RcStatus.CONNECTING)  # duplicate suppressed
    assert model.set_environment("env")
    assert model.set_status(RcStatus.CONNECTED)
    assert model.set_status(RcStatus.DISABLED)
    assert [(s.status.value, s.environment_id) for s in seen] == [
        ("connecting", None), ("connecting", "env"), ("connected", "env"), ("disabled", None)
    ]


def test_notification_text_has_emitted_at_ms_after_params() -> None:
    model = StatusModel("vm", "5efb", on_change=None)
    message = status_notification(model.value, emitted_at_ms=1796034372136)
    assert message.text == (
        '{"method":"remoteControl/status/changed","params":{"status":"disabled","serverName":"vm",'
        '"installationId":"5efb","environmentId":null},"emittedAtMs":1796034372136}'
    )
    assert json.loads(message.text)["emittedAtMs"] == 1796034372136


def test_backoff_doubles_from_200ms_to_a_30s_cap_with_10_percent_jitter() -> None:
    rng = random.Random(1)
    for attempt, base in [(0, 0.2), (1, 0.2), (2, 0.4), (3, 0.8), (9, 30.0), (50, 30.0), (500, 30.0)]:
        delay = reconnect_delay(attempt, rng)
        assert base * 0.9 <= delay <= base * 1.1
