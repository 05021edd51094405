"""Benchmark: Haven as a cluster — fan-out over 1, 2 and 4 processes, the outbox's claim
throughput, and start-up against 50,000 servers; PostgreSQL beside SQLite.

    python -m bench.cluster [--parts fanout,claims,startup] [--reminders 5000]
                            [--processes 1,2,4] [--servers 60] [--lead-in 20]
                            [--claim-jobs 50000] [--claim-processes 1,2,4]
                            [--startup-servers 50000] [--members-per-server 2]

PostgreSQL is a throwaway cluster started here (`tests/pgcluster.py`, tuned for speed over
durability as in the tests); SQLite is a temporary file. Each part prints a table.

**Fan-out** (`fanout`). `reminders` members over `servers` servers each have a daily check-in
reminder whose occurrence is pending in the outbox, every DM channel known to Haven and the fake,
MEMBERS_INTENT on: one request a reminder. The rows are seeded before the processes start, due
`lead-in` seconds later (the rule's minute, moved to that instant the way quiet hours move one),
so every process is up and armed when they fall due. N processes of the real bot
(`bench/botproc.py`) then share them: N = 1 runs unsharded (as today), N > 1 with
SHARD_COUNT=N and SHARD_IDS=i, the servers dealt evenly over the shards. The fake enforces
Discord's global limit as a sliding window of 50 requests a second. Printed per run: the
requests from the first to the last of the burst against the floor the limit sets
(`reminders` / 50 s; Haven paces at 45 a second, so its own floor is `reminders` / 45 s), the
429s, the jobs each process ran, each process's CPU seconds during the fan-out (`/proc`
utime + stime) and its peak RSS, and the PostgreSQL server's CPU during the fan-out (its
backends included), and the burst's requests by route. SQLite runs with one process only: a
SQLite file belongs to one process. With N > 1 any process runs any job, and a process DMing a
member of a server on another process's shard has no member list for it: it asks Discord
(`GET /guilds/…/members/…`, and the server itself once), so a reminder costs 1 + (N-1)/N
requests on average and the floor grows with it; the route counts show it.

**Claim throughput** (`claims`). The outbox alone, no Discord: `claim-jobs` jobs due now with a
handler that does nothing, drained by N worker processes, each one `Scheduler` on its own
connection pool calling `run_due()` until nothing is left (claims in batches of 64 with SKIP
LOCKED and a lease, each job then marked done: one statement per batch plus one per job).
Printed: jobs per second claimed and completed (all jobs / from the common start to the last
worker's end), each worker's share, its CPU, the server's CPU, and that every job ran exactly
once (every row `done` after one attempt).

**Start-up** (`startup`). A hosted Haven's database: `startup-servers` configured servers (a
daily prompt each) and `members-per-server` members each with a check-in reminder and a known
DM channel, every rule's next occurrence pending, keyed as the bot plans it. One process
starts against it (the fake holds only the default server: what is measured is the database's
weight): spawn → gateway IDENTIFY (discord.py connects after `setup_hook`: migrated, every
start-up job run — `ensure_all` over every rule — the scheduler armed, commands synced), spawn
→ first `/support` answered, RSS then and at peak, CPU seconds to IDENTIFY, and that start-up
added no outbox row.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import re
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import ROOT, machine, new_fake
from bench.pgcommon import (
    SeededReminders,
    add_members,
    add_servers,
    cpu_seconds,
    memory_mb,
    new_database,
    seed_servers,
    tree_cpu_seconds,
    write_reminders,
)
from bot.db import Database, open_database
from bot.scheduler import BATCH, Job, Scheduler
from bot.timeutil import to_db
from tests.fakediscord import FakeDiscord
from tests.pgcluster import PgCluster

GLOBAL_LIMIT = 50  # the fake's requests per second, as Discord's global limit
PACED = 45  # Haven's own pace (bot/pacing.py)
NOOP = "bench-noop"
EXEMPT = ("/interactions", "/webhooks")  # not under the global limit, at Discord or here


# --- processes ------------------------------------------------------------------------------


@dataclass
class Bot:
    """One bot process (`bench.botproc`) and what it wrote when it stopped."""

    label: str
    proc: asyncio.subprocess.Process
    stats_path: Path
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.proc.pid


async def spawn(fake: FakeDiscord, url: str, label: str, env: dict[str, str]) -> Bot:
    stats_path = Path(tempfile.mkdtemp(prefix="haven-bench-")) / "stats.json"
    environ = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "DATABASE_"))},
        "DISCORD_TOKEN": fake.token,
        "DISCORD_API_BASE": fake.api_base,
        "FAKE_DISCORD_GATEWAY": fake.gateway_url,
        "DATABASE_URL": url,
        "BENCH_STATS": str(stats_path),
        **env,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.botproc", env=environ, cwd=ROOT
    )
    return Bot(label, proc, stats_path)


async def stop(bots: Sequence[Bot]) -> None:
    for bot in bots:
        if bot.proc.returncode is None:
            bot.proc.send_signal(signal.SIGTERM)
    for bot in bots:
        await asyncio.wait_for(bot.proc.wait(), 60)
        if bot.stats_path.exists():
            bot.stats = json.loads(bot.stats_path.read_text())


@contextlib.asynccontextmanager
async def database(url: str) -> AsyncIterator[Database]:
    db = await open_database(url)
    try:
        yield db
    finally:
        await db.close()


def pg_cpu(cluster: PgCluster | None) -> float:
    if cluster is None or cluster.proc is None:
        return float("nan")
    return tree_cpu_seconds(cluster.proc.pid)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table (pastes into bench/README.md as it is)."""
    cells = [list(map(str, headers))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in cells
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def holder_pids(rows: Sequence[Any]) -> Counter[int]:
    """Jobs per process, from `claimed_by` (host:pid:token; a finished row keeps it)."""
    return Counter({int(r["claimed_by"].split(":")[-2]): r["n"] for r in rows if r["claimed_by"]})


# --- the fan-out ----------------------------------------------------------------------------


@dataclass
class FanOut:
    backend: str
    processes: int
    delivered: int = 0
    requests: int = 0
    took: float = float("nan")  # first request of the burst -> last
    due_to_last: float = float("nan")
    limited: int = 0
    jobs: list[int] = field(default_factory=list)  # per process
    cpu: list[float] = field(default_factory=list)  # per process, during the fan-out
    rss: list[float] = field(default_factory=list)  # per process, peak MB
    db_cpu: float = float("nan")
    late_start: float = 0.0  # seconds the last process became ready after the due instant
    kinds: Counter[str] = field(default_factory=Counter)  # the burst's requests by route


async def fan_out(
    backend: str, processes: int, args: argparse.Namespace, cluster: PgCluster | None
) -> FanOut:
    result = FanOut(backend, processes)
    fake = await new_fake(validate_spec=False, shards=processes)
    try:
        servers = add_servers(fake.world, args.servers, processes)
        seeded = add_members(fake.world, servers, args.reminders)
        url = await new_database(backend, cluster, "fanout")
        # A whole second: the outbox stores instants to the second.
        due = (datetime.now(UTC) + timedelta(seconds=args.lead_in)).replace(microsecond=0)
        minute = due.replace(second=0, microsecond=0)
        async with database(url) as db:
            await write_reminders(db, seeded, minute=minute, due=due, servers=servers)
        gc.collect()
        gc.freeze()  # the fake's world: out of the collector's way while it stamps requests
        fake.rate_limit_per_second = GLOBAL_LIMIT
        bots = []
        for i in range(processes):
            env = {"MEMBERS_INTENT": "true"}
            if processes > 1:
                env |= {"SHARD_COUNT": str(processes), "SHARD_IDS": str(i)}
            bots.append(await spawn(fake, url, f"{backend} {i}", env))
        try:
            await fake._wait_until(
                lambda: (
                    sum(s.connected for s in fake.gateway.sessions.values()) == processes or None
                ),
                120,
                "every shard",
            )
            ready = time.time() + 2.5  # discord.py's guild_ready_timeout before on_ready
            result.late_start = max(0.0, ready - due.timestamp())
            due_at = due.timestamp() + time.perf_counter() - time.time()  # perf_counter's scale
            await asyncio.sleep(max(0.0, due_at - time.perf_counter()))
            cpu0 = [cpu_seconds(b.pid) for b in bots]
            db0 = pg_cpu(cluster)
            await _delivered(fake, seeded, args.timeout)
            result.cpu = [cpu_seconds(b.pid) - c for b, c in zip(bots, cpu0, strict=True)]
            result.db_cpu = pg_cpu(cluster) - db0
            await _jobs_settled(url, seeded)
            async with database(url) as db:
                marks = ",".join("?" * len(seeded.keys))
                rows = await db.fetchall(
                    f"SELECT claimed_by, count(*) AS n FROM outbox WHERE key IN ({marks})"
                    " GROUP BY claimed_by",
                    seeded.keys,
                )
            per_pid = holder_pids(rows)
            result.jobs = [per_pid[b.pid] for b in bots]
        finally:
            await stop(bots)
        result.rss = [b.stats.get("peak_rss_mb", float("nan")) for b in bots]
        window = [c for c in fake.calls if c.at >= due_at and not c.path.startswith(EXEMPT)]
        dm = re.compile(seeded.posts)
        dms = [c for c in window if c.method == "POST" and c.status == 200 and dm.fullmatch(c.path)]
        result.delivered = sum(1 for c in seeded.channels if fake.messages_in(c))
        result.requests = len(window)
        result.limited = sum(1 for c in window if c.status == 429)
        result.kinds = Counter(
            f"{c.method} {re.sub(r'[0-9]{6,}', '…', c.path)} {c.status}" for c in window
        )
        if window and dms:
            result.took = max(c.at for c in dms) - min(c.at for c in window)
            result.due_to_last = max(c.at for c in dms) - due_at
    finally:
        gc.unfreeze()
        await fake.stop()
    return result


async def _delivered(fake: FakeDiscord, seeded: SeededReminders, timeout: float) -> None:  # noqa: ASYNC109
    """Wait until every member has a DM, or nothing new arrived for 15 s, or `timeout`."""
    start = last_change = time.monotonic()
    seen = -1
    while time.monotonic() - start < timeout:
        got = sum(1 for c in seeded.channels if fake.store.by_channel.get(c))
        if got == len(seeded.channels):
            return
        if got != seen:
            seen, last_change = got, time.monotonic()
        elif time.monotonic() - last_change > 15:
            return
        await asyncio.sleep(0.25)


async def _jobs_settled(url: str, seeded: SeededReminders) -> None:
    """Let the processes record how each job went before they are stopped."""
    marks = ",".join("?" * len(seeded.keys))
    async with database(url) as db:
        for _ in range(120):
            busy = await db.fetchval(
                f"SELECT count(*) FROM outbox WHERE key IN ({marks})"
                " AND state IN ('pending', 'running')",
                seeded.keys,
            )
            if not busy:
                return
            await asyncio.sleep(0.25)


def print_fan_outs(runs: Sequence[FanOut], reminders: int) -> None:
    floor, paced = reminders / GLOBAL_LIMIT, reminders / PACED
    rows = []
    for r in runs:
        rows.append(
            (
                f"{r.backend}, {r.processes} process{'es' if r.processes > 1 else ''}",
                f"{r.delivered:,}/{reminders:,}",
                f"{r.requests:,}",
                f"{r.took:.1f} s",
                f"{r.took / floor:.3f}×",
                f"{r.took / paced:.3f}×",
                f"{r.due_to_last:.1f} s",
                r.limited,
                " / ".join(f"{j:,}" for j in r.jobs),
                " / ".join(f"{c:.1f}" for c in r.cpu),
                f"{sum(r.cpu):.1f}",
                "—" if r.db_cpu != r.db_cpu else f"{r.db_cpu:.1f}",
                " / ".join(f"{m:.0f}" for m in r.rss),
            )
        )
    print(f"\nfan-out: {reminders:,} reminders, one request each; floor {floor:.0f} s at "
          f"{GLOBAL_LIMIT}/s (Haven's pace {PACED}/s: {paced:.1f} s)")  # fmt: skip
    print(
        table(
            (
                "run",
                "delivered",
                "requests",
                "first → last",
                "vs 50/s floor",
                "vs 45/s pace",
                "due → last DM",
                "429s",
                "jobs per process",
                "CPU s per process",
                "CPU s, all",
                "PostgreSQL CPU s",
                "peak RSS MB",
            ),
            rows,
        )
    )
    for r in runs:
        kinds = ", ".join(f"{k} × {n:,}" for k, n in r.kinds.most_common())
        print(f"  {r.backend} × {r.processes}: {kinds}")
        if r.late_start > 0:
            print(f"  note: {r.backend} × {r.processes}: the last process was ready "
                  f"{r.late_start:.1f} s after the due instant (raise --lead-in)")  # fmt: skip


# --- claim throughput -----------------------------------------------------------------------


async def _noop(job: Job) -> None:
    return None


async def claim_worker(url: str, start_at: float, concurrency: int) -> None:
    """One process draining the outbox: prints its figures as JSON."""
    async with database(url) as db:
        scheduler = Scheduler(db, concurrency=concurrency)
        scheduler.register(NOOP, _noop)
        await db.fetchval("SELECT count(*) FROM outbox")  # connect before the start
        await asyncio.sleep(max(0.0, start_at - time.time()))
        started, cpu0 = time.time(), sum(os.times()[:2])
        done = 0
        while True:
            summary = await scheduler.run_due()
            done += summary.done
            if not summary.done:
                break
        finished = time.time()
        cpu = sum(os.times()[:2]) - cpu0
    print(json.dumps({"done": done, "started": started, "finished": finished, "cpu": cpu}))


@dataclass
class Claims:
    backend: str
    workers: int
    jobs: int
    seconds: float = float("nan")
    per_worker: list[int] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    db_cpu: float = float("nan")
    once: bool = False


async def claims(
    backend: str, workers: int, args: argparse.Namespace, cluster: PgCluster | None
) -> Claims:
    result = Claims(backend, workers, args.claim_jobs)
    url = await new_database(backend, cluster, "claims")
    now = datetime.now(UTC)
    due, deadline = to_db(now - timedelta(minutes=1)), to_db(now + timedelta(days=1))
    async with database(url) as db:
        rows = [(f"{NOOP}:{i}", NOOP, "{}", due, deadline) for i in range(args.claim_jobs)]
        for at in range(0, len(rows), 10_000):
            async with db.transaction():
                await db.executemany(
                    "INSERT INTO outbox (key, kind, payload, due_at, deadline_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    rows[at : at + 10_000],
                )
    start_at = time.time() + 3.0  # every worker imported and connected by then
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.cluster",
            "--claim-worker",
            url,
            "--start-at",
            str(start_at),
            "--concurrency",
            str(args.concurrency),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
        )
        for _ in range(workers)
    ]
    await asyncio.sleep(max(0.0, start_at - time.time()))
    db0 = pg_cpu(cluster)
    outs = [json.loads((await p.communicate())[0]) for p in procs]
    result.db_cpu = pg_cpu(cluster) - db0
    result.seconds = max(o["finished"] for o in outs) - start_at
    result.per_worker = [o["done"] for o in outs]
    result.cpu = [o["cpu"] for o in outs]
    async with database(url) as db:
        states = await db.fetchall(
            "SELECT state, attempts, count(*) AS n FROM outbox GROUP BY state, attempts"
        )
    result.once = [(r["state"], r["attempts"], r["n"]) for r in states] == [
        ("done", 1, args.claim_jobs)
    ] and sum(result.per_worker) == args.claim_jobs
    return result


def print_claims(runs: Sequence[Claims]) -> None:
    print(f"\nclaim throughput: the outbox alone, a no-op handler, batches of {BATCH}")
    rows = [
        (
            f"{r.backend}, {r.workers} process{'es' if r.workers > 1 else ''}",
            f"{r.jobs:,}",
            f"{r.seconds:.1f} s",
            f"{r.jobs / r.seconds:,.0f}",
            " / ".join(f"{n:,}" for n in r.per_worker),
            " / ".join(f"{c:.1f}" for c in r.cpu),
            "—" if r.db_cpu != r.db_cpu else f"{r.db_cpu:.1f}",
            "yes" if r.once else "NO",
        )
        for r in runs
    ]
    print(
        table(
            (
                "run",
                "jobs",
                "took",
                "jobs/s",
                "jobs per process",
                "CPU s per process",
                "PostgreSQL CPU s",
                "each exactly once",
            ),
            rows,
        )
    )


# --- start-up against many servers ----------------------------------------------------------


@dataclass
class StartUp:
    backend: str
    servers: int
    jobs: int
    seeded_in: float = float("nan")
    identify: float = float("nan")
    first_answer: float = float("nan")
    cpu: float = float("nan")  # to IDENTIFY
    rss: float = float("nan")  # at the first answer
    peak_rss: float = float("nan")
    added: str = ""  # outbox rows start-up added, by kind


async def start_up(backend: str, args: argparse.Namespace, cluster: PgCluster | None) -> StartUp:
    url = await new_database(backend, cluster, "startup")
    began = time.perf_counter()
    async with database(url) as db:
        seeded = await seed_servers(
            db, args.startup_servers, args.members_per_server, now=datetime.now(UTC)
        )
        last = int(await db.fetchval("SELECT max(id) FROM outbox"))
    result = StartUp(backend, seeded.servers, seeded.jobs, time.perf_counter() - began)
    print(f"  start-up, {backend}: seeded {seeded.servers:,} servers, {seeded.jobs:,} pending "
          f"jobs in {result.seeded_in:.0f} s")  # fmt: skip
    fake = await new_fake(validate_spec=False)
    try:
        spawned = time.perf_counter()
        bot = await spawn(fake, url, backend, {})
        try:
            # Polled: the fake's own wake-up comes only after it sent every GUILD_CREATE.
            while fake.identify_count < 1:
                await asyncio.sleep(0.001)
                if bot.proc.returncode is not None:
                    raise RuntimeError(f"the bot exited ({bot.proc.returncode}) during start-up")
            result.identify = time.perf_counter() - spawned
            result.cpu = cpu_seconds(bot.pid)
            ix = await fake.slash("support")
            await ix.callback(timeout=120)
            result.first_answer = time.perf_counter() - spawned
            result.rss = memory_mb(bot.pid)
            async with database(url) as db:
                added = await db.fetchall(
                    "SELECT kind, count(*) AS n FROM outbox WHERE id > ? GROUP BY kind", (last,)
                )
            result.added = ", ".join(f"{r['n']} {r['kind']}" for r in added) or "none"
        finally:
            await stop([bot])
        result.peak_rss = bot.stats.get("peak_rss_mb", float("nan"))
    finally:
        await fake.stop()
    return result


def print_start_ups(runs: Sequence[StartUp], members: int) -> None:
    print(f"\nstart-up: one process, {members} member(s) with a reminder per server")
    rows = [
        (
            r.backend,
            f"{r.servers:,}",
            f"{r.jobs:,}",
            f"{r.seeded_in:.0f} s",
            f"{r.identify:.2f} s",
            f"{r.first_answer:.2f} s",
            f"{r.cpu:.1f}",
            f"{r.rss:.0f}",
            f"{r.peak_rss:.0f}",
            r.added,
        )
        for r in runs
    ]
    print(
        table(
            (
                "backend",
                "servers",
                "pending jobs",
                "seeded in",
                "spawn → IDENTIFY",
                "spawn → first answer",
                "CPU s to IDENTIFY",
                "RSS MB then",
                "peak RSS MB",
                "rows start-up added",
            ),
            rows,
        )
    )


# --- main -----------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> None:
    parts = set(args.parts.split(","))
    counts = [int(n) for n in args.processes.split(",") if n]
    workers = [int(n) for n in args.claim_processes.split(",") if n]
    print(f"bench.cluster on {machine()}")
    with PgCluster() as cluster:
        if "fanout" in parts:
            runs = [await fan_out("sqlite", 1, args, None)] if args.sqlite else []
            for n in counts:
                runs.append(await fan_out("postgresql", n, args, cluster))
                print_fan_outs(runs[-1:], args.reminders)  # as it goes: each run takes minutes
            print_fan_outs(runs, args.reminders)
        if "claims" in parts:
            done = [await claims("sqlite", 1, args, None)] if args.sqlite else []
            for n in workers:
                done.append(await claims("postgresql", n, args, cluster))
            print_claims(done)
        if "startup" in parts:
            starts = [await start_up("sqlite", args, None)] if args.sqlite else []
            starts.append(await start_up("postgresql", args, cluster))
            print_start_ups(starts, args.members_per_server)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--parts", default="fanout,claims,startup")
    parser.add_argument("--reminders", type=int, default=5000)
    parser.add_argument("--processes", default="1,2,4", help="bot processes on PostgreSQL")
    parser.add_argument("--servers", type=int, default=60, help="servers the reminders span")
    parser.add_argument(
        "--lead-in", type=float, default=20, help="seconds from seeding to the due instant"
    )
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for the DMs")
    parser.add_argument("--claim-jobs", type=int, default=50_000)
    parser.add_argument("--claim-processes", default="1,2,4")
    parser.add_argument("--concurrency", type=int, default=16, help="jobs a scheduler runs at once")
    parser.add_argument("--startup-servers", type=int, default=50_000)
    parser.add_argument("--members-per-server", type=int, default=2)
    parser.add_argument(
        "--sqlite",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run each part on SQLite with one process (default)",
    )
    parser.add_argument("--claim-worker", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--start-at", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.claim_worker:
        asyncio.run(claim_worker(args.claim_worker, args.start_at, args.concurrency))
        return
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
