"""Our SQLite state file: codex's table shape, the enabled flag, modes, corrupt files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from appserver.remote_control.identity import load_or_create
from appserver.remote_control.store import Store

pytestmark = pytest.mark.anyio
WS = "ws://127.0.0.1:9/backend-api/wham/remote/control/server"


async def test_round_trip_by_key_and_the_enabled_flag(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "rc")
    try:
        await store.upsert(WS, "acct_a", "", server_id="srv_1", environment_id="env_1", server_name="vm")
        row = await store.get(WS, "acct_a")
        assert row is not None and (row.server_id, row.environment_id, row.remote_control_enabled) == ("srv_1", "env_1", None)
        assert await store.get(WS, "acct_b") is None and await store.get(WS, "acct_a", "stdio-client") is None
        assert await store.set_enabled(WS, "acct_a", "", True) == 1
        assert await store.enabled_preference(WS, "acct_a") and await store.any_enabled(WS)
        await store.upsert(WS, "acct_a", "", server_id="srv_2", environment_id="env_2", server_name="vm")
        assert (await store.get(WS, "acct_a")).remote_control_enabled == 1  # type: ignore[union-attr]
        assert await store.set_enabled(WS, "acct_b", "", True) == 0
        assert await store.delete(WS, "acct_a") == 1 and await store.get(WS, "acct_a") is None
    finally:
        await store.aclose()
    assert stat.S_IMODE(os.stat(tmp_path / "rc").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(tmp_path / "rc/state.sqlite").st_mode) == 0o600


async def test_a_corrupt_file_is_moved_aside(tmp_path: Path) -> None:
    (tmp_path / "rc").mkdir()
    (tmp_path / "rc/state.sqlite").write_bytes(b"garbage" * 1000)
    store = await Store.open(tmp_path / "rc")
    try:
        assert await store.get(WS, "acct_a") is None
    finally:
        await store.aclose()
    moved = [p for p in (tmp_path / "rc").iterdir() if p.name.startswith("state.sqlite.corrupt-")]
    assert len(moved) == 1 and moved[0].read_bytes() == b"garbage" * 1000


def test_identity_is_stable_and_private(tmp_path: Path) -> None:
    first = load_or_create(tmp_path / "rc")
    assert load_or_create(tmp_path / "rc") == first
    assert stat.S_IMODE(os.stat(tmp_path / "rc/identity.json").st_mode) == 0o600
    (tmp_path / "rc/identity.json").write_text("{broken")
    assert load_or_create(tmp_path / "rc").installation_id != first.installation_id
