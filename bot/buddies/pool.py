"""The pool: joining, leaving, pausing, rematches, avoids, and a moderator's separations.

Leaving (`leave`, leaving the server, `/my forget`) ends the pair with a neutral notice to the
other, who stays in the pool; forgetting also takes down the intros that showed the member's
intro and pronouns. Avoids and separations name the avoided only by a keyed hash, so they are
never revealed — not even in the other member's `/my data`, nor after they are forgotten.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.buddies.intros import Intros
from bot.buddies.values import (
    INTRO_MAX,
    PAUSE_WEEKS,
    PRONOUNS_MAX,
    QUIET_LIMIT,
    STYLES,
    Profile,
    Rematch,
    _short,
)
from bot.errors import BadInput
from bot.timeutil import to_db


class Pool(Intros):
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
            "pronouns": _short(pronouns, PRONOUNS_MAX, "Pronouns", line=True),
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
                    "in the pool, and the next run will look for a buddy for you. `/buddy status` "
                    "shows when."
                )
            waiting = await self._waiting(guild_id, exclude=set(pair.members))
            forbidden = await self._forbidden(guild_id, [user_id, *waiting])
            recent = await self._recent(guild_id)
            pool = [user_id, *[w for w in waiting if frozenset((user_id, w)) not in forbidden]]
            if len(pool) >= 2:
                result = await self._match(
                    guild_id, pool, forbidden=forbidden, recent=recent, seed=pair.id
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

    # --- helpers ---------------------------------------------------------------------------

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

    # --- members who go --------------------------------------------------------------------

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
