"""appserver.tokens: durations, random tokens, signed tokens (verified with pyjwt)."""

from __future__ import annotations

import jwt
import pytest

from appserver import tokens
from appserver.auth import SignedBearerPolicy
from appserver.errors import ConfigError

SECRET = b"s" * 40


@pytest.mark.parametrize("text, seconds", [("90", 90), ("90s", 90), ("15m", 900), ("1h", 3600), ("7d", 604800), ("1h30m", 5400), ("0", 0)])
def test_durations(text: str, seconds: int) -> None:
    assert tokens.parse_duration(text, "--ttl") == seconds


@pytest.mark.parametrize("text", ["", "h", "1x", "-5", "1.5h", "1h 30m"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ConfigError, match=r"^invalid duration `.*` for --ttl"):
        tokens.parse_duration(text, "--ttl")


def test_random_token_is_32_bytes_url_safe() -> None:
    value = tokens.random_token(32)
    assert len(value) == 43 and set(value) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert value != tokens.random_token(32)


def test_sign_claims() -> None:
    token = tokens.sign(SECRET, now=1000, ttl=3600, issuer=" iss ", audience="aud", not_before=60)
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "HS256"
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], audience="aud", options={"verify_exp": False, "verify_nbf": False, "verify_iat": False})
    assert claims == {"iat": 1000, "exp": 4600, "nbf": 1060, "iss": "iss", "aud": "aud"}
    # and the server's verifier accepts it with matching settings
    SignedBearerPolicy(SECRET, issuer="iss", audience="aud").authorize(f"Bearer {token}", 1100)


def test_sign_minimal_claims_and_positive_ttl() -> None:
    claims = jwt.decode(tokens.sign(SECRET, now=5, ttl=10), SECRET, algorithms=["HS256"], options={"verify_exp": False, "verify_iat": False})
    assert claims == {"iat": 5, "exp": 15}
    with pytest.raises(ConfigError, match="^--ttl must be longer than zero$"):
        tokens.sign(SECRET, now=5, ttl=0)
