"""A running gateway with ``ws://`` and ``wss://`` listeners side by side.

Native TLS (health over https, a wss client trusting the test CA, a plain client on the
TLS port failing without harming the listener), ``/metrics`` content and auth, the
honest ``/readyz``, and the token commands end to end.
"""

from __future__ import annotations

import hashlib
import base64
import json
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio
import pytest
from websockets.exceptions import ConnectionClosedOK, InvalidMessage, InvalidStatus

from appserver.auth import CapabilityTokenPolicy
from appserver.config import ListenKind, ListenUrl, ServeConfig
from appserver.processor import Processor
from appserver.transports.tcp import run_tcp_listener
from tests.support.client import RpcClient
from tests.support import launcher
from tests.support.launcher import APPSERVER, Launched, appserver_env, launch, launch_blocking
from tests.support.rawhttp import raw_request
from tests.support.tls import Pki
from tests.support import deadlines

LISTENING = r"listening on: (wss?://\S+)"
TOKEN = "side-by-side-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


@pytest.fixture(scope="module")
def gateway(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    """One gateway: ws and wss listeners, capability-token auth, built-in backend."""
    home = tmp_path_factory.mktemp("home")
    token_file = home / "token"
    token_file.write_text(TOKEN + "\n")
    argv = [
        *APPSERVER, "serve", "--backend", "builtin",
        "--listen", "ws://127.0.0.1:0", "--listen", "wss://127.0.0.1:0",
        "--ws-auth", "capability-token", "--ws-token-file", str(token_file),
        "--tls-cert", str(pki.cert), "--tls-key", str(pki.key),
    ]  # fmt: skip
    with launch_blocking(argv, env=appserver_env(home)) as proc:
        ws_url, wss_url = (m.group(1) for m in proc.lines_matching(LISTENING, 2))
        proc.line_matching(r"healthz: https://")  # the banner's last line
        yield SimpleNamespace(
            proc=proc,
            ws_port=port_of(ws_url),
            wss_port=port_of(wss_url),
            ws_url=ws_url,
            wss_url=wss_url,
            tls=pki.client_context(),
        )


def test_banner_has_one_block_per_listener(gateway: SimpleNamespace) -> None:
    stderr = gateway.proc.stderr
    p, s = gateway.ws_port, gateway.wss_port
    assert gateway.ws_url == f"ws://127.0.0.1:{p}"
    assert gateway.wss_url == f"wss://127.0.0.1:{s}"
    for line in (
        "appserver (WebSockets)\n",
        f"  readyz: http://127.0.0.1:{p}/readyz\n",
        "appserver (WebSockets over TLS)\n",
        f"  listening on: wss://127.0.0.1:{s}\n",
        f"  readyz: https://127.0.0.1:{s}/readyz\n",
        f"  healthz: https://127.0.0.1:{s}/healthz\n",
        "  note: binds localhost only (use SSH port-forwarding for remote access)\n",
    ):
        assert line in stderr
    assert TOKEN not in stderr


def test_health_over_https(gateway: SimpleNamespace) -> None:
    for path in ("/readyz", "/healthz"):
        reply = raw_request(gateway.wss_port, f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n",
                            ssl_context=gateway.tls, server_hostname="localhost")
        assert (reply.status, reply.body) == (200, b"")


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion:DeprecationWarning")
def test_tls_versions(gateway: SimpleNamespace) -> None:
    with socket.create_connection(("127.0.0.1", gateway.wss_port), timeout=deadlines.STEP) as raw:
        with gateway.tls.wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
    # A client that offers only TLS 1.0/1.1 (and would accept any certificate) is refused.
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname = False
    old.verify_mode = ssl.CERT_NONE
    old.set_ciphers("DEFAULT:@SECLEVEL=0")
    old.minimum_version = ssl.TLSVersion.TLSv1
    old.maximum_version = ssl.TLSVersion.TLSv1_1
    with socket.create_connection(("127.0.0.1", gateway.wss_port), timeout=deadlines.STEP) as raw:
        with pytest.raises(ssl.SSLError):
            old.wrap_socket(raw, server_hostname="localhost")


@pytest.mark.anyio
async def test_wss_and_ws_clients(gateway: SimpleNamespace) -> None:
    url = f"wss://localhost:{gateway.wss_port}"
    async with RpcClient.connect_url(url, AUTH, ssl_context=gateway.tls) as secure:
        async with RpcClient.connect_url(gateway.ws_url, AUTH) as plain:
            assert "userAgent" in await secure.initialize("wss-client")
            assert "userAgent" in await plain.initialize("ws-client")


@pytest.mark.anyio
async def test_wss_refuses_a_wrong_token(gateway: SimpleNamespace) -> None:
    url = f"wss://localhost:{gateway.wss_port}"
    with pytest.raises(InvalidStatus) as info:
        async with RpcClient.connect_url(url, {"Authorization": "Bearer nope"}, ssl_context=gateway.tls):
            pass
    assert info.value.response.status_code == 401
    assert info.value.response.body == b"invalid websocket bearer token"


@pytest.mark.anyio
async def test_plain_client_on_the_tls_port_fails_cleanly(gateway: SimpleNamespace) -> None:
    with pytest.raises((InvalidMessage, OSError, EOFError)):
        async with RpcClient.connect_url(f"ws://127.0.0.1:{gateway.wss_port}", AUTH, open_timeout=deadlines.STEP):
            pass
    # the listener is unharmed: https health and a wss client still work
    reply = await anyio.to_thread.run_sync(
        lambda: raw_request(gateway.wss_port, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n",
                            ssl_context=gateway.tls, server_hostname="localhost")
    )
    assert reply.status == 200
    async with RpcClient.connect_url(f"wss://localhost:{gateway.wss_port}", AUTH, ssl_context=gateway.tls) as client:
        await client.initialize()
    assert "Traceback" not in gateway.proc.stderr


def test_a_failed_tls_handshake_is_logged_with_the_peer(gateway: SimpleNamespace) -> None:
    # a plain-HTTP client on the TLS port: the handshake fails; the log names the client
    with socket.create_connection(("127.0.0.1", gateway.wss_port), timeout=deadlines.STEP) as raw:
        peer = "127.0.0.1:%d" % raw.getsockname()[1]
        raw.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        line = gateway.proc.line_matching(rf"tls handshake failed: peer={peer} transport=wss reason=(\S+)")
    assert line.group(1) not in ("", "-")
    # a client that rejects our certificate (it does not trust the test CA)
    untrusting = ssl.create_default_context()
    with socket.create_connection(("127.0.0.1", gateway.wss_port), timeout=deadlines.STEP) as raw:
        peer = "127.0.0.1:%d" % raw.getsockname()[1]
        with pytest.raises(ssl.SSLCertVerificationError):
            untrusting.wrap_socket(raw, server_hostname="localhost")
    gateway.proc.line_matching(rf"tls handshake failed: peer={peer} transport=wss reason=\S+")
    # the listener keeps serving others
    reply = raw_request(gateway.wss_port, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n",
                        ssl_context=gateway.tls, server_hostname="localhost")
    assert reply.status == 200
    assert "Traceback" not in gateway.proc.stderr
    assert TOKEN not in gateway.proc.stderr


@pytest.mark.anyio
async def test_metrics(gateway: SimpleNamespace) -> None:
    def scrape(headers: str = f"Authorization: Bearer {TOKEN}\r\n") -> Any:
        return raw_request(gateway.ws_port, f"GET /metrics HTTP/1.1\r\nHost: x\r\n{headers}\r\n")

    refused = await anyio.to_thread.run_sync(lambda: scrape(""))
    assert (refused.status, refused.body) == (401, b"missing websocket bearer token")
    wrong = await anyio.to_thread.run_sync(lambda: scrape("Authorization: Bearer nope\r\n"))
    assert (wrong.status, wrong.body) == (401, b"invalid websocket bearer token")
    async with RpcClient.connect_url(f"wss://localhost:{gateway.wss_port}", AUTH, ssl_context=gateway.tls) as client:
        await client.initialize()
        reply = await anyio.to_thread.run_sync(scrape)
    assert reply.status == 200
    assert reply.header("content-type") == "text/plain; version=0.0.4; charset=utf-8"
    samples = {
        name: float(value)
        for name, value in (
            line.rsplit(" ", 1) for line in reply.body.decode().splitlines() if not line.startswith("#")
        )
    }
    assert samples['appserver_open_connections{transport="wss"}'] == 1
    assert samples["appserver_messages_in_total"] >= 2  # initialize + initialized
    assert samples["appserver_messages_out_total"] >= 1
    assert samples["appserver_bytes_in_total"] > 0
    assert samples['appserver_backend_ready{backend="builtin"}'] == 1
    assert samples['appserver_backend_restarts_total{backend="builtin"}'] == 0
    assert "appserver_outbound_queue_high_water_messages" in samples
    assert 'appserver_overload_answers_total{source="gateway"}' in samples
    assert samples["process_resident_memory_bytes"] > 0


# --- /readyz follows the backend (in process) -----------------------------------------------


class _SlowBackend:
    """A backend that is not ready yet; only ``ready`` and ``name`` are used here."""

    name = "slow"
    description = "not ready"
    ready = False
    restarts = 3

    def reject_method(self, method: str) -> None:
        return None


@pytest.mark.anyio
async def test_readyz_follows_the_backend() -> None:
    backend = _SlowBackend()
    processor = Processor(backend)  # type: ignore[arg-type]
    listen = ListenUrl(ListenKind.WS, "ws://127.0.0.1:0", host="127.0.0.1", port=0)
    policy = CapabilityTokenPolicy(hashlib.sha256(TOKEN.encode()).digest())
    config = ServeConfig(listens=(listen,), ws_auth=policy)
    async with anyio.create_task_group() as tg:
        listener = await tg.start(run_tcp_listener, listen, processor, config)
        port = int(listener.banner[1].rsplit(":", 1)[1])

        def get(path: str, headers: str = "") -> Any:
            return raw_request(port, f"GET {path} HTTP/1.1\r\nHost: x\r\n{headers}\r\n")

        assert (await anyio.to_thread.run_sync(get, "/readyz")).status == 503
        assert (await anyio.to_thread.run_sync(get, "/healthz")).status == 200
        metrics = await anyio.to_thread.run_sync(get, "/metrics", f"Authorization: Bearer {TOKEN}\r\n")
        assert b'appserver_backend_ready{backend="slow"} 0' in metrics.body
        assert b'appserver_backend_restarts_total{backend="slow"} 3' in metrics.body
        backend.ready = True
        assert (await anyio.to_thread.run_sync(get, "/readyz")).status == 200
        tg.cancel_scope.cancel()


# --- token commands end to end -------------------------------------------------------------------


async def _appserver(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return await launcher.run([*APPSERVER, *args], env=env)


@asynccontextmanager
async def _serving(argv: list[str], env: dict[str, str]) -> AsyncIterator[tuple[Launched, int]]:
    """The gateway and the port its ws:// listener bound."""
    async with launch(argv, env=env) as server:
        yield server, port_of((await server.line_matching(LISTENING)).group(1))


@pytest.mark.anyio
async def test_token_new_then_serve_by_digest(tmp_path: Path) -> None:
    env = appserver_env(tmp_path / "home")
    out = tmp_path / "secrets" / "token"
    made = await _appserver("token", "new", "--out", str(out), env=env)
    assert made.returncode == 0, made.stderr
    token = out.read_text().strip()
    digest = hashlib.sha256(token.encode()).hexdigest()
    assert f"sha256: {digest}" in made.stdout
    assert f"--ws-token-sha256 {digest}" in made.stdout
    assert "--remote-auth-token-env" in made.stdout
    assert token not in made.stdout + made.stderr
    again = await _appserver("token", "new", "--out", str(out), env=env)
    assert again.returncode == 2 and again.stderr == f"Error: {out} already exists; pass --force to replace it\n"
    assert out.read_text().strip() == token
    argv = [*APPSERVER, "serve", "--backend", "builtin", "--listen", "ws://127.0.0.1:0",
            "--ws-auth", "capability-token", "--ws-token-sha256", digest]
    async with _serving(argv, env) as (server, port):
        async with RpcClient.connect_url(f"ws://127.0.0.1:{port}", {"Authorization": f"Bearer {token}"}) as client:
            await client.initialize()


@pytest.mark.anyio
async def test_token_file_that_cannot_be_written_is_one_error_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    out = blocker / "token"  # its folder is a file
    made = await _appserver("token", "new", "--out", str(out), env=appserver_env(tmp_path / "home"))
    assert made.returncode == 1
    assert made.stderr.startswith(f"Error: cannot write {out}: ") and made.stderr.count("\n") == 1
    assert made.stdout == ""


@pytest.mark.anyio
async def test_token_secret_and_sign_then_serve(tmp_path: Path) -> None:
    env = appserver_env(tmp_path / "home")
    secret = tmp_path / "secret"
    made = await _appserver("token", "secret", "--out", str(secret), env=env)
    assert made.returncode == 0, made.stderr
    assert secret.stat().st_mode & 0o777 == 0o600
    assert len(secret.read_text().strip().encode()) >= 32
    assert secret.read_text().strip() not in made.stdout
    signed = await _appserver("token", "sign", "--secret-file", str(secret), "--ttl", "10m",
                        "--issuer", "me", "--audience", "gw", env=env)
    assert signed.returncode == 0, signed.stderr
    token = signed.stdout.strip()
    assert "\n" not in token
    early = (await _appserver("token", "sign", "--secret-file", str(secret), "--not-before", "1h", env=env)).stdout.strip()
    argv = [*APPSERVER, "serve", "--backend", "builtin", "--listen", "ws://127.0.0.1:0",
            "--ws-auth", "signed-bearer-token", "--ws-shared-secret-file", str(secret),
            "--ws-issuer", "me", "--ws-audience", "gw"]
    async with _serving(argv, env) as (server, port):
        url = f"ws://127.0.0.1:{port}"
        async with RpcClient.connect_url(url, {"Authorization": f"Bearer {token}"}) as client:
            await client.initialize()
        with pytest.raises(InvalidStatus) as info:
            async with RpcClient.connect_url(url, {"Authorization": f"Bearer {early}"}):
                pass
        assert info.value.response.body == b"websocket jwt is not valid yet"
        assert token not in server.stderr and early not in server.stderr
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert claims["exp"] - claims["iat"] == 600 and abs(claims["iat"] - time.time()) < 3600


@pytest.mark.anyio
async def test_sigterm_closes_clients_with_1001_and_exits_zero(tmp_path: Path) -> None:
    argv = [*APPSERVER, "serve", "--backend", "builtin", "--listen", "ws://127.0.0.1:0"]
    async with _serving(argv, appserver_env(tmp_path)) as (server, port):
        async with RpcClient.connect_url(f"ws://127.0.0.1:{port}") as client:
            await client.initialize()
            server.signal(signal.SIGTERM)
            with pytest.raises(ConnectionClosedOK) as info:
                while True:  # past the remoteControl/status/changed after initialize
                    await client.ws.recv()
            assert info.value.rcvd is not None and info.value.rcvd.code == 1001
        assert await server.wait() == 0


@pytest.mark.anyio
async def test_pipelined_http_requests_are_each_answered(tmp_path: Path) -> None:
    """codex answers both of two pipelined requests; so do we (then close)."""
    import socket as sockets

    from tests.support.launcher import APPSERVER, appserver_env, launch

    argv = [*APPSERVER, "serve", "--backend", "builtin", "--listen", "ws://127.0.0.1:0"]
    async with launch(argv, env=appserver_env(tmp_path)) as server:
        port = int((await server.line_matching(r"listening on: ws://127\.0\.0\.1:(\d+)")).group(1))

        def exchange() -> bytes:
            with sockets.create_connection(("127.0.0.1", port)) as sock:
                sock.sendall(
                    b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                    b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n"
                    b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
                )
                data = b""
                while chunk := sock.recv(65536):  # the server closes after the last answer
                    data += chunk
                return data

        data = await anyio.to_thread.run_sync(exchange)
        assert [line for line in data.split(b"\r\n") if line.startswith(b"HTTP/1.1")] == [
            b"HTTP/1.1 200 OK",
            b"HTTP/1.1 200 OK",
            b"HTTP/1.1 400 Bad Request",
        ]
        assert "Traceback" not in server.stderr
