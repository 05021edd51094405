"""`/haven status`: what a moderator needs to see that Haven is healthy in their server."""

from __future__ import annotations

from dataclasses import dataclass

from bot.db import Database
from bot.guilds import GuildConfig, Guilds
from bot.scheduler import Job, Scheduler


@dataclass(frozen=True)
class StatusReport:
    config: GuildConfig
    next_runs: list[Job]
    counts: list[tuple[str, int]]


class Status:
    def __init__(self, db: Database, guilds: Guilds, scheduler: Scheduler) -> None:
        self._db = db
        self._guilds = guilds
        self._scheduler = scheduler
        # label → a COUNT query with one `?` for the guild id; features add their own.
        self._counts: dict[str, str] = {
            "members with a Haven profile": (
                "SELECT count(*) FROM member_profile WHERE guild_id = ?"
            ),
        }

    def add_count(self, label: str, sql: str) -> None:
        self._counts[label] = sql

    async def report(self, guild_id: int) -> StatusReport:
        counts = [
            (label, int(await self._db.fetchval(sql, (guild_id,))))
            for label, sql in self._counts.items()
        ]
        return StatusReport(
            config=await self._guilds.get(guild_id),
            next_runs=await self._scheduler.pending(guild_id=guild_id, limit=5),
            counts=counts,
        )
