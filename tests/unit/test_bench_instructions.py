"""scripts/bench --instructions: its arguments, and reading callgrind's totals."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import cli, instructions


def test_the_totals_line_of_a_callgrind_dump_is_read(tmp_path: Path) -> None:
    dump = tmp_path / "gateway.callgrind.1"
    dump.write_text("# callgrind format\nevents: Ir\nsummary: 0\n\ntotals: 86123456\n")
    assert instructions.callgrind_totals(dump) == 86123456
    dump.write_text("events: Ir\n")
    with pytest.raises(RuntimeError, match="no totals"):
        instructions.callgrind_totals(dump)


def test_bad_arguments_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--instructions", "--round-trips", "0", "--codex-bin", "/bin/true"])
    assert exit_.value.code == 2
    assert "--round-trips must be at least 1" in capsys.readouterr().err


def test_without_valgrind_it_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(instructions.shutil, "which", lambda name: None)
    assert cli.main(["--instructions", "--codex-bin", "/bin/true"]) == 2
    assert "needs valgrind (apt-get install valgrind)" in capsys.readouterr().err
