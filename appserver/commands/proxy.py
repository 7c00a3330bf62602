"""``appserver proxy``: bridge a stdio client onto a gateway or app-server socket.

See docs/proxy.md. stdout carries protocol only; diagnostics go to stderr.
"""

from __future__ import annotations

import os

import anyio
import click

from appserver.config import RuntimeFailure


@click.command()
@click.option("--sock", metavar="PATH", help="Control socket (default: the codex default socket).")
@click.option("--connect", "connect_url", metavar="ws(s)://HOST:PORT", help="A TCP WebSocket gateway instead of a socket.")
@click.option(
    "--mode",
    type=click.Choice(["auto", "jsonl", "raw"]),
    default="auto",
    show_default=True,
    help="jsonl: one JSON-RPC message per line; raw: relay bytes (the client speaks "
    "WebSocket, like `codex app-server proxy`); auto: raw if stdin starts with `GET `.",
)
@click.option("--auth-token-env", metavar="VAR", help="Environment variable holding the bearer token (wss:// or loopback ws:// only).")
@click.option("--ca-file", metavar="PEM", help="Extra trusted CA bundle for wss://.")
def proxy(
    sock: str | None,
    connect_url: str | None,
    mode: str,
    auth_token_env: str | None,
    ca_file: str | None,
) -> int:
    """Proxy stdio to the app-server control socket or a WebSocket gateway."""
    from appserver.connect import ConnectFailed, resolve_target
    from appserver.proxy.framing import Mode
    from appserver.proxy.run import run_proxy

    target = resolve_target(
        sock=sock,
        connect_url=connect_url,
        auth_token_env=auth_token_env,
        ca_file=ca_file,
        env=os.environ,
    )
    try:
        outcome = anyio.run(run_proxy, target, Mode(mode))
    except ConnectFailed as exc:
        raise RuntimeFailure(str(exc)) from None
    if outcome.status:
        raise RuntimeFailure(outcome.message)
    return 0
