"""A daily tidy-up: forget what Haven promised (in `/my privacy`) to keep only for a while.

It runs once per UTC day at 03:17 (an off-peak minute), through the outbox like any other
scheduled work, so a day missed while the bot was down is caught up on start-up.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, time, timedelta

from bot.db import Database
from bot.features import Features
from bot.scheduler import Job, Scheduler
from bot.timeutil import Clock, utcnow

log = logging.getLogger(__name__)

KIND = "maintenance"
RUN_AT = time(3, 17)


class Maintenance:
    """Runs every purge step the features declared (`Features.purge`), once a day."""

    def __init__(
        self, db: Database, scheduler: Scheduler, features: Features, *, clock: Clock = utcnow
    ) -> None:
        self._db = db
        self._scheduler = scheduler
        self._features = features
        self._clock = clock
        scheduler.register(KIND, self._run, on_missed=self._missed)

    def contribute(self, features: Features) -> None:
        features.job(KIND, "Daily privacy tidy-up")
        features.on_start(self.ensure_scheduled)

    async def ensure_scheduled(self) -> None:
        """Make sure the next run is in the outbox (idempotent: keyed by date)."""
        now = self._clock()
        due = datetime.combine(now.date(), RUN_AT, tzinfo=UTC)
        if due <= now:
            due += timedelta(days=1)
        await self._scheduler.schedule(
            KIND, f"{KIND}:{due.date().isoformat()}", due, deadline=due + timedelta(hours=20)
        )

    async def _missed(self, job: Job) -> None:
        await self.ensure_scheduled()

    async def _run(self, job: Job) -> str:
        removed = await self.run_now()
        await self.ensure_scheduled()
        log.info("daily maintenance removed %s", removed)
        return ", ".join(f"{name}: {n}" for name, n in removed.items())

    async def run_now(self) -> dict[str, int]:
        now = self._clock()
        removed = {name: await step(now) for name, step in self._features.purges.items()}
        if any(removed.values()):
            await self._db.checkpoint()  # deleted bytes leave the write-ahead log too
        return removed
