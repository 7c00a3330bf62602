"""``appserver relay``: the self-hosted remote-control relay and its tooling (docs/relay.md).

Every subcommand takes ``--state FILE`` (default ``$XDG_STATE_HOME/appserver/relay.sqlite3``)
or, for a cluster of relay nodes, ``--redis URL`` (env ``APPSERVER_RELAY_REDIS``); the tooling
works while ``relay serve`` runs on the same state (the relay applies removals within
``RELAY_STORE_POLL_INTERVAL``).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import anyio
import click

from appserver import limits, strings
from appserver.errors import ConfigError

T = TypeVar("T")

_STATE = click.option(
    "--state", "state", metavar="FILE",
    help="The relay's SQLite state file [default: $XDG_STATE_HOME/appserver/relay.sqlite3].",
)

_REDIS = click.option(
    "--redis", "redis_url", metavar="URL", envvar="APPSERVER_RELAY_REDIS", show_envvar=True,
    help="Keep the state in Redis (`redis://HOST:PORT/DB`, `rediss://` for TLS) instead of --state: "
    "what the nodes of a relay cluster share.",
)


def _with_store(state: str | None, work: Callable[[Any], Awaitable[T]], redis_url: str | None) -> T:
    from appserver.relay.serve import open_any_store

    async def main() -> T:
        store = await open_any_store(state, redis_url, os.environ)
        try:
            return await work(store)
        finally:
            await store.close()

    return anyio.run(main)


def _when(ts: int | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if ts else "-"


@click.group()
def relay() -> None:
    """The self-hosted remote-control relay: serve it, manage accounts and devices."""


@relay.command("serve")
@click.option("--listen", required=True, metavar="URL", help="`http://IP:PORT` or `https://IP:PORT` (port 0 picks one).")
@_STATE
@_REDIS
@click.option("--public-url", metavar="URL", help="The address pairing links carry [default: the listen URL].")
@click.option(
    "--node-url", metavar="URL", envvar="APPSERVER_RELAY_NODE_URL", show_envvar=True,
    help="With --redis: where the other nodes reach this one for the direct path between nodes "
    "[default: the listen URL, unless its address is a wildcard].",
)
@click.option("--tls-cert", metavar="PATH", help="PEM certificate chain (https:// only).")
@click.option("--tls-key", metavar="PATH", help="PEM private key (https:// only).")
@click.option(
    "--behind-proxy", is_flag=True,
    help="Allow plain http on a non-loopback address: TLS terminates in a reverse proxy in front "
    "(client addresses are then read from X-Forwarded-For).",
)
def serve(
    listen: str, state: str | None, redis_url: str | None, public_url: str | None, node_url: str | None,
    tls_cert: str | None, tls_key: str | None, behind_proxy: bool,
) -> None:
    """Run the relay."""
    from appserver.relay import serve as relay_serve

    options = relay_serve.check_options(
        listen,
        state=relay_serve.state_path(state, os.environ),
        redis=relay_serve.check_redis(redis_url, state),
        public_url=public_url,
        node_url=node_url,
        tls_cert=tls_cert,
        tls_key=tls_key,
        behind_proxy=behind_proxy,
    )
    from appserver import event_loop

    event_loop.run(relay_serve.run, options, env=os.environ, tls_listener=options.tls is not None)


@relay.group()
def account() -> None:
    """Accounts: who may enroll hosts."""


@account.command("add")
@click.argument("name")
@click.option(
    "--out", required=True, metavar="PATH", type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the account's credential (mode 0600).",
)
@click.option("--force", is_flag=True, help="Replace PATH if it exists.")
@_STATE
@_REDIS
def account_add(name: str, out: Path, force: bool, state: str | None, redis_url: str | None) -> None:
    """Create account NAME and write its credential to PATH."""
    from appserver.relay import accounts

    accounts.check_name(name)
    out = out.absolute()
    if (out.exists() or out.is_symlink()) and not force:
        raise ConfigError(strings.TOKEN_OUT_EXISTS.format(path=out))
    created = _with_store(state, lambda store: accounts.add_account(store, name), redis_url)
    accounts.write_credential(out, created.token, force=force)  # WriteFailed: exit 1
    click.echo(f"account {name} ({created.account.account_id}); credential written to {out} (mode 0600)")
    click.echo("enroll our gateway with:")
    click.echo(f"  appserver serve --remote-control RELAY_URL --remote-control-token-file {out}")
    click.echo("or make a CODEX_HOME for the stock codex with:")
    click.echo(f"  appserver relay codex-home --account {name} --relay RELAY_URL --out DIR")


@account.command("list")
@_STATE
@_REDIS
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def account_list(state: str | None, redis_url: str | None, as_json: bool) -> None:
    """List accounts with their hosts."""

    async def work(store: Any) -> list[tuple[Any, list[Any]]]:
        servers = await store.servers()
        return [(a, [s for s in servers if s.account_id == a.account_id]) for a in await store.accounts()]

    for acct, servers in _with_store(state, work, redis_url):
        if as_json:
            click.echo(json.dumps({
                "name": acct.name, "account_id": acct.account_id, "created_at": acct.created_at,
                "hosts": [{"server_id": s.server_id, "environment_id": s.environment_id, "name": s.name}
                          for s in servers],
            }))
        else:
            click.echo(f"{acct.name}\t{acct.account_id}\tcreated {_when(acct.created_at)}\thosts {len(servers)}")
            for s in servers:
                click.echo(f"  {s.name}\t{s.server_id}\t{s.environment_id}\t{s.os}/{s.arch}")


@account.command("remove")
@click.argument("name")
@_STATE
@_REDIS
def account_remove(name: str, state: str | None, redis_url: str | None) -> None:
    """Remove account NAME: its credentials, hosts and paired devices (live links close)."""
    from appserver.relay import accounts

    _with_store(state, lambda store: accounts.remove_account(store, name), redis_url)
    click.echo(f"removed account {name}")


@relay.command("codex-home")
@click.option("--account", "name", required=True, metavar="NAME", help="The account the host enrolls with.")
@click.option("--relay", "relay_url", required=True, metavar="URL", help="The relay's root URL as the host reaches it.")
@click.option(
    "--out", required=True, metavar="DIR", type=click.Path(file_okay=False, path_type=Path),
    help="The CODEX_HOME folder to write (created 0700; must be empty unless --force).",
)
@click.option("--force", is_flag=True, help="Overwrite auth.json and config.toml in a non-empty DIR.")
@_STATE
@_REDIS
def codex_home(name: str, relay_url: str, out: Path, force: bool, state: str | None, redis_url: str | None) -> None:
    """Write a CODEX_HOME with which the stock codex enrolls with this relay."""
    from appserver.relay import accounts

    url = accounts.check_relay_url(relay_url)
    out = out.absolute()
    if out.exists() and not force and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(strings.RELAY_OUT_NOT_EMPTY.format(path=out))
    created = _with_store(state, lambda store: accounts.new_credential(store, name), redis_url)
    files = accounts.codex_home_files(created, url, now=int(time.time()))
    accounts.write_codex_home(out, files, force=True)  # WriteFailed: exit 1
    click.echo(f"wrote {out}/auth.json and {out}/config.toml (account {name}, relay {url})")
    click.echo("start the host with:")
    click.echo(f"  CODEX_HOME={out} codex app-server --listen unix://")
    click.echo("then enable remote control from a local client (remoteControl/enable).")


@relay.group()
def device() -> None:
    """Paired controller devices."""


@device.command("list")
@_STATE
@_REDIS
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def device_list(state: str | None, redis_url: str | None, as_json: bool) -> None:
    """List paired devices of every host."""

    async def work(store: Any) -> tuple[list[Any], dict[str, Any]]:
        servers = {s.server_id: s for s in await store.servers()}
        found = await store.devices(None, after=None, limit=limits.RELAY_DEVICE_LIST_MAX, descending=False)
        return found, servers

    found, servers = _with_store(state, work, redis_url)
    for d in found:
        host = servers.get(d.server_id)
        if as_json:
            click.echo(json.dumps({
                "client_id": d.client_id, "server_id": d.server_id,
                "environment_id": host.environment_id if host else None,
                "host": host.name if host else None, "display_name": d.display_name,
                "device_type": d.device_type, "platform": d.platform, "created_at": d.created_at,
                "last_seen_at": d.last_seen_at,
            }))
        else:
            click.echo(
                f"{d.client_id}\t{d.display_name or '-'}\thost {host.name if host else '?'}"
                f"\tpaired {_when(d.created_at)}\tlast seen {_when(d.last_seen_at)}"
            )


@device.command("revoke")
@click.argument("client_id")
@_STATE
@_REDIS
def device_revoke(client_id: str, state: str | None, redis_url: str | None) -> None:
    """Revoke a paired device: its token stops working and its live sockets close."""

    async def work(store: Any) -> None:
        removed = await store.remove_device(client_id)
        if removed is None:
            raise ConfigError(strings.RELAY_DEVICE_UNKNOWN.format(client_id=client_id))
        await store.audit("revoke", int(time.time()), server_id=removed.server_id, client_id=client_id,
                          detail="by relay tooling")

    _with_store(state, work, redis_url)
    click.echo(f"revoked {client_id}")


@relay.command("audit")
@_STATE
@_REDIS
@click.option("--limit", default=100, show_default=True, type=click.IntRange(min=1), help="The newest N events.")
@click.option("--event", metavar="NAME", help="Only this event (enroll, pair, claim, revoke, account.add, ...).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def audit(state: str | None, redis_url: str | None, limit: int, event: str | None, as_json: bool) -> None:
    """Show the audit log: enrollments, pairings, claims, revocations, account changes."""
    events = _with_store(state, lambda store: store.audit_events(limit=limit, event=event), redis_url)
    for e in events:
        if as_json:
            click.echo(json.dumps({
                "id": e.id, "ts": e.ts, "event": e.event, "account": e.account, "server_id": e.server_id,
                "client_id": e.client_id, "peer": e.peer, "detail": e.detail,
            }))
        else:
            fields = [f"{k}={v}" for k, v in (
                ("account", e.account), ("server", e.server_id), ("client", e.client_id),
                ("peer", e.peer), ("detail", e.detail)) if v]
            click.echo(" ".join([_when(e.ts), e.event, *fields]))
