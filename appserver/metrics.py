"""``GET /metrics``: the processor's counters in the Prometheus text format (version 0.0.4).

Ours; upstream has no metrics endpoint. Rendered from :class:`appserver.processor.Metrics`,
the open connections, and the backend: ``backend.ready`` and an optional integer
``backend.restarts`` (a backend that restarts its upstream increments it; 0 when absent)
and ``backend.upstream_retries`` (requests sent again after codex answered -32001).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from appserver.processor import Processor

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _family(
    name: str, kind: str, help_text: str, samples: Iterable[tuple[Mapping[str, str], int]]
) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    for labels, value in samples:
        rendered = ",".join(f'{key}="{_escape(val)}"' for key, val in labels.items())
        lines.append(f"{name}{{{rendered}}} {value}" if rendered else f"{name} {value}")
    return lines


def render(processor: Processor) -> str:
    """The exposition text for one scrape."""
    m = processor.metrics
    backend = processor.backend
    open_now = processor.open_connections()
    transports = sorted(set(m.connections_opened) | set(open_now))
    restarts = getattr(backend, "restarts", 0)
    lines: list[str] = []
    lines += _family(
        "appserver_open_connections", "gauge", "Client connections open now, by transport.",
        (({"transport": t}, open_now.get(t, 0)) for t in transports),
    )
    lines += _family(
        "appserver_connections_opened_total", "counter", "Client connections accepted, by transport.",
        (({"transport": t}, m.connections_opened.get(t, 0)) for t in transports),
    )
    lines += _family(
        "appserver_messages_in_total", "counter", "Messages received from clients.", [({}, m.messages_in)]
    )
    lines += _family(
        "appserver_messages_out_total", "counter", "Messages queued for clients.", [({}, m.messages_out)]
    )
    lines += _family(
        "appserver_bytes_in_total", "counter", "Bytes (UTF-8) of message text received from clients.",
        [({}, m.bytes_in)],
    )
    lines += _family(
        "appserver_bytes_out_total", "counter", "Bytes (UTF-8) of message text queued for clients.",
        [({}, m.bytes_out)],
    )
    lines += _family(
        "appserver_malformed_messages_total", "counter", "Client messages ignored as malformed.",
        [({}, m.malformed)],
    )
    lines += _family(
        "appserver_overload_answers_total", "counter",
        "Requests answered -32001 Server overloaded; retry later.", [({}, m.overload_answers)],
    )
    lines += _family(
        "appserver_gateway_calls_total", "counter",
        "Requests answered by the gateway itself (remoteControl/*), and how many failed.",
        [({"outcome": "ok"}, m.gateway_calls - m.gateway_failures), ({"outcome": "error"}, m.gateway_failures)],
    )
    lines += _family(
        "appserver_connection_closes_total", "counter", "Connections closed, by reason.",
        (({"reason": r}, n) for r, n in sorted(m.closes_by_reason.items())),
    )
    lines += _family(
        "appserver_outbound_queue_high_water_messages", "gauge",
        "Most messages ever waiting in one connection's outbound queue.", [({}, m.outbound_high_water)],
    )
    lines += _family(
        "appserver_backend_ready", "gauge", "1 when the backend accepts new sessions.",
        [({"backend": backend.name}, int(bool(backend.ready)))],
    )
    lines += _family(
        "appserver_backend_restarts_total", "counter", "Times the backend was restarted.",
        [({"backend": backend.name}, int(restarts))],
    )
    lines += _family(
        "appserver_upstream_retries_total", "counter",
        "Requests sent to the backend again after it answered -32001 (not processed).",
        [({"backend": backend.name}, int(getattr(backend, "upstream_retries", 0)))],
    )
    service = getattr(getattr(processor, "gateway", None), "service", None)
    if service is not None:
        from appserver.remote_control.metrics import lines as remote_control_lines

        lines += remote_control_lines(service, _family)
    return "\n".join(lines) + "\n"
