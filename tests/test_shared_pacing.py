"""One rate limit for one token: processes on one PostgreSQL database share Discord's budget.

Discord counts its global limit (50 requests a second per bot) over any one-second window, so
the checks here count sends in every window that starts at a send, not per calendar second.
Each "process" is a Pacer with a PostgresDatabase (its own pool and connection) of its own, as
separate bot processes would have; the database is the only thing they share. Counts only,
never durations: a slow machine may send fewer requests, never more.

- the pacers alone: 3 × 150 requests at once, send times counted in sliding windows;
- against the fake Discord enforcing a sliding 50-per-second window: three aiohttp sessions with
  the real pacing trace posting 3 × 150 messages get no 429; the control, the same with three
  unshared pacers, does get them;
- the edges: a reservation made inside a transaction does not hold the budget's row until that
  commits; one cut off mid-statement leaves the budget usable; a budget a clock step left far
  ahead is pulled in; a request that wakes a slot late takes a fresh one (once); SQLite keeps
  pacing locally; an unreachable budget falls back to local pacing, with one warning.

On the SQLite backend the module starts a PostgreSQL cluster of its own (tests/pgcluster.py).
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import logging
import os
import statistics
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from bot.db import migrate, open_database
from bot.db.postgres import BUDGET_HORIZON, PostgresDatabase
from bot.pacing import BUDGET, GLOBAL_REQUESTS_PER_SECOND, Pacer, pacing_trace
from tests.fakediscord import CH_GENERAL, FakeDiscord
from tests.pgcluster import PgCluster, pg_cluster

TOKEN = "fake-token"
PROCESSES = 3
DISCORD_LIMIT = 50

_numbers = itertools.count()


@pytest.fixture(scope="module")
def cluster(pg: PgCluster | None) -> Iterator[PgCluster]:
    if pg is not None:
        yield pg
        return
    with pg_cluster() as running:
        yield running


@pytest.fixture
async def url(cluster: PgCluster) -> AsyncIterator[str]:
    """A fresh migrated database (the budget's row starts absent)."""
    name = f"pacing_{os.getpid()}_{next(_numbers)}"
    made = await cluster.acreate_database(name)
    db = await open_database(made)
    try:
        await migrate(db)
    finally:
        await db.close()
    yield made
    await cluster.adrop_database(name)


class CountingDatabase(PostgresDatabase):
    """Counts reservations (= database round trips for pacing) and times them."""

    def __init__(self, pool: asyncpg.Pool, url: str) -> None:
        super().__init__(pool, url)
        self.reservations = 0
        self.round_trips: list[float] = []

    async def reserve_slot(self, name: str, spacing: float) -> float | None:
        began = time.perf_counter()
        wait = await super().reserve_slot(name, spacing)
        self.round_trips.append(time.perf_counter() - began)
        self.reservations += 1
        return wait


async def _processes(url: str) -> list[tuple[Pacer, CountingDatabase]]:
    found = []
    for _ in range(PROCESSES):
        db = await CountingDatabase.open(url)
        assert isinstance(db, CountingDatabase)
        pacer = Pacer()
        pacer.share(db)
        found.append((pacer, db))
    return found


def busiest_window(times: list[float]) -> int:
    """The most sends in any one-second window (every window that starts at a send)."""
    ordered = sorted(times)
    return max(bisect.bisect_left(ordered, t + 1.0) - i for i, t in enumerate(ordered))


def typical_window(times: list[float]) -> float:
    """The median count of the one-second windows that lie wholly inside the run."""
    ordered = sorted(times)
    counts = [
        bisect.bisect_left(ordered, t + 1.0) - i
        for i, t in enumerate(ordered)
        if t + 1.0 <= ordered[-1]
    ]
    return statistics.median(counts)


def _report(label: str, times: list[float], dbs: list[CountingDatabase]) -> None:
    trips = [rtt for db in dbs for rtt in db.round_trips]
    print(
        f"\n{label}: {len(times)} requests in {max(times) - min(times):.2f} s"
        f" = {(len(times) - 1) / (max(times) - min(times)):.1f}/s;"
        f" busiest 1 s window {busiest_window(times)}, typical {typical_window(times)};"
        f" {sum(db.reservations for db in dbs) / len(times):.2f} database round trips per"
        f" request, median {statistics.median(trips) * 1000:.2f} ms,"
        f" max {max(trips) * 1000:.2f} ms"
    )


async def test_three_processes_sharing_the_budget_never_put_50_in_one_second(url: str) -> None:
    processes = await _processes(url)
    sent: list[float] = []

    async def request(pacer: Pacer) -> None:
        await pacer.wait()
        sent.append(time.monotonic())

    try:
        await asyncio.gather(*(request(p) for p, _ in processes for _ in range(150)))
    finally:
        for _, db in processes:
            await db.close()
    _report("3 sharing pacers", sent, [db for _, db in processes])
    assert len(sent) == 450
    assert busiest_window(sent) <= DISCORD_LIMIT
    # The three together still use the budget: the cluster's rate, not a third of it each.
    assert typical_window(sent) >= GLOBAL_REQUESTS_PER_SECOND - 5
    # One round trip a request, and one more for each slot a late wake-up gave up.
    assert all(db.reservations == 150 + pacer.late_slots for pacer, db in processes)


async def _fan_out(fake: FakeDiscord, pacers: list[Pacer], per_process: int) -> None:
    """Each pacer's "process" posts `per_process` messages at once through the pacing trace."""
    headers = {"Authorization": f"Bot {TOKEN}"}
    endpoint = f"{fake.api_base}/channels/{CH_GENERAL}/messages"

    async def process(pacer: Pacer, number: int) -> None:
        async with aiohttp.ClientSession(trace_configs=[pacing_trace(pacer)]) as session:

            async def post(n: int) -> None:
                body = {"content": f"reminder {number}.{n}"}
                async with session.post(endpoint, json=body, headers=headers) as response:
                    await response.read()

            await asyncio.gather(*(post(n) for n in range(per_process)))

    await asyncio.gather(*(process(pacer, i) for i, pacer in enumerate(pacers)))


def _posts(fake: FakeDiscord) -> list[float]:
    return [c.at for c in fake.calls if c.method == "POST" and c.status == 200]


async def test_three_processes_fanning_out_at_once_get_no_429(url: str) -> None:
    processes = await _processes(url)
    async with FakeDiscord(token=TOKEN, rate_limit_per_second=DISCORD_LIMIT) as fake:
        try:
            await _fan_out(fake, [pacer for pacer, _ in processes], 150)
        finally:
            for _, db in processes:
                await db.close()
        _report("3 sharing processes, fake Discord", _posts(fake), [db for _, db in processes])
        assert fake.count_429 == 0
        assert len(_posts(fake)) == 450
        assert fake.rejections == []


async def test_control_three_unshared_pacers_do_get_429s() -> None:
    async with FakeDiscord(token=TOKEN, rate_limit_per_second=DISCORD_LIMIT) as fake:
        await _fan_out(fake, [Pacer() for _ in range(PROCESSES)], 60)
        print(f"\n3 unshared pacers: {fake.count_429} of {PROCESSES * 60} requests got a 429")
        assert fake.count_429 > 0


async def test_a_reservation_inside_a_transaction_does_not_hold_the_row(url: str) -> None:
    a, b = await PostgresDatabase.open(url), await PostgresDatabase.open(url)
    try:
        async with a.transaction():
            first = await a.reserve_slot(BUDGET, 0.01)
            # Were it part of a's transaction, b would wait for the row lock until a commits.
            second = await asyncio.wait_for(b.reserve_slot(BUDGET, 0.01), 5)
        assert first is not None and second is not None
        assert second > first  # the next slot, 10 ms on (less the time between the two)
    finally:
        await a.close()
        await b.close()


async def test_a_reservation_cut_off_mid_statement_leaves_a_usable_budget(url: str) -> None:
    db = await PostgresDatabase.open(url)
    try:
        await db.reserve_slot(BUDGET, 0.01)  # connected: the next one is cut off mid-statement
        task = asyncio.create_task(db.reserve_slot(BUDGET, 0.01))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await db.reserve_slot(BUDGET, 0.01) is not None
    finally:
        await db.close()


async def test_closing_the_database_closes_the_budgets_connection(url: str) -> None:
    db = await PostgresDatabase.open(url)
    await db.reserve_slot(BUDGET, 0.01)
    await db.close()
    watcher = await asyncpg.connect(url)
    try:
        for _ in range(100):  # a closed connection's server process takes a moment to go
            others = await watcher.fetchval(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid != pg_backend_pid()"
            )
            if others == 0:
                break
            await asyncio.sleep(0.02)
    finally:
        await watcher.close()
    assert others == 0


async def test_a_budget_left_far_ahead_by_a_clock_step_is_pulled_in(url: str) -> None:
    db = await PostgresDatabase.open(url)
    try:
        await db.reserve_slot(BUDGET, 0.01)
        # As if the database's clock had run an hour fast and then been set right.
        await db.execute("UPDATE rate_budget SET next_at = next_at + 3600")
        wait = await db.reserve_slot(BUDGET, 0.01)
        assert wait is not None and wait <= BUDGET_HORIZON + 0.01
    finally:
        await db.close()


async def test_on_sqlite_the_pacer_keeps_counting_locally(tmp_path: Path) -> None:
    db = await open_database(f"sqlite:///{tmp_path / 'haven.db'}")
    try:
        now = [0.0]

        async def sleep(seconds: float) -> None:
            now[0] += seconds

        pacer = Pacer(per_second=50, clock=lambda: now[0], sleep=sleep)
        pacer.share(db)
        for _ in range(51):
            await pacer.wait()
        assert now[0] == pytest.approx(1.0)  # the 51st waited for the first to leave the window
    finally:
        await db.close()


class Unreachable(PostgresDatabase):
    def __init__(self) -> None:  # no pool: every reservation fails
        pass

    async def reserve_slot(self, name: str, spacing: float) -> float | None:
        raise OSError("connection refused")


async def test_an_unreachable_budget_falls_back_to_local_pacing_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    pacer = Pacer(per_second=50, clock=lambda: now[0], sleep=sleep)
    pacer.share(Unreachable())
    with caplog.at_level(logging.WARNING, logger="bot.pacing"):
        for _ in range(51):
            await pacer.wait()
    assert now[0] == pytest.approx(1.0)  # still paced, by the process's own count
    assert len([r for r in caplog.records if "out of reach" in r.message]) == 1


class Scripted(PostgresDatabase):
    """A budget that always answers "your slot is 0.1 s away", counting reservations."""

    def __init__(self) -> None:
        self.reservations = 0

    async def reserve_slot(self, name: str, spacing: float) -> float | None:
        self.reservations += 1
        return 0.1


async def test_a_request_that_wakes_a_slot_late_takes_a_fresh_slot_once() -> None:
    now = [0.0]
    stalls = [0.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds + stalls.pop(0) if stalls else seconds

    db = Scripted()
    pacer = Pacer(per_second=50, clock=lambda: now[0], sleep=sleep)
    pacer.share(db)
    await pacer.wait()  # on time: one reservation
    assert (db.reservations, pacer.late_slots) == (1, 0)
    stalls[:] = [0.5]  # the loop was busy for half a second: the slot went by
    await pacer.wait()
    assert (db.reservations, pacer.late_slots) == (3, 1)
    stalls[:] = [0.5, 0.5]  # late, and late again: it sends rather than wait forever
    await pacer.wait()
    assert (db.reservations, pacer.late_slots) == (5, 2)
