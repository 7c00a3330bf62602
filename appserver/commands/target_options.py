"""The connection flags shared by ``appserver proxy`` and ``appserver call`` (docs/proxy.md)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

import click

from appserver.connect import Target, resolve_target

F = TypeVar("F", bound=Callable[..., object])


def target_options(command: F) -> F:
    """Add ``--sock``, ``--connect``, ``--auth-token-env``, ``--auth-token-file`` and ``--ca-file``."""
    options = [
        click.option("--sock", metavar="PATH", help="Control socket (default: the codex default socket)."),
        click.option(
            "--connect",
            "connect_url",
            metavar="ws(s)://HOST:PORT",
            help="A TCP WebSocket gateway instead of a socket.",
        ),
        click.option(
            "--auth-token-env",
            metavar="VAR",
            help="Environment variable holding the bearer token (wss:// or loopback ws:// only).",
        ),
        click.option(
            "--auth-token-file",
            metavar="PATH",
            help="File holding the bearer token (trimmed; wss:// or loopback ws:// only).",
        ),
        click.option("--ca-file", metavar="PEM", help="Extra trusted CA bundle for wss://."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def target_from_flags(
    sock: str | None,
    connect_url: str | None,
    auth_token_env: str | None,
    ca_file: str | None,
    auth_token_file: str | None = None,
) -> Target:
    """The validated target (``ConfigError``, exit status 2, for bad flags)."""
    return resolve_target(
        sock=sock,
        connect_url=connect_url,
        auth_token_env=auth_token_env,
        auth_token_file=auth_token_file,
        ca_file=ca_file,
        env=os.environ,
    )
