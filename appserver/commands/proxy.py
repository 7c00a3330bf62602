"""``appserver proxy``: bridge a stdio client onto a gateway or app-server socket.

See docs/proxy.md. stdout carries protocol only; diagnostics go to stderr.
"""

from __future__ import annotations

import anyio
import click

from appserver.commands.target_options import target_from_flags, target_options
from appserver.errors import RuntimeFailure


@click.command()
@target_options
@click.option(
    "--mode",
    type=click.Choice(["auto", "jsonl", "raw"]),
    default="auto",
    show_default=True,
    help="jsonl: one JSON-RPC message per line; raw: relay bytes (the client speaks "
    "WebSocket, like `codex app-server proxy`); auto: raw if stdin starts with `GET `.",
)
def proxy(
    sock: str | None,
    connect_url: str | None,
    auth_token_env: str | None,
    auth_token_file: str | None,
    ca_file: str | None,
    mode: str,
) -> int:
    """Proxy stdio to the app-server control socket or a WebSocket gateway."""
    from appserver.errors import ConnectFailed
    from appserver.proxy.framing import Mode
    from appserver.proxy.run import run_proxy

    target = target_from_flags(sock, connect_url, auth_token_env, ca_file, auth_token_file)
    try:
        outcome = anyio.run(run_proxy, target, Mode(mode))
    except ConnectFailed as exc:
        raise RuntimeFailure(str(exc)) from None
    if outcome.status:
        raise RuntimeFailure(outcome.message)
    return 0
