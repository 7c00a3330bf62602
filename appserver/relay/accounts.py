"""Accounts (who may enroll hosts), their credentials, and CODEX_HOME folders for the stock codex.

Used by ``appserver relay account|codex-home`` (docs/relay.md "Accounts"). A credential is
shown once (written to a 0600 file) and stored as its SHA-256 digest.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from appserver import strings
from appserver.errors import ConfigError
from appserver.relay import credentials
from appserver.relay.store import Account, RelayStore, StoreError
from appserver.private_files import make_private_dirs, write_private_file

_NAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")


@dataclass(frozen=True, slots=True)
class NewCredential:
    account: Account
    token: str


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ConfigError(strings.RELAY_ACCOUNT_NAME_BAD)
    return name


async def add_account(store: RelayStore, name: str, *, now: int | None = None) -> NewCredential:
    """Create account ``name`` and its first credential."""
    check_name(name)
    now = int(time.time()) if now is None else now
    if await store.account_by_name(name) is not None:
        raise ConfigError(strings.RELAY_ACCOUNT_EXISTS.format(name=name))
    account_id = credentials.new_account_id()
    token = credentials.account_credential(name, account_id, now=now)
    try:
        account = await store.add_account(name, account_id, credentials.digest(token), now)
    except StoreError:
        raise ConfigError(strings.RELAY_ACCOUNT_EXISTS.format(name=name)) from None
    await store.audit("account.add", now, account=name)
    return NewCredential(account, token)


async def new_credential(store: RelayStore, name: str, *, now: int | None = None) -> NewCredential:
    """Another credential of an existing account (each CODEX_HOME gets its own)."""
    now = int(time.time()) if now is None else now
    account = await store.account_by_name(name)
    if account is None:
        raise ConfigError(strings.RELAY_ACCOUNT_UNKNOWN.format(name=name))
    token = credentials.account_credential(name, account.account_id, now=now)
    await store.add_credential(account.account_id, credentials.digest(token), now)
    await store.audit("credential.add", now, account=name)
    return NewCredential(account, token)


async def remove_account(store: RelayStore, name: str, *, now: int | None = None) -> Account:
    """Remove an account with its credentials, hosts and paired devices."""
    now = int(time.time()) if now is None else now
    account = await store.remove_account(name)
    if account is None:
        raise ConfigError(strings.RELAY_ACCOUNT_UNKNOWN.format(name=name))
    await store.audit("account.remove", now, account=name)
    return account


def write_credential(path: Path, token: str, *, force: bool) -> None:
    write_private_file(path, token + "\n", force=force)


def check_relay_url(url: str) -> str:
    """The relay's root URL, ending in ``/`` (codex joins ``wham/...`` onto it).

    Not :func:`appserver.url_rules.split_http_base`: this is the relay's own address,
    written verbatim into codex's ``config.toml``, so only its shape is checked and it is
    kept as typed (no trimming, no lowercasing, ``http`` to any host accepted); the other
    two split and rebuild a URL that our own client then sends a credential to.
    """
    if not re.fullmatch(r"https?://[^/\s?#]+(/[^\s?#]*)?", url):
        raise ConfigError(strings.RELAY_URL_BAD.format(url=url))
    return url if url.endswith("/") else url + "/"


def codex_home_files(credential: NewCredential, relay_url: str, *, now: int) -> dict[str, str]:
    """``auth.json`` and ``config.toml`` for a stock codex host (spec/remote-control-observed.md §1).

    ``tokens.access_token`` is the account credential (codex sends it as the bearer of
    enroll/refresh/client list/revoke) and ``tokens.account_id`` the account id (codex sends
    it as ``chatgpt-account-id``). ``config.toml`` points ``chatgpt_base_url`` at the relay
    and nothing else anywhere.
    """
    account = credential.account
    stamp = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    auth = {
        "auth_mode": "chatgpt",
        "OPENAI_API_KEY": None,
        "tokens": {
            "id_token": credentials.id_token(account.name, account.account_id, now=now),
            "access_token": credential.token,
            "refresh_token": "rt-" + credentials.random_string(24),
            "account_id": account.account_id,
        },
        "last_refresh": stamp,
    }
    config = (
        "# Written by `appserver relay codex-home`: remote control through this relay.\n"
        f"chatgpt_base_url = {json.dumps(relay_url)}\n"
    )
    return {"auth.json": json.dumps(auth, indent=2) + "\n", "config.toml": config}


def write_codex_home(folder: Path, files: dict[str, str], *, force: bool) -> None:
    """Write the files into ``folder`` (created 0700); refuse to overwrite without ``force``."""
    if folder.exists() and not force:
        if not folder.is_dir() or any(folder.iterdir()):
            raise ConfigError(strings.RELAY_OUT_NOT_EMPTY.format(path=folder))
    make_private_dirs(folder, tighten=True)
    for name, text in files.items():
        write_private_file(folder / name, text, force=True)
