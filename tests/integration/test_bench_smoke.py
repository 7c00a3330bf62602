"""scripts/bench machinery on one tiny scenario: record shape and clean-up (no timings)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from benchmarks.procs import MARKER_VAR, marked_pids
from tests.support import deadlines

ROOT = Path(__file__).resolve().parents[2]
KEYS = {"scenario", "metric", "unit", "ours", "reference", "reference_name", "ratio", "target"}


def test_tiny_rtt_builtin_run_writes_records_and_leaves_nothing_behind(tmp_path: Path) -> None:
    marker = uuid.uuid4().hex
    out, work = tmp_path / "results.json", tmp_path / "work"
    work.mkdir()
    env = dict(os.environ, **{MARKER_VAR: marker})
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--size", "tiny", "--json", str(out),
         "--tmp", str(work), "rtt_builtin"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=deadlines.CODEX,
    )
    assert proc.returncode == 0, proc.stderr
    records = json.loads(out.read_text())
    assert [r["scenario"] for r in records] == ["rtt_builtin", "rtt_builtin"]
    assert [r["metric"] for r in records] == [
        "p50 round trip (ratio = ours/ref, lower is better)",
        "p99 round trip (ratio = ours/ref, lower is better)",
    ]
    for record in records:
        assert KEYS <= record.keys()
        assert record["unit"] == "ms"
        assert record["reference_name"] == "websockets echo server"
        assert record["target"] == "ratio <= 1.5"
        assert record["reference"] > 0  # the echo server is always measured
        if record.get("unavailable"):
            assert record["ours"] is None and record["met"] is None
        else:
            assert record["ours"] > 0
            assert record["ratio"] > 0
            assert isinstance(record["met"], bool)
        assert record["machine"]["cpu_cores"] >= 1
    assert "rtt_builtin" in proc.stdout  # the table
    assert list(work.iterdir()) == []  # every temp folder removed
    assert marked_pids(marker) == []  # every process it started is gone
