"""What circles are made of: the constants, a circle, its sessions, RSVPs and seat counts, and
reading what moderators type (reminder lead times, weekdays, dates, names)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from bot.db import Row
from bot.errors import BadInput
from bot.inputs import clean_text, one_line, within
from bot.recurrence import WEEKDAYS, weekly_occurrences
from bot.routes import Route
from bot.timeutil import discord_timestamp, format_hhmm, from_db, local_date, parse_hhmm

START = "circle-start"
REMINDER = "circle-reminder"
NEWS = "circle-news"  # seats, skips, cancellations and hosts' messages: one kind of DM

AHEAD = 8
OFFER_WINDOW = timedelta(hours=24)
EVENT_WINDOW = timedelta(days=15)
NAME_MAX = 80
DESCRIPTION_MAX = 1000
TOPIC_MAX = 200
DEFAULT_REMINDERS = (24 * 60, 60)
LEAD_MIN, LEAD_MAX = 5, 7 * 24 * 60
LEADS_MAX = 5

MODES = ("share", "listen", "text")
MODE_WORDS = {"share": "sharing", "listen": "listening", "text": "taking part in text"}
Mode = Literal["share", "listen", "text"]

TAKE_SEAT = Route("circle:take", fields=(("guild", "id"), ("session", "id")), signed=True)


# --- values -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Circle:
    id: int
    guild_id: int
    name: str
    description: str
    weekday: int  # 0 = Monday
    at: time
    timezone: str
    every_weeks: int
    anchor: date
    duration: int  # minutes
    capacity: int
    host_id: int | None
    channel_id: int | None
    reminders: tuple[int, ...]  # lead times in minutes, longest first
    archived: bool = False

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def rhythm(self) -> str:
        """ "Tuesdays at 19:00 (Europe/London), every 2 weeks" — in the circle's own zone."""
        every = "" if self.every_weeks == 1 else f", every {self.every_weeks} weeks"
        day = WEEKDAYS[self.weekday].capitalize()
        return f"{day}s at {format_hhmm(self.at)} ({self.timezone}){every}"

    @classmethod
    def from_row(cls, row: Row) -> Circle:
        return cls(
            id=row["id"],
            guild_id=row["guild_id"],
            name=row["name"],
            description=row["description"],
            weekday=row["weekday"],
            at=parse_hhmm(row["at_time"]),
            timezone=row["timezone"],
            every_weeks=row["every_weeks"],
            anchor=date.fromisoformat(row["anchor"]),
            duration=row["duration_min"],
            capacity=row["capacity"],
            host_id=row["host_id"],
            channel_id=row["channel_id"],
            reminders=tuple(int(m) for m in row["reminders"].split(",") if m),
            archived=row["archived_at"] is not None,
        )


@dataclass(frozen=True)
class Session:
    id: int
    circle_id: int
    guild_id: int
    local_date: date
    starts_at: datetime
    ends_at: datetime
    state: str  # planned, skipped, cancelled, open, closed
    topic: str | None = None
    content_note: str | None = None
    reason: str | None = None
    away: bool = False
    cover_id: int | None = None
    seat_offers: int = 0

    @property
    def when(self) -> str:
        """Discord timestamps: each reader sees their own time zone."""
        return (
            f"{discord_timestamp(self.starts_at, 'F')} ({discord_timestamp(self.starts_at, 'R')})"
        )

    @classmethod
    def from_row(cls, row: Row) -> Session:
        return cls(
            id=row["id"],
            circle_id=row["circle_id"],
            guild_id=row["guild_id"],
            local_date=date.fromisoformat(row["local_date"]),
            starts_at=from_db(row["starts_at"]),
            ends_at=from_db(row["ends_at"]),
            state=row["state"],
            topic=row["topic"],
            content_note=row["content_note"],
            reason=row["reason"],
            away=bool(row["away"]),
            cover_id=row["cover_id"],
            seat_offers=row["seat_offers"],
        )


@dataclass(frozen=True)
class Rsvp:
    id: int
    session_id: int
    user_id: int
    mode: str
    status: str  # going, waiting
    aftercare: bool
    confirmed: bool
    attended: bool | None

    @classmethod
    def from_row(cls, row: Row) -> Rsvp:
        attended = row["attended"]
        return cls(
            row["id"],
            row["session_id"],
            row["user_id"],
            row["mode"],
            row["status"],
            bool(row["aftercare"]),
            bool(row["confirmed"]),
            None if attended is None else bool(attended),
        )


@dataclass(frozen=True)
class Seats:
    going: int
    waiting: int
    capacity: int

    @property
    def free(self) -> int:
        return max(self.capacity - self.going, 0)

    def describe(self) -> str:
        """What members see: counts, never names."""
        text = f"{self.going} of {self.capacity} seats taken"
        return text + (f", {self.waiting} waiting" if self.waiting else "")


@dataclass(frozen=True)
class Joined:
    session: Session
    status: str  # going, waiting
    position: int | None = None  # on the waitlist, 1 = next
    every_week: bool = False


@dataclass(frozen=True)
class Left:
    sessions: int  # how many RSVPs went
    every_week: bool  # they also stopped joining every week


# --- parsing what moderators type ---------------------------------------------------------

_LEAD = re.compile(r"(\d{1,4})\s*(d|h|m)", re.IGNORECASE)
_UNIT_MINUTES = {"d": 24 * 60, "h": 60, "m": 1}


def parse_reminders(raw: str) -> tuple[int, ...]:
    """`24h,1h,15m` (also `1d`, `90m`, `1h30m`) → lead times in minutes, longest first.

    Each must be 5 minutes to 7 days; `none` (or `off`) means no reminders.
    """
    text = raw.strip().lower()
    if text in ("none", "off", "no"):
        return ()
    leads: set[int] = set()
    for part in text.split(","):
        part = part.strip().replace(" ", "")
        if not part:
            continue
        pieces = _LEAD.findall(part)
        if not pieces or "".join(f"{n}{u}" for n, u in pieces) != part:
            raise BadInput(
                f"I couldn't read `{part[:20]}` as a reminder time — try something like "
                "`24h,1h,15m` (d = days, h = hours, m = minutes), or `none`."
            )
        minutes = sum(int(n) * _UNIT_MINUTES[u.lower()] for n, u in pieces)
        if not LEAD_MIN <= minutes <= LEAD_MAX:
            raise BadInput(
                f"A reminder can come 5 minutes to 7 days before a session; `{part[:20]}` "
                "is outside that."
            )
        leads.add(minutes)
    if len(leads) > LEADS_MAX:
        raise BadInput(f"Up to {LEADS_MAX} reminder times, please — a few gentle ones is plenty.")
    return tuple(sorted(leads, reverse=True))


def format_lead(minutes: int) -> str:
    """1440 → "24h", 90 → "1h30m", 15 → "15m"."""
    hours, rest = divmod(minutes, 60)
    return (f"{hours}h" if hours else "") + (f"{rest}m" if rest or not hours else "")


def parse_date(raw: str) -> date:
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise BadInput(
            f"I couldn't read `{raw[:20]}` as a date — try the form `2027-03-16` (YYYY-MM-DD)."
        ) from None


def _name(raw: str) -> str:
    name = one_line(raw)
    if not name:
        raise BadInput("A circle needs a name — a few words members will recognise.")
    return within(name, NAME_MAX, "Circle names")


def _description(raw: str) -> str:
    return within(clean_text(raw), DESCRIPTION_MAX, "Descriptions")


def _ranged(value: int, low: int, high: int, what: str) -> int:
    if not low <= value <= high:
        raise BadInput(f"The {what} can be {low} to {high}, not `{value}`.")
    return value


Later = Callable[[], Awaitable[object]]
"""Work to do once the seats lock is released (the DMs about a seat)."""


async def _run(later: Sequence[Later]) -> None:
    for work in later:
        await work()


def _first_week(now: datetime, weekday: int, at: time, zone: ZoneInfo) -> date:
    """The local date of a rule's first session after `now`: the cadence (every 2 or 4 weeks)
    counts from its week, so a new circle meets on its very next weekday."""
    first = next(weekly_occurrences("first", now, weekday, at, zone, 1, local_date(now, zone)))
    return local_date(first.due, zone)
