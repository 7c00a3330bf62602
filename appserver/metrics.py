"""``GET /metrics``: the gateway's counters in the Prometheus text format, via prometheus-client.

Ours; upstream has no metrics endpoint. The counters live where they are counted (the
processor's :class:`appserver.processor.Metrics`, the backend) as plain integers, so the
hot path pays nothing; a collector turns them into metric families at scrape time, next
to prometheus-client's process metrics (``process_*``: CPU, memory, open files) and
``appserver_build_info``. The backend may have ``ready``, ``restarts`` (a backend that
restarts its upstream), ``upstream_retries`` (requests sent again after codex answered
-32001) and ``upstream_overloads`` (codex -32001 answers passed on once retries ran out).
Byte counters count UTF-8 bytes of message text.
"""

from __future__ import annotations

import platform
from collections.abc import Iterable, Iterator, Mapping

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from appserver import CODEX_PROTOCOL_VERSION, __version__
from appserver.processor import Processor

#: The text format generate_latest() writes.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _family(
    name: str, kind: str, help_text: str, samples: Iterable[tuple[Mapping[str, str], int]]
) -> Metric:
    samples = list(samples)
    labels = sorted({key for sample_labels, _ in samples for key in sample_labels})
    cls = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
    family = cls(name, help_text, labels=labels)
    for sample_labels, value in samples:
        family.add_metric([sample_labels.get(key, "") for key in labels], value)
    return family


class _GatewayCollector:
    """The processor's and the backend's counters, read at scrape time."""

    def __init__(self, processor: Processor) -> None:
        self.processor = processor

    def collect(self) -> Iterator[Metric]:
        processor = self.processor
        m = processor.metrics
        backend = processor.backend
        open_now = processor.open_connections()
        transports = sorted(set(m.connections_opened) | set(open_now))
        on_backend = {"backend": backend.name}
        yield _family(
            "appserver_build_info", "gauge",
            "The gateway's version and the codex app-server protocol version it mirrors.",
            [({"version": __version__, "codex_protocol": CODEX_PROTOCOL_VERSION,
               "python": platform.python_version()}, 1)],
        )
        yield _family(
            "appserver_open_connections", "gauge", "Client connections open now, by transport.",
            (({"transport": t}, open_now.get(t, 0)) for t in transports),
        )
        yield _family(
            "appserver_connections_opened_total", "counter", "Client connections accepted, by transport.",
            (({"transport": t}, m.connections_opened.get(t, 0)) for t in transports),
        )
        yield _family("appserver_messages_in_total", "counter", "Messages received from clients.",
                      [({}, m.messages_in)])
        yield _family("appserver_messages_out_total", "counter", "Messages queued for clients.",
                      [({}, m.messages_out)])
        yield _family(
            "appserver_messages_direct_total", "counter",
            "Messages that took the direct path, without the queues' tasks: from a client's "
            "read straight to the backend, or from the backend's read straight to the client's "
            "socket (answers, and codex's notifications as its own frames).",
            [({"direction": "to_backend"}, m.forwarded_direct), ({"direction": "to_client"}, m.written_direct)],
        )
        yield _family("appserver_bytes_in_total", "counter",
                      "Bytes (UTF-8) of message text received from clients.", [({}, m.bytes_in)])
        yield _family("appserver_bytes_out_total", "counter",
                      "Bytes (UTF-8) of message text queued for clients.", [({}, m.bytes_out)])
        yield _family("appserver_malformed_messages_total", "counter",
                      "Client messages ignored as malformed.", [({}, m.malformed)])
        yield _family(
            "appserver_overload_answers_total", "counter",
            "Requests answered -32001 Server overloaded; retry later, by who answered: the "
            "gateway (its inbound queue was full) or the backend (codex's queue, after retries).",
            [({"source": "gateway"}, m.overload_answers),
             ({"source": "backend"}, int(getattr(backend, "upstream_overloads", 0)))],
        )
        yield _family(
            "appserver_gateway_calls_total", "counter",
            "Requests answered by the gateway itself (remoteControl/*), and how many failed.",
            [({"outcome": "ok"}, m.gateway_calls - m.gateway_failures),
             ({"outcome": "error"}, m.gateway_failures)],
        )
        yield _family(
            "appserver_connection_closes_total", "counter", "Connections closed, by reason.",
            (({"reason": r}, n) for r, n in sorted(m.closes_by_reason.items())),
        )
        yield _family(
            "appserver_outbound_queue_high_water_messages", "gauge",
            "Most messages ever waiting in one connection's outbound queue.", [({}, m.outbound_high_water)],
        )
        yield _family("appserver_backend_ready", "gauge", "1 when the backend accepts new sessions.",
                      [(on_backend, int(bool(backend.ready)))])
        yield _family("appserver_backend_restarts_total", "counter", "Times the backend was restarted.",
                      [(on_backend, int(getattr(backend, "restarts", 0)))])
        yield _family(
            "appserver_upstream_retries_total", "counter",
            "Requests sent to the backend again after it answered -32001 (not processed).",
            [(on_backend, int(getattr(backend, "upstream_retries", 0)))],
        )
        service = getattr(getattr(processor, "gateway", None), "service", None)
        if service is not None:
            from appserver.remote_control.metrics import lines as remote_control_lines

            families: list[Metric] = []

            def collect_family(
                name: str, kind: str, help_text: str, samples: Iterable[tuple[Mapping[str, str], int]]
            ) -> list[str]:
                families.append(_family(name, kind, help_text, samples))
                return []

            remote_control_lines(service, collect_family)
            yield from families

    def __repr__(self) -> str:
        return f"<GatewayCollector {self.processor!r}>"


def render(processor: Processor) -> str:
    """The exposition text for one scrape."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_GatewayCollector(processor))  # type: ignore[arg-type]
    ProcessCollector(registry=registry)
    return generate_latest(registry).decode("utf-8")
