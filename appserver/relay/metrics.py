"""The relay's Prometheus metrics (prometheus-client), one registry per relay instance.

Names are documented in docs/relay.md "Metrics".
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, disable_created_metrics, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# `*_created` series only double the scrape; counters start with the process anyway.
disable_created_metrics()


class Tally:
    """One counter series counted on the per-message path in a plain integer (a Prometheus
    ``inc`` takes a lock, about 1 µs), added to the series whenever the metrics are
    rendered: a scrape sees every count."""

    __slots__ = ("series", "count")

    def __init__(self, series: Any) -> None:
        self.series = series
        self.count = 0

    def inc(self, amount: int = 1) -> None:
        self.count += amount

    def flush(self) -> None:
        if self.count:
            self.series.inc(self.count)
            self.count = 0

    def __repr__(self) -> str:
        return f"<Tally +{self.count}>"


class RelayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self._tallies: list[Tally] = []
        self.host_links = Gauge("appserver_relay_host_links", "Hosts connected now.", registry=r)
        self.controller_sockets = Gauge(
            "appserver_relay_controller_sockets", "Controller WebSockets open now.", registry=r
        )
        self.streams = Gauge(
            "appserver_relay_streams", "Controller streams (open sockets and streams in their grace period).",
            registry=r,
        )
        self.http_requests = Counter(
            "appserver_relay_http_requests", "HTTP API requests, by route and status.",
            ["route", "status"], registry=r,
        )
        self.auth_failures = Counter(
            "appserver_relay_auth_failures", "Rejected credentials, by what was presented.",
            ["kind"], registry=r,
        )
        self.events = Counter(
            "appserver_relay_events", "Enrollments, refreshes, pairings, claims and revocations.",
            ["event"], registry=r,
        )
        self.envelopes_in = Counter(
            "appserver_relay_host_envelopes_received", "Envelopes received from hosts, by type.",
            ["type"], registry=r,
        )
        self.envelopes_out = Counter(
            "appserver_relay_host_envelopes_sent", "Envelopes sent to hosts, by type.", ["type"], registry=r
        )
        self.duplicates = Counter(
            "appserver_relay_host_envelopes_duplicate", "Replayed host envelopes dropped as duplicates.",
            registry=r,
        )
        self.bad_envelopes = Counter(
            "appserver_relay_host_envelopes_rejected", "Host envelopes rejected (malformed, bad chunks).",
            registry=r,
        )
        self.controller_frames_in = self.tally(Counter(
            "appserver_relay_controller_frames_received", "JSON-RPC frames received from controllers.",
            registry=r,
        ))
        self.controller_frames_out = self.tally(Counter(
            "appserver_relay_controller_frames_sent", "JSON-RPC frames queued for controllers.", registry=r
        ))
        self.offline_answers = Counter(
            "appserver_relay_host_offline_answers",
            "Controller requests answered with the host-offline error.", registry=r,
        )
        self.late_answers = Counter(
            "appserver_relay_host_late_answers_dropped",
            "Host answers dropped because the relay had already answered the request (host offline).",
            registry=r,
        )
        self.resumes = Counter(
            "appserver_relay_stream_resumes", "Controller streams resumed on a new socket.", registry=r
        )
        self.closes = Counter(
            "appserver_relay_controller_closes", "Controller sockets closed by the relay, by close code.",
            ["code"], registry=r,
        )
        self.claim_limited = Counter(
            "appserver_relay_claims_rate_limited", "Pairing claims refused with 429.", registry=r
        )

        self._received: dict[str, Tally] = {}
        self._sent: dict[str, Tally] = {}

    def tally(self, series: Any) -> Tally:
        """Count ``series`` (a counter without labels, or one child) in a :class:`Tally`."""
        tally = Tally(series)
        self._tallies.append(tally)
        return tally

    # The per-envelope series, cached: ``labels()`` takes a lock and builds a key each call.
    def received(self, kind: str) -> Tally:
        """The ``envelopes_in`` series of envelope type ``kind``."""
        tally = self._received.get(kind)
        if tally is None:
            tally = self._received[kind] = self.tally(self.envelopes_in.labels(kind))
        return tally

    def sent(self, kind: str) -> Tally:
        """The ``envelopes_out`` series of envelope type ``kind``."""
        tally = self._sent.get(kind)
        if tally is None:
            tally = self._sent[kind] = self.tally(self.envelopes_out.labels(kind))
        return tally

    def flush(self) -> None:
        """Add what the tallies counted to their series."""
        for tally in self._tallies:
            tally.flush()

    def render(self) -> bytes:
        self.flush()
        return generate_latest(self.registry)

    content_type = CONTENT_TYPE_LATEST
