"""The circles' shared state and what every part needs: reading circles, sessions and seats,
telling the people with a place, and the waitlist rule that hands a freed seat on."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from functools import partial

from bot.circles.values import (
    AHEAD,
    NEWS,
    OFFER_WINDOW,
    REMINDER,
    START,
    TAKE_SEAT,
    Circle,
    Later,
    Rsvp,
    Seats,
    Session,
    parse_date,
)
from bot.db import Database
from bot.dm_stops import DmKind, DmStops
from bot.errors import BadInput, NotFound
from bot.features import Features
from bot.guilds import Guilds
from bot.inputs import as_id
from bot.members import Members
from bot.messages import Button, Card, Outgoing, Palette
from bot.outgoing import Dm, Post, Reached, Sender
from bot.recurrence import WEEKDAYS
from bot.routes import Routes
from bot.scheduler import Scheduler
from bot.texts import plain
from bot.timeutil import Clock, local_date, to_db, utcnow

_SESSION = (
    "id, circle_id, guild_id, local_date, starts_at, ends_at, state, topic, content_note,"
    " reason, away, cover_id, seat_offers"
)
_CIRCLE = (
    "id, guild_id, name, description, weekday, at_time, timezone, every_weeks, anchor,"
    " duration_min, capacity, host_id, channel_id, reminders, archived_at"
)


class CirclesBase:
    """Shared state, reading and telling; `Circles` adds planning, moderating and seats."""

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
        self._listen(scheduler, members)
        dm_stops.declare(
            DmKind(
                NEWS,
                stop_label="Stop circle news",
                stopped="Done — I won't DM you about seats, skipped sessions or hosts' "
                "messages from this server's circles. Your seats stay as they are.",
            )
        )

    def _listen(self, scheduler: Scheduler, members: Members) -> None:
        """Register the handlers the parts define; each part extends this (`planning.py`
        handles a session's start, `seats.py` a member who leaves)."""

    def contribute(self, features: Features) -> None:
        """What circles add to the core: counts, data-rights entries, privacy lines. The parts
        extend this with the work their handlers do (`planning.py`, `seats.py`)."""
        features.channel(
            "circles", "channel_id", "'the circle “' || name || '”'", live="archived_at IS NULL"
        )
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
        circle_id = as_id(text)
        if circle_id is not None:
            row = await self._db.fetchone(
                f"SELECT {_CIRCLE} FROM circles WHERE id = ? AND guild_id = ?",
                (circle_id, guild_id),
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

    async def upcoming(self, guild_id: int) -> list[tuple[Circle, Session | None, Seats | None]]:
        """Every active circle with its next session and seat counts, soonest first; those
        with no session planned come last (session and seats None)."""
        # Two statements for the whole server, not two per circle: /circle list runs often.
        sessions = ", ".join(f"s.{column.strip()}" for column in _SESSION.split(","))
        rows = await self._db.fetchall(
            f"SELECT {sessions},"
            " (SELECT count(*) FROM circle_rsvps r WHERE r.session_id = s.id"
            " AND r.status = 'going') AS going,"
            " (SELECT count(*) FROM circle_rsvps r WHERE r.session_id = s.id"
            " AND r.status = 'waiting') AS waiting"
            " FROM circle_sessions s WHERE s.guild_id = ? AND s.state = 'planned'"
            " AND s.starts_at = (SELECT min(t.starts_at) FROM circle_sessions t"
            " WHERE t.circle_id = s.circle_id AND t.state = 'planned' AND t.starts_at > ?)",
            (guild_id, to_db(self._clock())),
        )
        nearest = {row["circle_id"]: row for row in rows}
        out: list[tuple[Circle, Session | None, Seats | None]] = []
        for circle in await self.active(guild_id):
            row = nearest.get(circle.id)
            if row is None:
                out.append((circle, None, None))
            else:
                seats = Seats(int(row["going"]), int(row["waiting"]), circle.capacity)
                out.append((circle, Session.from_row(row), seats))
        out.sort(key=lambda item: (item[1] is None, item[1].starts_at if item[1] else 0))
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

    # --- the waitlist rule: who gets a freed seat ------------------------------------------

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
