"""Remote control in ``appserver serve``: flags -> config, and the running service.

* ``--remote-control URL`` starts with remote control enabled for this run (codex's
  ephemeral enable) against the relay at ``URL``; ``--remote-control-token-file PATH``
  gives the relay account credential (else ``$CODEX_HOME/auth.json``).
* Without ``--remote-control`` the ``remoteControl/*`` methods still work (answered by the
  gateway), against codex's ``chatgpt_base_url`` (``-c chatgpt_base_url=…``, else
  ``$CODEX_HOME/config.toml``, else ``https://chatgpt.com/backend-api/``), and a durable
  enable stored for it is honoured at start, as codex does.

Flags are checked before anything starts (exit 2 with one line); the state file and the
link start with the backend (:func:`running`).
"""

from __future__ import annotations

import logging
import sqlite3
import tomllib
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import httpx

from appserver import strings
from appserver.config import codex_home
from appserver.errors import ConfigError, RuntimeFailure
from appserver.processor import Processor
from appserver.remote_control import identity as identity_files
from appserver.remote_control.credentials import (
    CredentialError,
    CredentialSource,
    TokenFileSource,
    default_source,
)
from appserver.remote_control.link import HostLink
from appserver.remote_control.methods import RemoteControlMethods
from appserver.remote_control.service import RemoteControlService
from appserver.remote_control.status import status_notification
from appserver.remote_control.store import STATE_FILE, Store, StoreError
from appserver.remote_control.urls import (
    DEFAULT_BASE_URL,
    RemoteControlTarget,
    RemoteControlUrlError,
    normalize,
)

log = logging.getLogger("appserver.remote_control")


@dataclass(frozen=True, slots=True)
class RemoteControlConfig:
    """``--remote-control`` and ``--remote-control-token-file``, validated."""

    target: RemoteControlTarget
    #: Started enabled (``--remote-control URL``), else the stored preference decides.
    enabled: bool
    source: CredentialSource | None = field(default=None, repr=False)
    http_transport: httpx.AsyncBaseTransport | None = field(default=None, repr=False)


def configured_base_url(env: Mapping[str, str], overrides: tuple[str, ...] = ()) -> str:
    """Codex's ``chatgpt_base_url``: a ``-c chatgpt_base_url=…`` override, else
    ``$CODEX_HOME/config.toml``, else codex's default."""
    for override in reversed(overrides):
        key, sep, value = override.partition("=")
        if sep and key.strip() == "chatgpt_base_url":
            try:
                parsed = tomllib.loads(f"v = {value}")["v"]
            except tomllib.TOMLDecodeError:
                parsed = value
            return str(parsed)
    try:
        with open(codex_home(env) / "config.toml", "rb") as f:
            value = tomllib.load(f).get("chatgpt_base_url")
    except (OSError, tomllib.TOMLDecodeError, ConfigError):
        value = None
    return value if isinstance(value, str) and value else DEFAULT_BASE_URL


def check_flags(
    url: str | None, token_file: str | None, env: Mapping[str, str], overrides: tuple[str, ...] = ()
) -> RemoteControlConfig:
    """Validate the flags and read the token file once; :class:`ConfigError` if bad."""
    if token_file is not None and url is None:
        raise ConfigError(strings.RC_TOKEN_FILE_NEEDS_URL)
    try:
        target = normalize(url if url is not None else configured_base_url(env, overrides))
    except RemoteControlUrlError as exc:
        raise ConfigError(str(exc)) from None
    source: CredentialSource | None = None
    if token_file is not None:
        try:
            source = TokenFileSource(Path(token_file).expanduser())
        except CredentialError as exc:
            raise ConfigError(str(exc)) from None
    return RemoteControlConfig(target=target, enabled=url is not None, source=source)


def persisted_enable(env: Mapping[str, str], overrides: tuple[str, ...] = ()) -> bool:
    """``--listen off`` without ``--remote-control``: is a durable enable stored for codex's
    default base URL? (Read-only, stdlib sqlite3: nothing is created.)"""
    try:
        path = identity_files.state_dir(codex_home(env)) / STATE_FILE
        if not path.exists():
            return False
        target = normalize(configured_base_url(env, overrides))
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            row = db.execute(
                "SELECT 1 FROM remote_control_enrollments WHERE websocket_url = ?"
                " AND remote_control_enabled = 1 LIMIT 1",
                (target.websocket_url,),
            ).fetchone()
        return row is not None
    except (ConfigError, sqlite3.Error, OSError):
        return False


@dataclass
class RunningRemoteControl:
    service: RemoteControlService
    link: HostLink
    banner: list[str]


@asynccontextmanager
async def running(
    config: RemoteControlConfig, processor: Processor, env: Mapping[str, str]
) -> AsyncIterator[RunningRemoteControl]:
    """The service, its methods installed on ``processor``, its link and broadcaster."""
    home = codex_home(env)
    directory = identity_files.state_dir(home)
    store: Store | None = None
    try:
        identity = identity_files.load_or_create(directory)
    except OSError as exc:
        message = strings.RC_STATE_UNAVAILABLE.format(path=directory, err=exc.strerror or exc)
        if config.enabled:
            raise RuntimeFailure(message) from None
        # Not asked for remote control: a read-only CODEX_HOME must not stop the gateway.
        log.warning("%s; remoteControl/enable will fail", message)
        identity = identity_files.Identity(str(uuid.uuid4()), identity_files.hostname())
    else:
        try:
            store = await Store.open(directory)
        except StoreError as exc:
            if config.enabled:
                raise RuntimeFailure(str(exc)) from None
            log.warning("%s; remoteControl/enable will fail", exc)
    source = config.source if config.source is not None else default_source(home)
    service = RemoteControlService(
        config.target, source, identity, store, http_transport=config.http_transport
    )
    processor.gateway = RemoteControlMethods(service)
    link = HostLink(service, processor)
    if config.enabled:
        service.start_enabled()
    else:
        await service.resolve_persisted()
    banner = [
        strings.RC_BANNER_TITLE,
        strings.RC_BANNER_RELAY.format(url=config.target.base_url),
        strings.RC_BANNER_STATUS.format(
            status=service.status.value.status.value,
            name=identity.server_name,
            installation=identity.installation_id,
        ),
        strings.RC_BANNER_STATE.format(path=directory / STATE_FILE),
    ] if config.enabled or service.enabled else []
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(link.run)
            tg.start_soon(_broadcast_status, service, processor)
            try:
                yield RunningRemoteControl(service, link, banner)
            finally:
                tg.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            await service.aclose()


async def _broadcast_status(service: RemoteControlService, processor: Processor) -> None:
    """Every status change to every ready connection (coalesced: the latest value wins)."""
    while True:
        value = await service.wait_status_change()
        await processor.broadcast(status_notification(value))
