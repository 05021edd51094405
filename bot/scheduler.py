"""The outbox of scheduled work, and the only module that imports APScheduler.

Every occurrence of scheduled work (a daily prompt, a reminder, a nudge) is a row in `outbox`
with a unique key, a due instant and a deadline. The database is the truth; APScheduler is
only an alarm clock that wakes us at the earliest pending `due_at` (one memory-store job with
a deterministic id and a DateTrigger). We never let APScheduler decide what was missed —
measured on 3.11.3, a job re-added after its fire time passed runs zero times, silently.

On every wake (and on start-up) `run_due()`:
1. puts back to `pending` the rows whose claim's lease ended (their process died);
2. marks pending rows whose deadline has passed as `missed` (the bot was down too long);
3. claims due rows in batches (`pending` → `running`, with this process's name and a lease),
   so each runs once, and runs their handlers concurrently (bounded), recording `done` /
   `failed` / a retry, until nothing due is left;
4. re-arms the alarm for the next pending row.

Any process may run any due job. A claim is a lease: the process renews the leases of what it
is still running every `RENEW_EVERY`; one that dies stops renewing, and within `LEASE` plus one
poll (`POLL_EVERY`, with a database other processes share) another puts its rows back and runs
them. The delivery ledger, and Discord's nonce behind it, make a repeated send a no-op. A
process that stops cleanly hands its claims back at once; on SQLite (one process owns the file)
every row left `running` is pending again at start. With a shared database a new job due soon
is announced (NOTIFY), so the others arm their alarms for it instead of waiting for a poll.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger

from bot.db import Database, Row
from bot.features import Features
from bot.retention import OUTBOX_HISTORY_DAYS
from bot.timeutil import Clock, from_db, to_db, utcnow

log = logging.getLogger(__name__)

WAKE_JOB_ID = "outbox-wake"
DEFAULT_CONCURRENCY = 16
BATCH = 4 * DEFAULT_CONCURRENCY  # rows claimed at once: the rest stay for other processes
LEASE = timedelta(seconds=30)
RENEW_EVERY = 10.0  # seconds between lease renewals: three chances before a lease ends
POLL_EVERY = 15.0  # seconds between looks at a shared outbox (a dead peer's work, its jobs)
CHANNEL = "haven_outbox"  # NOTIFY channel: payload is the due instant of a new job


@dataclass(frozen=True)
class Job:
    """One claimed outbox row, handed to the handler registered for its kind."""

    id: int
    key: str
    kind: str
    guild_id: int | None
    user_id: int | None
    payload: dict[str, Any]
    due_at: datetime
    deadline_at: datetime
    attempts: int

    @classmethod
    def from_row(cls, row: Row) -> Job:
        return cls(
            id=row["id"],
            key=row["key"],
            kind=row["kind"],
            guild_id=row["guild_id"],
            user_id=row["user_id"],
            payload=json.loads(row["payload"]),
            due_at=from_db(row["due_at"]),
            deadline_at=from_db(row["deadline_at"]),
            attempts=row["attempts"],
        )


@dataclass(frozen=True)
class Occurrence:
    """One future run of a recurring rule."""

    key: str
    due: datetime
    deadline: datetime
    payload: dict[str, Any] | None = None


class Retry(Exception):
    """Raised by a handler for a passing failure: run again after `delay` if before the deadline."""

    def __init__(self, delay: timedelta, reason: str) -> None:
        super().__init__(reason)
        self.delay = delay
        self.reason = reason


Handler = Callable[[Job], Awaitable[str | None]]
"""Runs one job. Returns an optional note (e.g. "skipped: paused") kept on the row."""

Missed = Callable[[Job], Awaitable[object]]
"""Told about a job that passed its deadline unrun."""


@dataclass(frozen=True)
class RunSummary:
    done: int = 0
    missed: int = 0
    failed: int = 0
    retried: int = 0


class Scheduler:
    def __init__(
        self,
        db: Database,
        *,
        clock: Clock = utcnow,
        gate: Callable[[], Awaitable[Any]] | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        shards: tuple[int, tuple[int, ...]] | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._gate = gate
        self._handlers: dict[str, Handler] = {}
        # This process's shards (count, ids): their servers' jobs are claimed first, so a
        # process mostly sends for servers it has cached, and asks Discord about another
        # shard's server only when its own work is done (or a dead process's is waiting).
        self._mine_first = ""
        if shards is not None:
            count, ids = shards
            held = ", ".join(str(int(i)) for i in ids)
            self._mine_first = (
                f"CASE WHEN guild_id IS NULL OR (guild_id / 4194304) % {int(count)} IN ({held})"
                " THEN 0 ELSE 1 END, "
            )
        self._on_missed: dict[str, Missed] = {}
        self._limit = asyncio.Semaphore(concurrency)
        self._run_lock = asyncio.Lock()
        self._aps: AsyncIOScheduler | None = None
        self._armed_for: datetime | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        # Who holds a claim: unique per process run, readable in the outbox by an operator.
        self.name = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(self._handlers)

    def register(self, kind: str, handler: Handler, *, on_missed: Missed | None = None) -> None:
        """Route due jobs of `kind` to `handler`.

        Recurring rules plan their next occurrence when one runs; `on_missed` lets them do the
        same when one is missed (the bot was down, or the host slept), so a chain never breaks.
        """
        if kind in self._handlers:
            raise ValueError(f"a handler for {kind!r} is already registered")
        self._handlers[kind] = handler
        if on_missed is not None:
            self._on_missed[kind] = on_missed

    def contribute(self, features: Features) -> None:
        features.data("outbox", "Things scheduled for you: reminders and noticing checks.")
        features.purge("scheduler history", self._purge_history)

    async def _purge_history(self, now: datetime) -> int:
        cutoff = to_db(now - timedelta(days=OUTBOX_HISTORY_DAYS))
        return await self._db.execute(
            "DELETE FROM outbox WHERE state != 'pending' AND state != 'running'"
            " AND coalesce(finished_at, due_at) < ?",
            (cutoff,),
        )

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Recover from a crash, start the alarm clock and run whatever is already due."""
        if not self._db.shared:
            # The only process: whatever a crash left running is ours to run again.
            await self._db.execute(
                "UPDATE outbox SET state = 'pending', claimed_by = NULL, lease_until = NULL"
                " WHERE state = 'running'"
            )
        self._aps = AsyncIOScheduler(jobstores={"default": MemoryJobStore()}, timezone=UTC)
        self._aps.start()
        self._spawn(self._renew_leases())
        if self._db.shared:
            await self._db.listen(CHANNEL, self._heard)
            self._spawn(self._poll())
        self._spawn(self.run_due())

    async def shutdown(self) -> None:
        if self._aps is not None and self._aps.running:
            self._aps.shutdown(wait=False)
        self._aps = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        # Hand back what this process had claimed, so nobody waits for the leases to end. Best
        # effort: if the database is gone, the leases end by themselves.
        try:
            await self._db.execute(
                "UPDATE outbox SET state = 'pending', claimed_by = NULL, lease_until = NULL"
                " WHERE state = 'running' AND claimed_by = ?",
                (self.name,),
            )
        except Exception:
            log.warning("could not hand back this process's claims; their leases will end")

    async def _renew_leases(self) -> None:
        while True:
            await asyncio.sleep(RENEW_EVERY)
            try:
                await self._db.execute(
                    "UPDATE outbox SET lease_until = ? WHERE state = 'running' AND claimed_by = ?",
                    (to_db(self._clock() + LEASE), self.name),
                )
            except Exception:
                log.exception("could not renew this process's outbox leases")

    async def _poll(self) -> None:
        """With other processes on the database: look again now and then, for work a dead
        process left and jobs nobody announced."""
        while True:
            await asyncio.sleep(POLL_EVERY)
            try:
                await self.run_due()
            except Exception:
                log.exception("the outbox poll failed")

    def _heard(self, payload: str) -> None:
        """Another process added a job due soon: be awake for it too."""
        try:
            self._arm(from_db(payload))
        except ValueError:
            log.warning("ignored an outbox notification that is not an instant")

    # --- writing the outbox ----------------------------------------------------------------

    async def schedule(
        self,
        kind: str,
        key: str,
        due: datetime,
        *,
        deadline: datetime | None = None,
        guild_id: int | None = None,
        user_id: int | None = None,
        payload: dict[str, Any] | None = None,
    ) -> bool:
        """Add an occurrence unless its key exists already. Returns whether it was added.

        `deadline` (default: the due instant) is the last moment it may still run late. A key
        that was cancelled comes back with the new times (a rule changed and changed back);
        a key that already ran stays as it is, which is what makes "once per day" hold.
        """
        deadline = max(deadline or due, due)
        added = await self._db.execute(
            "INSERT INTO outbox (key, kind, guild_id, user_id, payload, due_at, deadline_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET"
            " state = 'pending', due_at = excluded.due_at, deadline_at = excluded.deadline_at,"
            " payload = excluded.payload, finished_at = NULL WHERE outbox.state = 'cancelled'",
            (key, kind, guild_id, user_id, json.dumps(payload or {}), to_db(due), to_db(deadline)),
        )
        if added:
            self._arm(due)
            await self._announce(due)
        return bool(added)

    async def _announce(self, due: datetime) -> None:
        # Only jobs due before the others' next poll need a word; the poll finds the rest.
        if self._db.shared and due <= self._clock() + timedelta(seconds=POLL_EVERY):
            await self._db.notify(CHANNEL, to_db(due))

    async def schedule_next(
        self,
        kind: str,
        occurrences: Iterable[Occurrence],
        *,
        guild_id: int | None = None,
        user_id: int | None = None,
    ) -> Occurrence | None:
        """Schedule the first of `occurrences` whose key has not already run.

        Recurring rules use this: after a rule changes, today's key may already be done, and
        then tomorrow's is the next one. Returns what was scheduled (or is already pending).
        """
        for occ in itertools.islice(occurrences, 32):
            if await self.schedule(
                kind,
                occ.key,
                occ.due,
                deadline=occ.deadline,
                guild_id=guild_id,
                user_id=user_id,
                payload=occ.payload,
            ):
                return occ
            state = await self._db.fetchval("SELECT state FROM outbox WHERE key = ?", (occ.key,))
            if state in ("pending", "running"):
                return occ
        return None

    async def cancel(self, *, kind: str, guild_id: int, user_id: int | None = None) -> int:
        """Cancel pending occurrences of `kind` for a server (and member). Returns how many."""
        sql = "UPDATE outbox SET state = 'cancelled', finished_at = ? WHERE state = 'pending'"
        sql += " AND kind = ? AND guild_id = ?"
        params: list[Any] = [to_db(self._clock()), kind, guild_id]
        if user_id is not None:
            sql += " AND user_id = ?"
            params.append(user_id)
        return await self._db.execute(sql, params)

    async def cancel_prefix(self, prefix: str) -> int:
        """Cancel pending occurrences keyed `prefix` or `prefix:…` (all the work one thing
        owns, e.g. a circle session's reminders). Returns how many."""
        pattern = prefix.replace("!", "!!").replace("%", "!%").replace("_", "!_") + ":%"
        return await self._db.execute(
            "UPDATE outbox SET state = 'cancelled', finished_at = ? WHERE state = 'pending'"
            " AND (key = ? OR key LIKE ? ESCAPE '!')",
            (to_db(self._clock()), prefix, pattern),
        )

    async def cancel_guild(self, guild_id: int) -> int:
        """Cancel every pending occurrence for a server (Haven was removed from it)."""
        return await self._db.execute(
            "UPDATE outbox SET state = 'cancelled', finished_at = ?"
            " WHERE state = 'pending' AND guild_id = ?",
            (to_db(self._clock()), guild_id),
        )

    async def open_scopes(self, kind: str) -> set[tuple[int | None, int | None]]:
        """(guild_id, user_id) of every pending or running occurrence of `kind`: whose next
        occurrence is already planned."""
        rows = await self._db.fetchall(
            "SELECT DISTINCT guild_id, user_id FROM outbox"
            " WHERE kind = ? AND state IN ('pending', 'running')",
            (kind,),
        )
        return {(r["guild_id"], r["user_id"]) for r in rows}

    async def pending(
        self,
        *,
        guild_id: int,
        kind: str | None = None,
        user_id: int | None = None,
        limit: int = 5,
        with_global: bool = False,
        server_wide: bool = False,
    ) -> list[Job]:
        """The next pending occurrences for a server (and, if asked, Haven-wide), soonest first.

        `server_wide` leaves out work for one member (a reminder, a nudge): moderators see
        the server's schedule, never an individual's.
        """
        scope = "(guild_id = ? OR guild_id IS NULL)" if with_global else "guild_id = ?"
        sql = f"SELECT * FROM outbox WHERE state = 'pending' AND {scope}"
        if server_wide:
            sql += " AND user_id IS NULL"
        params: list[Any] = [guild_id]
        if kind is not None:
            sql += " AND kind = ?"
            params.append(kind)
        if user_id is not None:
            sql += " AND user_id = ?"
            params.append(user_id)
        sql += " ORDER BY due_at LIMIT ?"
        params.append(limit)
        return [Job.from_row(r) for r in await self._db.fetchall(sql, params)]

    # --- running due work ------------------------------------------------------------------

    async def run_due(self) -> RunSummary:
        """Run everything due now, exactly once; then re-arm the alarm for what comes next."""
        if self._gate is not None:
            await self._gate()
        async with self._run_lock:
            now = to_db(self._clock())
            released = await self._db.execute(
                "UPDATE outbox SET state = 'pending', claimed_by = NULL, lease_until = NULL"
                " WHERE state = 'running' AND (lease_until IS NULL OR lease_until < ?)",
                (now,),
            )
            if released:
                log.warning("took over %d job(s) whose process stopped renewing them", released)
            # `due_at <= now` changes nothing (a deadline is never before its due time) but
            # lets the pending index skip the future rows: 30 ms → 0.1 ms at 48k.
            missed = await self._db.fetchall(
                "UPDATE outbox SET state = 'missed', finished_at = ?"
                " WHERE state = 'pending' AND due_at <= ? AND deadline_at < ? RETURNING *",
                (now, now, now),
            )
            if missed:
                log.warning("%d scheduled occurrence(s) passed their deadline", len(missed))
            for row in missed:
                if (follow_up := self._on_missed.get(row["kind"])) is not None:
                    await follow_up(Job.from_row(row))
            outcomes: list[str] = []
            seen: set[int] = set()
            while True:
                rows = await self._claim(now)
                outcomes += await asyncio.gather(*(self._run_one(Job.from_row(r)) for r in rows))
                fresh = {r["id"] for r in rows} - seen
                seen |= fresh
                # Drained what was due (a retry made due at once waits for the next wake).
                if len(rows) < BATCH or not fresh:
                    break
            summary = RunSummary(
                done=outcomes.count("done"),
                missed=len(missed),
                failed=outcomes.count("failed"),
                retried=outcomes.count("retried"),
            )
            self._armed_for = None
            await self._arm_next()
            return summary

    async def _claim(self, now: str) -> list[Row]:
        """Claim up to BATCH due rows for this process, soonest first, passing over rows
        another process is claiming at this moment."""
        return await self._db.fetchall(
            "UPDATE outbox SET state = 'running', attempts = attempts + 1, claimed_by = ?,"
            " lease_until = ? WHERE id IN (SELECT id FROM outbox WHERE state = 'pending'"
            f" AND due_at <= ? ORDER BY {self._mine_first}due_at LIMIT ?{self._db.skip_locked})"
            " RETURNING *",
            (self.name, to_db(self._clock() + LEASE), now, BATCH),
        )

    async def _run_one(self, job: Job) -> str:
        handler = self._handlers.get(job.kind)
        async with self._limit:
            try:
                if handler is None:
                    raise LookupError(f"no handler registered for {job.kind!r}")
                note = await handler(job)
            except Retry as retry:
                again = self._clock() + retry.delay
                if again <= job.deadline_at:
                    await self._db.execute(
                        "UPDATE outbox SET state = 'pending', due_at = ?, note = ?,"
                        " claimed_by = NULL, lease_until = NULL WHERE id = ? AND claimed_by = ?",
                        (to_db(again), retry.reason, job.id, self.name),
                    )
                    await self._announce(again)
                    return "retried"
                await self._finish(job, "failed", f"gave up: {retry.reason}")
                return "failed"
            except Exception:
                error_id = secrets.token_hex(4)
                log.exception("scheduled %s failed (error id %s)", job.key, error_id)
                await self._finish(job, "failed", f"error {error_id}")
                return "failed"
            await self._finish(job, "done", note)
            return "done"

    async def _finish(self, job: Job, state: str, note: str | None) -> None:
        # Only while the claim is still ours: a process that lost its lease (it stalled past
        # it) must not overwrite the outcome of the one that took the job over.
        await self._db.execute(
            "UPDATE outbox SET state = ?, finished_at = ?, note = ?, lease_until = NULL"
            " WHERE id = ? AND claimed_by = ?",
            (state, to_db(self._clock()), note, job.id, self.name),
        )

    # --- the alarm clock -------------------------------------------------------------------

    async def _arm_next(self) -> None:
        nxt = await self._db.fetchval(
            "SELECT min(due_at) FROM outbox WHERE state = 'pending'",
        )
        if nxt is not None:
            self._arm(from_db(nxt))

    def _arm(self, due: datetime) -> None:
        """Make sure the alarm rings no later than `due`."""
        if self._aps is None:
            return  # not started yet: start() runs and arms everything
        if self._armed_for is not None and self._armed_for <= due:
            return
        self._armed_for = due
        # The alarm runs on the real clock; `due` is on ours (the same one, outside tests).
        delay = max((due - self._clock()).total_seconds(), 0.0)
        self._aps.add_job(
            self._wake,
            trigger=DateTrigger(run_date=utcnow() + timedelta(seconds=delay)),
            id=WAKE_JOB_ID,
            replace_existing=True,
            misfire_grace_time=None,  # a late wake is still a wake: the outbox decides
            coalesce=True,
        )

    async def _wake(self) -> None:
        await self.run_due()

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
