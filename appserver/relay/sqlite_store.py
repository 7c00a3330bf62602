"""The single-node :class:`~appserver.relay.store.RelayStore`: one SQLite file via aiosqlite.

The file is created 0600 in a 0700 folder, in WAL mode with a busy timeout, so the
``appserver relay account|device|audit`` tooling can change it while the relay runs; the
relay notices through :meth:`SqliteStore.change_marker` (``PRAGMA data_version``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import aiosqlite
import anyio

from appserver import limits, strings
from appserver.relay.store import Account, AuditEvent, Device, Pairing, Server, StoreError
from appserver.private_files import create_private_file

_SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    account_id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS account_credentials (
    digest BLOB PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(account_id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS servers (
    server_id TEXT PRIMARY KEY,
    environment_id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL REFERENCES accounts(account_id) ON DELETE CASCADE,
    installation_id TEXT NOT NULL,
    name TEXT NOT NULL,
    os TEXT NOT NULL,
    arch TEXT NOT NULL,
    app_server_version TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (account_id, installation_id)
);
CREATE TABLE IF NOT EXISTS host_tokens (
    digest BLOB PRIMARY KEY,
    server_id TEXT NOT NULL REFERENCES servers(server_id) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS host_tokens_server ON host_tokens(server_id, expires_at);
CREATE TABLE IF NOT EXISTS pairing_codes (
    code_digest BLOB PRIMARY KEY,
    manual_digest BLOB UNIQUE,
    server_id TEXT NOT NULL REFERENCES servers(server_id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    claimed_by TEXT
);
CREATE INDEX IF NOT EXISTS pairing_codes_server ON pairing_codes(server_id, created_at);
CREATE TABLE IF NOT EXISTS devices (
    client_id TEXT PRIMARY KEY,
    server_id TEXT NOT NULL REFERENCES servers(server_id) ON DELETE CASCADE,
    token_digest BLOB NOT NULL UNIQUE,
    display_name TEXT, device_type TEXT, platform TEXT, os_version TEXT,
    device_model TEXT, app_version TEXT,
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER
);
CREATE INDEX IF NOT EXISTS devices_server ON devices(server_id, created_at, client_id);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts INTEGER NOT NULL,
    event TEXT NOT NULL,
    account TEXT, server_id TEXT, client_id TEXT, peer TEXT, detail TEXT
);
"""

_SERVER_COLUMNS = (
    "server_id, environment_id, account_id, installation_id, name, os, arch, app_server_version, created_at"
)
_DEVICE_COLUMNS = (
    "client_id, server_id, display_name, device_type, platform, os_version, device_model, "
    "app_version, created_at, last_seen_at"
)


class SqliteStore:
    """SQLite implementation of :class:`~appserver.relay.store.RelayStore`."""

    def __init__(self, db: aiosqlite.Connection, path: Path) -> None:
        self._db = db
        self.path = path
        # One connection: transactions of concurrent tasks must not interleave.
        self._lock = anyio.Lock()

    @classmethod
    async def open(cls, path: Path) -> SqliteStore:
        """Open (creating 0600, folders 0700) and migrate; :class:`StoreError` on failure."""
        try:
            if not path.exists():
                create_private_file(path)
            db = await aiosqlite.connect(path, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(str(exc)) from None
        try:
            await db.execute("PRAGMA busy_timeout = 5000")
            await db.execute("PRAGMA foreign_keys = ON")
            await db.execute("PRAGMA journal_mode = WAL")
            await db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            await db.close()
            raise StoreError(str(exc)) from None
        return cls(db, path)

    def __repr__(self) -> str:
        return f"<SqliteStore {self.path}>"

    async def close(self) -> None:
        await self._db.close()

    async def ping(self) -> None:
        await self._one("SELECT 1")

    async def change_marker(self) -> int:
        row = await self._one("PRAGMA data_version")
        return int(row[0]) if row else 0

    # --- helpers ------------------------------------------------------------------------

    async def _one(self, sql: str, args: Iterable[Any] = ()) -> Any:
        async with self._db.execute(sql, tuple(args)) as cur:
            return await cur.fetchone()

    async def _all(self, sql: str, args: Iterable[Any] = ()) -> list[Any]:
        async with self._db.execute(sql, tuple(args)) as cur:
            return list(await cur.fetchall())

    async def _write(self, statements: list[tuple[str, tuple[Any, ...]]]) -> int:
        """Run statements in one transaction; rows changed by the last one."""
        changed = 0
        async with self._lock:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                for sql, args in statements:
                    cur = await self._db.execute(sql, args)
                    changed = cur.rowcount
                await self._db.execute("COMMIT")
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise
        return changed

    # --- accounts -----------------------------------------------------------------------

    async def add_account(self, name: str, account_id: str, credential: bytes, now: int) -> Account:
        try:
            await self._write([
                ("INSERT INTO accounts VALUES (?, ?, ?)", (account_id, name, now)),
                ("INSERT INTO account_credentials VALUES (?, ?, ?)", (credential, account_id, now)),
            ])
        except sqlite3.IntegrityError:
            raise StoreError(strings.RELAY_ACCOUNT_EXISTS.format(name=name)) from None
        return Account(account_id, name, now)

    async def accounts(self) -> list[Account]:
        rows = await self._all("SELECT account_id, name, created_at FROM accounts ORDER BY name")
        return [Account(*row) for row in rows]

    async def account_by_name(self, name: str) -> Account | None:
        row = await self._one("SELECT account_id, name, created_at FROM accounts WHERE name = ?", (name,))
        return Account(*row) if row else None

    async def remove_account(self, name: str) -> Account | None:
        account = await self.account_by_name(name)
        if account is None:
            return None
        await self._write([("DELETE FROM accounts WHERE account_id = ?", (account.account_id,))])
        return account

    async def add_credential(self, account_id: str, credential: bytes, now: int) -> None:
        await self._write([
            # The oldest credentials go first once an account has too many.
            (
                "DELETE FROM account_credentials WHERE account_id = ? AND digest IN ("
                " SELECT digest FROM account_credentials WHERE account_id = ?"
                " ORDER BY created_at DESC LIMIT -1 OFFSET ?)",
                (account_id, account_id, limits.RELAY_MAX_CREDENTIALS_PER_ACCOUNT - 1),
            ),
            ("INSERT INTO account_credentials VALUES (?, ?, ?)", (credential, account_id, now)),
        ])

    async def account_for_credential(self, credential: bytes) -> Account | None:
        row = await self._one(
            "SELECT a.account_id, a.name, a.created_at FROM account_credentials c"
            " JOIN accounts a USING (account_id) WHERE c.digest = ?",
            (credential,),
        )
        return Account(*row) if row else None

    async def server_count(self, account_id: str) -> int:
        row = await self._one("SELECT count(*) FROM servers WHERE account_id = ?", (account_id,))
        return int(row[0])

    # --- servers ------------------------------------------------------------------------

    async def server(self, server_id: str) -> Server | None:
        row = await self._one(f"SELECT {_SERVER_COLUMNS} FROM servers WHERE server_id = ?", (server_id,))
        return Server(*row) if row else None

    async def server_by_environment(self, environment_id: str) -> Server | None:
        row = await self._one(
            f"SELECT {_SERVER_COLUMNS} FROM servers WHERE environment_id = ?", (environment_id,)
        )
        return Server(*row) if row else None

    async def server_by_installation(self, account_id: str, installation_id: str) -> Server | None:
        row = await self._one(
            f"SELECT {_SERVER_COLUMNS} FROM servers WHERE account_id = ? AND installation_id = ?",
            (account_id, installation_id),
        )
        return Server(*row) if row else None

    async def servers(self) -> list[Server]:
        rows = await self._all(f"SELECT {_SERVER_COLUMNS} FROM servers ORDER BY created_at")
        return [Server(*row) for row in rows]

    async def add_server(self, server: Server) -> None:
        await self._write([(f"INSERT INTO servers ({_SERVER_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)", (
            server.server_id, server.environment_id, server.account_id, server.installation_id,
            server.name, server.os, server.arch, server.app_server_version, server.created_at,
        ))])

    async def update_server(self, server: Server) -> None:
        await self._write([(
            "UPDATE servers SET name = ?, os = ?, arch = ?, app_server_version = ? WHERE server_id = ?",
            (server.name, server.os, server.arch, server.app_server_version, server.server_id),
        )])

    async def add_host_token(self, server_id: str, token: bytes, expires_at: int, now: int) -> None:
        await self._write([
            ("DELETE FROM host_tokens WHERE server_id = ? AND expires_at <= ?", (server_id, now)),
            (
                "DELETE FROM host_tokens WHERE server_id = ? AND digest IN ("
                " SELECT digest FROM host_tokens WHERE server_id = ?"
                " ORDER BY expires_at DESC LIMIT -1 OFFSET ?)",
                (server_id, server_id, limits.RELAY_HOST_TOKENS_PER_SERVER - 1),
            ),
            ("INSERT INTO host_tokens VALUES (?, ?, ?)", (token, server_id, expires_at)),
        ])

    async def host_token_server(self, token: bytes, now: int) -> str | None:
        row = await self._one(
            "SELECT server_id FROM host_tokens WHERE digest = ? AND expires_at > ?", (token, now)
        )
        return row[0] if row else None

    # --- pairing codes ------------------------------------------------------------------

    async def add_pairing(self, pairing: Pairing, now: int) -> bool:
        forget_before = now - limits.RELAY_PAIRING_CODE_RETENTION
        try:
            await self._write([
                ("DELETE FROM pairing_codes WHERE expires_at < ?", (forget_before,)),
                (
                    "DELETE FROM pairing_codes WHERE server_id = ? AND claimed_by IS NULL"
                    " AND expires_at > ? AND code_digest IN ("
                    " SELECT code_digest FROM pairing_codes WHERE server_id = ? AND claimed_by IS NULL"
                    " AND expires_at > ? ORDER BY created_at DESC LIMIT -1 OFFSET ?)",
                    (pairing.server_id, now, pairing.server_id, now,
                     limits.RELAY_PAIRING_CODES_PER_SERVER - 1),
                ),
                ("INSERT INTO pairing_codes VALUES (?, ?, ?, ?, ?, NULL)", (
                    pairing.code_digest, pairing.manual_digest, pairing.server_id, now,
                    pairing.expires_at,
                )),
            ])
        except sqlite3.IntegrityError:
            return False
        return True

    async def pairing_by_code(self, code: bytes) -> Pairing | None:
        row = await self._one(
            "SELECT code_digest, manual_digest, server_id, expires_at, claimed_by FROM pairing_codes"
            " WHERE code_digest = ?",
            (code,),
        )
        return Pairing(*row) if row else None

    async def pairing_by_manual(self, manual: bytes) -> Pairing | None:
        row = await self._one(
            "SELECT code_digest, manual_digest, server_id, expires_at, claimed_by FROM pairing_codes"
            " WHERE manual_digest = ?",
            (manual,),
        )
        return Pairing(*row) if row else None

    async def claim_pairing(self, code: bytes, device: Device, token: bytes, now: int) -> bool:
        async with self._lock:
            return await self._claim_locked(code, device, token, now)

    async def _claim_locked(self, code: bytes, device: Device, token: bytes, now: int) -> bool:
        await self._db.execute("BEGIN IMMEDIATE")
        try:
            cur = await self._db.execute(
                "UPDATE pairing_codes SET claimed_by = ?"
                " WHERE code_digest = ? AND claimed_by IS NULL AND expires_at > ?",
                (device.client_id, code, now),
            )
            if cur.rowcount != 1:
                await self._db.execute("ROLLBACK")
                return False
            await self._db.execute(f"INSERT INTO devices ({_DEVICE_COLUMNS}, token_digest) VALUES (?,?,?,?,?,?,?,?,?,?,?)", (
                device.client_id, device.server_id, device.display_name, device.device_type,
                device.platform, device.os_version, device.device_model, device.app_version,
                device.created_at, device.last_seen_at, token,
            ))
            await self._db.execute("COMMIT")
        except BaseException:
            await self._db.execute("ROLLBACK")
            raise
        return True

    # --- devices ------------------------------------------------------------------------

    async def device_count(self, server_id: str) -> int:
        row = await self._one("SELECT count(*) FROM devices WHERE server_id = ?", (server_id,))
        return int(row[0])

    async def device_for_token(self, token: bytes) -> Device | None:
        row = await self._one(f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE token_digest = ?", (token,))
        return Device(*row) if row else None

    async def device(self, client_id: str) -> Device | None:
        row = await self._one(f"SELECT {_DEVICE_COLUMNS} FROM devices WHERE client_id = ?", (client_id,))
        return Device(*row) if row else None

    async def devices(
        self, server_id: str | None, *, after: tuple[int, str] | None, limit: int, descending: bool
    ) -> list[Device]:
        where: list[str] = []
        args: list[Any] = []
        if server_id is not None:
            where.append("server_id = ?")
            args.append(server_id)
        if after is not None:
            where.append("(created_at, client_id) < (?, ?)" if descending else "(created_at, client_id) > (?, ?)")
            args += list(after)
        order = "DESC" if descending else "ASC"
        sql = f"SELECT {_DEVICE_COLUMNS} FROM devices"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY created_at {order}, client_id {order} LIMIT ?"
        rows = await self._all(sql, [*args, limit])
        return [Device(*row) for row in rows]

    async def remove_device(self, client_id: str) -> Device | None:
        device = await self.device(client_id)
        if device is None:
            return None
        await self._write([("DELETE FROM devices WHERE client_id = ?", (client_id,))])
        return device

    async def touch_device(self, client_id: str, now: int) -> None:
        await self._write([("UPDATE devices SET last_seen_at = ? WHERE client_id = ?", (now, client_id))])

    async def existing_devices(self, client_ids: Iterable[str]) -> set[str]:
        return await self._existing("devices", "client_id", client_ids)

    async def existing_servers(self, server_ids: Iterable[str]) -> set[str]:
        return await self._existing("servers", "server_id", server_ids)

    async def _existing(self, table: str, column: str, ids: Iterable[str]) -> set[str]:
        wanted = list(dict.fromkeys(ids))
        found: set[str] = set()
        for start in range(0, len(wanted), 500):
            batch = wanted[start:start + 500]
            marks = ",".join("?" * len(batch))
            rows = await self._all(f"SELECT {column} FROM {table} WHERE {column} IN ({marks})", batch)
            found.update(row[0] for row in rows)
        return found

    # --- audit --------------------------------------------------------------------------

    async def audit(
        self,
        event: str,
        now: int,
        *,
        account: str | None = None,
        server_id: str | None = None,
        client_id: str | None = None,
        peer: str | None = None,
        detail: str | None = None,
    ) -> None:
        await self._write([(
            "INSERT INTO audit (ts, event, account, server_id, client_id, peer, detail)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (now, event, account, server_id, client_id, peer, detail),
        )])

    async def audit_events(self, *, limit: int, event: str | None = None) -> list[AuditEvent]:
        sql = "SELECT id, ts, event, account, server_id, client_id, peer, detail FROM audit"
        args: list[Any] = []
        if event is not None:
            sql += " WHERE event = ?"
            args.append(event)
        sql += " ORDER BY id DESC LIMIT ?"
        rows = await self._all(sql, [*args, limit])
        return [AuditEvent(*row) for row in reversed(rows)]
