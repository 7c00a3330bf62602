"""The relay's per-message counters (appserver.relay.metrics): counted in plain integers,
every count in the rendered metrics."""

from __future__ import annotations

from appserver.relay.metrics import RelayMetrics


def test_tallied_counts_are_all_in_every_rendering() -> None:
    metrics = RelayMetrics()
    for _ in range(3):
        metrics.received("ServerMessage").inc()
    metrics.sent("ack").inc(5)
    metrics.controller_frames_out.inc()
    text = metrics.render().decode()
    assert 'appserver_relay_host_envelopes_received_total{type="ServerMessage"} 3.0' in text
    assert 'appserver_relay_host_envelopes_sent_total{type="ack"} 5.0' in text
    assert "appserver_relay_controller_frames_sent_total 1.0" in text
    metrics.received("ServerMessage").inc()
    assert 'appserver_relay_host_envelopes_received_total{type="ServerMessage"} 4.0' in metrics.render().decode()
