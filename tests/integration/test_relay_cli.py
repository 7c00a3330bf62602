"""``appserver relay`` as users run it: accounts, codex-home, devices, audit, serve flags."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import tomllib
from pathlib import Path

import httpx
import pytest

from appserver import strings
from tests.support.launcher import APPSERVER, launch_blocking
from tests.support.relay import BANNER, ENROLL_BODY, account_headers, account_id_of
from tests.support import deadlines


def relay(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*APPSERVER, "relay", *args], capture_output=True, text=True, timeout=deadlines.PROCESS,
        env={**os.environ, "XDG_STATE_HOME": str(tmp_path / "xdg")}, cwd=tmp_path,
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_account_add_writes_a_0600_credential_and_a_private_default_state(tmp_path: Path) -> None:
    out = tmp_path / "creds" / "alice.token"
    done = relay(tmp_path, "account", "add", "alice", "--out", str(out))
    assert done.returncode == 0, done.stderr
    token = out.read_text().strip()
    assert token not in done.stdout and token not in done.stderr
    assert mode(out) == 0o600 and mode(out.parent) == 0o700
    state = tmp_path / "xdg" / "appserver" / "relay.sqlite3"
    assert mode(state) == 0o600 and mode(state.parent) == 0o700
    assert token.encode() not in state.read_bytes()
    listed = relay(tmp_path, "account", "list", "--json")
    (row,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert (row["name"], row["account_id"]) == ("alice", account_id_of(token))
    assert row["account_id"].startswith("acct_") and len(row["account_id"]) == 27


def test_account_errors_are_one_line_with_status_2(tmp_path: Path) -> None:
    relay(tmp_path, "account", "add", "alice", "--out", str(tmp_path / "a"))
    again = relay(tmp_path, "account", "add", "alice", "--out", str(tmp_path / "b"))
    assert (again.returncode, again.stderr) == (2, f"Error: {strings.RELAY_ACCOUNT_EXISTS.format(name='alice')}\n")
    exists = relay(tmp_path, "account", "add", "bob", "--out", str(tmp_path / "a"))
    assert exists.returncode == 2 and exists.stderr.startswith("Error: ") and exists.stderr.count("\n") == 1
    bad = relay(tmp_path, "account", "add", "no spaces", "--out", str(tmp_path / "c"))
    assert (bad.returncode, bad.stderr) == (2, f"Error: {strings.RELAY_ACCOUNT_NAME_BAD}\n")
    gone = relay(tmp_path, "account", "remove", "carol")
    assert (gone.returncode, gone.stderr) == (2, f"Error: {strings.RELAY_ACCOUNT_UNKNOWN.format(name='carol')}\n")
    home = relay(tmp_path, "codex-home", "--account", "carol", "--relay", "http://127.0.0.1:1/", "--out", str(tmp_path / "h"))
    assert home.returncode == 2 and "carol" in home.stderr
    badurl = relay(tmp_path, "codex-home", "--account", "alice", "--relay", "ftp://x", "--out", str(tmp_path / "h"))
    assert (badurl.returncode, badurl.stderr) == (2, f"Error: {strings.RELAY_URL_BAD.format(url='ftp://x')}\n")


def test_codex_home_writes_auth_and_config_for_the_relay(tmp_path: Path) -> None:
    relay(tmp_path, "account", "add", "alice", "--out", str(tmp_path / "a"))
    home = tmp_path / "home"
    done = relay(tmp_path, "codex-home", "--account", "alice", "--relay", "http://127.0.0.1:8787", "--out", str(home))
    assert done.returncode == 0, done.stderr
    assert mode(home) == 0o700 and mode(home / "auth.json") == 0o600 and mode(home / "config.toml") == 0o600
    auth = json.loads((home / "auth.json").read_text())
    tokens = auth["tokens"]
    assert auth["auth_mode"] == "chatgpt" and auth["OPENAI_API_KEY"] is None and auth["last_refresh"]
    assert tokens["account_id"] == account_id_of(tokens["access_token"])
    assert tokens["access_token"] != (tmp_path / "a").read_text().strip()  # a new credential
    assert len(tokens["id_token"].split(".")) == 3 and tokens["refresh_token"]
    config = tomllib.loads((home / "config.toml").read_text())
    assert config == {"chatgpt_base_url": "http://127.0.0.1:8787/"}
    again = relay(tmp_path, "codex-home", "--account", "alice", "--relay", "http://127.0.0.1:8787", "--out", str(home))
    assert again.returncode == 2 and "--force" in again.stderr
    assert relay(tmp_path, "codex-home", "--account", "alice", "--relay", "http://127.0.0.1:8787",
                 "--out", str(home), "--force").returncode == 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["--listen", "ws://127.0.0.1:1"], strings.RELAY_LISTEN_BAD.format(url="ws://127.0.0.1:1")),
        (["--listen", "http://localhost:1"], strings.RELAY_LISTEN_BAD.format(url="http://localhost:1")),
        (["--listen", "http://0.0.0.0:1"], strings.RELAY_PLAIN_NOT_LOOPBACK.format(url="http://0.0.0.0:1")),
        (["--listen", "https://127.0.0.1:1"], strings.RELAY_HTTPS_NEEDS_TLS.format(url="https://127.0.0.1:1")),
        (["--listen", "http://127.0.0.1:1", "--tls-cert", "a", "--tls-key", "b"], strings.RELAY_TLS_NEEDS_HTTPS),
        (["--listen", "http://127.0.0.1:1", "--public-url", "relay.example"],
         strings.RELAY_PUBLIC_URL_BAD.format(url="relay.example")),
    ],
)
def test_serve_refuses_bad_and_unsafe_flags(tmp_path: Path, args: list[str], message: str) -> None:
    done = relay(tmp_path, "serve", *args)
    assert (done.returncode, done.stderr) == (2, f"Error: {message}\n")


def test_serve_runs_and_tooling_revokes_while_it_runs(tmp_path: Path) -> None:
    state = tmp_path / "relay.db"
    relay(tmp_path, "account", "add", "alice", "--out", str(tmp_path / "a"), "--state", str(state))
    cred = (tmp_path / "a").read_text().strip()
    argv = [*APPSERVER, "relay", "serve", "--listen", "http://127.0.0.1:0", "--state", str(state),
            "--public-url", "https://relay.example/"]
    with launch_blocking(argv) as proc:
        url = proc.line_matching(BANNER).group(1)
        with httpx.Client(base_url=url, timeout=deadlines.STEP) as http:
            host = http.post("wham/remote/control/server/enroll", json=ENROLL_BODY, headers=account_headers(cred)).json()
            codes = http.post("wham/remote/control/server/pair", json={},
                              headers={"Authorization": f"Bearer {host['remote_control_token']}"}).json()
            assert codes["pairing_url"].startswith("https://relay.example/#pair=")
            claimed = http.post("api/v1/pair/claim", json={"code": codes["pairing_code"], "display_name": "Phone"}).json()
            listed = relay(tmp_path, "device", "list", "--json", "--state", str(state))
            (row,) = [json.loads(line) for line in listed.stdout.splitlines()]
            assert (row["client_id"], row["display_name"], row["host"]) == (claimed["client_id"], "Phone", "vm")
            revoked = relay(tmp_path, "device", "revoke", claimed["client_id"], "--state", str(state))
            assert revoked.returncode == 0, revoked.stderr
            clients = http.get(f"wham/remote/control/environments/{host['environment_id']}/clients",
                               headers=account_headers(cred)).json()
            assert clients == {"items": [], "cursor": None}
            again = relay(tmp_path, "device", "revoke", claimed["client_id"], "--state", str(state))
            assert again.returncode == 2
        audit = relay(tmp_path, "audit", "--json", "--state", str(state))
        events = [json.loads(line)["event"] for line in audit.stdout.splitlines()]
        assert events == ["account.add", "enroll", "pair", "claim", "revoke"]
        assert cred not in audit.stdout and codes["pairing_code"] not in audit.stdout
        assert cred not in proc.stderr and host["remote_control_token"] not in proc.stderr
        proc.signal(15)
        assert proc.wait() == 0
