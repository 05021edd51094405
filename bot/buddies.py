"""Who a member's buddy is right now — the part of the buddies pillar that check-ins need.

Pairing, consent, rematching and leaving belong to the buddies feature, which will write these
tables; until a server runs pairing, nobody has a buddy and check-ins say so kindly.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.db import Database
from bot.features import Features


@dataclass(frozen=True)
class Buddy:
    user_id: int
    thread_id: int | None  # the pair's private thread, if they have one


class Buddies:
    def __init__(self, db: Database) -> None:
        self._db = db

    def contribute(self, features: Features) -> None:
        features.data(
            "buddy_members",
            "Your buddy pairings in this server.",
            where="user_id = :user AND pair_id IN "
            "(SELECT id FROM buddy_pairs WHERE guild_id = :guild)",
        )

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

    async def pair(
        self, guild_id: int, user_ids: list[int], started_at: str, thread_id: int | None = None
    ) -> int:
        """Record a pair (or trio). Used by tests and, later, by the pairing run."""
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO buddy_pairs (guild_id, thread_id, started_at) VALUES (?, ?, ?)",
                (guild_id, thread_id, started_at),
            )
            pair_id = int(await tx.fetchval("SELECT last_insert_rowid()"))
            await tx.executemany(
                "INSERT INTO buddy_members (pair_id, user_id) VALUES (?, ?)",
                [(pair_id, u) for u in user_ids],
            )
        return pair_id
