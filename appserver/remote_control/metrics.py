"""Remote control's ``/metrics`` families (rendered by :mod:`appserver.metrics`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from appserver.remote_control.service import RemoteControlService
from appserver.remote_control.status import RcStatus

Family = Callable[[str, str, str, Iterable[tuple[Mapping[str, str], int]]], list[str]]


def lines(service: RemoteControlService, family: Family) -> list[str]:
    m = service.metrics
    current = service.status.value.status
    out: list[str] = []
    out += family(
        "appserver_remote_control_status", "gauge",
        "Remote-control status (1 for the current one).",
        (({"status": s.value}, int(s is current)) for s in RcStatus),
    )
    out += family(
        "appserver_remote_control_streams", "gauge", "Controller streams open now.",
        [({}, service.open_streams())],
    )
    out += family(
        "appserver_remote_control_streams_opened_total", "counter", "Controller streams opened.",
        [({}, m.streams_opened)],
    )
    out += family(
        "appserver_remote_control_envelopes_total", "counter", "Envelopes on the host link, by direction.",
        [({"direction": "in"}, m.envelopes_in), ({"direction": "out"}, m.envelopes_out)],
    )
    out += family(
        "appserver_remote_control_bad_envelopes_total", "counter",
        "Envelopes from the relay ignored as malformed (or chunk rule violations).", [({}, m.bad_envelopes)],
    )
    out += family(
        "appserver_remote_control_replayed_envelopes_total", "counter",
        "Unacked envelopes sent again after a reconnect.", [({}, m.replayed)],
    )
    out += family(
        "appserver_remote_control_connects_total", "counter", "Host links established.", [({}, m.connects)],
    )
    out += family(
        "appserver_remote_control_reconnects_total", "counter",
        "Reconnect attempts scheduled after a dropped or failed link.", [({}, m.reconnects)],
    )
    out += family(
        "appserver_remote_control_enrolls_total", "counter", "Enrollments with the relay.", [({}, m.enrolls)],
    )
    out += family(
        "appserver_remote_control_token_refreshes_total", "counter", "Host token refreshes.", [({}, m.refreshes)],
    )
    return out
