"""Choosing the backend: auto/codex/unix://PATH/builtin, and the codex command line."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from appserver.backends.builtin import BuiltinBackend
from appserver.backends.codex import CodexBackend, SocketBackend
from appserver.backends.codex.child import child_command, describe_status
from appserver.backends.choice import create_backend
from appserver.config import BackendChoice, BackendConfig
from appserver.errors import ConfigError


def _fake_codex(folder: Path) -> Path:
    path = folder / "codex"
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_auto_uses_codex_found_on_path(tmp_path: Path) -> None:
    codex = _fake_codex(tmp_path)
    env = {"PATH": str(tmp_path), "CODEX_HOME": str(tmp_path / "home")}
    backend, why = create_backend(BackendConfig(overrides=("model=x",)), env)
    assert isinstance(backend, CodexBackend)
    assert why == "auto: found codex"
    assert backend.codex_bin == str(codex)
    assert backend.socket == tmp_path / "home" / "appserver" / f"codex-{os.getpid()}.sock"
    assert backend.command == [str(codex), "-c", "model=x", "app-server", "--listen", f"unix://{backend.socket}"]


def test_auto_without_codex_falls_back_to_builtin(tmp_path: Path) -> None:
    backend, why = create_backend(BackendConfig(), {"PATH": str(tmp_path), "CODEX_HOME": str(tmp_path)})
    assert isinstance(backend, BuiltinBackend)
    assert why == "auto: no codex executable on PATH"


def test_backend_codex_without_codex_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        create_backend(BackendConfig(choice=BackendChoice.CODEX), {"PATH": str(tmp_path), "CODEX_HOME": str(tmp_path)})
    assert str(err.value) == "codex executable not found: `codex` (use --codex-bin PATH or put codex on PATH)"


def test_codex_bin_that_does_not_exist_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="codex executable not found: `/nope/codex`"):
        create_backend(BackendConfig(codex_bin="/nope/codex"), {"PATH": "", "CODEX_HOME": str(tmp_path)})


def test_codex_bin_wins_over_path(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _fake_codex(tmp_path / "a")
    chosen = _fake_codex(tmp_path / "b")
    env = {"PATH": str(tmp_path / "a"), "CODEX_HOME": str(tmp_path)}
    backend, why = create_backend(BackendConfig(codex_bin=str(chosen)), env)
    assert isinstance(backend, CodexBackend) and backend.codex_bin == str(chosen)
    assert why == "--codex-bin"


def test_backend_unix_attaches_to_a_socket(tmp_path: Path) -> None:
    config = BackendConfig(choice=BackendChoice.UNIX, socket=tmp_path / "s.sock")
    backend, why = create_backend(config, {"PATH": "", "CODEX_HOME": str(tmp_path)})
    assert isinstance(backend, SocketBackend)
    assert why == f"--backend unix://{tmp_path / 's.sock'}"
    assert backend.description == f"app-server at unix://{tmp_path / 's.sock'}"


def test_child_command_and_exit_descriptions() -> None:
    assert child_command("codex", Path("/h/s.sock"), ()) == ["codex", "app-server", "--listen", "unix:///h/s.sock"]
    assert describe_status(0) == "exit status 0"
    assert describe_status(3) == "exit status 3"
    assert describe_status(137) == "killed by SIGKILL"
    assert describe_status(-15) == "killed by SIGTERM"
