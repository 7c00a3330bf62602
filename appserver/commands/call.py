"""``appserver call``: one request, for scripts and operators."""

from __future__ import annotations

import click

from appserver.config import ConfigError


@click.command()
@click.option("--sock", metavar="PATH")
@click.option("--connect", metavar="URL")
@click.option("--auth-token-env", metavar="VAR")
@click.argument("method")
@click.argument("params", required=False)
def call(**_: object) -> int:
    """Send one request and print its result."""
    raise ConfigError("`appserver call` is not supported yet")
