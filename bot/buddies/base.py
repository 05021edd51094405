"""What every part of the service shares: its state, reading, and the pieces that change pairs.

Runs, rematches, leaving and separations change pairs one at a time (a lock the running task
may re-enter, for a member found gone in the middle of a run): `_changing_pairs`. A pair is
recorded by `pair` and ended by `_end`; `_match` runs the matcher, told what `_forbidden` rules
out and what `_recent` would repeat.

Check-ins read the current pair through `current()` (the same `buddy_pairs` and `buddy_members`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
from abc import abstractmethod
from collections.abc import AsyncIterator, Iterable
from datetime import datetime

from bot.buddies.values import (
    ANSWERS,
    CHECK,
    CHECKBACK,
    HEADS_UP,
    NEWS,
    RECENT,
    RUN,
    STAY,
    Buddy,
    Cadence,
    Pair,
    Profile,
    Status,
    _cadence,
)
from bot.db import Database
from bot.dm_stops import DmKind, DmStops
from bot.errors import BadInput
from bot.features import Features
from bot.guilds import Guilds
from bot.members import Members
from bot.messages import Card, Outgoing, Palette
from bot.outgoing import Delivered, Sender
from bot.pairing import Candidate, Matching, match
from bot.recurrence import RecurringRules
from bot.routes import Routes
from bot.scheduler import Job, Scheduler
from bot.texts import Texts
from bot.timeutil import Clock, from_db, to_db, utcnow


class Base(RecurringRules[Cadence]):
    """Shared state, reading and what several parts need; `Buddies` adds the pool
    (`pool.py`), runs (`runs.py`), intros (`intros.py`) and check-backs (`checkbacks.py`)."""

    def __init__(
        self,
        db: Database,
        guilds: Guilds,
        members: Members,
        scheduler: Scheduler,
        sender: Sender,
        routes: Routes,
        dm_stops: DmStops,
        texts: Texts,
        *,
        key: bytes,
        clock: Clock = utcnow,
    ) -> None:
        super().__init__(RUN, scheduler, clock=clock, off_note="skipped: pairing is off")
        self._db = db
        self._guilds = guilds
        self._sender = sender
        self._routes = routes
        self._texts = texts
        self._key = key
        # One run or change of pairs at a time: a rematch during a run must not pair twice.
        # Re-entrant for the task holding it (`_changing_pairs`): finding out mid-run that a
        # member left ends their pair (Members.left → `leave`) inside the run.
        self._pairs_lock = asyncio.Lock()
        self._pairs_holder: asyncio.Task[object] | None = None
        routes.add(CHECK, STAY)
        scheduler.register(HEADS_UP, self._heads_up_due)
        scheduler.register(CHECKBACK, self._checkback_due)
        members.on_left(self._member_left)
        for kind, label, stopped in (
            (
                NEWS,
                "Stop buddy messages",
                "Done — I won't DM you about buddy pairing in this server. You're still in "
                "the pool; `/buddy leave` takes you out, `/buddy status` shows where you are.",
            ),
            (
                HEADS_UP,
                "Stop pairing heads-ups",
                "Done — no more heads-ups before pairing runs here. `/buddy pause` is there "
                "whenever you'd like to skip one.",
            ),
            (
                CHECKBACK,
                "Stop check-backs",
                "Done — no more buddy check-backs from this server. Your pair goes on as before.",
            ),
        ):
            dm_stops.declare(DmKind(kind, stop_label=label, stopped=stopped))

    def contribute(self, features: Features) -> None:
        self.declare(features, "Buddy pairing")
        features.job(HEADS_UP, "Buddy pairing heads-up")
        features.job(CHECKBACK, "Buddy check-backs")
        features.count(
            "members in buddy pairing",
            "SELECT count(*) FROM buddy_profiles WHERE guild_id = :guild",
        )
        features.count(
            "current buddy pairs",
            "SELECT count(*) FROM buddy_pairs WHERE guild_id = :guild AND ended_at IS NULL",
        )
        for answer, label in ANSWERS.items():
            features.count(
                f"check-backs answered “{label}” (last 12 weeks)",
                "SELECT count(*) FROM buddy_checkbacks WHERE guild_id = :guild"
                f" AND answer = '{answer}'",
            )
        features.purge("buddy history past 12 weeks", self._purge_history)
        features.data("buddy_profiles", "Your buddy profile: intro, pronouns, style, pauses.")
        features.data(
            "buddy_members",
            "Your buddy pairings in this server.",
            where="user_id = :user AND pair_id IN "
            "(SELECT id FROM buddy_pairs WHERE guild_id = :guild)",
        )
        features.data(
            "buddy_avoids",
            "Members you asked never to be paired with, each stored as a code that doesn't "
            "name them.",
        )
        features.data("buddy_checkbacks", "Your private answers to buddy check-backs.")
        features.before_forget(self._forgotten)
        features.privacy(
            "keep",
            "• **Buddies**, if you joined: your intro, pronouns and style, pauses, who your "
            "buddies were (for 12 weeks, so you aren't paired again too soon), and your "
            "private check-back answers. Whom you avoid is kept as a code that names nobody.",
        )
        features.privacy(
            "see",
            "• Your buddy sees your intro, pronouns and style. Nobody ever learns whom you "
            "avoid, and check-back answers are private: moderators see only totals.",
        )

    @contextlib.asynccontextmanager
    async def _changing_pairs(self) -> AsyncIterator[None]:
        """Hold the pairs lock; a task that holds it already goes straight on (a member found
        gone while a run or a rematch asks Discord is taken out of pairing by `leave`)."""
        task = asyncio.current_task()
        if task is not None and self._pairs_holder is task:
            yield
            return
        async with self._pairs_lock:
            self._pairs_holder = task
            try:
                yield
            finally:
                self._pairs_holder = None

    async def _purge_history(self, now: datetime) -> int:
        """Check-back answers and ended pairs go after 12 weeks (long enough to avoid repeats)."""
        cutoff = to_db(now - RECENT)
        removed = await self._db.execute(
            "DELETE FROM buddy_checkbacks WHERE asked_at < ?", (cutoff,)
        )
        return removed + await self._db.execute(
            "DELETE FROM buddy_pairs WHERE ended_at IS NOT NULL AND ended_at < ?", (cutoff,)
        )

    # --- what the other parts supply -------------------------------------------------------

    @abstractmethod
    async def _heads_up_due(self, job: Job) -> str:
        """The DM a day before a run (`runs.py`)."""

    @abstractmethod
    async def _checkback_due(self, job: Job) -> str:
        """The check-backs halfway through the cycle (`checkbacks.py`)."""

    @abstractmethod
    async def _member_left(self, guild_id: int, user_id: int) -> None:
        """A member left the server (`pool.py`)."""

    @abstractmethod
    async def _forgotten(self, guild_id: int, user_id: int) -> None:
        """A member asked to be forgotten (`pool.py`)."""

    # --- reading ---------------------------------------------------------------------------

    async def current(self, guild_id: int, user_id: int) -> list[Buddy]:
        """The member's current buddy (two in a trio); empty when they have none."""
        rows = await self._db.fetchall(
            "SELECT other.user_id, p.thread_id FROM buddy_members me"
            " JOIN buddy_pairs p ON p.id = me.pair_id AND p.ended_at IS NULL AND p.guild_id = ?"
            " JOIN buddy_members other ON other.pair_id = p.id AND other.user_id != me.user_id"
            " WHERE me.user_id = ? ORDER BY other.user_id",
            (guild_id, user_id),
        )
        return [Buddy(row["user_id"], row["thread_id"]) for row in rows]

    async def profile(self, guild_id: int, user_id: int) -> Profile | None:
        row = await self._db.fetchone(
            "SELECT * FROM buddy_profiles WHERE guild_id = ? AND user_id = ?",
            (guild_id, user_id),
        )
        return Profile.from_row(row) if row else None

    async def current_pair(self, guild_id: int, user_id: int) -> Pair | None:
        row = await self._db.fetchone(
            "SELECT p.id FROM buddy_pairs p JOIN buddy_members m ON m.pair_id = p.id"
            " WHERE p.guild_id = ? AND m.user_id = ? AND p.ended_at IS NULL",
            (guild_id, user_id),
        )
        return await self._pair(row["id"]) if row else None

    async def _pair(self, pair_id: int) -> Pair | None:
        row = await self._db.fetchone("SELECT * FROM buddy_pairs WHERE id = ?", (pair_id,))
        if row is None:
            return None
        members = await self._db.fetchall(
            "SELECT user_id FROM buddy_members WHERE pair_id = ? ORDER BY user_id", (pair_id,)
        )
        return Pair(
            row["id"],
            row["guild_id"],
            tuple(m["user_id"] for m in members),
            row["thread_id"],
            from_db(row["started_at"]),
        )

    async def pairs(self, guild_id: int) -> list[Pair]:
        rows = await self._db.fetchall(
            "SELECT id FROM buddy_pairs WHERE guild_id = ? AND ended_at IS NULL ORDER BY id",
            (guild_id,),
        )
        return [p for r in rows if (p := await self._pair(r["id"])) is not None]

    async def status(self, guild_id: int, user_id: int) -> Status:
        profile = await self.profile(guild_id, user_id)
        pair = await self.current_pair(guild_id, user_id)
        jobs = await self._scheduler.pending(guild_id=guild_id, kind=RUN, limit=1)
        return Status(profile, pair, jobs[0].due_at if jobs else None)

    async def cadence(self, guild_id: int) -> Cadence | None:
        row = await self._db.fetchone("SELECT * FROM buddy_cadence WHERE guild_id = ?", (guild_id,))
        return _cadence(row) if row else None

    # --- pairs -----------------------------------------------------------------------------

    async def _end(
        self,
        pair: Pair,
        reason: str,
        *,
        leavers: Iterable[int] = (),
        quiet: Iterable[int] = (),
    ) -> None:
        """End a pair. Whoever it ended for (`leavers`) chose it or left and hears nothing,
        except those who went `quiet`: they hear gently how to come back. Everyone else hears
        neutrally, with no reason and no name, and stays in the pool."""
        # The notices go first (each once, by its key) and the pair ends after: killed in
        # between, the pair is still current, and whatever ends it again finds them sent.
        current = await self._db.fetchval(
            "SELECT 1 FROM buddy_pairs WHERE id = ? AND ended_at IS NULL", (pair.id,)
        )
        if not current:
            return
        leaving, resting = set(leavers), set(quiet)
        for user_id in pair.members:
            if user_id not in leaving:
                await self._tell(
                    pair.guild_id,
                    user_id,
                    f"{NEWS}:ended:{pair.id}:{user_id}",
                    Card(
                        "Your buddy pairing has come to a close. That happens, and it isn't "
                        "about anything you did. You stay in the pool: the next run will look "
                        "for a new buddy for you, and `/buddy status` shows when.",
                        title="A change in your buddy pairing",
                        colour=Palette.GENTLE,
                    ),
                )
            elif user_id in resting:
                await self._tell(
                    pair.guild_id,
                    user_id,
                    f"{NEWS}:rested:{pair.id}:{user_id}",
                    Card(
                        "We haven't heard from you for a little while, so I've let your buddy "
                        "pairing rest — no harm done, and nothing you need to explain. "
                        "Whenever you'd like a buddy again, `/buddy join` puts you back in "
                        "for the next run.",
                        title="Your buddy pairing is resting",
                        colour=Palette.GENTLE,
                    ),
                )
        await self._db.execute(
            "UPDATE buddy_pairs SET ended_at = ?, end_reason = ? WHERE id = ? AND ended_at IS NULL",
            (to_db(self._clock()), reason, pair.id),
        )

    async def pair(
        self,
        guild_id: int,
        user_ids: list[int],
        started_at: str,
        thread_id: int | None = None,
        *,
        run_key: str | None = None,
    ) -> int:
        """Record a pair (or trio); returns its id (never reused)."""
        async with self._db.transaction() as tx:
            pair_id = int(
                await tx.fetchval(
                    "INSERT INTO buddy_pairs (guild_id, thread_id, started_at, run_key)"
                    " VALUES (?, ?, ?, ?) RETURNING id",
                    (guild_id, thread_id, started_at, run_key),
                )
            )
            await tx.executemany(
                "INSERT INTO buddy_members (pair_id, user_id) VALUES (?, ?)",
                [(pair_id, u) for u in user_ids],
            )
        return pair_id

    # --- helpers ---------------------------------------------------------------------------

    async def _profiles(self, guild_id: int) -> list[Profile]:
        rows = await self._db.fetchall(
            "SELECT * FROM buddy_profiles WHERE guild_id = ? ORDER BY user_id", (guild_id,)
        )
        return [Profile.from_row(r) for r in rows]

    async def _require_profile(self, guild_id: int, user_id: int) -> Profile:
        profile = await self.profile(guild_id, user_id)
        if profile is None:
            raise BadInput(
                "You're not in buddy pairing here yet. `/buddy join` opts you in, whenever "
                "it feels right."
            )
        return profile

    async def _candidate(self, guild_id: int, user_id: int) -> Candidate:
        profile = await self.profile(guild_id, user_id)
        zone = await self._zone(guild_id, user_id)
        return Candidate(user_id, zone, profile.style if profile else "either")

    async def _zone(self, guild_id: int, user_id: int) -> str:
        value = await self._db.fetchval(
            "SELECT timezone FROM member_profile WHERE guild_id = ? AND user_id = ?",
            (guild_id, user_id),
        )
        return str(value) if value else (await self._guilds.get(guild_id)).timezone

    def _code(self, guild_id: int, user_id: int) -> str:
        """A keyed hash that stands for a member in avoid lists and separations: it names
        nobody to anyone reading the database, and stays meaningless after they are forgotten."""
        message = f"buddy:{guild_id}:{user_id}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()[:32]

    async def _forbidden(self, guild_id: int, user_ids: Iterable[int]) -> set[frozenset[int]]:
        """Pairs among `user_ids` that must never be matched: avoids, separations, and for
        12 weeks a pair one of them asked to change (a rematch, "It's not a fit") — not a
        "recent" pair the matcher may repeat when there is no other way."""
        by_code = {self._code(guild_id, u): u for u in user_ids}
        forbidden: set[frozenset[int]] = set()
        for row in await self._db.fetchall(
            "SELECT user_id, avoided FROM buddy_avoids WHERE guild_id = ?", (guild_id,)
        ):
            other = by_code.get(row["avoided"])
            if other is not None and row["user_id"] in by_code.values():
                forbidden.add(frozenset((row["user_id"], other)))
        for row in await self._db.fetchall(
            "SELECT first, second FROM buddy_separations WHERE guild_id = ?", (guild_id,)
        ):
            a, b = by_code.get(row["first"]), by_code.get(row["second"])
            if a is not None and b is not None:
                forbidden.add(frozenset((a, b)))
        members = set(by_code.values())
        return forbidden | {
            pair for pair in await self._recent(guild_id, ended_for="rematch") if pair <= members
        }

    async def _recent(self, guild_id: int, *, ended_for: str | None = None) -> set[frozenset[int]]:
        """Pairs of members who were buddies in the last 12 weeks (or whose pair ended
        `ended_for` that reason then)."""
        cutoff = to_db(self._clock() - RECENT)
        which = "(p.ended_at IS NULL OR p.ended_at > ?)"
        params: tuple[object, ...] = (guild_id, cutoff)
        if ended_for is not None:
            which = "p.ended_at > ? AND p.end_reason = ?"
            params = (guild_id, cutoff, ended_for)
        rows = await self._db.fetchall(
            "SELECT a.user_id AS a, b.user_id AS b FROM buddy_pairs p"
            " JOIN buddy_members a ON a.pair_id = p.id"
            " JOIN buddy_members b ON b.pair_id = p.id AND b.user_id > a.user_id"
            f" WHERE p.guild_id = ? AND {which}",
            params,
        )
        return {frozenset((r["a"], r["b"])) for r in rows}

    async def _tell(self, guild_id: int, user_id: int, key: str, *cards: Card) -> Delivered:
        return await self._sender.to_member(
            key, user_id, Outgoing(cards=cards), guild_id=guild_id, kind=NEWS
        )

    async def _match(
        self,
        guild_id: int,
        user_ids: list[int],
        *,
        forbidden: set[frozenset[int]],
        recent: set[frozenset[int]],
        seed: int,
    ) -> Matching:
        """`bot.pairing.match` (pure) over these members, run in a worker thread so the event
        loop goes on meanwhile."""
        candidates = [await self._candidate(guild_id, u) for u in user_ids]
        return await asyncio.to_thread(
            match, candidates, forbidden=forbidden, recent=recent, seed=seed
        )
