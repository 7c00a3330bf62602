"""A CODEX_HOME that the real codex 0.169.0 accepts as a ChatGPT login, offline, pointed at
a loopback relay and the mock model (remote-control-observed.md §1); and starting a host
(the real codex, or our gateway) on a Unix socket in it."""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from tests.support.launcher import APPSERVER, launch, unix_socket_accepts
from tests.support import deadlines

ACCOUNT = "acc-rc-stub"


def _jwt(payload: dict[str, Any]) -> str:
    def b64(obj: Any) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(payload)}.sig"


def write_chatgpt_home(home: Path, relay_base_url: str, mock_base_url: str | None) -> str:
    """auth.json + config.toml; returns the access token."""
    now = int(time.time())
    claim = {"chatgpt_plan_type": "pro", "chatgpt_user_id": "user-rc-stub", "user_id": "user-rc-stub",
             "chatgpt_account_id": ACCOUNT}
    id_token = _jwt({"iss": "https://auth.openai.com", "aud": ["app_EMoamEEZ73f0CkXaXp7hrann"],
                     "sub": "user-rc-stub", "email": "rc-harness@example.com", "email_verified": True,
                     "iat": now, "exp": now + 10 * 365 * 86400, "https://api.openai.com/auth": claim})
    access = _jwt({"iss": "https://auth.openai.com", "sub": "user-rc-stub", "iat": now,
                   "exp": now + 10 * 365 * 86400, "aud": ["https://api.openai.com/v1"],
                   "https://api.openai.com/auth": claim})
    auth = {"auth_mode": "chatgpt", "OPENAI_API_KEY": None,
            "tokens": {"id_token": id_token, "access_token": access, "refresh_token": "rt-rc-stub",
                       "account_id": ACCOUNT},
            "last_refresh": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    (home / "auth.json").write_text(json.dumps(auth))
    os.chmod(home / "auth.json", 0o600)
    mock = mock_base_url or "http://127.0.0.1:1/v1"
    (home / "config.toml").write_text(
        f'chatgpt_base_url = "{relay_base_url}"\n'
        'model = "mock-model"\nmodel_provider = "mock"\n\n'
        '[model_providers.mock]\nname = "mock"\n'
        f'base_url = "{mock}"\nwire_api = "responses"\nrequires_openai_auth = false\n'
        "request_max_retries = 0\nstream_max_retries = 0\n"
    )
    return access


def host_env(home: Path, relay_port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        CODEX_HOME=str(home),
        RUST_LOG="info",
        LOG_LEVEL="INFO",
        CODEX_REFRESH_TOKEN_URL_OVERRIDE=f"http://127.0.0.1:{relay_port}/oauth/token",
        CODEX_REVOKE_TOKEN_URL_OVERRIDE="http://127.0.0.1:1/oauth/revoke",
    )
    return env


@asynccontextmanager
async def unix_host(kind: str, codex_bin: str, home: Path, relay_port: int) -> AsyncIterator[Path]:
    """``kind`` "codex": the real ``codex app-server``; "ours": ``appserver serve --backend
    codex`` in front of it. Both on a Unix socket in ``home``; yields the socket path."""
    sock = home / f"{kind}.sock"
    if kind == "codex":
        argv = [codex_bin, "app-server", "--listen", f"unix://{sock}"]
    else:
        argv = [*APPSERVER, "serve", "--backend", "codex", "--codex-bin", codex_bin, "--listen", f"unix://{sock}"]
    async with launch(argv, env=host_env(home, relay_port), name=kind) as host:
        await host.until(lambda: unix_socket_accepts(sock), f"accepting on {sock}", timeout=deadlines.CODEX)
        yield sock
