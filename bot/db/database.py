"""The one SQLite connection Haven uses, and the only way to run SQL against it.

aiosqlite runs every statement on one worker thread, so statements never overlap; what they can
do is *interleave* between awaits. `transaction()` therefore holds an asyncio lock for its whole
body, and single statements outside a transaction take the same lock, so nobody reads another
task's half-finished transaction or slips a write into it.
"""

from __future__ import annotations

import asyncio
import contextvars
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

Row = sqlite3.Row
Params = Sequence[Any] | dict[str, Any]

# Which Database (if any) the current task is inside a transaction of; lets code called from
# inside a transaction use the plain helpers without deadlocking on the lock it already holds.
_in_transaction: contextvars.ContextVar[Database | None] = contextvars.ContextVar(
    "haven_db_transaction", default=None
)

BUSY_TIMEOUT_MS = 5_000


class Database:
    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path) -> Database:
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
        return cls(conn, path)

    async def close(self) -> None:
        await self._conn.close()

    @property
    def in_transaction(self) -> bool:
        return self._conn.in_transaction

    # --- single statements -----------------------------------------------------------------

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        async with self._statement():
            return list(await self._conn.execute_fetchall(sql, params))

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def fetchval(self, sql: str, params: Params = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; returns the number of rows it changed."""
        async with self._statement(), self._conn.execute(sql, params) as cursor:
            return cursor.rowcount

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        async with self._statement():
            await self._conn.executemany(sql, rows)

    # --- transactions ----------------------------------------------------------------------

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Database]:
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

    # --- maintenance -----------------------------------------------------------------------

    async def executescript(self, script: str) -> None:
        async with self._statement():
            await self._conn.executescript(script)

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
