"""Member profiles: time zone, quiet hours and pause — the rhythm every DM respects."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.db import Database
from bot.errors import BadInput
from bot.features import Features
from bot.inputs import parse_time, zone_name
from bot.timeutil import Clock, format_hhmm, from_db, in_quiet_hours, parse_hhmm, to_db, utcnow

PAUSE_MAX_DAYS = 365

ProfileListener = Callable[[int, int], Awaitable[object]]
"""Called with (guild_id, user_id) after a profile change, e.g. to re-plan reminders; and, for
`on_left` listeners, when Haven learns the member is no longer in the server."""


@dataclass(frozen=True)
class Profile:
    guild_id: int
    user_id: int
    timezone: str | None = None
    quiet_start: time | None = None
    quiet_end: time | None = None
    paused_until: datetime | None = None
    server_zone: str = "UTC"

    @property
    def zone(self) -> ZoneInfo:
        """The member's own zone, else the server's."""
        return ZoneInfo(self.timezone or self.server_zone)

    def resting_at(self, instant: datetime) -> str | None:
        """Why no DM should reach them at `instant` (paused, quiet hours), or None."""
        if self.paused_at(instant):
            return "paused"
        if self.quiet_at(instant, self.zone):
            return "quiet hours"
        return None

    def paused_at(self, instant: datetime) -> bool:
        return self.paused_until is not None and instant < self.paused_until

    def quiet_at(self, instant: datetime, zone: ZoneInfo) -> bool:
        if self.quiet_start is None or self.quiet_end is None:
            return False
        return in_quiet_hours(instant.astimezone(zone).time(), self.quiet_start, self.quiet_end)


class Members:
    def __init__(self, db: Database, *, clock: Clock = utcnow) -> None:
        self._db = db
        self._clock = clock
        self._listeners: list[ProfileListener] = []
        self._left_listeners: list[ProfileListener] = []

    def contribute(self, features: Features) -> None:
        features.data("member_profile", "Your settings here: time zone, quiet hours, pause.")
        features.count(
            "members with a Haven profile",
            "SELECT count(*) FROM member_profile WHERE guild_id = :guild",
        )
        features.privacy("keep", "• **Your settings**: time zone, quiet hours and pause.")
        features.privacy(
            "choices", "`/my pause` rests every DM; `/my quiet-hours` keeps your nights quiet."
        )

    def on_change(self, listener: ProfileListener) -> None:
        self._listeners.append(listener)

    def on_left(self, listener: ProfileListener) -> None:
        """Call `listener` when a member is found to have left (or been removed from) a server."""
        self._left_listeners.append(listener)

    async def left(self, guild_id: int, user_id: int) -> None:
        """They are gone: what Haven sends them on that server's behalf stops (each feature's
        listener ends its part); their data follows the server's retention policy."""
        for listener in self._left_listeners:
            await listener(guild_id, user_id)

    async def profile(self, guild_id: int, user_id: int) -> Profile:
        """The member's settings with the server's zone: one round-trip to the database."""
        row = await self._db.fetchone(
            "SELECT p.timezone, p.quiet_start, p.quiet_end, p.paused_until,"
            " coalesce(g.timezone, 'UTC') AS server_zone"
            " FROM (SELECT CAST(? AS BIGINT) AS guild_id, CAST(? AS BIGINT) AS user_id) AS me"
            " LEFT JOIN member_profile p ON p.guild_id = me.guild_id AND p.user_id = me.user_id"
            " LEFT JOIN guild_config g ON g.guild_id = me.guild_id",
            (guild_id, user_id),
        )
        assert row is not None
        return Profile(
            guild_id,
            user_id,
            timezone=row["timezone"],
            quiet_start=parse_hhmm(row["quiet_start"]) if row["quiet_start"] else None,
            quiet_end=parse_hhmm(row["quiet_end"]) if row["quiet_end"] else None,
            paused_until=from_db(row["paused_until"]) if row["paused_until"] else None,
            server_zone=row["server_zone"],
        )

    async def zone_for(self, guild_id: int, user_id: int) -> ZoneInfo:
        """The member's own zone, else the server's."""
        return (await self.profile(guild_id, user_id)).zone

    async def set_timezone(self, guild_id: int, user_id: int, raw: str) -> str:
        name = zone_name(raw)
        await self._upsert(guild_id, user_id, {"timezone": name})
        return name

    async def set_quiet_hours(self, guild_id: int, user_id: int, start: str, end: str) -> None:
        start_t, end_t = parse_time(start), parse_time(end)
        if start_t == end_t:
            raise BadInput(
                f"Quiet hours need a start and an end that differ — `{start}` to `{end}` "
                "would be no time at all. Try something like `22:00` to `08:00`."
            )
        await self._upsert(
            guild_id,
            user_id,
            {"quiet_start": format_hhmm(start_t), "quiet_end": format_hhmm(end_t)},
        )

    async def pause(self, guild_id: int, user_id: int, days: int) -> datetime:
        if not 1 <= days <= PAUSE_MAX_DAYS:
            raise BadInput(f"A pause can be 1 to {PAUSE_MAX_DAYS} days; `{days}` is outside that.")
        until = self._clock() + timedelta(days=days)
        await self._upsert(guild_id, user_id, {"paused_until": to_db(until)})
        return until

    async def resume(self, guild_id: int, user_id: int) -> bool:
        """End a pause early. Returns whether there was one."""
        was_paused = (await self.profile(guild_id, user_id)).paused_at(self._clock())
        await self._upsert(guild_id, user_id, {"paused_until": None})
        return was_paused

    async def _upsert(self, guild_id: int, user_id: int, values: dict[str, str | None]) -> None:
        cols = [*values, "updated_at"]
        await self._db.execute(
            f"INSERT INTO member_profile (guild_id, user_id, {', '.join(cols)})"
            f" VALUES (?, ?, {', '.join('?' * len(cols))})"
            " ON CONFLICT (guild_id, user_id) DO UPDATE SET "
            + ", ".join(f"{c} = excluded.{c}" for c in cols),
            (guild_id, user_id, *values.values(), to_db(self._clock())),
        )
        for listener in self._listeners:
            await listener(guild_id, user_id)
