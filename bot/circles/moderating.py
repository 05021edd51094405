"""What moderators do with circles: create one, edit it (which re-plans what lies ahead),
archive it, and add or remove co-hosts.

**An edit survives a crash.** The new rule and a `circle-edit` outbox job are saved in one
transaction; the edit then re-plans (moves, removes and adds sessions, tells members, updates
their work and events) and cancels the job. Killed part-way, the bot would otherwise keep the
new rule beside the old sessions for good; instead the job re-plans the circle under its new
rule when it falls due (`FINISH_AFTER` after the edit, or at the restart if that is later).
Re-planning can be repeated (each notice goes once, by its key), so the edit ends wholly
applied: `tests/reliability/test_crash_consistency.py` kills it part-way to prove it (two
windows inside `Planning` still lose a seat or a notice: strict xfails there, with the fix).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.circles.planning import Planning
from bot.circles.values import (
    DEFAULT_REMINDERS,
    Circle,
    Later,
    _description,
    _first_week,
    _name,
    _ranged,
    _run,
    parse_reminders,
)
from bot.errors import BadInput
from bot.features import Features
from bot.inputs import parse_time, zone_name
from bot.members import Members
from bot.recurrence import CIRCLE_CADENCES, every_weeks_for, parse_weekday
from bot.scheduler import Job, Scheduler
from bot.texts import plain
from bot.timeutil import format_hhmm, parse_hhmm, to_db

EDIT = "circle-edit"  # finishes an edit a crash interrupted: `<kind>:<circle id>:<when>`
# Long enough that an edit that runs normally cancels its job before it is due; short enough
# that one a crash interrupted is finished soon after the restart.
FINISH_AFTER = timedelta(minutes=5)


class Moderating(Planning):
    _editing: asyncio.Lock

    def _listen(self, scheduler: Scheduler, members: Members) -> None:
        # One edit (or the finishing of one) at a time: re-planning is not safe to interleave.
        self._editing = asyncio.Lock()
        scheduler.register(EDIT, self._finish_edit, on_missed=self._finish_edit)
        super()._listen(scheduler, members)

    def contribute(self, features: Features) -> None:
        features.job(EDIT, "Finishing a circle edit")
        super().contribute(features)

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
        now = self._clock()
        values["updated_at"] = to_db(now)
        assignments = ", ".join(f"{column} = ?" for column in values)
        job = f"{EDIT}:{circle.id}"
        grew = "capacity" in values and values["capacity"] > circle.capacity
        async with self._editing:
            # The new rule and the job that finishes it, together or not at all.
            async with self._db.transaction() as tx:
                await tx.execute(
                    f"UPDATE circles SET {assignments} WHERE id = ?", (*values.values(), circle.id)
                )
                await self._scheduler.schedule(
                    EDIT,
                    f"{job}:{to_db(now)}",
                    now + FINISH_AFTER,
                    deadline=now + FINISH_AFTER + timedelta(days=1),  # later: `on_missed`
                    guild_id=guild_id,
                    payload={"circle": circle.id, "fill": grew},
                )
            edited = await self.by_id(circle.id)
            assert edited is not None
            await self._replan(edited, fill=grew)
            await self._scheduler.cancel_prefix(job)
        return edited

    async def _replan(self, circle: Circle, *, fill: bool) -> None:
        """Move future sessions to the circle's rule; with `fill` (the capacity grew), the new
        seats go to the waitlist. Safe to repeat."""
        await self._plan(circle, replan=True)
        if fill:
            later: list[Later] = []
            async with self._seats:
                for session in await self.sessions(circle.id):
                    later += await self._fill(circle, session)
            await _run(later)

    async def _finish_edit(self, job: Job) -> str:
        """An edit a crash interrupted: re-plan under the rule it saved."""
        circle = await self.by_id(int(job.payload["circle"]))
        if circle is None or circle.archived:
            return "skipped: circle gone"
        async with self._editing:
            await self._replan(circle, fill=bool(job.payload.get("fill")))
        return "edit finished"

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
