"""Circle calendar files: read back and expanded as a calendar app would (recurring-ical-events),
they hold every session exactly when Haven's own rule (`weekly_occurrences`) holds it, across
DST changes, gaps, skips and any text a member writes."""

from __future__ import annotations

import random
from collections.abc import Collection
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from itertools import takewhile
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import recurring_ical_events
from hypothesis import given, settings
from hypothesis import strategies as st
from icalendar import Calendar

from bot.calendar import PRODID, SeriesCalendar, series_ics
from bot.recurrence import weekly_occurrences

STAMP = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
TUESDAY, SUNDAY = 1, 6


def haven_sessions(
    zone: str,
    weekday: int,
    at: time,
    first: date,
    weeks: int,
    every_weeks: int = 1,
    skipped: Collection[date] = (),
) -> list[tuple[date, datetime]]:
    """Haven's own sessions for `weeks` weeks from `first` (its anchor): (local date, UTC)."""
    after = datetime.combine(first - timedelta(days=1), time(0), UTC)
    until = datetime.combine(first + timedelta(weeks=weeks), time(0), UTC)
    occs = weekly_occurrences(
        "circle-session:1", after, weekday, at, ZoneInfo(zone), every_weeks, first
    )
    sessions = [
        (date.fromisoformat(occ.key.rsplit(":", 1)[1]), occ.due)
        for occ in takewhile(lambda occ: occ.due < until, occs)
    ]
    return [(day, due) for day, due in sessions if day not in skipped]


def series(
    zone: str,
    weekday: int,
    at: time,
    first: date,
    *,
    weeks: int = 12,
    every_weeks: int = 1,
    skipped: Collection[date] = (),
    name: str = "Evening circle",
) -> tuple[SeriesCalendar, list[tuple[date, datetime]]]:
    """A circle's calendar, built from Haven's sessions, and those sessions."""
    sessions = haven_sessions(zone, weekday, at, first, weeks, every_weeks, skipped)
    calendar = SeriesCalendar(
        uid="circle-1@haven",
        name=name,
        description="A gentle space to listen.",
        zone=zone,
        weekday=weekday,
        at=at,
        duration=timedelta(minutes=90),
        every_weeks=every_weeks,
        first=first,
        starts=sessions,
        skipped=tuple(skipped),
    )
    return calendar, sessions


def parsed(calendar: SeriesCalendar) -> Calendar:
    return Calendar.from_ical(series_ics(calendar, stamp=STAMP))


def vevent(calendar: SeriesCalendar) -> Any:
    """The file's one VEVENT (Any: icalendar types a property as a union of all value types)."""
    [event] = parsed(calendar).walk("VEVENT")
    return event


def expanded(calendar: SeriesCalendar, weeks: int = 12) -> list[datetime]:
    """The UTC start of every session a calendar app shows in the file's first `weeks` weeks."""
    after = datetime.combine(calendar.first - timedelta(days=1), time(0), UTC)
    until = datetime.combine(calendar.first + timedelta(weeks=weeks), time(0), UTC)
    events: list[Any] = recurring_ical_events.of(parsed(calendar)).between(after, until)
    return sorted(event.start.astimezone(UTC) for event in events)


def instants(sessions: list[tuple[date, datetime]]) -> list[datetime]:
    return [due for _, due in sessions]


def test_a_weekly_circle_keeps_its_local_time_across_spring_forward() -> None:
    calendar, sessions = series("America/New_York", SUNDAY, time(19, 0), date(2027, 2, 21))
    shown = expanded(calendar)

    assert shown == instants(sessions)
    assert len(shown) == 12
    ny = ZoneInfo("America/New_York")
    assert {s.astimezone(ny).time() for s in shown} == {time(19, 0)}
    by_day = dict(sessions)
    before, after = by_day[date(2027, 3, 7)], by_day[date(2027, 3, 14)]
    assert after - before == timedelta(days=7, hours=-1)
    assert (before.hour, after.hour) == (0, 23)  # 19:00 EST, then 19:00 EDT, in UTC
    assert "RDATE" not in vevent(calendar)


def test_the_file_is_one_published_series_with_its_zone() -> None:
    calendar, _ = series("America/New_York", SUNDAY, time(19, 0), date(2027, 2, 21))
    cal = parsed(calendar)

    assert (str(cal["PRODID"]), str(cal["VERSION"]), str(cal["METHOD"])) == (
        PRODID,
        "2.0",
        "PUBLISH",
    )
    [zone] = cal.walk("VTIMEZONE")
    assert str(zone["TZID"]) == "America/New_York"
    event = vevent(calendar)
    assert str(event["UID"]) == "circle-1@haven"
    assert event["DTSTAMP"].dt == STAMP
    assert event["DTSTART"].dt == datetime(2027, 2, 21, 19, 0, tzinfo=ZoneInfo("America/New_York"))
    assert event["DTSTART"].params["TZID"] == "America/New_York"
    assert event["DURATION"].dt == timedelta(minutes=90)
    assert event["RRULE"].to_ical() == b"FREQ=WEEKLY;INTERVAL=1;BYDAY=SU"
    assert "LOCATION" not in event and "URL" not in event


def test_every_two_weeks_with_skipped_sessions() -> None:
    skipped = {date(2026, 5, 10), date(2026, 6, 7)}
    calendar, sessions = series(
        "America/New_York", SUNDAY, time(18, 30), date(2026, 4, 26), every_weeks=2, skipped=skipped
    )
    shown = expanded(calendar)

    assert shown == instants(sessions)
    assert len(shown) == 6 - len(skipped)
    assert not {s.astimezone(ZoneInfo("America/New_York")).date() for s in shown} & skipped
    event = vevent(calendar)
    assert b"INTERVAL=2" in event["RRULE"].to_ical()
    assert event["EXDATE"].params["TZID"] == "America/New_York"


@pytest.mark.parametrize("first", [date(2026, 2, 15), date(2026, 3, 8)], ids=["before", "on"])
def test_a_time_in_the_spring_forward_gap_is_held_when_the_gap_ends(first: date) -> None:
    """02:30 does not exist on 2026-03-08 in New York: Haven holds it at 03:00 EDT, and so
    does the file (RFC 5545 alone would say 02:30 EST, 03:30 EDT) — also as its DTSTART."""
    calendar, sessions = series("America/New_York", SUNDAY, time(2, 30), first, weeks=6)
    shown = expanded(calendar, weeks=6)

    assert shown == instants(sessions)
    assert datetime(2026, 3, 8, 7, 0, tzinfo=UTC) in shown
    assert datetime(2026, 3, 8, 7, 30, tzinfo=UTC) not in shown
    event = vevent(calendar)
    assert [r.dt for r in event["RDATE"].dts] == [datetime(2026, 3, 8, 7, 0, tzinfo=UTC)]


@pytest.mark.parametrize(
    ("weekday", "at"),
    [(TUESDAY, time(19, 0)), (SUNDAY, time(1, 30))],
    ids=["tuesday-19:00", "sunday-01:30-twice"],
)
def test_london_across_the_october_fall_back(weekday: int, at: time) -> None:
    """19:00 BST is 18:00 UTC, 19:00 GMT is 19:00 UTC. 01:30 on 2026-10-25 happens twice and is
    held once, the first time (00:30 UTC), as RFC 5545 reads it too: no correction needed."""
    first = date(2026, 9, 29) + timedelta(days=weekday - TUESDAY)
    calendar, sessions = series("Europe/London", weekday, at, first, weeks=10)
    shown = expanded(calendar, weeks=10)

    assert shown == instants(sessions)
    assert {s.astimezone(ZoneInfo("Europe/London")).time() for s in shown} == {at}
    assert shown[-1].hour - shown[0].hour == 1
    assert "RDATE" not in vevent(calendar)
    if weekday == SUNDAY:
        assert datetime(2026, 10, 25, 0, 30, tzinfo=UTC) in shown


def test_member_text_round_trips_escaped() -> None:
    name = 'Grief circle\nWednesdays, 7pm; all welcome 🌿💛 \\ "quoted" :colon'
    calendar, _ = series("Europe/London", TUESDAY, time(19, 0), date(2026, 9, 29), name=name)
    calendar = replace(
        calendar,
        description="Line one\r\nLine two; three, four\\n not a newline",
        location="Voice: #circle\nroom 2",
        url="https://discord.com/channels/1/2?x=a,b;c",
    )
    ics = series_ics(calendar, stamp=STAMP)
    [event] = Calendar.from_ical(ics).walk("VEVENT")

    assert str(event["SUMMARY"]) == name
    assert str(event["DESCRIPTION"]) == "Line one\nLine two; three, four\\n not a newline"
    assert str(event["LOCATION"]) == "Voice: #circle\nroom 2"
    assert str(event["URL"]) == "https://discord.com/channels/1/2?x=a,b;c"
    assert b"\r\nEND:VCALENDAR\r\n" in ics and ics.count(b"\r\nBEGIN:VEVENT\r\n") == 1


def test_control_characters_are_stripped() -> None:
    calendar, _ = series(
        "Europe/London",
        TUESDAY,
        time(19, 0),
        date(2026, 9, 29),
        name="a\x00b\x1b[31mc\x7f\u0085\td",
    )
    calendar = replace(calendar, url="https://x.example/\r\nBEGIN:VEVENT")
    ics = series_ics(calendar, stamp=STAMP)
    [event] = Calendar.from_ical(ics).walk("VEVENT")

    assert str(event["SUMMARY"]) == "ab[31mc\td"
    assert str(event["URL"]) == "https://x.example/ BEGIN:VEVENT"
    assert ics.count(b"\r\nBEGIN:VEVENT\r\n") == 1


def test_the_bytes_depend_on_the_arguments_alone() -> None:
    skipped = [date(2026, 3, 22), date(2026, 3, 29)]
    calendar, sessions = series(
        "America/New_York", SUNDAY, time(2, 30), date(2026, 2, 15), skipped=skipped
    )
    shuffled = list(sessions)
    random.Random(7).shuffle(shuffled)
    reordered = replace(calendar, starts=shuffled, skipped=skipped[::-1])

    assert series_ics(calendar, stamp=STAMP) == series_ics(reordered, stamp=STAMP)
    assert series_ics(calendar, stamp=STAMP) != series_ics(calendar, stamp=STAMP + timedelta(1))


def test_a_session_off_the_rule_is_added_and_a_skip_wins() -> None:
    calendar, sessions = series("UTC", TUESDAY, time(12, 0), date(2026, 9, 29), weeks=4)
    extra = (date(2026, 10, 2), datetime(2026, 10, 2, 12, 0, tzinfo=UTC))
    extra_skipped = (date(2026, 10, 3), datetime(2026, 10, 3, 12, 0, tzinfo=UTC))
    both = sessions[1]
    calendar = replace(
        calendar,
        starts=[*sessions, extra, extra_skipped],
        skipped=[both[0], extra_skipped[0]],
    )

    assert expanded(calendar, weeks=4) == sorted({*instants(sessions), extra[1]} - {both[1]})
    assert not parsed(calendar).walk("VTIMEZONE")  # UTC needs none: times end in Z


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"first": date(2026, 9, 30)}, "weekday"),
        ({"zone": "Mars/Olympus_Mons"}, "time zone"),
        ({"starts": [(date(2026, 9, 29), datetime(2026, 9, 29, 19, 0))]}, "naive"),
        ({"every_weeks": 0}, "every_weeks"),
        ({"duration": timedelta(0)}, "last"),
    ],
)
def test_rules_that_cannot_be_written_are_refused(change: dict[str, Any], message: str) -> None:
    calendar, _ = series("Europe/London", TUESDAY, time(19, 0), date(2026, 9, 29), weeks=2)
    with pytest.raises(ValueError, match=message):
        series_ics(replace(calendar, **change), stamp=STAMP)


CASES = [  # a zone, and a wall time that goes missing there once a year (or happens twice)
    ("America/New_York", time(2, 30)),
    ("America/New_York", time(1, 30)),  # twice in November
    ("Europe/London", time(1, 30)),
    ("Australia/Lord_Howe", time(2, 15)),  # a 30-minute change
    ("America/Santiago", time(0, 30)),  # changes at midnight
    ("Asia/Tokyo", time(19, 0)),  # no changes at all
]


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    case=st.sampled_from(CASES),
    first=st.dates(min_value=date(2025, 1, 1), max_value=date(2028, 1, 1)),
    every_weeks=st.sampled_from([1, 2, 4]),
    sunday=st.booleans(),
)
def test_the_file_always_matches_haven(
    case: tuple[str, time], first: date, every_weeks: int, sunday: bool
) -> None:
    """Any zone, cadence and day over 60 weeks; the changes fall on Sundays, so many are."""
    zone, at = case
    if sunday:
        first += timedelta(days=SUNDAY - first.weekday())
    calendar, sessions = series(zone, first.weekday(), at, first, weeks=60, every_weeks=every_weeks)
    assert expanded(calendar, weeks=60) == instants(sessions)
