"""Listening circles: the circles moderators set up, their sessions, and who has a seat.

A circle is a wall-clock rule — a weekday and local time in an IANA zone, every 1, 2 or 4
weeks — and its sessions are *materialised* ahead: at least the next `AHEAD` sessions exist as
rows with UTC instants (`bot.recurrence.weekly_occurrences`, so 19:00 in New York stays 19:00
across DST, a time in a spring-forward gap moves to the first valid minute and an ambiguous one
takes the first). A session is identified by its circle and local date, so editing a circle
re-plans future sessions and keeps the RSVPs of every date that still has one.

Each session brings its outbox work with it (`bot/scheduler.py`), keyed by the session id:
- `circle-start:<session>` at its start: top the circle up to `AHEAD` sessions again and slide
  the window of Discord scheduled events;
- `circle-reminder:<session>:<minutes>` at each reminder lead time, deadline the start (a
  reminder missed while the bot was down is sent late only while the session has not begun);
  `bot/circle_reminders.py` handles them.
Editing, skipping or archiving cancels a session's pending work by key prefix.

**Seats.** `join` takes a seat while there is one, else a place on the waitlist (in arrival
order). A freed seat (`leave`, "Can't make it", a member who left, more capacity) goes to the
next person automatically — told by DM — until `OFFER_WINDOW` before the session; after that,
everyone waiting is told a seat opened and the first to press "Take the seat" has it.

**Scheduled events.** The sessions starting within `EVENT_WINDOW` (and always each circle's
next one) are mirrored as Discord scheduled events; skipped, cancelled and archived ones are
cancelled there. Discord caps events per server, so a window keeps the count bounded.

Nothing here imports discord: messages go out through `Sender` (`bot/outgoing.py`).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import partial
from itertools import islice
from typing import Any, Literal
from zoneinfo import ZoneInfo

from bot.db import Database, Row
from bot.dm_stops import DmKind, DmStops
from bot.errors import BadInput, NotFound
from bot.features import Features
from bot.guilds import Guilds
from bot.inputs import clean_text, parse_time, zone_name
from bot.members import Members
from bot.messages import Button, Card, Outgoing, Palette
from bot.outgoing import Dm, EventSpec, Post, Reached, Sender
from bot.recurrence import CIRCLE_CADENCES, every_weeks_for, weekly_occurrences
from bot.routes import Route, Routes
from bot.scheduler import Job, Scheduler
from bot.texts import plain
from bot.timeutil import (
    Clock,
    discord_timestamp,
    format_hhmm,
    from_db,
    local_date,
    parse_hhmm,
    to_db,
    utcnow,
)

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

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MODES = ("share", "listen", "text")
MODE_WORDS = {"share": "sharing", "listen": "listening", "text": "taking part in text"}
Mode = Literal["share", "listen", "text"]

TAKE_SEAT = Route("circle:take", fields=(("guild", "id"), ("session", "id")), signed=True)

_SESSION = (
    "id, circle_id, guild_id, local_date, starts_at, ends_at, state, topic, content_note,"
    " reason, away, cover_id, seat_offers"
)
_CIRCLE = (
    "id, guild_id, name, description, weekday, at_time, timezone, every_weeks, anchor,"
    " duration_min, capacity, host_id, channel_id, reminders, archived_at"
)


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


def parse_weekday(raw: str) -> int:
    word = raw.strip().lower()
    for i, name in enumerate(WEEKDAYS):
        if word in (name, name[:3]):
            return i
    raise BadInput(f"I couldn't read `{raw[:20]}` as a weekday — try `tuesday`.")


def parse_date(raw: str) -> date:
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise BadInput(
            f"I couldn't read `{raw[:20]}` as a date — try the form `2027-03-16` (YYYY-MM-DD)."
        ) from None


def _name(raw: str) -> str:
    name = " ".join(clean_text(raw).split())
    if not name:
        raise BadInput("A circle needs a name — a few words members will recognise.")
    if len(name) > NAME_MAX:
        raise BadInput(f"Circle names can be up to {NAME_MAX} characters; this one is {len(name)}.")
    return name


def _description(raw: str) -> str:
    text = clean_text(raw)
    if len(text) > DESCRIPTION_MAX:
        raise BadInput(
            f"Descriptions can be up to {DESCRIPTION_MAX} characters; this one is {len(text)}."
        )
    return text


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


# --- the service --------------------------------------------------------------------------


class Circles:
    def __init__(
        self,
        db: Database,
        guilds: Guilds,
        members: Members,
        scheduler: Scheduler,
        sender: Sender,
        routes: Routes,
        dm_stops: DmStops,
        *,
        clock: Clock = utcnow,
    ) -> None:
        self._db = db
        self._guilds = guilds
        self._scheduler = scheduler
        self._sender = sender
        self._routes = routes
        self._clock = clock
        # Seats change under one lock: two presses of "Take the seat" at once must not both win.
        self._seats = asyncio.Lock()
        # Job kinds whose keys are `<kind>:<session id>[:…]`: cancelled with their session.
        self._session_kinds: list[str] = [START, REMINDER]
        routes.add(TAKE_SEAT)
        scheduler.register(START, self._session_started, on_missed=self._session_started)
        members.on_left(self._member_left)
        dm_stops.declare(
            DmKind(
                NEWS,
                stop_label="Stop circle news",
                stopped="Done — I won't DM you about seats, skipped sessions or hosts' "
                "messages from this server's circles. Your seats stay as they are.",
            )
        )

    def contribute(self, features: Features) -> None:
        features.job(START, "Circle sessions")
        features.on_start(self.ensure_all)
        features.purge("circle sessions past retention", self.purge_past)
        # A forgotten member's seats go to the waitlist, as if they had left.
        features.before_forget(self._member_left)
        features.count(
            "listening circles",
            "SELECT count(*) FROM circles WHERE guild_id = :guild AND archived_at IS NULL",
        )
        features.count(
            "seats taken in upcoming circle sessions",
            "SELECT count(*) FROM circle_rsvps r JOIN circle_sessions s ON s.id = r.session_id"
            " WHERE r.guild_id = :guild AND r.status = 'going' AND s.starts_at > :now",
        )
        features.data("circle_rsvps", "Your seats and waitlist places in circle sessions.")
        features.data("circle_members", "Circles you join every week, and how you take part.")
        features.data("circle_agreements", "That you agreed to a circle's agreements, and when.")
        features.data("circle_cohosts", "Circles you co-host.")
        features.data("circle_talking", "Your place in a circle's talking-piece queue.")
        features.data(
            "circles",
            "Circles you host (the circle stays with the server; forgetting removes you as host).",
            where="guild_id = :guild AND host_id = :user",
            forget_set="host_id = NULL",
        )
        features.data(
            "circle_sessions",
            "Sessions you covered for a host (forgetting removes your name from them).",
            where="guild_id = :guild AND cover_id = :user",
            forget_set="cover_id = NULL",
        )
        features.privacy(
            "keep",
            "• **Circles**: the sessions you joined or wait for, how you take part (share, "
            "listen or text), whether you'd like an aftercare message, your answers to "
            "reminders, and attendance if a host records it. Past sessions go with the "
            "server's retention period.",
        )
        features.privacy(
            "see",
            "• A circle's hosts and co-hosts see who is coming to their sessions and how they "
            "take part; everyone else sees only how many seats are taken.",
        )

    # --- reading ---------------------------------------------------------------------------

    async def get(self, guild_id: int, ref: str | int, *, archived: bool = False) -> Circle:
        """The circle `ref` names in this server — its id (what autocomplete gives) or its
        name. Another server's id is "not found", exactly like one that never existed."""
        text = str(ref).strip()
        row = None
        if text.isdigit() and len(text) <= 20:
            row = await self._db.fetchone(
                f"SELECT {_CIRCLE} FROM circles WHERE id = ? AND guild_id = ?",
                (int(text), guild_id),
            )
        if row is None:
            row = await self._db.fetchone(
                f"SELECT {_CIRCLE} FROM circles WHERE guild_id = ? AND lower(name) = lower(?)"
                " ORDER BY archived_at IS NOT NULL, id DESC LIMIT 1",
                (guild_id, text),
            )
        if row is None or (row["archived_at"] is not None and not archived):
            shown = plain(text, 60)
            raise NotFound(
                f"I couldn't find a circle called `{shown}` in this server"
                + (" (it was archived)" if row is not None else "")
                + ". `/circle list` shows the circles here; pick one from the suggestions."
            )
        return Circle.from_row(row)

    async def by_id(self, circle_id: int) -> Circle | None:
        row = await self._db.fetchone(f"SELECT {_CIRCLE} FROM circles WHERE id = ?", (circle_id,))
        return Circle.from_row(row) if row else None

    async def choices(self, guild_id: int, query: str, limit: int = 25) -> list[tuple[str, str]]:
        """(name, id) of this server's active circles matching `query`, for autocomplete."""
        rows = await self._db.fetchall(
            "SELECT id, name FROM circles WHERE guild_id = ? AND archived_at IS NULL"
            " ORDER BY lower(name)",
            (guild_id,),
        )
        needle = query.strip().casefold()
        matches = [r for r in rows if needle in r["name"].casefold()]
        matches.sort(key=lambda r: not r["name"].casefold().startswith(needle))
        return [(r["name"], str(r["id"])) for r in matches[:limit]]

    async def active(self, guild_id: int) -> list[Circle]:
        rows = await self._db.fetchall(
            f"SELECT {_CIRCLE} FROM circles WHERE guild_id = ? AND archived_at IS NULL"
            " ORDER BY lower(name)",
            (guild_id,),
        )
        return [Circle.from_row(r) for r in rows]

    async def cohosts(self, circle_id: int) -> list[int]:
        rows = await self._db.fetchall(
            "SELECT user_id FROM circle_cohosts WHERE circle_id = ? ORDER BY added_at, user_id",
            (circle_id,),
        )
        return [r["user_id"] for r in rows]

    async def session(self, session_id: int) -> Session | None:
        row = await self._db.fetchone(
            f"SELECT {_SESSION} FROM circle_sessions WHERE id = ?", (session_id,)
        )
        return Session.from_row(row) if row else None

    async def sessions(self, circle_id: int, *, limit: int = AHEAD) -> list[Session]:
        """Upcoming sessions that will happen (planned or open), soonest first."""
        rows = await self._db.fetchall(
            f"SELECT {_SESSION} FROM circle_sessions WHERE circle_id = ? AND ends_at > ?"
            " AND state IN ('planned', 'open') ORDER BY starts_at LIMIT ?",
            (circle_id, to_db(self._clock()), limit),
        )
        return [Session.from_row(r) for r in rows]

    async def skipped(self, circle_id: int) -> list[Session]:
        """Upcoming sessions that were skipped or cancelled (a calendar leaves these out)."""
        rows = await self._db.fetchall(
            f"SELECT {_SESSION} FROM circle_sessions WHERE circle_id = ? AND starts_at > ?"
            " AND state IN ('skipped', 'cancelled') ORDER BY starts_at",
            (circle_id, to_db(self._clock())),
        )
        return [Session.from_row(r) for r in rows]

    async def next_session(self, circle: Circle) -> Session | None:
        """The next session members can still join: planned, not yet started."""
        row = await self._db.fetchone(
            f"SELECT {_SESSION} FROM circle_sessions WHERE circle_id = ? AND starts_at > ?"
            " AND state = 'planned' ORDER BY starts_at LIMIT 1",
            (circle.id, to_db(self._clock())),
        )
        return Session.from_row(row) if row else None

    async def current_session(self, circle: Circle) -> Session | None:
        """The session a host runs now: one under way (or opened early), else the next."""
        row = await self._db.fetchone(
            f"SELECT {_SESSION} FROM circle_sessions WHERE circle_id = ? AND ends_at > ?"
            " AND state IN ('planned', 'open') ORDER BY starts_at LIMIT 1",
            (circle.id, to_db(self._clock())),
        )
        return Session.from_row(row) if row else None

    async def session_on(self, circle: Circle, raw_date: str) -> Session:
        """The session on a local date (`YYYY-MM-DD`) that has not started yet; kind refusals
        for a malformed date, a date in the past, or a date the circle does not meet."""
        day = parse_date(raw_date)
        today = local_date(self._clock(), circle.zone)
        if day < today:
            raise BadInput(f"{day.isoformat()} has already passed — choose a date from today on.")
        row = await self._db.fetchone(
            f"SELECT {_SESSION} FROM circle_sessions WHERE circle_id = ? AND local_date = ?",
            (circle.id, day.isoformat()),
        )
        session = Session.from_row(row) if row else None
        if session is not None and session.starts_at <= self._clock():
            raise BadInput(f"The session on {day.isoformat()} has already started.")
        if session is None:
            upcoming = ", ".join(
                f"`{s.local_date.isoformat()}`"
                for s in await self.sessions(circle.id, limit=4)
                if s.starts_at > self._clock()
            )
            raise BadInput(
                f"**{plain(circle.name)}** doesn't meet on {day.isoformat()} "
                f"({WEEKDAYS[day.weekday()].capitalize()}). Its next sessions: "
                + (upcoming or "none planned")
                + "."
            )
        if session.state in ("skipped", "cancelled"):
            raise BadInput(f"The session on {day.isoformat()} is already {session.state}.")
        return session

    async def seats(self, session_id: int, capacity: int) -> Seats:
        row = await self._db.fetchone(
            "SELECT sum(CASE WHEN status = 'going' THEN 1 ELSE 0 END) AS going,"
            " sum(CASE WHEN status = 'waiting' THEN 1 ELSE 0 END) AS waiting"
            " FROM circle_rsvps WHERE session_id = ?",
            (session_id,),
        )
        return Seats(
            int(row["going"] or 0) if row else 0, int(row["waiting"] or 0) if row else 0, capacity
        )

    async def upcoming(self, guild_id: int) -> list[tuple[Circle, Session, Seats]]:
        """Each active circle's next session with its seat counts, soonest first."""
        out = []
        for circle in await self.active(guild_id):
            session = await self.next_session(circle)
            if session is not None:
                out.append((circle, session, await self.seats(session.id, circle.capacity)))
        out.sort(key=lambda item: item[1].starts_at)
        return out

    async def rsvps(self, session_id: int) -> list[Rsvp]:
        """Everyone going, then the waitlist in order: for hosts, never for members."""
        rows = await self._db.fetchall(
            "SELECT * FROM circle_rsvps WHERE session_id = ? ORDER BY status = 'waiting', id",
            (session_id,),
        )
        return [Rsvp.from_row(r) for r in rows]

    async def rsvp(self, session_id: int, user_id: int) -> Rsvp | None:
        row = await self._db.fetchone(
            "SELECT * FROM circle_rsvps WHERE session_id = ? AND user_id = ?",
            (session_id, user_id),
        )
        return Rsvp.from_row(row) if row else None

    async def position(self, session_id: int, user_id: int) -> int | None:
        """Their place on the waitlist (1 = next), or None when they aren't waiting."""
        value = await self._db.fetchval(
            "SELECT count(*) FROM circle_rsvps w JOIN circle_rsvps me"
            " ON me.session_id = w.session_id AND me.user_id = ? AND me.status = 'waiting'"
            " WHERE w.session_id = ? AND w.status = 'waiting' AND w.id <= me.id",
            (user_id, session_id),
        )
        return int(value) if value else None

    async def is_series_member(self, circle_id: int, user_id: int) -> bool:
        return bool(
            await self._db.fetchval(
                "SELECT 1 FROM circle_members WHERE circle_id = ? AND user_id = ?",
                (circle_id, user_id),
            )
        )

    async def agreed(self, circle_id: int, user_id: int) -> bool:
        return bool(
            await self._db.fetchval(
                "SELECT 1 FROM circle_agreements WHERE circle_id = ? AND user_id = ?",
                (circle_id, user_id),
            )
        )

    async def may_host(
        self,
        circle: Circle,
        user_id: int,
        *,
        role_ids: Sequence[int] = (),
        moderator: bool = False,
        session: Session | None = None,
    ) -> bool:
        """Hosts, co-hosts, the server's host role, moderators — and whoever covers `session`."""
        if moderator or user_id == circle.host_id:
            return True
        if session is not None and session.cover_id == user_id:
            return True
        config = await self._guilds.get(circle.guild_id)
        if config.host_role_id is not None and config.host_role_id in role_ids:
            return True
        return user_id in await self.cohosts(circle.id)

    def post_channel(self, circle: Circle, fallback: int | None) -> int | None:
        """Where posts about a circle go: its own channel, else the server's circle channel."""
        return circle.channel_id or fallback

    async def channel_for(self, circle: Circle) -> int | None:
        config = await self._guilds.get(circle.guild_id)
        return self.post_channel(circle, config.circle_channel_id)

    # --- moderators: create, edit, archive, co-hosts ---------------------------------------

    async def create(
        self,
        guild_id: int,
        *,
        name: str,
        weekday: str,
        at: str,
        timezone: str | None = None,
        duration: int = 60,
        capacity: int = 8,
        host_id: int | None = None,
        channel_id: int | None = None,
        description: str = "",
        every_weeks: int = 1,
        reminders: str | None = None,
    ) -> Circle:
        """A new circle with its first `AHEAD` sessions planned (and their reminders)."""
        clean_name = _name(name)
        day = parse_weekday(weekday)
        wall = parse_time(at)
        zone = zone_name(timezone) if timezone else (await self._guilds.get(guild_id)).timezone
        every_weeks_for(every_weeks, CIRCLE_CADENCES)
        _ranged(duration, 15, 240, "duration (minutes)")
        _ranged(capacity, 2, 50, "capacity")
        leads = DEFAULT_REMINDERS if reminders is None else parse_reminders(reminders)
        text = _description(description)
        await self._unique(guild_id, clean_name)
        now = self._clock()
        anchor = _first_week(now, day, wall, ZoneInfo(zone))
        circle_id = await self._db.fetchval(
            "INSERT INTO circles (guild_id, name, description, weekday, at_time, timezone,"
            " every_weeks, anchor, duration_min, capacity, host_id, channel_id, reminders,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " RETURNING id",
            (
                guild_id,
                clean_name,
                text,
                day,
                format_hhmm(wall),
                zone,
                every_weeks,
                anchor.isoformat(),
                duration,
                capacity,
                host_id,
                channel_id,
                ",".join(map(str, leads)),
                to_db(now),
                to_db(now),
            ),
        )
        circle = await self.by_id(int(circle_id))
        assert circle is not None
        await self._plan(circle)
        return circle

    async def edit(self, guild_id: int, ref: str, **changes: Any) -> Circle:
        """Change any of create's options. Future sessions are re-planned: a date that still
        has a session keeps its RSVPs (its time moves with the circle); a date that no longer
        has one is removed, and whoever had a seat there is told kindly."""
        circle = await self.get(guild_id, ref)
        values: dict[str, Any] = {}
        if changes.get("name") is not None:
            values["name"] = _name(changes["name"])
            if values["name"].casefold() != circle.name.casefold():
                await self._unique(guild_id, values["name"])
        if changes.get("weekday") is not None:
            values["weekday"] = parse_weekday(changes["weekday"])
        if changes.get("at") is not None:
            values["at_time"] = format_hhmm(parse_time(changes["at"]))
        if changes.get("timezone") is not None:
            values["timezone"] = zone_name(changes["timezone"])
        if changes.get("duration") is not None:
            values["duration_min"] = _ranged(changes["duration"], 15, 240, "duration (minutes)")
        if changes.get("capacity") is not None:
            capacity = _ranged(changes["capacity"], 2, 50, "capacity")
            fullest = await self._db.fetchval(
                "SELECT max(n) FROM (SELECT count(*) AS n FROM circle_rsvps r"
                " JOIN circle_sessions s ON s.id = r.session_id WHERE s.circle_id = ?"
                " AND s.ends_at > ? AND r.status = 'going' GROUP BY r.session_id) AS counts",
                (circle.id, to_db(self._clock())),
            )
            if fullest and capacity < int(fullest):
                raise BadInput(
                    f"An upcoming session already has **{fullest}** people with a seat, so the "
                    f"capacity can't go below {fullest}. Nothing changed."
                )
            values["capacity"] = capacity
        if changes.get("host_id") is not None:
            values["host_id"] = changes["host_id"]
        if changes.get("channel_id") is not None:
            values["channel_id"] = changes["channel_id"]
        if changes.get("description") is not None:
            values["description"] = _description(changes["description"])
        if changes.get("every_weeks") is not None:
            values["every_weeks"] = every_weeks_for(changes["every_weeks"], CIRCLE_CADENCES)
        if changes.get("reminders") is not None:
            values["reminders"] = ",".join(map(str, parse_reminders(changes["reminders"])))
        if not values:
            raise BadInput("Tell me what to change — any option of `/haven circle-create`.")
        rhythm = {"weekday", "at_time", "timezone", "every_weeks"}
        if rhythm & values.keys():
            # The cadence restarts from the next session under the new rule.
            values["anchor"] = _first_week(
                self._clock(),
                values.get("weekday", circle.weekday),
                parse_hhmm(values.get("at_time", format_hhmm(circle.at))),
                ZoneInfo(values.get("timezone", circle.timezone)),
            ).isoformat()
        values["updated_at"] = to_db(self._clock())
        assignments = ", ".join(f"{column} = ?" for column in values)
        await self._db.execute(
            f"UPDATE circles SET {assignments} WHERE id = ?", (*values.values(), circle.id)
        )
        edited = await self.by_id(circle.id)
        assert edited is not None
        await self._plan(edited, replan=True)
        if "capacity" in values and edited.capacity > circle.capacity:
            later: list[Later] = []
            async with self._seats:
                for session in await self.sessions(edited.id):
                    later += await self._fill(edited, session)
            await _run(later)
        return edited

    async def archive(self, guild_id: int, ref: str) -> tuple[Circle, int]:
        """Archive a circle: future sessions are cancelled (their events too) and everyone
        with a seat or a waitlist place is told kindly. Returns it and how many were told."""
        now = self._clock()
        active = await self.get(guild_id, ref)
        await self._db.execute(
            "UPDATE circles SET archived_at = ?, updated_at = ? WHERE id = ?",
            (to_db(now), to_db(now), active.id),
        )
        circle = await self.by_id(active.id)
        assert circle is not None
        told = 0
        for session in await self.sessions(circle.id, limit=1000):
            if session.starts_at <= now:
                continue  # one under way ends on its own
            told += await self.cancel_session(
                circle,
                session,
                state="cancelled",
                notice=f"**{plain(circle.name)}** has come to an end, so the session on "
                f"{session.when} won't take place. Thank you for being part of it. 🤍",
            )
        return circle, told

    async def set_cohost(self, guild_id: int, ref: str, user_id: int, *, remove: bool) -> Circle:
        circle = await self.get(guild_id, ref)
        if remove:
            gone = await self._db.execute(
                "DELETE FROM circle_cohosts WHERE circle_id = ? AND user_id = ?",
                (circle.id, user_id),
            )
            if not gone:
                raise BadInput(f"<@{user_id}> isn't a co-host of **{plain(circle.name)}**.")
        else:
            if user_id == circle.host_id:
                raise BadInput(f"<@{user_id}> already hosts **{plain(circle.name)}**.")
            added = await self._db.execute(
                "INSERT INTO circle_cohosts (circle_id, guild_id, user_id, added_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (circle_id, user_id) DO NOTHING",
                (circle.id, guild_id, user_id, to_db(self._clock())),
            )
            if not added:
                raise BadInput(f"<@{user_id}> already co-hosts **{plain(circle.name)}**.")
        return circle

    async def _unique(self, guild_id: int, name: str) -> None:
        taken = await self._db.fetchval(
            "SELECT 1 FROM circles WHERE guild_id = ? AND lower(name) = lower(?)"
            " AND archived_at IS NULL",
            (guild_id, name),
        )
        if taken:
            raise BadInput(
                f"There's already a circle called **{plain(name)}** here — choose another "
                "name, or change that one with `/haven circle-edit`."
            )

    # --- sessions: planning ahead ----------------------------------------------------------

    async def ensure_all(self) -> None:
        """At start-up: every active circle has its next `AHEAD` sessions (one query when
        they all do, so start-up stays quick with thousands of circles)."""
        rows = await self._db.fetchall(
            f"SELECT {', '.join('c.' + c.strip() for c in _CIRCLE.split(','))} FROM circles c"
            " WHERE c.archived_at IS NULL AND (SELECT count(*) FROM circle_sessions s"
            " WHERE s.circle_id = c.id AND s.starts_at > ? AND s.state = 'planned') < ?",
            (to_db(self._clock()), AHEAD),
        )
        for row in rows:
            await self._plan(Circle.from_row(row))

    async def _plan(self, circle: Circle, *, replan: bool = False) -> None:
        """Materialise the next `AHEAD` sessions and their outbox work; with `replan`, move
        existing future sessions to the circle's current rule first."""
        if circle.archived:
            return
        now = self._clock()
        wanted: list[tuple[date, datetime]] = []
        taken = {
            r["local_date"]: r["state"]
            for r in await self._db.fetchall(
                "SELECT local_date, state FROM circle_sessions"
                " WHERE circle_id = ? AND starts_at > ?",
                (circle.id, to_db(now)),
            )
        }
        planned = 0
        occurrences = weekly_occurrences(
            f"c:{circle.id}",
            now,
            circle.weekday,
            circle.at,
            circle.zone,
            circle.every_weeks,
            circle.anchor,
        )
        for occ in islice(occurrences, AHEAD * 4):
            day = date.fromisoformat(occ.key.rsplit(":", 1)[1])
            wanted.append((day, occ.due))
            if taken.get(day.isoformat()) not in ("skipped", "cancelled"):
                planned += 1
            if planned >= AHEAD:
                break
        wanted_days = {day.isoformat() for day, _ in wanted}
        if replan:
            # Dates that no longer have a session: tell whoever had a seat, then remove them.
            for old in await self._db.fetchall(
                f"SELECT {_SESSION} FROM circle_sessions WHERE circle_id = ? AND starts_at > ?"
                " AND state = 'planned'",
                (circle.id, to_db(now)),
            ):
                gone = Session.from_row(old)
                if gone.local_date.isoformat() not in wanted_days:
                    await self._moved_away(circle, gone)
        length = timedelta(minutes=circle.duration)
        new: list[Session] = []
        for day, starts in wanted:
            if day.isoformat() in taken and not replan:
                continue  # already planned (or skipped): nothing to write
            row = await self._db.fetchone(
                "INSERT INTO circle_sessions (circle_id, guild_id, local_date, starts_at, ends_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (circle_id, local_date) DO UPDATE SET"
                " starts_at = excluded.starts_at, ends_at = excluded.ends_at"
                f" WHERE circle_sessions.state = 'planned' RETURNING {_SESSION}",
                (
                    circle.id,
                    circle.guild_id,
                    day.isoformat(),
                    to_db(starts),
                    to_db(starts + length),
                ),
            )
            if row is None:
                continue  # skipped or cancelled: it stays so
            session = Session.from_row(row)
            if day.isoformat() not in taken:
                new.append(session)
            elif replan:
                await self._cancel_work(session.id)
                await self._schedule_work(circle, session)
        for session in new:
            await self._seat_series_members(circle, session)
            await self._schedule_work(circle, session)
        await self.sync_events(circle)

    async def _schedule_work(self, circle: Circle, session: Session) -> None:
        now = self._clock()
        await self._scheduler.schedule(
            START,
            f"{START}:{session.id}",
            session.starts_at,
            deadline=session.ends_at,
            guild_id=circle.guild_id,
            payload={"session": session.id},
        )
        for lead in circle.reminders:
            due = session.starts_at - timedelta(minutes=lead)
            if due <= now:
                continue  # that moment passed before the session existed in this form
            await self._scheduler.schedule(
                REMINDER,
                f"{REMINDER}:{session.id}:{lead}",
                due,
                deadline=session.starts_at,
                guild_id=circle.guild_id,
                payload={"session": session.id, "lead": lead},
            )

    def session_work(self, kind: str) -> None:
        """Declare a job kind keyed `<kind>:<session id>[:…]` (a reminder, an aftercare DM, a
        cover deadline), so skipping, cancelling or moving the session cancels it too."""
        if kind not in self._session_kinds:
            self._session_kinds.append(kind)

    async def _cancel_work(self, session_id: int) -> int:
        """Cancel a session's pending outbox work, of every kind declared as session work."""
        total = 0
        for kind in self._session_kinds:
            total += await self._scheduler.cancel_prefix(f"{kind}:{session_id}")
        return total

    async def _session_started(self, job: Job) -> str:
        """At a session's start (or late, after downtime): keep `AHEAD` planned and slide the
        events window."""
        session = await self.session(int(job.payload["session"]))
        if session is None:
            return "skipped: session removed"
        circle = await self.by_id(session.circle_id)
        if circle is None or circle.archived:
            return "skipped: circle archived"
        await self._plan(circle)
        return "planned ahead"

    async def _seat_series_members(self, circle: Circle, session: Session) -> None:
        """Everyone who joins every week gets this session too: seats in the order they
        joined the series, then the waitlist."""
        rows = await self._db.fetchall(
            "SELECT user_id, mode, aftercare FROM circle_members WHERE circle_id = ?"
            " ORDER BY joined_at, user_id",
            (circle.id,),
        )
        async with self._seats:
            for row in rows:
                await self._take_place(
                    circle, session, row["user_id"], row["mode"], bool(row["aftercare"])
                )

    async def _moved_away(self, circle: Circle, session: Session) -> None:
        """After an edit a date has no session any more: tell its RSVPs, then remove it."""
        await self.cancel_session(
            circle,
            session,
            state="cancelled",
            notice=f"**{plain(circle.name)}** has a new rhythm: {circle.rhythm}. The session "
            f"on {session.when} isn't happening any more, so your place there has gone. "
            "You're welcome to join the new one with `/circle join`.",
            key="moved",
            plan=False,
        )
        await self._db.execute("DELETE FROM circle_sessions WHERE id = ?", (session.id,))

    async def cancel_session(
        self,
        circle: Circle,
        session: Session,
        *,
        state: Literal["skipped", "cancelled"],
        notice: str,
        reason: str | None = None,
        key: str | None = None,
        plan: bool = True,
    ) -> int:
        """Skip or cancel one session: its work stops, its event is cancelled, and everyone
        with a seat or a waitlist place is told with `notice` (never silently). Returns how
        many were told. A fresh session is planned so `AHEAD` still lie ahead."""
        await self._db.execute(
            "UPDATE circle_sessions SET state = ?, reason = ? WHERE id = ?",
            (state, reason, session.id),
        )
        await self._cancel_work(session.id)
        if plan and not circle.archived and session.starts_at > self._clock():
            # Its start still slides the events window and tops the circle up.
            await self._scheduler.schedule(
                START,
                f"{START}:{session.id}",
                session.starts_at,
                deadline=session.ends_at,
                guild_id=circle.guild_id,
                payload={"session": session.id},
            )
        await self._sender.sync_event(f"circle-event:{session.id}", circle.guild_id, None)
        text = notice + (f"\n> {plain(reason, 300)}" if reason else "")
        told = await self.tell(
            circle,
            session,
            f"{key or state}:{session.id}",
            Card(text, title=f"{circle.name}: a change", colour=Palette.GENTLE),
            statuses=("going", "waiting"),
        )
        await self._db.execute("DELETE FROM circle_rsvps WHERE session_id = ?", (session.id,))
        if plan and not circle.archived:
            await self._plan(circle)
        return told

    # --- telling people --------------------------------------------------------------------

    async def tell(
        self,
        circle: Circle,
        session: Session,
        key: str,
        card: Card,
        *,
        statuses: Sequence[str] = ("going",),
        kind: str = NEWS,
        buttons: Callable[[int], Sequence[Button]] | None = None,
        users: Sequence[int] | None = None,
    ) -> int:
        """DM each RSVP of `session` with `statuses` (or exactly `users`) once per `key`; a
        closed DM falls back to a mention in the circle's channel. Returns how many were
        reached. `buttons(user_id)` adds per-member buttons (signed for that member)."""
        if users is None:
            marks = ",".join("?" * len(statuses))
            rows = await self._db.fetchall(
                f"SELECT user_id FROM circle_rsvps WHERE session_id = ? AND status IN ({marks})"
                " ORDER BY id",
                (session.id, *statuses),
            )
            users = [r["user_id"] for r in rows]
        channel = await self.channel_for(circle)
        reached = 0
        for user_id in users:
            message = Outgoing(cards=(card,), buttons=tuple(buttons(user_id)) if buttons else ())
            targets: list[Dm | Post] = [Dm(user_id, kind)]
            if channel is not None:
                targets.append(Post(channel, ping=(user_id,)))
            result: Reached = await self._sender.to_first(
                f"circle-{key}:{user_id}",
                targets,
                message,
                guild_id=circle.guild_id,
                about_id=user_id,  # a channel mention names them: /my forget takes it down
            )
            reached += result.ok
        return reached

    # --- seats: join, leave, the waitlist --------------------------------------------------

    async def agree(self, circle: Circle, user_id: int) -> None:
        await self._db.execute(
            "INSERT INTO circle_agreements (circle_id, guild_id, user_id, agreed_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (circle_id, user_id) DO NOTHING",
            (circle.id, circle.guild_id, user_id, to_db(self._clock())),
        )

    async def join(
        self,
        circle: Circle,
        user_id: int,
        *,
        mode: str = "share",
        every_week: bool = False,
        aftercare: bool = False,
    ) -> Joined:
        """A seat (or a waitlist place) at the next session — and, with `every_week`, at
        every session from now on. Joining what they already joined is a kind refusal."""
        if mode not in MODES:
            raise BadInput("You can take part by `share`, `listen` or `text`.")
        session = await self.next_session(circle)
        if session is None:
            raise BadInput(f"**{plain(circle.name)}** has no upcoming session to join just now.")
        async with self._seats:
            if every_week:
                if await self.is_series_member(circle.id, user_id):
                    raise BadInput(
                        f"You already join **{plain(circle.name)}** every week. "
                        "`/circle leave every_week:true` stops that."
                    )
                await self._db.execute(
                    "INSERT INTO circle_members (circle_id, guild_id, user_id, mode, aftercare,"
                    " joined_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        circle.id,
                        circle.guild_id,
                        user_id,
                        mode,
                        int(aftercare),
                        to_db(self._clock()),
                    ),
                )
                for upcoming in await self.sessions(circle.id, limit=1000):
                    if upcoming.state == "planned" and upcoming.starts_at > self._clock():
                        await self._take_place(circle, upcoming, user_id, mode, aftercare)
            else:
                existing = await self.rsvp(session.id, user_id)
                if existing is not None:
                    place = await self.position(session.id, user_id)
                    where = (
                        "have a seat"
                        if existing.status == "going"
                        else f"are on the waitlist (number {place})"
                    )
                    raise BadInput(
                        f"You already {where} for **{plain(circle.name)}** on {session.when}, "
                        f"{MODE_WORDS[existing.mode]}. To change how you take part, leave and "
                        "join again."
                    )
                await self._take_place(circle, session, user_id, mode, aftercare)
        mine = await self.rsvp(session.id, user_id)
        assert mine is not None
        position = await self.position(session.id, user_id) if mine.status == "waiting" else None
        return Joined(session, mine.status, position, every_week)

    async def leave(self, circle: Circle, user_id: int, *, every_week: bool = False) -> Left:
        """Give up the next session's seat (or waitlist place) — with `every_week`, every
        future one and the weekly habit too. Each freed seat goes by the waitlist rule."""
        now = self._clock()
        async with self._seats:
            if every_week:
                series = await self._db.execute(
                    "DELETE FROM circle_members WHERE circle_id = ? AND user_id = ?",
                    (circle.id, user_id),
                )
                sessions = [
                    s for s in await self.sessions(circle.id, limit=1000) if s.starts_at > now
                ]
            else:
                series = 0
                nxt = await self.next_session(circle)
                sessions = [nxt] if nxt else []
            freed: list[Session] = []
            later: list[Later] = []
            gone = 0
            for session in sessions:
                row = await self._db.fetchone(
                    "DELETE FROM circle_rsvps WHERE session_id = ? AND user_id = ?"
                    " RETURNING status",
                    (session.id, user_id),
                )
                if row is not None:
                    gone += 1
                    if row["status"] == "going":
                        freed.append(session)
            if not gone and not series:
                raise BadInput(
                    "You're not signed up for "
                    + ("any upcoming session" if every_week else "the next session")
                    + f" of **{plain(circle.name)}**, so there was nothing to leave."
                )
            for session in freed:
                later += await self._fill(circle, session)
        await _run(later)  # the DMs go after the lock: one slow DM never holds up a seat
        return Left(gone, bool(series))

    async def give_up(self, session_id: int, user_id: int) -> tuple[Circle, Session] | None:
        """ "Can't make it" for one session: the seat goes by the waitlist rule. None when
        they had no place there (already given up, or the session is gone)."""
        session = await self.session(session_id)
        if session is None or session.starts_at <= self._clock() or session.state != "planned":
            return None
        circle = await self.by_id(session.circle_id)
        if circle is None:
            return None
        later: list[Later] = []
        async with self._seats:
            row = await self._db.fetchone(
                "DELETE FROM circle_rsvps WHERE session_id = ? AND user_id = ? RETURNING status",
                (session_id, user_id),
            )
            if row is None:
                return None
            if row["status"] == "going":
                later = await self._fill(circle, session)
        await _run(later)
        return circle, session

    async def confirm(self, session_id: int, user_id: int) -> Rsvp | None:
        """ "I'll be there": noted for the host; None when they have no seat there."""
        await self._db.execute(
            "UPDATE circle_rsvps SET confirmed = 1 WHERE session_id = ? AND user_id = ?"
            " AND status = 'going'",
            (session_id, user_id),
        )
        rsvp = await self.rsvp(session_id, user_id)
        return rsvp if rsvp is not None and rsvp.status == "going" else None

    async def take_seat(self, session_id: int, user_id: int) -> tuple[str, Session | None]:
        """A waiting member pressed "Take the seat": first come, first served. Returns
        ("taken" | "full" | "going" | "not-waiting" | "gone", session)."""
        session = await self.session(session_id)
        if session is None or session.state != "planned" or session.starts_at <= self._clock():
            return "gone", session
        circle = await self.by_id(session.circle_id)
        if circle is None or circle.archived:
            return "gone", session
        async with self._seats:
            mine = await self.rsvp(session_id, user_id)
            if mine is None:
                return "not-waiting", session
            if mine.status == "going":
                return "going", session
            seats = await self.seats(session_id, circle.capacity)
            if seats.free <= 0:
                return "full", session
            await self._db.execute(
                "UPDATE circle_rsvps SET status = 'going' WHERE id = ?", (mine.id,)
            )
        return "taken", session

    async def _take_place(
        self, circle: Circle, session: Session, user_id: int, mode: str, aftercare: bool
    ) -> None:
        """A seat if one is free, else the end of the waitlist; nothing if they have a place."""
        seats = await self.seats(session.id, circle.capacity)
        await self._db.execute(
            "INSERT INTO circle_rsvps (session_id, guild_id, user_id, mode, status, aftercare,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (session_id, user_id) DO NOTHING",
            (
                session.id,
                circle.guild_id,
                user_id,
                mode,
                "going" if seats.free > 0 else "waiting",
                int(aftercare),
                to_db(self._clock()),
            ),
        )

    async def _fill(self, circle: Circle, session: Session) -> list[Later]:
        """Free seats go by the waitlist rule: handed to the next in line (told by DM) until
        `OFFER_WINDOW` before the session; after that, everyone waiting is told, first come.

        Called under the seats lock; returns the DMs to send once it is released."""
        seats = await self.seats(session.id, circle.capacity)
        if seats.free <= 0 or seats.waiting == 0:
            return []
        later: list[Later] = []
        if session.starts_at - self._clock() > OFFER_WINDOW:
            rows = await self._db.fetchall(
                "SELECT id, user_id FROM circle_rsvps WHERE session_id = ? AND status = 'waiting'"
                " ORDER BY id LIMIT ?",
                (session.id, seats.free),
            )
            for row in rows:
                await self._db.execute(
                    "UPDATE circle_rsvps SET status = 'going' WHERE id = ?", (row["id"],)
                )
                later.append(
                    partial(
                        self.tell,
                        circle,
                        session,
                        f"seat:{session.id}:{row['id']}",
                        Card(
                            f"A seat opened in **{plain(circle.name)}** on {session.when}, and "
                            "it's yours now — you were next on the waitlist. If you can't make it "
                            f"after all, `/circle leave` frees it for the next person.",
                            title="You have a seat",
                            colour=Palette.CALM,
                        ),
                        users=[row["user_id"]],
                    )
                )
            return later
        offers = int(
            await self._db.fetchval(
                "UPDATE circle_sessions SET seat_offers = seat_offers + 1 WHERE id = ?"
                " RETURNING seat_offers",
                (session.id,),
            )
        )
        waiting = [r.user_id for r in await self.rsvps(session.id) if r.status == "waiting"]
        later.append(
            partial(
                self.tell,
                circle,
                session,
                f"seat-open:{session.id}:{offers}",
                Card(
                    f"A seat just opened in **{plain(circle.name)}** on {session.when}. It goes to "
                    "whoever takes it first — no pressure at all if now isn't right.",
                    title="A seat opened",
                    colour=Palette.CALM,
                ),
                users=waiting,
                buttons=lambda user_id: (
                    Button(
                        self._routes.custom_id(
                            TAKE_SEAT, user_id, guild=circle.guild_id, session=session.id
                        ),
                        "Take the seat",
                        style="success",
                    ),
                ),
            )
        )
        return later

    # --- members who leave the server ------------------------------------------------------

    async def _member_left(self, guild_id: int, user_id: int) -> None:
        """Their seats go to the waitlist; their series, co-hosting and queue places end."""
        now = to_db(self._clock())
        rows = await self._db.fetchall(
            "SELECT r.session_id, r.status FROM circle_rsvps r JOIN circle_sessions s"
            " ON s.id = r.session_id WHERE r.guild_id = ? AND r.user_id = ? AND s.starts_at > ?",
            (guild_id, user_id, now),
        )
        for table in ("circle_members", "circle_cohosts", "circle_talking"):
            await self._db.execute(
                f"DELETE FROM {table} WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
            )
        await self._db.execute(
            "UPDATE circles SET host_id = NULL WHERE guild_id = ? AND host_id = ?",
            (guild_id, user_id),
        )
        for row in rows:
            await self.give_up(row["session_id"], user_id)

    # --- retention -------------------------------------------------------------------------

    async def purge_past(self, now: datetime) -> int:
        """Past sessions (with their RSVPs, attendance and talking piece) go after the
        server's retention period, like check-ins."""
        removed = 0
        for row in await self._db.fetchall("SELECT DISTINCT guild_id FROM circle_sessions"):
            days = (await self._guilds.get(row["guild_id"])).retention_days
            removed += await self._db.execute(
                "DELETE FROM circle_sessions WHERE guild_id = ? AND ends_at < ?",
                (row["guild_id"], to_db(now - timedelta(days=days))),
            )
        return removed

    # --- Discord scheduled events ----------------------------------------------------------

    async def sync_events(self, circle: Circle) -> None:
        """Mirror the sessions in the window as scheduled events; cancel the rest that were."""
        now = self._clock()
        rows = await self._db.fetchall(
            f"SELECT {_SESSION} FROM circle_sessions WHERE circle_id = ? AND starts_at > ?"
            " ORDER BY starts_at",
            (circle.id, to_db(now)),
        )
        channel = circle.channel_id or (await self._guilds.get(circle.guild_id)).circle_channel_id
        first = True
        for row in rows:
            session = Session.from_row(row)
            spec = None
            live = session.state in ("planned", "open") and not circle.archived
            if live and (first or session.starts_at - now <= EVENT_WINDOW):
                spec = self.event_spec(circle, session, channel)
            if live:
                first = False
            await self._sender.sync_event(f"circle-event:{session.id}", circle.guild_id, spec)

    def event_spec(self, circle: Circle, session: Session, channel: int | None) -> EventSpec:
        lines = [circle.description] if circle.description else []
        if session.topic:
            lines.append(f"Topic: {session.topic}")
        if session.content_note:
            lines.append(f"Content note: {session.content_note}")
        lines.append("A listening circle: witness, don't fix. Join with /circle join.")
        return EventSpec(
            name=circle.name,
            start=session.starts_at,
            end=session.ends_at,
            description="\n".join(lines),
            channel_id=channel,
            location=None if channel else "On Discord — /circle info",
        )
