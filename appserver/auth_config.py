"""WebSocket auth configuration: the ``--ws-*`` flags and their secret files.

Follows upstream ``codex app-server`` 0.169.0 (spec/transport.md §5.1), checked against
the binary:

* :func:`validate_args` (sans-I/O) turns the ``--ws-*`` flags into
  :class:`CapabilityTokenSettings`, :class:`SignedBearerSettings` or ``None``, with
  upstream's messages in upstream's order. Relative paths are resolved against the working
  directory, as the binary does.
* :func:`load_policy` reads the secret file once (trimmed, non-empty; a JWT secret of at
  least 32 bytes) and builds the :data:`appserver.auth.Policy` the listeners verify with.

Secrets never appear in messages, logs or ``repr``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from appserver import strings
from appserver.auth import (
    DEFAULT_MAX_CLOCK_SKEW_SECONDS,
    AuthMode,
    CapabilityTokenPolicy,
    Policy,
    SignedBearerPolicy,
    rust_trim,
    sha256_digest,
)
from appserver.errors import ConfigError, os_error_text

MIN_SIGNED_BEARER_SECRET_BYTES = 32


@dataclass(frozen=True, slots=True)
class AuthArgs:
    """The ``--ws-*`` flags as given (``None`` = not given)."""

    mode: str | None = None
    token_file: str | None = None
    token_sha256: str | None = None
    shared_secret_file: str | None = None
    issuer: str | None = None
    audience: str | None = None
    max_clock_skew_seconds: int | None = None


@dataclass(frozen=True, slots=True)
class CapabilityTokenSettings:
    """``--ws-auth capability-token``: exactly one of ``token_file`` or ``token_sha256``."""

    token_file: Path | None = None
    token_sha256: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class SignedBearerSettings:
    """``--ws-auth signed-bearer-token``."""

    shared_secret_file: Path
    issuer: str | None = None
    audience: str | None = None
    max_clock_skew_seconds: int = DEFAULT_MAX_CLOCK_SKEW_SECONDS


AuthSettings = CapabilityTokenSettings | SignedBearerSettings


def validate_args(args: AuthArgs, *, cwd: Callable[[], str] = os.getcwd) -> AuthSettings | None:
    """Validate the ``--ws-*`` flags; ``None`` means no auth. Raises :class:`ConfigError`."""

    def normalize(value: str | None) -> str | None:
        trimmed = rust_trim(value) if value is not None else ""
        return trimmed or None

    jwt_flags = (args.shared_secret_file, args.issuer, args.audience, args.max_clock_skew_seconds)
    token_flags = (args.token_file, args.token_sha256)
    if args.mode == AuthMode.CAPABILITY_TOKEN.value:
        if any(flag is not None for flag in jwt_flags):
            raise ConfigError(strings.WS_AUTH_JWT_FLAGS_NEED_SIGNED)
        if args.token_file is not None and args.token_sha256 is not None:
            raise ConfigError(strings.WS_AUTH_TOKEN_SOURCES_EXCLUSIVE)
        if args.token_file is not None:
            return CapabilityTokenSettings(token_file=_absolute("--ws-token-file", args.token_file, cwd))
        if args.token_sha256 is not None:
            return CapabilityTokenSettings(token_sha256=_digest_arg("--ws-token-sha256", args.token_sha256))
        raise ConfigError(strings.WS_AUTH_TOKEN_SOURCE_REQUIRED)
    if args.mode == AuthMode.SIGNED_BEARER_TOKEN.value:
        if any(flag is not None for flag in token_flags):
            raise ConfigError(strings.WS_AUTH_TOKEN_FLAGS_NEED_CAPABILITY)
        if args.shared_secret_file is None:
            raise ConfigError(strings.WS_AUTH_SECRET_REQUIRED)
        skew = args.max_clock_skew_seconds
        return SignedBearerSettings(
            shared_secret_file=_absolute("--ws-shared-secret-file", args.shared_secret_file, cwd),
            issuer=normalize(args.issuer),
            audience=normalize(args.audience),
            max_clock_skew_seconds=DEFAULT_MAX_CLOCK_SKEW_SECONDS if skew is None else skew,
        )
    if args.mode is not None:
        raise ConfigError(strings.WS_AUTH_BAD_MODE.format(mode=args.mode))  # click's Choice stops this first
    if any(flag is not None for flag in (*token_flags, *jwt_flags)):
        raise ConfigError(strings.WS_AUTH_FLAGS_NEED_MODE)
    return None


def _absolute(flag: str, value: str, cwd: Callable[[], str]) -> Path:
    # The 0.169.0 binary resolves a relative path against the working directory (its
    # message for an unreadable file then names the absolute path); only when that is
    # impossible does it say the path must be absolute.
    if os.path.isabs(value):
        return Path(os.path.normpath(value))
    try:
        base = cwd()
    except OSError:
        raise ConfigError(strings.WS_AUTH_NOT_ABSOLUTE.format(flag=flag)) from None
    return Path(os.path.normpath(os.path.join(base, value)))


def _digest_arg(flag: str, value: str) -> bytes:
    trimmed = rust_trim(value)
    if len(trimmed) != 64 or not re.fullmatch(r"[0-9a-fA-F]{64}", trimmed):
        raise ConfigError(strings.WS_AUTH_BAD_DIGEST.format(flag=flag))
    return bytes.fromhex(trimmed)


# --- secret files -------------------------------------------------------------------------


def read_secret_file(path: Path) -> str:
    """The trimmed UTF-8 contents of a token or secret file (upstream ``read_trimmed_secret``).

    Errors name the path and the OS error, never the contents.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            strings.WS_AUTH_SECRET_UNREADABLE.format(path=path, err=os_error_text(exc))
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(
            strings.WS_AUTH_SECRET_UNREADABLE.format(
                path=path, err="stream did not contain valid UTF-8"
            )
        ) from None
    trimmed = rust_trim(text)
    if not trimmed:
        raise ConfigError(strings.WS_AUTH_SECRET_EMPTY.format(path=path))
    return trimmed


def read_signing_secret(path: Path) -> bytes:
    """An HS256 shared secret file: trimmed, at least 32 bytes."""
    secret = read_secret_file(path).encode()
    if len(secret) < MIN_SIGNED_BEARER_SECRET_BYTES:
        raise ConfigError(
            strings.WS_AUTH_SECRET_TOO_SHORT.format(path=path, min=MIN_SIGNED_BEARER_SECRET_BYTES)
        )
    return secret


def load_policy(settings: AuthSettings) -> Policy:
    """Read the secret file (once) and build the policy. Raises :class:`ConfigError`."""
    if isinstance(settings, CapabilityTokenSettings):
        if settings.token_sha256 is not None:
            return CapabilityTokenPolicy(settings.token_sha256)
        assert settings.token_file is not None
        return CapabilityTokenPolicy(sha256_digest(read_secret_file(settings.token_file)))
    secret = read_signing_secret(settings.shared_secret_file)
    return SignedBearerPolicy(
        secret,
        issuer=settings.issuer,
        audience=settings.audience,
        max_clock_skew_seconds=settings.max_clock_skew_seconds,
    )
