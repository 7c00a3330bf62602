"""``appserver token``: capability tokens, shared secrets and signed bearer tokens.

See docs/remote-access.md. ``new`` and ``secret`` write the secret to a 0600 file and
print only what is safe to show (a SHA-256 digest and usage lines); ``sign`` prints one
JWT on stdout, which is its purpose.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from appserver import tokens
from appserver.private_files import write_private_file
from appserver.auth_config import read_signing_secret

_OUT = click.option(
    "--out", required=True, metavar="PATH", type=click.Path(dir_okay=False, path_type=Path),
    help="File to create (mode 0600; missing folders are created 0700).",
)
_FORCE = click.option("--force", is_flag=True, help="Replace PATH if it exists.")


def _write(path: Path, text: str, force: bool) -> None:
    """Write a token file; an existing PATH without --force exits 2, a failed write 1."""
    write_private_file(path, text, force=force)


@click.group()
def token() -> None:
    """Create capability tokens, HS256 secrets and signed tokens."""


@token.command("new")
@_OUT
@_FORCE
def new(out: Path, force: bool) -> None:
    """Write a new capability token (32 random bytes) to PATH; print its SHA-256."""
    out = out.absolute()
    value = tokens.random_token(tokens.CAPABILITY_TOKEN_BYTES)
    _write(out, value + "\n", force)
    digest = tokens.sha256_hex(value)
    click.echo(f"wrote a capability token to {out} (mode 0600)")
    click.echo(f"sha256: {digest}")
    click.echo("serve with either of:")
    click.echo(
        "  appserver serve --listen ws://127.0.0.1:4500 --ws-auth capability-token "
        f"--ws-token-sha256 {digest}"
    )
    click.echo(
        "  appserver serve --listen ws://127.0.0.1:4500 --ws-auth capability-token "
        f"--ws-token-file {out}"
    )
    click.echo("connect with:")
    click.echo(
        f'  CODEX_REMOTE_TOKEN="$(cat {out})" codex --remote ws://127.0.0.1:4500 '
        "--remote-auth-token-env CODEX_REMOTE_TOKEN"
    )


@token.command("secret")
@_OUT
@_FORCE
def secret(out: Path, force: bool) -> None:
    """Write a new HS256 shared secret (48 random bytes, URL-safe base64) to PATH."""
    out = out.absolute()
    _write(out, tokens.random_token(tokens.SHARED_SECRET_BYTES) + "\n", force)
    click.echo(f"wrote an HS256 shared secret to {out} (mode 0600)")
    click.echo("serve with:")
    click.echo(
        "  appserver serve --listen ws://127.0.0.1:4500 --ws-auth signed-bearer-token "
        f"--ws-shared-secret-file {out}"
    )
    click.echo("sign a token with:")
    click.echo(f"  appserver token sign --secret-file {out} --ttl 1h")


@token.command("sign")
@click.option(
    "--secret-file", required=True, metavar="PATH", type=click.Path(dir_okay=False, path_type=Path),
    help="The HS256 shared secret file (trimmed, at least 32 bytes).",
)
@click.option("--ttl", default="1h", show_default=True, metavar="DURATION", help="Lifetime: sets `exp`.")
@click.option("--issuer", metavar="S", help="The `iss` claim.")
@click.option("--audience", metavar="S", help="The `aud` claim.")
@click.option("--not-before", metavar="DURATION", help="Valid only after now + DURATION: sets `nbf`.")
def sign(
    secret_file: Path, ttl: str, issuer: str | None, audience: str | None, not_before: str | None
) -> None:
    """Print one HS256 JWT (`exp`, `iat`, optional `nbf`, `iss`, `aud`) on stdout."""
    lifetime = tokens.parse_duration(ttl, "--ttl")
    delay = tokens.parse_duration(not_before, "--not-before") if not_before is not None else None
    key = read_signing_secret(secret_file.absolute())
    click.echo(
        tokens.sign(
            key,
            now=int(time.time()),
            ttl=lifetime,
            issuer=issuer,
            audience=audience,
            not_before=delay,
        )
    )
