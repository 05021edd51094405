"""PostgreSQL, for several Haven processes sharing one database (asyncpg, a connection pool).

What differs from SQLite lives here and nowhere else:
- parameters: services write `?` or `:name`; they become `$1…` once per distinct statement;
- transactions: SQLite has one writer at a time, and services rely on that for their
  read-then-write steps (a seat taken, a pair made). Every `transaction()` here takes the same
  transaction-scoped advisory lock first, so write transactions are serialised across every
  process exactly as SQLite serialises them, and no service needs to know about isolation
  levels. Reads and single statements outside a transaction run freely on the pool;
- migrations: a session advisory lock, so two processes starting together migrate once, and a
  `schema_version` table instead of SQLite's `user_version`;
- claims: `skip_locked` lets a process pass over rows another is claiming;
- the cluster: `cluster_lock` is a session advisory lock, `notify`/`listen` are NOTIFY/LISTEN
  on a connection of their own, so a new job wakes the other processes at once;
- `checkpoint()`: nothing to fold; PostgreSQL reclaims deleted rows with autovacuum;
- `backup()`: not this process's job; `pg_dump` is the tool;
- `reserve_slot()`: the rate budget every process of one bot token shares (see its docstring).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import hashlib
import re
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg

from bot.db.database import Database, Params, Row

POOL_SIZE = 10
# Advisory lock keys (any two bigints unique to Haven): the write lock every transaction takes,
# and the lock held while migrating.
WRITE_LOCK = 0x4A7E_0001
MIGRATE_LOCK = 0x4A7E_0002
# A reservation that takes longer than this is abandoned (the caller then paces locally).
RESERVE_TIMEOUT = 5.0
# How far ahead of the database's clock a rate budget may run. Each process holds one
# reservation at a time, so in use it runs a few slots ahead; a budget further ahead was left
# there by a clock that stepped back, and is pulled in rather than stalling every process.
BUDGET_HORIZON = 10.0
# One statement: take the budget's next slot (creating the budget on first use), by the
# database's clock, and answer how far ahead of that clock the slot is. The SET runs after the
# row lock is granted, so a reservation that queued behind another reads the clock it got in at.
_NOW = "extract(epoch FROM clock_timestamp())::float8"
_RESERVE = (
    "INSERT INTO rate_budget AS b (name, next_at)"
    f" VALUES ($1, {_NOW} + $2)"
    " ON CONFLICT (name) DO UPDATE"
    f" SET next_at = least(greatest(b.next_at, {_NOW}), {_NOW} + {BUDGET_HORIZON}) + $2"
    f" RETURNING b.next_at - $2 - {_NOW}"
)

_held: contextvars.ContextVar[tuple[PostgresDatabase, asyncpg.Connection] | None] = (
    contextvars.ContextVar("haven_pg_connection", default=None)
)
_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|::|\?\d*|:[A-Za-z_]\w*")


@functools.lru_cache(maxsize=4096)
def translate(sql: str) -> tuple[str, tuple[str, ...] | None]:
    """`?`/`:name` placeholders → `$n`; returns the statement and, for named parameters, the
    names in `$n` order (None for positional). String literals and quoted names are left be."""
    names: list[str] = []
    positional = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal positional
        token = match.group(0)
        if token[0] in "'\"" or token == "::":
            return token
        if token == "?":
            positional += 1
            return f"${positional}"
        if token[0] == "?":
            raise ValueError(f"numbered ?N parameters are SQLite's own; use :name: {sql!r}")
        name = token[1:]
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    translated = _TOKENS.sub(replace, sql)
    if names and positional:
        raise ValueError(f"a statement mixes ? and :name parameters: {sql!r}")
    return translated, (tuple(names) if names else None)


def _args(names: tuple[str, ...] | None, params: Params) -> list[Any]:
    if names is None:
        values: Iterable[Any] = params.values() if isinstance(params, dict) else params
    else:
        assert isinstance(params, dict), "named parameters need a dict"
        values = (params[name] for name in names)
    # SQLite takes True for 1; the columns are integers on both backends.
    return [int(v) if isinstance(v, bool) else v for v in values]


def _changed(status: str) -> int:
    """Rows changed, from a command tag like 'UPDATE 3' or 'INSERT 0 1'."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


def _lock_key(name: str) -> int:
    """A stable advisory-lock key for a name (a signed 64-bit integer)."""
    return int.from_bytes(hashlib.sha256(f"haven:{name}".encode()).digest()[:8], "big", signed=True)


class PostgresDatabase(Database):
    dialect = "postgresql"
    shared = True
    skip_locked = " FOR UPDATE SKIP LOCKED"

    def __init__(self, pool: asyncpg.Pool, url: str) -> None:
        self._pool = pool
        self.url = url
        self._budget: asyncpg.Connection | None = None  # reserve_slot's own connection
        self._budget_lock = asyncio.Lock()
        self._listener: asyncpg.Connection | None = None

    @classmethod
    async def open(cls, url: str, *, pool_size: int = POOL_SIZE) -> PostgresDatabase:
        pool = await asyncpg.create_pool(
            url,
            min_size=1,
            max_size=pool_size,
            # Statements are prepared once per connection and reused; services send the same
            # few hundred statements over and over.
            statement_cache_size=1024,
        )
        return cls(pool, url)

    async def close(self) -> None:
        if self._listener is not None:
            await self._listener.close()
            self._listener = None
        if self._budget is not None:
            await self._budget.close()
            self._budget = None
        await self._pool.close()

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[asyncpg.Connection]:
        held = _held.get()
        if held is not None and held[0] is self:
            yield held[1]
            return
        async with self._pool.acquire() as conn:
            yield conn

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        statement, names = translate(sql)
        async with self._connection() as conn:
            return list(await conn.fetch(statement, *_args(names, params)))

    async def execute(self, sql: str, params: Params = ()) -> int:
        statement, names = translate(sql)
        async with self._connection() as conn:
            return _changed(await conn.execute(statement, *_args(names, params)))

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        statement, names = translate(sql)
        async with self._connection() as conn:
            await conn.executemany(statement, [_args(names, row) for row in rows])

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PostgresDatabase]:
        held = _held.get()
        if held is not None and held[0] is self:
            yield self
            return
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", WRITE_LOCK)
            token = _held.set((self, conn))
            try:
                yield self
            finally:
                _held.reset(token)

    @asynccontextmanager
    async def cluster_lock(self, name: str) -> AsyncIterator[None]:
        key = _lock_key(name)
        async with self._pool.acquire() as conn:
            await conn.execute("SELECT pg_advisory_lock($1)", key)
            try:
                yield
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", key)

    async def notify(self, channel: str, payload: str) -> None:
        async with self._connection() as conn:
            await conn.execute("SELECT pg_notify($1, $2)", channel, payload)

    async def listen(self, channel: str, heard: Callable[[str], object]) -> None:
        if self._listener is None:
            # Its own connection, outside the pool: a listening connection must stay open.
            self._listener = await asyncpg.connect(self.url)

        def received(conn: object, pid: int, channel: str, payload: str) -> None:
            heard(payload)

        await self._listener.add_listener(channel, received)

    async def columns(self) -> dict[str, list[str]]:
        rows = await self.fetchall(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name != 'schema_version'"
            " ORDER BY table_name, ordinal_position"
        )
        found: dict[str, list[str]] = {}
        for row in rows:
            found.setdefault(row["table_name"], []).append(row["column_name"])
        return found

    async def checkpoint(self) -> None:
        """Nothing to fold in: autovacuum reclaims deleted rows (see the module docstring)."""

    async def backup(self, target: Path) -> None:
        raise NotImplementedError("back up PostgreSQL with pg_dump")

    async def reserve_slot(self, name: str, spacing: float) -> float | None:
        """GCRA (virtual scheduling) on one `rate_budget` row: `next_at` moves on by `spacing`
        per reservation, from now if it had fallen behind; the slot is the old `next_at`. Slots
        never come closer than `spacing` apart, whichever process takes them, and because every
        process reads the database's clock they agree on what "now" is across machines.

        It runs on a connection of its own rather than the pool's: it must never join a
        transaction the calling task happens to be inside (the row lock would then last until
        that commit, stalling every process's requests), and it must not queue for a pool
        connection behind the very work that is waiting for it to send a request.
        """
        async with self._budget_lock:
            if self._budget is None or self._budget.is_closed():
                self._budget = await asyncpg.connect(self.url, timeout=RESERVE_TIMEOUT)
            try:
                wait = await self._budget.fetchval(_RESERVE, name, spacing, timeout=RESERVE_TIMEOUT)
            except BaseException:
                # Cancelled or failed mid-statement: start the next one on a fresh connection.
                conn, self._budget = self._budget, None
                conn.terminate()
                raise
        return float(wait)

    # --- migrations ------------------------------------------------------------------------

    async def schema_version(self) -> int:
        async with self._connection() as conn:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"
            )
            version = await conn.fetchval("SELECT max(version) FROM schema_version")
        return int(version or 0)

    @asynccontextmanager
    async def migrating(self) -> AsyncIterator[None]:
        async with self._pool.acquire() as conn:
            await conn.execute("SELECT pg_advisory_lock($1)", MIGRATE_LOCK)
            token = _held.set((self, conn))
            try:
                yield
            finally:
                _held.reset(token)
                await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATE_LOCK)

    async def apply_migration(self, version: int, script: str) -> None:
        async with self._connection() as conn, conn.transaction():
            await conn.execute(script)
            await conn.execute("DELETE FROM schema_version")
            await conn.execute("INSERT INTO schema_version (version) VALUES ($1)", version)
