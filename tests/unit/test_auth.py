"""appserver.auth_config and appserver.auth: flags, secret files, bearer parsing, capability tokens, the JWT table.

Literal headers and tokens, no event loop. Expected strings are upstream's
(spec/transport.md §5), which the differential interop test checks against codex.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from appserver import auth, auth_config, strings
from appserver.auth import AuthError, CapabilityTokenPolicy, SignedBearerPolicy
from appserver.auth_config import AuthArgs, CapabilityTokenSettings, SignedBearerSettings
from appserver.errors import ConfigError
from tests.support.jwt_table import AUDIENCE, ISSUER, SECRET, SKEW, hand_signed, jwt_table

NOW = 1_800_000_000
CWD = "/work/dir"


def validate(**kw: object) -> object:
    return auth_config.validate_args(AuthArgs(**kw), cwd=lambda: CWD)  # type: ignore[arg-type]


def refusal(**kw: object) -> str:
    with pytest.raises(ConfigError) as info:
        validate(**kw)
    return str(info.value)


# --- flags (§5.1), in upstream's order --------------------------------------------------


def test_no_flags_means_no_auth() -> None:
    assert validate() is None


@pytest.mark.parametrize(
    "flags, message",
    [
        ({"mode": "capability-token", "issuer": "x"}, strings.WS_AUTH_JWT_FLAGS_NEED_SIGNED),
        ({"mode": "capability-token", "max_clock_skew_seconds": 0}, strings.WS_AUTH_JWT_FLAGS_NEED_SIGNED),
        # the JWT-flag check comes before the token-source checks
        (
            {"mode": "capability-token", "shared_secret_file": "/s", "token_file": "/a", "token_sha256": "ab"},
            strings.WS_AUTH_JWT_FLAGS_NEED_SIGNED,
        ),
        ({"mode": "capability-token", "token_file": "/a", "token_sha256": "ab"}, strings.WS_AUTH_TOKEN_SOURCES_EXCLUSIVE),
        ({"mode": "capability-token"}, strings.WS_AUTH_TOKEN_SOURCE_REQUIRED),
        ({"mode": "signed-bearer-token", "token_file": "/a"}, strings.WS_AUTH_TOKEN_FLAGS_NEED_CAPABILITY),
        ({"mode": "signed-bearer-token", "token_sha256": "ab"}, strings.WS_AUTH_TOKEN_FLAGS_NEED_CAPABILITY),
        ({"mode": "signed-bearer-token", "issuer": "x"}, strings.WS_AUTH_SECRET_REQUIRED),
        ({"issuer": "x"}, strings.WS_AUTH_FLAGS_NEED_MODE),
        ({"token_sha256": "ab"}, strings.WS_AUTH_FLAGS_NEED_MODE),
        ({"mode": "capability-token", "token_sha256": "abc"}, "--ws-token-sha256 must be a 64-character hex SHA-256 digest"),
        ({"mode": "capability-token", "token_sha256": "g" * 64}, "--ws-token-sha256 must be a 64-character hex SHA-256 digest"),
    ],
)
def test_flag_errors_have_upstream_messages(flags: dict[str, object], message: str) -> None:
    assert refusal(**flags) == message


def test_exact_message_texts() -> None:
    assert strings.WS_AUTH_JWT_FLAGS_NEED_SIGNED == (
        "`--ws-shared-secret-file`, `--ws-issuer`, `--ws-audience`, and `--ws-max-clock-skew-seconds` "
        "require `--ws-auth signed-bearer-token`"
    )
    assert strings.WS_AUTH_TOKEN_SOURCE_REQUIRED == (
        "`--ws-token-file` or `--ws-token-sha256` is required when `--ws-auth capability-token` is set"
    )


def test_digest_is_trimmed_and_case_insensitive() -> None:
    settings = validate(mode="capability-token", token_sha256=f"  {'AB' * 32}\n")
    assert settings == CapabilityTokenSettings(token_sha256=bytes([0xAB]) * 32)


def test_relative_paths_resolve_against_the_working_directory() -> None:
    # codex 0.169.0 does this too (its read error then names the absolute path)
    assert validate(mode="capability-token", token_file="tok") == CapabilityTokenSettings(
        token_file=Path("/work/dir/tok")
    )


def test_relative_path_without_a_working_directory() -> None:
    def no_cwd() -> str:
        raise FileNotFoundError

    with pytest.raises(ConfigError, match=r"^--ws-token-file must be an absolute path$"):
        auth_config.validate_args(AuthArgs(mode="capability-token", token_file="tok"), cwd=no_cwd)


def test_signed_settings_trim_issuer_and_audience_and_default_skew() -> None:
    settings = validate(mode="signed-bearer-token", shared_secret_file="/s", issuer=" issuer ", audience="   ")
    assert settings == SignedBearerSettings(Path("/s"), issuer="issuer", audience=None, max_clock_skew_seconds=30)


# --- secret files ------------------------------------------------------------------------------


def test_secret_file_is_trimmed(tmp_path: Path) -> None:
    path = tmp_path / "tok"
    path.write_text("\n  super-secret-token \n")
    assert auth_config.read_secret_file(path) == "super-secret-token"


def test_secret_file_errors_name_the_path_not_the_contents(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    with pytest.raises(ConfigError) as info:
        auth_config.read_secret_file(missing)
    assert str(info.value) == f"failed to read websocket auth secret {missing}: No such file or directory (os error 2)"
    with pytest.raises(ConfigError) as info:
        auth_config.read_secret_file(tmp_path)
    assert str(info.value) == f"failed to read websocket auth secret {tmp_path}: Is a directory (os error 21)"
    blank = tmp_path / "blank"
    blank.write_text(" \n\t")
    with pytest.raises(ConfigError) as info:
        auth_config.read_secret_file(blank)
    assert str(info.value) == f"websocket auth secret {blank} must not be empty"


def test_short_signing_secret_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text("too-short-but-secret\n")
    with pytest.raises(ConfigError) as info:
        auth_config.read_signing_secret(path)
    assert str(info.value) == f"signed websocket bearer secret {path} must be at least 32 bytes"
    assert "too-short-but-secret" not in str(info.value)
    path.write_text(" " + "x" * 32 + "\n")
    assert auth_config.read_signing_secret(path) == b"x" * 32


def test_load_policy_from_a_token_file(tmp_path: Path) -> None:
    path = tmp_path / "tok"
    path.write_text("super-secret-token\n")
    policy = auth_config.load_policy(CapabilityTokenSettings(token_file=path))
    policy.authorize("Bearer super-secret-token", NOW)
    assert "super" not in repr(policy)


def test_skew_must_fit_in_i64(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_bytes(SECRET)
    with pytest.raises(ConfigError, match="^websocket auth clock skew must fit in a signed 64-bit integer$"):
        auth_config.load_policy(SignedBearerSettings(path, max_clock_skew_seconds=2**63))


# --- bearer parsing (§5.2) ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "header, token",
    [
        ("Bearer abc", "abc"),
        ("bearer abc", "abc"),
        ("BEARER abc", "abc"),
        ("Bearer    abc  ", "abc"),
        ("Bearer abc def", "abc def"),
        ("Bearer \tabc", "abc"),
    ],
)
def test_bearer_token(header: str, token: str) -> None:
    assert auth.bearer_token(header) == token


@pytest.mark.parametrize(
    "header",
    ["", "Bearer", "Bearer ", "Bearer    ", "Bearer\tabc", "Basic abc", "Token abc", "Bearer caf\xe9", "Bearer a\x01"],
)
def test_malformed_authorization(header: str) -> None:
    with pytest.raises(AuthError) as info:
        auth.bearer_token(header)
    assert info.value.message == "invalid authorization header"
    assert info.value.status == 401


def test_missing_authorization() -> None:
    with pytest.raises(AuthError, match="^missing websocket bearer token$"):
        auth.bearer_token(None)


# --- capability token (§5.3) ---------------------------------------------------------------------


def test_capability_token_compares_digests() -> None:
    policy = CapabilityTokenPolicy(hashlib.sha256(b"super-secret-token").digest())
    policy.authorize("Bearer super-secret-token", NOW)
    policy.authorize("bearer   super-secret-token ", NOW)
    for wrong in ("Bearer wrong-token", "Bearer super-secret-token2", "Bearer super-secret-toke"):
        with pytest.raises(AuthError, match="^invalid websocket bearer token$"):
            policy.authorize(wrong, NOW)


# --- signed bearer JWT (§5.4) ---------------------------------------------------------------------

EXPECTED = {
    "valid": None,
    "expired": "expired websocket jwt",
    "not yet valid": "websocket jwt is not valid yet",
    "nbf in the past": None,
    "wrong issuer": "websocket jwt issuer mismatch",
    "no issuer": "websocket jwt issuer mismatch",
    "wrong audience": "websocket jwt audience mismatch",
    "audience array": None,
    "audience array without ours": "websocket jwt audience mismatch",
    "no audience": "websocket jwt audience mismatch",
    "other secret": "invalid websocket jwt",
    "no exp": "invalid websocket jwt",
    "exp as float": "invalid websocket jwt",
    "exp as string": "invalid websocket jwt",
    "issuer not a string": "invalid websocket jwt",
    "audience array of numbers": "invalid websocket jwt",
    "claims not an object": "invalid websocket jwt",
    "alg none": "invalid websocket jwt",
    "HS384": "invalid websocket jwt",
    "no alg in header": "invalid websocket jwt",
    "unknown crit header": None,  # codex 0.169.0 accepts it (its JWT library ignores crit)
    "padded segment": "invalid websocket jwt",
    "tampered": "invalid websocket jwt",
    "not a JWT": "invalid websocket jwt",
    "deeply nested header": "invalid websocket jwt",  # codex 0.169.0: 401 (was our 500)
    "deeply nested claims": "invalid websocket jwt",
}


def jwt_policy(issuer: str | None = ISSUER, audience: str | None = AUDIENCE) -> SignedBearerPolicy:
    return SignedBearerPolicy(SECRET, issuer=issuer, audience=audience, max_clock_skew_seconds=SKEW)


@pytest.mark.parametrize("name, token", jwt_table(NOW))
def test_jwt_table(name: str, token: str) -> None:
    policy = jwt_policy()
    if EXPECTED[name] is None:
        policy.authorize(f"Bearer {token}", NOW)
    else:
        with pytest.raises(AuthError) as info:
            policy.authorize(f"Bearer {token}", NOW)
        assert info.value.message == EXPECTED[name]


def test_jwt_table_is_covered() -> None:
    assert [name for name, _ in jwt_table(NOW)] == list(EXPECTED)


def test_clock_skew_edges() -> None:
    policy = jwt_policy(None, None)
    at = hand_signed({"alg": "HS256"}, {"exp": NOW - SKEW})
    policy.authorize(f"Bearer {at}", NOW)  # now == exp + skew: still valid
    past = hand_signed({"alg": "HS256"}, {"exp": NOW - SKEW - 1})
    with pytest.raises(AuthError, match="^expired websocket jwt$"):
        policy.authorize(f"Bearer {past}", NOW)
    nbf = hand_signed({"alg": "HS256"}, {"exp": NOW + 60, "nbf": NOW + SKEW})
    policy.authorize(f"Bearer {nbf}", NOW)
    early = hand_signed({"alg": "HS256"}, {"exp": NOW + 60, "nbf": NOW + SKEW + 1})
    with pytest.raises(AuthError, match="^websocket jwt is not valid yet$"):
        policy.authorize(f"Bearer {early}", NOW)


def test_claims_unchecked_without_issuer_and_audience() -> None:
    token = hand_signed({"alg": "HS256"}, {"exp": NOW + 60, "iss": "anyone", "aud": ["x"], "nbf": None})
    jwt_policy(None, None).authorize(f"Bearer {token}", NOW)


def test_duplicate_exp_is_invalid() -> None:
    import base64
    import hmac

    head = base64.urlsafe_b64encode(b'{"alg":"HS256"}').rstrip(b"=").decode()
    body = base64.urlsafe_b64encode(f'{{"exp":{NOW - 999},"exp":{NOW + 60}}}'.encode()).rstrip(b"=").decode()
    sig = hmac.new(SECRET, f"{head}.{body}".encode(), "sha256").digest()
    token = f"{head}.{body}.{base64.urlsafe_b64encode(sig).rstrip(b'=').decode()}"
    with pytest.raises(AuthError, match="^invalid websocket jwt$"):
        jwt_policy(None, None).authorize(f"Bearer {token}", NOW)


def test_policy_repr_hides_the_secret() -> None:
    assert SECRET.decode() not in repr(jwt_policy())
