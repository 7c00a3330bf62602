"""``appserver proxy``: bridge a stdio client onto a gateway or app-server socket."""

from __future__ import annotations

import click

from appserver.config import ConfigError


@click.command()
@click.option("--sock", metavar="PATH", help="Control socket (default: the codex default socket).")
@click.option("--connect", metavar="ws(s)://HOST:PORT", help="A TCP WebSocket gateway instead of a socket.")
@click.option("--mode", type=click.Choice(["auto", "jsonl", "raw"]), default="auto", show_default=True)
@click.option("--auth-token-env", metavar="VAR", help="Environment variable holding the bearer token.")
@click.option("--ca-file", metavar="PEM", help="Extra trusted CA for wss://.")
def proxy(**_: object) -> int:
    """Proxy stdio to the app-server control socket."""
    raise ConfigError("`appserver proxy` is not supported yet")
