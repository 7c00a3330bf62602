"""Enrollments and the enabled preference, in our own SQLite file (aiosqlite).

spec/remote-control.md §9: codex's table shape, ``remote_control_enrollments`` keyed by
``(websocket_url, account_id, app_server_client_name)`` with ``server_id``,
``environment_id``, ``server_name``, ``updated_at`` (unix seconds) and the nullable
``remote_control_enabled`` (1 durable enable, 0 durable disable, NULL ephemeral). Tokens,
expiries and pairing codes are never stored.

The file is ``$CODEX_HOME/appserver/remote-control/state.sqlite`` (never codex's own
``state_5.sqlite``), 0600 in a 0700 folder. A file that is not a SQLite database is moved
aside (``state.sqlite.corrupt-<unix time>``, nothing is deleted) and a fresh one is
started, with a warning; a file that cannot be opened at all raises :class:`StoreError`
with one clear line.

The gateway serves many transports at once, so the key's client name is always ``""``
(codex uses ``""`` for every host without a stdio client).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import aiosqlite

from appserver import strings
from appserver.private_files import create_private_file, make_private_dirs

log = logging.getLogger("appserver.remote_control")

STATE_FILE = "state.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS remote_control_enrollments (
    websocket_url TEXT NOT NULL,
    account_id TEXT NOT NULL,
    app_server_client_name TEXT NOT NULL,
    server_id TEXT NOT NULL,
    environment_id TEXT NOT NULL,
    server_name TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    remote_control_enabled INTEGER,
    PRIMARY KEY (websocket_url, account_id, app_server_client_name)
)
"""


class StoreError(Exception):
    """The state file cannot be used; ``str(err)`` is one line for the user."""


@dataclass(frozen=True, slots=True)
class EnrollmentRow:
    websocket_url: str
    account_id: str
    app_server_client_name: str
    server_id: str
    environment_id: str
    server_name: str
    updated_at: int
    remote_control_enabled: int | None


class Store:
    """One open state file. Use :meth:`open` and :meth:`aclose`."""

    def __init__(self, path: Path, db: aiosqlite.Connection) -> None:
        self.path = path
        self._db = db

    @classmethod
    async def open(cls, directory: Path) -> Store:
        path = directory / STATE_FILE
        try:
            make_private_dirs(directory, tighten=True)
            create_private_file(path)
        except OSError as exc:
            raise StoreError(strings.RC_STATE_UNAVAILABLE.format(path=path, err=exc.strerror or exc)) from None
        try:
            return await cls._connect(path)
        except sqlite3.DatabaseError as exc:
            if "not a database" not in str(exc) and "malformed" not in str(exc):
                raise StoreError(strings.RC_STATE_UNAVAILABLE.format(path=path, err=exc)) from None
        moved = path.with_name(f"{STATE_FILE}.corrupt-{int(time.time())}")
        os.replace(path, moved)
        create_private_file(path)
        log.warning(strings.RC_STATE_CORRUPT.format(path=path, moved=moved))
        try:
            return await cls._connect(path)
        except sqlite3.Error as exc:
            raise StoreError(strings.RC_STATE_UNAVAILABLE.format(path=path, err=exc)) from None

    @classmethod
    async def _connect(cls, path: Path) -> Store:
        db = await aiosqlite.connect(path)
        try:
            await db.execute(_SCHEMA)
            await db.commit()
            # A header that looks right but pages that do not: fail now, not later.
            async with db.execute("PRAGMA quick_check") as cursor:
                row = await cursor.fetchone()
            if row is None or row[0] != "ok":
                raise sqlite3.DatabaseError("database disk image is malformed")
        except BaseException:
            await db.close()
            raise
        return cls(path, db)

    async def aclose(self) -> None:
        await self._db.close()

    async def get(self, websocket_url: str, account_id: str, client_name: str = "") -> EnrollmentRow | None:
        async with self._db.execute(
            "SELECT websocket_url, account_id, app_server_client_name, server_id, environment_id,"
            " server_name, updated_at, remote_control_enabled FROM remote_control_enrollments"
            " WHERE websocket_url = ? AND account_id = ? AND app_server_client_name = ?",
            (websocket_url, account_id, client_name),
        ) as cursor:
            row = await cursor.fetchone()
        return EnrollmentRow(*row) if row is not None else None

    async def upsert(
        self,
        websocket_url: str,
        account_id: str,
        client_name: str,
        *,
        server_id: str,
        environment_id: str,
        server_name: str,
    ) -> None:
        """Insert or update the enrollment, leaving ``remote_control_enabled`` untouched."""
        await self._db.execute(
            "INSERT INTO remote_control_enrollments (websocket_url, account_id,"
            " app_server_client_name, server_id, environment_id, server_name, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (websocket_url, account_id, app_server_client_name) DO UPDATE SET"
            " server_id = excluded.server_id, environment_id = excluded.environment_id,"
            " server_name = excluded.server_name, updated_at = excluded.updated_at",
            (websocket_url, account_id, client_name, server_id, environment_id, server_name, int(time.time())),
        )
        await self._db.commit()

    async def set_enabled(
        self, websocket_url: str, account_id: str, client_name: str, enabled: bool
    ) -> int:
        """Update the flag; the number of rows changed (0: the caller inserts the row)."""
        cursor = await self._db.execute(
            "UPDATE remote_control_enrollments SET remote_control_enabled = ?, updated_at = ?"
            " WHERE websocket_url = ? AND account_id = ? AND app_server_client_name = ?",
            (int(enabled), int(time.time()), websocket_url, account_id, client_name),
        )
        await self._db.commit()
        return cursor.rowcount

    async def delete(self, websocket_url: str, account_id: str, client_name: str = "") -> int:
        cursor = await self._db.execute(
            "DELETE FROM remote_control_enrollments"
            " WHERE websocket_url = ? AND account_id = ? AND app_server_client_name = ?",
            (websocket_url, account_id, client_name),
        )
        await self._db.commit()
        return cursor.rowcount

    async def enabled_preference(self, websocket_url: str, account_id: str, client_name: str = "") -> bool:
        """``remote_control_enabled = 1`` means a plain start resolves to enabled."""
        row = await self.get(websocket_url, account_id, client_name)
        return row is not None and row.remote_control_enabled == 1

    async def any_enabled(self, websocket_url: str) -> bool:
        """A durable enable for this relay by any account (for ``--listen off``)."""
        async with self._db.execute(
            "SELECT 1 FROM remote_control_enrollments WHERE websocket_url = ?"
            " AND remote_control_enabled = 1 LIMIT 1",
            (websocket_url,),
        ) as cursor:
            return await cursor.fetchone() is not None

    def __repr__(self) -> str:
        return f"<Store {self.path}>"
