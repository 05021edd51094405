"""The daily check-in prompt: posted at the server's local time, once per local day.

Each occurrence is an outbox row keyed by the server and the *local date*, with a deadline at
the end of that local day: so a restart never posts a second prompt, and a prompt missed while
the bot was down is posted late only while it is still that day where the server lives. The
life-cycle (plan, replan, start-up, missed, next after a run) is `bot.recurrence`'s.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from bot.checkins import OPEN
from bot.db import Database, Row
from bot.features import Features
from bot.guilds import Guilds
from bot.inputs import parse_time
from bot.messages import Button, Card, Outgoing, Palette
from bot.outgoing import Delivered, Sender
from bot.recurrence import RecurringRules, daily_occurrences, weekdays_for
from bot.routes import Routes
from bot.scheduler import Job, Occurrence, Retry, Scheduler
from bot.texts import Texts
from bot.timeutil import Clock, at_wall_time, format_hhmm, from_db, parse_hhmm, to_db, utcnow

log = logging.getLogger(__name__)

KIND = "checkin-prompt"
PROMPTS_FILE = "checkin_prompts.txt"
_COLUMNS = "guild_id, at_time, days, channel_id, updated_at"


def checkin_button(custom_id: str) -> Button:
    """The "Check in" button: opens the picker (routes `checkin:open` and `checkin:dm`)."""
    return Button(custom_id, "Check in", style="primary", emoji="🌿")


@dataclass(frozen=True)
class PromptRule:
    guild_id: int
    at: time
    days: str
    channel_id: int | None
    since: datetime  # when the rule was last set; occurrences before it never happen

    @property
    def user_id(self) -> None:
        """A server's prompt belongs to no one member."""
        return None

    @classmethod
    def from_row(cls, row: Row) -> PromptRule:
        return cls(
            row["guild_id"],
            parse_hhmm(row["at_time"]),
            row["days"],
            row["channel_id"],
            from_db(row["updated_at"]),
        )


class Prompts(RecurringRules[PromptRule]):
    def __init__(
        self,
        db: Database,
        guilds: Guilds,
        scheduler: Scheduler,
        texts: Texts,
        sender: Sender,
        routes: Routes,
        *,
        clock: Clock = utcnow,
    ) -> None:
        super().__init__(
            KIND, scheduler, clock=clock, off_note="skipped: the prompt was turned off"
        )
        self._db = db
        self._routes = routes
        self._guilds = guilds
        self._texts = texts
        self._sender = sender
        guilds.on_change(self._config_changed)

    def contribute(self, features: Features) -> None:
        self.declare(features, "Daily check-in prompt")
        features.channel("checkin_prompt", "channel_id", "'the daily check-in prompt'")

    async def rule(self, guild_id: int) -> PromptRule | None:
        row = await self._db.fetchone(
            f"SELECT {_COLUMNS} FROM checkin_prompt WHERE guild_id = ?", (guild_id,)
        )
        return None if row is None else PromptRule.from_row(row)

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
        return rule, await self.replan(rule)

    async def off(self, guild_id: int) -> bool:
        row = await self._db.fetchone(
            f"DELETE FROM checkin_prompt WHERE guild_id = ? RETURNING {_COLUMNS}", (guild_id,)
        )
        if row is None:
            return False
        await self.cancel(PromptRule.from_row(row))
        return True

    async def _config_changed(self, guild_id: int, changed: frozenset[str]) -> None:
        """A new server time zone moves the prompt to the same wall time in that zone."""
        rule = await self.rule(guild_id) if "timezone" in changed else None
        if rule is not None:
            await self.replan(rule)

    def prompt_for(self, day_number: int) -> str:
        prompts = self._texts.entries(PROMPTS_FILE)
        return prompts[day_number % len(prompts)]

    # --- the recurring rule ----------------------------------------------------------------

    async def rule_for(self, job: Job) -> PromptRule | None:
        assert job.guild_id is not None
        return await self.rule(job.guild_id)

    async def all_rules(self) -> list[PromptRule]:
        rows = await self._db.fetchall(f"SELECT {_COLUMNS} FROM checkin_prompt")
        return [PromptRule.from_row(row) for row in rows]

    async def resume_from(self, rule: PromptRule) -> datetime:
        """From the start of the server's local day (never before the rule was set): today's
        prompt, if the bot was down when it was due and it never ran, still goes out today."""
        zone = (await self._guilds.get(rule.guild_id)).zone
        today = self._clock().astimezone(zone).date()
        start_of_day = at_wall_time(today, time(0, 0), zone) - timedelta(seconds=1)
        return max(start_of_day, rule.since)

    async def occurrences(self, rule: PromptRule, after: datetime) -> Iterator[Occurrence]:
        zone = (await self._guilds.get(rule.guild_id)).zone
        return daily_occurrences(f"{KIND}:{rule.guild_id}", after, rule.at, zone, rule.days)

    async def when_due(self, rule: PromptRule, job: Job) -> str:
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
                    colour=Palette.CALM,
                ),
            ),
            buttons=(checkin_button(self._routes.custom_id(OPEN, guild=rule.guild_id)),),
        )
        result = await self._sender.to_channel(job.key, channel_id, message, guild_id=rule.guild_id)
        if result is Delivered.FAILED:
            raise Retry(timedelta(minutes=5), "Discord did not accept the prompt")
        return str(result.value)
