"""The JWT table shared by the unit, integration and differential tests (spec/transport.md §5.4).

Every entry is ``(name, token)`` for a server configured with ``SECRET``, issuer
``ISSUER``, audience ``AUDIENCE`` and a 1-second clock skew (the upstream integration
test's flags), built at ``now``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import jwt

SECRET = b"0123456789abcdef0123456789abcdef-differential-test-shared-secret"
OTHER_SECRET = b"another-secret-another-secret-another-secret-another-secret-1234"
ISSUER = "codex-enroller"
AUDIENCE = "codex-app-server"
SKEW = 1
_DROP = object()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_signed(header: dict[str, Any], claims: Any, key: bytes = SECRET) -> str:
    """A token built byte by byte, for shapes pyjwt refuses to produce."""
    head = b64(json.dumps(header).encode())
    body = b64(json.dumps(claims).encode())
    signature = hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(signature)}"


def raw_signed(header_json: str, claims_json: str, key: bytes = SECRET) -> str:
    """A token from literal JSON text (for shapes ``json.dumps`` cannot make, like depth)."""
    head, body = b64(header_json.encode()), b64(claims_json.encode())
    signature = hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(signature)}"


def _nested(levels: int) -> str:
    return "[" * levels + "]" * levels


def unsigned(header: dict[str, Any], claims: Any) -> str:
    """An ``alg: none`` style token: empty signature."""
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}."


def jwt_table(now: int) -> list[tuple[str, str]]:
    def claims(**changes: Any) -> dict[str, Any]:
        base: dict[str, Any] = {"iss": ISSUER, "aud": AUDIENCE, "exp": now + 300, "iat": now}
        base.update(changes)
        return {k: v for k, v in base.items() if v is not _DROP}

    def hs256(key: bytes = SECRET, **changes: Any) -> str:
        return jwt.encode(claims(**changes), key, algorithm="HS256")

    return [
        ("valid", hs256()),
        ("expired", hs256(exp=now - 30)),
        ("not yet valid", hs256(nbf=now + 30)),
        ("nbf in the past", hs256(nbf=now - 30)),
        ("wrong issuer", hs256(iss="someone-else")),
        ("no issuer", hs256(iss=_DROP)),
        ("wrong audience", hs256(aud="another-service")),
        ("audience array", hs256(aud=["another-service", AUDIENCE])),
        ("audience array without ours", hs256(aud=["another-service"])),
        ("no audience", hs256(aud=_DROP)),
        ("other secret", hs256(OTHER_SECRET)),
        ("no exp", hs256(exp=_DROP)),
        ("exp as float", hand_signed({"alg": "HS256"}, claims(exp=float(now + 300)))),
        ("exp as string", hand_signed({"alg": "HS256"}, claims(exp=str(now + 300)))),
        ("issuer not a string", hand_signed({"alg": "HS256"}, claims(iss=7))),
        ("audience array of numbers", hand_signed({"alg": "HS256"}, claims(aud=[1]))),
        ("claims not an object", hand_signed({"alg": "HS256"}, [1])),
        ("alg none", unsigned({"alg": "none", "typ": "JWT"}, claims())),
        ("HS384", jwt.encode(claims(), SECRET, algorithm="HS384")),
        ("no alg in header", hand_signed({"typ": "JWT"}, claims())),
        ("unknown crit header", hand_signed({"alg": "HS256", "crit": ["x"]}, claims())),
        ("padded segment", hs256() + "="),
        ("tampered", hs256().replace(".", ".x", 1)),
        ("not a JWT", "not-a-jwt"),
        # ~2.7 KB of nesting, past Python's recursion limit, from someone without the
        # secret: codex 0.169.0 answers 401 (a token signed with the right secret and such
        # a header passes codex's checks; ours refuses it, see docs/remote-access.md).
        (
            "deeply nested header",
            raw_signed('{"alg":"HS256","x":%s}' % _nested(1300), json.dumps(claims()), OTHER_SECRET),
        ),
        (
            "deeply nested claims",
            raw_signed(
                '{"alg":"HS256"}',
                json.dumps(claims(x=0)).replace("0}", _nested(1300) + "}"),
                OTHER_SECRET,
            ),
        ),
    ]
