"""``appserver relay ... --redis URL``: tooling and nodes sharing one real redis-server."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import httpx

from appserver import strings
from tests.support.launcher import APPSERVER, BlockingLaunched, launch_blocking
from tests.support.redis_server import RedisServer
from tests.support.relay import BANNER, ENROLL_BODY, account_headers
from tests.support import deadlines


def relay(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*APPSERVER, "relay", *args], capture_output=True, text=True, timeout=deadlines.PROCESS,
        env={**os.environ, "XDG_STATE_HOME": str(tmp_path / "xdg"), **env}, cwd=tmp_path,
    )


def node_argv(redis_url: str) -> list[str]:
    return [*APPSERVER, "relay", "serve", "--listen", "http://127.0.0.1:0", "--redis", redis_url]


def node_url(proc: BlockingLaunched) -> str:
    return proc.line_matching(BANNER).group(1)


def test_tooling_takes_redis_from_the_flag_or_the_environment(tmp_path: Path, redis_url: str) -> None:
    added = relay(tmp_path, "account", "add", "alice", "--out", str(tmp_path / "a"), "--redis", redis_url)
    assert added.returncode == 0, added.stderr
    listed = relay(tmp_path, "account", "list", "--json", APPSERVER_RELAY_REDIS=redis_url)
    assert [json.loads(line)["name"] for line in listed.stdout.splitlines()] == ["alice"]
    # Nothing went to the default SQLite file.
    assert not (tmp_path / "xdg" / "appserver" / "relay.sqlite3").exists()
    home = relay(tmp_path, "codex-home", "--account", "alice", "--relay", "http://127.0.0.1:1/",
                 "--out", str(tmp_path / "home"), APPSERVER_RELAY_REDIS=redis_url)
    assert home.returncode == 0, home.stderr
    audit = relay(tmp_path, "audit", "--json", "--redis", redis_url)
    assert [json.loads(line)["event"] for line in audit.stdout.splitlines()] == ["account.add", "credential.add"]
    both = relay(tmp_path, "account", "list", "--redis", redis_url, "--state", str(tmp_path / "s.db"))
    assert (both.returncode, both.stderr) == (2, f"Error: {strings.RELAY_REDIS_AND_STATE}\n")
    bad = relay(tmp_path, "audit", "--redis", "http://127.0.0.1:1/")
    assert bad.returncode == 2 and bad.stderr.startswith("Error: invalid --redis")


def test_a_node_that_cannot_reach_redis_exits_1_with_one_line(tmp_path: Path) -> None:
    dead = RedisServer(tmp_path / "never-started")
    url = dead.url.replace("redis://", "redis://:hunter2@")
    done = relay(tmp_path, "serve", "--listen", "http://127.0.0.1:0", "--redis", url)
    assert done.returncode == 1
    assert done.stderr.startswith("Error: cannot use Redis for the relay state: cannot reach Redis at redis://:***@")
    assert done.stderr.count("\n") == 1 and "hunter2" not in done.stderr
    tooling = relay(tmp_path, "device", "list", "--redis", url)
    assert tooling.returncode == 1 and tooling.stderr.startswith("Error: ") and "hunter2" not in tooling.stderr


def test_nodes_share_state_and_report_not_ready_while_redis_is_away(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        relay(tmp_path, "account", "add", "alice", "--out", str(tmp_path / "a"), "--redis", server.url)
        cred = (tmp_path / "a").read_text().strip()
        with launch_blocking(node_argv(server.url), name="node-a") as node_a, \
                launch_blocking(node_argv(server.url), name="node-b") as node_b:
            _share_state_then_lose_redis(server, cred, node_url(node_a), node_url(node_b))
            assert "Traceback" not in node_a.stderr and "Traceback" not in node_b.stderr
            for proc in (node_a, node_b):
                proc.signal(15)
                assert proc.wait() == 0
    finally:
        server.stop()


def _share_state_then_lose_redis(server: RedisServer, cred: str, url_a: str, url_b: str) -> None:
    with httpx.Client(base_url=url_a, timeout=deadlines.STEP) as a, httpx.Client(base_url=url_b, timeout=deadlines.STEP) as b:
        host = a.post("wham/remote/control/server/enroll", json=ENROLL_BODY, headers=account_headers(cred)).json()
        bearer = {"Authorization": f"Bearer {host['remote_control_token']}"}
        codes = b.post("wham/remote/control/server/pair", json={"manual_code": True}, headers=bearer).json()
        claimed = a.post("api/v1/pair/claim", json={"code": codes["manual_pairing_code"].lower()})
        assert claimed.status_code == 200, claimed.text
        again = b.post("api/v1/pair/claim", json={"code": codes["pairing_code"]})
        assert again.status_code == 404  # single use across nodes
        listed = b.get(f"wham/remote/control/environments/{host['environment_id']}/clients",
                       headers=account_headers(cred)).json()
        assert [c["client_id"] for c in listed["items"]] == [claimed.json()["client_id"]]

        server.stop()
        for http in (a, b):
            ready = http.get("readyz")
            assert (ready.status_code, ready.text) == (503, "state unavailable\n")
            refused = http.post("wham/remote/control/server/pair", json={}, headers=bearer)
            assert refused.status_code == 503
            assert refused.json() == {"detail": strings.RELAY_STORE_UNAVAILABLE}
            assert http.get("healthz").status_code == 200  # alive, only not ready
        server.start()  # empty again: no persistence
        assert a.get("readyz").status_code == 200 and b.get("readyz").status_code == 200
        gone = a.post("wham/remote/control/server/pair", json={}, headers=bearer)
        assert gone.status_code == 401  # the state went with Redis; nothing half-written
