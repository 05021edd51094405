"""A daily tidy-up: forget what Haven promised (in `/my privacy`) to keep only for a while.

It runs once per UTC day at 03:17 (an off-peak minute), through the outbox like any other
scheduled work, so a day missed while the bot was down is caught up on start-up.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, time, timedelta

from bot.db import Database
from bot.privacy import CLOSED_DM_DAYS, DELIVERY_RECORD_DAYS
from bot.scheduler import Job, Scheduler
from bot.timeutil import Clock, to_db, utcnow

log = logging.getLogger(__name__)

KIND = "maintenance"
RUN_AT = time(3, 17)
OUTBOX_HISTORY_DAYS = 30

Step = Callable[[datetime], Awaitable[int]]
"""One purge: given 'now', deletes what is due and returns how many rows went."""


class Maintenance:
    def __init__(self, db: Database, scheduler: Scheduler, *, clock: Clock = utcnow) -> None:
        self._db = db
        self._scheduler = scheduler
        self._clock = clock
        self._steps: dict[str, Step] = {
            "delivery records": self._purge_deliveries,
            "scheduler history": self._purge_outbox,
            "closed-DM notes": self._purge_closed_dms,
        }
        scheduler.register(KIND, self._run, on_missed=self._missed)

    def add_step(self, name: str, step: Step) -> None:
        self._steps[name] = step

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
        return {name: await step(now) for name, step in self._steps.items()}

    async def _purge_deliveries(self, now: datetime) -> int:
        cutoff = to_db(now - timedelta(days=DELIVERY_RECORD_DAYS))
        return await self._db.execute("DELETE FROM deliveries WHERE updated_at < ?", (cutoff,))

    async def _purge_outbox(self, now: datetime) -> int:
        cutoff = to_db(now - timedelta(days=OUTBOX_HISTORY_DAYS))
        return await self._db.execute(
            "DELETE FROM outbox WHERE state != 'pending' AND state != 'running'"
            " AND coalesce(finished_at, due_at) < ?",
            (cutoff,),
        )

    async def _purge_closed_dms(self, now: datetime) -> int:
        cutoff = to_db(now - timedelta(days=CLOSED_DM_DAYS))
        return await self._db.execute("DELETE FROM closed_dms WHERE closed_at < ?", (cutoff,))
