"""``appserver devices list|revoke ID``: the controllers paired with this host
(docs/pairing.md). Talks to the running gateway over its control socket."""

from __future__ import annotations

import anyio
import click

from appserver.commands.target_options import target_from_flags

_SOCK = click.option(
    "--sock", metavar="PATH", help="The gateway's control socket (default: the codex default socket)."
)


@click.group()
def devices() -> None:
    """List or revoke the controllers paired with this host."""


@devices.command("list")
@_SOCK
def list_(sock: str | None) -> None:
    """One line per paired device: id, name, kind, last seen."""
    from appserver.controller.pairing import run_devices_list

    target = target_from_flags(sock, None, None, None)
    anyio.run(lambda: run_devices_list(target))


@devices.command("revoke")
@click.argument("client_id", metavar="ID")
@_SOCK
def revoke(client_id: str, sock: str | None) -> None:
    """Revoke a device: its live controllers are closed and its credential refused."""
    from appserver.controller.pairing import run_devices_revoke

    target = target_from_flags(sock, None, None, None)
    anyio.run(lambda: run_devices_revoke(target, client_id))
