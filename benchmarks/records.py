"""Result records, targets, percentiles and the printed table.

A record is one metric of one scenario (the JSON shape ``scripts/bench --json`` writes)::

    {"scenario", "metric", "unit", "ours", "reference", "reference_name", "ratio",
     "target", "met", "detail"}

``ratio`` is always ours / reference; ``metric`` says whether lower or higher is better,
and ``target`` says what it is held to (``"ratio <= 1.25"``, ``"ratio >= 0.8"``,
``"ours <= 64"`` in the record's unit, or ``"report"``). ``met`` is true/false, absent for
``"report"``; a scenario that could not run has ``"unavailable": "<why>"`` and ``met``
null.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Target:
    on: str  # "ratio" | "ours"
    op: str  # "<=" | ">="
    value: float

    def check(self, ours: float | None, ratio: float | None) -> bool | None:
        actual = ratio if self.on == "ratio" else ours
        if actual is None or (isinstance(actual, float) and math.isnan(actual)):
            return None
        return actual <= self.value if self.op == "<=" else actual >= self.value

    def __str__(self) -> str:
        return f"{self.on} {self.op} {self.value:g}"


@dataclass(frozen=True, slots=True)
class Metric:
    """What a scenario reports, declared up front so an unavailable scenario still lists it."""

    name: str
    unit: str
    better: str  # "lower" | "higher"
    target: Target | None = None  # None: report only
    reference_name: str | None = None

    @property
    def label(self) -> str:
        if self.reference_name is None:
            return f"{self.name} ({self.better} is better)"
        return f"{self.name} (ratio = ours/ref, {self.better} is better)"


class Results:
    """What one scenario measured so far; records are built from it even after a failure."""

    def __init__(self, scenario: str, metrics: list[Metric]) -> None:
        self.scenario = scenario
        self.metrics = {m.name: m for m in metrics}
        self.ours: dict[str, float] = {}
        self.reference: dict[str, float] = {}
        self.detail: dict[str, str] = {}
        self.unavailable: str | None = None

    def set(self, metric: str, *, ours: float | None = None, reference: float | None = None) -> None:
        if metric not in self.metrics:
            raise KeyError(metric)
        if ours is not None:
            self.ours[metric] = ours
        if reference is not None:
            self.reference[metric] = reference

    def note(self, metric: str, text: str) -> None:
        self.detail[metric] = text

    def note_all(self, text: str) -> None:
        for name in self.metrics:
            self.detail[name] = f"{self.detail[name]}; {text}" if name in self.detail else text

    def records(self) -> list[dict[str, Any]]:
        out = []
        for name, metric in self.metrics.items():
            ours, reference = self.ours.get(name), self.reference.get(name)
            ratio = None
            if metric.reference_name is not None and ours is not None and reference:
                ratio = ours / reference
            record: dict[str, Any] = {
                "scenario": self.scenario,
                "metric": metric.label,
                "unit": metric.unit,
                "ours": _round(ours),
                "reference": _round(reference),
                "reference_name": metric.reference_name,
                "ratio": _round(ratio),
                "target": str(metric.target) if metric.target else "report",
            }
            if metric.target is not None:
                # None: not measured (the scenario was unavailable or failed half way).
                complete = ours is not None and (metric.reference_name is None or ratio is not None)
                record["met"] = metric.target.check(ours, ratio) if complete else None
            if self.unavailable is not None and ours is None:
                record["unavailable"] = self.unavailable
            record["detail"] = self.detail.get(name, "")
            out.append(record)
        return out


def _round(value: float | None) -> float | None:
    if value is None:
        return None
    return float(f"{value:.4g}")


def percentile(samples: list[float], p: float) -> float:
    """Nearest-rank percentile (``p`` in 0..100) of unsorted samples."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def format_table(records: list[dict[str, Any]]) -> str:
    """A fixed-width table for the terminal, then why anything was unavailable."""
    header = ("scenario", "metric", "ours", "reference", "ratio", "target", "met")
    rows = [header]
    reasons: dict[str, str] = {}
    for r in records:
        status = "-" if "met" not in r else {True: "yes", False: "NO", None: "?"}[r["met"]]
        ours = _value(r["ours"], r["unit"])
        if r.get("unavailable"):
            reasons.setdefault(r["scenario"], r["unavailable"])
            ours = "unavailable"
        ratio = "" if r["ratio"] is None else f"{r['ratio']:.2f}x"
        reference = _value(r["reference"], r["unit"])
        rows.append((r["scenario"], _short(r["metric"]), ours, reference, ratio, r["target"], status))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for scenario, why in reasons.items():
        lines.append(f"{scenario}: unavailable: {why}")
    return "\n".join(lines)


def _short(label: str) -> str:
    return label.split(" (", 1)[0]


def _value(value: float | None, unit: str) -> str:
    if value is None:
        return ""
    return f"{value:g} {unit}"
