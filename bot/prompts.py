"""The daily check-in prompt: posted at the server's local time, once per local day.

Each occurrence is an outbox row keyed by the server and the *local date*, with a deadline at
the end of that local day: so a restart never posts a second prompt, and a prompt missed while
the bot was down is posted late only while it is still that day where the server lives.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.db import Database
from bot.errors import BadInput
from bot.guilds import Guilds
from bot.inputs import parse_time
from bot.outgoing import Button, Card, Delivered, Outgoing, Sender
from bot.scheduler import Job, Occurrence, Retry, Scheduler
from bot.texts import Texts
from bot.timeutil import (
    Clock,
    at_wall_time,
    end_of_local_day,
    format_hhmm,
    from_db,
    next_wall_time,
    parse_hhmm,
    to_db,
    utcnow,
)

log = logging.getLogger(__name__)

KIND = "checkin-prompt"
PROMPTS_FILE = "checkin_prompts.txt"
DAY_RULES: dict[str, frozenset[int] | None] = {
    "every-day": None,
    "weekdays": frozenset(range(5)),
    "weekends": frozenset({5, 6}),
}


def checkin_button(guild_id: int) -> Button:
    """The "Check in" button; the guild id rides along so it also works from a DM."""
    return Button(f"haven:checkin:open:{guild_id}", "Check in", style="primary", emoji="🌿")


def weekdays_for(days: str) -> frozenset[int] | None:
    if days not in DAY_RULES:
        raise BadInput("Days can be `every-day`, `weekdays` or `weekends`.")
    return DAY_RULES[days]


def daily_occurrences(
    prefix: str, after: datetime, at: time, zone: ZoneInfo, days: str
) -> Iterator[Occurrence]:
    """Occurrences of a local daily rule after `after`, keyed `<prefix>:<local date>`."""
    weekdays = weekdays_for(days)
    while True:
        due = next_wall_time(after, at, zone, weekdays)
        day = due.astimezone(zone).date()
        last_moment = end_of_local_day(day, zone) - timedelta(seconds=1)
        yield Occurrence(f"{prefix}:{day.isoformat()}", due, last_moment)
        after = due


@dataclass(frozen=True)
class PromptRule:
    guild_id: int
    at: time
    days: str
    channel_id: int | None
    since: datetime  # when the rule was last set; occurrences before it never happen


class Prompts:
    def __init__(
        self,
        db: Database,
        guilds: Guilds,
        scheduler: Scheduler,
        texts: Texts,
        sender: Sender,
        *,
        clock: Clock = utcnow,
    ) -> None:
        self._db = db
        self._guilds = guilds
        self._scheduler = scheduler
        self._texts = texts
        self._sender = sender
        self._clock = clock
        scheduler.register(KIND, self._run, on_missed=self._replan)
        guilds.on_change(self._config_changed)

    async def rule(self, guild_id: int) -> PromptRule | None:
        row = await self._db.fetchone(
            "SELECT at_time, days, channel_id, updated_at FROM checkin_prompt WHERE guild_id = ?",
            (guild_id,),
        )
        if row is None:
            return None
        return PromptRule(
            guild_id,
            parse_hhmm(row["at_time"]),
            row["days"],
            row["channel_id"],
            from_db(row["updated_at"]),
        )

    async def set(
        self, guild_id: int, at: str, days: str, channel_id: int | None
    ) -> tuple[PromptRule, datetime | None]:
        """Save the rule and plan its next post; returns the rule and when that will be."""
        now = self._clock()
        rule = PromptRule(guild_id, parse_time(at), days, channel_id, now)
        weekdays_for(days)
        await self._db.execute(
            "INSERT INTO checkin_prompt (guild_id, at_time, days, channel_id, updated_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (guild_id) DO UPDATE SET"
            " at_time = excluded.at_time, days = excluded.days,"
            " channel_id = excluded.channel_id, updated_at = excluded.updated_at",
            (guild_id, format_hhmm(rule.at), days, channel_id, to_db(now)),
        )
        await self._scheduler.cancel(kind=KIND, guild_id=guild_id)
        return rule, await self._plan(rule, now)

    async def off(self, guild_id: int) -> bool:
        removed = await self._db.execute(
            "DELETE FROM checkin_prompt WHERE guild_id = ?", (guild_id,)
        )
        await self._scheduler.cancel(kind=KIND, guild_id=guild_id)
        return bool(removed)

    async def ensure_all(self) -> None:
        """On start-up: make sure every rule has its next occurrence in the outbox.

        Planning starts at the beginning of the server's local day, so today's prompt, if the
        bot was down when it was due (and it never ran), is still posted late today.
        """
        for row in await self._db.fetchall("SELECT guild_id FROM checkin_prompt"):
            await self._ensure(row["guild_id"])

    async def _config_changed(self, guild_id: int, changed: frozenset[str]) -> None:
        """A new server time zone moves the prompt to the same wall time in that zone."""
        rule = await self.rule(guild_id) if "timezone" in changed else None
        if rule is not None:
            await self._scheduler.cancel(kind=KIND, guild_id=guild_id)
            await self._plan(rule, self._clock())

    async def _replan(self, missed: Job) -> None:
        assert missed.guild_id is not None
        await self._ensure(missed.guild_id)

    async def _ensure(self, guild_id: int) -> None:
        rule = await self.rule(guild_id)
        if rule is None:
            return
        zone = (await self._guilds.get(guild_id)).zone
        today = self._clock().astimezone(zone).date()
        start_of_day = at_wall_time(today, time(0, 0), zone) - timedelta(seconds=1)
        await self._plan(rule, max(start_of_day, rule.since))

    async def _plan(self, rule: PromptRule, after: datetime) -> datetime | None:
        zone = (await self._guilds.get(rule.guild_id)).zone
        occ = await self._scheduler.schedule_next(
            KIND,
            daily_occurrences(f"{KIND}:{rule.guild_id}", after, rule.at, zone, rule.days),
            guild_id=rule.guild_id,
        )
        return occ.due if occ else None

    def prompt_for(self, day_number: int) -> str:
        prompts = self._texts.entries(PROMPTS_FILE)
        return prompts[day_number % len(prompts)]

    async def _run(self, job: Job) -> str:
        assert job.guild_id is not None
        rule = await self.rule(job.guild_id)
        if rule is None:
            return "skipped: the prompt was turned off"
        try:
            return await self._post(rule, job)
        finally:
            await self._plan(rule, job.due_at)

    async def _post(self, rule: PromptRule, job: Job) -> str:
        config = await self._guilds.get(rule.guild_id)
        channel_id = rule.channel_id or config.checkin_channel_id
        if channel_id is None:
            return "skipped: no check-in channel is set"
        day = job.due_at.astimezone(config.zone).date()
        message = Outgoing(
            cards=(
                Card(
                    title="Daily check-in",
                    description=self.prompt_for(day.toordinal()),
                    footer="Check-ins are private unless you choose to share them.",
                    colour=0xA8C3B8,
                ),
            ),
            buttons=(checkin_button(rule.guild_id),),
        )
        result = await self._sender.to_channel(job.key, channel_id, message, guild_id=rule.guild_id)
        if result is Delivered.FAILED:
            raise Retry(timedelta(minutes=5), "Discord did not accept the prompt")
        return str(result.value)
