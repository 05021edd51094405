"""Recurring rules: their wall-clock occurrences, and the life-cycle every recurring feature shares.

A recurring rule is a local wall-clock rule (a time, some days, an IANA zone) kept in the
feature's own table. Haven never lets a cron trigger run it (see `bot/timeutil.py` for why):
the feature writes the rule's *next* occurrence into the outbox (`bot/scheduler.py`), and
each time one runs or is missed, the next one is planned. Two halves live here.

**Occurrences** — pure functions from a rule to a lazy, strictly increasing stream of
`Occurrence`s after an instant, each keyed `<prefix>:<local date>` (so a restart never runs a
day twice) with a deadline at the end of that local day (so work missed while the bot was
down runs late only while it is still that day where the rule lives):

- `daily_occurrences(prefix, after, at, zone, days)` — `days` is a public day rule,
  `every-day`, `weekdays` or `weekends` (`DAY_RULES`, checked by `weekdays_for`).
- `weekly_occurrences(prefix, after, weekday, at, zone, every_weeks, anchor)` — `weekday`
  (0 = Monday) every `every_weeks` weeks, counted from the (Monday-based) week holding the
  local `anchor` date: the anchor week has one, the next `every_weeks - 1` weeks are off-weeks.
  Pass the first occurrence's date (or any date in its week) as the anchor, and store it with
  the rule, so the phase never drifts.

Both follow timeutil's conventions: a time inside a spring-forward gap happens at the
first valid minute after it (02:30 → 03:00 in New York); a time that happens twice on a
fall-back day happens once, the first time. "Tuesday 19:00 Europe/London" is 19:00 in London
all year: 18:00 UTC in summer, 19:00 UTC in winter.

**The life-cycle** — `RecurringRules`, a small base for a feature service. The feature
supplies four things: `rule_for(job)` (load the rule an outbox row belongs to), `all_rules()`,
`occurrences(rule, after)` (one of the functions above plus its own adjustments, such as a
reminder's pause and quiet hours — use `adjusted` to move an occurrence), and
`when_due(rule, job)` (post, DM…). The base then does the rest, the same way for everyone:

- `replan(rule)` after the rule (or anything it depends on: a zone, a pause) changed:
  cancel what was planned, plan the next from now. `set` is "upsert, then `replan`"; `off`
  is "delete, then `cancel(rule)`".
- `declare(features, label)` in the feature's `contribute`: the job kind, and `ensure_all` at
  start-up, which plans every rule's next occurrence from `resume_from(rule)` (default: now).
- A missed occurrence plans the next from `resume_from(rule)`: a chain never breaks.
- After a run (even a failed one) the next is planned from the run's own rule time
  (`rule_time(job)`), not from when it happened to run — unless the run turned the rule off.

How the next pillars use it:

- **Listening circles** (a weekday and time in the circle's zone, every 1, 2 or 4 weeks):
  `class Circles(RecurringRules[Circle])` with `occurrences` returning
  `weekly_occurrences(f"circle-session:{circle.id}", after, circle.weekday, circle.at,
  circle.zone, circle.every_weeks, circle.anchor)`, with skipped dates filtered out and the
  circle id put in each payload (`dataclasses.replace(occ, payload=…)`) for `rule_for`.
  Circles keep many rules per server under one kind, so they must override `cancel(rule)`:
  the scheduler cancels by kind, server and member only, and cancelling one circle that way
  would cancel every circle of the server (`bot/scheduler.py` needs a cancel by key prefix).
- **Buddy pairing** (one cadence per server: every N weeks, 1–8, at a weekday and time in the
  server's zone): `class Pairing(RecurringRules[Cadence])`, `occurrences` returning
  `weekly_occurrences(f"buddy-pairing:{guild_id}", …, cadences=BUDDY_CADENCES)`; the
  24-hour heads-up is a one-off `scheduler.schedule` keyed by the run's key.

Nothing here imports discord or APScheduler; it writes the outbox through `Scheduler`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable, Iterator
from datetime import date, datetime, time, timedelta
from typing import Generic, Protocol, TypeVar
from zoneinfo import ZoneInfo

from bot.errors import BadInput
from bot.features import Features
from bot.scheduler import Job, Occurrence, Scheduler
from bot.timeutil import (
    Clock,
    at_wall_time,
    end_of_local_day,
    from_db,
    local_date,
    next_wall_time,
    to_db,
)

# --- day rules ------------------------------------------------------------------------------

DAY_RULES: dict[str, frozenset[int] | None] = {
    "every-day": None,
    "weekdays": frozenset(range(5)),
    "weekends": frozenset({5, 6}),
}
"""The `days` values members and moderators choose from (also a CHECK in the schema)."""


def weekdays_for(days: str) -> frozenset[int] | None:
    """The weekdays (Monday = 0) a day rule names; None means every day."""
    if days not in DAY_RULES:
        raise BadInput("Days can be `every-day`, `weekdays` or `weekends`.")
    return DAY_RULES[days]


# --- weekdays ------------------------------------------------------------------------------

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
"""The `weekday` values of /haven circle-create and /haven buddies (Monday = 0)."""


def parse_weekday(raw: str) -> int:
    """`tuesday` (or `tue`) → 1; else a kind refusal."""
    word = raw.strip().lower()
    for i, name in enumerate(WEEKDAYS):
        if word in (name, name[:3]):
            return i
    raise BadInput(f"I couldn't read `{raw[:20]}` as a weekday — try `tuesday`.")


# --- cadences -------------------------------------------------------------------------------

CIRCLE_CADENCES = (1, 2, 4)
"""Every how many weeks a listening circle may meet."""

BUDDY_CADENCES = tuple(range(1, 9))
"""Every how many weeks buddy pairing may run."""


def every_weeks_for(every_weeks: int, cadences: Collection[int] = CIRCLE_CADENCES) -> int:
    """`every_weeks`, if it is one of `cadences`; else a kind refusal."""
    if every_weeks not in cadences:
        allowed = sorted(cadences)
        if allowed == list(range(allowed[0], allowed[-1] + 1)):
            choices = f"{allowed[0]} to {allowed[-1]}"
        else:
            choices = ", ".join(map(str, allowed[:-1])) + f" or {allowed[-1]}"
        raise BadInput(f"It can repeat every {choices} weeks, not every `{every_weeks}`.")
    return every_weeks


# --- occurrences ----------------------------------------------------------------------------


def _last_moment(day: date, zone: ZoneInfo) -> datetime:
    return end_of_local_day(day, zone) - timedelta(seconds=1)


def daily_occurrences(
    prefix: str, after: datetime, at: time, zone: ZoneInfo, days: str
) -> Iterator[Occurrence]:
    """Occurrences of a local daily rule strictly after `after`, keyed `<prefix>:<local date>`.

    Each may run late until the end of its local day. Raises `BadInput` for an unknown `days`.
    """
    weekdays = weekdays_for(days)

    def stream(after: datetime) -> Iterator[Occurrence]:
        while True:
            due = next_wall_time(after, at, zone, weekdays)
            day = local_date(due, zone)
            yield Occurrence(f"{prefix}:{day.isoformat()}", due, _last_moment(day, zone))
            after = due

    return stream(after)


def weekly_occurrences(
    prefix: str,
    after: datetime,
    weekday: int,
    at: time,
    zone: ZoneInfo,
    every_weeks: int,
    anchor: date,
    *,
    cadences: Collection[int] = CIRCLE_CADENCES,
) -> Iterator[Occurrence]:
    """Local `weekday` at `at`, every `every_weeks` weeks from `anchor`'s week, after `after`.

    Strictly after `after`, soonest first, keyed `<prefix>:<local date>`; none before the
    anchor's week (Monday-based: the anchor week's `weekday` is the first, even when it falls
    before `anchor` inside that week). Each may run late until the end of its local day.
    `every_weeks` must be one of `cadences` (circles' 1, 2 or 4 by default; pairing passes
    `BUDDY_CADENCES`), else `BadInput`; `weekday` is 0 (Monday) to 6.
    """
    if not 0 <= weekday <= 6:
        raise ValueError(f"weekday must be 0 (Monday) to 6 (Sunday), not {weekday}")
    every_weeks_for(every_weeks, cadences)
    first = anchor - timedelta(days=anchor.weekday() - weekday)
    period = timedelta(weeks=every_weeks)
    # Start at the last cycle on or before local "yesterday": a wall time shifted forward by a
    # gap lands at most hours later, so no cycle before that one can still be after `after`.
    behind = local_date(after, zone) - timedelta(days=1) - first
    day = first + period * max(0, behind // period)

    def stream(day: date) -> Iterator[Occurrence]:
        while True:
            due = at_wall_time(day, at, zone)
            if due > after:
                yield Occurrence(
                    f"{prefix}:{day.isoformat()}", due, _last_moment(local_date(due, zone), zone)
                )
            day += period

    return stream(day)


def adjusted(occ: Occurrence, due: datetime, deadline: datetime) -> Occurrence:
    """`occ` moved to `due` (quiet hours, say) with its own `deadline`; same key.

    It remembers the rule's own time in its payload: the next occurrence is planned from
    there (`rule_time`), so a move never shifts the rule.
    """
    payload = {**(occ.payload or {}), "rule_due": to_db(occ.due)}
    return Occurrence(occ.key, due, deadline, payload)


def rule_time(job: Job) -> datetime:
    """The instant the rule itself named for this job: before any `adjusted` move or retry."""
    rule_due = job.payload.get("rule_due")
    return from_db(rule_due) if isinstance(rule_due, str) else job.due_at


# --- the life-cycle -------------------------------------------------------------------------


class Scoped(Protocol):
    """Where a rule's occurrences are filed in the outbox: a server, and a member if personal."""

    @property
    def guild_id(self) -> int: ...

    @property
    def user_id(self) -> int | None: ...


R = TypeVar("R", bound=Scoped)


class RecurringRules(ABC, Generic[R]):
    """The life-cycle of a feature's recurring rules, planned one occurrence at a time.

    Subclasses supply `rule_for`, `all_rules`, `occurrences` and `when_due` (and may refine
    `resume_from` and `cancel`); the scheduler calls back into the base for due and missed
    occurrences of `kind`.
    """

    def __init__(self, kind: str, scheduler: Scheduler, *, clock: Clock, off_note: str) -> None:
        """`off_note` is kept on an occurrence that came due after its rule was turned off."""
        self.kind = kind
        self._scheduler = scheduler
        self._clock = clock
        self._off_note = off_note
        scheduler.register(kind, self._due, on_missed=self._missed)

    # --- what each feature supplies --------------------------------------------------------

    @abstractmethod
    async def rule_for(self, job: Job) -> R | None:
        """The rule an occurrence of `kind` belongs to; None once it was turned off."""

    @abstractmethod
    async def all_rules(self) -> list[R]:
        """Every rule there is, for `ensure_all`."""

    @abstractmethod
    async def occurrences(self, rule: R, after: datetime) -> Iterable[Occurrence]:
        """The rule's occurrences strictly after `after`, soonest first, adjusted as needed."""

    @abstractmethod
    async def when_due(self, rule: R, job: Job) -> str:
        """Do what the rule is for; returns the note kept on the outbox row (or raises `Retry`)."""

    async def resume_from(self, rule: R) -> datetime:
        """Where planning picks up at start-up and after a missed occurrence: now."""
        return self._clock()

    async def cancel(self, rule: R) -> int:
        """Cancel the rule's pending occurrences: all of `kind` in its server (and member)."""
        return await self._scheduler.cancel(
            kind=self.kind, guild_id=rule.guild_id, user_id=rule.user_id
        )

    # --- the life-cycle, the same for every feature ----------------------------------------

    def declare(self, features: Features, label: str | None) -> None:
        """Declare the job kind (`label` None: one member's, counted but never listed) and
        that every rule's next occurrence is ensured at start-up."""
        features.job(self.kind, label)
        features.on_start(self.ensure_all)

    async def plan(self, rule: R, after: datetime) -> datetime | None:
        """Put the rule's first occurrence after `after` that has not run yet in the outbox
        (or find it already pending); returns when it is due."""
        occ = await self._scheduler.schedule_next(
            self.kind,
            await self.occurrences(rule, after),
            guild_id=rule.guild_id,
            user_id=rule.user_id,
        )
        return occ.due if occ else None

    async def replan(self, rule: R) -> datetime | None:
        """After the rule or anything it depends on changed: cancel, then plan from now."""
        await self.cancel(rule)
        return await self.plan(rule, self._clock())

    async def ensure_all(self) -> None:
        """At start-up: every rule has its next occurrence in the outbox. One query finds the
        rules whose next occurrence is already there (pending, or running where a crash left
        it), and only the others are planned: walking every rule cost several round trips
        each, 31 s of start-up at 100,000 reminders (`bench/scale.py`)."""
        planned = await self._scheduler.open_scopes(self.kind)
        for rule in await self.all_rules():
            if (rule.guild_id, rule.user_id) not in planned:
                await self.plan(rule, await self.resume_from(rule))

    async def _missed(self, job: Job) -> None:
        rule = await self.rule_for(job)
        if rule is not None:
            await self.plan(rule, await self.resume_from(rule))

    async def _due(self, job: Job) -> str:
        rule = await self.rule_for(job)
        if rule is None:
            return self._off_note
        try:
            return await self.when_due(rule, job)
        finally:
            # Read it again: the run itself may have turned it off (closed DMs) or changed it.
            rule = await self.rule_for(job)
            if rule is not None:
                await self.plan(rule, rule_time(job))
