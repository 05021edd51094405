"""Benchmark: 2,000 listening circles — start-up, memory, and a minute with 400 circle reminders.

    python -m bench.circles [--circles 2000] [--servers 4] [--members 2000] [--due 50]
                            [--seats 8] [--lead-in 60] [--no-members-intent]

Seeds a database the way `bot/circles/` leaves one: `circles` circles spread over `servers`
servers, each with its next 8 sessions materialised (`circle_sessions`), `seats` members
"going" to the next session (`circle_rsvps`), and each session's outbox work exactly as
`Circles._schedule_work` writes it (`circle-start:<session>` at its start;
`circle-reminder:<session>:<lead>` for the default leads of 24 h and 1 h, when still ahead).
Every member's DM channel is already known, to Haven (`dm_channels`) and to the fake. `due`
circles meet one hour after the coming "due minute", so their 1-hour reminders fall due at
the same instant: `due` × `seats` reminder DMs (400 by default); nothing else is due until long
after the run.

Then the real bot starts in its own process against the fake Discord, whose 50 requests/second
global limit is on, and the benchmark prints:
- start-up: from spawning the process to its gateway IDENTIFY. discord.py connects only after
  `setup_hook` returns, so by then the database is migrated, `Circles.ensure_all` (and every
  other start-up job) has run, the scheduler has armed its alarm over every pending job, and
  the command tree is synced. Also the time until a first `/support` is answered, and checks
  that every seeded job is still pending and that `ensure_all` had nothing to plan. (discord.py
  dispatches `on_ready`, which opens the scheduler's gate, a fixed 2 s after the last
  GUILD_CREATE — its `guild_ready_timeout` — and nothing the fake sees marks it);
- the bot's peak RSS (`VmHWM`, read as it exits after the fan-out);
- the fan-out: from the due minute until the fake has received every reminder DM, against the
  floor the global limit allows (`due` × `seats` × requests per DM / 50), the ratio, the
  429s, the event-loop lag in the bot meanwhile, and what the reminder jobs recorded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import sqlite3
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from zoneinfo import ZoneInfo

from bench.common import machine, new_fake, running_bot
from bot.circles import AHEAD, DEFAULT_REMINDERS, REMINDER, START
from bot.db.migrate import load_migrations
from bot.recurrence import weekly_occurrences
from bot.timeutil import format_hhmm, to_db
from tests.fakediscord import CH_CIRCLES, GUILD, FakeDiscord

TARGET_STARTUP_S, TARGET_RSS_MB, TARGET_RATIO = 3.0, 200.0, 1.2
GLOBAL_LIMIT = 50  # the fake's requests per second, as Discord's global limit
LEAD = 60  # the reminder that falls due: one hour before the session
QUIET_FOR = timedelta(hours=25)  # other circles' first session: nothing of theirs comes due

ZONES = (
    "UTC",
    "Europe/London",
    "Europe/Berlin",
    "America/New_York",
    "America/Los_Angeles",
    "Asia/Tokyo",
    "Australia/Sydney",
)
KINDS = ("Grief", "Sunday", "Evening", "New parents", "Quiet", "Sober", "Caregivers", "Morning")
DURATIONS = (60, 75, 90)
CADENCES = (1, 1, 1, 2, 4)
MODES = ("share", "listen", "text")


@dataclass
class Seeded:
    circles: int = 0
    sessions: int = 0
    rsvps: int = 0
    jobs: int = 0  # pending outbox rows of circle kinds
    members: int = 0
    due_users: list[int] = field(default_factory=list)  # who gets a reminder at the due minute
    due_jobs: int = 0


def new_database(path: Path) -> sqlite3.Connection:
    """The real schema (every migration), as `python -m bot` would leave it."""
    db = sqlite3.connect(path)
    for migration in load_migrations():
        db.executescript(migration.sql)
    db.execute(f"PRAGMA user_version = {len(load_migrations())}")
    db.execute("PRAGMA synchronous = OFF")  # a throwaway file: no need to survive a crash
    return db


def _ceil_quarter(instant: datetime) -> datetime:
    instant = instant.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return instant + timedelta(minutes=-instant.minute % 15)


def seed(
    path: Path,
    fake: FakeDiscord,
    *,
    circles: int,
    servers: int,
    members: int,
    due_circles: int,
    seats: int,
    due: datetime,
    now: datetime,
) -> Seeded:
    """Build the world in the fake and the matching database; see the module docstring."""
    if due_circles > circles:
        raise SystemExit("--due cannot exceed --circles")
    if seats > members:
        raise SystemExit("--seats cannot exceed --members")
    rng = random.Random(11)
    world = fake.world
    stamp = to_db(now)
    guilds = [GUILD] + [world.add_guild(f"Haven bench {s}") for s in range(1, servers)]
    channels = [CH_CIRCLES] + [world.add_channel("circles", guild_id=g) for g in guilds[1:]]
    pools = [
        [world.add_user(f"m{s}-{j}", member_of=g) for j in range(members)]
        for s, g in enumerate(guilds)
    ]
    # Members who get a due reminder are distinct, so "every DM arrived" is one DM each.
    fresh = [iter(rng.sample(pool, len(pool))) for pool in pools]
    due_ix = set(rng.sample(range(circles), due_circles))
    busiest = max(Counter(i % servers for i in due_ix).values(), default=0)
    if busiest * seats > members:
        raise SystemExit(
            f"--members {members} is too few: one server has {busiest} due circles, whose "
            f"{busiest * seats} reminded members must be distinct"
        )
    starts_at = due + timedelta(minutes=LEAD)
    quiet_from = _ceil_quarter(now + QUIET_FOR)
    seeded = Seeded()

    db = new_database(path)
    db.executemany(
        "INSERT INTO guild_config (guild_id, circle_channel_id, timezone, updated_at)"
        " VALUES (?, ?, 'UTC', ?)",
        [(g, c, stamp) for g, c in zip(guilds, channels, strict=True)],
    )
    circle_rows, session_rows, rsvp_rows, outbox_rows = [], [], [], []
    session_id = rsvp_id = 0
    for i in range(circles):
        cid = i + 1
        s = i % servers
        guild = guilds[s]
        zone = ZoneInfo(rng.choice(ZONES))
        every = 1 if i in due_ix else rng.choice(CADENCES)
        duration = rng.choice(DURATIONS)
        while True:
            if i in due_ix:
                first = starts_at
            else:
                spread = timedelta(minutes=15 * rng.randrange(7 * 24 * 4 * every))
                first = quiet_from + spread
            local = first.astimezone(zone)
            weekday, at, anchor = local.weekday(), local.time().replace(tzinfo=None), local.date()
            planned = list(
                islice(weekly_occurrences(f"c:{cid}", now, weekday, at, zone, every, anchor), AHEAD)
            )
            if i in due_ix:
                assert planned[0].due == starts_at, (planned[0], starts_at)
                break
            if planned[0].due >= now + QUIET_FOR:
                break  # else a DST gap moved it: draw again
        circle_rows.append(
            (
                cid,
                guild,
                f"{KINDS[i % len(KINDS)]} circle {cid}",
                "A listening circle: witness, don't fix.",
                weekday,
                format_hhmm(at),
                zone.key,
                every,
                anchor.isoformat(),
                duration,
                rng.randrange(seats, max(seats, 12) + 1),
                rng.choice(pools[s]),
                ",".join(map(str, DEFAULT_REMINDERS)),
                stamp,
                stamp,
            )
        )
        for n, occ in enumerate(planned):
            session_id += 1
            start, end = occ.due, occ.due + timedelta(minutes=duration)
            session_rows.append(
                (session_id, cid, guild, occ.key.rsplit(":", 1)[1], to_db(start), to_db(end))
            )
            # Circles._schedule_work, as it ran when this session was planned (now).
            outbox_rows.append(
                (
                    f"{START}:{session_id}",
                    START,
                    guild,
                    json.dumps({"session": session_id}),
                    to_db(start),
                    to_db(end),
                )
            )
            for lead in DEFAULT_REMINDERS:
                at_lead = start - timedelta(minutes=lead)
                if at_lead <= now:
                    continue
                outbox_rows.append(
                    (
                        f"{REMINDER}:{session_id}:{lead}",
                        REMINDER,
                        guild,
                        json.dumps({"session": session_id, "lead": lead}),
                        to_db(at_lead),
                        to_db(start),
                    )
                )
                seeded.due_jobs += at_lead == due
            if n:
                continue
            going = (
                [next(fresh[s]) for _ in range(seats)]
                if i in due_ix
                else rng.sample(pools[s], seats)
            )
            if i in due_ix:
                seeded.due_users += going
            for user in going:
                rsvp_id += 1
                rsvp_rows.append(
                    (rsvp_id, session_id, guild, user, rng.choice(MODES), "going", stamp)
                )
    db.executemany(
        "INSERT INTO circles (id, guild_id, name, description, weekday, at_time, timezone,"
        " every_weeks, anchor, duration_min, capacity, host_id, reminders, created_at,"
        " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        circle_rows,
    )
    db.executemany(
        "INSERT INTO circle_sessions (id, circle_id, guild_id, local_date, starts_at, ends_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        session_rows,
    )
    db.executemany(
        "INSERT INTO circle_rsvps (id, session_id, guild_id, user_id, mode, status, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        rsvp_rows,
    )
    db.executemany(
        "INSERT INTO outbox (key, kind, guild_id, payload, due_at, deadline_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        outbox_rows,
    )
    # Opened before (by an earlier run of the bot): Discord and Haven both know them.
    everyone = [u for pool in pools for u in pool]
    db.executemany(
        "INSERT INTO dm_channels (user_id, channel_id, opened_at) VALUES (?, ?, ?)",
        [(u, world.dm_channel(u).id, stamp) for u in everyone],
    )
    db.commit()
    db.execute("PRAGMA journal_mode = WAL")
    db.close()
    seeded.circles, seeded.sessions, seeded.rsvps = circles, len(session_rows), len(rsvp_rows)
    seeded.jobs, seeded.members = len(outbox_rows), len(everyone)
    return seeded


def _pending_circle_work(path: Path) -> tuple[int, int]:
    """(pending circle jobs, sessions) in the bot's database, read beside the running bot."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        jobs = db.execute(
            "SELECT count(*) FROM outbox WHERE state = 'pending' AND kind IN (?, ?)",
            (START, REMINDER),
        ).fetchone()[0]
        sessions = db.execute("SELECT count(*) FROM circle_sessions").fetchone()[0]
    return int(jobs), int(sessions)


def _due_outcomes(path: Path, due: datetime) -> Counter[str]:
    """What the due reminder jobs recorded: `state (note)` → how many."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT state, note FROM outbox WHERE kind = ? AND due_at = ?",
            (REMINDER, to_db(due)),
        ).fetchall()
    return Counter(f"{state}" + (f" ({note})" if note else "") for state, note in rows)


async def start_up_marks(fake: FakeDiscord, spawned: float, identified: int) -> dict[str, float]:
    """Seconds from spawning the bot to its IDENTIFY, and to a first answered `/support`."""
    # Polled, not awaited: the fake's own wake-up comes only after it has built and sent
    # every GUILD_CREATE, which would count the fake's work as the bot's.
    while fake.identify_count <= identified:  # noqa: ASYNC110
        await asyncio.sleep(0.001)
    marks = {"identify": time.perf_counter() - spawned}
    ix = await fake.slash("support")
    await ix.callback(timeout=60)
    marks["first answer"] = time.perf_counter() - spawned
    return marks


async def run(args: argparse.Namespace) -> None:
    fake = await new_fake(validate_spec=False)
    try:
        await bench(fake, args)
    finally:
        await fake.stop()


async def bench(fake: FakeDiscord, args: argparse.Namespace) -> None:
    now = datetime.now(UTC)
    due = (now + timedelta(seconds=args.lead_in)).replace(second=0, microsecond=0)
    due += timedelta(minutes=1)
    db_path = Path(tempfile.mkdtemp()) / "haven.db"
    started = time.perf_counter()
    seeded = seed(
        db_path,
        fake,
        circles=args.circles,
        servers=args.servers,
        members=args.members,
        due_circles=args.due,
        seats=args.seats,
        due=due,
        now=now,
    )
    count = len(seeded.due_users)
    per_dm = 1 + (not args.members_intent)
    print(f"circles: seeded {seeded.circles:,} circles over {args.servers} servers, "
          f"{seeded.sessions:,} sessions, {seeded.rsvps:,} RSVPs, {seeded.jobs:,} pending jobs, "
          f"{seeded.members:,} members with known DM channels in "
          f"{time.perf_counter() - started:.1f} s on {machine()}")  # fmt: skip

    fake.rate_limit_per_second = GLOBAL_LIMIT
    env = {"MEMBERS_INTENT": "true" if args.members_intent else "false"}
    spawned = time.perf_counter()
    probe = asyncio.create_task(start_up_marks(fake, spawned, fake.identify_count))
    async with running_bot(fake, db_path, extra_env=env) as bot:
        marks = await probe
        jobs, sessions = _pending_circle_work(db_path)
        syncs = [
            c.at - spawned
            for c in fake.calls
            if c.method == "PUT"
            and re.fullmatch(r"/applications/\d+(/guilds/\d+)?/commands", c.path)
        ]
        print(f"  start-up: IDENTIFY (setup_hook done: migrated, ensure_all run, scheduler "
              f"armed, commands synced) {marks['identify']:.2f} s after spawn "
              f"(target < {TARGET_STARTUP_S:.0f} s); commands synced at "
              + (f"{syncs[-1]:.2f} s" if syncs else "— (not synced)")
              + f"; first /support answered at {marks['first answer']:.2f} s")  # fmt: skip
        print(f"  every job scheduled: {jobs:,}/{seeded.jobs:,} circle jobs pending; "
              f"ensure_all planned {sessions - seeded.sessions} new session(s)")  # fmt: skip
        print(f"  fan-out: {count:,} reminder DMs ({seeded.due_jobs} jobs) due at "
              f"{due:%H:%M:%S} UTC (in {(due - datetime.now(UTC)).total_seconds():.0f} s); "
              f"{per_dm} request(s) a DM")  # fmt: skip
        offset = time.perf_counter() - time.time()
        due_at = due.timestamp() + offset  # the due minute on perf_counter's scale
        await asyncio.sleep(max(0.0, due_at - time.perf_counter()))
        limited_before = fake.count_429
        dm_ids = {fake.world.dm_channel(u).id for u in seeded.due_users}
        quiet_since = time.perf_counter()
        seen = 0
        while time.perf_counter() - due_at < args.timeout:
            received = sum(1 for u in seeded.due_users if fake.dms_to(u))
            if received == count:
                break
            if received != seen:
                seen, quiet_since = received, time.perf_counter()
            outcomes = _due_outcomes(db_path, due)
            busy = outcomes["pending"] + outcomes["running"]
            if not busy and time.perf_counter() - quiet_since > 5:
                break  # every job finished, and nothing more is arriving
            await asyncio.sleep(0.25)
        window_end = time.time()
        for _ in range(120):  # let the jobs record how they went before the bot stops
            outcomes = _due_outcomes(db_path, due)
            if not outcomes["pending"] + outcomes["running"]:
                break
            await asyncio.sleep(0.25)
    outcomes = _due_outcomes(db_path, due)
    dms = [
        c
        for c in fake.calls
        if c.at >= due_at
        and c.method == "POST"
        and c.status == 200
        and (m := re.fullmatch(r"/channels/(\d+)/messages", c.path))
        and int(m.group(1)) in dm_ids
    ]
    window = [
        c
        for c in fake.calls
        if c.at >= due_at and not c.path.startswith(("/interactions", "/webhooks"))
    ]
    received = sum(1 for u in seeded.due_users if fake.dms_to(u))
    floor = count * per_dm / GLOBAL_LIMIT
    print("  reminder jobs: " + ", ".join(f"{n} {what}" for what, n in outcomes.most_common()))
    if dms:
        took = max(c.at for c in dms) - due_at
        first = min(c.at for c in window) - due_at
        print(f"  delivered {received:,}/{count:,} DMs with {len(window):,} requests "
              f"(floor {count * per_dm:,}); first request {first:.2f} s after the due minute, "
              f"last DM {took:.2f} s; the {GLOBAL_LIMIT}/s floor is {floor:.1f} s -> "
              f"{took / floor:.3f}x (target <= {TARGET_RATIO}x)")  # fmt: skip
        worst, p99 = bot.loop_lag_ms(due.timestamp(), window_end)
        print(f"  event-loop lag in the bot during the fan-out: worst {worst:.1f} ms, "
              f"p99 {p99:.1f} ms")  # fmt: skip
    else:
        print(f"  delivered 0/{count:,} DMs: the reminder jobs sent nothing")
    print(f"  429 responses during the fan-out: {fake.count_429 - limited_before} (target 0; "
          f"{fake.count_429} in the run); fake rejections: {len(fake.rejections)}")  # fmt: skip
    print(f"  bot peak RSS {bot.stats.get('peak_rss_mb', float('nan')):.0f} MB "
          f"(target < {TARGET_RSS_MB:.0f} MB)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--circles", type=int, default=2000)
    parser.add_argument("--servers", type=int, default=4)
    parser.add_argument("--members", type=int, default=2000, help="members per server")
    parser.add_argument("--due", type=int, default=50, help="sessions whose 1-hour reminder is due")
    parser.add_argument("--seats", type=int, default=8, help="members going to each next session")
    parser.add_argument(
        "--lead-in", type=int, default=60, help="at least this many seconds before the due minute"
    )
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for the DMs")
    parser.add_argument(
        "--members-intent",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run with MEMBERS_INTENT (default); --no-members-intent asks before each DM",
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
