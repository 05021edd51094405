"""The buddies vocabulary: job kinds, limits, routes, and the values the service hands out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal

from bot.db import Row
from bot.inputs import clean_text, one_line, within
from bot.recurrence import WEEKDAYS
from bot.routes import Route
from bot.timeutil import format_hhmm, from_db, parse_hhmm

RUN = "buddy-pairing"
HEADS_UP = "buddy-heads-up"
CHECKBACK = "buddy-checkback"
NEWS = "buddy-news"  # intros by DM, pair endings, "couldn't match you this time", "stay?"

STYLES = ("text", "voice", "either")
STYLE_WORDS = {"text": "text", "voice": "voice", "either": "text or voice"}
INTRO_MAX = 300
PRONOUNS_MAX = 40
RECENT = timedelta(weeks=12)
HEADS_UP_BEFORE = timedelta(hours=24)
QUIET_LIMIT = 2  # check-backs in a row unanswered before the gentle "stay?"
ENDINGS = ("rematch", "left", "quiet")  # why a run ends a pair, the first that applies kept
PAUSE_WEEKS = (1, 12)

STARTERS_FILE = "buddy_starters.txt"
ABOUT_FILE = "buddy_about.md"

ANSWERS = {
    "connected": "We connected",
    "not-yet": "Not yet",
    "not-a-fit": "It's not a fit",
    "paused": "We paused by agreement",
}
STAY_CHOICES = {"stay": "Stay in pairing", "pause": "Pause for 4 weeks", "leave": "Leave pairing"}

CHECK = Route(
    "buddy:check", fields=(("guild", "id"), ("checkback", "id"), ("answer", "word")), signed=True
)
STAY = Route("buddy:stay", fields=(("guild", "id"), ("choice", "word")), signed=True)


@dataclass(frozen=True)
class Buddy:
    user_id: int
    thread_id: int | None  # the pair's private thread, if they have one


@dataclass(frozen=True)
class Profile:
    guild_id: int
    user_id: int
    intro: str | None
    pronouns: str | None
    style: str
    paused_until: datetime | None
    wants_change: bool
    quiet_checks: int
    joined_at: datetime

    def paused_at(self, instant: datetime) -> bool:
        return self.paused_until is not None and instant < self.paused_until

    @classmethod
    def from_row(cls, row: Row) -> Profile:
        return cls(
            guild_id=row["guild_id"],
            user_id=row["user_id"],
            intro=row["intro"],
            pronouns=row["pronouns"],
            style=row["style"],
            paused_until=from_db(row["paused_until"]) if row["paused_until"] else None,
            wants_change=bool(row["wants_change"]),
            quiet_checks=row["quiet_checks"],
            joined_at=from_db(row["joined_at"]),
        )


@dataclass(frozen=True)
class Pair:
    id: int
    guild_id: int
    members: tuple[int, ...]
    thread_id: int | None
    started_at: datetime


@dataclass(frozen=True)
class Cadence:
    """The server's pairing rhythm (a `bot.recurrence` rule, one per server)."""

    guild_id: int
    every_weeks: int
    weekday: int
    at: time
    anchor: date
    user_id: None = None

    @property
    def rhythm(self) -> str:
        every = "every week" if self.every_weeks == 1 else f"every {self.every_weeks} weeks"
        return f"{every} on {WEEKDAYS[self.weekday].capitalize()} at {format_hhmm(self.at)}"


@dataclass(frozen=True)
class Status:
    profile: Profile | None
    pair: Pair | None
    next_run: datetime | None


@dataclass(frozen=True)
class RunReport:
    continued: int  # pairs that go on
    ended: int  # pairs ended because someone asked for a change or went quiet
    new_groups: tuple[tuple[int, ...], ...]
    unmatched: tuple[int, ...]


Rematch = Literal["now", "next-run"]


def _cadence(row: Row) -> Cadence:
    return Cadence(
        row["guild_id"],
        row["every_weeks"],
        row["weekday"],
        parse_hhmm(row["at_time"]),
        date.fromisoformat(row["anchor"]),
    )


def _short(raw: str | None, limit: int, what: str, *, line: bool = False) -> str | None:
    """Optional profile text: cleaned (on one line with `line`), within `limit`, or None."""
    if raw is None:
        return None
    return within(one_line(raw) if line else clean_text(raw), limit, what) or None
