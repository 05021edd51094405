"""The outbox scheduler on real SQLite and a real APScheduler alarm."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.db import Database, migrate
from bot.db.sqlite import SqliteDatabase
from bot.scheduler import Job, Retry, Scheduler
from tests.clock import FakeClock


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await SqliteDatabase.open(tmp_path / "h.db")
    await migrate(database)
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
