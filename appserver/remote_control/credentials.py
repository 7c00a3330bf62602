"""What the host shows the relay on enroll, refresh and client list/revoke.

Two sources (docs/remote-control.md "Credentials"):

* ``--remote-control-token-file PATH``: a relay account credential (docs/relay.md "Accounts": a
  JWT-shaped token). The file's text, stripped, is sent as ``Authorization: Bearer <text>``; the
  ``chatgpt-account-id`` header comes from its payload's
  ``["https://api.openai.com/auth"]["chatgpt_account_id"]`` claim, decoded without
  verifying the signature, exactly as codex reads its own tokens. Read once, at startup.
* otherwise ``$CODEX_HOME/auth.json`` as codex 0.169.0 reads it
  (remote-control-observed.md §1): a ChatGPT login (``tokens.access_token`` is the bearer,
  ``tokens.account_id`` the account; ``tokens.id_token`` must be JWT-shaped); an API-key
  login is refused. Read at every use, so a login refreshed by codex is picked up.

Secrets never leave this module except inside :class:`Credential` (whose ``repr`` hides
the bearer) and the request headers built from it.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appserver import strings

AUTH_CLAIM = "https://api.openai.com/auth"


class CredentialError(Exception):
    """The credential cannot be used; ``str(err)`` is safe to show (never the secret).

    ``waiting`` marks upstream's WouldBlock case (no account id yet: retry later)."""

    def __init__(self, message: str, *, waiting: bool = False) -> None:
        super().__init__(message)
        self.waiting = waiting


@dataclass(frozen=True, slots=True)
class Credential:
    """A bearer and the account it belongs to."""

    bearer: str = field(repr=False)
    account_id: str

    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.bearer}", "chatgpt-account-id": self.account_id}


def jwt_payload(token: str) -> dict[str, Any] | None:
    """The payload of a JWT-shaped token (``a.b.c``), unverified; ``None`` if not one."""
    parts = token.split(".")
    if len(parts) != 3 or not all(parts):
        return None
    raw = parts[1]
    try:
        decoded = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
        payload = json.loads(decoded)
    except (binascii.Error, ValueError):
        return None
    return payload if isinstance(payload, dict) else None


def account_id_claim(token: str) -> str | None:
    payload = jwt_payload(token)
    claim = payload.get(AUTH_CLAIM) if payload else None
    account = claim.get("chatgpt_account_id") if isinstance(claim, dict) else None
    return account if isinstance(account, str) and account else None


class TokenFileSource:
    """``--remote-control-token-file``: read once; recovery after a 401 has nothing new."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            text = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            err = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            raise CredentialError(strings.RC_TOKEN_FILE_UNREADABLE.format(path=path, err=err)) from None
        if not text:
            raise CredentialError(strings.RC_TOKEN_FILE_EMPTY.format(path=path))
        account = account_id_claim(text)
        if account is None:
            raise CredentialError(strings.RC_TOKEN_FILE_NO_ACCOUNT.format(path=path))
        self._credential = Credential(text, account)

    def load(self) -> Credential:
        return self._credential

    def recover(self) -> bool:
        """After a 401: could a retry use a different credential? Never for a token file."""
        return False

    def __repr__(self) -> str:
        return f"<TokenFileSource {self.path} account={self._credential.account_id}>"


class AuthJsonSource:
    """``$CODEX_HOME/auth.json``, read at every use like codex's auth manager does."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._last: Credential | None = None

    def load(self) -> Credential:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CredentialError(strings.RC_REQUIRES_CHATGPT) from None
        except (OSError, UnicodeDecodeError, ValueError):
            raise CredentialError(strings.RC_REQUIRES_CHATGPT) from None
        if not isinstance(data, dict):
            raise CredentialError(strings.RC_REQUIRES_CHATGPT)
        tokens = data.get("tokens")
        mode = data.get("auth_mode")
        if not isinstance(tokens, dict):
            if mode == "apikey" or data.get("OPENAI_API_KEY"):
                raise CredentialError(strings.RC_API_KEY_NOT_SUPPORTED)
            raise CredentialError(strings.RC_REQUIRES_CHATGPT)
        if mode == "apikey":
            raise CredentialError(strings.RC_API_KEY_NOT_SUPPORTED)
        id_token, access = tokens.get("id_token"), tokens.get("access_token")
        if not isinstance(id_token, str) or jwt_payload(id_token) is None:
            raise CredentialError(strings.RC_REQUIRES_CHATGPT)
        if not isinstance(access, str) or not access:
            raise CredentialError(strings.RC_REQUIRES_CHATGPT)
        account = tokens.get("account_id")
        if not isinstance(account, str) or not account:
            raise CredentialError(strings.RC_WAITING_FOR_ACCOUNT, waiting=True)
        self._last = Credential(access, account)
        return self._last

    def recover(self) -> bool:
        """After a 401: is there a different login on disk now (codex refreshed it)?"""
        before = self._last
        try:
            now = self.load()
        except CredentialError:
            return False
        return before is None or now.bearer != before.bearer

    def __repr__(self) -> str:
        return f"<AuthJsonSource {self.path}>"


CredentialSource = TokenFileSource | AuthJsonSource


def default_source(codex_home: Path) -> AuthJsonSource:
    return AuthJsonSource(Path(os.path.join(codex_home, "auth.json")))
