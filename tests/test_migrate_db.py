"""`python -m bot migrate-db --to postgresql://…` moves a community from SQLite to PostgreSQL.

The source is made the way a community makes one: the real bot, against the fake Discord, is
set up, checked in with, reminded, circled and paired (the talking piece alone is written in
SQL), and every table is asserted non-empty, so a table added later without data here fails
loudly. Then 20,000 more check-ins and deliveries make the copy run in several batches, and the
newest check-in is purged as retention would, so SQLite has handed out an id no row holds any
more. A throwaway PostgreSQL cluster (tests/pgcluster.py) is the target. Proven, through
`bot.__main__.main` as a person runs it:
- every table arrives whole: the command's own report says so, and the test compares every row
  of every table itself; ids continue past the largest SQLite ever handed out;
- the source file is byte-identical afterwards;
- a target holding any row, or held by another writer, is refused and left as it was;
- bad targets, a source that is not SQLite, missing or not up to date are refused kindly (exit 2)
  and write nothing; a copy that fails part-way or does not match exits 1 and keeps nothing;
- Haven starts on the moved database (commands already synced, ids continuing) and serves its
  members from it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import copy
import hashlib
import itertools
import socket
import sqlite3
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import asyncpg
import discord
import pytest

import bot.db.transfer as transfer_module
from bot.__main__ import main
from bot.db import migrate, open_database
from bot.db.migrate import MIGRATIONS_ROOT, load_migrations
from bot.db.transfer import TRANSIENT, Table, TransferError, copy_order
from tests.clock import FakeClock, utc
from tests.conftest import TOKEN, Haven, say
from tests.fakediscord import (
    ALICE,
    BOB,
    CAROL,
    CH_BUDDIES,
    CH_CHECKINS,
    CH_CIRCLES,
    CH_MODS,
    GUILD,
    MONA,
    FakeDiscord,
)
from tests.pgcluster import PgCluster, pg_cluster

BULK = 20_000  # more check-ins and deliveries than fit one 5,000-row batch
PAIRING_RUN = utc(2026, 11, 30, 18, 0, 1)  # the first run of the cadence set below
SOURCE_CLOCK_STOPS = utc(2026, 12, 7, 18, 0, 1)
NOTICE = "a notice waiting for Alice's next command"
_names = itertools.count()


# --- fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster() -> Iterator[PgCluster]:
    with pg_cluster() as running:
        yield running


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[int | None, Any]]:
    """A SQLite database with rows in every table, made by the real bot (see the docstring),
    and the commands the bot synced to Discord meanwhile."""
    path = tmp_path_factory.mktemp("source") / "haven.db"
    synced = _in_thread(lambda: _build_source(path))
    _add_bulk(path)
    return path, synced


@pytest.fixture
def source(built: tuple[Path, dict[int | None, Any]]) -> Path:
    return built[0]


@pytest.fixture(autouse=True)
def _quiet_setup_logging(monkeypatch: pytest.MonkeyPatch) -> None:
    # main() configures logging for a process; in-process it would add a root handler per run.
    monkeypatch.setattr(discord.utils, "setup_logging", lambda **_: None)


def _in_thread(factory: Any) -> Any:
    """Run a coroutine on a private loop, from sync code or from inside a running loop."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, factory()).result()


def new_target(cluster: PgCluster) -> str:
    return cluster.create_database(f"target_{next(_names)}")


def migrate_db(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    source: Path | str,
    target: str,
) -> tuple[int, str, str]:
    """Run `python -m bot migrate-db --to target` in-process with DATABASE_URL=source."""
    url = source if isinstance(source, str) else f"sqlite:///{source}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    capsys.readouterr()
    code = main(["migrate-db", "--to", target])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


# --- the source: a community's database, made by the bot ---------------------------------


async def _build_source(path: Path) -> dict[int | None, Any]:
    fake = FakeDiscord(token=TOKEN)
    await fake.start()
    fake.patch_discord()
    clock = FakeClock()
    fake.clock = clock
    haven = Haven(fake, path, clock)
    try:
        await haven.start()
        try:
            await _community(haven)
        finally:
            await haven.stop()
        return copy.deepcopy(fake.command_store.scopes)
    finally:
        fake.unpatch_discord()
        await fake.stop()


async def _community(haven: Haven) -> None:
    fake, services = haven.fake, haven.services
    await say(
        haven,
        "haven",
        "setup",
        user=MONA,
        checkin_channel=CH_CHECKINS,
        circle_channel=CH_CIRCLES,
        buddy_channel=CH_BUDDIES,
        mod_channel=CH_MODS,
    )
    await say(haven, "haven", "prompt", user=MONA, time="09:00")
    await say(haven, "my", "timezone", zone="Europe/London")
    await say(haven, "my", "quiet-hours", start="23:00", end="07:00")
    await say(haven, "my", "noticing", enabled=True, days=3)
    await say(haven, "checkin", feeling="heavy", note="a private note, with 'quotes' and ünïcode")
    await say(haven, "checkin", feeling="bright", share="channel", note="a shared note")
    await say(haven, "checkin", user=BOB, feeling="settled")

    # A reminder DM (a DM channel, a delivery), then its stop button (a DM stop); Bob's DMs
    # are closed, which Haven remembers.
    await say(haven, "my", "reminder", time="12:30")
    await say(haven, "my", "reminder", user=BOB, time="12:30")
    fake.close_dms(BOB)
    haven.clock.advance(hours=1)
    await haven.run_due()
    [dm] = fake.dms_to(ALICE)
    await (await fake.click(dm, "Stop these reminders")).reply()

    # Circles: a host, a co-host, seats, agreements, a weekly member, the talking piece.
    circles = services.circles
    circle = await circles.create(GUILD, name="Evening circle", weekday="monday", at="18:00")
    await circles.set_cohost(GUILD, str(circle.id), CAROL, remove=False)
    await circles.agree(circle, ALICE)
    await circles.join(circle, ALICE, every_week=True, aftercare=True)
    await circles.join(circle, BOB)
    session = await circles.next_session(circle)
    assert session is not None
    await services.db.execute(
        "INSERT INTO circle_talking (session_id, guild_id, user_id, state, queued_at)"
        " VALUES (?, ?, ?, 'waiting', '2026-11-30T18:01:00Z')",
        (session.id, GUILD, ALICE),
    )

    # Buddies: profiles, an avoid, a separation, a cadence, a pair and its check-backs.
    for user in (ALICE, BOB, CAROL):
        await say(haven, "buddy", "join", user=user, intro=f"hello from {user}")
    await say(haven, "buddy", "avoid", user=CAROL, member=BOB)
    await say(haven, "haven", "separate", user=MONA, member_a=CAROL, member_b=ALICE)
    await say(haven, "haven", "buddies", user=MONA, every_weeks=2, weekday="monday", time="18:00")
    haven.clock.set(PAIRING_RUN)
    await haven.run_due()
    haven.clock.set(SOURCE_CLOCK_STOPS)  # a week on: the check-backs
    await haven.run_due()
    [asked] = [m for m in fake.dms_to(ALICE) if "check-back" in m.text]
    await (await fake.click(asked, "Stop check-backs")).reply()
    await services.notices.add(GUILD, ALICE, NOTICE)
    await haven.settle()


def _add_bulk(path: Path) -> None:
    """Months of check-ins and deliveries, then a purge of the newest check-in."""
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO checkins (guild_id, user_id, created_at, feeling, capacity, note, share)"
            " VALUES (?, ?, ?, 'tender', ?, ?, 'private')",
            (
                (
                    GUILD,
                    10_000 + i % 500,
                    f"2026-{1 + i % 11:02d}-01T00:00:{i % 60:02d}Z",
                    1 + i % 5,
                    None if i % 3 else f"note {i} ✿",
                )
                for i in range(BULK)
            ),
        )
        db.executemany(
            "INSERT INTO deliveries (key, guild_id, user_id, state, attempts, channel_id,"
            " message_id, updated_at) VALUES (?, ?, ?, 'sent', 1, ?, ?, '2026-06-01T00:00:00Z')",
            ((f"bulk:{i}", GUILD, 10_000 + i % 500, 5_000 + i, 2**62 + i) for i in range(BULK)),
        )
        db.execute("DELETE FROM checkins WHERE id = (SELECT max(id) FROM checkins)")
        db.execute("COMMIT")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


# --- reading both sides ------------------------------------------------------------------


def read_only(path: Path) -> contextlib.closing[sqlite3.Connection]:
    return contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True))


def sqlite_tables(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    with read_only(path) as db:
        names = [
            r[0]
            for r in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
            if r[0] not in TRANSIENT
        ]
        return {
            name: sorted(db.execute(f"SELECT * FROM {name}").fetchall(), key=repr) for name in names
        }


def pg_tables(url: str, names: Sequence[str]) -> dict[str, list[tuple[Any, ...]]]:
    async def read() -> dict[str, list[tuple[Any, ...]]]:
        conn = await asyncpg.connect(url)
        try:
            found = {}
            for name in names:
                columns = [
                    r[0]
                    for r in await conn.fetch(
                        "SELECT column_name FROM information_schema.columns"
                        " WHERE table_name = $1 ORDER BY ordinal_position",
                        name,
                    )
                ]
                rows = await conn.fetch(f"SELECT {', '.join(columns)} FROM {name}")
                found[name] = sorted((tuple(r) for r in rows), key=repr)
            return found
        finally:
            await conn.close()

    result: dict[str, list[tuple[Any, ...]]] = _in_thread(read)
    return result


def pg_fetchval(url: str, sql: str, *args: Any) -> Any:
    async def run() -> Any:
        conn = await asyncpg.connect(url)
        try:
            return await conn.fetchval(sql, *args)
        finally:
            await conn.close()

    return _in_thread(run)


def pg_table_names(url: str) -> list[str]:
    async def run() -> list[str]:
        conn = await asyncpg.connect(url)
        try:
            rows = await conn.fetch(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = 'public' ORDER BY table_name"
            )
            return [str(r[0]) for r in rows]
        finally:
            await conn.close()

    result: list[str] = _in_thread(run)
    return result


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sqlite_sequence(path: Path, table: str) -> int:
    with read_only(path) as db:
        return int(
            db.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,)).fetchone()[0]
        )


# --- the move ----------------------------------------------------------------------------


def test_the_source_has_rows_in_every_table(source: Path) -> None:
    empty = [name for name, rows in sqlite_tables(source).items() if not rows]
    assert empty == [], f"fill these tables in _community() so their copy is tested: {empty}"


def test_every_table_moves_whole_and_ids_continue(
    cluster: PgCluster,
    source: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = digest(source)
    target = new_target(cluster)
    code, out, err = migrate_db(monkeypatch, capsys, source, target)
    assert code == 0, err

    want = sqlite_tables(source)
    assert all(want.values()), "every table has rows (test_the_source_has_rows_in_every_table)"
    report = {line.split()[0]: line for line in out.splitlines()}
    for table, rows in want.items():
        assert report[table].split()[1:2] == [f"{len(rows):,}"], report[table]
        assert report[table].endswith("  ok"), report[table]
    assert "set DATABASE_URL to it" in out
    # The test's own comparison, independent of the command's checksums.
    got = pg_tables(target, list(want))
    for table in want:
        assert got[table] == want[table], f"{table} differs"

    # Ids continue after the largest SQLite handed out, even one a purge deleted…
    seq = sqlite_sequence(source, "checkins")
    assert seq > max(r[0] for r in want["checkins"])
    new_id = pg_fetchval(
        target,
        "INSERT INTO checkins (guild_id, user_id, created_at, feeling, share)"
        " VALUES (1, 2, '2026-12-01T00:00:00Z', 'pass', 'private') RETURNING id",
    )
    assert new_id == seq + 1
    # …and in a table without AUTOINCREMENT, after the largest there is.
    new_job = pg_fetchval(
        target,
        "INSERT INTO outbox (key, kind, due_at, deadline_at) VALUES"
        " ('moved:1', 'test', '2026-12-01T00:00:00Z', '2026-12-01T00:00:00Z') RETURNING id",
    )
    assert new_job == max(r[0] for r in want["outbox"]) + 1
    assert digest(source) == before  # never written to


def test_a_second_run_into_the_filled_target_is_refused_and_changes_nothing(
    cluster: PgCluster,
    source: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    target = new_target(cluster)
    assert migrate_db(monkeypatch, capsys, source, target)[0] == 0
    names = list(sqlite_tables(source))
    moved = pg_tables(target, names)

    code, out, err = migrate_db(monkeypatch, capsys, source, target)
    assert code == 2 and out == ""
    assert "already holds data" in err and "only fills an empty database" in err
    assert pg_tables(target, names) == moved


def test_a_target_with_any_row_of_its_own_is_refused_before_anything_is_written(
    cluster: PgCluster,
    source: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    target = new_target(cluster)
    _in_thread(
        lambda: cluster.aexecute(
            "CREATE TABLE notes (text TEXT); INSERT INTO notes VALUES ('mine')",
            database=target.rsplit("/", 1)[1],
        )
    )

    code, _, err = migrate_db(monkeypatch, capsys, source, target)
    assert code == 2 and "already holds data (in notes)" in err
    assert pg_table_names(target) == ["notes"]  # not even Haven's schema was made


def test_an_empty_target_that_already_has_havens_schema_is_filled(
    cluster: PgCluster,
    source: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    target = new_target(cluster)
    _in_thread(lambda: _migrated(target))
    code, _, err = migrate_db(monkeypatch, capsys, source, target)
    assert code == 0, err


def test_a_target_another_process_is_writing_to_is_refused_after_a_short_wait(
    cluster: PgCluster,
    source: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    target = new_target(cluster)
    _in_thread(lambda: _migrated(target))
    held, release = threading.Event(), threading.Event()

    async def writer() -> None:
        # A Haven process mid-transaction on the target: it holds a write lock on the outbox.
        conn = await asyncpg.connect(target)
        try:
            async with conn.transaction():
                await conn.execute("LOCK TABLE outbox IN ROW EXCLUSIVE MODE")
                held.set()
                await asyncio.to_thread(release.wait)
        finally:
            await conn.close()

    thread = threading.Thread(target=lambda: asyncio.run(writer()))
    thread.start()
    try:
        assert held.wait(10)
        monkeypatch.setattr(transfer_module, "LOCK_WAIT", "300ms")
        code, _, err = migrate_db(monkeypatch, capsys, source, target)
    finally:
        release.set()
        thread.join()
    assert code == 2 and "another process kept" in err and "stop every Haven process" in err
    names = list(sqlite_tables(source))
    assert all(rows == [] for rows in pg_tables(target, names).values())


async def _migrated(url: str) -> None:
    db = await open_database(url)
    try:
        await migrate(db)
    finally:
        await db.close()


# --- refusals ----------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.mark.parametrize(
    ("make_target", "says"),
    [
        (lambda c: "sqlite:///elsewhere.db", "--to must name an empty PostgreSQL database"),
        (lambda c: "postgresql://", "--to must name an empty PostgreSQL database"),
        (lambda c: "postgresql://haven@127.0.0.1:notaport/x", "could not connect"),
        (
            lambda c: f"postgresql://haven:s3cret@127.0.0.1:{_closed_port()}/haven",
            "could not reach PostgreSQL at postgresql://127.0.0.1:",
        ),
        (lambda c: c.url_for("no_such_database"), "does not exist. Create it"),
        (lambda c: f"postgresql://stranger@127.0.0.1:{c.port}/postgres", "refused the login"),
    ],
    ids=["sqlite", "no-host", "bad-port", "unreachable", "no-database", "unknown-role"],
)
def test_a_bad_target_is_refused_kindly(
    cluster: PgCluster,
    source: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    make_target: Any,
    says: str,
) -> None:
    code, out, err = migrate_db(monkeypatch, capsys, source, make_target(cluster))
    assert code == 2 and out == ""
    assert err.startswith("haven: ") and says in err, err
    assert "s3cret" not in err


def test_a_source_that_is_not_up_to_date_is_refused_and_the_target_untouched(
    cluster: PgCluster,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    old = tmp_path / "old.db"

    async def make_old() -> None:
        db = await open_database(f"sqlite:///{old}")
        try:
            await migrate(db, load_migrations(MIGRATIONS_ROOT / "sqlite")[:3])
        finally:
            await db.close()

    _in_thread(make_old)
    target = new_target(cluster)
    code, _, err = migrate_db(monkeypatch, capsys, old, target)
    assert code == 2 and "schema version 3" in err and "Start Haven once on it" in err
    assert pg_table_names(target) == []


def test_a_source_that_is_missing_or_not_sqlite_is_refused(
    cluster: PgCluster,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    target = new_target(cluster)
    code, _, err = migrate_db(monkeypatch, capsys, tmp_path / "nowhere.db", target)
    assert code == 2 and "there is no database at" in err
    code, _, err = migrate_db(monkeypatch, capsys, target, target)
    assert code == 2 and "already names PostgreSQL" in err
    garbage = tmp_path / "notes.txt"
    garbage.write_text("not a database at all " * 100)
    code, _, err = migrate_db(monkeypatch, capsys, garbage, target)
    assert code == 2 and "could not read" in err
    assert pg_table_names(target) == []


# --- failures keep nothing ---------------------------------------------------------------


def test_a_copy_that_fails_part_way_keeps_nothing(
    cluster: PgCluster,
    source: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    broken = tmp_path / "broken.db"
    with read_only(source) as src, contextlib.closing(sqlite3.connect(broken)) as dst:
        src.backup(dst)
    with contextlib.closing(sqlite3.connect(broken, isolation_level=None)) as db:
        # SQLite keeps text in an INTEGER column; PostgreSQL's BIGINT cannot take it. The table
        # is among the last copied, so everything before it must be rolled back.
        db.execute("UPDATE circle_talking SET guild_id = 'not a number'")
    target = new_target(cluster)
    code, _, err = migrate_db(monkeypatch, capsys, broken, target)
    assert code == 1 and "copying circle_talking failed" in err and "Nothing was kept" in err
    names = list(sqlite_tables(source))
    assert all(rows == [] for rows in pg_tables(target, names).values())
    # Put right, the same target takes the copy.
    with contextlib.closing(sqlite3.connect(broken, isolation_level=None)) as db:
        db.execute(f"UPDATE circle_talking SET guild_id = {GUILD}")
    assert migrate_db(monkeypatch, capsys, broken, target)[0] == 0


def test_a_copy_that_does_not_match_is_reported_and_rolled_back(
    cluster: PgCluster,
    source: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    real = transfer_module.read_back

    async def one_row_short(conn: Any, select: str) -> AsyncIterator[Sequence[Sequence[Any]]]:
        rows = [row async for batch in real(conn, select) for row in batch]
        yield rows[:-1] if '"checkins"' in select else rows

    monkeypatch.setattr(transfer_module, "read_back", one_row_short)
    target = new_target(cluster)
    code, out, err = migrate_db(monkeypatch, capsys, source, target)
    assert code == 1 and "did not match" in err and "nothing was kept" in err
    want = sqlite_tables(source)
    [line] = [line for line in out.splitlines() if "MISMATCH" in line]
    assert line.startswith("checkins ") and f"holds {len(want['checkins']) - 1:,} rows" in line
    names = list(want)
    assert all(rows == [] for rows in pg_tables(target, names).values())


# --- the order of the copy and the checksum's canonical form ----------------------------


def test_the_canonical_form_tells_apart_what_postgresql_could_confuse() -> None:
    canonical = transfer_module.canonical
    assert canonical([(1, "a")]) == canonical([[1, "a"]])  # a row is its values
    for one, other in [
        ((1,), ("1",)),
        ((None,), ("None",)),
        (("",), (None,)),
        (("a\n", "b"), ("a", "\nb")),
        (("a", "b"), ("a, 'b'",)),
        (("ünï",), ("uni",)),
    ]:
        assert canonical([one]) != canonical([other]), (one, other)
    rows = [(i, f"row {i}") for i in range(10)]
    assert canonical(rows) == canonical(rows[:3]) + canonical(rows[3:])  # batching is invisible


def test_parents_are_copied_before_the_tables_that_point_at_them(source: Path) -> None:
    async def schema() -> dict[str, Table]:
        conn = await transfer_module.open_source(source)
        try:
            return await transfer_module.read_schema(conn)
        finally:
            await conn.close()

    tables: dict[str, Table] = _in_thread(schema)
    order = [t.name for t in copy_order(tables)]
    assert sorted(order) == sorted(tables)
    for table in tables.values():
        for parent in table.parents:
            assert order.index(parent) < order.index(table.name), (parent, table.name)
    assert tables["circle_talking"].parents == {"circle_sessions"}

    loop = {
        "a": Table("a", ("id",), ("id",), frozenset({"b"})),
        "b": Table("b", ("id",), ("id",), frozenset({"a"})),
    }
    with pytest.raises(TransferError, match="cycle"):
        copy_order(loop)


# --- Haven on the moved database ---------------------------------------------------------


async def test_haven_starts_on_the_moved_database_and_serves_its_members(
    cluster: PgCluster,
    built: tuple[Path, dict[int | None, Any]],
    fake: FakeDiscord,
    tmp_path: Path,
) -> None:
    source, synced = built
    # Discord keeps the commands Haven synced while it ran on SQLite; the moved command_sync
    # rows say so, and Haven on PostgreSQL must not sync them again.
    fake.command_store.scopes = copy.deepcopy(synced)
    target = await cluster.acreate_database(f"usable_{next(_names)}")
    report = await transfer_module.transfer(source, target)
    assert report.committed and report.ok
    clock = FakeClock(SOURCE_CLOCK_STOPS)
    fake.clock = clock
    haven = Haven(fake, tmp_path / "unused.db", clock, database_url=target)
    await haven.start()
    try:
        circles = await say(haven, "circle", "list")
        assert "Evening circle" in circles.text
        # The notice that waited in SQLite for Alice's next command is shown to her now.
        await haven.settle()
        assert any(NOTICE in m.text for m in fake.store.ordered)
        status = await say(haven, "buddy", "status")
        assert f"Your buddy is <@{BOB}>" in status.text
        await say(haven, "checkin", feeling="bright", note="first on PostgreSQL")
        newest = await haven.services.db.fetchval("SELECT max(id) FROM checkins")
        assert newest == sqlite_sequence(source, "checkins") + 1
        await haven.settle()
        haven.assert_alive()
        assert fake.rejections == [] and fake.unanswered() == []
        assert fake.command_store.sync_count == 0
    finally:
        await haven.stop()
