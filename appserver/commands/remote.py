"""``appserver remote``: this machine as a controller of a paired host (docs/pairing.md).

``pair`` claims a pairing link or code at the relay and saves the device credential;
``list`` and ``forget`` manage the saved pairings; ``connect`` bridges local clients (the
codex TUI over ``--listen ws://127.0.0.1:PORT``, or a JSONL client over ``--stdio``) to
the paired host through the relay.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import sys
from typing import TYPE_CHECKING

import anyio
import click

from appserver import strings
from appserver.errors import ConfigError

if TYPE_CHECKING:
    from appserver.controller.credentials import DeviceStore


def _store() -> DeviceStore:
    from appserver.controller.credentials import DeviceStore, default_folder

    return DeviceStore(default_folder(os.environ))


@click.group()
def remote() -> None:
    """Drive a paired host from this machine, through its relay."""


@remote.command("pair")
@click.argument("code_or_link")
@click.option("--relay", metavar="URL", help="The relay's URL (needed with a bare code).")
@click.option(
    "--name",
    metavar="NAME",
    help="Local name of this pairing and the device name the host shows "
    "(default: the host's name locally, this machine's name on the host).",
)
def pair(code_or_link: str, relay: str | None, name: str | None) -> None:
    """Claim a pairing link or code shown by `appserver pair` on the host."""
    from appserver.controller.claim import claim
    from appserver.controller.credentials import check_name, name_from
    from appserver.controller.links import parse_pairing

    target = parse_pairing(code_or_link, relay)
    store = _store()
    if name is not None:
        check_name(name)
    display = name if name is not None else socket.gethostname()
    device = anyio.run(claim, target, name or "pending", display)
    if name is None:
        local = store.free_name(name_from(device.server_name or "host"))
        device = dataclasses.replace(device, name=local)
    path = store.save(device)
    click.echo(
        strings.CONTROLLER_PAIRED.format(
            server=device.server_name or "the host",
            name=device.name,
            client_id=device.client_id,
            path=path,
        )
    )


@remote.command("list")
def list_() -> None:
    """List the paired hosts (name, host, relay, device id)."""
    devices = _store().devices()
    if not devices:
        click.echo(strings.CONTROLLER_NO_DEVICES)
        return
    for device in devices:
        click.echo(f"{device.name}\t{device.server_name}\t{device.relay_url}\t{device.client_id}")


@remote.command("forget")
@click.argument("name")
def forget(name: str) -> None:
    """Delete a saved pairing (its credential) from this machine."""
    _store().forget(name)
    click.echo(strings.CONTROLLER_FORGOTTEN.format(name=name))


@remote.command("connect")
@click.argument("name", required=False)
@click.option("--listen", "listen_url", metavar="ws://127.0.0.1:PORT", help="Serve local WebSocket clients (e.g. `codex --remote`).")
@click.option("--stdio", is_flag=True, help="Bridge one JSONL client on stdin/stdout.")
def connect(name: str | None, listen_url: str | None, stdio: bool) -> None:
    """Bridge local clients to a paired host (NAME: optional when only one is paired)."""
    from appserver.controller.local import parse_listen, run_listener, run_stdio

    if (listen_url is None) == (not stdio):
        raise ConfigError(strings.CONTROLLER_LISTEN_OR_STDIO)
    address = parse_listen(listen_url) if listen_url is not None else None
    device = _store().choose(name)
    if address is None:
        anyio.run(run_stdio, device)
        return
    host, port = address
    try:
        anyio.run(lambda: run_listener(device, host, port))
    except KeyboardInterrupt:
        sys.exit(130)
