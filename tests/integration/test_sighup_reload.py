"""SIGHUP re-reads the token file and the TLS certificate; open connections stay."""

from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.support.launcher import APPSERVER, appserver_env, launch
from tests.support.tls import Pki, make_pki, pki  # noqa: F401  (fixture)

pytestmark = pytest.mark.anyio

INITIALIZE = '{"id":1,"method":"initialize","params":{"clientInfo":{"name":"t","version":"1"}}}'


async def test_sighup_reloads_token_and_certificate(tmp_path: Path, pki: Pki) -> None:  # noqa: F811
    token = tmp_path / "token"
    token.write_text("first-token\n")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    shutil.copy(pki.cert, cert)
    shutil.copy(pki.key, key)
    argv = [
        *APPSERVER, "serve", "--backend", "builtin", "--listen", "wss://127.0.0.1:0",
        "--tls-cert", str(cert), "--tls-key", str(key),
        "--ws-auth", "capability-token", "--ws-token-file", str(token),
    ]
    async with launch(argv, env=appserver_env(tmp_path)) as server:
        url = (await server.line_matching(r"listening on: wss://127\.0\.0\.1:(\d+)")).group(0)
        url = "wss://localhost:" + url.rsplit(":", 1)[1]
        first = {"Authorization": "Bearer first-token"}
        async with connect(url, additional_headers=first, ssl=pki.client_context()) as kept:
            await kept.send(INITIALIZE)
            await kept.recv()

            other = make_pki(tmp_path / "pki2")
            shutil.copy(other.cert, cert)
            shutil.copy(other.key, key)
            token.write_text("second-token\n")
            server.signal(signal.SIGHUP)
            await server.lines_matching(r"SIGHUP: reloaded", 2)

            second = {"Authorization": "Bearer second-token"}
            with pytest.raises(InvalidStatus) as refused:
                async with connect(url, additional_headers=first, ssl=other.client_context()):
                    pass
            assert refused.value.response.status_code == 401
            async with connect(url, additional_headers=second, ssl=other.client_context()) as fresh:
                await fresh.send(INITIALIZE)
                assert "result" in json.loads(await fresh.recv())
            # The connection opened before the reload is still served.
            await kept.send('{"id":2,"method":"thread/loaded/list","params":{}}')
            while (answer := json.loads(await kept.recv())).get("id") != 2:
                pass  # notifications
            assert "result" in answer

            # A file that no longer loads: one ERROR line, the current one stays.
            token.write_text("")
            server.signal(signal.SIGHUP)
            await server.line_matching(r"SIGHUP: keeping the current websocket auth secret")
            async with connect(url, additional_headers=second, ssl=other.client_context()) as again:
                await again.send(INITIALIZE)
                assert "result" in json.loads(await again.recv())
    assert "Traceback" not in server.stderr
