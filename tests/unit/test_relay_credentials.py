"""Relay secrets, ids, manual codes and the claim limiter (sans-I/O, no event loop)."""

from __future__ import annotations

import base64
import json

from appserver import limits
from appserver.relay import credentials
from appserver.relay.pairing import ClaimLimiter


def _part(token: str, index: int) -> dict:
    segment = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def test_account_credential_is_jwt_shaped_with_the_contract_payload() -> None:
    token = credentials.account_credential("alice", "acct_AAAAAAAAAAAAAAAAAAAAAA", now=1796030000)
    head, body, secret = token.split(".")
    assert _part(token, 0) == {"alg": "HS256", "typ": "JWT"}
    assert _part(token, 1) == {
        "iss": "appserver-relay", "sub": "alice", "iat": 1796030000,
        "https://api.openai.com/auth": {
            "chatgpt_account_id": "acct_AAAAAAAAAAAAAAAAAAAAAA",
            "chatgpt_user_id": "acct_AAAAAAAAAAAAAAAAAAAAAA",
            "chatgpt_plan_type": "pro",
        },
    }
    assert len(base64.urlsafe_b64decode(secret + "=")) == 32
    assert "=" not in token
    assert credentials.credential_account_id(token) == "acct_AAAAAAAAAAAAAAAAAAAAAA"


def test_two_credentials_differ_and_only_digests_compare() -> None:
    a = credentials.account_credential("alice", "acct_x", now=1)
    b = credentials.account_credential("alice", "acct_x", now=1)
    assert a != b
    assert credentials.same_digest(credentials.digest(a), credentials.digest(a))
    assert not credentials.same_digest(credentials.digest(a), credentials.digest(b))


def test_account_id_shape() -> None:
    account_id = credentials.new_account_id()
    assert account_id.startswith("acct_") and len(account_id) == 5 + 22


def test_credential_account_id_of_garbage_is_none() -> None:
    assert credentials.credential_account_id("not-a-token") is None
    assert credentials.credential_account_id("a.b.c") is None
    assert credentials.credential_account_id("a." + credentials.b64url(b'{"x":1}') + ".c") is None


def test_id_token_has_the_claims_codex_reads() -> None:
    token = credentials.id_token("alice", "acct_x", now=100)
    claims = _part(token, 1)
    assert claims["https://api.openai.com/auth"]["chatgpt_account_id"] == "acct_x"
    assert claims["exp"] > claims["iat"] == 100
    assert claims["email_verified"] is True


def test_pairing_code_has_at_least_128_bits() -> None:
    code = credentials.pairing_code()
    assert len(base64.urlsafe_b64decode(code + "=" * (-len(code) % 4))) * 8 >= 128
    assert limits.RELAY_PAIRING_CODE_BYTES * 8 >= 128


def test_manual_code_shape_and_normalization() -> None:
    code = credentials.manual_code()
    assert len(code) == 9 and code[4] == "-"
    assert set(code.replace("-", "")) <= set(credentials.MANUAL_ALPHABET)
    assert credentials.normalize_manual_code(code.lower()) == code.replace("-", "")
    assert credentials.normalize_manual_code(" ab cd-ef gh ") == "ABCDEFGH"
    # Look-alikes typed by a human: O -> 0, I and L -> 1.
    assert credentials.normalize_manual_code("oOiL-1234") == "0011" + "1234"


def test_limiter_allows_up_to_the_limit_per_address_then_says_how_long() -> None:
    limiter = ClaimLimiter(per_address=3, overall=100, window=60.0)
    assert [limiter.attempt("1.2.3.4", now=t) for t in (0.0, 1.0, 2.0)] == [0.0, 0.0, 0.0]
    assert limiter.attempt("1.2.3.4", now=3.0) == 57.0
    # Another address is not affected.
    assert limiter.attempt("5.6.7.8", now=3.0) == 0.0
    # The window slides: the first attempt ages out at 60 s.
    assert limiter.attempt("1.2.3.4", now=60.5) == 0.0


def test_limiter_overall_bound_across_addresses() -> None:
    limiter = ClaimLimiter(per_address=100, overall=2, window=10.0)
    assert limiter.attempt("a", now=0.0) == 0.0
    assert limiter.attempt("b", now=0.0) == 0.0
    assert limiter.attempt("c", now=0.5) == 10.0


def test_limiter_forgets_the_least_recent_addresses_past_its_bound() -> None:
    limiter = ClaimLimiter(per_address=1, overall=1000, window=60.0, tracked=2)
    limiter.attempt("a", now=0.0)
    limiter.attempt("b", now=0.0)
    assert limiter.attempt("b", now=1.0) > 0  # remembered: limited
    limiter.attempt("c", now=1.0)
    assert "addresses=2" in repr(limiter)
    assert limiter.attempt("a", now=1.0) == 0.0  # forgotten: a fresh start
