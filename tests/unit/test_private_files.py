"""appserver.private_files: the one place private folders (0700) and files (0600) are made."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from appserver.errors import ConfigError
from appserver.private_files import (
    create_private_file,
    make_private_dirs,
    replace_private_file,
    write_private_file,
)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_private_file_modes(tmp_path: Path) -> None:
    old = os.umask(0)  # even a permissive umask gives 0600 / 0700
    try:
        target = tmp_path / "a" / "b" / "tok"
        write_private_file(target, "x\n", force=False)
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "a" / "b").stat().st_mode) == 0o700
    assert target.read_text() == "x\n"


def test_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    target = tmp_path / "tok"
    target.write_text("keep")
    target.chmod(0o644)
    with pytest.raises(ConfigError, match="already exists; pass --force"):
        write_private_file(target, "new", force=False)
    assert target.read_text() == "keep"
    write_private_file(target, "new", force=True)
    assert target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["tok"]  # no temp file left behind


def test_replace_private_file_creates_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "state" / "identity.json"
    replace_private_file(target, "one")
    target.chmod(0o644)
    replace_private_file(target, "two")
    assert target.read_text() == "two"
    assert _mode(target) == 0o600
    assert _mode(target.parent) == 0o700
    assert [p.name for p in target.parent.iterdir()] == ["identity.json"]


def test_replace_private_file_raises_os_errors(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OSError):
        replace_private_file(blocker / "x", "text")


def test_create_private_file_keeps_content_and_tightens(tmp_path: Path) -> None:
    target = tmp_path / "db" / "relay.sqlite3"
    create_private_file(target)
    assert target.read_bytes() == b""
    assert _mode(target) == 0o600
    target.write_text("data")
    target.chmod(0o644)
    create_private_file(target)
    assert target.read_text() == "data"
    assert _mode(target) == 0o600


def test_make_private_dirs_tightens_only_when_asked(tmp_path: Path) -> None:
    folder = tmp_path / "open"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    make_private_dirs(folder)
    assert _mode(folder) == 0o755
    make_private_dirs(folder, tighten=True)
    assert _mode(folder) == 0o700
