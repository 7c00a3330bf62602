"""The real ``codex --remote`` TUI against our TCP listener (spec/clients.md A3–A5).

``codex --remote ws://127.0.0.1:PORT --remote-auth-token-env VAR`` sends the capability
token as a bearer on the upgrade (and the ``x-codex-app-server-compression`` offer, which we
ignore); ``wss://localhost:PORT`` with ``SSL_CERT_FILE`` at the test CA goes through native
TLS. In both cases the TUI bootstraps against the built-in backend, and a typed prompt
gets the echo agent's ``echo:`` reply.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.launcher import BlockingLaunched, appserver_env, launch_blocking
from tests.support.rawhttp import WS_ADDR
from tests.support.tls import Pki
from tests.support.tui import TmuxTui

pytestmark = pytest.mark.interop

TOKEN_VAR = "APPSERVER_TEST_REMOTE_TOKEN"
TOKEN = "tui-capability-token"
COMPOSER = "Ask Codex to do anything"


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    return path


@contextmanager
def _gateway(tmp_path: Path, listen: str, token_file: Path, extra: list[str]) -> Iterator[tuple[BlockingLaunched, int]]:
    """The gateway with capability-token auth, and its port."""
    home = tmp_path / "gateway-home"
    home.mkdir()
    argv = [
        sys.executable, "-m", "appserver", "serve", "--backend", "builtin", "--listen", listen,
        "--ws-auth", "capability-token", "--ws-token-file", str(token_file), *extra,
    ]  # fmt: skip
    with launch_blocking(argv, env=appserver_env(home)) as gateway:
        yield gateway, int(gateway.line_matching(WS_ADDR).group(2))


def _tui(codex_bin: str, tmp_path: Path, remote: str, **env: str) -> TmuxTui:
    home = tmp_path / "tui-home"
    workdir = tmp_path / "wd"
    home.mkdir()
    workdir.mkdir()
    tui_env = appserver_env(home, **{TOKEN_VAR: TOKEN}, **env)
    argv = [codex_bin, "--remote", remote, "--remote-auth-token-env", TOKEN_VAR]
    return TmuxTui(argv, cwd=workdir, env=tui_env, stderr_file=tmp_path / "tui.stderr")


def _prompt_and_echo(tui: TmuxTui, prompt: str) -> None:
    tui.wait_for("the composer", lambda s: COMPOSER in s)
    tui.type(prompt)
    tui.wait_for("the typed prompt", lambda s: prompt in s)
    tui.enter()
    tui.wait_for("the echo reply", lambda s: f"echo: {prompt}" in s)


def test_tui_over_ws_with_a_bearer_token(codex_bin: str, tmp_path: Path, token_file: Path) -> None:
    with _gateway(tmp_path, "ws://127.0.0.1:0", token_file, []) as (gateway, port):
        with _tui(codex_bin, tmp_path, f"ws://127.0.0.1:{port}") as tui:
            _prompt_and_echo(tui, "hello over ws")
        assert TOKEN not in gateway.stderr


def test_tui_over_wss_with_the_test_ca(
    codex_bin: str, tmp_path: Path, token_file: Path, pki: Pki
) -> None:
    tls = ["--tls-cert", str(pki.cert), "--tls-key", str(pki.key)]
    with _gateway(tmp_path, "wss://127.0.0.1:0", token_file, tls) as (gateway, port):
        remote = f"wss://localhost:{port}"
        with _tui(codex_bin, tmp_path, remote, SSL_CERT_FILE=str(pki.ca)) as tui:
            _prompt_and_echo(tui, "hello over wss")


def test_tui_with_a_wrong_token_is_refused(codex_bin: str, tmp_path: Path) -> None:
    wrong = tmp_path / "other-token"
    wrong.write_text("a-different-token\n")
    with _gateway(tmp_path, "ws://127.0.0.1:0", wrong, []) as (gateway, port):
        with _tui(codex_bin, tmp_path, f"ws://127.0.0.1:{port}") as tui:
            screen = tui.wait_for("the TUI-EXIT line", lambda s: "TUI-EXIT=" in s)
            stderr = tui.stderr()
    assert "TUI-EXIT=1" in screen
    assert COMPOSER not in screen
    assert "401" in stderr, stderr
