"""Every DM Haven sends carries a way to stop that kind of DM — even from outside the server.

Each feature that DMs declares its *kind* here once (`declare`), with the label of the stop
button and what stopping means: reminders simply switch off; other kinds are remembered in
`dm_stops` and the delivery gate (`bot/delivery/dms.py`) holds them back. The button is added by
delivery to every DM, so no feature can forget it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.db import Database
from bot.features import Features
from bot.routes import Route
from bot.timeutil import Clock, to_db, utcnow

STOP = Route("dm:stop", fields=(("guild", "id"), ("kind", "word")), who="anyone", signed=True)
RESUME = Route("dm:resume", fields=(("guild", "id"), ("kind", "word")), signed=True)

StopAction = Callable[[int, int], Awaitable[object]]
"""(guild_id, user_id): what stopping does, when it is more than remembering the choice."""


@dataclass(frozen=True)
class DmKind:
    name: str
    stop_label: str  # the button, e.g. "Stop these reminders"
    stopped: str  # the reply once stopped, saying how to start again
    on_stop: StopAction | None = None


class DmStops:
    def __init__(self, db: Database, *, clock: Clock = utcnow) -> None:
        self._db = db
        self._clock = clock
        self._kinds: dict[str, DmKind] = {}

    def contribute(self, features: Features) -> None:
        features.data("dm_stops", "Kinds of DM you asked Haven to stop sending you.")
        features.privacy(
            "keep", "• **Kinds of DM you stopped** with a DM's button, until you start them again."
        )

    def declare(self, kind: DmKind) -> None:
        if kind.name in self._kinds:
            raise ValueError(f"the DM kind {kind.name!r} is declared twice")
        self._kinds[kind.name] = kind

    def kind(self, name: str) -> DmKind:
        if name not in self._kinds:
            raise LookupError(f"undeclared DM kind {name!r}: declare it in the feature's service")
        return self._kinds[name]

    async def stopped(self, guild_id: int, user_id: int, kind: str) -> bool:
        found = await self._db.fetchval(
            "SELECT 1 FROM dm_stops WHERE guild_id = ? AND user_id = ? AND kind = ?",
            (guild_id, user_id, kind),
        )
        return found is not None

    async def stop(self, guild_id: int, user_id: int, kind: str) -> str:
        """Stop a kind of DM for the member; returns the words to tell them."""
        declared = self.kind(kind)
        if declared.on_stop is not None:
            await declared.on_stop(guild_id, user_id)
        else:
            await self._db.execute(
                "INSERT INTO dm_stops (guild_id, user_id, kind, stopped_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (guild_id, user_id, kind) DO NOTHING",
                (guild_id, user_id, kind, to_db(self._clock())),
            )
        return declared.stopped

    async def resume(self, guild_id: int, user_id: int, kind: str) -> None:
        self.kind(kind)
        await self._db.execute(
            "DELETE FROM dm_stops WHERE guild_id = ? AND user_id = ? AND kind = ?",
            (guild_id, user_id, kind),
        )

    def can_resume(self, kind: str) -> bool:
        """Kinds stopped by a remembered choice can be started again with a button."""
        return self.kind(kind).on_stop is None
