"""Benchmark: 100 mixed interactions a second for 60 seconds while a scheduled fan-out runs.

    python -m bench.load [--rate 100] [--seconds 60] [--reminders 3000] [--circles 24]
                         [--due-circles 8] [--members 600] [--pool 400] [--lead-in 15]

The world, seeded with SQL in the shapes the bot writes (one server): `circles` circles
(`bench.circles.seed`: sessions, RSVPs, outbox work); `members` members, of whom the `pool` who
send commands have 30 days of check-ins and 120 buddy pairs among them; check-in, circle and
moderator channels; every DM channel known to Haven and the fake. The fan-out: `reminders` more
members have a check-in reminder at the "due minute", and `due-circles` circles meet an hour
after it, so their 1-hour reminders (8 seats each) fall due then too; the fake's 50/s global
limit is on and MEMBERS_INTENT too (one request a DM). 3,064 DMs by default: at Haven's 45/s
they outlast the window.

From the due minute the fake sends `rate` interactions a second for `seconds`, a weighted mix
(`MIX`) of member and moderator commands across the pillars, each doing real work: `/support`;
`/checkin` with options (some shared to the channel or the buddy: deferred, then a paced post or
DM) and without (the picker modal), then the modal submitted; `/my timezone` (set and view),
`/my checkins` (query and chart), `/my data`, `/my privacy`, `/my reminder`; `/circle list`,
`/circle info` (with its calendar file), `/circle join` (and "I agree" the first time),
`/circle leave` (a freed seat goes to the waitlist by DM); `/buddy status`; `/host roster` by the
circle's host; `/haven status` by a moderator; autocomplete for circles and zones. The harness
tracks who holds which place, so joins and leaves are never refused; they use only circles not
due, so the fan-out's recipients stay exactly the seeded ones.

Latency is from the fake sending INTERACTION_CREATE to the bot's initial response arriving, as in
`bench.interactions` (and, for deferred answers, to the follow-up). Errors, which must be zero:
no accepted initial response within 3 s; any non-2xx the fake gave the bot (429s counted apart,
target 0); any ERROR or traceback in the bot's log (its stderr; `bench.botproc` logs errors
only); a "Something went wrong" answer. Kind refusals are counted too (expected 0). Also: every
recipient's DM count (exactly one each), the fan-out's time against the 50/s floor (alone, and
with the commands' own paced requests, which share the budget), the bot's peak RSS (VmHWM), its
event-loop lag and CPU time, and the harness's own loop lag and the machine's load average: the
fake runs in this process, so a stall here (or another program on the machine) shows up in the
latencies. The fake, as Discord, does not count interaction callbacks and follow-ups against
the global limit, and Haven does not pace them: initial responses never queue behind the
fan-out; a command's channel post or DM does.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import re
import sqlite3
import tempfile
import time
from collections import Counter, defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Generic, TypeVar

from bench.botproc import loop_probe
from bench.circles import ZONES, seed
from bench.common import BotProcess, machine, new_fake, percentile, running_bot
from bot.checkins import FEELINGS
from bot.timeutil import to_db
from tests.fakediscord import CH_CHECKINS, CH_MODS, GUILD, MONA, Call, FakeDiscord, Interaction

TARGET_P99_MS, TARGET_RATIO = 100.0, 1.2
GLOBAL_LIMIT = 50  # the fake's requests per second, as Discord's global limit
DEADLINE = 3.0  # Discord's (and the fake's) limit for the initial response
SEATS = 8
HISTORY_DAYS = 30
BUDDY_PAIRS = 120
NOTES = ("a long day, but okay", "slept badly", "tea with a friend", "quiet morning walk")
MODES = ("share", "listen", "text")
CIRCLE_QUERIES = ("", "gr", "eve", "circle", "sun", "quiet", "care", "1")
ZONE_QUERIES = ("", "lon", "new", "europe/", "tok", "syd", "berl", "america/l")
# Text in an answer that means the command refused (the mix is built so nothing should).
REFUSALS = re.compile(
    r"You already|nothing to leave|isn't available to you|Only the host|has no session coming"
    r"|I couldn't use|isn't a member|for the server's moderators|Let's take a breath"
)
BROKEN = "Something went wrong on my side"

# kind -> weight (of 100). Follow-ups fall back to their opener when none is waiting.
MIX: dict[str, int] = {
    "support": 8,
    "checkin": 12,
    "checkin picker": 7,
    "checkin submit": 6,
    "my timezone": 5,
    "my timezone (view)": 3,
    "my checkins": 3,
    "my data": 2,
    "my privacy": 2,
    "my reminder": 2,
    "circle list": 6,
    "circle info": 6,
    "circle join": 5,
    "circle agree": 3,
    "circle leave": 4,
    "buddy status": 8,
    "host roster": 3,
    "haven status": 2,
    "autocomplete circle": 7,
    "autocomplete zone": 4,
}

T = TypeVar("T")


class Bag(Generic[T]):
    """A set with O(1) random pick-and-remove."""

    def __init__(self, items: Iterable[T] = ()) -> None:
        self._items: list[T] = []
        self._where: dict[T, int] = {}
        for item in items:
            self.add(item)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, item: object) -> bool:
        return item in self._where

    def add(self, item: T) -> None:
        if item not in self._where:
            self._where[item] = len(self._items)
            self._items.append(item)

    def pop_random(self, rng: random.Random) -> T:
        i = rng.randrange(len(self._items))
        item, last = self._items[i], self._items[-1]
        self._items[i] = last
        self._where[last] = i
        self._items.pop()
        del self._where[item]
        return item


# --- the seeded world -----------------------------------------------------------------------


@dataclass
class World:
    pool: list[int]  # members who send commands
    circles: list[int]
    open_circles: list[int]  # not due: joins and leaves happen here
    hosts: dict[int, int]  # circle -> host
    holding: set[tuple[int, int]]  # (member, circle) with a place at its next session
    agreed: set[tuple[int, int]]
    buddied: list[int]  # members with a buddy profile
    paired: list[int]  # members with a buddy
    recipients: list[int]  # everyone the fan-out DMs, once each
    checkins: int = 0


def build(
    path: Path, fake: FakeDiscord, args: argparse.Namespace, due: datetime, now: datetime
) -> World:
    rng = random.Random(args.seed)
    seeded = seed(
        path,
        fake,
        circles=args.circles,
        servers=1,
        members=args.members,
        due_circles=args.due_circles,
        seats=SEATS,
        due=due,
        now=now,
    )
    world = fake.world
    due_users = set(seeded.due_users)
    members = [u for u in world.guilds[GUILD].members if world.users[u].username.startswith("m0-")]
    pool = [u for u in members if u not in due_users][: args.pool]
    if len(pool) < args.pool:
        raise SystemExit(f"--members {args.members} leaves only {len(pool)} for the pool")
    reminded = [world.add_user(f"r{i}") for i in range(args.reminders)]
    stamp = to_db(now)
    db = sqlite3.connect(path)
    db.execute(
        "UPDATE guild_config SET checkin_channel_id = ?, mod_channel_id = ? WHERE guild_id = ?",
        (CH_CHECKINS, CH_MODS, GUILD),
    )
    db.executemany(
        "INSERT INTO checkin_reminders (guild_id, user_id, at_time, days, updated_at)"
        " VALUES (?, ?, ?, 'every-day', ?)",
        [(GUILD, u, due.strftime("%H:%M"), stamp) for u in reminded],
    )
    db.executemany(
        "INSERT INTO dm_channels (user_id, channel_id, opened_at) VALUES (?, ?, ?)",
        [(u, world.dm_channel(u).id, stamp) for u in reminded],
    )
    feelings = list(FEELINGS)
    rows = [
        (
            GUILD,
            u,
            to_db(now - timedelta(days=day, minutes=rng.randrange(600))),
            rng.choice(feelings),
            rng.choice((None, 1, 2, 3, 4, 5)),
            rng.choice((*NOTES, None, None)),
        )
        for u in pool
        for day in range(HISTORY_DAYS, 0, -1)
    ]
    db.executemany(
        "INSERT INTO checkins (guild_id, user_id, created_at, feeling, capacity, note, share)"
        " VALUES (?, ?, ?, ?, ?, ?, 'private')",
        rows,
    )
    buddied = pool[: BUDDY_PAIRS * 2 + 80]
    db.executemany(
        "INSERT INTO buddy_profiles (guild_id, user_id, joined_at, updated_at) VALUES (?, ?, ?, ?)",
        [(GUILD, u, stamp, stamp) for u in buddied],
    )
    paired = buddied[: BUDDY_PAIRS * 2]
    for n in range(BUDDY_PAIRS):
        pair_id = db.execute(
            "INSERT INTO buddy_pairs (guild_id, started_at) VALUES (?, ?)",
            (GUILD, to_db(now - timedelta(days=rng.randrange(1, 40)))),
        ).lastrowid
        db.executemany(
            "INSERT INTO buddy_members (pair_id, user_id) VALUES (?, ?)",
            [(pair_id, paired[2 * n]), (pair_id, paired[2 * n + 1])],
        )
    hosts = dict(db.execute("SELECT id, host_id FROM circles").fetchall())
    circles = sorted(hosts)
    due_circles = {
        int(cid)
        for (cid,) in db.execute(
            "SELECT DISTINCT circle_id FROM circle_sessions WHERE starts_at = ?",
            (to_db(due + timedelta(hours=1)),),
        )
    }
    open_circles = [c for c in circles if c not in due_circles]
    in_pool = set(pool)
    holding = {
        (u, c)
        for u, c in db.execute(
            "SELECT r.user_id, s.circle_id FROM circle_rsvps r"
            " JOIN circle_sessions s ON s.id = r.session_id"
        )
        if u in in_pool
    }
    # Most have been to a circle before (agreed); a quarter see the agreements first.
    agreed = {(u, c) for u in pool for c in circles if rng.random() < 0.75} | holding
    db.executemany(
        "INSERT INTO circle_agreements (circle_id, guild_id, user_id, agreed_at)"
        " VALUES (?, ?, ?, ?)",
        [(c, GUILD, u, stamp) for u, c in agreed],
    )
    db.commit()
    db.close()
    return World(
        pool=pool,
        circles=circles,
        open_circles=open_circles,
        hosts=hosts,
        holding=holding,
        agreed=agreed,
        buddied=buddied,
        paired=paired,
        recipients=reminded + seeded.due_users,
        checkins=len(rows),
    )


# --- the mix --------------------------------------------------------------------------------


@dataclass
class Sent:
    kind: str
    ix: Interaction
    pair: tuple[int, int] | None = None
    scheduled: float = 0.0  # perf_counter when it was meant to go


def replied(ix: Interaction) -> bool:
    """The visible answer is there (after a defer: the follow-up)."""
    if ix.followup_messages:
        return True
    return ix.original is not None and not ix.original.loading


class Mix:
    """Chooses and sends the next interaction, keeping track of places held."""

    def __init__(self, fake: FakeDiscord, world: World, rng: random.Random) -> None:
        self.fake, self.world, self.rng = fake, world, rng
        self.kinds, self.weights = list(MIX), list(MIX.values())
        opened = set(world.open_circles)
        self.free = Bag(
            (u, c) for u in world.pool for c in world.open_circles if (u, c) not in world.holding
        )
        self.holding = Bag(p for p in world.holding if p[1] in opened)
        self.agreed = set(world.agreed)
        self.paired = set(world.paired)
        self.pickers: deque[Sent] = deque()  # /checkin answered with the picker
        self.agreements: deque[Sent] = deque()  # /circle join answered with the agreements
        self.watch: list[Sent] = []  # sent, whose answer changes what may come next

    def settle(self) -> None:
        """Move places along as their answers arrive."""
        still = []
        for sent in self.watch:
            ix = sent.ix
            if sent.kind == "checkin picker" and ix.callback_type == 9:
                self.pickers.append(sent)
            elif sent.kind == "circle join" and ix.callback_body is not None and sent.pair:
                if sent.pair in self.agreed:
                    self.holding.add(sent.pair)
                elif ix.original is not None:
                    self.agreements.append(sent)
            elif sent.kind == "circle agree" and ix.callback_body is not None and sent.pair:
                self.agreed.add(sent.pair)
                self.holding.add(sent.pair)
            elif sent.kind == "circle leave" and replied(ix) and sent.pair:
                self.free.add(sent.pair)
            else:
                still.append(sent)
        self.watch = still

    async def send(self) -> Sent:
        kind = self.rng.choices(self.kinds, self.weights)[0]
        if kind == "checkin submit" and not self.pickers:
            kind = "checkin picker"
        if kind == "circle agree" and not self.agreements:
            kind = "circle join"
        if kind == "circle leave" and not self.holding:
            kind = "circle join"
        if kind == "circle join" and not self.free:
            kind = "circle leave"
        sent = await self._send(kind)
        if kind in ("checkin picker", "circle join", "circle agree", "circle leave"):
            self.watch.append(sent)
        return sent

    async def _send(self, kind: str) -> Sent:
        fake, rng, w = self.fake, self.rng, self.world
        user = rng.choice(w.pool)
        if kind == "support":
            return Sent(kind, await fake.slash("support", user=user))
        if kind == "checkin":
            share = rng.choices(("private", "channel", "anonymous", "buddy"), (75, 10, 5, 10))[0]
            if share == "buddy" and user not in self.paired:
                user = rng.choice(w.paired)
            options: dict[str, Any] = {"feeling": rng.choice(list(FEELINGS)), "share": share}
            if rng.random() < 0.6:
                options["capacity"] = rng.randint(1, 5)
            if rng.random() < 0.5:
                options["note"] = rng.choice(NOTES)
            return Sent(kind, await fake.slash("checkin", user=user, **options))
        if kind == "checkin picker":
            return Sent(kind, await fake.slash("checkin", user=user))
        if kind == "checkin submit":
            opener = self.pickers.popleft()
            values: dict[str, object] = {"feeling": [rng.choice(list(FEELINGS))]}
            if rng.random() < 0.5:
                values["note"] = rng.choice(NOTES)
            return Sent(kind, await fake.submit_modal(opener.ix, values))
        if kind == "my timezone":
            zone = rng.choice(ZONES)
            return Sent(kind, await fake.slash("my", "timezone", user=user, zone=zone))
        if kind == "my timezone (view)":
            return Sent(kind, await fake.slash("my", "timezone", user=user))
        if kind == "my checkins":
            return Sent(kind, await fake.slash("my", "checkins", user=user, days=14))
        if kind == "my data":
            return Sent(kind, await fake.slash("my", "data", user=user))
        if kind == "my privacy":
            return Sent(kind, await fake.slash("my", "privacy", user=user))
        if kind == "my reminder":
            at = f"{rng.randrange(24):02d}:{rng.choice((0, 15, 30, 45)):02d}"
            return Sent(kind, await fake.slash("my", "reminder", user=user, time=at))
        if kind == "circle list":
            return Sent(kind, await fake.slash("circle", "list", user=user))
        if kind == "circle info":
            circle = str(rng.choice(w.circles))
            return Sent(kind, await fake.slash("circle", "info", user=user, circle=circle))
        if kind == "circle join":
            member, circle_id = pair = self.free.pop_random(rng)
            ix = await fake.slash(
                "circle", "join", user=member, circle=str(circle_id), mode=rng.choice(MODES)
            )
            return Sent(kind, ix, pair)
        if kind == "circle agree":
            opener = self.agreements.popleft()
            assert opener.pair is not None and opener.ix.original is not None
            ix = await fake.click(opener.ix.original, "I agree", user=opener.pair[0])
            return Sent(kind, ix, opener.pair)
        if kind == "circle leave":
            member, circle_id = pair = self.holding.pop_random(rng)
            ix = await fake.slash("circle", "leave", user=member, circle=str(circle_id))
            return Sent(kind, ix, pair)
        if kind == "buddy status":
            member = rng.choice(w.buddied) if rng.random() < 0.8 else user
            return Sent(kind, await fake.slash("buddy", "status", user=member))
        if kind == "host roster":
            circle_id = rng.choice(w.circles)
            ix = await fake.slash("host", "roster", user=w.hosts[circle_id], circle=str(circle_id))
            return Sent(kind, ix)
        if kind == "haven status":
            return Sent(kind, await fake.slash("haven", "status", user=MONA))
        if kind == "autocomplete circle":
            command = rng.choice(("circle info", "circle join", "circle leave"))
            query = rng.choice(CIRCLE_QUERIES)
            ix = await fake.autocomplete(command, focused="circle", user=user, circle=query)
            return Sent(kind, ix)
        if kind == "autocomplete zone":
            query = rng.choice(ZONE_QUERIES)
            ix = await fake.autocomplete("my timezone", focused="zone", user=user, zone=query)
            return Sent(kind, ix)
        raise ValueError(kind)


async def drive(mix: Mix, rate: float, count: int, start: float) -> list[Sent]:
    """Send `count` interactions at `rate` per second from `start` (a perf_counter time)."""
    sent: list[Sent] = []
    for i in range(count):
        at = start + i / rate
        delay = at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        mix.settle()
        one = await mix.send()
        one.scheduled = at
        sent.append(one)
    return sent


# --- running the bot with its log captured ---------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- the run ----------------------------------------------------------------------------------


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
    workdir = Path(tempfile.mkdtemp(prefix="haven-load-"))
    db_path, log_path = workdir / "haven.db", workdir / "bot.log"
    started = time.perf_counter()
    world = build(db_path, fake, args, due, now)
    count = int(args.rate * args.seconds)
    print(f"load: {count:,} interactions at {args.rate:g}/s for {args.seconds:g} s; fan-out of "
          f"{len(world.recipients):,} DMs ({args.reminders:,} check-in reminders + "
          f"{args.due_circles} circles x {SEATS} seats) due at {due:%H:%M:%S} UTC; "
          f"on {machine()}")  # fmt: skip
    print(f"  seeded in {time.perf_counter() - started:.1f} s: {args.circles} circles, "
          f"{len(fake.world.guilds[GUILD].members):,} members, {world.checkins:,} check-ins, "
          f"{BUDDY_PAIRS} buddy pairs; {len(world.pool)} members send commands; "
          f"database and bot log in {workdir}")  # fmt: skip

    fake.rate_limit_per_second = GLOBAL_LIMIT
    rng = random.Random(args.seed)
    harness_lags: list[tuple[float, float]] = []
    probe = asyncio.create_task(loop_probe(harness_lags))
    async with running_bot(
        fake, db_path, log_path=log_path, extra_env={"MEMBERS_INTENT": "true"}
    ) as bot:
        mix = Mix(fake, world, rng)
        # Warm-up: each command's first call pays one-time imports and caches.
        warm = await drive(mix, 20, 2 * len(MIX), time.perf_counter())
        await asyncio.sleep(1)
        mix.settle()
        offset = time.perf_counter() - time.time()
        due_at = due.timestamp() + offset  # the due minute on perf_counter's scale
        if due_at < time.perf_counter():
            raise SystemExit("the due minute passed during start-up: raise --lead-in")
        print(f"  bot up; warm-up {len(warm)} interactions; window starts in "
              f"{due_at - time.perf_counter():.0f} s")  # fmt: skip
        callsbefore, limited_before = len(fake.calls), fake.count_429
        # The fake shares this process: keep its garbage collector's full scans (100+ ms over
        # the seeded world and every recorded call) out of the latencies and arrival times it
        # records, until the fan-out is over too (a stall bunches arrivals into 429s).
        gc.collect()
        gc.freeze()
        gc.disable()
        await asyncio.sleep(max(0.0, due_at - time.perf_counter()))
        window, load_before = time.time(), os.getloadavg()[0]
        cpu_before = (cpu_seconds(bot.proc.pid), time.process_time())
        sent = await drive(mix, args.rate, count, due_at)
        sending_took = time.perf_counter() - due_at
        window_end, load_after = time.time(), os.getloadavg()[0]
        cpu = (
            cpu_seconds(bot.proc.pid) - cpu_before[0],
            time.process_time() - cpu_before[1],
        )
        # Every initial response is due within 3 s; deferred answers get longer.
        last = sent[-1].ix.dispatched_at
        await asyncio.sleep(max(0.0, last + DEADLINE + 0.5 - time.perf_counter()))
        deferred = [s for s in sent if s.ix.callback_type == 5]
        for _ in range(300):
            if all(replied(s.ix) for s in deferred):
                break
            await asyncio.sleep(0.1)
        fan_out_done = await wait_fan_out(fake, world.recipients, due_at, args.timeout)
        calls = fake.calls[callsbefore:]
    gc.enable()
    probe.cancel()
    report(
        fake,
        world,
        sent,
        calls,
        bot,
        due_at=due_at,
        window=(window, window_end),
        sending_took=sending_took,
        cpu=cpu,
        load=(load_before, load_after),
        fan_out_done=fan_out_done,
        limited=fake.count_429 - limited_before,
        harness_lags=harness_lags,
        log_path=log_path,
        rate=args.rate,
    )


async def wait_fan_out(
    fake: FakeDiscord, recipients: list[int], due_at: float, give_up_after: float
) -> bool:
    """Until every recipient has a DM, or nothing more arrives for 10 s (or `give_up_after` s)."""
    seen, quiet_since = -1, time.perf_counter()
    while time.perf_counter() - due_at < give_up_after:
        received = sum(1 for u in recipients if fake.dms_to(u))
        if received == len(recipients):
            return True
        if received != seen:
            seen, quiet_since = received, time.perf_counter()
        elif time.perf_counter() - quiet_since > 10:
            return False
        await asyncio.sleep(0.5)
    return False


def _ms(values: list[float]) -> str:
    if not values:
        return "—"
    return f"{percentile(values, 0.5):7.1f} {percentile(values, 0.99):7.1f} {max(values):8.1f}"


def _texts(ix: Interaction) -> str:
    parts = []
    for msg in ix.messages:
        parts.append(msg.content or "")
        for embed in msg.embeds:
            parts += [str(embed.get("title") or ""), str(embed.get("description") or "")]
    return "\n".join(parts)


def report(
    fake: FakeDiscord,
    world: World,
    sent: list[Sent],
    calls: list[Call],
    bot: BotProcess,
    *,
    due_at: float,
    window: tuple[float, float],
    sending_took: float,
    cpu: tuple[float, float],
    load: tuple[float, float],
    fan_out_done: bool,
    limited: int,
    harness_lags: list[tuple[float, float]],
    log_path: Path,
    rate: float,
) -> None:
    by_kind: dict[str, list[Sent]] = defaultdict(list)
    for s in sent:
        by_kind[s.kind].append(s)
    ok = [s for s in sent if s.ix.latency is not None and s.ix.latency <= DEADLINE]
    late = [s for s in sent if s.ix.latency is None or s.ix.latency > DEADLINE]
    lat = [s.ix.latency * 1000 for s in ok if s.ix.latency is not None]
    # When each deferred interaction's visible answer (its first follow-up) arrived.
    answered_at: dict[int, float] = {}
    for c in calls:
        if c.interaction_id and c.path.startswith("/webhooks") and 200 <= c.status < 300:
            answered_at.setdefault(c.interaction_id, c.at)
    slip = [(s.ix.dispatched_at - s.scheduled) * 1000 for s in sent]
    print(f"  sent {len(sent):,} in {sending_took:.2f} s ({len(sent) / sending_took:.1f}/s; "
          f"target {rate:g}/s); harness send slip p99 {percentile(slip, 0.99):.1f} ms, "
          f"max {max(slip):.1f} ms")  # fmt: skip
    print(f"  CPU in the window: bot {cpu[0]:.1f} s ({cpu[0] / sending_took:.0%} of a core), "
          f"harness and fake {cpu[1]:.1f} s ({cpu[1] / sending_took:.0%}); machine load "
          f"average {load[0]:.1f} at the start, {load[1]:.1f} at the end, on "
          f"{os.cpu_count()} cores")  # fmt: skip
    print(f"  answered within {DEADLINE:g} s: {len(ok):,}/{len(sent):,}")
    print(f"  dispatch-to-callback, ms {'p50':>7} {'p99':>7} {'max':>8}    n  late   deferred: "
          "dispatch-to-follow-up p50 / p99 / max ms")  # fmt: skip
    print(f"  {'all':<26} {_ms(lat)} {len(sent):5} {len(late):5}")
    refusals: Counter[str] = Counter()
    broken: Counter[str] = Counter()
    for kind in MIX:
        group = by_kind.get(kind, [])
        if not group:
            continue
        values = [s.ix.latency * 1000 for s in group if s.ix.latency is not None]
        missed = sum(1 for s in group if s.ix.latency is None or s.ix.latency > DEADLINE)
        follow = [
            (answered_at[s.ix.id] - s.ix.dispatched_at) * 1000
            for s in group
            if s.ix.callback_type == 5 and s.ix.id in answered_at
        ]
        extra = ""
        if follow:
            extra = (
                f"   {len(follow)} deferred: {percentile(follow, 0.5):.0f} / "
                f"{percentile(follow, 0.99):.0f} / {max(follow):.0f}"
            )
        print(f"  {kind:<26} {_ms(values)} {len(group):5} {missed:5}{extra}")
        for s in group:
            text = _texts(s.ix)
            if REFUSALS.search(text):
                refusals[kind] += 1
            if BROKEN in text:
                broken[kind] += 1
    deferred = [s for s in sent if s.ix.callback_type == 5]
    unreplied = [s for s in deferred if not replied(s.ix)]
    non_2xx = [c for c in calls if not 200 <= c.status < 300 and c.status != 429]
    if not log_path.exists() or not bot.stats:
        raise SystemExit(f"the bot's log or stats are missing from {log_path.parent}")
    log_text = log_path.read_text(errors="replace")
    log_errors = [line for line in log_text.splitlines() if "ERROR" in line]
    tracebacks = log_text.count("Traceback")
    total_errors = (
        len(late) + len(unreplied) + len(non_2xx) + len(log_errors) + sum(broken.values())
    )
    print(f"  errors: {total_errors} (target 0) — unanswered within {DEADLINE:g} s "
          f"{len(late)}, deferred without a follow-up {len(unreplied)}, non-2xx from the fake "
          f"{len(non_2xx)}, ERROR lines in the bot's log {len(log_errors)} "
          f"({tracebacks} tracebacks), 'something went wrong' answers "
          f"{sum(broken.values())}; kind refusals {sum(refusals.values())}"
          + (f" {dict(refusals)}" if refusals else ""))  # fmt: skip
    for s in late[:5]:
        print(f"    unanswered: {s.kind} {s.ix!r} rejections={[str(c) for c in s.ix.rejections]}")
    for c in non_2xx[:5]:
        print(f"    non-2xx: {c}")
    for line in log_errors[:5]:
        print(f"    log: {line[:200]}")
    print(f"  429s: {limited} (target 0); fake rule rejections: {len(fake.rejections)}")
    limited_calls = [c for c in calls if c.status == 429]
    if limited_calls:
        where = Counter(re.sub(r"\d+", "#", f"{c.method} {c.path}") for c in limited_calls)
        print(f"    429s on {dict(where)}, at "
              + ", ".join(f"{c.at - due_at:.1f}" for c in limited_calls[:10])
              + " s after the due minute")  # fmt: skip

    # The fan-out.
    dm_ids = {fake.world.dm_channel(u).id for u in world.recipients}
    got = Counter(len(fake.dms_to(u)) for u in world.recipients)
    reminder_dms = [
        c
        for c in calls
        if c.method == "POST"
        and 200 <= c.status < 300
        and (m := re.fullmatch(r"/channels/(\d+)/messages", c.path))
        and int(m.group(1)) in dm_ids
    ]
    paced = [
        c for c in calls if c.at >= due_at and not c.path.startswith(("/interactions", "/webhooks"))
    ]
    # The most paced requests the fake saw in any one second (its limit is 50, Haven's 45).
    stamps, busiest, lo = sorted(c.at for c in paced), 0, 0
    for hi, at in enumerate(stamps):
        while at - stamps[lo] >= 1.0:
            lo += 1
        busiest = max(busiest, hi - lo + 1)
    n = len(world.recipients)
    exactly = got.get(1, 0)
    ratio = float("inf")
    print(f"  fan-out: {exactly:,}/{n:,} recipients got exactly one DM"
          + "".join(f", {k} DMs: {v}" for k, v in sorted(got.items()) if k != 1)
          + ("" if fan_out_done else " (stopped waiting)"))  # fmt: skip
    if reminder_dms:
        took = max(c.at for c in reminder_dms) - due_at
        first = min(c.at for c in reminder_dms) - due_at
        floor = n / GLOBAL_LIMIT
        # The commands' own posts and DMs share the budget with the fan-out.
        shared = [c for c in paced if c.at <= due_at + took]
        shared_floor = len(shared) / GLOBAL_LIMIT
        print(f"    first DM {first:.2f} s after the due minute, last {took:.1f} s: "
              f"{took / floor:.3f}x the floor of its own {n:,} requests at {GLOBAL_LIMIT}/s "
              f"({floor:.1f} s)")  # fmt: skip
        print(f"    with the commands' own {len(shared) - len(reminder_dms)} paced requests "
              f"(channel posts, buddy and seat DMs) in that time: {len(shared):,} requests, "
              f"floor {shared_floor:.1f} s -> {took / shared_floor:.3f}x (target <= "
              f"{TARGET_RATIO}x; Haven paces at 45/s, so 1.11x); most in any one second "
              f"as the fake counted them: {busiest} (it refuses the 51st)")  # fmt: skip
        ratio = took / shared_floor
    worst, p99 = bot.loop_lag_ms(*window)
    h_lags = [lag * 1000 for at, lag in harness_lags if window[0] <= at <= window[1]]
    rss = bot.stats.get("peak_rss_mb", float("nan"))
    print(f"  bot event-loop lag in the window: p99 {p99:.1f} ms, worst {worst:.1f} ms; "
          f"harness (fake) loop lag p99 {percentile(h_lags, 0.99):.1f} ms, worst "
          f"{max(h_lags, default=float('nan')):.1f} ms")  # fmt: skip
    print(f"  bot peak RSS (VmHWM) {rss:.1f} MB")
    checks = {
        "zero errors": total_errors == 0,
        "zero 429s": limited == 0,
        f"p99 < {TARGET_P99_MS:g} ms": percentile(lat, 0.99) < TARGET_P99_MS,
        "one DM each": exactly == n,
        f"fan-out <= {TARGET_RATIO}x": ratio <= TARGET_RATIO,
    }
    print("  targets: " + "; ".join(f"{k}: {'met' if v else 'MISSED'}" for k, v in checks.items()))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=100.0, help="interactions per second")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--reminders", type=int, default=3000, help="check-in reminders due")
    parser.add_argument("--circles", type=int, default=24)
    parser.add_argument(
        "--due-circles", type=int, default=8, help="circles whose 1-hour reminders are due"
    )
    parser.add_argument("--members", type=int, default=600, help="members besides --reminders")
    parser.add_argument("--pool", type=int, default=400, help="members who send commands")
    parser.add_argument(
        "--lead-in", type=int, default=15, help="at least this many seconds before the due minute"
    )
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for the DMs")
    parser.add_argument("--seed", type=int, default=10)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
