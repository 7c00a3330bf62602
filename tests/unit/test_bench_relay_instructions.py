"""python -m benchmarks.relay_instructions: its arguments and what it needs."""

from __future__ import annotations

import pytest

from benchmarks import relay_instructions


def test_bad_arguments_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        relay_instructions.main(["--burst", "0"])
    assert exit_.value.code == 2
    assert "--round-trips and --burst must be at least 1" in capsys.readouterr().err


def test_without_valgrind_it_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(relay_instructions.shutil, "which", lambda name: None)
    assert relay_instructions.main([]) == 2
    assert "needs valgrind and redis-server" in capsys.readouterr().err
