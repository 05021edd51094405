"""Moving a community from SQLite to PostgreSQL: `python -m bot migrate-db --to postgresql://…`.

1. The SQLite source is opened read-only (`mode=ro`) and read inside one read transaction, so
   the copy is one consistent moment even if Haven is still running (stop it first: what it
   writes afterwards is not copied). Nothing is written to it, not even a WAL checkpoint; SQLite
   may leave its -wal/-shm companion files beside it, as any reader of a WAL database does.
   It must be at this Haven's latest schema version. An older file is refused, not upgraded
   here (that would write to the source): starting Haven once on it upgrades it.
2. The target must hold no rows in any table (its `schema_version` aside): it is checked before
   anything is written to it, and `migrate()` then brings its schema up to date.
3. One PostgreSQL transaction locks every table against writers, checks again that they are
   empty, and copies each table parents first (the order comes from SQLite's foreign keys) in
   primary-key order, 5,000 rows per `COPY` (asyncpg's binary copy). It then reads every table
   back in the same order and compares row counts and a SHA-256 over each row's canonical
   form (`canonical()`: ints, text and NULL spelled the same from either side) with what was
   read from SQLite. Identity sequences are moved past the largest id SQLite ever handed out,
   which `sqlite_sequence` remembers even after the row was purged, so an id in a ledger key
   or a button is never handed out again. Only then does it commit: any error or mismatch
   rolls back, and the target is left as empty as it was found (with its schema).
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiosqlite
import asyncpg

from bot.db.database import describe
from bot.db.migrate import MIGRATIONS_ROOT, MigrationError, load_migrations, migrate

log = logging.getLogger(__name__)

BATCH_ROWS = 5_000
CONNECT_TIMEOUT = 15.0
LOCK_WAIT = "10s"  # for other sessions on the target to let go of its tables
PG_BOOKKEEPING = frozenset({"schema_version"})
# The running cluster's state, not the community's data: the shared request budget is written
# by processes on PostgreSQL only, and starts afresh there.
TRANSIENT = frozenset({"rate_budget"})


class TransferError(RuntimeError):
    """The copy failed part-way; nothing was kept in the target."""


class TransferRefused(TransferError):
    """Nothing was copied, because of something the person running it must fix first."""


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[str, ...]
    order_by: tuple[str, ...]  # the primary key; every column when there is none
    parents: frozenset[str]  # tables its foreign keys point at


@dataclass
class TableCheck:
    table: str
    source_rows: int
    source_sha256: str
    target_rows: int = 0
    target_sha256: str = ""

    @property
    def ok(self) -> bool:
        return (self.source_rows, self.source_sha256) == (self.target_rows, self.target_sha256)


@dataclass
class Report:
    source: str
    target: str
    tables: list[TableCheck] = field(default_factory=list)
    seconds: float = 0.0
    committed: bool = False

    @property
    def ok(self) -> bool:
        return all(t.ok for t in self.tables)

    @property
    def rows(self) -> int:
        return sum(t.source_rows for t in self.tables)

    def lines(self) -> list[str]:
        width = max([len("table"), *(len(t.table) for t in self.tables)])
        out = [f"{'table':<{width}}  {'rows':>9}  {'sha256':<12}  check"]
        for t in self.tables:
            if t.ok:
                out.append(f"{t.table:<{width}}  {t.source_rows:>9,}  {t.source_sha256[:12]}  ok")
            else:
                out.append(
                    f"{t.table:<{width}}  {t.source_rows:>9,}  {t.source_sha256[:12]}  MISMATCH: "
                    f"PostgreSQL holds {t.target_rows:,} rows, sha256 {t.target_sha256[:12]}"
                )
        rate = self.rows / self.seconds if self.seconds > 0 else 0.0
        out.append(
            f"{len(self.tables)} tables, {self.rows:,} rows in {self.seconds:.1f} s "
            f"({rate:,.0f} rows/s)"
        )
        return out


def canonical(rows: Iterable[Sequence[Any]]) -> bytes:
    """Rows as bytes that are equal exactly when the values are: each row's values as a Python
    tuple, one per line (1 and '1' differ, NULL is None, a newline inside text is escaped). A
    sqlite3 row and an asyncpg record holding the same values give the same bytes, and the same
    process computes both sides, so repr() is canonical here. Hashing the concatenation makes
    the digest independent of how the rows were batched."""
    return "".join([f"{tuple(row)!r}\n" for row in rows]).encode()


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def copy_order(tables: dict[str, Table]) -> list[Table]:
    """Parents before children (Kahn's algorithm; ties alphabetical, so the order is stable)."""
    waiting = {name: set(t.parents) & set(tables) - {name} for name, t in tables.items()}
    ordered: list[Table] = []
    while waiting:
        ready = sorted(name for name, parents in waiting.items() if not parents)
        if not ready:
            raise TransferError(f"the foreign keys of {', '.join(sorted(waiting))} form a cycle")
        for name in ready:
            ordered.append(tables[name])
            del waiting[name]
        for parents in waiting.values():
            parents.difference_update(ready)
    return ordered


# --- the source --------------------------------------------------------------------------


def _read_only_uri(path: Path) -> str:
    if not path.is_file():
        raise TransferRefused(f"there is no database at {path}.")
    return f"file:{quote(str(path.resolve()))}?mode=ro"


async def open_source(path: Path) -> aiosqlite.Connection:
    """The SQLite file, read-only; refused unless it is a Haven database at the latest version."""
    uri = _read_only_uri(path)
    try:
        conn = await aiosqlite.connect(uri, uri=True, isolation_level=None)
    except Exception as exc:  # aiosqlite wraps sqlite3's errors from its own thread
        raise TransferRefused(f"could not open {path} read-only: {exc}") from exc
    try:
        version = int((await _sqlite_one(conn, "PRAGMA user_version"))[0])
        latest = len(load_migrations(MIGRATIONS_ROOT / "sqlite"))
        if version == 0:
            raise TransferRefused(f"{path} is not a Haven database (it has no schema version).")
        if version < latest:
            raise TransferRefused(
                f"{path} is at schema version {version}; this Haven writes version {latest}. "
                "Start Haven once on it (python -m bot), which upgrades it, stop it, and run "
                "migrate-db again."
            )
        if version > latest:
            raise TransferRefused(
                f"{path} is at schema version {version}, newer than this Haven knows "
                f"({latest}); run migrate-db from the newer Haven that wrote it."
            )
    except TransferRefused:
        await conn.close()
        raise
    except Exception as exc:  # not a database, locked, unreadable
        await conn.close()
        raise TransferRefused(f"could not read {path}: {exc}") from exc
    return conn


async def _sqlite_one(conn: aiosqlite.Connection, sql: str) -> Sequence[Any]:
    async with conn.execute(sql) as cursor:
        row = await cursor.fetchone()
    assert row is not None
    return tuple(row)


async def read_schema(conn: aiosqlite.Connection) -> dict[str, Table]:
    tables: dict[str, Table] = {}
    names = await conn.execute_fetchall(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    )
    for (name,) in names:
        if name in TRANSIENT:
            continue
        info = list(await conn.execute_fetchall(f"PRAGMA table_info({_ident(name)})"))
        columns = tuple(str(r[1]) for r in info)
        pk = tuple(str(r[1]) for r in sorted((r for r in info if r[5]), key=lambda r: r[5]))
        keys = await conn.execute_fetchall(f"PRAGMA foreign_key_list({_ident(name)})")
        tables[name] = Table(name, columns, pk or columns, frozenset(str(k[2]) for k in keys))
    return tables


async def highest_ids(conn: aiosqlite.Connection) -> dict[str, int]:
    """Per AUTOINCREMENT table, the largest id SQLite ever handed out (purged rows included)."""
    has = await conn.execute_fetchall(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'"
    )
    if not list(has):
        return {}
    rows = await conn.execute_fetchall("SELECT name, seq FROM sqlite_sequence")
    return {str(name): int(seq) for name, seq in rows}


def _select(table: Table, *, nulls_first: bool) -> str:
    columns = ", ".join(_ident(c) for c in table.columns)
    # Primary keys are never NULL; ordering by every column (no primary key) may meet NULLs,
    # which SQLite sorts first and PostgreSQL last unless told.
    nulls = " NULLS FIRST" if nulls_first and table.order_by == table.columns else ""
    order = ", ".join(f"{_ident(c)}{nulls}" for c in table.order_by)
    return f"SELECT {columns} FROM {_ident(table.name)} ORDER BY {order}"


# --- the target --------------------------------------------------------------------------


async def connect_target(url: str) -> asyncpg.Connection:
    where = describe(url)
    try:
        conn: asyncpg.Connection = await asyncpg.connect(url, timeout=CONNECT_TIMEOUT)
    except asyncpg.InvalidCatalogNameError:
        raise TransferRefused(
            f"the database in {where} does not exist. Create it (createdb, or CREATE DATABASE) "
            "and run migrate-db again."
        ) from None
    except (asyncpg.InvalidAuthorizationSpecificationError, asyncpg.InvalidPasswordError) as e:
        raise TransferRefused(f"PostgreSQL at {where} refused the login: {e}") from None
    except (OSError, TimeoutError) as exc:
        raise TransferRefused(
            f"could not reach PostgreSQL at {where} ({exc}). Is the server running, and are "
            "the host and port right?"
        ) from None
    except (asyncpg.PostgresError, asyncpg.InterfaceError, ValueError) as exc:
        raise TransferRefused(f"could not connect to {where}: {exc}") from None
    return conn


async def _tables_with_rows(conn: asyncpg.Connection) -> list[str]:
    names = await conn.fetch(
        "SELECT table_name FROM information_schema.tables"
        " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        " ORDER BY table_name"
    )
    full = []
    for (name,) in names:
        if name in PG_BOOKKEEPING:
            continue
        if await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {_ident(name)})"):
            full.append(str(name))
    return full


def _refuse_if_full(full: list[str], where: str) -> None:
    if full:
        raise TransferRefused(
            f"the target already holds data (in {', '.join(full)}); migrate-db only fills an "
            f"empty database, and {where} was left as it was. Create a new database for Haven "
            "and run migrate-db again."
        )


async def _target_columns(conn: asyncpg.Connection) -> dict[str, set[str]]:
    rows = await conn.fetch(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema()"
    )
    found: dict[str, set[str]] = {}
    for table, column in rows:
        found.setdefault(str(table), set()).add(str(column))
    return found


async def _move_sequences(
    conn: asyncpg.Connection, highest: dict[str, int], tables: dict[str, Table]
) -> None:
    """Identity sequences past the largest id in the table and the largest SQLite handed out."""
    identities = await conn.fetch(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND is_identity = 'YES'"
    )
    for table, column in identities:
        if table not in tables:
            continue
        sequence = await conn.fetchval(
            "SELECT pg_get_serial_sequence($1, $2)", _ident(table), column
        )
        largest = await conn.fetchval(f"SELECT max({_ident(column)}) FROM {_ident(table)}")
        wanted = max(int(largest or 0), highest.get(table, 0))
        last, called = await conn.fetchrow(f"SELECT last_value, is_called FROM {sequence}")
        used = int(last) if called else int(last) - 1
        if wanted > used:  # never move a sequence back: ids it handed out stay used
            await conn.execute("SELECT setval($1::regclass, $2, true)", sequence, wanted)


# --- the copy ----------------------------------------------------------------------------


async def read_back(
    conn: asyncpg.Connection, select: str
) -> AsyncIterator[Sequence[Sequence[Any]]]:
    """The target's rows in batches, in order, from a server-side cursor (memory stays one
    batch; a cursor needs the transaction the copy runs in)."""
    cursor = await conn.cursor(select)
    while batch := await cursor.fetch(BATCH_ROWS):
        yield batch


async def transfer(source: Path, target_url: str) -> Report:
    """Copy the SQLite database at `source` into the empty PostgreSQL database at `target_url`.

    Returns the per-table report; `report.committed` is False when the check found a mismatch
    (and nothing was kept). Raises TransferRefused before writing anything when the source or
    target is not fit, and TransferError when the copy failed (nothing kept either).
    """
    where = describe(target_url)
    began = time.monotonic()
    report = Report(str(source), where)
    src = await open_source(source)
    try:
        dst = await connect_target(target_url)
        try:
            _refuse_if_full(await _tables_with_rows(dst), where)
            await _migrate_target(target_url)
            await src.execute("BEGIN")  # one snapshot for schema, ids and every row
            try:
                tables = await read_schema(src)
                highest = await highest_ids(src)
                await _check_same_schema(dst, tables)
                await _copy_all(src, dst, tables, highest, report, where)
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, sqlite3.Error) as exc:
                raise TransferError(
                    f"the copy into {where} stopped: {exc}. Nothing was kept in the target."
                ) from exc
            finally:
                await src.execute("COMMIT")
        finally:
            await dst.close()
    finally:
        await src.close()
    report.seconds = time.monotonic() - began
    return report


async def _migrate_target(url: str) -> None:
    from bot.db.postgres import PostgresDatabase

    db = await PostgresDatabase.open(url, pool_size=2)
    try:
        await migrate(db)
    except (MigrationError, asyncpg.PostgresError) as exc:
        raise TransferRefused(f"could not prepare {describe(url)}: {exc}") from exc
    finally:
        await db.close()


async def _check_same_schema(dst: asyncpg.Connection, tables: dict[str, Table]) -> None:
    target = await _target_columns(dst)
    for table in tables.values():
        if set(table.columns) != target.get(table.name, set()):
            raise TransferRefused(
                f"table {table.name} differs between the SQLite database "
                f"({', '.join(table.columns)}) and the PostgreSQL schema "
                f"({', '.join(sorted(target.get(table.name, ()))) or 'missing'}); the two "
                "backends' migrations disagree. Please report this."
            )


async def _copy_all(
    src: aiosqlite.Connection,
    dst: asyncpg.Connection,
    tables: dict[str, Table],
    highest: dict[str, int],
    report: Report,
    where: str,
) -> None:
    ordered = copy_order(tables)
    transaction = dst.transaction()
    await transaction.start()
    try:
        # Writers (a Haven already started on the target, a second migrate-db) wait for us,
        # and we see their rows if they got in first.
        names = ", ".join(_ident(t.name) for t in ordered)
        await dst.execute(f"SET LOCAL lock_timeout = '{LOCK_WAIT}'")
        try:
            await dst.execute(f"LOCK TABLE {names} IN EXCLUSIVE MODE")
        except asyncpg.LockNotAvailableError:
            raise TransferRefused(
                f"another process kept {where} busy for {LOCK_WAIT}; stop every Haven process "
                "using it and run migrate-db again."
            ) from None
        _refuse_if_full(await _tables_with_rows(dst), where)
        for table in ordered:
            report.tables.append(await _copy_table(src, dst, table))
        for check in report.tables:
            await _verify_table(dst, tables[check.table], check)
        if not report.ok:
            await transaction.rollback()
            return
        await _move_sequences(dst, highest, tables)
    except BaseException:
        await transaction.rollback()
        raise
    await transaction.commit()
    report.committed = True


async def _copy_table(
    src: aiosqlite.Connection, dst: asyncpg.Connection, table: Table
) -> TableCheck:
    digest, count, columns = hashlib.sha256(), 0, list(table.columns)
    async with src.execute(_select(table, nulls_first=False)) as cursor:
        while batch := list(await cursor.fetchmany(BATCH_ROWS)):
            digest.update(canonical(batch))
            try:
                await dst.copy_records_to_table(table.name, records=batch, columns=columns)
            except (asyncpg.PostgresError, asyncpg.InterfaceError, ValueError, TypeError) as exc:
                raise TransferError(
                    f"copying {table.name} failed (rows {count + 1:,} to {count + len(batch):,}):"
                    f" {exc}. Nothing was kept in the target."
                ) from exc
            count += len(batch)
    log.info("copied %s: %d rows", table.name, count)
    return TableCheck(table.name, count, digest.hexdigest())


async def _verify_table(dst: asyncpg.Connection, table: Table, check: TableCheck) -> None:
    digest = hashlib.sha256()
    count = 0
    async for batch in read_back(dst, _select(table, nulls_first=True)):
        digest.update(canonical(batch))
        count += len(batch)
    check.target_rows, check.target_sha256 = count, digest.hexdigest()
