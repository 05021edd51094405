"""Server configuration: channels, host role, time zone, retention and support resources."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields, replace
from typing import Any
from zoneinfo import ZoneInfo

from bot.db import Database
from bot.errors import BadInput
from bot.inputs import clean_text, zone_name
from bot.retention import RETENTION_DEFAULT_DAYS, RETENTION_MAX_DAYS, RETENTION_MIN_DAYS
from bot.timeutil import Clock, to_db, utcnow

RESOURCES_MAX = 4000


@dataclass(frozen=True)
class GuildConfig:
    guild_id: int
    checkin_channel_id: int | None = None
    circle_channel_id: int | None = None
    buddy_channel_id: int | None = None
    mod_channel_id: int | None = None
    host_role_id: int | None = None
    timezone: str = "UTC"
    retention_days: int = RETENTION_DEFAULT_DAYS
    resources: str | None = None
    distress_phrases: str | None = None  # moderators' own words that show the support card

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


_COLUMNS = [f.name for f in fields(GuildConfig)]

ConfigListener = Callable[[int, frozenset[str]], Awaitable[object]]
"""Called with (guild_id, names of the settings that changed) after an update."""


class Guilds:
    def __init__(self, db: Database, *, clock: Clock = utcnow) -> None:
        self._db = db
        self._clock = clock
        self._cache: dict[int, GuildConfig] = {}
        self._listeners: list[ConfigListener] = []

    def on_change(self, listener: ConfigListener) -> None:
        self._listeners.append(listener)

    async def get(self, guild_id: int) -> GuildConfig:
        cached = self._cache.get(guild_id)
        if cached is not None:
            return cached
        row = await self._db.fetchone(
            f"SELECT {', '.join(_COLUMNS)} FROM guild_config WHERE guild_id = ?", (guild_id,)
        )
        config = GuildConfig(**dict(row)) if row else GuildConfig(guild_id)
        self._cache[guild_id] = config
        return config

    async def update(self, guild_id: int, **changes: Any) -> GuildConfig:
        """Apply validated changes (only the keys given) and return the new configuration."""
        if "timezone" in changes:
            changes["timezone"] = zone_name(changes["timezone"])
        if "retention_days" in changes:
            days = changes["retention_days"]
            if not RETENTION_MIN_DAYS <= days <= RETENTION_MAX_DAYS:
                raise BadInput(
                    f"Retention can be {RETENTION_MIN_DAYS} to {RETENTION_MAX_DAYS} days; "
                    f"`{days}` is outside that."
                )
        if "resources" in changes and changes["resources"] is not None:
            text = clean_text(changes["resources"])
            if len(text) > RESOURCES_MAX:
                raise BadInput(
                    f"The resources text can be up to {RESOURCES_MAX} characters; "
                    f"this one is {len(text)}."
                )
            changes["resources"] = text or None
        before = await self.get(guild_id)
        config = replace(before, **changes)
        values = [getattr(config, c) for c in _COLUMNS]
        await self._db.execute(
            f"INSERT INTO guild_config ({', '.join(_COLUMNS)}, updated_at)"
            f" VALUES ({', '.join('?' * len(_COLUMNS))}, ?)"
            " ON CONFLICT (guild_id) DO UPDATE SET "
            + ", ".join(f"{c} = excluded.{c}" for c in [*_COLUMNS[1:], "updated_at"]),
            (*values, to_db(self._clock())),
        )
        self._cache[guild_id] = config
        changed = frozenset(k for k in changes if getattr(before, k) != getattr(config, k))
        if changed:
            for listener in self._listeners:
                await listener(guild_id, changed)
        return config
