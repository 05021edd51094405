"""A listening circle as an iCalendar (.ics) file, for members to add to their own calendar.

`series_ics(SeriesCalendar(...))` returns one VCALENDAR holding a VTIMEZONE for the circle's
zone and ONE VEVENT for the whole series: DTSTART at the local wall time on the first session,
an RRULE (`FREQ=WEEKLY;INTERVAL=every_weeks;BYDAY=…`), DURATION, and an EXDATE for every
skipped session. A calendar app then keeps the circle at its local time across DST, as Haven
does ("Sunday 19:00 America/New_York" is 19:00 there all year).

Why there may be more: Haven and RFC 5545 disagree about a wall time that does not exist. On a
spring-forward day Haven holds 02:30 at the first valid minute after the gap, 03:00 EDT (see
`bot/timeutil.py`); RFC 5545 reads the same local time with the offset from before the gap,
02:30 EST = 03:30 EDT. So every session in `starts` whose real instant differs from the one the
RRULE gives for its date gets an EXDATE for the rule's reading and an RDATE (in UTC, which no
reader can misread) at Haven's instant: a member's calendar shows each session exactly when
Haven holds it. (An ambiguous fall-back time is no such case: both take its first occurrence.)

Pure: no discord, no I/O. Apart from DTSTAMP (pass `stamp` to fix it) the bytes depend on the
arguments alone. Member-written text (name, description, location) is escaped by icalendar,
after control characters are stripped.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event

PRODID = "-//Healing Havens//Haven//EN"

ZONE_YEARS = 20
"""How many years past its last described session the VTIMEZONE spells out the zone's rules.

icalendar writes a zone as the list of its transitions (RDATEs) between two dates, not as
yearly rules; apps that know the IANA name (most) ignore it, the rest read it this far.
"""

_ICAL_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_DROPPED = frozenset({"Cc", "Cs"})  # control characters, lone surrogates


@dataclass(frozen=True)
class SeriesCalendar:
    """What a circle's calendar file says: its rule, and Haven's own sessions to match."""

    uid: str
    """A stable id for the series (`circle-12@haven`): re-importing updates, not duplicates."""
    name: str
    description: str
    zone: str
    """The IANA zone name the circle's wall time is in."""
    weekday: int
    """0 = Monday … 6 = Sunday."""
    at: time
    """The local wall-clock start time."""
    duration: timedelta
    every_weeks: int
    first: date
    """The local date of the first session the file describes (DTSTART); on `weekday`."""
    starts: Sequence[tuple[date, datetime]]
    """Haven's own sessions, not skipped: (local date, aware UTC start). Those before `first`
    are not described."""
    skipped: Sequence[date] = ()
    """Local dates of sessions that were skipped or cancelled."""
    location: str | None = None
    url: str | None = None


def series_ics(calendar: SeriesCalendar, *, stamp: datetime | None = None) -> bytes:
    """The .ics file for a circle series; `stamp` (aware) is its DTSTAMP, default now.

    Raises `ValueError` for a rule that cannot be written (`first` not on `weekday`, a naive
    start, an unknown zone, …).
    """
    zone = _zone(calendar)
    cal = Calendar()
    cal.add("PRODID", PRODID)
    cal.add("VERSION", "2.0")
    cal.add("METHOD", "PUBLISH")
    cal.add_component(_event(calendar, zone, _utc(stamp or datetime.now(UTC))))
    cal.add_missing_timezones(*_zone_window(calendar))
    if cal.get_missing_tzids():
        raise ValueError(f"icalendar cannot describe the time zone {calendar.zone!r}")
    ics: bytes = cal.to_ical()  # typed Any by icalendar
    return ics


# --- the event ------------------------------------------------------------------------------


def _event(calendar: SeriesCalendar, zone: ZoneInfo, stamp: datetime) -> Event:
    event = Event()
    event.add("UID", _text(calendar.uid, newlines=False))
    event.add("DTSTAMP", stamp)
    event.add("SUMMARY", _text(calendar.name))
    optional = {
        "DESCRIPTION": _text(calendar.description),
        "LOCATION": _text(calendar.location or ""),
        "URL": _text(calendar.url or "", newlines=False),
    }
    for key, value in optional.items():
        if value:
            event.add(key, value)
    event.add("DTSTART", _local(calendar.first, calendar.at, zone))
    event.add("DURATION", calendar.duration)
    event.add(
        "RRULE",
        {"FREQ": "WEEKLY", "INTERVAL": calendar.every_weeks, "BYDAY": _ICAL_DAYS[calendar.weekday]},
    )
    excluded, added = _exceptions(calendar, zone)
    if excluded:
        event.add("EXDATE", [_local(day, calendar.at, zone) for day in excluded])
    if added:
        event.add("RDATE", added)
    return event


def _exceptions(calendar: SeriesCalendar, zone: ZoneInfo) -> tuple[list[date], list[datetime]]:
    """The rule's dates to exclude, and the UTC instants to add, so the file matches Haven.

    Skipped dates are excluded. A session whose instant is not the RRULE's reading of its date
    (a spring-forward gap) is excluded and added back at Haven's instant; one off the rule
    altogether is just added. A date both held and skipped counts as skipped.
    """
    skipped = set(calendar.skipped)
    excluded = {day for day in skipped if _on_rule(calendar, day)}
    added: set[datetime] = set()
    for day, start in calendar.starts:
        if day < calendar.first or day in skipped:
            continue
        held = _utc(start)
        if not _on_rule(calendar, day):
            added.add(held)
        elif held != _local(day, calendar.at, zone).astimezone(UTC):
            excluded.add(day)
            added.add(held)
    return sorted(excluded), sorted(added)


def _on_rule(calendar: SeriesCalendar, day: date) -> bool:
    """Whether the RRULE (from DTSTART on `first`) has an occurrence on local `day`."""
    return day >= calendar.first and (day - calendar.first).days % (7 * calendar.every_weeks) == 0


def _local(day: date, at: time, zone: ZoneInfo) -> datetime:
    """`at` on `day` in `zone`, read as RFC 5545 reads it: fold=0 gives a nonexistent time the
    offset from before the gap, and an ambiguous one its first occurrence."""
    return datetime.combine(day, at.replace(tzinfo=None), tzinfo=zone)


# --- checks and helpers ---------------------------------------------------------------------


def _zone(calendar: SeriesCalendar) -> ZoneInfo:
    """The series' zone, once its rule is known to be writable as an RRULE."""
    if not 0 <= calendar.weekday <= 6:
        raise ValueError(f"weekday must be 0 (Monday) to 6 (Sunday), not {calendar.weekday}")
    if calendar.first.weekday() != calendar.weekday:
        raise ValueError(f"the first session, {calendar.first}, is not on the series' weekday")
    if calendar.every_weeks < 1:
        raise ValueError(f"every_weeks must be at least 1, not {calendar.every_weeks}")
    if calendar.duration <= timedelta(0):
        raise ValueError("a session must last a while")
    try:
        return ZoneInfo(calendar.zone)
    except (KeyError, ValueError) as exc:  # ZoneInfoNotFoundError is a KeyError
        raise ValueError(f"unknown time zone: {calendar.zone!r}") from exc


def _utc(instant: datetime) -> datetime:
    if instant.tzinfo is None:
        raise ValueError("naive datetimes are ambiguous; pass an aware instant")
    return instant.astimezone(UTC).replace(microsecond=0)


def _zone_window(calendar: SeriesCalendar) -> tuple[date, date]:
    """From the new year before anything the file names to `ZONE_YEARS` after all of it."""
    days = [calendar.first, *calendar.skipped, *(day for day, _ in calendar.starts)]
    described = [day for day in days if day >= calendar.first]
    return date(calendar.first.year, 1, 1), date(max(described).year + ZONE_YEARS + 1, 1, 1)


def _text(value: str, *, newlines: bool = True) -> str:
    """`value` without control characters (and lone surrogates, which cannot be encoded).

    Line breaks become `\\n` (icalendar escapes it) where `newlines` allows, else a space;
    tabs stay. The rest would break the file or hide things in it.
    """
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    if not newlines:
        value = value.replace("\n", " ")
    return "".join(c for c in value if c in "\n\t" or unicodedata.category(c) not in _DROPPED)
