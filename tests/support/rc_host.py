"""Running our gateway as a remote-control host in tests.

:func:`account_token` writes a relay account credential shaped like the relay's
(docs/relay.md "Accounts": JWT-shaped, the account id in the ``https://api.openai.com/auth`` claim);
:func:`host_process` runs ``appserver serve … --remote-control URL`` as a real process
(:func:`tests.support.launcher.launch`).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anyio.abc import Process

from tests.support.launcher import APPSERVER, Launched, appserver_env, launch


def _b64(obj: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj, separators=(",", ":")).encode()).rstrip(b"=").decode()


def account_token(account_id: str = "acct_test0000000000000000001", name: str = "tests") -> str:
    payload = {"iss": "appserver-relay", "sub": name, "iat": 1796030000,
               "https://api.openai.com/auth": {"chatgpt_account_id": account_id,
                                               "chatgpt_user_id": account_id, "chatgpt_plan_type": "pro"}}
    signature = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    return f"{_b64({'alg': 'HS256', 'typ': 'JWT'})}.{_b64(payload)}.{signature}"


def write_token(path: Path, account_id: str = "acct_test0000000000000000001") -> str:
    token = account_token(account_id)
    path.write_text(token + "\n")
    os.chmod(path, 0o600)
    return token


@asynccontextmanager
async def host_process(
    relay_url: str, workdir: Path, *args: str, token: bool = True, env: dict[str, str] | None = None,
    listen: list[str] | None = None,
) -> AsyncIterator[Launched]:
    """``appserver serve --backend builtin --remote-control relay_url`` (+ ``args``), with
    ``--listen off`` unless ``listen`` is given; ``CODEX_HOME`` is ``workdir/home``."""
    home = workdir / "home"
    home.mkdir(exist_ok=True)
    argv = [*APPSERVER, "serve", "--remote-control", relay_url]
    if token:
        write_token(workdir / "account.token")
        argv += ["--remote-control-token-file", str(workdir / "account.token")]
    for url in listen if listen is not None else ["off"]:
        argv += ["--listen", url]
    if not any(a.startswith("--backend") for a in args):
        argv += ["--backend", "builtin"]
    argv += list(args)
    async with launch(argv, env=appserver_env(home, LOG_LEVEL="INFO", **(env or {}))) as host:
        yield host
