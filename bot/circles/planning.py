"""Planning ahead: each circle's sessions, their outbox work and their scheduled events.

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


**Scheduled events.** The sessions starting within `EVENT_WINDOW` (and always each circle's
next one) are mirrored as Discord scheduled events; skipped, cancelled and archived ones are
cancelled there. Discord caps events per server, so a window keeps the count bounded.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from itertools import islice
from typing import Literal

from bot.circles.base import _CIRCLE, _SESSION, CirclesBase
from bot.circles.values import AHEAD, EVENT_WINDOW, REMINDER, START, Circle, Session
from bot.features import Features
from bot.members import Members
from bot.messages import Card, Palette
from bot.outgoing import EventSpec
from bot.recurrence import weekly_occurrences
from bot.scheduler import Job, Scheduler
from bot.texts import plain
from bot.timeutil import to_db


class Planning(CirclesBase):
    def _listen(self, scheduler: Scheduler, members: Members) -> None:
        scheduler.register(START, self._session_started, on_missed=self._session_started)
        super()._listen(scheduler, members)

    def contribute(self, features: Features) -> None:
        features.job(START, "Circle sessions")
        features.on_start(self.ensure_all)
        features.purge("circle sessions past retention", self.purge_past)
        super().contribute(features)

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
        for day, starts in wanted:
            if day.isoformat() in taken and not replan:
                continue  # already planned (or skipped): nothing to write
            # A session, its series members' seats and its work, at once: killed in between,
            # the next plan would find the date taken and never seat them.
            async with self._seats, self._db.transaction() as tx:
                row = await tx.fetchone(
                    "INSERT INTO circle_sessions (circle_id, guild_id, local_date, starts_at,"
                    " ends_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (circle_id, local_date) DO"
                    " UPDATE SET starts_at = excluded.starts_at, ends_at = excluded.ends_at"
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
                    await self._seat_series_members(circle, session)
                else:
                    await self._cancel_work(session.id)
                await self._schedule_work(circle, session)
        await self.sync_events(circle)

    async def _schedule_work(self, circle: Circle, session: Session) -> None:
        now = self._clock()
        await self._schedule_start(circle, session)
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

    async def _schedule_start(self, circle: Circle, session: Session) -> None:
        await self._scheduler.schedule(
            START,
            f"{START}:{session.id}",
            session.starts_at,
            deadline=session.ends_at,
            guild_id=circle.guild_id,
            payload={"session": session.id},
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
        for row in rows:  # the caller holds the seats lock
            await self._take_place(
                circle, session, row["user_id"], row["mode"], bool(row["aftercare"])
            )

    async def _moved_away(self, circle: Circle, session: Session) -> None:
        """After an edit a date has no session any more: cancel its event, tell its RSVPs,
        then remove it with its seats and work at once. Killed part-way it is still planned,
        so the re-plan that finishes the edit moves it away again (each notice goes once)."""
        await self._sender.sync_event(f"circle-event:{session.id}", circle.guild_id, None)
        await self.tell(
            circle,
            session,
            f"moved:{session.id}",
            Card(
                f"**{plain(circle.name)}** has a new rhythm: {circle.rhythm}. The session "
                f"on {session.when} isn't happening any more, so your place there has gone. "
                "You're welcome to join the new one with `/circle join`.",
                title=f"{circle.name}: a change",
                colour=Palette.GENTLE,
            ),
            statuses=("going", "waiting"),
        )
        async with self._db.transaction() as tx:
            await self._cancel_work(session.id)
            await tx.execute("DELETE FROM circle_sessions WHERE id = ?", (session.id,))

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
            await self._schedule_start(circle, session)
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
