"""Host tools for listening circles (skeleton; being built)."""

from __future__ import annotations

from bot.circles import Circles
from bot.db import Database
from bot.dm_stops import DmStops
from bot.features import Features
from bot.guilds import Guilds
from bot.outgoing import Sender
from bot.routes import Routes
from bot.scheduler import Scheduler
from bot.texts import Texts
from bot.timeutil import Clock, utcnow


class Hosting:
    def __init__(
        self,
        db: Database,
        circles: Circles,
        guilds: Guilds,
        scheduler: Scheduler,
        sender: Sender,
        routes: Routes,
        dm_stops: DmStops,
        texts: Texts,
        *,
        clock: Clock = utcnow,
    ) -> None:
        self._db = db
        self._circles = circles
        self._guilds = guilds
        self._scheduler = scheduler
        self._sender = sender
        self._routes = routes
        self._dm_stops = dm_stops
        self._texts = texts
        self._clock = clock

    def contribute(self, features: Features) -> None:
        pass
