"""The storage interface every service calls, whichever database is behind it.

Services write one SQL dialect: what SQLite and PostgreSQL both run, with `?` or `:name`
parameters. The backends (`bot/db/sqlite.py`, `bot/db/postgres.py`) own every difference: how
parameters are spelled, what a transaction locks, and what "checkpoint" and "backup" mean.
`open_database(url)` picks one from DATABASE_URL.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, Protocol

Params = Sequence[Any] | dict[str, Any]


class Row(Protocol):
    """A result row: by column name or position (sqlite3.Row and asyncpg.Record both are)."""

    def __getitem__(self, key: int | str, /) -> Any: ...

    def keys(self) -> Iterable[str]: ...

    def __iter__(self) -> Iterator[Any]: ...

    def __len__(self) -> int: ...


class Database(abc.ABC):
    """What services may ask of storage. Writes that read first go in `transaction()`."""

    dialect: str  # "sqlite" or "postgresql"
    # Whether other processes may use this database at the same time (then claims need
    # leases, and start-up work a lock).
    shared: bool
    # Appended to the sub-select that picks rows to claim: other processes' claims are
    # skipped rather than waited for.
    skip_locked: str

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def fetchval(self, sql: str, params: Params = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]

    @abc.abstractmethod
    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; returns the number of rows it changed."""

    @abc.abstractmethod
    async def executemany(self, sql: str, rows: Iterable[Params]) -> None: ...

    @abc.abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Database]:
        """All-or-nothing, and no other writer in between (a read-then-write is safe).

        Nested use joins the outer transaction.
        """

    @abc.abstractmethod
    def cluster_lock(self, name: str) -> AbstractAsyncContextManager[None]:
        """Held by one process of the cluster at a time (waits for it): work that must not
        run twice at once, such as start-up planning and the command sync."""

    @abc.abstractmethod
    async def notify(self, channel: str, payload: str) -> None:
        """Tell every other process listening on `channel` (nothing when not shared)."""

    @abc.abstractmethod
    async def listen(self, channel: str, heard: Callable[[str], object]) -> None:
        """Call `heard(payload)` for every notification on `channel`, until `close()`."""

    @abc.abstractmethod
    async def columns(self) -> dict[str, list[str]]:
        """Haven's tables, each with its columns in order (not the backend's own tables)."""

    @abc.abstractmethod
    async def checkpoint(self) -> None:
        """Make deleted rows leave whatever logs the database keeps beside its tables."""

    @abc.abstractmethod
    async def backup(self, target: Path) -> None:
        """Write a consistent copy of the whole database to `target`."""

    @abc.abstractmethod
    async def reserve_slot(self, name: str, spacing: float) -> float | None:
        """Take the next slot of the rate budget `name` shared by every process on this database
        (slots `spacing` seconds apart, by the database's clock); returns how many seconds from
        now the caller may act (≤ 0: at once). None: nobody else shares this database, so the
        caller paces itself locally (`bot/pacing.py`)."""

    @abc.abstractmethod
    async def schema_version(self) -> int: ...

    @abc.abstractmethod
    def migrating(self) -> AbstractAsyncContextManager[None]:
        """Held while migrations run: one process at a time migrates."""

    @abc.abstractmethod
    async def apply_migration(self, version: int, script: str) -> None:
        """Run one migration script and record `version`, all or nothing."""


def describe(url: str) -> str:
    """The URL without a password, for logs."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://{rest.split('@', 1)[1]}"
    return url


async def open_database(url: str) -> Database:
    """The database DATABASE_URL names: `sqlite:///path` or `postgresql://…`."""
    from bot.config import database_path, is_postgresql

    if is_postgresql(url):
        from bot.db.postgres import PostgresDatabase

        return await PostgresDatabase.open(url)
    from bot.db.sqlite import SqliteDatabase

    return await SqliteDatabase.open(database_path(url))
