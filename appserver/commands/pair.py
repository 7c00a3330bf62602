"""``appserver pair``: show a pairing QR code, link and code; wait for a device to claim it
(docs/pairing.md). Talks to the running gateway over its control socket."""

from __future__ import annotations

import anyio
import click

from appserver.commands.target_options import target_from_flags


@click.command()
@click.option("--sock", metavar="PATH", help="The gateway's control socket (default: the codex default socket).")
@click.option("--manual", is_flag=True, help="Also show a short code to type by hand.")
def pair(sock: str | None, manual: bool) -> None:
    """Pair a controller (phone, browser, `appserver remote`) with this host."""
    from appserver.controller.pairing import run_pair

    target = target_from_flags(sock, None, None, None)
    anyio.run(lambda: run_pair(target, manual=manual))
