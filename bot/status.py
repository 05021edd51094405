"""`/haven status`: what a moderator needs to see that Haven is healthy in their server."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bot.channel_care import ChannelCare
from bot.db import Database
from bot.features import Features
from bot.guilds import GuildConfig, Guilds
from bot.scheduler import Job, Scheduler
from bot.timeutil import Clock, to_db, utcnow


@dataclass(frozen=True)
class StatusReport:
    """Server-wide only: moderators see how Haven is used, never one member's settings."""

    config: GuildConfig
    next_runs: list[Job]
    counts: list[tuple[str, int]]
    channels: list[tuple[int, str]]  # channels features were set up with: (id, what uses it)


class Status:
    def __init__(
        self,
        db: Database,
        guilds: Guilds,
        scheduler: Scheduler,
        features: Features,
        channel_care: ChannelCare,
        *,
        clock: Clock = utcnow,
    ) -> None:
        self._db = db
        self._clock = clock
        self._guilds = guilds
        self._scheduler = scheduler
        self._features = features
        self._channel_care = channel_care

    async def report(self, guild_id: int) -> StatusReport:
        now = self._clock()
        params = {"guild": guild_id, "now": to_db(now), "week_ago": to_db(now - timedelta(days=7))}
        counts = [
            (label, int(await self._db.fetchval(sql, params)))
            for label, sql in self._features.counts.items()
        ]
        return StatusReport(
            config=await self._guilds.get(guild_id),
            next_runs=await self._scheduler.pending(
                guild_id=guild_id, limit=5, with_global=True, server_wide=True
            ),
            counts=counts,
            channels=await self._channel_care.configured(guild_id, live_only=True),
        )
