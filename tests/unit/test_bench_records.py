"""benchmarks.records: targets, ratios and the record shape, with literal numbers."""

from __future__ import annotations

from benchmarks.records import Metric, Results, Target, format_table, percentile

RTT = Metric("p50 round trip", "ms", "lower", Target("ratio", "<=", 1.25), "codex direct")
SHARE = Metric("answered without error", "%", "higher", Target("ours", ">=", 100), "codex direct")
LAG = Metric("p99 delivery lag", "ms", "lower")


def test_ratio_is_ours_over_reference_and_met_follows_the_target() -> None:
    results = Results("rtt_unix", [RTT])
    results.set("p50 round trip", ours=0.5, reference=0.4)
    [record] = results.records()
    assert record == {
        "scenario": "rtt_unix",
        "metric": "p50 round trip (ratio = ours/ref, lower is better)",
        "unit": "ms",
        "ours": 0.5,
        "reference": 0.4,
        "reference_name": "codex direct",
        "ratio": 1.25,
        "target": "ratio <= 1.25",
        "met": True,
        "detail": "",
    }
    results.set("p50 round trip", ours=0.6)
    assert results.records()[0]["met"] is False


def test_target_on_ours_ignores_the_ratio() -> None:
    results = Results("burst_10k", [SHARE])
    results.set("answered without error", ours=100.0, reference=13.0)
    [record] = results.records()
    assert record["met"] is True and record["target"] == "ours >= 100"
    assert record["metric"].endswith("higher is better)")


def test_report_only_metric_has_no_met_key() -> None:
    results = Results("fanout", [LAG])
    results.set("p99 delivery lag", ours=12.0)
    [record] = results.records()
    assert "met" not in record and record["target"] == "report" and record["ratio"] is None


def test_unavailable_scenario_keeps_reference_and_says_why() -> None:
    results = Results("rtt_unix", [RTT, LAG])
    results.set("p50 round trip", reference=0.3)
    results.unavailable = "gateway: Error: `--listen unix://` is not supported yet"
    rtt, lag = results.records()
    assert rtt["ours"] is None and rtt["reference"] == 0.3 and rtt["met"] is None
    assert rtt["unavailable"] == lag["unavailable"] == results.unavailable
    assert "met" not in lag
    table = format_table([rtt, lag])
    assert "unavailable" in table and "not supported yet" in table


def test_nearest_rank_percentile() -> None:
    samples = [float(x) for x in range(100, 0, -1)]
    assert percentile(samples, 50) == 50.0
    assert percentile(samples, 99) == 99.0
    assert percentile(samples, 100) == 100.0
    assert percentile([7.0], 99) == 7.0
