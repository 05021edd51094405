"""Buddies: consent-first, stable pairs of members who check on each other.

Members opt in (`join`, with an optional intro, pronouns and style) and are paired on the
server's cadence — every N weeks at a weekday and time in the server's zone, a recurring rule
(`bot.recurrence`) whose runs are outbox jobs like every other. A run:

1. 24 hours before, a heads-up DM to everyone opted in and not paused ("pairing tomorrow;
   /buddy pause to skip");
2. asks Discord who is still in the server (anyone gone is taken out of pairing first, their
   buddy told), then ends the pairs that should not continue — someone asked for a change
   (`rematch`, or "It's not a fit"), or stopped answering (two check-backs in a row that
   reached them went unanswered, and no answer to the gentle "stay?") — with a neutral notice
   to the other (the one who went quiet hears gently how to come back); every other pair
   **continues**: buddies are meant to be stable;
3. matches everyone who needs a buddy with `bot.pairing.match` (pure; run in a worker thread),
   never across an avoid, a moderator's separation or (for 12 weeks) a pair someone asked to
   change, never with someone paused or gone quiet; a pair from the last 12 weeks only when
   there is no other way;
4. introduces each new pair (or trio) in a private thread in the buddy channel — or, without
   one (or without the permission to make private threads there), by DM to each with the
   other's mention — and tells anyone who could not be matched, kindly and always in the same
   words, so nobody can read someone's avoid list from it;
5. schedules the check-back halfway through the cycle: each member privately gets "We
   connected", "Not yet", "It's not a fit", "We paused by agreement".

A run is safe to repeat with the same key (a crash mid-run): the pairs it made stand (each
pair records its run in the same transaction), nobody is paired twice, and each intro is sent
once. Runs, rematches, leaving and separations change pairs one at a time (a lock the running
task may re-enter, for a member found gone in the middle of a run).

Leaving (`leave`, leaving the server, `/my forget`) ends the pair with a neutral notice to the
other, who stays in the pool; forgetting also takes down the intros that showed the member's
intro and pronouns. Avoids and separations name the avoided only by a keyed hash, so they are
never revealed — not even in the other member's `/my data`, nor after they are forgotten.

Check-ins read the current pair through `current()` (the same `buddy_pairs` and `buddy_members`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal

from bot.db import Database, Row
from bot.dm_stops import DmKind, DmStops
from bot.errors import BadInput
from bot.features import Features
from bot.guilds import Guilds
from bot.inputs import clean_text, parse_time
from bot.members import Members
from bot.messages import Button, Card, Field, Outgoing, Palette
from bot.outgoing import Delivered, Sender
from bot.pairing import Candidate, Matching, match
from bot.recurrence import BUDDY_CADENCES, RecurringRules, every_weeks_for, weekly_occurrences
from bot.routes import Route, Routes
from bot.scheduler import Job, Occurrence, Scheduler
from bot.texts import Texts, plain
from bot.timeutil import (
    Clock,
    discord_timestamp,
    format_hhmm,
    from_db,
    local_date,
    parse_hhmm,
    to_db,
    utcnow,
)

log = logging.getLogger(__name__)

RUN = "buddy-pairing"
HEADS_UP = "buddy-heads-up"
CHECKBACK = "buddy-checkback"
NEWS = "buddy-news"  # intros by DM, pair endings, "couldn't match you this time", "stay?"

STYLES = ("text", "voice", "either")
STYLE_WORDS = {"text": "text", "voice": "voice", "either": "text or voice"}
INTRO_MAX = 300
PRONOUNS_MAX = 40
RECENT = timedelta(weeks=12)
HEADS_UP_BEFORE = timedelta(hours=24)
QUIET_LIMIT = 2  # check-backs in a row unanswered before the gentle "stay?"
ENDINGS = ("rematch", "left", "quiet")  # why a run ends a pair, the first that applies kept
PAUSE_WEEKS = (1, 12)
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

STARTERS_FILE = "buddy_starters.txt"
ABOUT_FILE = "buddy_about.md"

ANSWERS = {
    "connected": "We connected",
    "not-yet": "Not yet",
    "not-a-fit": "It's not a fit",
    "paused": "We paused by agreement",
}
STAY_CHOICES = {"stay": "Stay in pairing", "pause": "Pause for 4 weeks", "leave": "Leave pairing"}

CHECK = Route(
    "buddy:check", fields=(("guild", "id"), ("checkback", "id"), ("answer", "word")), signed=True
)
STAY = Route("buddy:stay", fields=(("guild", "id"), ("choice", "word")), signed=True)


# --- values -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Buddy:
    user_id: int
    thread_id: int | None  # the pair's private thread, if they have one


@dataclass(frozen=True)
class Profile:
    guild_id: int
    user_id: int
    intro: str | None
    pronouns: str | None
    style: str
    paused_until: datetime | None
    wants_change: bool
    quiet_checks: int
    joined_at: datetime

    def paused_at(self, instant: datetime) -> bool:
        return self.paused_until is not None and instant < self.paused_until

    @classmethod
    def from_row(cls, row: Row) -> Profile:
        return cls(
            guild_id=row["guild_id"],
            user_id=row["user_id"],
            intro=row["intro"],
            pronouns=row["pronouns"],
            style=row["style"],
            paused_until=from_db(row["paused_until"]) if row["paused_until"] else None,
            wants_change=bool(row["wants_change"]),
            quiet_checks=row["quiet_checks"],
            joined_at=from_db(row["joined_at"]),
        )


@dataclass(frozen=True)
class Pair:
    id: int
    guild_id: int
    members: tuple[int, ...]
    thread_id: int | None
    started_at: datetime


@dataclass(frozen=True)
class Cadence:
    """The server's pairing rhythm (a `bot.recurrence` rule, one per server)."""

    guild_id: int
    every_weeks: int
    weekday: int
    at: time
    anchor: date
    user_id: None = None

    @property
    def rhythm(self) -> str:
        every = "every week" if self.every_weeks == 1 else f"every {self.every_weeks} weeks"
        return f"{every} on {WEEKDAYS[self.weekday].capitalize()} at {format_hhmm(self.at)}"


@dataclass(frozen=True)
class Status:
    profile: Profile | None
    pair: Pair | None
    next_run: datetime | None


@dataclass(frozen=True)
class RunReport:
    continued: int  # pairs that go on
    ended: int  # pairs ended because someone asked for a change or went quiet
    new_groups: tuple[tuple[int, ...], ...]
    unmatched: tuple[int, ...]


Rematch = Literal["now", "next-run"]


# --- the service --------------------------------------------------------------------------


class Buddies(RecurringRules[Cadence]):
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

    # --- members ---------------------------------------------------------------------------

    async def join(
        self,
        guild_id: int,
        user_id: int,
        *,
        intro: str | None = None,
        pronouns: str | None = None,
        style: str | None = None,
    ) -> tuple[Profile, bool]:
        """Opt in (or update the profile). Returns the profile and whether it is new."""
        if style is not None and style not in STYLES:
            raise BadInput("Your style can be `text`, `voice` or `either`.")
        values = {
            "intro": _short(intro, INTRO_MAX, "An intro"),
            "pronouns": _short(pronouns, PRONOUNS_MAX, "Pronouns"),
            "style": style,
        }
        now = to_db(self._clock())
        existing = await self.profile(guild_id, user_id)
        if existing is None:
            await self._db.execute(
                "INSERT INTO buddy_profiles (guild_id, user_id, intro, pronouns, style,"
                " joined_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    guild_id,
                    user_id,
                    values["intro"],
                    values["pronouns"],
                    style or "either",
                    now,
                    now,
                ),
            )
        else:
            changes: dict[str, str | int] = {k: v for k, v in values.items() if v is not None}
            resting = existing.paused_at(self._clock()) or existing.quiet_checks > 0
            if not changes and not resting:
                raise BadInput(
                    "You're already in buddy pairing here, so nothing changed. To update what "
                    "your buddy sees, add `intro`, `pronouns` or `style`; `/buddy status` shows "
                    "where you are."
                )
            # Running join again is also how a member who went quiet, or paused, says "I'm
            # here": it ends a buddy pause early (there is no separate resume command).
            changes["quiet_checks"] = 0
            changes["updated_at"] = now
            assignments = ", ".join(f"{column} = ?" for column in changes)
            await self._db.execute(
                f"UPDATE buddy_profiles SET {assignments}, paused_until = NULL"
                " WHERE guild_id = ? AND user_id = ?",
                (*changes.values(), guild_id, user_id),
            )
        await self._sender.reopen_dm(user_id)  # opting in is the moment to try DMs again
        profile = await self.profile(guild_id, user_id)
        assert profile is not None
        return profile, existing is None

    async def leave(self, guild_id: int, user_id: int) -> bool:
        """Leave pairing, no-fault: the pair ends (the other hears neutrally and stays in the
        pool). Their avoid list stays, should they come back. False if they weren't in it."""
        async with self._changing_pairs():
            gone = await self._db.execute(
                "DELETE FROM buddy_profiles WHERE guild_id = ? AND user_id = ?",
                (guild_id, user_id),
            )
            pair = await self.current_pair(guild_id, user_id)
            if pair is not None:
                await self._end(pair, "left", leavers={user_id})
        return bool(gone) or pair is not None

    async def pause(
        self, guild_id: int, user_id: int, weeks: int, *, keep_buddy: bool = True
    ) -> datetime:
        """Skip runs for `weeks` (1–12). The current pair is kept unless they choose."""
        if not PAUSE_WEEKS[0] <= weeks <= PAUSE_WEEKS[1]:
            raise BadInput(f"A pause can be 1 to 12 weeks, not `{weeks}`.")
        profile = await self._require_profile(guild_id, user_id)
        until = self._clock() + timedelta(weeks=weeks)
        await self._db.execute(
            "UPDATE buddy_profiles SET paused_until = ?, updated_at = ?"
            " WHERE guild_id = ? AND user_id = ?",
            (to_db(until), to_db(self._clock()), guild_id, user_id),
        )
        if not keep_buddy:
            async with self._changing_pairs():
                pair = await self.current_pair(guild_id, user_id)
                if pair is not None:
                    await self._end(pair, "paused", leavers={user_id})
        del profile
        return until

    async def resume(self, guild_id: int, user_id: int) -> bool:
        profile = await self._require_profile(guild_id, user_id)
        if not profile.paused_at(self._clock()):
            return False
        await self._db.execute(
            "UPDATE buddy_profiles SET paused_until = NULL, quiet_checks = 0, updated_at = ?"
            " WHERE guild_id = ? AND user_id = ?",
            (to_db(self._clock()), guild_id, user_id),
        )
        return True

    async def rematch(self, guild_id: int, user_id: int) -> Rematch:
        """A no-fault new buddy: now, if someone else is waiting for one; else at the next
        run (the current pair goes on until then)."""
        profile = await self._require_profile(guild_id, user_id)
        async with self._changing_pairs():
            pair = await self.current_pair(guild_id, user_id)
            if pair is None:
                raise BadInput(
                    "You don't have a buddy right now, so there's nothing to rematch — you're "
                    "in the pool, and the next run will pair you. `/buddy status` shows when."
                )
            waiting = await self._waiting(guild_id, exclude=set(pair.members))
            forbidden = await self._forbidden(guild_id, [user_id, *waiting])
            recent = await self._recent(guild_id)
            pool = [user_id, *[w for w in waiting if frozenset((user_id, w)) not in forbidden]]
            if len(pool) >= 2:
                candidates = [await self._candidate(guild_id, u) for u in pool]
                result = await asyncio.to_thread(
                    match, candidates, forbidden=forbidden, recent=recent, seed=pair.id
                )
                group = next((g for g in result.groups if user_id in g), None)
                if group is not None:
                    await self._end(pair, "rematch", leavers={user_id})
                    await self._start(guild_id, group, run_key=f"rematch:{pair.id}")
                    return "now"
            await self._db.execute(
                "UPDATE buddy_profiles SET wants_change = 1, updated_at = ?"
                " WHERE guild_id = ? AND user_id = ?",
                (to_db(self._clock()), guild_id, user_id),
            )
        del profile
        return "next-run"

    async def avoid(self, guild_id: int, user_id: int, other_id: int) -> bool:
        """Never pair them with `other_id`. Private: nobody is told. False if already so."""
        if other_id == user_id:
            raise BadInput("You can't avoid yourself — you're very welcome here. 🤍")
        added = await self._db.execute(
            "INSERT INTO buddy_avoids (guild_id, user_id, avoided, created_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (guild_id, user_id, self._code(guild_id, other_id), to_db(self._clock())),
        )
        return bool(added)

    async def unavoid(self, guild_id: int, user_id: int, other_id: int) -> bool:
        return bool(
            await self._db.execute(
                "DELETE FROM buddy_avoids WHERE guild_id = ? AND user_id = ? AND avoided = ?",
                (guild_id, user_id, self._code(guild_id, other_id)),
            )
        )

    # --- moderators ------------------------------------------------------------------------

    async def set_cadence(
        self, guild_id: int, every_weeks: int, weekday: str, at: str
    ) -> datetime | None:
        """Pairing every N weeks (1–8) at a weekday and time in the server's zone; returns
        when the next run is."""
        every_weeks_for(every_weeks, BUDDY_CADENCES)
        day = _weekday(weekday)
        wall = parse_time(at)
        zone = (await self._guilds.get(guild_id)).zone
        now = self._clock()
        first = next(weekly_occurrences("first", now, day, wall, zone, 1, local_date(now, zone)))
        anchor = local_date(first.due, zone)
        await self._db.execute(
            "INSERT INTO buddy_cadence (guild_id, every_weeks, weekday, at_time, anchor,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (guild_id) DO UPDATE SET"
            " every_weeks = excluded.every_weeks, weekday = excluded.weekday,"
            " at_time = excluded.at_time, anchor = excluded.anchor,"
            " updated_at = excluded.updated_at",
            (guild_id, every_weeks, day, format_hhmm(wall), anchor.isoformat(), to_db(now)),
        )
        cadence = await self.cadence(guild_id)
        assert cadence is not None
        return await self.replan(cadence)

    async def separate(self, guild_id: int, first: int, second: int) -> bool:
        """A moderator's never-pair. False if it was already so."""
        if first == second:
            raise BadInput("Those are the same member — choose two different people.")
        codes = sorted((self._code(guild_id, first), self._code(guild_id, second)))
        added = await self._db.execute(
            "INSERT INTO buddy_separations (guild_id, first, second, created_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (guild_id, codes[0], codes[1], to_db(self._clock())),
        )
        if added:
            # A current pair of the two ends now, neutrally.
            async with self._changing_pairs():
                pair = await self.current_pair(guild_id, first)
                if pair is not None and second in pair.members:
                    await self._end(pair, "separated")
        return bool(added)

    # --- the run ---------------------------------------------------------------------------

    async def run(self, guild_id: int, *, key: str) -> RunReport:
        """One pairing run (see the module docstring). Safe to repeat for the same `key` (a
        crash mid-run): the pairs it made already stand, their members are not paired again,
        and each is introduced where that had not happened yet (every intro goes once)."""
        async with self._changing_pairs():
            # Who is still here, asked first: someone found gone is taken out of pairing
            # (Members.left → `leave`, their buddy told) before anything is decided. Someone
            # Discord can't answer for just now is not matched, and their pair goes on.
            here = {
                user_id
                for user_id in await self._pool(guild_id)
                if await self._sender.still_member(guild_id, user_id)
            }
            now = self._clock()
            profiles = {p.user_id: p for p in await self._profiles(guild_id)}
            made = await self._made_by(guild_id, key)
            continued = ended = 0
            for pair in await self.pairs(guild_id):
                if pair.id in made:
                    continue
                reasons = {u: self._ends(profiles.get(u), now) for u in pair.members}
                why = [r for r in reasons.values() if r is not None]
                if not why:
                    continued += 1
                    continue
                ended += 1
                await self._end(
                    pair,
                    min(why, key=ENDINGS.index),  # a change asked for is remembered as such
                    leavers={u for u, r in reasons.items() if r is not None},
                    quiet={u for u, r in reasons.items() if r == "quiet"},
                )
            paired = {u for pair in await self.pairs(guild_id) for u in pair.members}
            ids = sorted(
                p.user_id
                for p in profiles.values()
                if p.user_id not in paired
                and p.user_id in here
                and not p.paused_at(now)
                and p.quiet_checks < QUIET_LIMIT
            )
            forbidden = await self._forbidden(guild_id, ids)
            recent = await self._recent(guild_id)
            candidates = [await self._candidate(guild_id, u) for u in ids]
            seed = int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big")
            result: Matching = await asyncio.to_thread(
                match, candidates, forbidden=forbidden, recent=recent, seed=seed
            )
            for pair in made.values():
                await self._introduce(pair)  # what an interrupted run had not sent yet
            for group in result.groups:
                await self._start(guild_id, group, run_key=key)
            await self._db.execute(
                "UPDATE buddy_profiles SET wants_change = 0 WHERE guild_id = ?"
                " AND wants_change = 1",
                (guild_id,),
            )
            unmatched = tuple(u.user_id for u in result.unmatched)
        for user_id in unmatched:
            # The same words whatever the reason: "everyone you could be paired with avoids
            # you" must never be readable from it.
            await self._tell(
                guild_id,
                user_id,
                f"{NEWS}:unmatched:{key}:{user_id}",
                Card(
                    "I couldn't find a buddy for you in this run — the pool was small, or "
                    "everyone available was already paired. It's nothing you did. You stay in "
                    "the pool, and the next run will try again; `/buddy status` shows when.",
                    title="No buddy this time",
                    colour=Palette.GENTLE,
                ),
            )
        cadence = await self.cadence(guild_id)
        if cadence is not None:
            halfway = self._clock() + timedelta(weeks=cadence.every_weeks) / 2
            await self._scheduler.schedule(
                CHECKBACK,
                f"{CHECKBACK}:{guild_id}:{key}",
                halfway,
                deadline=halfway + timedelta(days=2),
                guild_id=guild_id,
                payload={"round": key},
            )
        new_groups = tuple(pair.members for pair in made.values()) + result.groups
        return RunReport(continued, ended, new_groups, unmatched)

    def _ends(self, profile: Profile | None, now: datetime) -> str | None:
        """Why a member's pair should end at a run (one of `ENDINGS`), or None when it
        continues."""
        if profile is None:
            return "left"
        if profile.wants_change:
            return "rematch"
        if profile.quiet_checks >= QUIET_LIMIT:
            return "quiet"
        return None

    async def _pool(self, guild_id: int) -> list[int]:
        """Everyone in pairing here: opted in, or in a current pair."""
        rows = await self._db.fetchall(
            "SELECT user_id FROM buddy_profiles WHERE guild_id = ? UNION"
            " SELECT m.user_id FROM buddy_members m JOIN buddy_pairs p ON p.id = m.pair_id"
            " WHERE p.guild_id = ? AND p.ended_at IS NULL ORDER BY 1",
            (guild_id, guild_id),
        )
        return [r["user_id"] for r in rows]

    async def _made_by(self, guild_id: int, run_key: str) -> dict[int, Pair]:
        """The current pairs a run (by its key) made: some, if it was interrupted."""
        rows = await self._db.fetchall(
            "SELECT id FROM buddy_pairs WHERE guild_id = ? AND run_key = ? AND ended_at IS NULL"
            " ORDER BY id",
            (guild_id, run_key),
        )
        return {p.id: p for r in rows if (p := await self._pair(r["id"])) is not None}

    async def _start(self, guild_id: int, group: Iterable[int], *, run_key: str) -> Pair:
        """Record a new pair (or trio), with the run that made it, and introduce them."""
        members = tuple(sorted(group))
        pair_id = await self.pair(guild_id, list(members), to_db(self._clock()), run_key=run_key)
        pair = await self._pair(pair_id)
        assert pair is not None
        await self._introduce(pair)
        return pair

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
        ended = await self._db.execute(
            "UPDATE buddy_pairs SET ended_at = ?, end_reason = ? WHERE id = ? AND ended_at IS NULL",
            (to_db(self._clock()), reason, pair.id),
        )
        if not ended:
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
                        "about anything you did. You stay in the pool: the next run will pair "
                        "you again, and `/buddy status` shows when.",
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

    # --- intros ----------------------------------------------------------------------------

    async def _introduce(self, pair: Pair) -> None:
        """A private thread in the buddy channel with everyone added and a warm intro; else a
        DM to each with the other's mention."""
        profiles = {u: await self.profile(pair.guild_id, u) for u in pair.members}
        cards = self._intro_cards(pair, profiles)
        channel = (await self._guilds.get(pair.guild_id)).buddy_channel_id
        thread_id = None
        if channel is not None:
            thread_id = await self._sender.open_thread(
                f"buddy-thread:{pair.id}",
                channel,
                # Unique: a creation interrupted before it was written down is found again
                # by its name, and must never be another pair's thread.
                f"Your buddy space 🌱 {pair.id}",
                invite=pair.members,
                guild_id=pair.guild_id,
            )
        if thread_id is not None:
            await self._db.execute(
                "UPDATE buddy_pairs SET thread_id = ? WHERE id = ?", (thread_id, pair.id)
            )
            mentions = " ".join(f"<@{u}>" for u in pair.members)
            outcome = await self._sender.to_channel(
                f"buddy-intro:{pair.id}",
                thread_id,
                Outgoing(content=mentions, cards=cards, ping_users=pair.members),
                guild_id=pair.guild_id,
            )
            if outcome.ok:
                return
        for user_id in pair.members:
            others = " and ".join(f"<@{u}>" for u in pair.members if u != user_id)
            await self._tell(
                pair.guild_id,
                user_id,
                f"buddy-intro:{pair.id}:{user_id}",
                Card(
                    f"Your new buddy is {others}. You're welcome to send them a message "
                    "whenever feels right — a hello is plenty.",
                    title="Meet your buddy 🌱",
                    colour=Palette.CALM,
                ),
                *cards,
            )

    def _intro_cards(self, pair: Pair, profiles: dict[int, Profile | None]) -> tuple[Card, ...]:
        fields = []
        for user_id in pair.members:
            profile = profiles.get(user_id)
            bits = []
            if profile is not None and profile.pronouns:
                bits.append(plain(profile.pronouns))
            bits.append(f"prefers {STYLE_WORDS[profile.style if profile else 'either']}")
            intro = plain(profile.intro) if profile is not None and profile.intro else ""
            value = f"<@{user_id}> · " + " · ".join(bits) + (f"\n{intro}" if intro else "")
            fields.append(Field("\u200b", value))
        starters = self._entries(STARTERS_FILE) or ["What's something small that helped lately?"]
        starter = starters[pair.id % len(starters)]
        about = self._text(ABOUT_FILE) or (
            "A buddy is a peer who checks in, listens and is glad to hear from you — not a "
            "therapist or a crisis line. If things feel heavy, `/support` is there any time."
        )
        return (
            Card(
                "You've been paired as buddies. Here's a little about each of you:",
                title="Meet your buddy 🌱",
                colour=Palette.CALM,
                fields=tuple(fields),
            ),
            Card(starter, title="A conversation starter, if you'd like one", colour=Palette.CALM),
            Card(about, title="What a buddy is (and isn't)", colour=Palette.SUPPORT),
        )

    def _entries(self, name: str) -> list[str]:
        try:
            return self._texts.entries(name)
        except OSError:
            return []

    def _text(self, name: str) -> str:
        try:
            return self._texts.text(name)
        except OSError:
            return ""

    # --- check-backs -----------------------------------------------------------------------

    async def _checkback_due(self, job: Job) -> str:
        """Halfway through the cycle: each member of each current pair is asked, privately.

        Before asking, their unanswered rounds are counted (`_count_quiet`); `QUIET_LIMIT`
        in a row and they are gently asked whether to stay. A question that could not reach
        them (resting from DMs, check-backs stopped, DMs closed) is not kept, so it never
        counts against them; a round run again (a restart) asks nobody twice.
        """
        assert job.guild_id is not None
        guild_id, round_key = job.guild_id, str(job.payload["round"])
        asked = quiet = 0
        for pair in await self.pairs(guild_id):
            for user_id in pair.members:
                await self._count_quiet(guild_id, user_id, round_key)
                already = await self._db.fetchval(
                    "SELECT id FROM buddy_checkbacks WHERE pair_id = ? AND user_id = ?"
                    " AND round = ?",
                    (pair.id, user_id, round_key),
                )
                checkback_id = already or await self._db.fetchval(
                    "INSERT INTO buddy_checkbacks (pair_id, guild_id, user_id, round, asked_at)"
                    " VALUES (?, ?, ?, ?, ?) RETURNING id",
                    (pair.id, guild_id, user_id, round_key, to_db(self._clock())),
                )
                buttons = tuple(
                    Button(
                        self._routes.custom_id(
                            CHECK, user_id, guild=guild_id, checkback=int(checkback_id), answer=a
                        ),
                        label,
                        "primary" if a == "connected" else "secondary",
                    )
                    for a, label in ANSWERS.items()
                )
                outcome = await self._sender.to_member(
                    f"{CHECKBACK}:{checkback_id}",
                    user_id,
                    Outgoing(
                        cards=(
                            Card(
                                "Halfway through this cycle — how is it going with your buddy? "
                                "Your answer is private: nobody else sees it.",
                                title="A quiet check-back",
                                colour=Palette.CALM,
                            ),
                        ),
                        buttons=buttons,
                    ),
                    guild_id=guild_id,
                    kind=CHECKBACK,
                )
                if not outcome.ok:
                    await self._db.execute(
                        "DELETE FROM buddy_checkbacks WHERE id = ? AND answer IS NULL",
                        (checkback_id,),
                    )
                    continue
                asked += 1
                profile = await self.profile(guild_id, user_id)
                if profile is not None and profile.quiet_checks >= QUIET_LIMIT:
                    quiet += 1
                    await self._ask_to_stay(guild_id, user_id, round_key)
        return f"asked {asked}; {quiet} gently asked whether to stay"

    async def _count_quiet(self, guild_id: int, user_id: int, round_key: str) -> None:
        """Their `quiet_checks`: the check-backs before this round that reached them and went
        unanswered, in a row, since they last did anything in pairing (answered any of them,
        joined again, paused, chose to stay…). Counted afresh each round, so a round run
        again counts nothing twice, and a round that never reached them neither counts nor
        breaks the run of them. Left as it is while they pause."""
        profile = await self.profile(guild_id, user_id)
        if profile is None or profile.paused_at(self._clock()):
            return
        # Their last sign of life: a change to their profile, or any answer (even late).
        since = from_db(
            await self._db.fetchval(
                "SELECT max(updated_at, coalesce((SELECT max(answered_at) FROM buddy_checkbacks"
                " WHERE guild_id = ?1 AND user_id = ?2), '')) FROM buddy_profiles"
                " WHERE guild_id = ?1 AND user_id = ?2",
                (guild_id, user_id),
            )
        )
        rows = await self._db.fetchall(
            "SELECT answer, asked_at FROM buddy_checkbacks WHERE guild_id = ? AND user_id = ?"
            " AND round != ? ORDER BY id DESC LIMIT ?",
            (guild_id, user_id, round_key, QUIET_LIMIT),
        )
        quiet = 0
        for row in rows:
            if row["answer"] is not None or from_db(row["asked_at"]) < since:
                break
            quiet += 1
        await self._db.execute(
            "UPDATE buddy_profiles SET quiet_checks = ? WHERE guild_id = ? AND user_id = ?",
            (quiet, guild_id, user_id),
        )

    async def _ask_to_stay(self, guild_id: int, user_id: int, round_key: str) -> None:
        buttons = tuple(
            Button(
                self._routes.custom_id(STAY, user_id, guild=guild_id, choice=choice),
                label,
                "primary" if choice == "stay" else "secondary",
            )
            for choice, label in STAY_CHOICES.items()
        )
        await self._sender.to_member(
            f"{NEWS}:stay:{round_key}:{user_id}",
            user_id,
            Outgoing(
                cards=(
                    Card(
                        "It's been a little while since we heard from you about your buddy, "
                        "and that's completely okay — life gets full. Would you like to stay "
                        "in buddy pairing, pause for a while, or step out for now? Whatever "
                        "you choose is private and fine.",
                        title="Would you like to stay in pairing?",
                        colour=Palette.GENTLE,
                    ),
                ),
                buttons=buttons,
            ),
            guild_id=guild_id,
            kind=NEWS,
        )

    async def answer(self, guild_id: int, user_id: int, checkback_id: int, answer: str) -> str:
        """A member's private check-back answer. "It's not a fit" is a no-fault rematch.
        Returns what happened: "noted", "rematch-now", "rematch-next-run" or "gone"."""
        if answer not in ANSWERS:
            raise BadInput("That answer isn't one I know.")
        row = await self._db.fetchone(
            "SELECT c.pair_id, p.ended_at FROM buddy_checkbacks c JOIN buddy_pairs p"
            " ON p.id = c.pair_id WHERE c.id = ? AND c.guild_id = ? AND c.user_id = ?",
            (checkback_id, guild_id, user_id),
        )
        if row is None:
            return "gone"
        await self._db.execute(
            "UPDATE buddy_checkbacks SET answer = ?, answered_at = ? WHERE id = ?",
            (answer, to_db(self._clock()), checkback_id),
        )
        await self._db.execute(
            "UPDATE buddy_profiles SET quiet_checks = 0 WHERE guild_id = ? AND user_id = ?",
            (guild_id, user_id),
        )
        if row["ended_at"] is not None:
            return "gone"  # answered all the same: it counts as being here
        if answer != "not-a-fit":
            return "noted"
        return f"rematch-{await self.rematch(guild_id, user_id)}"

    async def stay(self, guild_id: int, user_id: int, choice: str) -> str:
        """The answer to "would you like to stay?": stay, pause (4 weeks) or leave."""
        if choice == "stay":
            await self._require_profile(guild_id, user_id)
            await self._db.execute(
                "UPDATE buddy_profiles SET quiet_checks = 0, updated_at = ?"
                " WHERE guild_id = ? AND user_id = ?",
                (to_db(self._clock()), guild_id, user_id),
            )
        elif choice == "pause":
            await self.pause(guild_id, user_id, 4)
            await self._db.execute(
                "UPDATE buddy_profiles SET quiet_checks = 0 WHERE guild_id = ? AND user_id = ?",
                (guild_id, user_id),
            )
        elif choice == "leave":
            await self.leave(guild_id, user_id)
        else:
            raise BadInput("That choice isn't one I know.")
        return choice

    # --- the recurring run -----------------------------------------------------------------

    async def rule_for(self, job: Job) -> Cadence | None:
        assert job.guild_id is not None
        return await self.cadence(job.guild_id)

    async def all_rules(self) -> list[Cadence]:
        return [_cadence(r) for r in await self._db.fetchall("SELECT * FROM buddy_cadence")]

    async def occurrences(self, rule: Cadence, after: datetime) -> Iterable[Occurrence]:
        zone = (await self._guilds.get(rule.guild_id)).zone
        return weekly_occurrences(
            f"{RUN}:{rule.guild_id}",
            after,
            rule.weekday,
            rule.at,
            zone,
            rule.every_weeks,
            rule.anchor,
            cadences=BUDDY_CADENCES,
        )

    async def plan(self, rule: Cadence, after: datetime) -> datetime | None:
        """The next run, and its heads-up 24 hours before (when that is still ahead)."""
        due = await super().plan(rule, after)
        if due is not None and due - HEADS_UP_BEFORE > self._clock():
            await self._scheduler.schedule(
                HEADS_UP,
                f"{HEADS_UP}:{rule.guild_id}:{to_db(due)}",
                due - HEADS_UP_BEFORE,
                deadline=due - timedelta(hours=1),
                guild_id=rule.guild_id,
                payload={"run": to_db(due)},
            )
        return due

    async def cancel(self, rule: Cadence) -> int:
        cancelled = await super().cancel(rule)
        return cancelled + await self._scheduler.cancel(kind=HEADS_UP, guild_id=rule.guild_id)

    async def when_due(self, rule: Cadence, job: Job) -> str:
        report = await self.run(rule.guild_id, key=job.key)
        return (
            f"{report.continued} continued, {report.ended} ended, "
            f"{len(report.new_groups)} new, {len(report.unmatched)} unmatched"
        )

    async def _heads_up_due(self, job: Job) -> str:
        assert job.guild_id is not None
        guild_id = job.guild_id
        run_at = from_db(str(job.payload["run"]))
        sent = 0
        for profile in await self._profiles(guild_id):
            if profile.paused_at(run_at) or profile.quiet_checks >= QUIET_LIMIT:
                continue
            outcome = await self._sender.to_member(
                f"{job.key}:{profile.user_id}",
                profile.user_id,
                Outgoing(
                    cards=(
                        Card(
                            f"Buddy pairing runs tomorrow, {discord_timestamp(run_at, 'F')}. "
                            "If you already have a buddy, you'll simply carry on together. If "
                            "now isn't a good time, `/buddy pause` skips this one — no "
                            "explanation needed.",
                            title="Pairing tomorrow",
                            colour=Palette.CALM,
                        ),
                    )
                ),
                guild_id=guild_id,
                kind=HEADS_UP,
            )
            sent += outcome.ok
        return f"heads-up to {sent}"

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

    async def _waiting(self, guild_id: int, *, exclude: set[int]) -> list[int]:
        """Members in the pool without a buddy who could be paired right now."""
        now = self._clock()
        paired = {u for pair in await self.pairs(guild_id) for u in pair.members}
        out = []
        for profile in await self._profiles(guild_id):
            if (
                profile.user_id in paired
                or profile.user_id in exclude
                or profile.paused_at(now)
                or profile.quiet_checks >= QUIET_LIMIT
            ):
                continue
            if await self._sender.still_member(guild_id, profile.user_id):
                out.append(profile.user_id)
        return out

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

    async def _member_left(self, guild_id: int, user_id: int) -> None:
        """Left the server: out of pairing, the buddy told."""
        await self.leave(guild_id, user_id)

    async def _forgotten(self, guild_id: int, user_id: int) -> None:
        """Asked to be forgotten: out of pairing like leaving, and the intros that named them
        (with their intro and pronouns) taken down — in the pair's thread, and the DMs to
        each member. Their rows go with the rest of their data."""
        rows = await self._db.fetchall(
            "SELECT p.id FROM buddy_pairs p JOIN buddy_members m ON m.pair_id = p.id"
            " WHERE p.guild_id = ? AND m.user_id = ?",
            (guild_id, user_id),
        )
        intros = []
        for row in rows:
            pair = await self._pair(row["id"])
            if pair is not None:
                intros.append(f"buddy-intro:{pair.id}")
                intros += [f"buddy-intro:{pair.id}:{u}" for u in pair.members]
        await self.leave(guild_id, user_id)
        for key in intros:
            where = await self._sender.posted(key)
            if where is not None:
                await self._sender.take_down(*where)


def _cadence(row: Row) -> Cadence:
    return Cadence(
        row["guild_id"],
        row["every_weeks"],
        row["weekday"],
        parse_hhmm(row["at_time"]),
        date.fromisoformat(row["anchor"]),
    )


def _weekday(raw: str) -> int:
    word = raw.strip().lower()
    for i, name in enumerate(WEEKDAYS):
        if word in (name, name[:3]):
            return i
    raise BadInput(f"I couldn't read `{raw[:20]}` as a weekday — try `monday`.")


def _short(raw: str | None, limit: int, what: str) -> str | None:
    if raw is None:
        return None
    text = " ".join(clean_text(raw).split()) if what == "Pronouns" else clean_text(raw)
    if len(text) > limit:
        raise BadInput(f"{what} can be up to {limit} characters; this one is {len(text)}.")
    return text or None
