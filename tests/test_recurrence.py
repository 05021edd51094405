"""Recurring rules: day rules, daily and every-N-weeks occurrences across DST, and the shared
life-cycle (plan, replan, start-up, missed, next after a run) on a real outbox."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import islice
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.db import Database, migrate
from bot.db.sqlite import SqliteDatabase
from bot.errors import BadInput
from bot.features import Features
from bot.recurrence import (
    BUDDY_CADENCES,
    DAY_RULES,
    RecurringRules,
    adjusted,
    daily_occurrences,
    every_weeks_for,
    rule_time,
    weekdays_for,
    weekly_occurrences,
)
from bot.scheduler import Job, Occurrence, Scheduler
from tests.clock import FakeClock, utc

NY = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
TUESDAY, SUNDAY = 1, 6


def first(occurrences: Iterator[Occurrence], n: int) -> list[Occurrence]:
    return list(islice(occurrences, n))


def dues(occurrences: Iterator[Occurrence], n: int) -> list[datetime]:
    return [occ.due for occ in first(occurrences, n)]


# --- day rules -------------------------------------------------------------------------------


def test_the_day_rules_are_the_public_contract() -> None:
    assert set(DAY_RULES) == {"every-day", "weekdays", "weekends"}
    assert weekdays_for("every-day") is None
    assert weekdays_for("weekdays") == frozenset({0, 1, 2, 3, 4})
    assert weekdays_for("weekends") == frozenset({5, 6})


@pytest.mark.parametrize("days", ["", "Weekdays", "mondays", "every day"])
def test_other_day_rules_are_refused_kindly(days: str) -> None:
    with pytest.raises(BadInput) as refused:
        weekdays_for(days)
    assert refused.value.message == "Days can be `every-day`, `weekdays` or `weekends`."


# --- daily -----------------------------------------------------------------------------------


def test_daily_occurrences_are_keyed_by_local_date_with_the_end_of_that_day_as_deadline() -> None:
    # 23:30 in New York is already the next day in UTC; the key is New York's date.
    [a, b] = first(
        daily_occurrences("p:1", utc(2026, 11, 28, 12), time(23, 30), NY, "every-day"), 2
    )
    assert (a.key, a.due, a.deadline) == (
        "p:1:2026-11-28",
        utc(2026, 11, 29, 4, 30),
        utc(2026, 11, 29, 4, 59, 59),  # 23:59:59 EST
    )
    assert (b.key, b.due) == ("p:1:2026-11-29", utc(2026, 11, 30, 4, 30))
    assert a.payload is None


def test_daily_weekends_skip_the_week_and_cross_spring_forward() -> None:
    # Friday 6 March 2026; New York springs forward on Sunday 8 March.
    got = first(daily_occurrences("p", utc(2026, 3, 6, 20), time(9), NY, "weekends"), 3)
    assert [o.key for o in got] == ["p:2026-03-07", "p:2026-03-08", "p:2026-03-14"]
    assert [o.due for o in got] == [utc(2026, 3, 7, 14), utc(2026, 3, 8, 13), utc(2026, 3, 14, 13)]
    # The 23-hour day ends at local midnight all the same.
    assert got[1].deadline == utc(2026, 3, 9, 3, 59, 59)


def test_daily_refuses_a_bad_day_rule_when_called_not_when_iterated() -> None:
    with pytest.raises(BadInput):
        daily_occurrences("p", utc(2026, 1, 1), time(9), LONDON, "fortnightly")


# --- weekly, every N weeks -------------------------------------------------------------------


def weekly(
    after: datetime,
    weekday: int,
    at: time,
    zone: ZoneInfo,
    every_weeks: int,
    anchor: date,
) -> Iterator[Occurrence]:
    return weekly_occurrences("c:7", after, weekday, at, zone, every_weeks, anchor)


def test_weekly_starts_in_the_anchor_week_and_skips_off_weeks() -> None:
    anchor = date(2026, 12, 2)  # a Wednesday; its week starts Monday 30 November
    long_before = utc(2026, 6, 1)
    got = first(weekly(long_before, TUESDAY, time(19), LONDON, 2, anchor), 3)
    # The anchor week's Tuesday is the first, then every other Tuesday.
    assert [o.key for o in got] == ["c:7:2026-12-01", "c:7:2026-12-15", "c:7:2026-12-29"]
    assert [o.due for o in got] == [
        utc(2026, 12, 1, 19),
        utc(2026, 12, 15, 19),
        utc(2026, 12, 29, 19),
    ]
    assert got[0].deadline == utc(2026, 12, 1, 23, 59, 59)

    # From inside an off-week, the next one is in the following on-week.
    in_off_week = utc(2026, 12, 8, 12)
    assert dues(weekly(in_off_week, TUESDAY, time(19), LONDON, 2, anchor), 1) == [
        utc(2026, 12, 15, 19)
    ]
    # Strictly after: from the very instant of one, the next one.
    assert dues(weekly(utc(2026, 12, 15, 19), TUESDAY, time(19), LONDON, 2, anchor), 1) == [
        utc(2026, 12, 29, 19)
    ]


def test_every_four_weeks_keeps_its_phase_far_from_the_anchor() -> None:
    anchor = date(2026, 1, 5)  # a Monday
    got = dues(weekly(utc(2026, 3, 1), 0, time(9), LONDON, 4, anchor), 3)
    # Eight weeks after 5 January is 2 March (GMT); then 30 March and 27 April (BST).
    assert got == [utc(2026, 3, 2, 9), utc(2026, 3, 30, 8), utc(2026, 4, 27, 8)]


def test_tuesday_1900_london_stays_1900_local_across_both_dst_changes() -> None:
    anchor = date(2026, 3, 17)
    spring = dues(weekly(utc(2026, 3, 16), TUESDAY, time(19), LONDON, 1, anchor), 3)
    # London springs forward on Sunday 29 March 2026: GMT (UTC+0) → BST (UTC+1).
    assert spring == [utc(2026, 3, 17, 19), utc(2026, 3, 24, 19), utc(2026, 3, 31, 18)]
    autumn = dues(weekly(utc(2026, 10, 19), TUESDAY, time(19), LONDON, 1, anchor), 3)
    # …and falls back on Sunday 25 October 2026.
    assert autumn == [utc(2026, 10, 20, 18), utc(2026, 10, 27, 19), utc(2026, 11, 3, 19)]
    for due in spring + autumn:
        local = due.astimezone(LONDON)
        assert (local.weekday(), local.time()) == (TUESDAY, time(19))


def test_a_time_in_the_spring_forward_gap_moves_to_the_first_valid_minute() -> None:
    # New York skips 02:00–03:00 on Sunday 8 March 2026: 02:30 happens at 03:00 EDT.
    got = first(weekly(utc(2026, 2, 28), SUNDAY, time(2, 30), NY, 1, date(2026, 3, 1)), 3)
    assert [o.due for o in got] == [
        utc(2026, 3, 1, 7, 30),  # 02:30 EST
        utc(2026, 3, 8, 7),  # 03:00 EDT, the first minute after the gap
        utc(2026, 3, 15, 6, 30),  # 02:30 EDT
    ]
    assert got[1].key == "c:7:2026-03-08"
    assert got[1].due.astimezone(NY).time() == time(3, 0)


def test_the_ambiguous_fall_back_hour_happens_once_the_first_time() -> None:
    # New York repeats 01:00–02:00 on Sunday 1 November 2026; 01:30 EDT is 05:30 UTC.
    anchor = date(2026, 10, 25)
    got = first(weekly(utc(2026, 11, 1, 4), SUNDAY, time(1, 30), NY, 1, anchor), 2)
    assert [o.due for o in got] == [utc(2026, 11, 1, 5, 30), utc(2026, 11, 8, 6, 30)]
    # Planning again from the first (as after a run) never yields the second 01:30 (06:30 UTC).
    assert dues(weekly(got[0].due, SUNDAY, time(1, 30), NY, 1, anchor), 1) == [
        utc(2026, 11, 8, 6, 30)
    ]


def test_cadences_are_checked_when_called() -> None:
    anchor = date(2026, 1, 5)
    with pytest.raises(BadInput) as refused:
        weekly(utc(2026, 1, 1), 0, time(9), LONDON, 3, anchor)
    assert refused.value.message == "It can repeat every 1, 2 or 4 weeks, not every `3`."
    with pytest.raises(BadInput, match="every 1 to 8 weeks"):
        every_weeks_for(9, BUDDY_CADENCES)
    # Buddy pairing may run every 3 weeks.
    three = weekly_occurrences(
        "b", utc(2026, 1, 1), 0, time(9), LONDON, 3, anchor, cadences=BUDDY_CADENCES
    )
    assert dues(three, 2) == [utc(2026, 1, 5, 9), utc(2026, 1, 26, 9)]
    with pytest.raises(ValueError, match="weekday"):
        weekly(utc(2026, 1, 1), 7, time(9), LONDON, 1, anchor)


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


ZONES = [
    NY,
    LONDON,
    ZoneInfo("Australia/Lord_Howe"),  # moves by 30 minutes
    ZoneInfo("America/Santiago"),  # changes at midnight
    ZoneInfo("Asia/Kolkata"),  # no DST, +05:30
    ZoneInfo("Pacific/Auckland"),
]


@settings(max_examples=150, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    anchor=st.dates(min_value=date(2025, 1, 1), max_value=date(2028, 1, 1)),
    start=st.datetimes(min_value=datetime(2024, 6, 1), max_value=datetime(2028, 6, 1)),
    weekday=st.integers(0, 6),
    hour=st.integers(0, 23),
    minute=st.sampled_from([0, 15, 30, 45, 59]),
    every_weeks=st.sampled_from([1, 2, 4]),
)
def test_weekly_occurrences_are_every_n_local_weeks_on_the_weekday(
    zone: ZoneInfo,
    anchor: date,
    start: datetime,
    weekday: int,
    hour: int,
    minute: int,
    every_weeks: int,
) -> None:
    after, wall = start.replace(tzinfo=UTC), time(hour, minute)
    period = timedelta(weeks=every_weeks)
    anchor_monday = monday(anchor)
    got = first(weekly_occurrences("c", after, weekday, wall, zone, every_weeks, anchor), 12)
    days = [date.fromisoformat(o.key.removeprefix("c:")) for o in got]

    assert got[0].due > after
    # Nothing skipped: the cycle before the first is before `after` or before the anchor week.
    earlier = days[0] - period
    assert monday(earlier) < anchor_monday or datetime.combine(earlier, wall, zone) <= after
    for occ, day in zip(got, days, strict=True):
        assert day.weekday() == weekday
        weeks_on = (monday(day) - anchor_monday).days / 7
        assert weeks_on >= 0 and weeks_on % every_weeks == 0
        local = occ.due.astimezone(zone)
        assert local.date() == day
        # Exactly the wall time, or (in a gap) shifted forward by less than two hours.
        shift = datetime.combine(day, local.time()) - datetime.combine(day, wall)
        assert timedelta(0) <= shift < timedelta(hours=2)
        assert occ.due <= occ.deadline < datetime.combine(day + timedelta(days=1), time(), zone)
    for earlier_occ, later_occ, earlier_day, later_day in zip(
        got, got[1:], days, days[1:], strict=False
    ):
        assert earlier_occ.due < later_occ.due
        assert later_day - earlier_day == period
    # The chain: planning again from any occurrence gives exactly the rest.
    again = first(weekly_occurrences("c", got[4].due, weekday, wall, zone, every_weeks, anchor), 7)
    assert again == got[5:]


# --- moving an occurrence --------------------------------------------------------------------


def test_adjusted_keeps_the_key_and_remembers_the_rules_own_time() -> None:
    occ = Occurrence("r:2026-01-10", utc(2026, 1, 10, 6), utc(2026, 1, 10, 23, 59, 59))
    moved = adjusted(occ, utc(2026, 1, 10, 7), utc(2026, 1, 10, 9))
    assert (moved.key, moved.due, moved.deadline) == (
        "r:2026-01-10",
        utc(2026, 1, 10, 7),
        utc(2026, 1, 10, 9),
    )
    assert moved.payload == {"rule_due": "2026-01-10T06:00:00Z"}


# --- the life-cycle, on a real outbox --------------------------------------------------------

GUILD = 1


@dataclass(frozen=True)
class Tick:
    guild_id: int
    at: time
    user_id: int | None = None


class Ticks(RecurringRules[Tick]):
    """A tiny recurring feature: a daily 09:00 London rule kept in memory."""

    def __init__(self, scheduler: Scheduler, clock: FakeClock) -> None:
        super().__init__("tick", scheduler, clock=clock, off_note="skipped: ticks are off")
        self.rules: dict[int, Tick] = {}
        self.ran: list[str] = []
        self.postpone = timedelta(0)  # move each occurrence this much later
        self.turn_off_when_due = False

    async def rule_for(self, job: Job) -> Tick | None:
        assert job.guild_id is not None
        return self.rules.get(job.guild_id)

    async def all_rules(self) -> list[Tick]:
        return list(self.rules.values())

    async def occurrences(self, rule: Tick, after: datetime) -> Iterator[Occurrence]:
        daily = daily_occurrences(f"tick:{rule.guild_id}", after, rule.at, LONDON, "every-day")
        if not self.postpone:
            return daily
        moved = self.postpone
        return (adjusted(o, o.due + moved, o.due + moved + timedelta(hours=1)) for o in daily)

    async def when_due(self, rule: Tick, job: Job) -> str:
        self.ran.append(job.key)
        if self.turn_off_when_due:
            del self.rules[rule.guild_id]
        return "ticked"

    async def set(self, rule: Tick) -> datetime | None:
        self.rules[rule.guild_id] = rule
        return await self.replan(rule)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await SqliteDatabase.open(tmp_path / "r.db")
    await migrate(database)
    yield database
    await database.close()


async def outbox(db: Database) -> dict[str, str]:
    rows = await db.fetchall("SELECT key, state FROM outbox WHERE kind = 'tick' ORDER BY key")
    return {r["key"]: r["state"] for r in rows}


async def pending(scheduler: Scheduler) -> list[tuple[str, datetime]]:
    return [(j.key, j.due_at) for j in await scheduler.pending(guild_id=GUILD, kind="tick")]


async def test_set_plans_and_a_change_replans(db: Database) -> None:
    clock = FakeClock(utc(2026, 11, 28, 8))
    scheduler = Scheduler(db, clock=clock)
    ticks = Ticks(scheduler, clock)
    assert await ticks.set(Tick(GUILD, time(9))) == utc(2026, 11, 28, 9)
    assert await ticks.set(Tick(GUILD, time(10))) == utc(2026, 11, 28, 10)
    assert await pending(scheduler) == [("tick:1:2026-11-28", utc(2026, 11, 28, 10))]


async def test_after_a_run_the_next_is_planned_and_a_run_never_repeats(db: Database) -> None:
    clock = FakeClock(utc(2026, 11, 28, 8))
    scheduler = Scheduler(db, clock=clock)
    ticks = Ticks(scheduler, clock)
    await ticks.set(Tick(GUILD, time(9)))
    clock.set(utc(2026, 11, 28, 9, 0, 5))
    await scheduler.run_due()
    assert ticks.ran == ["tick:1:2026-11-28"]
    assert await pending(scheduler) == [("tick:1:2026-11-29", utc(2026, 11, 29, 9))]
    # Setting the same rule again later that day does not bring today's back.
    await ticks.set(Tick(GUILD, time(9)))
    await scheduler.run_due()
    assert ticks.ran == ["tick:1:2026-11-28"]
    assert await pending(scheduler) == [("tick:1:2026-11-29", utc(2026, 11, 29, 9))]


async def test_the_next_is_planned_from_the_rules_own_time_not_the_moved_one(
    db: Database,
) -> None:
    clock = FakeClock(utc(2026, 11, 28, 8))
    scheduler = Scheduler(db, clock=clock)
    ticks = Ticks(scheduler, clock)
    ticks.postpone = timedelta(days=1, hours=1)  # each one moved past the next rule time
    await ticks.set(Tick(GUILD, time(9)))
    assert await pending(scheduler) == [("tick:1:2026-11-28", utc(2026, 11, 29, 10))]
    clock.set(utc(2026, 11, 29, 10, 0, 5))
    await scheduler.run_due()
    [job] = await scheduler.pending(guild_id=GUILD, kind="tick")
    # Planned from 09:00 on the 28th, so the 29th's occurrence is not skipped.
    assert job.key == "tick:1:2026-11-29" and rule_time(job) == utc(2026, 11, 29, 9)


async def test_a_run_that_turns_the_rule_off_plans_nothing(db: Database) -> None:
    clock = FakeClock(utc(2026, 11, 28, 8))
    scheduler = Scheduler(db, clock=clock)
    ticks = Ticks(scheduler, clock)
    await ticks.set(Tick(GUILD, time(9)))
    ticks.turn_off_when_due = True
    clock.set(utc(2026, 11, 28, 9, 0, 5))
    await scheduler.run_due()
    assert await pending(scheduler) == []


async def test_an_occurrence_of_a_rule_turned_off_is_skipped(db: Database) -> None:
    clock = FakeClock(utc(2026, 11, 28, 8))
    scheduler = Scheduler(db, clock=clock)
    ticks = Ticks(scheduler, clock)
    await ticks.set(Tick(GUILD, time(9)))
    del ticks.rules[GUILD]  # gone without cancelling
    clock.set(utc(2026, 11, 28, 9, 0, 5))
    await scheduler.run_due()
    assert ticks.ran == []
    note = await db.fetchval("SELECT note FROM outbox WHERE key = 'tick:1:2026-11-28'")
    assert note == "skipped: ticks are off"
    assert await pending(scheduler) == []


async def test_a_missed_one_plans_the_next_and_start_up_ensures_every_rule(db: Database) -> None:
    clock = FakeClock(utc(2026, 11, 28, 8))
    scheduler = Scheduler(db, clock=clock)
    ticks = Ticks(scheduler, clock)
    await ticks.set(Tick(GUILD, time(9)))
    ticks.rules[2] = Tick(2, time(12))  # saved, never planned (e.g. written while down)
    features = Features()
    ticks.declare(features, "Tick")
    assert features.job_labels == {"tick": "Tick"}

    clock.set(utc(2026, 11, 30, 0, 30))  # down past the 28th's and 29th's deadlines
    await scheduler.run_due()
    assert await outbox(db) == {"tick:1:2026-11-28": "missed", "tick:1:2026-11-30": "pending"}
    for start in features.starts:
        await start()
    assert ticks.ran == []
    assert await outbox(db) == {
        "tick:1:2026-11-28": "missed",
        "tick:1:2026-11-30": "pending",
        "tick:2:2026-11-30": "pending",
    }
