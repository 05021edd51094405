"""Host tools for listening circles: the roster, opening and closing a session, the talking
piece, attendance and aftercare, skipping a week, a message to everyone coming, and asking
co-hosts to cover (`/host …` in cogs/host.py is the Discord side).

**Which session.** A host acts on the session that is *running*: one opened and not yet closed
(until `CLOSE_GRACE` after its end — a host who forgot to close it does not carry it into next
week), else the circle's current session (under way, else the next). A session can be opened
from `OPEN_EARLY` before it starts: opening takes it out of what members can join, so a slip
a week early would be unkind.

**Opening** posts, in the circle's channel (else where the host asked), the welcome
(data/circle_openings.md), the agreements (data/circle_agreements.md) and the session's
invitation (data/circle_prompts.txt, rotating week by week), then the talking-piece message.
Each post has its own ledger key, so opening again never posts twice: while the talking piece
is up, a second `/host open` is a kind refusal with a link to it; if the first opening could
not post (a missing permission), opening again simply tries again.

**The talking piece** lives in `circle_talking`: at most one member `holding`, the rest
`waiting` in arrival order (`queued_at`, never earlier than the last arrival's, so two presses
in the same second keep their order), and `shared`/`passed` once they are done. Its buttons
carry only the server and the session, unsigned — anyone in the server may press them — and
every press reads and writes the database, so they work after a restart. The message is
edited in place after each press, under a per-session lock that reads the queue afresh, so the
last edit always shows the latest queue.

**Closing** posts a closing reflection (data/circle_closings.txt), marks the session closed,
lays the talking piece down, and schedules the aftercare DM two hours later for those who
asked for it when they took their seat: everyone who had a seat and whom the host did not
mark absent (so when the host recorded nothing, everyone who had a seat; one attendance
select records present and absent for its members). Aftercare is private: a DM or nothing.

**Away**: the session is marked away and each co-host is asked by DM with an "I'll host"
button (signed for them); the first press covers it (one atomic UPDATE). If nobody has by
`COVER_LEAD` before the start, the session is cancelled and everyone with a place is told
kindly. Both jobs are session work, so skipping or moving the session cancels them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.circles import MODE_WORDS, NEWS, Circle, Circles, Rsvp, Session
from bot.db import Database
from bot.dm_stops import DmKind, DmStops
from bot.errors import BadInput, NotFound
from bot.features import Features
from bot.guilds import Guilds
from bot.inputs import clean_text, within
from bot.messages import Button, Card, Field, Limits, Outgoing, Palette, pack_lines, pages
from bot.outgoing import Delivered, Sender
from bot.routes import FieldKind, Route, Routes
from bot.scheduler import Job, Retry, Scheduler
from bot.texts import Texts, plain
from bot.timeutil import Clock, discord_timestamp, from_db, to_db, utcnow

OPEN_EARLY = timedelta(hours=2)
CLOSE_GRACE = timedelta(hours=12)
AFTERCARE_DELAY = timedelta(hours=2)
AFTERCARE_LATE = timedelta(hours=22)  # how late a missed aftercare DM may still go
COVER_LEAD = timedelta(hours=2)
MESSAGE_MAX = 1500
REASON_MAX = 300
SELECT_OPTIONS = Limits.SELECT_OPTIONS

AFTERCARE = "circle-aftercare"  # the job two hours after closing, and its kind of DM
COVER = "circle-cover"  # the DM asking co-hosts to cover
COVER_DEADLINE = "circle-cover-deadline"

OPENINGS_FILE = "circle_openings.md"
AGREEMENTS_FILE = "circle_agreements.md"
PROMPTS_FILE = "circle_prompts.txt"
CLOSINGS_FILE = "circle_closings.txt"

# Fallbacks, should a data file be missing or empty: a circle still opens kindly.
_WELCOME = (
    "Welcome. There's no hurry here. Safety comes first; we witness, we don't fix; we hold "
    "the silence; we reflect rather than redirect; and we keep the focus on whoever is "
    "speaking."
)
_AGREEMENTS = (
    "What's shared here stays here. No advice unless someone asks. You can always pass, and "
    "you can leave whenever you need."
)
_PROMPT = "What would you like us to hear tonight? Share as much or as little as feels right."
_CLOSING = "Thank you for the care you brought today. Go gently. 🤍"

_GUILD_SESSION: tuple[tuple[str, FieldKind], ...] = (("guild", "id"), ("session", "id"))
SHARE = Route("host:share", fields=_GUILD_SESSION)
PASS = Route("host:pass", fields=_GUILD_SESSION)
NEXT = Route("host:next", fields=_GUILD_SESSION)
ATTEND = Route("host:attend", fields=(*_GUILD_SESSION, ("part", "id")))
TAKE_COVER = Route("host:cover", fields=(*_GUILD_SESSION, ("asker", "id")), signed=True)

NameOf = Callable[[int], Awaitable[str | None]]
"""A member's display name in the server (raw, unescaped), or None when it can't be found."""


def talking_key(session_id: int) -> str:
    """The ledger key of a session's talking-piece message (posted once, edited after)."""
    return f"circle-talking:{session_id}"


def message_link(guild_id: int, channel_id: int, message_id: int) -> str:
    return f"https://discord.com/channels/{guild_id}/{channel_id}/{message_id}"


@dataclass(frozen=True)
class Talking:
    """The queue of an open session: who holds the piece, who waits (in order)."""

    holder: int | None
    waiting: tuple[int, ...]

    def place(self, user_id: int) -> int | None:
        """Their place in line (1 = next), or None when they aren't waiting."""
        return self.waiting.index(user_id) + 1 if user_id in self.waiting else None


@dataclass(frozen=True)
class Opened:
    session: Session
    channel_id: int


@dataclass(frozen=True)
class Closed:
    session: Session
    channel_id: int | None  # where the reflection went; None when it could not be posted
    already: bool  # it was closed before; nothing was posted again
    parts: list[list[Rsvp]]  # who had a seat, in groups that fit one select menu each


@dataclass(frozen=True)
class Away:
    session: Session
    asked: int  # co-hosts asked
    reached: int  # of them, reached by DM
    deadline: datetime


class Hosting:
    def __init__(
        self,
        db: Database,
        circles: Circles,
        guilds: Guilds,
        scheduler: Scheduler,
        sender: Sender,
        routes: Routes,
        dm_stops: DmStops,
        texts: Texts,
        *,
        clock: Clock = utcnow,
    ) -> None:
        self._db = db
        self._circles = circles
        self._guilds = guilds
        self._scheduler = scheduler
        self._sender = sender
        self._routes = routes
        self._dm_stops = dm_stops
        self._texts = texts
        self._clock = clock
        # Queue changes happen one at a time: two "I'd like to share" at once must not both
        # pick up a piece nobody holds.
        self._queue = asyncio.Lock()
        self._renders: dict[int, asyncio.Lock] = {}
        routes.add(SHARE, PASS, NEXT, ATTEND, TAKE_COVER)
        scheduler.register(AFTERCARE, self._aftercare_due)
        scheduler.register(COVER_DEADLINE, self._cover_deadline_due)
        circles.session_work(AFTERCARE)
        circles.session_work(COVER_DEADLINE)
        dm_stops.declare(
            DmKind(
                AFTERCARE,
                stop_label="Stop aftercare messages",
                stopped="Done — no more aftercare messages after this server's circles. "
                "Your seats stay as they are.",
            )
        )
        dm_stops.declare(
            DmKind(
                COVER,
                stop_label="Stop cover requests",
                stopped="Done — I won't ask you to cover sessions in this server's circles. "
                "You're still a co-host; a moderator can change that.",
            )
        )

    def contribute(self, features: Features) -> None:
        features.job(AFTERCARE, "Circle aftercare messages")
        features.job(COVER_DEADLINE, "Circle cover deadlines")

    # --- which session ---------------------------------------------------------------------

    async def running(self, circle: Circle) -> Session | None:
        """The session a host acts on: one open (until `CLOSE_GRACE` after its end), else
        the circle's current session (under way, else the next)."""
        opened = await self._db.fetchval(
            "SELECT id FROM circle_sessions WHERE circle_id = ? AND state = 'open'"
            " AND ends_at > ? ORDER BY starts_at DESC LIMIT 1",
            (circle.id, to_db(self._clock() - CLOSE_GRACE)),
        )
        if opened is not None:
            return await self._circles.session(int(opened))
        return await self._circles.current_session(circle)

    async def closable(self, circle: Circle) -> Session | None:
        """What `/host close` closes: the open session, else one that has begun (or just
        ended) without being opened, else one closed lately (to record attendance again)."""
        row = await self._db.fetchone(
            "SELECT id FROM circle_sessions WHERE circle_id = ? AND ends_at > ? AND ("
            " state = 'open' OR (state = 'planned' AND starts_at <= ?) OR state = 'closed')"
            " ORDER BY state = 'closed', starts_at DESC LIMIT 1",
            (circle.id, to_db(self._clock() - CLOSE_GRACE), to_db(self._clock())),
        )
        return await self._circles.session(int(row["id"])) if row else None

    async def in_guild(self, guild_id: int, session_id: int) -> tuple[Circle, Session]:
        """A session of this server and its circle (a button names them; trust nothing)."""
        session = await self._circles.session(session_id)
        circle = await self._circles.by_id(session.circle_id) if session else None
        if session is None or circle is None or session.guild_id != guild_id:
            raise NotFound(
                "That session isn't there any more — it may have been removed. "
                "`/circle list` shows what's coming up."
            )
        return circle, session

    # --- the roster ------------------------------------------------------------------------

    async def roster_cards(self, circle: Circle, session: Session, name_of: NameOf) -> list[Card]:
        """Names and modes of everyone with a seat, "I'll be there"s, and the waitlist in
        order — as many cards as it takes (a full 50-seat circle with its waitlist fits)."""
        rsvps = await self._circles.rsvps(session.id)
        going = [r for r in rsvps if r.status == "going"]
        waiting = [r for r in rsvps if r.status == "waiting"]
        confirmed = sum(r.confirmed for r in going)
        names = {r.user_id: await self._name(r.user_id, name_of) for r in rsvps}
        lines = [
            session.when,
            f"{len(going)} of {circle.capacity} seats taken"
            + (f", {len(waiting)} waiting" if waiting else "")
            + (f" · {confirmed} said “I'll be there”" if confirmed else ""),
        ]
        if session.state == "open":
            lines.append("The circle is open now.")
        if session.away:
            lines.append(
                f"Covered by {await self._name(session.cover_id, name_of)}."
                if session.cover_id
                else "The host is away; co-hosts were asked to cover."
            )
        cards = [Card("\n".join(lines), title=f"{circle.name} — roster", colour=Palette.CALM)]
        going_lines = [
            f"{i}. {names[r.user_id]} — {MODE_WORDS.get(r.mode, r.mode)}"
            + (" · ✓ I'll be there" if r.confirmed else "")
            for i, r in enumerate(going, 1)
        ]
        waiting_lines = [
            f"{i}. {names[r.user_id]} — {MODE_WORDS.get(r.mode, r.mode)}"
            for i, r in enumerate(waiting, 1)
        ]
        if not going:
            going_lines = ["Nobody has a seat yet."]
        cards += _listing("Seats", going_lines)
        if waiting_lines:
            cards += _listing("Waitlist, in order", waiting_lines)
        return cards

    async def _name(self, user_id: int, name_of: NameOf) -> str:
        name = await name_of(user_id)
        return plain(name, 70) if name else f"<@{user_id}>"

    # --- opening ---------------------------------------------------------------------------

    async def openable(self, circle: Circle) -> Session:
        session = await self.running(circle)
        if session is None:
            raise BadInput(f"**{plain(circle.name)}** has no session coming up to open.")
        if session.state == "planned" and session.starts_at - self._clock() > OPEN_EARLY:
            raise BadInput(
                f"The next session of **{plain(circle.name)}** is {session.when}. You can open "
                "it from two hours before — "
                f"{discord_timestamp(session.starts_at - OPEN_EARLY, 'R')}."
            )
        return session

    async def open(self, circle: Circle, session: Session, fallback_channel: int | None) -> Opened:
        """Post the welcome, agreements, invitation and talking piece, and mark it open."""
        where = await self._sender.posted(talking_key(session.id))
        if session.state == "open" and where is not None:
            link = message_link(circle.guild_id, *where)
            raise BadInput(
                f"**{plain(circle.name)}** is already open — the talking piece is here: {link}. "
                "`/host close` ends the circle when you're ready."
            )
        if session.state not in ("planned", "open"):
            raise BadInput(f"That session of **{plain(circle.name)}** is {session.state}.")
        channel = await self._circles.channel_for(circle) or fallback_channel
        if channel is None:
            raise BadInput("I don't have a channel to open the circle in — try it in one.")
        for i, page in enumerate(pages(self._opening_cards(circle, session))):
            await self._post(f"circle-open:{session.id}:{i}", channel, Outgoing(cards=page), circle)
        talking = self._talking_message(circle, session, Talking(None, ()), {})
        await self._post(talking_key(session.id), channel, talking, circle)
        await self._db.execute(
            "UPDATE circle_sessions SET state = 'open' WHERE id = ? AND state = 'planned'",
            (session.id,),
        )
        return Opened(session, channel)

    async def _post(self, key: str, channel: int, message: Outgoing, circle: Circle) -> None:
        outcome = await self._sender.to_channel(key, channel, message, guild_id=circle.guild_id)
        if outcome is Delivered.FAILED:
            raise BadInput(
                "Discord didn't take my post just now, so the circle isn't open yet. "
                "Please try `/host open` again in a moment."
            )
        if not outcome.ok:
            raise BadInput(
                f"I couldn't post in <#{channel}> — I may be missing permission to send "
                "messages or embeds there — so the circle isn't open yet. A moderator can "
                "check with `/haven status`."
            )

    def _opening_cards(self, circle: Circle, session: Session) -> list[Card]:
        invitation = self._rotating(PROMPTS_FILE, circle, session, _PROMPT)
        about = []
        if session.topic:
            about.append(Field("Topic", plain(session.topic)))
        if session.content_note:
            about.append(Field("Content note", plain(session.content_note)))
        return [
            Card(
                self._text(OPENINGS_FILE, _WELCOME),
                title=f"Welcome to {circle.name}",
                colour=Palette.CALM,
            ),
            Card(self._text(AGREEMENTS_FILE, _AGREEMENTS), title="Our agreements"),
            Card(
                invitation,
                title="This session's invitation",
                colour=Palette.CALM,
                fields=tuple(about),
                footer="Share as much or as little as you like. Passing is always welcome.",
            ),
        ]

    def _text(self, name: str, fallback: str) -> str:
        try:
            return self._texts.text(name) or fallback
        except OSError:
            return fallback

    def _rotating(self, name: str, circle: Circle, session: Session, fallback: str) -> str:
        """The entry for this session: one step on per session of the circle (by its date,
        so it stays the same however often it is asked, and moves on week by week)."""
        try:
            entries = self._texts.entries(name)
        except OSError:
            entries = []
        if not entries:
            return fallback
        step = session.local_date.toordinal() // 7 // max(circle.every_weeks, 1)
        return entries[step % len(entries)]

    # --- the talking piece -----------------------------------------------------------------

    async def talking(self, session_id: int) -> Talking:
        rows = await self._db.fetchall(
            "SELECT user_id, state FROM circle_talking WHERE session_id = ?"
            " AND state IN ('holding', 'waiting') ORDER BY queued_at, user_id",
            (session_id,),
        )
        holder = next((r["user_id"] for r in rows if r["state"] == "holding"), None)
        return Talking(holder, tuple(r["user_id"] for r in rows if r["state"] == "waiting"))

    async def share(self, guild_id: int, session_id: int, user_id: int) -> tuple[str, Talking]:
        """ "I'd like to share": hold the piece if nobody does, else join the line. Returns
        ("holding" | "waiting" | "holding-already" | "waiting-already", the queue)."""
        async with self._queue:
            await self._open_session(guild_id, session_id)
            await self._hand_on(session_id)
            before = await self.talking(session_id)
            if before.holder == user_id:
                return "holding-already", before
            if user_id in before.waiting:
                return "waiting-already", before
            state = "waiting" if before.holder is not None else "holding"
            await self._db.execute(
                "INSERT INTO circle_talking (session_id, guild_id, user_id, state, queued_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (session_id, user_id) DO UPDATE SET"
                " state = excluded.state, queued_at = excluded.queued_at",
                (session_id, guild_id, user_id, state, await self._arrival(session_id)),
            )
            return state, await self.talking(session_id)

    async def pass_(self, guild_id: int, session_id: int, user_id: int) -> tuple[str, Talking]:
        """ "Pass": the holder hands the piece on; someone waiting steps out of line; anyone
        else is simply told passing is welcome. Returns ("passed-on" | "left" | "listening",
        the queue)."""
        async with self._queue:
            await self._open_session(guild_id, session_id)
            before = await self.talking(session_id)
            if before.holder == user_id:
                await self._set(session_id, user_id, "shared")
                outcome = "passed-on"
            elif user_id in before.waiting:
                await self._set(session_id, user_id, "passed")
                outcome = "left"
            else:
                outcome = "listening"
            await self._hand_on(session_id)
            return outcome, await self.talking(session_id)

    async def next_(self, guild_id: int, session_id: int) -> tuple[str, Talking]:
        """The host's "Next": the piece moves to the next in line. Returns ("moved" |
        "resting" — nobody was waiting — | "empty" — nobody held it either, the queue)."""
        async with self._queue:
            await self._open_session(guild_id, session_id)
            before = await self.talking(session_id)
            if before.holder is not None:
                await self._set(session_id, before.holder, "shared")
            await self._hand_on(session_id)
            after = await self.talking(session_id)
            if after.holder is not None:
                return "moved", after
            return ("resting" if before.holder is not None else "empty"), after

    async def _open_session(self, guild_id: int, session_id: int) -> Session:
        circle, session = await self.in_guild(guild_id, session_id)
        if session.state == "closed":
            raise BadInput(
                f"**{plain(circle.name)}** has closed — thank you for being part of it. 🤍"
            )
        if session.state != "open":
            raise BadInput(f"**{plain(circle.name)}** isn't open just now.")
        return session

    async def _set(self, session_id: int, user_id: int, state: str) -> None:
        await self._db.execute(
            "UPDATE circle_talking SET state = ? WHERE session_id = ? AND user_id = ?",
            (state, session_id, user_id),
        )

    async def _hand_on(self, session_id: int) -> None:
        """Nobody holds the piece but someone waits (the holder passed, or left the server):
        the first in line holds it."""
        queue = await self.talking(session_id)
        if queue.holder is None and queue.waiting:
            await self._set(session_id, queue.waiting[0], "holding")

    async def _arrival(self, session_id: int) -> str:
        """Now, or a second after the last arrival if that is not earlier (order is kept)."""
        now = self._clock().replace(microsecond=0)
        last = await self._db.fetchval(
            "SELECT max(queued_at) FROM circle_talking WHERE session_id = ?", (session_id,)
        )
        if last is not None and from_db(last) >= now:
            now = from_db(last) + timedelta(seconds=1)
        return to_db(now)

    async def refresh(self, guild_id: int, session_id: int, name_of: NameOf) -> Delivered:
        """Edit the talking-piece message to show the queue as it is now."""
        lock = self._renders.setdefault(session_id, asyncio.Lock())
        async with lock:
            circle, session = await self.in_guild(guild_id, session_id)
            if session.state != "open":
                return Delivered.ALREADY_SENT  # closing laid it down already
            queue = await self.talking(session_id)
            ids = [u for u in (queue.holder, *queue.waiting) if u is not None]
            names = {u: await self._name(u, name_of) for u in ids}
            message = self._talking_message(circle, session, queue, names)
            return await self._sender.edit(talking_key(session_id), message)

    def _talking_message(
        self, circle: Circle, session: Session, queue: Talking, names: dict[int, str]
    ) -> Outgoing:
        if queue.holder is None:
            lines = [
                "The piece is resting. Press **I'd like to share** whenever you're ready — "
                "or simply listen; listening is a full part of the circle too."
            ]
        else:
            lines = [f"**Holding the piece:** {names.get(queue.holder, f'<@{queue.holder}>')}"]
        if queue.waiting:
            lines += ["", "**Waiting to share:**"]
            lines += [f"{i}. {names.get(u, f'<@{u}>')}" for i, u in enumerate(queue.waiting, 1)]
        ids = {"guild": circle.guild_id, "session": session.id}
        return Outgoing(
            cards=(
                Card(
                    "\n".join(lines),
                    title="🪶 The talking piece",
                    colour=Palette.CALM,
                    footer="Passing is always okay. The host moves the piece on with Next.",
                ),
            ),
            buttons=(
                Button(self._routes.custom_id(SHARE, **ids), "I'd like to share", "primary"),
                Button(self._routes.custom_id(PASS, **ids), "Pass"),
                Button(self._routes.custom_id(NEXT, **ids), "Next", "success"),
            ),
        )

    # --- closing, attendance and aftercare -------------------------------------------------

    async def close(self, circle: Circle, session: Session, fallback_channel: int | None) -> Closed:
        """Post a closing reflection where the circle was opened, mark it closed, lay the
        talking piece down and schedule aftercare. Closing again only shows attendance."""
        if session.state == "closed":
            return Closed(session, None, True, await self.attendance_parts(session.id))
        where = await self._sender.posted(talking_key(session.id))
        channel = where[0] if where else (await self._circles.channel_for(circle))
        channel = channel or fallback_channel
        posted: int | None = None
        if channel is not None:
            reflection = Card(
                self._rotating(CLOSINGS_FILE, circle, session, _CLOSING),
                title=f"Closing {circle.name}",
                colour=Palette.CALM,
                footer="Thank you for listening, and for being heard.",
            )
            outcome = await self._sender.to_channel(
                f"circle-close:{session.id}",
                channel,
                Outgoing(cards=(reflection,)),
                guild_id=circle.guild_id,
            )
            posted = channel if outcome.ok else None
        await self._db.execute(
            "UPDATE circle_sessions SET state = 'closed' WHERE id = ?"
            " AND state IN ('planned', 'open')",
            (session.id,),
        )
        await self._db.execute("DELETE FROM circle_talking WHERE session_id = ?", (session.id,))
        self._renders.pop(session.id, None)
        if where is not None:
            await self._sender.edit(
                talking_key(session.id),
                Outgoing(
                    cards=(
                        Card(
                            "This circle has closed. Thank you for holding it together. 🤍",
                            title="🪶 The talking piece",
                            colour=Palette.CALM,
                        ),
                    )
                ),
            )
        due = self._clock() + AFTERCARE_DELAY
        await self._scheduler.schedule(
            AFTERCARE,
            f"{AFTERCARE}:{session.id}",
            due,
            deadline=due + AFTERCARE_LATE,
            guild_id=circle.guild_id,
            payload={"session": session.id},
        )
        closed = await self._circles.session(session.id)
        return Closed(closed or session, posted, False, await self.attendance_parts(session.id))

    async def attendance_parts(self, session_id: int) -> list[list[Rsvp]]:
        """Who had a seat (in seat order), in groups of 25: one select menu each."""
        going = [r for r in await self._circles.rsvps(session_id) if r.status == "going"]
        return [going[i : i + SELECT_OPTIONS] for i in range(0, len(going), SELECT_OPTIONS)]

    async def record_attendance(
        self, guild_id: int, session_id: int, part: int, chosen: Sequence[int]
    ) -> tuple[int, int]:
        """The host's attendance for one select: the chosen were here, the rest of that
        group were not. Returns (here, in that group)."""
        circle, session = await self.in_guild(guild_id, session_id)
        if session.state != "closed":
            raise BadInput(f"That session of **{plain(circle.name)}** hasn't closed yet.")
        parts = await self.attendance_parts(session_id)
        if part >= len(parts):
            raise BadInput("The seats changed since that list was made — `/host close` again.")
        group = parts[part]
        here = set(chosen) & {r.user_id for r in group}
        for rsvp in group:
            await self._db.execute(
                "UPDATE circle_rsvps SET attended = ? WHERE id = ?",
                (int(rsvp.user_id in here), rsvp.id),
            )
        return len(here), len(group)

    async def _aftercare_due(self, job: Job) -> str:
        session = await self._circles.session(int(job.payload["session"]))
        circle = await self._circles.by_id(session.circle_id) if session else None
        if session is None or circle is None:
            return "skipped: the session is gone"
        going = [r for r in await self._circles.rsvps(session.id) if r.status == "going"]
        # Not recorded counts as here: the host who recorded nothing (or one select of two)
        # never costs anyone the aftercare they asked for.
        wanting = [r for r in going if r.aftercare and r.attended is not False]
        card = Card(
            f"Thank you for being part of **{plain(circle.name)}**. Circles can stir things "
            "up, and however you're feeling now is okay.\n\n"
            "You might be gentle with yourself for a while — some water, some rest, "
            "something kind. If anything feels heavy, `/support` is there any time, and "
            "there's no need to reply to this. 🤍",
            title="After the circle",
            colour=Palette.SUPPORT,
        )
        sent = failed = 0
        for rsvp in wanting:
            outcome = await self._sender.to_member(
                f"{AFTERCARE}:{session.id}:{rsvp.user_id}",
                rsvp.user_id,
                Outgoing(cards=(card,)),
                guild_id=circle.guild_id,
                kind=AFTERCARE,
            )
            sent += outcome.ok
            failed += outcome is Delivered.FAILED
        if failed:
            raise Retry(timedelta(minutes=10), f"{failed} aftercare DM(s) failed")
        return f"sent {sent} of {len(wanting)}"

    # --- skipping a week, messages ---------------------------------------------------------

    async def skip(self, circle: Circle, session: Session, reason: str | None) -> int:
        """Skip one session kindly: everyone with a place is told, its event is cancelled.
        Returns how many were told."""
        text = within(
            clean_text(reason or ""),
            REASON_MAX,
            "A reason",
            "A few words is plenty — nothing was skipped yet.",
        )
        if session.state == "open":
            raise BadInput(
                "That session is open right now — `/host close` ends it instead of skipping."
            )
        notice = (
            f"**{plain(circle.name)}** is taking a rest on {session.when}, so that session "
            "won't take place. Your place at later sessions is just as it was — see you "
            "next time. 🤍"
        )
        return await self._circles.cancel_session(
            circle, session, state="skipped", notice=notice, reason=text or None
        )

    def message_text(self, raw: str) -> str:
        text = clean_text(raw)
        if not text:
            raise BadInput("Your message was empty — write a few words and I'll pass them on.")
        return within(
            text, MESSAGE_MAX, "Messages", "Nothing was sent — a shorter one will go straight out."
        )

    async def message(
        self, circle: Circle, session: Session, key: str, author: str, raw: str
    ) -> tuple[int, int]:
        """The host's words to everyone with a seat: a DM each (closed DMs: a mention in the
        circle's channel), shown inert and attributed. Returns (reached, with a seat)."""
        text = self.message_text(raw)
        quoted = "\n".join(f"> {line}" if line else ">" for line in plain(text).split("\n"))
        card = Card(
            f"From **{plain(author, 80)}**, for everyone coming to **{plain(circle.name)}** "
            f"on {session.when}:\n\n{quoted}",
            title=f"A message about {circle.name}",
            colour=Palette.CALM,
        )
        going = sum(1 for r in await self._circles.rsvps(session.id) if r.status == "going")
        reached = await self._circles.tell(circle, session, key, card) if going else 0
        return reached, going

    # --- away, and co-hosts covering -------------------------------------------------------

    async def away(self, circle: Circle, session: Session, asker_id: int, asker: str) -> Away:
        """The host can't come: ask each co-host (but the asker) by DM to cover; if nobody
        has by `COVER_LEAD` before the start, the session is cancelled kindly."""
        if session.away:
            covered = f" <@{session.cover_id}> is covering it." if session.cover_id else ""
            raise BadInput(
                f"The session on {session.local_date.isoformat()} is already marked away." + covered
            )
        deadline = session.starts_at - COVER_LEAD
        if deadline <= self._clock():
            raise BadInput(
                "That session starts in less than two hours — too soon to ask co-hosts to "
                "cover. A co-host can simply `/host open` it, or `/host skip` lets everyone "
                "know kindly. Nothing changed."
            )
        cohosts = [c for c in await self._circles.cohosts(circle.id) if c != asker_id]
        if not cohosts:
            raise BadInput(
                f"**{plain(circle.name)}** has no co-hosts to ask just now, so I left the "
                f"session as it was. `/host skip date:{session.local_date.isoformat()}` lets "
                "everyone know kindly — or a moderator can add a co-host with `/haven cohost`."
            )
        marked = await self._db.execute(
            "UPDATE circle_sessions SET away = 1 WHERE id = ? AND away = 0 AND state = 'planned'",
            (session.id,),
        )
        if not marked:
            raise BadInput(
                f"The session on {session.local_date.isoformat()} is already marked away."
            )
        await self._scheduler.schedule(
            COVER_DEADLINE,
            f"{COVER_DEADLINE}:{session.id}",
            deadline,
            deadline=session.ends_at,
            guild_id=circle.guild_id,
            payload={"session": session.id, "asker": asker_id},
        )
        card = Card(
            f"**{plain(asker, 80)}** can't host **{plain(circle.name)}** on {session.when}. "
            "Could you hold it? If you can, press **I'll host** — the first co-host to say yes "
            "covers it.\n\nIf nobody can by "
            f"{discord_timestamp(deadline, 'F')}, I'll let everyone with a seat know kindly "
            "that it won't take place. No pressure at all.",
            title=f"Could you host {circle.name}?",
            colour=Palette.CALM,
        )
        reached = 0
        for cohost in cohosts:
            button = Button(
                self._routes.custom_id(
                    TAKE_COVER,
                    cohost,
                    guild=circle.guild_id,
                    session=session.id,
                    asker=asker_id,
                ),
                "I'll host",
                "success",
            )
            outcome = await self._sender.to_member(
                f"{COVER}:{session.id}:{cohost}",
                cohost,
                Outgoing(cards=(card,), buttons=(button,)),
                guild_id=circle.guild_id,
                kind=COVER,
            )
            reached += outcome.ok
        marked_session = await self._circles.session(session.id)
        return Away(marked_session or session, len(cohosts), reached, deadline)

    async def take_cover(
        self, guild_id: int, session_id: int, user_id: int
    ) -> tuple[str, Circle, Session]:
        """ "I'll host": the first press covers the session. Returns ("covered" | "yours" |
        "taken" | "gone", the circle, the session as it is now)."""
        circle, session = await self.in_guild(guild_id, session_id)
        if session.state != "planned" or session.starts_at <= self._clock():
            return "gone", circle, session
        won = await self._db.execute(
            "UPDATE circle_sessions SET cover_id = ? WHERE id = ? AND cover_id IS NULL"
            " AND away = 1 AND state = 'planned'",
            (user_id, session_id),
        )
        now = await self._circles.session(session_id) or session
        if won:
            await self._scheduler.cancel_prefix(f"{COVER_DEADLINE}:{session_id}")
            return "covered", circle, now
        if now.cover_id == user_id:
            return "yours", circle, now
        return ("taken" if now.cover_id else "gone"), circle, now

    async def tell_covered(
        self, circle: Circle, session: Session, cover: str, asker_id: int
    ) -> None:
        """The host (and whoever asked, if not them) hears who covers, by DM."""
        told = {u for u in (circle.host_id, asker_id) if u is not None} - {session.cover_id}
        card = Card(
            f"**{plain(cover, 80)}** will host **{plain(circle.name)}** on {session.when}. "
            "Thank you for asking in good time. 🤍",
            title="Your session is covered",
            colour=Palette.CALM,
        )
        for user_id in sorted(told):
            await self._sender.to_member(
                f"circle-covered:{session.id}:{user_id}",
                user_id,
                Outgoing(cards=(card,)),
                guild_id=circle.guild_id,
                kind=NEWS,
            )

    async def _cover_deadline_due(self, job: Job) -> str:
        session = await self._circles.session(int(job.payload["session"]))
        circle = await self._circles.by_id(session.circle_id) if session else None
        if session is None or circle is None:
            return "skipped: the session is gone"
        if session.state != "planned" or not session.away:
            return f"skipped: the session is {session.state}"
        if session.cover_id is not None:
            return "skipped: covered"
        told = await self._circles.cancel_session(
            circle,
            session,
            state="cancelled",
            notice=f"**{plain(circle.name)}** on {session.when} won't take place this time: "
            "its host can't be there, and nobody was free to cover. We're sorry for the "
            "change. Your place at later sessions is just as it was. 🤍",
        )
        asker = job.payload.get("asker")
        hosts = {u for u in (circle.host_id, asker) if isinstance(u, int)}
        for user_id in sorted(hosts):
            await self._sender.to_member(
                f"circle-uncovered:{session.id}:{user_id}",
                user_id,
                Outgoing(
                    cards=(
                        Card(
                            f"Nobody was free to cover **{plain(circle.name)}** on "
                            f"{session.when}, so I cancelled it and let {told} "
                            f"{'person' if told == 1 else 'people'} know kindly.",
                            title="A session was cancelled",
                            colour=Palette.GENTLE,
                        ),
                    )
                ),
                guild_id=circle.guild_id,
                kind=NEWS,
            )
        return f"cancelled; told {told}"


def _listing(title: str, lines: list[str]) -> list[Card]:
    """Lines as cards of at most one description each (4,096 characters)."""
    chunks = pack_lines(lines, Limits.EMBED_DESCRIPTION)
    return [
        Card(chunk, title=title if i == 0 else f"{title} (continued)", colour=Palette.CALM)
        for i, chunk in enumerate(chunks)
    ]
