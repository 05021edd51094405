"""Wall-clock recurrence across DST changes, computed with zoneinfo (no cron triggers)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.timeutil import (
    at_wall_time,
    defer_past_quiet,
    end_of_local_day,
    from_db,
    get_zone,
    in_quiet_hours,
    next_wall_time,
    parse_hhmm,
    search_zones,
    to_db,
)
from tests.clock import utc

NY = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")


# --- the three zones, both transitions each -------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "after", "wall", "expected"),
    [
        # New York springs forward 2026-03-08 02:00 EST → 03:00 EDT.
        (NY, utc(2026, 3, 7, 12), time(9, 0), utc(2026, 3, 7, 14)),  # EST, UTC-5
        (NY, utc(2026, 3, 7, 15), time(9, 0), utc(2026, 3, 8, 13)),  # EDT, UTC-4
        (NY, utc(2026, 3, 7, 15), time(2, 30), utc(2026, 3, 8, 7)),  # gap → 03:00 EDT
        # New York falls back 2026-11-01 02:00 EDT → 01:00 EST; 01:30 happens twice.
        (NY, utc(2026, 10, 31, 12), time(1, 30), utc(2026, 11, 1, 5, 30)),  # first: EDT
        (NY, utc(2026, 11, 1, 5, 30), time(1, 30), utc(2026, 11, 2, 6, 30)),  # not again at 06:30
        # London springs forward 2026-03-29 01:00 GMT → 02:00 BST.
        (LONDON, utc(2026, 3, 28, 12), time(1, 30), utc(2026, 3, 29, 1)),  # gap → 02:00 BST
        (LONDON, utc(2026, 3, 28, 12), time(19, 0), utc(2026, 3, 28, 19)),
        (LONDON, utc(2026, 3, 28, 20), time(19, 0), utc(2026, 3, 29, 18)),  # 19:00 BST
        # London falls back 2026-10-25 02:00 BST → 01:00 GMT.
        (LONDON, utc(2026, 10, 24, 12), time(1, 30), utc(2026, 10, 25, 0, 30)),
        (LONDON, utc(2026, 10, 25, 0, 30), time(1, 30), utc(2026, 10, 26, 1, 30)),
        # Lord Howe moves by 30 minutes. Springs forward 2026-10-04 02:00 → 02:30 (UTC+11).
        (LORD_HOWE, utc(2026, 10, 3, 0), time(2, 15), utc(2026, 10, 3, 15, 30)),  # → 02:30
        (LORD_HOWE, utc(2026, 10, 3, 0), time(9, 0), utc(2026, 10, 3, 22, 0)),
        # Falls back 2026-04-05 02:00 → 01:30 (UTC+10:30); 01:45 happens twice.
        (LORD_HOWE, utc(2026, 4, 4, 0), time(1, 45), utc(2026, 4, 4, 14, 45)),
        (LORD_HOWE, utc(2026, 4, 4, 14, 45), time(1, 45), utc(2026, 4, 5, 15, 15)),
    ],
)
def test_next_wall_time_across_dst(
    zone: ZoneInfo, after: datetime, wall: time, expected: datetime
) -> None:
    assert next_wall_time(after, wall, zone) == expected


def test_weekday_rule_skips_other_days() -> None:
    friday_evening = utc(2026, 11, 27, 20)  # a Friday
    weekdays_only = {0, 1, 2, 3, 4}
    # Saturday and Sunday are skipped: the next weekday 09:00 in London is Monday.
    assert next_wall_time(friday_evening, time(9), LONDON, weekdays_only) == utc(2026, 11, 30, 9)


ZONES = [NY, LONDON, LORD_HOWE, ZoneInfo("Asia/Kolkata"), ZoneInfo("America/Santiago")]


@settings(max_examples=200, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    start=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 1, 1)),
    hour=st.integers(0, 23),
    minute=st.sampled_from([0, 15, 30, 45, 59]),
)
def test_a_daily_rule_fires_once_per_local_day(
    zone: ZoneInfo, start: datetime, hour: int, minute: int
) -> None:
    """Thirty consecutive occurrences: one per local date, no day skipped, none doubled."""
    wall = time(hour, minute)
    after = start.replace(tzinfo=UTC)
    previous = next_wall_time(after, wall, zone)
    assert previous > after
    for _ in range(30):
        following = next_wall_time(previous, wall, zone)
        assert following > previous
        assert previous.astimezone(zone).date() + timedelta(days=1) == (
            following.astimezone(zone).date()
        )
        # Either exactly the wall time, or (in a gap) shifted forward by less than two hours.
        local = following.astimezone(zone)
        shift = datetime.combine(local.date(), local.time()) - datetime.combine(local.date(), wall)
        assert timedelta(0) <= shift < timedelta(hours=2)
        previous = following


def test_at_wall_time_is_first_occurrence_in_an_overlap() -> None:
    first = at_wall_time(datetime(2026, 11, 1).date(), time(1, 30), NY)
    assert first == utc(2026, 11, 1, 5, 30)


@pytest.mark.parametrize(
    ("zone", "day", "hours"),
    [
        (LONDON, date(2026, 3, 29), 23),  # spring forward
        (LONDON, date(2026, 10, 25), 25),  # fall back
        (NY, date(2026, 3, 8), 23),
        (LORD_HOWE, date(2026, 4, 5), 24.5),
        (ZoneInfo("America/Santiago"), date(2026, 9, 6), 23),  # midnight itself is skipped
    ],
)
def test_a_local_day_ends_at_the_next_local_midnight(
    zone: ZoneInfo, day: date, hours: float
) -> None:
    """Daily and weekly deadlines are the end of the local day, however long that day is."""
    start = at_wall_time(day, time(0, 0), zone)
    assert end_of_local_day(day, zone) - start == timedelta(hours=hours)


# --- quiet hours -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wall", "quiet"),
    [(time(23), True), (time(6, 59), True), (time(7), False), (time(21, 59), False)],
)
def test_quiet_hours_wrap_past_midnight(wall: time, quiet: bool) -> None:
    assert in_quiet_hours(wall, time(22), time(7)) is quiet


def test_quiet_hours_within_a_day() -> None:
    assert in_quiet_hours(time(13), time(12), time(14))
    assert not in_quiet_hours(time(14), time(12), time(14))


def test_defer_past_quiet_moves_to_the_end_of_quiet_hours() -> None:
    six_am_london = utc(2026, 1, 10, 6)
    assert defer_past_quiet(six_am_london, LONDON, time(22), time(7)) == utc(2026, 1, 10, 7)
    eight_am = utc(2026, 1, 10, 8)
    assert defer_past_quiet(eight_am, LONDON, time(22), time(7)) == eight_am


# --- parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("19:30", time(19, 30)),
        ("7:05", time(7, 5)),
        ("07:05", time(7, 5)),
        ("19h30", time(19, 30)),
        ("7pm", time(19, 0)),
        ("7:30 PM", time(19, 30)),
        ("12am", time(0, 0)),
        ("12pm", time(12, 0)),
        (" 8.15 ", time(8, 15)),
    ],
)
def test_parse_hhmm_accepts(text: str, expected: time) -> None:
    assert parse_hhmm(text) == expected


@pytest.mark.parametrize("text", ["25:99", "24:00", "7", "13pm", "0am", "", "noon", "7:5", "19:60"])
def test_parse_hhmm_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_hhmm(text)


# --- zones -----------------------------------------------------------------------------------


def test_get_zone_forgives_case_and_spaces() -> None:
    assert get_zone("europe/london").key == "Europe/London"
    assert get_zone("America/New York").key == "America/New_York"
    assert get_zone("Lord_Howe").key == "Australia/Lord_Howe"


@pytest.mark.parametrize("name", ["Mars/Olympus", "", "Europe", "../../etc/passwd"])
def test_get_zone_rejects_unknown(name: str) -> None:
    with pytest.raises(ValueError):
        get_zone(name)


def test_search_zones_ranks_best_first_and_caps_at_25() -> None:
    assert search_zones("lond")[0] == "Europe/London"
    assert search_zones("new york")[0] == "America/New_York"
    assert len(search_zones("a")) == 25
    assert len(search_zones("")) == 25
    assert search_zones("zzzz") == []


def test_db_instants_round_trip_and_sort() -> None:
    a, b = utc(2026, 1, 2, 3, 4, 5), utc(2026, 11, 2, 3, 4, 5)
    assert from_db(to_db(a)) == a
    assert to_db(a) < to_db(b)
    with pytest.raises(ValueError):
        to_db(datetime(2026, 1, 1))
