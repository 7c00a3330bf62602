"""appserver.metrics: the Prometheus exposition text after real traffic through a processor."""

from __future__ import annotations

import json

import pytest

from appserver import metrics
from appserver.close import CloseCode
from appserver.processor import Processor
from tests.support.fakes import FakeBackend

pytestmark = pytest.mark.anyio

NOT_INITIALIZED = '{"id":1,"error":{"code":-32600,"message":"Not initialized"}}'


def samples(text: str) -> dict[str, str]:
    """Sample -> value; integral values without prometheus-client's ``.0``."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            number = float(value)
            out[name] = str(int(number)) if number.is_integer() else value
    return out


async def test_render_counts_what_clients_did() -> None:
    backend = FakeBackend()
    backend.restarts = 4  # type: ignore[attr-defined]
    backend.upstream_retries = 3  # type: ignore[attr-defined]
    processor = Processor(backend)
    a, b, gone = processor.register("ws"), processor.register("ws"), processor.register("unix")
    for conn in (a, b, gone):
        await conn.open()
    await a.receive('{"method":"é"}')  # 15 bytes of UTF-8, 14 characters
    await b.receive("{")  # malformed
    await b.receive(json.dumps({"id": 1, "method": "thread/list", "params": {}}))  # Not initialized
    gone.close(CloseCode.POLICY_VIOLATION, "", label="slow_client")
    await gone.aclose()

    # (The fake backend has no direct path: what the direct path's counters would show.)
    processor.metrics.forwarded_direct, processor.metrics.written_direct = 5, 7
    text = metrics.render(processor)
    got = samples(text)
    assert got['appserver_messages_direct_total{direction="to_backend"}'] == "5"
    assert got['appserver_messages_direct_total{direction="to_client"}'] == "7"
    assert got['appserver_open_connections{transport="ws"}'] == "2"
    assert got['appserver_open_connections{transport="unix"}'] == "0"
    assert got['appserver_connections_opened_total{transport="unix"}'] == "1"
    assert got["appserver_messages_in_total"] == "3"
    assert got["appserver_bytes_in_total"] == str(15 + 1 + len(json.dumps({"id": 1, "method": "thread/list", "params": {}})))
    assert got["appserver_malformed_messages_total"] == "1"
    assert got["appserver_messages_out_total"] == "1"
    assert got["appserver_bytes_out_total"] == str(len(NOT_INITIALIZED))
    assert got['appserver_connection_closes_total{reason="slow_client"}'] == "1"
    assert got['appserver_backend_ready{backend="fake"}'] == "1"
    assert got['appserver_backend_restarts_total{backend="fake"}'] == "4"
    assert got['appserver_upstream_retries_total{backend="fake"}'] == "3"
    assert got['appserver_gateway_calls_total{outcome="ok"}'] == "0"
    assert "# TYPE appserver_messages_in_total counter" in text
    assert text.endswith("\n")
    # prometheus-client's process metrics, and the build.
    assert float(got["process_resident_memory_bytes"]) > 0
    assert "process_open_fds" in got
    assert got[
        'appserver_build_info{codex_protocol="0.169.0",python="%s",version="0.1.0"}'
        % __import__("platform").python_version()
    ] == "1"
    assert got['appserver_overload_answers_total{source="gateway"}'] == "0"


async def test_codex_overload_answers_passed_on_are_counted() -> None:
    backend = FakeBackend()
    backend.upstream_overloads = 2  # type: ignore[attr-defined]
    got = samples(metrics.render(Processor(backend)))
    assert got['appserver_overload_answers_total{source="backend"}'] == "2"


async def test_backend_without_restart_or_retry_counters() -> None:
    backend = FakeBackend()
    backend.ready = False  # type: ignore[misc]
    got = samples(metrics.render(Processor(backend)))
    assert got['appserver_backend_ready{backend="fake"}'] == "0"
    assert got['appserver_backend_restarts_total{backend="fake"}'] == "0"
    assert got['appserver_upstream_retries_total{backend="fake"}'] == "0"
