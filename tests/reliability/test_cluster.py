"""Three bot processes, one PostgreSQL database, one fake Discord with three shards: kill -9 one
in the middle of 1,000 reminders, and every member still gets exactly one.

The processes are the real bot (`python -m bot`, `tests/reliability/botprocess.py`), started with
SHARD_COUNT=3 and SHARD_IDS=0, 1 and 2 and MEMBERS_INTENT on; the fake (in this process) holds
31 servers spread over its three shards and enforces Discord's global limit as a sliding window
of 50 requests a second. What is checked:

- every server's interactions are answered: a slash command in each of the 31 servers, which the
  fake sends on that server's shard only, so the process holding it is the one that answers;
- 1,000 members over those servers each have a daily check-in reminder at the current minute,
  written while the three run (rules, DM channels known, and each occurrence in the outbox as
  `Reminders.plan` writes it) and announced the way `Scheduler.schedule` announces a job due
  now (NOTIFY), so the three start the fan-out together rather than as each finishes starting;
- once the fake has made 200 of the DMs, the process holding shard 1 is killed with SIGKILL
  while it holds claims (outbox rows `running` under its name): no clean stop hands them back,
  so the two others must take them over when the lease ends (30 s, plus a poll of 15 s). The
  kill lands the moment the fake has made a DM for one of its jobs while holding back the
  answer (`hang_next`), so at least one message reached Discord that its ledger never knew of;
- in the end every member has exactly one reminder DM and nothing else; no 429 and no request
  the fake rejected; every seeded outbox row is `done` and every delivery `sent`; the held DM
  was sent again by its taker with the same nonce and dropped by the fake as Discord does (the
  fake's count of dropped repeats matches the POSTs it answered with an earlier message);
  all three processes ran some of the jobs, and the survivors logged the take-over;
- the killed process, started again, reconnects its shard and answers its servers; every
  process then stops cleanly, and no life logged an error.

It takes about a minute (1,000 DMs at 45 a second, while the victim's claims wait up to 45 s for
its lease to end and a poll), so it runs only in the PostgreSQL run of the suite
(`--backend postgresql`), where the session's cluster is already up; the SQLite run skips it.

With the fake in this process, a stall here bunches the requests that queued meanwhile, which
the fake's window may count as a burst; a 429's failure message says how late this process's
event loop was just then, so a harness stall can be told apart from the bots' pacing.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import re
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench.pgcommon import REMINDER_TITLE, SeededReminders, add_members, write_reminders
from bot.db import Database, open_database
from bot.reminders import KIND as CHECKIN_REMINDER
from bot.scheduler import CHANNEL
from bot.timeutil import to_db
from tests.conftest import NewDatabase
from tests.fakediscord import OWNER, Call, FakeDiscord
from tests.reliability.botprocess import BotProcess
from tests.test_shards import SHARDS, sharded_fake, world_with_guilds

GLOBAL_LIMIT = 50  # the fake's requests per second, as Discord's global limit
PER_SHARD = 10  # servers on each shard, beside the default one (31 in all)
REMINDERS = 1000
KILL_AFTER = 200  # reminder DMs made before the kill
VICTIM = 1  # the shard whose process is killed (it holds the default server too)
HOLD_SECONDS = 30.0  # how long the fake holds back the held DM's answer: far past the kill
FINISH_WITHIN = 150.0  # seconds for the whole fan-out, take-over included


def made(fake: FakeDiscord, seeded: SeededReminders) -> int:
    """Reminder DMs the fake has made so far (a nonce repeat makes none)."""
    return sum(len(fake.store.by_channel.get(c, ())) for c in seeded.channels)


def nonce_repeats(fake: FakeDiscord, seeded: SeededReminders) -> list[Call]:
    """POSTs the fake answered with a message an earlier POST made: nonce de-duplication."""
    regex = re.compile(seeded.posts)
    return [
        c
        for c in fake.calls
        if c.method == "POST"
        and c.status == 200
        and regex.fullmatch(c.path)
        and fake.store.by_id[int(c.response["id"])].call_index != c.index
    ]


async def probe(lags: list[tuple[float, float]]) -> None:
    """This process's event-loop lateness (perf_counter, seconds late): the fake lives here,
    and a stall makes the requests that queued meanwhile land together."""
    while True:
        start = time.perf_counter()
        await asyncio.sleep(0.01)
        lags.append((start, time.perf_counter() - start - 0.01))


def limited(fake: FakeDiscord, marks: dict[str, float], lags: list[tuple[float, float]]) -> str:
    """Each 429, for the failure message: when (from the test's marks), the requests the fake
    counted in the second before it by route, this process's worst lag then (a stall here
    bunches requests: the harness's 429, not the bots'), and the gaps between the last ones."""
    paced = [c for c in fake.calls if not c.path.startswith(("/interactions", "/webhooks"))]
    found = []
    for i, c in enumerate(paced):
        if c.status != 429:
            continue
        window = [p for p in paced[:i] if c.at - p.at < 1.0]
        routes = Counter(
            f"{p.method} {re.sub(r'[0-9]{6,}', 'N', p.path)} {p.status}" for p in window
        )
        lag = max((lag for at, lag in lags if c.at - 1.5 < at < c.at), default=float("nan"))
        gaps = [round(b.at - a.at, 3) for a, b in itertools.pairwise(paced[max(0, i - 30) : i + 1])]
        when = ", ".join(f"{c.at - at:.1f} s after {what}" for what, at in marks.items())
        found.append(
            f"#{c.index} {c.method} {c.path} ({when}): {len(window)} requests in the second "
            f"before {dict(routes)}; this process lagged {lag * 1000:.0f} ms at worst; gaps {gaps}"
        )
    return "\n".join(found)


def holder(bot: BotProcess) -> str:
    """A LIKE pattern for the outbox's `claimed_by` of this process (host:pid:token)."""
    return f"%:{pid(bot)}:%"


async def claims(db: Database, bot: BotProcess) -> int:
    return int(
        await db.fetchval(
            "SELECT count(*) FROM outbox WHERE state = 'running' AND claimed_by LIKE ?",
            (holder(bot),),
        )
    )


async def hold_a_dm_of(
    fake: FakeDiscord, db: Database, bot: BotProcess, seeded: SeededReminders
) -> Call:
    """Make the fake hold back its answer to the next DM `bot` sends for a job it has claimed
    and not sent yet; returns that DM's POST once the fake has made the message."""
    rows = await db.fetchall(
        "SELECT o.user_id FROM outbox o LEFT JOIN deliveries d ON d.key = o.key"
        " WHERE o.state = 'running' AND o.claimed_by LIKE ? AND d.key IS NULL",
        (holder(bot),),
    )
    channels = [c for c, u in seeded.channels.items() if u in {r["user_id"] for r in rows}]
    assert channels, "the process to kill holds no claims it has not started"
    posts = "/channels/(" + "|".join(map(str, channels)) + ")/messages"
    armed = fake.mark()
    fake.hang_next("POST", posts, HOLD_SECONDS)
    held = await fake.expect("POST", posts, timeout=30, since=armed)
    assert held.status == 200
    return held


async def outcomes(db: Database, keys: list[str]) -> Counter[str]:
    marks = ",".join("?" * len(keys))
    rows = await db.fetchall(f"SELECT state, note FROM outbox WHERE key IN ({marks})", keys)
    return Counter(f"{r['state']} ({r['note']})" for r in rows)


async def answered_everywhere(fake: FakeDiscord, servers: list[int]) -> None:
    for gid in servers:
        general = fake.world.guilds[gid].channel_ids[0]
        ix = await fake.slash("my", "timezone", zone="Asia/Tokyo", user=OWNER, guild=gid,
                              channel=general)  # fmt: skip
        assert "Got it" in (await ix.reply(timeout=15)).content, gid


async def test_three_processes_kill_9_mid_fan_out_of_1000_reminders(
    tmp_path: Path, backend: str, new_database: NewDatabase
) -> None:
    if backend != "postgresql":
        pytest.skip("three bot processes on one PostgreSQL (~60 s): runs with --backend postgresql")
    world, on = world_with_guilds(per_shard=PER_SHARD)
    servers = sorted(world.guilds)
    db = await open_database(url := await new_database())
    try:
        async with sharded_fake(world) as fake:
            await fan_out_kill_and_check(fake, db, url, servers, on[VICTIM], tmp_path)
    finally:
        await db.close()


async def fan_out_kill_and_check(
    fake: FakeDiscord, db: Database, url: str, servers: list[int], victims: set[int], tmp: Path
) -> None:
    fake.rate_limit_per_second = GLOBAL_LIMIT
    seeded = add_members(fake.world, servers, REMINDERS)  # before GUILD_CREATE: in every cache
    # The fake's world and calls stay out of the collector's full scans, whose pauses here
    # would bunch requests (bench/scale.py measured the same).
    gc.collect()
    gc.freeze()
    procs = [
        BotProcess(
            fake,
            tmp / "unused.db",
            log_path=tmp / f"shard{shard}.log",
            env={
                "DATABASE_URL": url,
                "SHARD_COUNT": str(SHARDS),
                "SHARD_IDS": str(shard),
                "MEMBERS_INTENT": "true",
            },
        )
        for shard in range(SHARDS)
    ]
    victim, survivors = procs[VICTIM], [p for n, p in enumerate(procs) if n != VICTIM]
    marks: dict[str, float] = {}
    lags: list[tuple[float, float]] = []
    lagging = asyncio.create_task(probe(lags))
    try:
        await asyncio.gather(*(p.start() for p in procs))
        await fake._wait_until(
            lambda: sum(s.connected for s in fake.gateway.sessions.values()) == SHARDS or None,
            60,
            "every shard connected",
        )
        assert set(fake.gateway.sessions) == {(s, SHARDS) for s in range(SHARDS)}
        await answered_everywhere(fake, servers)
        pids = {pid(p): n for n, p in enumerate(procs)}

        # 1,000 reminders at the current minute, announced as a new job due now is.
        minute = datetime.now(UTC).replace(second=0, microsecond=0)
        await write_reminders(db, seeded, minute=minute, servers=servers)
        await db.notify(CHANNEL, to_db(minute))
        started = time.monotonic()
        marks["the announcement"] = time.perf_counter()

        await fake._wait_until(
            lambda: made(fake, seeded) >= KILL_AFTER or None, 60, f"{KILL_AFTER} DMs"
        )
        # Kill it the moment the fake has made a DM of one of its jobs but holds back the
        # answer: the message exists, the victim's ledger row says `sending`.
        held = await hold_a_dm_of(fake, db, victim, seeded)
        victim.kill()
        killed = time.monotonic()
        marks["the kill"] = time.perf_counter()
        await victim.wait()
        made_at_kill = made(fake, seeded)
        stranded = await claims(db, victim)
        assert stranded > 0, "the killed process held no claims: nothing to take over"

        taken_over: float | None = None
        while time.monotonic() - started < FINISH_WITHIN:
            left = await claims(db, victim)
            if not left and taken_over is None:
                taken_over = time.monotonic() - killed
            busy = await db.fetchval(
                "SELECT count(*) FROM outbox WHERE kind = ? AND due_at = ?"
                " AND state IN ('pending', 'running')",
                (CHECKIN_REMINDER, to_db(minute)),
            )
            if not left and not busy:
                break
            await asyncio.sleep(0.25)
        took = time.monotonic() - started

        # The killed process comes back: it reconnects its shard and answers its servers.
        marks["the restart"] = time.perf_counter()
        await victim.start()
        await fake._wait_until(
            lambda: fake.gateway.sessions[(VICTIM, SHARDS)].connected or None,
            30,
            "the restarted shard",
        )
        assert all(s.connected for s in fake.gateway.sessions.values())
        await answered_everywhere(fake, sorted(victims))
    finally:
        lagging.cancel()
        gc.unfreeze()
        stopped = [(proc, await proc.stop()) for proc in procs if proc.running]
    for proc, code in stopped:
        assert code == 0, proc.log()[-3000:]

    # Exactly one reminder each, and nothing else in their DMs.
    wrong = {}
    for channel, user in seeded.channels.items():
        titles = [e.get("title") for m in fake.messages_in(channel) for e in m.embeds or [{}]]
        if titles != [REMINDER_TITLE]:
            wrong[user] = titles
    states = await outcomes(db, seeded.keys)
    assert not wrong, (
        f"{len(wrong)} of {REMINDERS} members without exactly one reminder; "
        f"the outbox rows: {dict(states)}"
    )
    assert fake.count_429 == 0, limited(fake, marks, lags)
    assert not fake.rejections, [str(c) for c in fake.rejections]
    # Every seeded row ran to the end, every delivery is written down as sent. A row the victim
    # had sent and recorded, but not yet marked done, was found already sent by its taker.
    assert sum(states.values()) == REMINDERS, dict(states)
    assert set(states) <= {"done (sent)", "done (already_sent)"}, dict(states)
    keys = ",".join("?" * len(seeded.keys))
    deliveries = await db.fetchall(
        f"SELECT state, count(*) AS n FROM deliveries WHERE key IN ({keys}) GROUP BY state",
        seeded.keys,
    )
    assert {r["state"]: r["n"] for r in deliveries} == {"sent": REMINDERS}
    assert not await db.fetchval("SELECT count(*) FROM outbox WHERE state IN ('running', 'failed')")
    # Who ran what (a finished row keeps its last claimant): all three took part.
    ran = await db.fetchall(
        f"SELECT claimed_by, count(*) AS n FROM outbox WHERE key IN ({keys}) GROUP BY claimed_by",
        seeded.keys,
    )
    by_shard = Counter({pids[int(r["claimed_by"].split(":")[-2])]: r["n"] for r in ran})
    assert set(by_shard) == set(range(SHARDS)), by_shard
    # Discord's nonce de-duplication kept the held DM (made, never recorded as sent) from
    # arriving twice: its taker sent it again with the same nonce and got the first message.
    repeats = nonce_repeats(fake, seeded)
    assert fake.store.nonce_duplicates == len(repeats) >= 1
    assert str(held.response["id"]) in {str(c.response["id"]) for c in repeats}
    for n, proc in enumerate(procs):
        log = proc.log()
        assert "Traceback" not in log and "ERROR" not in log, f"shard {n}: {log[-3000:]}"
    assert any("took over" in p.log() for p in survivors)
    over = f"{taken_over:.1f} s" if taken_over is not None else "?"
    print(
        f"\n{REMINDERS} reminders over {len(servers)} servers, {SHARDS} processes: "
        f"{made_at_kill} made when shard {VICTIM}'s process was killed holding {stranded} "
        f"claims, taken over {over} after the kill; all done {took:.1f} s after the "
        f"announcement; jobs run per shard's process {dict(sorted(by_shard.items()))}; "
        f"{states['done (already_sent)']} found already sent by the ledger; nonce repeats "
        f"answered with the existing message: {len(repeats)}"
    )


def pid(bot: BotProcess) -> int:
    assert bot.proc is not None
    return bot.proc.pid
