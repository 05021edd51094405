"""Personal check-in reminders: an opt-in DM at the member's local time.

Never during their quiet hours (a reminder that would land there waits for the quiet hours to
end), never while they are paused (the next one is the first after the pause), and correct
across DST because each occurrence is computed from the local rule with zoneinfo. If three DMs
in a row cannot reach them (DMs closed), the reminder switches itself off and they are told
the next time they use any command — Haven does not keep knocking on a closed door.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from bot.db import Database
from bot.guilds import Guilds
from bot.inputs import parse_time
from bot.members import Members
from bot.notices import Notices
from bot.outgoing import Card, Delivered, Outgoing, Sender
from bot.prompts import checkin_button, daily_occurrences, weekdays_for
from bot.scheduler import Job, Occurrence, Retry, Scheduler
from bot.timeutil import Clock, defer_past_quiet, format_hhmm, from_db, parse_hhmm, to_db, utcnow

KIND = "checkin-reminder"
MAX_FAILED_IN_A_ROW = 3
LATE_BY_AT_MOST = timedelta(hours=2)

SWITCHED_OFF_NOTICE = (
    "I've turned off your check-in reminders here: three DMs in a row couldn't reach you, "
    "so it looks like your DMs are closed to me. If you'd like them back, allow direct "
    "messages from this server (Privacy Settings) and use `/my reminder` again."
)


@dataclass(frozen=True)
class ReminderRule:
    guild_id: int
    user_id: int
    at: time
    days: str


class Reminders:
    def __init__(
        self,
        db: Database,
        guilds: Guilds,
        members: Members,
        scheduler: Scheduler,
        notices: Notices,
        sender: Sender,
        *,
        clock: Clock = utcnow,
    ) -> None:
        self._db = db
        self._members = members
        self._scheduler = scheduler
        self._notices = notices
        self._sender = sender
        self._clock = clock
        scheduler.register(KIND, self._run, on_missed=self._replan_missed)
        members.on_change(self.replan)
        guilds.on_change(self._config_changed)

    async def rule(self, guild_id: int, user_id: int) -> ReminderRule | None:
        row = await self._db.fetchone(
            "SELECT at_time, days FROM checkin_reminders WHERE guild_id = ? AND user_id = ?",
            (guild_id, user_id),
        )
        if row is None:
            return None
        return ReminderRule(guild_id, user_id, parse_hhmm(row["at_time"]), row["days"])

    async def set(self, guild_id: int, user_id: int, at: str, days: str) -> datetime | None:
        """Turn the reminder on (or change it); returns when the next one arrives."""
        at_time = parse_time(at)
        weekdays_for(days)
        await self._db.execute(
            "INSERT INTO checkin_reminders (guild_id, user_id, at_time, days, updated_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (guild_id, user_id) DO UPDATE SET"
            " at_time = excluded.at_time, days = excluded.days, failed_in_a_row = 0,"
            " updated_at = excluded.updated_at",
            (guild_id, user_id, format_hhmm(at_time), days, to_db(self._clock())),
        )
        # Opting in again is the moment to try their DMs again.
        await self._sender.reopen_dm(user_id)
        return await self.replan(guild_id, user_id)

    async def off(self, guild_id: int, user_id: int) -> bool:
        removed = await self._db.execute(
            "DELETE FROM checkin_reminders WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
        )
        await self._scheduler.cancel(kind=KIND, guild_id=guild_id, user_id=user_id)
        return bool(removed)

    async def replan(self, guild_id: int, user_id: int) -> datetime | None:
        """Re-plan after any change to the rule, zone, quiet hours or pause."""
        await self._scheduler.cancel(kind=KIND, guild_id=guild_id, user_id=user_id)
        rule = await self.rule(guild_id, user_id)
        return await self._plan(rule, self._clock()) if rule else None

    async def _config_changed(self, guild_id: int, changed: frozenset[str]) -> None:
        """Members without their own zone follow the server's; re-plan when it moves."""
        if "timezone" not in changed:
            return
        for row in await self._db.fetchall(
            "SELECT user_id FROM checkin_reminders WHERE guild_id = ?", (guild_id,)
        ):
            await self.replan(guild_id, row["user_id"])

    async def _replan_missed(self, missed: Job) -> None:
        assert missed.guild_id is not None and missed.user_id is not None
        rule = await self.rule(missed.guild_id, missed.user_id)
        if rule is not None:
            await self._plan(rule, self._clock())

    async def ensure_all(self) -> None:
        now = self._clock()
        for row in await self._db.fetchall("SELECT guild_id, user_id FROM checkin_reminders"):
            rule = await self.rule(row["guild_id"], row["user_id"])
            if rule is not None:
                await self._plan(rule, now)

    async def next_due(self, guild_id: int, user_id: int) -> datetime | None:
        jobs = await self._scheduler.pending(guild_id=guild_id, kind=KIND, user_id=user_id)
        return jobs[0].due_at if jobs else None

    async def _plan(self, rule: ReminderRule, after: datetime) -> datetime | None:
        occ = await self._scheduler.schedule_next(
            KIND,
            await self._occurrences(rule, after),
            guild_id=rule.guild_id,
            user_id=rule.user_id,
        )
        return occ.due if occ else None

    async def _occurrences(self, rule: ReminderRule, after: datetime) -> Iterator[Occurrence]:
        profile = await self._members.profile(rule.guild_id, rule.user_id)
        zone = await self._members.zone_for(rule.guild_id, rule.user_id)
        if profile.paused_until is not None:
            after = max(after, profile.paused_until)  # the first one after the pause ends
        prefix = f"{KIND}:{rule.guild_id}:{rule.user_id}"

        def adjusted() -> Iterator[Occurrence]:
            for occ in daily_occurrences(prefix, after, rule.at, zone, rule.days):
                due = occ.due
                if profile.quiet_start is not None and profile.quiet_end is not None:
                    due = defer_past_quiet(due, zone, profile.quiet_start, profile.quiet_end)
                yield Occurrence(occ.key, due, due + LATE_BY_AT_MOST, {"rule_due": to_db(occ.due)})

        return adjusted()

    async def _run(self, job: Job) -> str:
        assert job.guild_id is not None and job.user_id is not None
        rule = await self.rule(job.guild_id, job.user_id)
        if rule is None:
            return "skipped: reminders are off"
        try:
            return await self._remind(rule, job)
        finally:
            if await self.rule(job.guild_id, job.user_id) is not None:
                await self._plan(rule, from_db(job.payload["rule_due"]))

    async def _remind(self, rule: ReminderRule, job: Job) -> str:
        now = self._clock()
        profile = await self._members.profile(rule.guild_id, rule.user_id)
        zone = await self._members.zone_for(rule.guild_id, rule.user_id)
        if profile.paused_at(now):
            return "skipped: paused"
        if profile.quiet_at(now, zone):
            return "skipped: quiet hours"  # running late after downtime; never wake them
        server = self._sender.guild_name(rule.guild_id)
        message = Outgoing(
            cards=(
                Card(
                    title="A gentle check-in reminder",
                    description=(
                        "How are you, really? You're welcome to check in — or simply notice "
                        "how you are, and let that be enough."
                    ),
                    footer=f"From {server}. /my reminder-off there stops these; /my pause rests.",
                    colour=0xA8C3B8,
                ),
            ),
            buttons=(checkin_button(rule.guild_id),),
        )
        result = await self._sender.to_member(
            job.key, rule.user_id, message, guild_id=rule.guild_id
        )
        if result is Delivered.FAILED:
            raise Retry(timedelta(minutes=10), "Discord did not accept the DM")
        if result in (Delivered.DM_CLOSED, Delivered.NO_ACCESS):
            return await self._count_failure(rule)
        await self._db.execute(
            "UPDATE checkin_reminders SET failed_in_a_row = 0 WHERE guild_id = ? AND user_id = ?",
            (rule.guild_id, rule.user_id),
        )
        return str(result.value)

    async def _count_failure(self, rule: ReminderRule) -> str:
        failed = int(
            await self._db.fetchval(
                "UPDATE checkin_reminders SET failed_in_a_row = failed_in_a_row + 1"
                " WHERE guild_id = ? AND user_id = ? RETURNING failed_in_a_row",
                (rule.guild_id, rule.user_id),
            )
        )
        if failed < MAX_FAILED_IN_A_ROW:
            return f"dm closed ({failed} in a row)"
        await self.off(rule.guild_id, rule.user_id)
        await self._notices.add(rule.guild_id, rule.user_id, SWITCHED_OFF_NOTICE)
        return "dm closed three times: reminder switched off"
