"""SQLite, the default backend: one connection, and the only way to run SQL against it.

aiosqlite runs every statement on one worker thread, so statements never overlap; what they can
do is *interleave* between awaits. `transaction()` therefore holds an asyncio lock for its whole
body, and single statements outside a transaction take the same lock, so nobody reads another
task's half-finished transaction or slips a write into it.
"""

from __future__ import annotations

import asyncio
import contextvars
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite

from bot.db.database import Database, Params, Row

# Which Database (if any) the current task is inside a transaction of; lets code called from
# inside a transaction use the plain helpers without deadlocking on the lock it already holds.
_in_transaction: contextvars.ContextVar[SqliteDatabase | None] = contextvars.ContextVar(
    "haven_db_transaction", default=None
)

BUSY_TIMEOUT_MS = 5_000
_READ = re.compile(r"\s*SELECT\b", re.IGNORECASE)


class SqliteDatabase(Database):
    dialect = "sqlite"
    shared = False  # one process owns the file
    skip_locked = ""  # one writer at a time: nothing to skip

    def __init__(
        self, conn: aiosqlite.Connection, path: Path, reader: aiosqlite.Connection | None = None
    ) -> None:
        self._conn = conn
        self._reader = reader
        self.path = path
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path) -> SqliteDatabase:
        """Open (creating if needed) the database file with Haven's connection settings."""
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(path, isolation_level=None)
        conn.row_factory = sqlite3.Row
        # WAL: readers (a backup, a second process) never block the bot's writes.
        # secure_delete: deleted rows are overwritten with zeros, so /my forget really forgets.
        for pragma in (
            "journal_mode = WAL",
            "foreign_keys = ON",
            f"busy_timeout = {BUSY_TIMEOUT_MS}",
            "secure_delete = ON",
            "synchronous = NORMAL",
        ):
            await conn.execute(f"PRAGMA {pragma}")
        # Plain reads go to a read-only connection of their own and wait for no lock: WAL
        # shows them the last commit, never half a transaction. Queued behind the writer's
        # lock, a command of many reads waited for every fan-out statement in between
        # (`bench/load.py`: p99 65 → 32 ms quiet, 1.5 s → 0.16 s on a busy machine).
        where = (await asyncio.to_thread(path.resolve)).as_uri()
        reader = await aiosqlite.connect(f"{where}?mode=ro", uri=True, isolation_level=None)
        reader.row_factory = sqlite3.Row
        await reader.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        return cls(conn, path, reader)

    async def close(self) -> None:
        if self._reader is not None:
            await self._reader.close()
        await self._conn.close()

    # --- single statements -----------------------------------------------------------------

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        # A transaction reads its own writes; anything but a SELECT (an UPDATE … RETURNING)
        # writes.
        if self._reader is not None and _in_transaction.get() is not self and _READ.match(sql):
            return list(await self._reader.execute_fetchall(sql, params))
        async with self._statement():
            return list(await self._conn.execute_fetchall(sql, params))

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; returns the number of rows it changed."""
        async with self._statement(), self._conn.execute(sql, params) as cursor:
            return cursor.rowcount

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        async with self._statement():
            await self._conn.executemany(sql, rows)

    # --- transactions ----------------------------------------------------------------------

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqliteDatabase]:
        """`BEGIN IMMEDIATE` … `COMMIT` (or `ROLLBACK` on error), holding the lock throughout.

        Nested use joins the outer transaction. Use it for every read-then-write.
        """
        if _in_transaction.get() is self:
            yield self
            return
        async with self._lock:
            token = _in_transaction.set(self)
            try:
                await self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self
                except BaseException:
                    await self._conn.execute("ROLLBACK")
                    raise
                await self._conn.execute("COMMIT")
            finally:
                _in_transaction.reset(token)

    @asynccontextmanager
    async def _statement(self) -> AsyncIterator[None]:
        if _in_transaction.get() is self:
            yield
            return
        async with self._lock:
            yield

    @asynccontextmanager
    async def cluster_lock(self, name: str) -> AsyncIterator[None]:
        yield  # the only process

    async def notify(self, channel: str, payload: str) -> None:
        """Nobody else to tell."""

    async def listen(self, channel: str, heard: Callable[[str], object]) -> None:
        """Nobody else to hear from."""

    async def columns(self) -> dict[str, list[str]]:
        tables = await self.fetchall(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            " ORDER BY name"
        )
        return {
            t["name"]: [c["name"] for c in await self.fetchall(f"PRAGMA table_info({t['name']})")]
            for t in tables
        }

    async def reserve_slot(self, name: str, spacing: float) -> float | None:
        """None: one process owns a SQLite file, so its own pacer's count is the whole count."""
        return None

    # --- migrations ------------------------------------------------------------------------

    async def schema_version(self) -> int:
        return int(await self.fetchval("PRAGMA user_version"))

    @asynccontextmanager
    async def migrating(self) -> AsyncIterator[None]:
        # Rebuilding a table (SQLite's way to change a column) drops it, and with foreign keys
        # on that would cascade into the rows that refer to it. So keys are off while migrating
        # and checked before each commit, as SQLite's documentation prescribes. One process
        # owns a SQLite file, so there is no one else to keep out.
        await self.execute("PRAGMA foreign_keys = OFF")
        try:
            yield
        finally:
            await self.execute("PRAGMA foreign_keys = ON")

    async def apply_migration(self, version: int, script: str) -> None:
        async with self._statement():
            try:
                await self._conn.executescript(
                    f"BEGIN;\n{script}\nPRAGMA user_version = {version};"
                )
                broken = list(await self._conn.execute_fetchall("PRAGMA foreign_key_check"))
                if broken:
                    raise ValueError(f"{len(broken)} rows would break foreign keys")
                await self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:  # the script stopped between BEGIN and COMMIT
                    await self._conn.execute("ROLLBACK")
                raise

    # --- maintenance -----------------------------------------------------------------------

    async def checkpoint(self) -> None:
        """Fold the WAL into the main file and truncate it, so deleted bytes leave the WAL too."""
        async with self._statement():
            await self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    async def backup(self, target: Path) -> None:
        """Write a consistent copy of the database to `target` (SQLite's online backup API)."""
        target.parent.mkdir(parents=True, exist_ok=True)
        async with self._statement():
            dest = await aiosqlite.connect(target)
            try:
                await self._conn.backup(dest)
            finally:
                await dest.close()
