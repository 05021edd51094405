"""Pairing runs on the server's cadence.

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
once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime, timedelta

from bot.buddies.intros import Intros
from bot.buddies.values import (
    CHECKBACK,
    ENDINGS,
    HEADS_UP,
    HEADS_UP_BEFORE,
    NEWS,
    QUIET_LIMIT,
    RUN,
    Cadence,
    Pair,
    Profile,
    RunReport,
    _cadence,
)
from bot.inputs import parse_time
from bot.messages import Card, Outgoing, Palette
from bot.recurrence import BUDDY_CADENCES, every_weeks_for, parse_weekday, weekly_occurrences
from bot.scheduler import Job, Occurrence
from bot.timeutil import discord_timestamp, format_hhmm, from_db, local_date, to_db


class Runs(Intros):
    # --- moderators ------------------------------------------------------------------------

    async def set_cadence(
        self, guild_id: int, every_weeks: int, weekday: str, at: str
    ) -> datetime | None:
        """Pairing every N weeks (1–8) at a weekday and time in the server's zone; returns
        when the next run is."""
        every_weeks_for(every_weeks, BUDDY_CADENCES)
        day = parse_weekday(weekday)
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

    async def ensure_all(self) -> None:
        """Every cadence is walked (one per server): `plan` also makes sure of the heads-up,
        which a crash between the two could have left out."""
        for rule in await self.all_rules():
            await self.plan(rule, await self.resume_from(rule))

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
                            f"Buddy pairing runs {discord_timestamp(run_at, 'F')} "
                            f"({discord_timestamp(run_at, 'R')}). "
                            "If you already have a buddy, you'll simply carry on together. If "
                            "now isn't a good time, `/buddy pause` skips this one — no "
                            "explanation needed.",
                            title="Buddy pairing soon",
                            colour=Palette.CALM,
                        ),
                    )
                ),
                guild_id=guild_id,
                kind=HEADS_UP,
            )
            sent += outcome.ok
        return f"heads-up to {sent}"

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
            seed = int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big")
            result = await self._match(guild_id, ids, forbidden=forbidden, recent=recent, seed=seed)
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
