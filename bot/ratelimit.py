"""A sliding-window limit kept in memory, for actions that reach other people (shares).

In memory on purpose: an anonymous share must leave no record that links it to its author, and
a limit that resets on restart is a fair price for that.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from datetime import datetime, timedelta

from bot.timeutil import Clock, utcnow

SWEEP_EVERY = 64  # actions between sweeps: cheap, and memory stays bounded by recent sharers


class SlidingWindow:
    def __init__(self, limit: int, per: timedelta, *, clock: Clock = utcnow) -> None:
        self._limit = limit
        self._per = per
        self._clock = clock
        self._seen: dict[Hashable, deque[datetime]] = {}
        self._since_sweep = 0

    def take(self, key: Hashable) -> datetime | None:
        """Count one action for `key`; None if allowed, else when the next one will be."""
        now = self._clock()
        self._sweep(now)
        seen = self._seen.setdefault(key, deque())
        while seen and seen[0] <= now - self._per:
            seen.popleft()
        if len(seen) >= self._limit:
            return seen[0] + self._per
        seen.append(now)
        return None

    def _sweep(self, now: datetime) -> None:
        """Now and then, drop everyone whose actions are all older than the window: nothing
        about a member (not even that they shared) outlives the window by much."""
        self._since_sweep += 1
        if self._since_sweep < SWEEP_EVERY:
            return
        self._since_sweep = 0
        cutoff = now - self._per
        for key in [k for k, seen in self._seen.items() if not seen or seen[-1] <= cutoff]:
            del self._seen[key]
