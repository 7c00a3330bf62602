"""appserver.metrics: the Prometheus exposition text from processor state."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

from appserver import metrics
from appserver.processor import Metrics


def fake_processor(ready: bool, restarts: int | None) -> SimpleNamespace:
    backend = SimpleNamespace(name="codex", ready=ready)
    if restarts is not None:
        backend.restarts = restarts
    m = Metrics(messages_in=5, messages_out=7, bytes_in=100, bytes_out=200, overload_answers=2,
                outbound_high_water=9)
    m.connections_opened.update({"ws": 3, "unix": 1})
    m.closes_by_reason.update({"slow_client": 1, "normal": 2})
    return SimpleNamespace(metrics=m, backend=backend, open_connections=lambda: Counter({"ws": 2}))


def samples(text: str) -> dict[str, str]:
    return dict(line.rsplit(" ", 1) for line in text.splitlines() if not line.startswith("#"))


def test_render() -> None:
    text = metrics.render(fake_processor(ready=True, restarts=4))  # type: ignore[arg-type]
    got = samples(text)
    assert got['appserver_open_connections{transport="ws"}'] == "2"
    assert got['appserver_open_connections{transport="unix"}'] == "0"
    assert got['appserver_connections_opened_total{transport="ws"}'] == "3"
    assert got["appserver_messages_in_total"] == "5"
    assert got["appserver_messages_out_total"] == "7"
    assert got["appserver_bytes_in_total"] == "100"
    assert got["appserver_bytes_out_total"] == "200"
    assert got["appserver_overload_answers_total"] == "2"
    assert got['appserver_connection_closes_total{reason="slow_client"}'] == "1"
    assert got["appserver_outbound_queue_high_water_messages"] == "9"
    assert got['appserver_backend_ready{backend="codex"}'] == "1"
    assert got['appserver_backend_restarts_total{backend="codex"}'] == "4"
    assert "# TYPE appserver_messages_in_total counter" in text
    assert text.endswith("\n")


def test_backend_without_restarts_counter() -> None:
    got = samples(metrics.render(fake_processor(ready=False, restarts=None)))  # type: ignore[arg-type]
    assert got['appserver_backend_ready{backend="codex"}'] == "0"
    assert got['appserver_backend_restarts_total{backend="codex"}'] == "0"
