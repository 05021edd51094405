"""The storage layer on real SQLite files."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from bot.db import MigrationError, migrate
from bot.db.migrate import MIGRATIONS_DIR, Migration, load_migrations
from bot.db.sqlite import SqliteDatabase


async def test_migrations_apply_from_zero_in_order(tmp_path: Path) -> None:
    db = await SqliteDatabase.open(tmp_path / "h.db")
    try:
        version = await migrate(db)
        migrations = load_migrations()
        assert version == len(migrations) == migrations[-1].version
        assert await db.fetchval("PRAGMA user_version") == version
        tables = {r[0] for r in await db.fetchall("SELECT name FROM sqlite_master")}
        assert {"guild_config", "member_profile", "outbox", "deliveries", "command_sync"} <= tables
        assert await migrate(db) == version  # idempotent
    finally:
        await db.close()


async def test_connection_settings(tmp_path: Path) -> None:
    db = await SqliteDatabase.open(tmp_path / "h.db")
    try:
        assert await db.fetchval("PRAGMA journal_mode") == "wal"
        assert await db.fetchval("PRAGMA foreign_keys") == 1
        assert await db.fetchval("PRAGMA secure_delete") == 1
        assert await db.fetchval("PRAGMA busy_timeout") == 5000
    finally:
        await db.close()


def test_migration_numbers_have_no_gaps() -> None:
    versions = [m.version for m in load_migrations()]
    assert versions == list(range(1, len(versions) + 1))
    assert all(p.name[:4].isdigit() for p in MIGRATIONS_DIR.glob("*.sql"))


def test_a_gap_is_refused(tmp_path: Path) -> None:
    (tmp_path / "0001_a.sql").write_text("CREATE TABLE a (x);")
    (tmp_path / "0003_c.sql").write_text("CREATE TABLE c (x);")
    with pytest.raises(MigrationError, match="no gaps"):
        load_migrations(tmp_path)


async def test_a_failing_migration_changes_nothing(tmp_path: Path) -> None:
    db = await SqliteDatabase.open(tmp_path / "h.db")
    try:
        good = Migration(1, "0001_good.sql", "CREATE TABLE good (x);")
        bad = Migration(2, "0002_bad.sql", "CREATE TABLE half (x); INSERT INTO nowhere VALUES (1);")
        with pytest.raises(MigrationError, match="0002_bad"):
            await migrate(db, [good, bad])
        assert await db.fetchval("PRAGMA user_version") == 1
        names = {r[0] for r in await db.fetchall("SELECT name FROM sqlite_master")}
        assert "half" not in names and "good" in names
    finally:
        await db.close()


async def test_a_newer_database_is_refused(tmp_path: Path) -> None:
    db = await SqliteDatabase.open(tmp_path / "h.db")
    try:
        await db.execute("PRAGMA user_version = 999")
        with pytest.raises(MigrationError, match="newer"):
            await migrate(db)
    finally:
        await db.close()


async def test_transaction_rolls_back_and_isolates(tmp_path: Path) -> None:
    db = await SqliteDatabase.open(tmp_path / "h.db")
    try:
        await db.execute("CREATE TABLE t (x INTEGER)")
        with pytest.raises(RuntimeError):
            async with db.transaction() as tx:
                await tx.execute("INSERT INTO t VALUES (1)")
                raise RuntimeError("boom")
        assert await db.fetchval("SELECT count(*) FROM t") == 0

        seen_mid_transaction: list[int] = []
        in_tx = asyncio.Event()

        async def writer() -> None:
            async with db.transaction() as tx:
                await tx.execute("INSERT INTO t VALUES (1)")
                in_tx.set()
                await asyncio.sleep(0.05)
                await tx.execute("INSERT INTO t VALUES (2)")

        async def reader() -> None:
            await in_tx.wait()
            seen_mid_transaction.append(await db.fetchval("SELECT count(*) FROM t"))

        await asyncio.gather(writer(), reader())
        # A read outside the transaction sees the last commit at once, never half of it.
        assert seen_mid_transaction == [0]
    finally:
        await db.close()


async def test_backup_is_a_consistent_copy(tmp_path: Path) -> None:
    db = await SqliteDatabase.open(tmp_path / "h.db")
    try:
        await migrate(db)
        await db.execute(
            "INSERT INTO guild_config (guild_id, updated_at) VALUES (1, '2026-01-01T00:00:00Z')"
        )
        await db.backup(tmp_path / "copy.db")
    finally:
        await db.close()
    with sqlite3.connect(tmp_path / "copy.db") as copy:
        assert copy.execute("SELECT guild_id FROM guild_config").fetchall() == [(1,)]
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
