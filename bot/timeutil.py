"""Time zones, HH:MM parsing and the wall-clock primitives, computed with `zoneinfo` alone.

Why not APScheduler's CronTrigger: on fall-back day it fires a 01:30 job twice in
America/New_York, and it silently drops runs that were due while the bot was down. Every
recurring thing in Haven is a *local wall-clock rule* (a time, some weekdays, an IANA zone).
This module turns a wall time into UTC instants (`at_wall_time`, `next_wall_time`,
`end_of_local_day`) and keeps quiet hours; `bot/recurrence.py` builds the rules on top (daily,
every N weeks) and the life-cycle that plans their occurrences into the outbox.

Conventions (decided once, used everywhere):
- A wall time that does not exist (spring-forward gap) happens at the first valid minute
  after it, the moment the gap ends: 02:30 on the New York spring-forward day is 03:00 EDT.
  So a reminder still arrives that morning instead of being skipped, and a circle meets as
  close to its usual time as the clocks allow.
- A wall time that happens twice (fall-back overlap) happens once, at its first occurrence.
- Instants are stored in SQLite as fixed-width UTC text (`2026-11-28T09:00:00Z`), which sorts
  like time itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

Clock = Callable[[], datetime]
"""Returns the current aware UTC instant. Tests pass a clock they can move."""

_DB_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_HHMM = re.compile(r"^\s*(\d{1,2})(?:[:.h](\d{2}))?\s*([ap]\.?m\.?)?\s*$", re.IGNORECASE)


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_db(instant: datetime) -> str:
    """An aware instant as the fixed-width UTC text stored in SQLite."""
    if instant.tzinfo is None:
        raise ValueError("naive datetimes are ambiguous; pass an aware instant")
    return instant.astimezone(UTC).strftime(_DB_FORMAT)


def from_db(text: str) -> datetime:
    return datetime.strptime(text, _DB_FORMAT).replace(tzinfo=UTC)


# --- zones ----------------------------------------------------------------------------------


@cache
def all_zones() -> tuple[str, ...]:
    """Every IANA zone a member might mean, sorted; legacy aliases like `EST5EDT` left out."""
    names = {
        z
        for z in available_timezones()
        if "/" in z and not z.startswith(("Etc/", "SystemV/", "posix", "right/"))
    }
    return tuple(sorted(names | {"UTC"}))


@cache
def _zones_by_folded_name() -> dict[str, str]:
    return {z.casefold(): z for z in available_timezones()}


def get_zone(name: str) -> ZoneInfo:
    """The zone for an IANA name, forgiving case and spaces (`new york` → America/New_York).

    Raises `ValueError` for anything that is not a real zone.
    """
    cleaned = name.strip().replace(" ", "_")
    canonical = _zones_by_folded_name().get(cleaned.casefold())
    if canonical is None:
        matches = [z for z in all_zones() if z.casefold().endswith("/" + cleaned.casefold())]
        if len(matches) != 1:
            raise ValueError(f"unknown time zone: {name!r}")
        canonical = matches[0]
    try:
        return ZoneInfo(canonical)
    except (ZoneInfoNotFoundError, ValueError) as exc:  # pragma: no cover - tzdata mismatch
        raise ValueError(f"unknown time zone: {name!r}") from exc


def search_zones(query: str, limit: int = 25) -> list[str]:
    """Zones matching what a member typed, best first: exact, city prefix, name prefix, anywhere."""
    q = query.strip().replace(" ", "_").casefold()
    zones = all_zones()
    if not q:
        return list(_POPULAR_ZONES[:limit])

    def rank(zone: str) -> tuple[int, int, str] | None:
        folded = zone.casefold()
        city = folded.rsplit("/", 1)[-1]
        if folded == q or city == q:
            score = 0
        elif city.startswith(q):
            score = 1
        elif folded.startswith(q):
            score = 2
        elif any(part.startswith(q) for part in re.split(r"[/_\-]", folded)):
            score = 3
        elif q in folded:
            score = 4
        else:
            return None
        return (score, len(zone), zone)

    ranked = sorted(r for r in map(rank, zones) if r is not None)
    return [zone for _, _, zone in ranked[:limit]]


_POPULAR_ZONES = (
    "UTC",
    "Europe/London",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Toronto",
    "America/Sao_Paulo",
    "Europe/Berlin",
    "Europe/Paris",
    "Europe/Madrid",
    "Europe/Amsterdam",
    "Africa/Lagos",
    "Africa/Johannesburg",
    "Asia/Kolkata",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Asia/Manila",
    "Australia/Sydney",
    "Australia/Perth",
    "Pacific/Auckland",
    "Europe/Dublin",
    "Europe/Stockholm",
    "America/Mexico_City",
    "Asia/Dubai",
)


# --- wall-clock times ---------------------------------------------------------------------


def parse_hhmm(text: str) -> time:
    """`19:30`, `7:05`, `19h30`, and the 12-hour forms `7pm`, `7:30 pm` → a wall time.

    Raises `ValueError` for anything else (`25:99`, `noon`, `7.5`).
    """
    m = _HHMM.match(text)
    if m is None:
        raise ValueError(f"not a time: {text!r}")
    hour, minute = int(m.group(1)), int(m.group(2) or 0)
    meridiem = (m.group(3) or "").replace(".", "").lower()
    if meridiem:
        if not 1 <= hour <= 12:
            raise ValueError(f"not a time: {text!r}")
        hour = hour % 12 + (12 if meridiem == "pm" else 0)
    elif m.group(2) is None:
        raise ValueError(f"not a time: {text!r}")  # a bare "7" is too ambiguous to guess
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        raise ValueError(f"not a time: {text!r}")
    return time(hour, minute)


def format_hhmm(t: time) -> str:
    return f"{t.hour:02d}:{t.minute:02d}"


def at_wall_time(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of `wall` on local `day` in `zone` (gap: the first valid minute after
    it; overlap: the first occurrence)."""
    local = datetime.combine(day, wall, tzinfo=zone)  # fold=0: an overlap's first occurrence
    instant = local.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == local.replace(tzinfo=None):
        return instant
    # In a gap, fold=0 read the time with the offset from before it, landing as far past the
    # gap's end as `wall` was into it; the gap ends at the transition, which lies between the
    # two readings. Find it to the second (offsets change on whole seconds).
    low = local.replace(fold=1).astimezone(UTC)
    high = instant
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).utcoffset() == high.astimezone(zone).utcoffset():
            high = middle
        else:
            low = middle
    return high.replace(microsecond=0)


def local_date(instant: datetime, zone: ZoneInfo) -> date:
    return instant.astimezone(zone).date()


def end_of_local_day(day: date, zone: ZoneInfo) -> datetime:
    """The UTC instant the local `day` ends (the next local midnight)."""
    return at_wall_time(day + timedelta(days=1), time(0, 0), zone)


def next_wall_time(
    after: datetime,
    wall: time,
    zone: ZoneInfo,
    weekdays: Collection[int] | None = None,
) -> datetime:
    """The first instant strictly after `after` when it is `wall` in `zone` on one of `weekdays`.

    `weekdays` uses Monday=0 … Sunday=6; None means every day.
    """
    start = local_date(after, zone) - timedelta(days=1)  # a gap-shifted time may fall "yesterday"
    for offset in range(16):
        day = start + timedelta(days=offset)
        if weekdays is not None and day.weekday() not in weekdays:
            continue
        candidate = at_wall_time(day, wall, zone)
        if candidate > after:
            return candidate
    raise ValueError("no weekdays given")


def in_quiet_hours(wall: time, start: time, end: time) -> bool:
    """Whether local `wall` is inside quiet hours [start, end), which may wrap past midnight."""
    if start == end:
        return False
    if start < end:
        return start <= wall < end
    return wall >= start or wall < end


def defer_past_quiet(instant: datetime, zone: ZoneInfo, start: time, end: time) -> datetime:
    """`instant`, or — when it falls in quiet hours — the moment those quiet hours end."""
    local = instant.astimezone(zone)
    if not in_quiet_hours(local.time().replace(second=0, microsecond=0), start, end):
        return instant
    return next_wall_time(instant, end, zone)


def discord_timestamp(instant: datetime, style: str = "f") -> str:
    """Discord's `<t:…>` markup, shown to each reader in their own time zone."""
    return f"<t:{int(instant.timestamp())}:{style}>"
