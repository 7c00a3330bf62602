"""Token tooling behind ``appserver token``: capability tokens, HS256 secrets, signed JWTs.

Files are written through :mod:`appserver.private_files` (0600, folders 0700, replaced
atomically with ``--force``); a token or secret is written to its file and never printed. Signed tokens
use the same secret-file rules as the server (:func:`appserver.auth_config.read_signing_secret`)
so whatever ``sign`` accepts, ``serve --ws-auth signed-bearer-token`` accepts too.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from typing import Any

import jwt

from appserver import strings
from appserver.auth import rust_trim
from appserver.errors import ConfigError

CAPABILITY_TOKEN_BYTES = 32
#: 48 random bytes → 64 URL-safe characters, comfortably over the 32-byte minimum.
SHARED_SECRET_BYTES = 48

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d+)([smhd])")


def random_token(nbytes: int) -> str:
    """``nbytes`` random bytes, URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(secrets.token_bytes(nbytes)).rstrip(b"=").decode()


def sha256_hex(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_duration(value: str, flag: str) -> int:
    """Seconds in ``90``, ``90s``, ``15m``, ``1h``, ``7d`` or ``1h30m``."""
    text = value.strip()
    if text.isdigit():
        return int(text)
    parts = _DURATION.findall(text)
    if not text or "".join(n + u for n, u in parts) != text:
        raise ConfigError(strings.TOKEN_BAD_DURATION.format(value=value, flag=flag))
    return sum(int(n) * _UNITS[u] for n, u in parts)


def sign(
    secret: bytes,
    *,
    now: int,
    ttl: int,
    issuer: str | None = None,
    audience: str | None = None,
    not_before: int | None = None,
) -> str:
    """One HS256 JWT: ``exp`` = now + ttl, ``iat`` = now, optional ``nbf``/``iss``/``aud``."""
    if ttl <= 0:
        raise ConfigError(strings.TOKEN_TTL_NOT_POSITIVE)
    claims: dict[str, Any] = {"iat": now, "exp": now + ttl}
    if not_before is not None:
        claims["nbf"] = now + not_before
    # Trimmed like the server trims --ws-issuer/--ws-audience, so the two always agree.
    if issuer and rust_trim(issuer):
        claims["iss"] = rust_trim(issuer)
    if audience and rust_trim(audience):
        claims["aud"] = rust_trim(audience)
    return jwt.encode(claims, secret, algorithm="HS256")
