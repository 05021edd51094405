"""Pacing: Haven's REST requests stay under Discord's global limit instead of bouncing off 429s.

Every 429 is an invalid request, and 10,000 in 10 minutes earn a temporary ban.

The limit is per bot token, so the processes of one bot share one budget. On PostgreSQL they
do so through the database (`Pacer.share`, `Database.reserve_slot`): each request takes the
next slot of one row, slots 1/45 s apart by the database's clock (GCRA), so whichever process
took them and however the windows fall, a one-second window holds at most 46 slots. Discord
counts a sliding window, not calendar seconds, and so do the tests.

A request goes at its slot or after it, never before (the answer's trip back and the timer only
make it late). Late requests are what could crowd a window, and they are bounded twice: a
process holds one reservation at a time, so a window gains at most one late request per
process; and a request that wakes more than a slot late gives its slot up for a fresh one. The
headroom from 45 to Discord's 50 absorbs the rest. Measured with 3 processes x 150 requests at
once: 45.0 requests/s, at most 47 in any one-second window, one database round trip (~0.5 ms)
per request (`tests/test_shared_pacing.py`).

Why the database and not a REST proxy: no extra service to run, and the cost is one single-row
statement per request, ~45 a second for the whole cluster. Reserving slots in batches would
save round trips nobody misses, and a process killed holding a batch would strand it. An
operator who runs a proxy anyway can point DISCORD_API_BASE at it.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable

import aiohttp

from bot.db.database import Database

log = logging.getLogger(__name__)

GLOBAL_REQUESTS_PER_SECOND = 45  # Discord allows 50; the rest is headroom for jitter
BUDGET = "discord"  # the rate_budget row: one per bot token, and a database serves one bot
WARN_EVERY = 60.0  # seconds between warnings while the shared budget cannot be reached


class Pacer:
    """Keeps Haven's requests under Discord's global limit, measured on actual send times.

    Two rules, both on the moments requests really go out: never more than `per_second` in any
    one second, and spaced out rather than in bursts (a gap of 90% of 1/`per_second`; the 10%
    absorbs timer overshoot, which would otherwise cost ~5% of the throughput).

    It is applied where aiohttp starts each request (`pacing_trace`), after discord.py's
    per-route queues: pacing earlier let requests bunch up in those queues and leave together,
    which Discord's sliding window counts as a burst (measured: six 429s in 10,000 requests).

    Alone, a process counts its own sends. Given the database with `share(db)`, it takes its
    slots from the budget every process on that database shares instead (see the module
    docstring); a SQLite database has no one to share with and leaves it counting locally.
    Either way one request at a time holds a reservation: a process never books slots far ahead
    that it might die holding, so a process killed mid-fan-out wastes at most one slot.
    If the database cannot be reached the request is paced locally (the process's own budget),
    with a warning: requests must not stop because the budget's row is out of reach.
    """

    def __init__(
        self,
        per_second: int = GLOBAL_REQUESTS_PER_SECOND,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._per_second = per_second
        self._gap = 0.9 / per_second
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()
        self._lock = asyncio.Lock()
        self._shared: Database | None = None
        self._warned_at = -WARN_EVERY
        self.late_slots = 0  # shared slots given up because the loop woke too late for them

    def share(self, db: Database) -> None:
        """Pace by the budget every process on `db` shares, from the next request on."""
        self._shared = db

    async def wait(self) -> None:
        async with self._lock:
            if self._shared is not None and await self._wait_shared(self._shared):
                return
            await self._wait_local()

    async def _wait_shared(self, db: Database) -> bool:
        """Wait for the next shared slot; False: pace this request locally instead.

        A request that wakes more than one slot after its own (the event loop was busy) gives
        that slot up and takes a fresh one: sent late, it would crowd the slots other processes
        hold after it. Once only, so that a loop that always runs late still sends.
        """
        spacing = 1.0 / self._per_second
        for attempt in range(2):
            try:
                delay = await db.reserve_slot(BUDGET, spacing)
            except Exception:
                now = self._clock()
                if now - self._warned_at >= WARN_EVERY:
                    self._warned_at = now
                    log.warning(
                        "the shared rate budget is out of reach; pacing locally", exc_info=True
                    )
                return False
            if delay is None:  # nobody to share with (SQLite)
                self._shared = None
                return False
            if delay <= 0:
                return True
            due = self._clock() + delay
            await self._sleep(delay)
            if self._clock() - due <= spacing:
                return True
            if attempt == 0:
                self.late_slots += 1
        return True

    async def _wait_local(self) -> None:
        while True:
            now = self._clock()
            while self._sent and now - self._sent[0] >= 1.0:
                self._sent.popleft()
            delay = 0.0
            if self._sent:
                delay = self._sent[-1] + self._gap - now
            if len(self._sent) >= self._per_second:
                delay = max(delay, self._sent[0] + 1.0 - now)
            if delay <= 0:
                break
            await self._sleep(delay)
        self._sent.append(now)


def pacing_trace(pacer: Pacer) -> aiohttp.TraceConfig:
    """An aiohttp hook that paces every REST request bound by Discord's global limit.

    Interaction responses and webhooks are not bound by it, and are never delayed.
    """

    async def on_request_start(
        session: aiohttp.ClientSession,
        context: object,
        params: aiohttp.TraceRequestStartParams,
    ) -> None:
        path = params.url.path
        if "/api/v" in path and not _UNPACED.search(path):
            await pacer.wait()

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_request_start)
    return trace


_UNPACED = re.compile(r"/(interactions|webhooks)/")
