"""Shared set-up for the cluster benchmark and test: databases on either backend, servers spread
over shards, reminders seeded through the storage interface, and per-process figures.

Seeding goes through `bot.db.open_database(url)` with portable SQL in the shapes the services
write (`executemany`), so one seeder fills SQLite and PostgreSQL alike; the rows are exactly
what the bot's own planning would have written (computed with its own functions), so start-up's
`ensure_all` finds every occurrence already pending and adds nothing.

CPU and memory are read from `/proc` (Linux): `utime + stime` of a process, and for the
PostgreSQL server also its exited backends (`cutime + cstime`, reaped by the postmaster) and its
live children, so a window's database CPU is a difference of two readings.
"""

from __future__ import annotations

import itertools
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.db import Database, migrate, open_database
from bot.recurrence import adjusted, daily_occurrences
from bot.reminders import KIND as CHECKIN_REMINDER
from bot.reminders import LATE_BY_AT_MOST
from bot.timeutil import format_hhmm, to_db
from tests.fakediscord import World
from tests.pgcluster import PgCluster

PROMPT = "checkin-prompt"  # bot/prompts.py's job kind
REMINDER_TITLE = "A gentle check-in reminder"
ZONE = ZoneInfo("UTC")  # every server's zone
CHUNK = 10_000  # rows per executemany: bounded memory for the 50,000-server seed
_CLK_TCK = os.sysconf("SC_CLK_TCK")
_names = itertools.count()


# --- databases ----------------------------------------------------------------------------------


async def migrated(url: str) -> str:
    """Bring the database `url` names to the current schema; returns the url."""
    db = await open_database(url)
    try:
        await migrate(db)
    finally:
        await db.close()
    return url


async def new_database(backend: str, cluster: PgCluster | None, label: str = "haven") -> str:
    """A fresh, migrated database: a temporary SQLite file or a new database in `cluster`."""
    if backend == "sqlite":
        path = Path(tempfile.mkdtemp(prefix="haven-bench-")) / f"{label}.db"
        return await migrated(f"sqlite:///{path}")
    assert cluster is not None, "PostgreSQL needs a running cluster"
    name = f"bench_{label}_{os.getpid()}_{next(_names)}"
    return await migrated(await cluster.acreate_database(name))


# --- servers on shards --------------------------------------------------------------------------


def guild_on(shard: int, n: int, count: int) -> int:
    """A server id on `shard` of `count` (the `n`th such): Discord routes a server's events to
    shard `(id >> 22) % count`, so the id's timestamp picks it."""
    ms = 300_000_000_000 + n * count * 7 + shard  # mid-2024, in ms since Discord's epoch
    gid = ms << 22 | 1
    assert (gid >> 22) % count == shard
    return gid


def add_servers(world: World, count: int, shards: int) -> list[int]:
    """`count` servers in the fake, dealt round-robin over `shards` shards."""
    return [
        world.add_guild(f"server {i}", guild_id=guild_on(i % shards, i // shards, shards))
        for i in range(count)
    ]


# --- reminders ----------------------------------------------------------------------------------


@dataclass
class SeededReminders:
    users: list[int]  # one reminder each
    guild_of: dict[int, int]  # user id -> their server
    channels: dict[int, int]  # DM channel id -> user id
    keys: list[str] = field(default_factory=list)  # their outbox rows, once written

    @property
    def posts(self) -> str:
        """re.fullmatch for a reminder DM's POST."""
        return "/channels/(" + "|".join(map(str, self.channels)) + ")/messages"


def add_members(world: World, servers: Sequence[int], count: int) -> SeededReminders:
    """`count` new members in the fake, dealt round-robin over `servers`, each with a DM
    channel the fake knows. Add them before the bot connects: its GUILD_CREATEs carry them."""
    users, guild_of, channels = [], {}, {}
    for i in range(count):
        gid = servers[i % len(servers)]
        user = world.add_user(f"member {i}", member_of=gid)
        users.append(user)
        guild_of[user] = gid
        channels[world.dm_channel(user).id] = user
    return SeededReminders(users, guild_of, channels)


def reminder_row(gid: int, user: int, minute: datetime, due: datetime) -> tuple[Any, ...]:
    """The outbox row `Reminders.plan` writes for a daily reminder at `minute` (UTC), moved to
    `due` the way `adjusted` moves one (quiet hours do), with two hours to run late."""
    prefix = f"{CHECKIN_REMINDER}:{gid}:{user}"
    after = minute - timedelta(seconds=1)
    occ = next(daily_occurrences(prefix, after, minute.time(), ZONE, "every-day"))
    assert occ.due == minute, (occ, minute)
    occ = adjusted(occ, due, due + LATE_BY_AT_MOST)
    return (
        occ.key,
        CHECKIN_REMINDER,
        gid,
        user,
        json.dumps(occ.payload),
        to_db(occ.due),
        to_db(occ.deadline),
    )


async def write_reminders(
    db: Database,
    seeded: SeededReminders,
    *,
    minute: datetime,
    due: datetime | None = None,
    servers: Sequence[int] = (),
) -> None:
    """Write, in one transaction, each member's daily check-in reminder at `minute` (whole
    minutes, UTC: the servers' zone), its occurrence pending in the outbox, due at `due`
    (default `minute`), and their DM channel (so with MEMBERS_INTENT a reminder is one
    request); and a `guild_config` row (zone UTC) for each of `servers`."""
    assert minute.second == 0 and minute.microsecond == 0, "a rule names whole minutes"
    due = due or minute
    stamp = to_db(minute - timedelta(minutes=1))
    rules, jobs, dms = [], [], []
    for channel, user in seeded.channels.items():
        gid = seeded.guild_of[user]
        row = reminder_row(gid, user, minute, due)
        seeded.keys.append(row[0])
        jobs.append(row)
        rules.append((gid, user, format_hhmm(minute.time()), stamp))
        dms.append((user, channel, stamp))
    async with db.transaction():
        if servers:
            await db.executemany(
                "INSERT INTO guild_config (guild_id, timezone, updated_at) VALUES (?, 'UTC', ?)",
                [(gid, stamp) for gid in servers],
            )
        await db.executemany(
            "INSERT INTO dm_channels (user_id, channel_id, opened_at) VALUES (?, ?, ?)", dms
        )
        await db.executemany(
            "INSERT INTO checkin_reminders (guild_id, user_id, at_time, days, updated_at)"
            " VALUES (?, ?, ?, 'every-day', ?)",
            rules,
        )
        await db.executemany(
            "INSERT INTO outbox (key, kind, guild_id, user_id, payload, due_at, deadline_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            jobs,
        )


# --- many servers -------------------------------------------------------------------------------


@dataclass
class SeededServers:
    servers: int = 0
    prompts: int = 0
    reminders: int = 0
    jobs: int = 0


def _chunks(rows: Iterable[tuple[Any, ...]]) -> Iterator[list[tuple[Any, ...]]]:
    it = iter(rows)
    while chunk := list(itertools.islice(it, CHUNK)):
        yield chunk


async def seed_servers(
    db: Database, servers: int, members_per_server: int, *, now: datetime
) -> SeededServers:
    """A hosted Haven's database: `servers` configured servers (zone UTC, a check-in channel,
    a daily prompt) and `members_per_server` members each with a daily check-in reminder and a
    known DM channel; every rule's next occurrence pending in the outbox, keyed and timed as the
    bot plans it. Rule times fall 1-22 hours from `now`, so nothing is due soon and start-up
    planning (prompts from the rule's `updated_at` = now, reminders from two hours ago) finds
    exactly these rows."""
    stamp = to_db(now)
    base = now.replace(second=0, microsecond=0)

    def at(i: int) -> datetime:
        return base + timedelta(minutes=60 + (i * 7) % (21 * 60))

    def gid(s: int) -> int:
        return 1_100_000_000_000_000_000 + s

    def configs() -> Iterator[tuple[Any, ...]]:
        for s in range(servers):
            yield (gid(s), gid(s) + 500_000_000, stamp)

    def prompts() -> Iterator[tuple[Any, ...]]:
        for s in range(servers):
            yield (gid(s), format_hhmm(at(s).time()), stamp)

    def prompt_jobs() -> Iterator[tuple[Any, ...]]:
        for s in range(servers):
            occ = next(
                daily_occurrences(f"{PROMPT}:{gid(s)}", now, at(s).time(), ZONE, "every-day")
            )
            yield (occ.key, PROMPT, gid(s), None, "{}", to_db(occ.due), to_db(occ.deadline))

    def members() -> Iterator[tuple[int, int, int]]:
        for s in range(servers):
            for m in range(members_per_server):
                n = s * members_per_server + m
                yield n, gid(s), 1_200_000_000_000_000_000 + n

    def reminder_rules() -> Iterator[tuple[Any, ...]]:
        for n, g, user in members():
            yield (g, user, format_hhmm(at(n + 3).time()), stamp)

    def reminder_jobs() -> Iterator[tuple[Any, ...]]:
        for n, g, user in members():
            minute = at(n + 3)
            occ = next(
                daily_occurrences(
                    f"{CHECKIN_REMINDER}:{g}:{user}",
                    now - LATE_BY_AT_MOST,
                    minute.time(),
                    ZONE,
                    "every-day",
                )
            )
            occ = adjusted(occ, occ.due, occ.due + LATE_BY_AT_MOST)
            yield (
                occ.key,
                CHECKIN_REMINDER,
                g,
                user,
                json.dumps(occ.payload),
                to_db(occ.due),
                to_db(occ.deadline),
            )

    def dm_rows() -> Iterator[tuple[Any, ...]]:
        for _n, _g, user in members():
            yield (user, user + 300_000_000, stamp)

    steps: list[tuple[str, Iterable[tuple[Any, ...]]]] = [
        (
            "INSERT INTO guild_config (guild_id, checkin_channel_id, timezone, updated_at)"
            " VALUES (?, ?, 'UTC', ?)",
            configs(),
        ),
        (
            "INSERT INTO checkin_prompt (guild_id, at_time, days, updated_at)"
            " VALUES (?, ?, 'every-day', ?)",
            prompts(),
        ),
        (
            "INSERT INTO checkin_reminders (guild_id, user_id, at_time, days, updated_at)"
            " VALUES (?, ?, ?, 'every-day', ?)",
            reminder_rules(),
        ),
        ("INSERT INTO dm_channels (user_id, channel_id, opened_at) VALUES (?, ?, ?)", dm_rows()),
        (
            "INSERT INTO outbox (key, kind, guild_id, user_id, payload, due_at, deadline_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            itertools.chain(prompt_jobs(), reminder_jobs()),
        ),
    ]
    for sql, rows in steps:
        for chunk in _chunks(rows):
            async with db.transaction():
                await db.executemany(sql, chunk)
    total = servers * members_per_server
    return SeededServers(servers, servers, total, servers + total)


# --- processes ----------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one live process, in seconds (0 once it is gone)."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK if fields else 0.0


def tree_cpu_seconds(pid: int) -> float:
    """CPU of a process, its reaped children (`cutime + cstime`) and its live children: for the
    PostgreSQL postmaster, the whole server including backends that came and went."""
    fields = _stat(pid)
    if not fields:
        return 0.0
    total = sum(int(f) for f in fields[11:15]) / _CLK_TCK
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (child := _stat(int(entry.name))) and int(child[1]) == pid:
            total += (int(child[11]) + int(child[12])) / _CLK_TCK
    return total


def _stat(pid: int) -> list[str]:
    """/proc/<pid>/stat after the command name, so index 0 is field 3 (state), 11 utime."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return []
    return raw.rpartition(")")[2].split()


def memory_mb(pid: int, field_name: str = "VmRSS") -> float:
    """A process's `VmRSS` (now) or `VmHWM` (peak), in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field_name}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")
