"""A sliding-window limit kept in memory, for actions that reach other people (shares).

In memory on purpose: an anonymous share must leave no record that links it to its author, and
a limit that resets on restart is a fair price for that.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from datetime import datetime, timedelta

from bot.timeutil import Clock, utcnow


class SlidingWindow:
    def __init__(self, limit: int, per: timedelta, *, clock: Clock = utcnow) -> None:
        self._limit = limit
        self._per = per
        self._clock = clock
        self._seen: dict[Hashable, deque[datetime]] = {}

    def take(self, key: Hashable) -> datetime | None:
        """Count one action for `key`; None if allowed, else when the next one will be."""
        now = self._clock()
        seen = self._seen.setdefault(key, deque())
        while seen and seen[0] <= now - self._per:
            seen.popleft()
        if len(seen) >= self._limit:
            return seen[0] + self._per
        seen.append(now)
        return None

    def forget(self, key: Hashable) -> None:
        self._seen.pop(key, None)
