"""The same raw HTTP requests to the real ``codex app-server`` and to ours: same answers.

spec/transport.md §4.2–4.3 and §5: health routes, Origin refusal, the HTTP framework's
rejections of non-upgrade requests, bearer parsing, capability tokens and the signed-JWT
table. Each configuration starts both servers with the same flags on ``ws://127.0.0.1:0``
and compares status codes and bodies request by request (and the ``allow`` header of
405 answers on the health routes).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from tests.support.jwt_table import AUDIENCE, ISSUER, SECRET, SKEW, jwt_table
from tests.support.launcher import appserver_env, launch_blocking
from tests.support.rawhttp import WS_ADDR, HttpReply, raw_request, upgrade_request

pytestmark = pytest.mark.interop

TOKEN = "super-secret-token"
BEARER = f"Authorization: Bearer {TOKEN}\r\n"

HTTP_TABLE: list[tuple[str, str]] = [
    ("GET /readyz", "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("GET /healthz", "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("GET /readyz with a query", "GET /readyz?probe=1 HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("HEAD /healthz", "HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("HTTP/1.0 GET /healthz", "GET /healthz HTTP/1.0\r\n\r\n"),
    ("POST /healthz", "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"),
    ("PUT /readyz", "PUT /readyz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"),
    ("Origin on /healthz", "GET /healthz HTTP/1.1\r\nHost: x\r\nOrigin: https://evil.example\r\n\r\n"),
    ("Origin on an upgrade", upgrade_request(extra="Origin: https://evil.example\r\n" + BEARER)),
    ("empty Origin", upgrade_request(extra="Origin: \r\n")),
    ("Origin on a POST", upgrade_request(method="POST", extra="Origin: null\r\n")),
    ("GET /foo without upgrade", "GET /foo HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("GET /readyz/ (not a health path)", "GET /readyz/ HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("POST /", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"),
    ("POST upgrade", upgrade_request(method="POST", extra=BEARER)),
    (
        "no Connection: upgrade",
        "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    ),
    (
        "no Upgrade header",
        "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    ),
    ("Upgrade: h2c", upgrade_request().replace("Upgrade: websocket", "Upgrade: h2c")),
    ("Upgrade: websocket, foo", upgrade_request().replace("Upgrade: websocket", "Upgrade: websocket, foo")),
    ("Sec-WebSocket-Version: 8", upgrade_request().replace("Version: 13", "Version: 8")),
    ("no Sec-WebSocket-Key", upgrade_request().replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "")),
    ("missing key and bad version", upgrade_request().replace("Version: 13", "Version: 8").replace("Sec-WebSocket-Key", "X-Key")),
    ("HTTP/1.0 upgrade", upgrade_request(protocol="HTTP/1.0", extra=BEARER)),
    ("Connection: keep-alive, Upgrade", upgrade_request(extra=BEARER).replace("Connection: Upgrade", "Connection: keep-alive, Upgrade")),
    ("Connection: xupgradex (a substring test)", upgrade_request(extra=BEARER).replace("Connection: Upgrade", "Connection: xupgradex")),
    ("two Connection headers, first without upgrade", upgrade_request(extra=BEARER).replace("Connection: Upgrade", "Connection: keep-alive\r\nConnection: Upgrade")),
    ("Upgrade: WebSocket (case)", upgrade_request(extra=BEARER).replace("Upgrade: websocket", "Upgrade: WebSocket")),
    ("upgrade on /rpc", upgrade_request("/rpc", extra=BEARER)),
]

BEARER_TABLE: list[tuple[str, str]] = [
    ("no Authorization", upgrade_request()),
    ("query token only", upgrade_request(f"/?token={TOKEN}")),
    ("Basic scheme", upgrade_request(extra="Authorization: Basic dXNlcjpwYXNz\r\n")),
    ("Bearer without token", upgrade_request(extra="Authorization: Bearer\r\n")),
    ("Bearer with blank token", upgrade_request(extra="Authorization: Bearer    \r\n")),
    ("empty Authorization", upgrade_request(extra="Authorization: \r\n")),
    ("tab after scheme", upgrade_request(extra=f"Authorization: Bearer\t{TOKEN}\r\n")),
    ("non-ASCII token", upgrade_request(extra="Authorization: Bearer caf\xe9\r\n")),
    ("wrong token", upgrade_request(extra="Authorization: Bearer wrong-token\r\n")),
    ("token plus extra word", upgrade_request(extra=f"Authorization: Bearer {TOKEN} extra\r\n")),
]

CAPABILITY_TABLE: list[tuple[str, str]] = [
    ("right token", upgrade_request(extra=BEARER)),
    ("lowercase scheme, padded token", upgrade_request(extra=f"Authorization: bearer   {TOKEN}  \r\n")),
    ("BEARER scheme", upgrade_request(extra=f"Authorization: BEARER {TOKEN}\r\n")),
    ("first of two headers wrong", upgrade_request(extra=f"Authorization: Bearer nope\r\n{BEARER}")),
    ("first of two headers right", upgrade_request(extra=f"{BEARER}Authorization: Bearer nope\r\n")),
]

NO_AUTH_TABLE: list[tuple[str, str]] = [
    ("plain upgrade", upgrade_request()),
    ("upgrade with ?token=", upgrade_request("/?token=abc")),
    ("upgrade with a Basic header", upgrade_request(extra="Authorization: Basic abc\r\n")),
]


def _jwt_requests() -> list[tuple[str, str]]:
    rows = [
        (f"jwt: {name}", upgrade_request(extra=f"Authorization: Bearer {token}\r\n"))
        for name, token in jwt_table(int(time.time()))
    ]
    valid = dict(jwt_table(int(time.time())))["valid"]
    rows.append(("jwt: lowercase scheme", upgrade_request(extra=f"Authorization: bearer {valid}\r\n")))
    return rows


def _compare(codex_port: int, ours_port: int, table: list[tuple[str, str]]) -> None:
    mismatches = []
    for name, request in table:
        theirs: HttpReply = raw_request(codex_port, request)
        ours: HttpReply = raw_request(ours_port, request)
        seen = (ours.status, ours.body, ours.header("allow"))
        want = (theirs.status, theirs.body, theirs.header("allow"))
        if seen != want:
            mismatches.append(f"{name}: codex {want} ours {seen}")
    assert not mismatches, "\n".join(mismatches)


@contextmanager
def _servers(codex_bin: str, tmp_path: Path, flags: list[str]) -> Iterator[tuple[int, int]]:
    """The real codex and ours, with the same flags; their ports (codex's, ours)."""
    codex_home = tmp_path / "codex-home"
    ours_home = tmp_path / "ours-home"
    codex_home.mkdir()
    ours_home.mkdir()
    listen = ["--listen", "ws://127.0.0.1:0"]
    with ExitStack() as stack:
        codex = stack.enter_context(launch_blocking(
            [codex_bin, "app-server", *listen, *flags], env=appserver_env(codex_home), cwd=tmp_path
        ))
        ours = stack.enter_context(launch_blocking(
            [sys.executable, "-m", "appserver", "serve", "--backend", "builtin", *listen, *flags],
            env=appserver_env(ours_home),
            cwd=tmp_path,
        ))
        yield int(codex.line_matching(WS_ADDR).group(2)), int(ours.line_matching(WS_ADDR).group(2))


def test_without_auth_matches_codex(codex_bin: str, tmp_path: Path) -> None:
    with _servers(codex_bin, tmp_path, []) as (codex, ours):
        _compare(codex, ours, HTTP_TABLE + NO_AUTH_TABLE)


def test_capability_token_matches_codex(codex_bin: str, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    flags = ["--ws-auth", "capability-token", "--ws-token-file", str(token_file)]
    with _servers(codex_bin, tmp_path, flags) as (codex, ours):
        _compare(codex, ours, HTTP_TABLE + BEARER_TABLE + CAPABILITY_TABLE)


def test_signed_bearer_token_matches_codex(codex_bin: str, tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_bytes(b"  " + SECRET + b"\n")
    flags = [
        "--ws-auth", "signed-bearer-token",
        "--ws-shared-secret-file", str(secret_file),
        "--ws-issuer", f" {ISSUER} ",
        "--ws-audience", AUDIENCE,
        "--ws-max-clock-skew-seconds", str(SKEW),
    ]  # fmt: skip
    with _servers(codex_bin, tmp_path, flags) as (codex, ours):
        _compare(codex, ours, BEARER_TABLE + _jwt_requests())
