"""``appserver serve`` refuses bad WebSocket/TLS configurations: one line, exit 2, nothing bound.

Messages of the ``--ws-*`` checks and the non-loopback refusal are upstream's
(spec/transport.md §4.1, §5.1; codex itself exits 1 for these, our contract says 2).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from appserver import strings
from tests.support.launcher import APPSERVER, appserver_env
from tests.support.tls import Pki
from tests.support import deadlines


def serve(args: list[str], tmp_path: Path) -> tuple[int, str]:
    proc = subprocess.run(
        [*APPSERVER, "serve", "--backend", "builtin", *args],
        input="",
        capture_output=True,
        text=True,
        env=appserver_env(tmp_path / "home"),
        cwd=tmp_path,
        timeout=deadlines.PROCESS,
    )
    return proc.returncode, proc.stderr


def refused(args: list[str], tmp_path: Path) -> str:
    status, stderr = serve(args, tmp_path)
    assert status == 2, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("Error: ")
    return lines[0][len("Error: ") :]


LOCAL = ["--listen", "ws://127.0.0.1:0"]


@pytest.mark.parametrize(
    "listen, addr", [("ws://0.0.0.0:0", "0.0.0.0:0"), ("ws://[::]:0", "[::]:0"), ("ws://10.1.2.3:4500", "10.1.2.3:4500")]
)
def test_non_loopback_without_auth(listen: str, addr: str, tmp_path: Path) -> None:
    assert refused(["--listen", listen], tmp_path) == (
        f"refusing to start non-loopback websocket listener {addr} without auth; configure "
        "`--ws-auth capability-token` or `--ws-auth signed-bearer-token`"
    )


def test_short_secret(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("too-short\n")
    message = refused([*LOCAL, "--ws-auth", "signed-bearer-token", "--ws-shared-secret-file", str(secret)], tmp_path)
    assert message == f"signed websocket bearer secret {secret} must be at least 32 bytes"


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--ws-auth", "capability-token", "--ws-audience", "a"], strings.WS_AUTH_JWT_FLAGS_NEED_SIGNED),
        (["--ws-auth", "capability-token", "--ws-token-file", "/a", "--ws-token-sha256", "ab"], strings.WS_AUTH_TOKEN_SOURCES_EXCLUSIVE),
        (["--ws-auth", "capability-token"], strings.WS_AUTH_TOKEN_SOURCE_REQUIRED),
        (["--ws-auth", "signed-bearer-token", "--ws-token-sha256", "ab"], strings.WS_AUTH_TOKEN_FLAGS_NEED_CAPABILITY),
        (["--ws-auth", "signed-bearer-token"], strings.WS_AUTH_SECRET_REQUIRED),
        (["--ws-max-clock-skew-seconds", "5"], strings.WS_AUTH_FLAGS_NEED_MODE),
        (["--ws-auth", "capability-token", "--ws-token-sha256", "xyz"], "--ws-token-sha256 must be a 64-character hex SHA-256 digest"),
    ],
)
def test_flag_combinations(flags: list[str], message: str, tmp_path: Path) -> None:
    assert refused([*LOCAL, *flags], tmp_path) == message


def test_flags_are_checked_even_without_a_tcp_listener(tmp_path: Path) -> None:
    assert refused(["--ws-auth", "capability-token"], tmp_path) == strings.WS_AUTH_TOKEN_SOURCE_REQUIRED


def test_token_file_is_read_only_for_tcp_listeners(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    flags = ["--ws-auth", "capability-token", "--ws-token-file", str(missing)]
    status, stderr = serve(flags, tmp_path)  # stdio, stdin at EOF: a clean exit
    assert status == 0, stderr
    assert refused([*LOCAL, *flags], tmp_path) == (
        f"failed to read websocket auth secret {missing}: No such file or directory (os error 2)"
    )


def test_relative_token_file_resolves_against_the_working_directory(tmp_path: Path) -> None:
    message = refused([*LOCAL, "--ws-auth", "capability-token", "--ws-token-file", "nope"], tmp_path)
    assert message == f"failed to read websocket auth secret {tmp_path / 'nope'}: No such file or directory (os error 2)"


def test_negative_skew_is_a_usage_error(tmp_path: Path) -> None:
    status, stderr = serve([*LOCAL, "--ws-auth", "signed-bearer-token", "--ws-shared-secret-file", "/s", "--ws-max-clock-skew-seconds", "-1"], tmp_path)
    assert status == 2 and "--ws-max-clock-skew-seconds" in stderr


def test_tls_flag_errors(tmp_path: Path, pki: Pki) -> None:
    wss = ["--listen", "wss://127.0.0.1:0"]
    cert, key = str(pki.cert), str(pki.key)
    assert refused(wss, tmp_path) == "`--listen wss://127.0.0.1:0` requires `--tls-cert` and `--tls-key`"
    assert refused([*wss, "--tls-cert", cert], tmp_path) == "`--tls-cert` and `--tls-key` must be given together"
    assert refused([*LOCAL, "--tls-cert", cert, "--tls-key", key], tmp_path) == (
        "`--tls-cert` and `--tls-key` are only used by `wss://IP:PORT` listeners"
    )
    assert refused([*wss, "--tls-cert", cert, "--tls-key", str(pki.other_key)], tmp_path) == (
        f"--tls-key {pki.other_key} does not match the certificate in --tls-cert {pki.cert}"
    )
    assert refused([*wss, "--tls-cert", cert, "--tls-key", str(pki.encrypted_key)], tmp_path) == (
        f"--tls-key {pki.encrypted_key} is encrypted; give an unencrypted PEM private key"
    )
    assert refused([*wss, "--tls-cert", str(pki.not_pem), "--tls-key", key], tmp_path) == (
        f"--tls-cert {pki.not_pem} is not a PEM certificate"
    )
    missing = tmp_path / "missing.pem"
    assert refused([*wss, "--tls-cert", str(missing), "--tls-key", key], tmp_path) == (
        f"cannot read --tls-cert {missing}: No such file or directory (os error 2)"
    )


def test_secret_never_in_the_error(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("short-secret-value")
    message = refused([*LOCAL, "--ws-auth", "signed-bearer-token", "--ws-shared-secret-file", str(secret)], tmp_path)
    assert "short-secret-value" not in message


def test_port_in_use_is_a_runtime_failure(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        status, stderr = serve(["--listen", f"ws://127.0.0.1:{port}"], tmp_path)
    assert status == 1, stderr
    assert stderr == f"Error: cannot listen on ws://127.0.0.1:{port}: Address already in use\n"
