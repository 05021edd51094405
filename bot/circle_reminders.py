"""Circle reminders: at each lead time, a DM to everyone with a seat (skeleton; being built)."""

from __future__ import annotations

from bot.circles import REMINDER, Circles
from bot.dm_stops import DmStops
from bot.features import Features
from bot.outgoing import Sender
from bot.routes import Routes
from bot.scheduler import Job, Scheduler
from bot.timeutil import Clock, utcnow


class CircleReminders:
    def __init__(
        self,
        circles: Circles,
        scheduler: Scheduler,
        sender: Sender,
        routes: Routes,
        dm_stops: DmStops,
        *,
        clock: Clock = utcnow,
    ) -> None:
        self._circles = circles
        self._sender = sender
        self._routes = routes
        self._clock = clock
        scheduler.register(REMINDER, self._due)

    def contribute(self, features: Features) -> None:
        features.job(REMINDER, "Circle reminders")

    async def _due(self, job: Job) -> str:
        return "skipped: not built yet"
