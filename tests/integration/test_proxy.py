"""``appserver proxy`` and ``appserver call`` over real processes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio.to_thread
import pytest

from tests.support import launcher
from tests.support.launcher import APPSERVER, appserver_env, launch
from tests.support.tls import Pki
from tests.support.rawws import RawWs
from tests.support import deadlines

pytestmark = pytest.mark.anyio

BUILTIN = ["--backend", "builtin"]
INIT = {"id": 0, "method": "initialize", "params": {"clientInfo": {"name": "t", "title": None, "version": "1"}}}
ROOT = Path(__file__).resolve().parents[2]


async def run(args: list[str], stdin: str = "", env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return await launcher.run([*APPSERVER, *args], input=stdin, env=env, timeout=deadlines.CODEX)


def lines(*messages: object) -> str:
    return "".join(json.dumps(m) + "\n" for m in messages)


@pytest.fixture
async def our_socket(short_tmp: Path) -> AsyncIterator[Path]:
    path = short_tmp / "s.sock"
    argv = [*APPSERVER, "serve", *BUILTIN, "--listen", f"unix://{path}"]
    async with launch(argv, env=appserver_env(short_tmp)) as server:
        await server.line_matching("listening on: unix://")
        yield path


# --- JSONL mode ------------------------------------------------------------------------


async def test_jsonl_burst_then_eof_gets_every_answer(our_socket: Path) -> None:
    burst = [INIT] + [
        {"id": i, "method": "initialize" if i % 2 else "nope/method", "params": {}} for i in range(1, 3001)
    ]
    result = await run(["proxy", "--sock", str(our_socket)], lines(*burst))
    assert result.returncode == 0, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    answers = [m for m in out if "id" in m]
    assert sorted(m["id"] for m in answers) == list(range(3001))
    assert all("method" in m for m in out if "id" not in m)  # anything else is a notification
    assert result.stderr == ""


async def test_jsonl_handles_crlf_blank_lines_and_a_last_line_without_newline(our_socket: Path) -> None:
    stdin = "\r\n" + json.dumps(INIT) + "\r\n\n" + json.dumps({"id": "s", "method": "initialize", "params": {}})
    result = await run(["proxy", "--sock", str(our_socket), "--mode", "jsonl"], stdin)
    assert result.returncode == 0, result.stderr
    by_id = {m["id"]: m for m in map(json.loads, result.stdout.splitlines()) if "id" in m}
    assert set(by_id) == {0, "s"}
    assert by_id["s"]["error"]["message"] == "Already initialized"


# --- raw mode ---------------------------------------------------------------------------


async def test_raw_mode_carries_a_websocket_client(our_socket: Path, short_tmp: Path) -> None:
    argv = [*APPSERVER, "proxy", "--sock", str(our_socket)]  # auto: sniffs "GET "
    # RawWs speaks over blocking pipes: run it off the event loop.
    headers, answer = await anyio.to_thread.run_sync(lambda: talk_raw(argv, None, INIT))
    assert headers["x-codex-websocket-max-unfragmented-message-bytes"] == "16777216"
    assert answer["result"]["codexHome"] == str(short_tmp)


def talk_raw(
    argv: list[str], env: dict[str, str] | None, request: dict[str, Any]
) -> tuple[Any, dict[str, Any]]:
    """A raw WebSocket client over the proxy's stdin/stdout: handshake, one request, close.
    Returns the 101's headers and the answer."""
    proxy = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        assert proxy.stdin and proxy.stdout
        ws = RawWs.over_pipes(proxy.stdin.fileno(), proxy.stdout.fileno())
        response = ws.handshake()
        assert response.status_code == 101
        ws.send_json(request)
        answer, _ = ws.wait_answer(request["id"])
        ws.close()
        ws.next_frame()  # the server's close reply
        proxy.stdin.close()
        assert proxy.wait(deadlines.PROCESS) == 0
        return response.headers, answer
    finally:
        proxy.kill()
        proxy.wait()


# --- failures ---------------------------------------------------------------------------


async def test_missing_and_refused_sockets_are_one_line_exit_1(short_tmp: Path) -> None:
    missing = short_tmp / "missing.sock"
    result = await run(["proxy", "--sock", str(missing)], lines(INIT))
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"Error: failed to connect to socket at {missing}: No such file or directory\n"
    dead = short_tmp / "dead.sock"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(dead))  # a socket file nobody listens on
    result = await run(["call", "--sock", str(dead), "thread/list"])
    assert result.returncode == 1
    assert result.stderr == f"Error: failed to connect to socket at {dead}: Connection refused\n"


async def test_default_target_is_the_codex_default_socket(short_tmp: Path) -> None:
    result = await run(["proxy"], lines(INIT), env=appserver_env(short_tmp))
    expected = short_tmp / "app-server-control" / "app-server-control.sock"
    assert result.returncode == 1
    assert result.stderr.startswith(f"Error: failed to connect to socket at {expected}: ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--connect", "ws://10.1.2.3:4500", "--auth-token-env", "TOK"],
         "Error: `--auth-token-env` requires a `wss://` or loopback `ws://` URL; got `ws://10.1.2.3:4500`"),
        (["--auth-token-env", "TOK"], "Error: `--auth-token-env` requires `--connect`."),
        (["--connect", "ws://127.0.0.1:1", "--auth-token-env", "UNSET_VAR_X"],
         "Error: environment variable `UNSET_VAR_X` is not set"),
        (["--connect", "http://127.0.0.1:1"],
         "Error: invalid --connect URL `http://127.0.0.1:1`; expected `ws://HOST:PORT` or `wss://HOST:PORT`"),
    ],
)
async def test_usage_errors_exit_2(args: list[str], message: str) -> None:
    env = {**os.environ, "TOK": "s3cret-value"}
    for command in (["proxy"], ["call", "x/y"]):
        result = await run([*command[:1], *args, *command[1:]], "", env)
        assert result.returncode == 2, result.stderr
        assert result.stderr == message + "\n"


# --- --connect against a TCP WebSocket server ---------------------------------------------


@asynccontextmanager
async def stub(*args: str) -> AsyncIterator[int]:
    """tests.support.ws_stub on an ephemeral port; yields the port."""
    async with launch([sys.executable, "-m", "tests.support.ws_stub", *args], cwd=ROOT) as proc:
        yield int((await proc.line_matching(r"listening on: (\d+)")).group(1))


@pytest.fixture
async def token_stub() -> AsyncIterator[int]:
    async with stub("--token", "s3cret-value") as port:
        yield port


@pytest.fixture
async def plain_stub() -> AsyncIterator[str]:
    async with stub() as port:
        yield f"ws://127.0.0.1:{port}"


async def test_connect_sends_the_bearer_token(token_stub: int) -> None:
    url = f"ws://127.0.0.1:{token_stub}"
    env = {**os.environ, "TOK": "s3cret-value\n"}
    request = {"id": 5, "method": "echo/this", "params": {"a": 1}}
    result = await run(["proxy", "--connect", url, "--auth-token-env", "TOK"], lines(request), env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"id": 5, "result": {"echo": "echo/this", "params": {"a": 1}, "authorized": True}}


async def test_connect_401_names_the_target_and_hides_the_token(token_stub: int) -> None:
    url = f"ws://127.0.0.1:{token_stub}"
    env = {**os.environ, "TOK": "wrong-token"}
    result = await run(["proxy", "--connect", url, "--auth-token-env", "TOK"], lines(INIT), env)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        f"Error: {url}: the server refused the WebSocket upgrade with HTTP 401 Unauthorized: "
        "invalid bearer token\n"
    )
    assert "wrong-token" not in result.stderr


async def test_raw_mode_over_connect_injects_the_token(token_stub: int) -> None:
    url = f"ws://127.0.0.1:{token_stub}"
    argv = [*APPSERVER, "proxy", "--connect", url, "--auth-token-env", "TOK", "--mode", "raw"]
    env = {**os.environ, "TOK": "s3cret-value"}
    request = {"id": 1, "method": "raw/echo"}
    _, answer = await anyio.to_thread.run_sync(lambda: talk_raw(argv, env, request))
    assert answer["result"]["authorized"] is True


async def test_wss_needs_a_trusted_ca(short_tmp: Path, pki: Pki) -> None:
    async with stub("--tls-cert", str(pki.cert), "--tls-key", str(pki.key)) as port:
        url = f"wss://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
        untrusted = await run(["proxy", "--connect", url], lines(INIT), env)
        assert untrusted.returncode == 1
        assert untrusted.stderr.startswith(f"Error: TLS handshake with {url} failed: certificate verify failed")
        assert untrusted.stderr.count("\n") == 1
        trusted = await run(["proxy", "--connect", url, "--ca-file", str(pki.ca)], lines(INIT), env)
        assert trusted.returncode == 0, trusted.stderr
        assert json.loads(trusted.stdout)["result"]["echo"] == "initialize"
        via_env = await run(["call", "--connect", url, "x/y", "[1]"], "", {**env, "SSL_CERT_FILE": str(pki.ca)})
        assert via_env.returncode == 0, via_env.stderr
        assert json.loads(via_env.stdout) == {"echo": "x/y", "params": [1], "authorized": False}


async def test_abnormal_server_close_exits_1_with_the_reason(plain_stub: str) -> None:
    url = plain_stub
    stdin = lines({"id": 1, "method": "a"}, {"id": 2, "method": "stub/fail"})
    result = await run(["proxy", "--connect", url], stdin)
    assert result.returncode == 1
    assert json.loads(result.stdout)["id"] == 1  # what arrived before the close is flushed
    assert result.stderr == f"Error: {url} closed the connection: 1011 boom\n"


# --- appserver call -------------------------------------------------------------------------


async def test_call_prints_result_and_optionally_notifications(plain_stub: str) -> None:
    url = plain_stub
    quiet = await run(["call", "--connect", url, "stub/notify", '{"k": "v"}'])
    assert quiet.returncode == 0, quiet.stderr
    assert json.loads(quiet.stdout) == {"echo": "stub/notify", "params": {"k": "v"}, "authorized": False}
    assert quiet.stderr == ""
    loud = await run(["call", "--connect", url, "--notifications", "stub/notify"])
    assert loud.returncode == 0
    assert json.loads(loud.stdout)["params"] is None  # no PARAMS_JSON: no params key sent
    assert [json.loads(line) for line in loud.stderr.splitlines()] == [{"method": "stub/note", "params": {"n": 1}}]
    error = await run(["call", "--connect", url, "stub/error", "{}"])
    assert (error.returncode, error.stdout) == (1, "")
    assert json.loads(error.stderr) == {"code": -32602, "message": "bad"}


async def test_call_error_and_bad_input(our_socket: Path) -> None:
    error = await run(["call", "--sock", str(our_socket), "nope/method", "{}"])
    assert (error.returncode, error.stdout) == (1, "")
    payload = json.loads(error.stderr)
    assert payload["code"] == -32600
    assert payload["message"].startswith("Invalid request: unknown variant `nope/method`")
    bad = await run(["call", "--sock", str(our_socket), "thread/list", "{not json"])
    assert bad.returncode == 2
    assert bad.stderr.startswith("Error: invalid PARAMS_JSON: ") and bad.stderr.count("\n") == 1


async def test_call_initialize_and_wait_for_a_notification(our_socket: Path) -> None:
    # `call initialize` is the connection's own initialize: the server's answer, not
    # "Already initialized".
    init = await run(["call", "--sock", str(our_socket), "initialize"])
    assert init.returncode == 0, init.stderr
    assert "userAgent" in json.loads(init.stdout)
    # thread/started follows thread/start's answer: --wait-for keeps the call open for it.
    started = await run(
        ["call", "--sock", str(our_socket), "--notifications", "--wait-for", "thread/started", "thread/start", "{}"]
    )
    assert started.returncode == 0, started.stderr
    methods = [json.loads(line)["method"] for line in started.stderr.splitlines()]
    assert methods[-1] == "thread/started"
