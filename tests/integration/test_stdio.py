"""The stdio transport over a real process: JSONL in, JSONL out, exit 0 at EOF."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.launcher import appserver_env, run_stdio

INIT = {"id": 1, "method": "initialize", "params": {"clientInfo": {"name": "t", "title": None, "version": "1"}}}


def test_initialize_then_rules_then_exit_zero(tmp_path: Path) -> None:
    lines = [
        json.dumps({"id": "before", "method": "initialize-not", "params": {}}),
        json.dumps(INIT),
        "this is not json",
        json.dumps([INIT]),  # a batch: ignored like upstream
        "",
        json.dumps({"id": 2, "method": "initialize", "params": {}}),
        json.dumps({"jsonrpc": "2.0", "id": "s", "method": "initialize", "params": {}}),
    ]
    out, err, status = run_stdio(["serve", "--backend", "builtin"], lines, appserver_env(tmp_path))
    assert status == 0, err
    # Right behind the initialize answer: the gateway's remoteControl/status/changed.
    notifications = [m for m in out if "id" not in m]
    assert [m["method"] for m in notifications] == ["remoteControl/status/changed"]
    assert out[out.index(notifications[0]) - 1]["id"] == 1
    by_id = {m["id"]: m for m in out if "id" in m}
    assert set(by_id) == {"before", 1, 2, "s"}
    assert by_id["before"]["error"]["code"] == -32600
    assert by_id["before"]["error"]["message"].startswith("Invalid request: unknown variant `initialize-not`")
    assert by_id[1]["result"]["codexHome"] == str(tmp_path)
    assert by_id[2] == {"id": 2, "error": {"code": -32600, "message": "Already initialized"}}
    assert by_id["s"]["error"]["message"] == "Already initialized"
    assert all("jsonrpc" not in m for m in out)
    assert "ignoring malformed message: invalid JSON" in err
    assert "batches are not supported" in err
    assert "backend builtin" in err and "listening on: stdio://" in err


def test_answers_owed_at_eof_are_written(tmp_path: Path) -> None:
    # The whole burst is written and stdin closed before anything is read back.
    lines = [json.dumps(INIT)] + [
        json.dumps({"id": i, "method": "initialize", "params": {}}) for i in range(2, 2002)
    ]
    out, err, status = run_stdio(["serve", "--backend", "builtin"], lines, appserver_env(tmp_path))
    assert status == 0, err
    assert sorted(m["id"] for m in out if "id" in m) == list(range(1, 2002))


def test_bad_listen_url_is_one_line_exit_2(tmp_path: Path) -> None:
    out, err, status = run_stdio(["serve", "--listen", "ws://localhost:1"], [], appserver_env(tmp_path))
    assert status == 2
    assert out == []
    assert err == "Error: invalid websocket --listen URL `ws://localhost:1`; expected `ws://IP:PORT`\n"


def test_unknown_flag_is_one_line_exit_2(tmp_path: Path) -> None:
    out, err, status = run_stdio(["serve", "--nope"], [], appserver_env(tmp_path))
    assert status == 2
    assert err == "Error: No such option '--nope'.\n"
