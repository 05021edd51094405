"""Things to tell a member privately the next time they use any Haven command.

For news that has no better way to reach them — typically, that their DMs are closed and a
DM feature switched itself off. A set of who has notices is kept in memory, so the check after
every command costs nothing for everyone else.
"""

from __future__ import annotations

from bot.db import Database
from bot.features import Features
from bot.timeutil import Clock, to_db, utcnow


class Notices:
    def __init__(self, db: Database, *, clock: Clock = utcnow) -> None:
        self._db = db
        self._clock = clock
        self._waiting: set[tuple[int, int]] = set()

    def contribute(self, features: Features) -> None:
        features.data("member_notices", "Messages waiting to be shown to you.")
        features.on_start(self.load)

    async def load(self) -> None:
        rows = await self._db.fetchall("SELECT DISTINCT guild_id, user_id FROM member_notices")
        self._waiting = {(r["guild_id"], r["user_id"]) for r in rows}

    async def add(self, guild_id: int, user_id: int, text: str) -> None:
        await self._db.execute(
            "INSERT INTO member_notices (guild_id, user_id, text, created_at) VALUES (?, ?, ?, ?)",
            (guild_id, user_id, text, to_db(self._clock())),
        )
        self._waiting.add((guild_id, user_id))

    def waiting(self, guild_id: int, user_id: int) -> bool:
        return (guild_id, user_id) in self._waiting

    async def take(self, guild_id: int, user_id: int) -> list[str]:
        """Remove and return the member's notices, oldest first."""
        if not self.waiting(guild_id, user_id):
            return []
        async with self._db.transaction() as tx:
            rows = await tx.fetchall(
                "DELETE FROM member_notices WHERE guild_id = ? AND user_id = ? RETURNING id, text",
                (guild_id, user_id),
            )
        self._waiting.discard((guild_id, user_id))
        return [r["text"] for r in sorted(rows, key=lambda r: r["id"])]

    def forget(self, guild_id: int, user_id: int) -> None:
        self._waiting.discard((guild_id, user_id))
