"""What members do with seats: agree, join, leave, "Can't make it", confirm, take a seat.

**Seats.** `join` takes a seat while there is one, else a place on the waitlist (in arrival
order). A freed seat (`leave`, "Can't make it", a member who left, more capacity) goes to the
next person automatically — told by DM — until `OFFER_WINDOW` before the session; after that,
everyone waiting is told a seat opened and the first to press "Take the seat" has it.
"""

from __future__ import annotations

from bot.circles.base import CirclesBase
from bot.circles.values import MODE_WORDS, MODES, Circle, Joined, Later, Left, Rsvp, Session, _run
from bot.errors import BadInput
from bot.features import Features
from bot.members import Members
from bot.scheduler import Scheduler
from bot.texts import plain
from bot.timeutil import to_db


class Seating(CirclesBase):
    def _listen(self, scheduler: Scheduler, members: Members) -> None:
        members.on_left(self._member_left)
        super()._listen(scheduler, members)

    def contribute(self, features: Features) -> None:
        # A forgotten member's seats go to the waitlist, as if they had left.
        features.before_forget(self._member_left)
        super().contribute(features)

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
        # The seat is freed and handed on at once: killed between the two, nobody would
        # ever hand it on (the member's place is gone, so a repeat finds nothing to free).
        async with self._seats, self._db.transaction() as tx:
            row = await tx.fetchone(
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
