"""Secrets and identifiers of the relay. Sans-I/O.

* account credentials: JWT-shaped tokens ``base64url(header).base64url(payload).base64url(32
  random bytes)`` (the contract in docs/relay.md "Accounts"): codex and our gateway read the
  payload without verifying anything, the relay only compares sha256 digests;
* the ``id_token`` a CODEX_HOME needs (spec/remote-control-observed.md §1);
* host tokens, device tokens, pairing codes and manual codes: random strings;
* ids: ``acct_…``, ``srv_e_…``, ``env_…``, ``client_…``, stream ids.

Only digests are stored (:func:`digest`); :func:`same_digest` compares in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

from appserver import limits

AUTH_CLAIM = "https://api.openai.com/auth"
PROFILE_CLAIM = "https://api.openai.com/profile"
ISSUER = "appserver-relay"
_HEADER = {"alg": "HS256", "typ": "JWT"}

#: Manual codes use Crockford's base32 (5 bits a character, no I, L, O, U); a typed O is
#: read as 0 and I or L as 1.
MANUAL_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def random_string(nbytes: int) -> str:
    return b64url(secrets.token_bytes(nbytes))


def digest(secret: str) -> bytes:
    """What the store keeps for a secret: its SHA-256."""
    return hashlib.sha256(secret.encode("utf-8")).digest()


def same_digest(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)


# --- ids ------------------------------------------------------------------------------------


def new_account_id() -> str:
    return "acct_" + random_string(16)  # 22 base64url characters


def new_server_id() -> str:
    return "srv_e_" + random_string(12)


def new_environment_id() -> str:
    return "env_" + random_string(12)


def new_client_id() -> str:
    return "client_" + random_string(12)


def new_stream_id() -> str:
    return "stream_" + random_string(12)


# --- tokens ---------------------------------------------------------------------------------


def jwt_shaped(payload: dict[str, Any]) -> str:
    """``header.payload.secret``: the last part is 32 random bytes, not a signature."""
    head = b64url(json.dumps(_HEADER, separators=(",", ":")).encode())
    body = b64url(json.dumps(payload, separators=(",", ":")).encode())
    return f"{head}.{body}.{random_string(32)}"


def account_credential(name: str, account_id: str, *, now: int | None = None) -> str:
    """A new credential of an account (the file a host needs; docs/relay.md "Accounts")."""
    payload = {
        "iss": ISSUER,
        "sub": name,
        "iat": int(time.time()) if now is None else now,
        AUTH_CLAIM: {
            "chatgpt_account_id": account_id,
            "chatgpt_user_id": account_id,
            "chatgpt_plan_type": "pro",
        },
    }
    return jwt_shaped(payload)


def id_token(name: str, account_id: str, *, now: int) -> str:
    """The ``tokens.id_token`` codex needs to treat a CODEX_HOME as a ChatGPT login
    (spec/remote-control-observed.md §1: it must be JWT-shaped; nothing verifies it)."""
    email = f"{name}@relay.invalid"
    payload = {
        "iss": ISSUER,
        "aud": ["appserver-relay"],
        "sub": account_id,
        "email": email,
        "email_verified": True,
        "iat": now,
        "exp": now + 10 * 365 * 86400,
        AUTH_CLAIM: {
            "chatgpt_plan_type": "pro",
            "chatgpt_user_id": account_id,
            "user_id": account_id,
            "chatgpt_account_id": account_id,
        },
        PROFILE_CLAIM: {"email": email, "email_verified": True},
    }
    return jwt_shaped(payload)


def credential_account_id(token: str) -> str | None:
    """The account id in a credential's payload (read without verifying, as codex does)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(b64url_decode(parts[1]))
        value = payload[AUTH_CLAIM]["chatgpt_account_id"]
    except (ValueError, KeyError, TypeError):
        return None
    return value if isinstance(value, str) else None


def host_token() -> str:
    return "rct_" + random_string(32)


def device_token() -> str:
    return "rdt_" + random_string(32)


def pairing_code() -> str:
    """An opaque pairing code: RELAY_PAIRING_CODE_BYTES random bytes (>= 128 bits)."""
    return random_string(limits.RELAY_PAIRING_CODE_BYTES)


def manual_code() -> str:
    """A short typable code, ``XXXX-XXXX`` (40 bits; claims are rate limited)."""
    chars = "".join(secrets.choice(MANUAL_ALPHABET) for _ in range(limits.RELAY_MANUAL_CODE_CHARS))
    half = len(chars) // 2
    return f"{chars[:half]}-{chars[half:]}"


def normalize_manual_code(text: str) -> str:
    """Manual codes match case-insensitively, dashes and spaces ignored."""
    return "".join(ch for ch in text.upper() if ch not in "- \t").translate(_LOOKALIKES)
