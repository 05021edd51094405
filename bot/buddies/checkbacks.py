"""Check-backs halfway through each cycle, who went quiet, and the gentle "stay?"."""

from __future__ import annotations

from bot.buddies.pool import Pool
from bot.buddies.values import ANSWERS, CHECK, CHECKBACK, NEWS, QUIET_LIMIT, STAY, STAY_CHOICES
from bot.errors import BadInput
from bot.messages import Button, Card, Outgoing, Palette
from bot.scheduler import Job
from bot.timeutil import from_db, to_db


class CheckBacks(Pool):
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
        signs = await self._db.fetchone(
            "SELECT updated_at, (SELECT max(answered_at) FROM buddy_checkbacks"
            " WHERE guild_id = :guild AND user_id = :user) AS answered_at FROM buddy_profiles"
            " WHERE guild_id = :guild AND user_id = :user",
            {"guild": guild_id, "user": user_id},
        )
        assert signs is not None  # `profile` above found their row
        since = from_db(max(signs["updated_at"], signs["answered_at"] or ""))
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
