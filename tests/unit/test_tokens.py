"""appserver.tokens: durations, private files, signed tokens (verified with pyjwt)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

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


def test_private_file_modes(tmp_path: Path) -> None:
    old = os.umask(0)  # even a permissive umask gives 0600 / 0700
    try:
        target = tmp_path / "a" / "b" / "tok"
        tokens.write_private_file(target, "x\n", force=False)
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "a" / "b").stat().st_mode) == 0o700
    assert target.read_text() == "x\n"


def test_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    target = tmp_path / "tok"
    target.write_text("keep")
    target.chmod(0o644)
    with pytest.raises(ConfigError, match="already exists; pass --force"):
        tokens.write_private_file(target, "new", force=False)
    assert target.read_text() == "keep"
    tokens.write_private_file(target, "new", force=True)
    assert target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["tok"]  # no temp file left behind


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
