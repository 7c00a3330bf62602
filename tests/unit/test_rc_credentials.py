"""Credentials: a relay token file, or codex's auth.json as the 0.169.0 binary reads it."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from appserver.remote_control.credentials import (
    AuthJsonSource,
    CredentialError,
    TokenFileSource,
    jwt_payload,
)


def _b64(obj: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def jwt(payload: dict[str, Any]) -> str:
    return f"{_b64({'alg': 'HS256', 'typ': 'JWT'})}.{_b64(payload)}.c2lnbmF0dXJl"


ACCOUNT_TOKEN = jwt(
    {"iss": "appserver-relay", "sub": "me", "iat": 1,
     "https://api.openai.com/auth": {"chatgpt_account_id": "acct_abc", "chatgpt_user_id": "acct_abc"}}
)


def test_token_file_is_the_bearer_and_names_the_account(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text(ACCOUNT_TOKEN + "\n\n")
    credential = TokenFileSource(path).load()
    assert credential.headers() == {"authorization": f"Bearer {ACCOUNT_TOKEN}", "chatgpt-account-id": "acct_abc"}
    assert ACCOUNT_TOKEN not in repr(credential)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", "is empty"), ("opaque-token", "no chatgpt_account_id claim"), (jwt({"sub": "x"}), "no chatgpt_account_id")],
)
def test_bad_token_files_get_one_clear_line_without_the_secret(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "token"
    path.write_text(text)
    with pytest.raises(CredentialError) as err:
        TokenFileSource(path)
    assert expected in str(err.value)
    if text:
        assert text not in str(err.value)


def test_missing_token_file(tmp_path: Path) -> None:
    with pytest.raises(CredentialError) as err:
        TokenFileSource(tmp_path / "nope")
    assert str(err.value) == f"cannot read --remote-control-token-file {tmp_path / 'nope'}: No such file or directory"


def _auth(tmp_path: Path, data: dict[str, Any]) -> AuthJsonSource:
    (tmp_path / "auth.json").write_text(json.dumps(data))
    return AuthJsonSource(tmp_path / "auth.json")


def _tokens(**overrides: Any) -> dict[str, Any]:
    tokens = {"id_token": jwt({"sub": "u"}), "access_token": "opaque-access", "refresh_token": "r", "account_id": "acc-1"}
    tokens.update(overrides)
    return {"auth_mode": "chatgpt", "OPENAI_API_KEY": None, "tokens": tokens}


def test_auth_json_chatgpt_login(tmp_path: Path) -> None:
    credential = _auth(tmp_path, _tokens()).load()
    assert (credential.bearer, credential.account_id) == ("opaque-access", "acc-1")


def test_auth_json_account_comes_from_tokens_account_id_not_the_claim(tmp_path: Path) -> None:
    source = _auth(tmp_path, _tokens(account_id=None, id_token=jwt({"https://api.openai.com/auth": {"chatgpt_account_id": "claim"}})))
    with pytest.raises(CredentialError) as err:
        source.load()
    assert str(err.value) == "remote control enrollment is waiting for a ChatGPT account id"
    assert err.value.waiting


def test_auth_json_id_token_must_be_jwt_shaped(tmp_path: Path) -> None:
    with pytest.raises(CredentialError) as err:
        _auth(tmp_path, _tokens(id_token="not-a-jwt")).load()
    assert str(err.value) == "remote control requires ChatGPT authentication"


def test_auth_json_api_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CredentialError) as err:
        _auth(tmp_path, {"auth_mode": "apikey", "OPENAI_API_KEY": "sk-x"}).load()
    assert str(err.value) == "remote control requires ChatGPT authentication; API key auth is not supported"


def test_auth_json_missing(tmp_path: Path) -> None:
    with pytest.raises(CredentialError):
        AuthJsonSource(tmp_path / "auth.json").load()


def test_recover_reports_a_changed_login(tmp_path: Path) -> None:
    source = _auth(tmp_path, _tokens())
    source.load()
    assert source.recover() is False
    (tmp_path / "auth.json").write_text(json.dumps(_tokens(access_token="new")))
    assert source.recover() is True


def test_jwt_payload_needs_three_parts() -> None:
    assert jwt_payload("a.b") is None
    assert jwt_payload(ACCOUNT_TOKEN)["sub"] == "me"  # type: ignore[index]
