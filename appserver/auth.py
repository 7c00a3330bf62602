"""WebSocket authentication of upgrade requests on TCP listeners: verification. Sans-I/O.

Follows upstream ``codex app-server`` 0.169.0 (spec/transport.md §5), checked against the
binary: :meth:`Policy.authorize` checks the ``Authorization`` header of an upgrade
request and raises :class:`AuthError` whose message is the exact plain-text 401 body
(§5.2–5.4). A policy holds only what verification needs (the SHA-256 digest of a
capability token, or the HS256 key); appserver.auth_config builds it from the flags.

Secrets never appear in messages, logs or ``repr``.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import json
import re
from typing import Any, Protocol

from jwt.algorithms import HMACAlgorithm

from appserver import strings
from appserver.errors import ConfigError

DEFAULT_MAX_CLOCK_SKEW_SECONDS = 30
_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1

#: Rust's ``str::trim`` removes Unicode ``White_Space``; Python's ``str.strip`` also
#: removes U+001C..U+001F, so the set is spelled out.
_RUST_WHITESPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


class AuthMode(enum.Enum):
    """``--ws-auth``: how upgrade requests authenticate."""

    CAPABILITY_TOKEN = "capability-token"
    SIGNED_BEARER_TOKEN = "signed-bearer-token"


def rust_trim(text: str) -> str:
    """Trim like upstream (Rust ``str::trim``)."""
    return text.strip(_RUST_WHITESPACE)


# --- verification -----------------------------------------------------------------------------


class AuthError(Exception):
    """An upgrade (or ``/metrics`` request) is refused: HTTP 401, ``message`` as the body."""

    status = 401

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer …`` header value (§5.2).

    ``None`` means the header is absent. The scheme is case-insensitive and separated by
    one space; the token is trimmed and must not be empty; the whole value must be
    visible ASCII (tabs allowed), like the ``http`` crate's ``HeaderValue::to_str``.
    """
    if authorization is None:
        raise AuthError(strings.AUTH_MISSING_BEARER)
    if any(not (ch == "\t" or " " <= ch <= "~") for ch in authorization):
        raise AuthError(strings.AUTH_INVALID_HEADER)
    scheme, sep, token = authorization.partition(" ")
    if not sep or scheme.lower() != "bearer":
        raise AuthError(strings.AUTH_INVALID_HEADER)
    token = rust_trim(token)
    if not token:
        raise AuthError(strings.AUTH_INVALID_HEADER)
    return token


def sha256_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class CapabilityTokenPolicy:
    """Accepts a bearer token whose SHA-256 equals the configured digest (constant time)."""

    mode = AuthMode.CAPABILITY_TOKEN

    def __init__(self, digest: bytes) -> None:
        if len(digest) != 32:
            raise ValueError("a SHA-256 digest is 32 bytes")
        self._digest = digest

    def authorize(self, authorization: str | None, now: int) -> None:
        token = bearer_token(authorization)
        if not hmac.compare_digest(sha256_digest(token), self._digest):
            raise AuthError(strings.AUTH_INVALID_BEARER)

    def __repr__(self) -> str:
        return "<CapabilityTokenPolicy sha256=…>"


class SignedBearerPolicy:
    """Accepts an HS256 JWT signed with the shared secret, with upstream's claim checks (§5.4).

    Only ``alg: HS256`` is accepted. ``exp`` is required and must be an integer; ``nbf``,
    ``iss`` and ``aud`` are checked by hand with the clock skew, like upstream (which
    turns its JWT library's own time and audience checks off).
    """

    mode = AuthMode.SIGNED_BEARER_TOKEN
    _HS256 = HMACAlgorithm(HMACAlgorithm.SHA256)

    def __init__(
        self,
        secret: bytes,
        *,
        issuer: str | None = None,
        audience: str | None = None,
        max_clock_skew_seconds: int = DEFAULT_MAX_CLOCK_SKEW_SECONDS,
    ) -> None:
        if max_clock_skew_seconds > _I64_MAX:
            raise ConfigError(strings.WS_AUTH_SKEW_TOO_LARGE)
        # Not ``prepare_key``: it refuses secrets that look like PEM, which upstream accepts.
        self._key = secret
        self.issuer = issuer
        self.audience = audience
        self.skew = max_clock_skew_seconds

    def authorize(self, authorization: str | None, now: int) -> None:
        claims = self.decode(bearer_token(authorization))
        skew = self.skew
        if now > _saturate(claims["exp"] + skew):
            raise AuthError(strings.AUTH_EXPIRED_JWT)
        nbf = claims.get("nbf")
        if nbf is not None and now < _saturate(nbf - skew):
            raise AuthError(strings.AUTH_JWT_NOT_YET_VALID)
        if self.issuer is not None and claims.get("iss") != self.issuer:
            raise AuthError(strings.AUTH_JWT_ISSUER_MISMATCH)
        if self.audience is not None:
            aud = claims.get("aud")
            if not (aud == self.audience or (isinstance(aud, list) and self.audience in aud)):
                raise AuthError(strings.AUTH_JWT_AUDIENCE_MISMATCH)

    def decode(self, token: str) -> dict[str, Any]:
        """Verify the signature and claim types; the claims, or ``invalid websocket jwt``."""
        invalid = AuthError(strings.AUTH_INVALID_JWT)
        parts = token.split(".")
        if len(parts) != 3:
            raise invalid
        header_b64, payload_b64, signature_b64 = parts
        header = _json_object(_b64decode(header_b64))
        if header is None or header.get("alg") != "HS256" or not _valid_header(header):
            raise invalid
        signature = _b64decode(signature_b64)
        signing_input = f"{header_b64}.{payload_b64}".encode()
        if signature is None or not self._HS256.verify(signing_input, self._key, signature):
            raise invalid
        claims = _json_object(_b64decode(payload_b64))
        if claims is None or not _valid_claims(claims):
            raise invalid
        return claims

    def __repr__(self) -> str:
        return (
            f"<SignedBearerPolicy issuer={self.issuer!r} audience={self.audience!r} "
            f"skew={self.skew}s>"
        )


class Policy(Protocol):
    """What a ``ws://``/``wss://`` listener verifies an upgrade with: the two policies above,
    and the reloadable wrapper ``appserver serve`` hands the listeners
    (:class:`appserver.reload.ReloadablePolicy`)."""

    @property
    def mode(self) -> AuthMode: ...

    def authorize(self, authorization: str | None, now: int) -> None:
        """Return if ``authorization`` (the header, if any) is accepted; :class:`AuthError` if not."""
        ...


# --- JWT helpers (the checks upstream's jsonwebtoken + serde make) ---------------------------

_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def _b64decode(segment: str) -> bytes | None:
    """Unpadded base64url, strictly (padding and other alphabets are refused)."""
    if not _B64URL.fullmatch(segment) or len(segment) % 4 == 1:
        return None
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        return None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"not JSON: {name}")


def _json_object(data: bytes | None) -> dict[str, Any] | None:
    if data is None:
        return None

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in items:
            if key in result:  # serde refuses duplicate fields
                raise ValueError(f"duplicate field {key}")
            result[key] = value
        return result

    try:
        value = json.loads(data.decode("utf-8"), object_pairs_hook=pairs, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        # RecursionError: a header or payload nested ~1,000 deep; codex's serde_json
        # refuses it too (its recursion limit): 401 `invalid websocket jwt`, never a 500.
        return None
    return value if isinstance(value, dict) else None


def _is_i64(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and _I64_MIN <= value <= _I64_MAX


def _saturate(value: int) -> int:
    return max(_I64_MIN, min(_I64_MAX, value))


_HEADER_STRINGS = ("typ", "cty", "jku", "kid", "x5u", "x5t", "x5t#S256")


def _valid_header(header: dict[str, Any]) -> bool:
    if any(header.get(name) is not None and not isinstance(header[name], str) for name in _HEADER_STRINGS):
        return False
    x5c = header.get("x5c")
    return x5c is None or (isinstance(x5c, list) and all(isinstance(c, str) for c in x5c))


def _valid_claims(claims: dict[str, Any]) -> bool:
    """``exp`` an i64; ``nbf`` null or i64; ``iss`` null or string; ``aud`` null, string or strings."""
    if not _is_i64(claims.get("exp")):
        return False
    nbf = claims.get("nbf")
    if nbf is not None and not _is_i64(nbf):
        return False
    iss = claims.get("iss")
    if iss is not None and not isinstance(iss, str):
        return False
    aud = claims.get("aud")
    if aud is None or isinstance(aud, str):
        return True
    return isinstance(aud, list) and all(isinstance(a, str) for a in aud)
