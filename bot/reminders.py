"""Personal check-in reminders: an opt-in DM at the member's local time.

Never during their quiet hours (a reminder that would land there waits for the quiet hours to
end), never while they are paused (the next one is the first after the pause), and correct
across DST because each occurrence is computed from the local rule with zoneinfo. If three DMs
in a row cannot reach them (DMs closed), the reminder switches itself off and they are told
the next time they use any command — Haven does not keep knocking on a closed door. The
life-cycle (plan, replan, start-up, missed, next after a run) is `bot.recurrence`'s.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from bot.checkins import OPEN_FROM_DM
from bot.db import Database, Row
from bot.dm_stops import DmKind, DmStops
from bot.features import Features
from bot.guilds import Guilds
from bot.inputs import parse_time
from bot.members import Members
from bot.messages import Card, Outgoing, Palette
from bot.notices import Notices
from bot.outgoing import Delivered, Sender
from bot.prompts import checkin_button
from bot.recurrence import RecurringRules, adjusted, daily_occurrences, weekdays_for
from bot.routes import Routes
from bot.scheduler import Job, Occurrence, Retry, Scheduler
from bot.timeutil import Clock, defer_past_quiet, format_hhmm, parse_hhmm, to_db, utcnow

KIND = "checkin-reminder"
MAX_FAILED_IN_A_ROW = 3
LATE_BY_AT_MOST = timedelta(hours=2)
_COLUMNS = "guild_id, user_id, at_time, days"

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

    @classmethod
    def from_row(cls, row: Row) -> ReminderRule:
        return cls(row["guild_id"], row["user_id"], parse_hhmm(row["at_time"]), row["days"])


class Reminders(RecurringRules[ReminderRule]):
    def __init__(
        self,
        db: Database,
        guilds: Guilds,
        members: Members,
        scheduler: Scheduler,
        notices: Notices,
        sender: Sender,
        routes: Routes,
        dm_stops: DmStops,
        *,
        clock: Clock = utcnow,
    ) -> None:
        super().__init__(KIND, scheduler, clock=clock, off_note="skipped: reminders are off")
        self._db = db
        self._routes = routes
        self._members = members
        self._notices = notices
        self._sender = sender
        members.on_change(self._profile_changed)
        members.on_left(self.off)
        guilds.on_change(self._config_changed)
        dm_stops.declare(
            DmKind(
                KIND,
                stop_label="Stop these reminders",
                stopped="Done — your check-in reminders from this server are off. "
                "`/my reminder` there turns them on again, whenever you like.",
                on_stop=self.off,
            )
        )

    def contribute(self, features: Features) -> None:
        self.declare(features, None)  # one member's: counted below, never listed
        features.count(
            "members with a check-in reminder",
            "SELECT count(*) FROM checkin_reminders WHERE guild_id = :guild",
        )
        features.data("checkin_reminders", "Your check-in reminder: time and days.")
        features.privacy(
            "keep", "• **Your check-in reminder**, if you turned it on: its time and days."
        )

    async def rule(self, guild_id: int, user_id: int) -> ReminderRule | None:
        row = await self._db.fetchone(
            f"SELECT {_COLUMNS} FROM checkin_reminders WHERE guild_id = ? AND user_id = ?",
            (guild_id, user_id),
        )
        return None if row is None else ReminderRule.from_row(row)

    async def set(self, guild_id: int, user_id: int, at: str, days: str) -> datetime | None:
        """Turn the reminder on (or change it); returns when the next one arrives."""
        rule = ReminderRule(guild_id, user_id, parse_time(at), days)
        weekdays_for(days)
        await self._db.execute(
            "INSERT INTO checkin_reminders (guild_id, user_id, at_time, days, updated_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (guild_id, user_id) DO UPDATE SET"
            " at_time = excluded.at_time, days = excluded.days, failed_in_a_row = 0,"
            " updated_at = excluded.updated_at",
            (guild_id, user_id, format_hhmm(rule.at), days, to_db(self._clock())),
        )
        # Opting in again is the moment to try their DMs again.
        await self._sender.reopen_dm(user_id)
        return await self.replan(rule)

    async def off(self, guild_id: int, user_id: int) -> bool:
        row = await self._db.fetchone(
            "DELETE FROM checkin_reminders WHERE guild_id = ? AND user_id = ?"
            f" RETURNING {_COLUMNS}",
            (guild_id, user_id),
        )
        if row is None:
            return False
        await self.cancel(ReminderRule.from_row(row))
        return True

    async def next_due(self, guild_id: int, user_id: int) -> datetime | None:
        jobs = await self._scheduler.pending(guild_id=guild_id, kind=KIND, user_id=user_id)
        return jobs[0].due_at if jobs else None

    async def _profile_changed(self, guild_id: int, user_id: int) -> None:
        """A new zone, quiet hours or pause: plan the reminder again."""
        rule = await self.rule(guild_id, user_id)
        if rule is not None:
            await self.replan(rule)

    async def _config_changed(self, guild_id: int, changed: frozenset[str]) -> None:
        """Members without their own zone follow the server's; re-plan when it moves."""
        if "timezone" not in changed:
            return
        for row in await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM checkin_reminders WHERE guild_id = ?", (guild_id,)
        ):
            await self.replan(ReminderRule.from_row(row))

    # --- the recurring rule ----------------------------------------------------------------

    async def rule_for(self, job: Job) -> ReminderRule | None:
        assert job.guild_id is not None and job.user_id is not None
        return await self.rule(job.guild_id, job.user_id)

    async def all_rules(self) -> list[ReminderRule]:
        rows = await self._db.fetchall(f"SELECT {_COLUMNS} FROM checkin_reminders")
        return [ReminderRule.from_row(row) for row in rows]

    async def resume_from(self, rule: ReminderRule) -> datetime:
        """At start-up and after a miss: a reminder due in the last two hours (while the bot
        was down) still goes, late, as its deadline allows; "once a day" still holds."""
        return self._clock() - LATE_BY_AT_MOST

    async def occurrences(self, rule: ReminderRule, after: datetime) -> Iterator[Occurrence]:
        """The daily rule, after any pause, each moved out of quiet hours and allowed to run
        at most two hours late."""
        profile = await self._members.profile(rule.guild_id, rule.user_id)
        zone = profile.zone
        if profile.paused_until is not None:
            after = max(after, profile.paused_until)  # the first one after the pause ends
        quiet_start, quiet_end = profile.quiet_start, profile.quiet_end

        def restful(occ: Occurrence) -> Occurrence:
            due = occ.due
            if quiet_start is not None and quiet_end is not None:
                due = defer_past_quiet(due, zone, quiet_start, quiet_end)
            return adjusted(occ, due, due + LATE_BY_AT_MOST)

        prefix = f"{KIND}:{rule.guild_id}:{rule.user_id}"
        return map(restful, daily_occurrences(prefix, after, rule.at, zone, rule.days))

    async def when_due(self, rule: ReminderRule, job: Job) -> str:
        server = await self._sender.server_name(rule.guild_id)
        message = Outgoing(
            cards=(
                Card(
                    title="A gentle check-in reminder",
                    description=(
                        "How are you, really? You're welcome to check in — or simply notice "
                        "how you are, and let that be enough."
                    ),
                    footer=f"From {server}. /my pause there rests every DM for a while.",
                    colour=Palette.CALM,
                ),
            ),
            buttons=(
                checkin_button(
                    self._routes.custom_id(OPEN_FROM_DM, rule.user_id, guild=rule.guild_id)
                ),
            ),
        )
        # The delivery gate holds it back while they rest (pause, quiet hours — a reminder
        # running late after downtime never wakes them) and adds the "stop these" button.
        result = await self._sender.to_member(
            job.key, rule.user_id, message, guild_id=rule.guild_id, kind=KIND
        )
        if result is Delivered.FAILED:
            raise Retry(timedelta(minutes=10), "Discord did not accept the DM")
        if result is Delivered.DM_CLOSED:
            return await self._count_failure(rule)
        if not result.ok:
            return f"skipped: {result.value}"
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
