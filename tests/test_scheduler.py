"""The outbox scheduler on a real database (SQLite, or PostgreSQL with `--backend`) and a real
APScheduler alarm; with PostgreSQL, several schedulers sharing one outbox, as several processes
do: each job runs once, a dead process's claims are taken over when their lease ends, and a new
job wakes the others."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.db import Database, open_database
from bot.scheduler import BATCH, LEASE, Job, Retry, Scheduler
from bot.timeutil import to_db
from tests.clock import FakeClock
from tests.conftest import NewDatabase


@pytest.fixture
async def url(new_database: NewDatabase) -> str:
    return await new_database()


@pytest.fixture
async def db(url: str) -> AsyncIterator[Database]:
    database = await open_database(url)
    yield database
    await database.close()


@pytest.fixture
async def peer(url: str, db: Database) -> AsyncIterator[Database]:
    """A second connection to the same database, as another process has."""
    if not db.shared:
        pytest.skip("one process owns a SQLite file; the PostgreSQL run covers sharing")
    database = await open_database(url)
    yield database
    await database.close()


async def states(db: Database) -> dict[str, str]:
    return {r["key"]: r["state"] for r in await db.fetchall("SELECT key, state FROM outbox")}


async def test_overdue_work_runs_once_on_start_and_late_work_is_missed(db: Database) -> None:
    clock = FakeClock()
    ran: list[str] = []

    async def handler(job: Job) -> None:
        ran.append(job.key)

    first = Scheduler(db, clock=clock)
    first.register("k", handler)
    # Scheduled while "up", then the bot was down for two hours.
    await first.schedule("k", "fresh", clock.now, deadline=clock.now + timedelta(hours=3))
    await first.schedule("k", "stale", clock.now, deadline=clock.now + timedelta(hours=1))
    clock.advance(hours=2)

    second = Scheduler(db, clock=clock)
    second.register("k", handler)
    await second.start()  # runs due work in the background…
    await asyncio.gather(second.run_due(), second.run_due())  # …and these race it
    await second.shutdown()

    assert ran == ["fresh"]  # exactly once
    assert await states(db) == {"fresh": "done", "stale": "missed"}


async def test_a_row_left_running_by_a_crash_runs_again(db: Database) -> None:
    clock = FakeClock()
    ran: list[str] = []

    async def handler(job: Job) -> None:
        ran.append(job.key)

    s = Scheduler(db, clock=clock)
    s.register("k", handler)
    await s.schedule("k", "a", clock.now, deadline=clock.now + timedelta(hours=1))
    await db.execute("UPDATE outbox SET state = 'running'")  # crashed mid-run
    await s.start()
    await s.run_due()
    await s.shutdown()
    assert ran == ["a"]


async def test_the_alarm_wakes_at_the_due_instant(db: Database) -> None:
    fired = asyncio.Event()

    async def handler(job: Job) -> None:
        fired.set()

    s = Scheduler(db)  # the real clock
    s.register("k", handler)
    await s.start()
    due = datetime.now(UTC) + timedelta(milliseconds=300)
    await s.schedule("k", "soon", due, deadline=due + timedelta(minutes=1))
    assert not fired.is_set()
    await asyncio.wait_for(fired.wait(), timeout=5)
    for _ in range(100):  # the handler returned; the outcome is written just after
        if (await states(db))["soon"] == "done":
            break
        await asyncio.sleep(0.01)
    await s.shutdown()
    assert (await states(db))["soon"] == "done"


async def test_keys_are_unique(db: Database) -> None:
    s = Scheduler(db, clock=FakeClock())
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert await s.schedule("k", "same", now) is True
    assert await s.schedule("k", "same", now + timedelta(hours=1)) is False
    assert await db.fetchval("SELECT count(*) FROM outbox") == 1


async def test_retry_then_give_up_at_the_deadline(db: Database) -> None:
    clock = FakeClock()
    attempts: list[int] = []

    async def flaky(job: Job) -> None:
        attempts.append(job.attempts)
        raise Retry(timedelta(minutes=10), "Discord is having a moment")

    s = Scheduler(db, clock=clock)
    s.register("k", flaky)
    await s.schedule("k", "x", clock.now, deadline=clock.now + timedelta(minutes=15))
    first = await s.run_due()
    assert first.retried == 1
    assert (await states(db))["x"] == "pending"
    clock.advance(minutes=10)
    second = await s.run_due()
    assert second.failed == 1
    assert attempts == [1, 2]
    row = await db.fetchone("SELECT state, note FROM outbox")
    assert row is not None and row["state"] == "failed" and "gave up" in row["note"]


async def test_an_exception_fails_the_row_with_an_error_id(db: Database) -> None:
    clock = FakeClock()

    async def broken(job: Job) -> None:
        raise ValueError("bug")

    s = Scheduler(db, clock=clock)
    s.register("k", broken)
    await s.schedule("k", "x", clock.now)
    assert (await s.run_due()).failed == 1
    row = await db.fetchone("SELECT state, note FROM outbox")
    assert row is not None and row["state"] == "failed" and row["note"].startswith("error ")


async def test_concurrent_runs_never_run_a_job_twice(db: Database) -> None:
    clock = FakeClock()
    ran: list[str] = []

    async def slow(job: Job) -> None:
        await asyncio.sleep(0.01)
        ran.append(job.key)

    s = Scheduler(db, clock=clock)
    s.register("k", slow)
    for i in range(50):
        await s.schedule("k", f"j{i}", clock.now)
    await asyncio.gather(*(s.run_due() for _ in range(5)))
    assert sorted(ran) == sorted(f"j{i}" for i in range(50))


async def test_cancel_and_pending(db: Database) -> None:
    clock = FakeClock()
    s = Scheduler(db, clock=clock)
    later = clock.now + timedelta(hours=1)
    await s.schedule("k", "a", later, guild_id=1, user_id=2)
    await s.schedule("k", "b", later + timedelta(hours=1), guild_id=1, user_id=3)
    assert [j.key for j in await s.pending(guild_id=1)] == ["a", "b"]
    assert await s.cancel(kind="k", guild_id=1, user_id=2) == 1
    assert [j.key for j in await s.pending(guild_id=1)] == ["b"]


async def test_a_cancelled_key_comes_back_but_a_finished_one_does_not(db: Database) -> None:
    clock = FakeClock()
    s = Scheduler(db, clock=clock)
    s.register("k", _noop)
    later = clock.now + timedelta(hours=1)
    await s.schedule("k", "today", later, guild_id=1)
    await s.cancel(kind="k", guild_id=1)
    assert await s.schedule("k", "today", later + timedelta(hours=1), guild_id=1) is True
    [job] = await s.pending(guild_id=1)
    assert job.due_at == later + timedelta(hours=1)

    await s.schedule("k", "done-already", clock.now, guild_id=1)
    await s.run_due()
    assert await s.schedule("k", "done-already", later, guild_id=1) is False


async def _noop(job: Job) -> None:
    return None


# --- several processes on one outbox (PostgreSQL) -----------------------------------------------


async def test_two_processes_run_each_due_job_once_and_share_the_work(
    db: Database, peer: Database
) -> None:
    clock = FakeClock()
    ran: dict[str, list[str]] = {"a": [], "b": []}
    a, b = Scheduler(db, clock=clock), Scheduler(peer, clock=clock)
    for name, scheduler in (("a", a), ("b", b)):

        async def handler(job: Job, name: str = name) -> None:
            await asyncio.sleep(0)  # let the other process claim meanwhile
            ran[name].append(job.key)

        scheduler.register("k", handler)
    for i in range(300):
        await a.schedule("k", f"job-{i}", clock.now, deadline=clock.now + timedelta(hours=1))

    await asyncio.gather(a.run_due(), b.run_due())

    everything = ran["a"] + ran["b"]
    assert sorted(everything) == sorted(f"job-{i}" for i in range(300))  # each exactly once
    assert ran["a"] and ran["b"]  # batches leave work for the other process
    assert set((await states(db)).values()) == {"done"}


async def test_a_dead_processs_claims_are_taken_over_when_their_lease_ends(
    db: Database, peer: Database
) -> None:
    clock = FakeClock()
    ran: list[str] = []

    async def handler(job: Job) -> None:
        ran.append(job.key)

    dead = Scheduler(db, clock=clock)
    dead.register("k", handler)
    for i in range(3):
        await dead.schedule("k", f"job-{i}", clock.now, deadline=clock.now + timedelta(hours=1))
    claimed = await dead._claim(to_db(clock.now))  # it claimed them, then died (kill -9)
    assert len(claimed) == 3
    alive = Scheduler(peer, clock=clock)
    alive.register("k", handler)

    clock.advance(seconds=LEASE.total_seconds() - 1)
    await alive.run_due()
    assert ran == []  # the lease still holds: the dead process might only be slow

    clock.advance(seconds=2)
    await alive.run_due()
    assert sorted(ran) == ["job-0", "job-1", "job-2"]
    rows = await db.fetchall("SELECT state, attempts, claimed_by FROM outbox")
    assert {(r["state"], r["attempts"], r["claimed_by"]) for r in rows} == {("done", 2, alive.name)}


async def test_a_process_that_stops_cleanly_hands_its_claims_back_at_once(
    db: Database, peer: Database
) -> None:
    clock = FakeClock()
    stopping = Scheduler(db, clock=clock)
    await stopping.schedule("k", "job", clock.now, deadline=clock.now + timedelta(hours=1))
    assert len(await stopping._claim(to_db(clock.now))) == 1
    await stopping.shutdown()

    ran: list[str] = []

    async def handler(job: Job) -> None:
        ran.append(job.key)

    other = Scheduler(peer, clock=clock)
    other.register("k", handler)
    await other.run_due()
    assert ran == ["job"]


async def test_a_new_job_wakes_the_other_processes(db: Database, peer: Database) -> None:
    clock = FakeClock()
    adding, listening = Scheduler(db, clock=clock), Scheduler(peer, clock=clock)
    await listening.start()
    try:
        due = clock.now + timedelta(seconds=5)
        await adding.schedule("k", "soon", due, deadline=due + timedelta(hours=1))
        for _ in range(200):
            if listening._armed_for == due:
                break
            await asyncio.sleep(0.01)
        assert listening._armed_for == due
    finally:
        await listening.shutdown()


async def test_a_process_claims_its_own_shards_servers_first(db: Database) -> None:
    """Its own servers are in its cache; another shard's cost a question to Discord each."""
    clock = FakeClock()
    mine = Scheduler(db, clock=clock, shards=(2, (1,)))
    ours, theirs = (1 << 22) * 7, (1 << 22) * 8  # shard 1 and shard 0 of 2
    for i in range(BATCH):
        for guild in (theirs, ours):
            await mine.schedule(
                "k",
                f"{guild}-{i}",
                clock.now,
                deadline=clock.now + timedelta(hours=1),
                guild_id=guild,
            )
    first = await mine._claim(to_db(clock.now))
    assert {row["guild_id"] for row in first} == {ours}
    second = await mine._claim(to_db(clock.now))
    assert {row["guild_id"] for row in second} == {theirs}  # then anyone's: nothing waits
