"""kill -9 during a fan-out of 300 reminders: every recipient still ends with exactly one.

The fake Discord runs in the test process and outlives every kill; the real bot (`python -m
bot`) runs in its own OS process (`tests/reliability/botprocess.py`), so SIGKILL hits it where
it stands: no `finally`, no clean close, a database possibly mid-write. The database is seeded
with 300 reminders due at the current minute, in real time (the bot's own clock):
- 150 circle reminders: 15 circles meeting in an hour, 10 seats each, seeded exactly as
  `bench/circles.py` seeds them (sessions, RSVPs and the outbox rows `Circles` writes);
- 150 personal check-in reminders, half of them to members who also have a seat: the rule
  (`checkin_reminders`), the member's zone (`member_profile`) and the outbox row `Reminders`
  plans for it (the same key, so start-up's `ensure_all` finds it pending, not a second one).
Every DM channel is known to Haven and to the fake and the bot runs with MEMBERS_INTENT, so a
reminder is one request; the fake's global limit of 50/s spreads the fan-out over seconds.

The bot is killed four times at seeded-random moments, restarted after each, then left to
finish:
- twice the instant the fake has made the k-th new reminder DM (random k), before the bot can
  have read the answer, let alone written `sent`;
- once a random time into the fan-out, wherever the bot happens to be;
- once, deterministically, with the fake holding back its answer to a DM it already made
  (`hang_next`): the ledger row is provably `sending` at the kill — the message reached
  Discord, the ledger never knew. The restarted bot sends it again with the same nonce and
  `enforce_nonce`, and the fake answers with the existing message, as Discord does.

Proven: every recipient has exactly one reminder of each kind they were due (and nothing
else); no 429 and no rejected request; every due outbox row ends `done` and every delivery
`sent`; the nonce de-duplication fired, for the held DM at least (the fake's count of
dropped repeats matches the POSTs it answered with a message an earlier POST made, and the
held DM is among them); `PRAGMA integrity_check` and `foreign_key_check` are clean after
every kill; no bot life logged an error.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bench.circles import seed as seed_circles
from bot.delivery.ledger import nonce_for
from bot.recurrence import adjusted, daily_occurrences
from bot.reminders import KIND as CHECKIN_REMINDER
from bot.reminders import LATE_BY_AT_MOST
from bot.timeutil import format_hhmm, to_db
from tests.fakediscord import CH_CIRCLES, GUILD, Call, FakeDiscord
from tests.reliability.botprocess import BotProcess

SEED = 10
GLOBAL_LIMIT = 50  # the fake's requests per second, as Discord's global limit
DUE_CIRCLES, SEATS = 15, 10  # 150 circle reminders
CHECKINS = 150  # check-in reminders; half to members who also have a seat
CIRCLE_TITLE = "Your circle is coming up"
CHECKIN_TITLE = "A gentle check-in reminder"
ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney")
HOLD_SECONDS = 20.0  # how long the fake holds back the held answer: far past the kill


@dataclass
class Fanout:
    db_path: Path
    circle_users: list[int]
    checkin_users: list[int]
    due_keys: list[str]  # the outbox rows due now
    dm_channels: dict[int, int]  # channel id -> user id
    posts: str = ""  # re.fullmatch for a reminder DM's POST

    @property
    def total(self) -> int:
        return len(self.circle_users) + len(self.checkin_users)


@dataclass
class Life:
    """One run of the bot, and what was in flight when it was killed."""

    how: str
    made: int = 0  # reminder DMs the fake made in this life
    sending: int = 0  # ledger rows left `sending` at the kill (reached Discord or not)
    running: int = 0  # outbox rows left `running` at the kill
    held: str | None = None  # the id of the message whose answer the fake held back


def seed(fake: FakeDiscord, db_path: Path) -> Fanout:
    """The world in the fake and the matching database; see the module docstring."""
    due = datetime.now(UTC).replace(second=0, microsecond=0)
    before = set(fake.world.users)
    # Seeded as of just before the due minute, so the 1-hour reminders are still "ahead".
    seeded = seed_circles(
        db_path,
        fake,
        circles=DUE_CIRCLES + 5,
        servers=1,
        members=2 * CHECKINS,
        due_circles=DUE_CIRCLES,
        seats=SEATS,
        due=due,
        now=due - timedelta(seconds=1),
    )
    assert seeded.due_jobs == DUE_CIRCLES and len(seeded.due_users) == DUE_CIRCLES * SEATS
    rng = random.Random(SEED)
    circle_users = seeded.due_users
    seated = set(circle_users)
    others = [u for u in fake.world.users if u not in before and u not in seated]
    checkin_users = rng.sample(circle_users, CHECKINS // 2) + rng.sample(
        others, CHECKINS - CHECKINS // 2
    )
    stamp = to_db(due)
    profiles, rules, jobs = [], [], []
    for user in checkin_users:
        # What Reminders.plan writes at start-up (from two hours ago): today's occurrence at
        # the member's local time, allowed to run two hours late.
        prefix = f"{CHECKIN_REMINDER}:{GUILD}:{user}"
        for name in (rng.choice(ZONES), "UTC"):
            zone = ZoneInfo(name)
            at = due.astimezone(zone).time().replace(tzinfo=None)
            occ = next(daily_occurrences(prefix, due - LATE_BY_AT_MOST, at, zone, "every-day"))
            if occ.due == due:
                break  # else a repeated hour (DST ends) names an earlier instant: use UTC
        assert occ.due == due, (occ, due)
        occ = adjusted(occ, occ.due, occ.due + LATE_BY_AT_MOST)
        profiles.append((GUILD, user, zone.key, stamp))
        rules.append((GUILD, user, format_hhmm(at), stamp))
        jobs.append(
            (
                occ.key,
                CHECKIN_REMINDER,
                GUILD,
                user,
                json.dumps(occ.payload),
                to_db(occ.due),
                to_db(occ.deadline),
            )
        )
    with closing(sqlite3.connect(db_path)) as db, db:
        db.executemany(
            "INSERT INTO member_profile (guild_id, user_id, timezone, updated_at)"
            " VALUES (?, ?, ?, ?)",
            profiles,
        )
        db.executemany(
            "INSERT INTO checkin_reminders (guild_id, user_id, at_time, days, updated_at)"
            " VALUES (?, ?, ?, 'every-day', ?)",
            rules,
        )
        db.executemany(
            "INSERT INTO outbox (key, kind, guild_id, user_id, payload, due_at, deadline_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            jobs,
        )
        due_keys = [
            key
            for (key,) in db.execute(
                "SELECT key FROM outbox WHERE state = 'pending' AND due_at <= ?", (stamp,)
            )
        ]
    assert len(due_keys) == DUE_CIRCLES + CHECKINS
    dm_channels = {fake.world.dm_channel(u).id: u for u in seated | set(checkin_users)}
    posts = "/channels/(" + "|".join(map(str, dm_channels)) + ")/messages"
    return Fanout(db_path, circle_users, checkin_users, due_keys, dm_channels, posts)


@contextmanager
def database(path: Path) -> Iterator[sqlite3.Connection]:
    with closing(sqlite3.connect(path)) as db:
        yield db


def check_integrity(path: Path) -> None:
    with database(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []


def made(fake: FakeDiscord, fanout: Fanout) -> int:
    """Reminder DMs the fake has made so far (a nonce repeat makes none)."""
    return sum(len(fake.store.by_channel.get(c, ())) for c in fanout.dm_channels)


async def until(fake: FakeDiscord, fanout: Fanout, ready: Callable[[Call], bool]) -> Call:
    """Wake the moment a reminder DM's POST has been handled and `ready` holds.

    The fake wakes its waiters right after making the message, before its answer is on the
    wire, so a kill here lands before the bot has read the answer.
    """
    return await fake.expect("POST", fanout.posts, timeout=60, where=ready)


def nonce_repeats(fake: FakeDiscord, fanout: Fanout) -> list[Call]:
    """POSTs the fake answered with a message an earlier POST made: nonce de-duplication."""
    regex = re.compile(fanout.posts)
    return [
        c
        for c in fake.calls
        if c.method == "POST"
        and c.status == 200
        and regex.fullmatch(c.path)
        and fake.store.by_id[int(c.response["id"])].call_index != c.index
    ]


async def kill_at_random(
    fake: FakeDiscord, fanout: Fanout, bot: BotProcess, how: str, rng: random.Random
) -> Life:
    """Run the bot until the moment `how` names, SIGKILL it, and see what it left behind."""
    life = Life(how)
    at_start = made(fake, fanout)
    mark = fake.mark()
    await bot.start()
    held: Call | None = None
    if how == "after-dm":
        k = rng.randint(10, 50)
        await until(fake, fanout, lambda c: made(fake, fanout) >= at_start + k)
    elif how == "any-moment":
        await until(fake, fanout, lambda c: c.index >= mark)
        await asyncio.sleep(rng.uniform(0.1, 1.5))
    elif how == "answer-held":
        k = rng.randint(5, 40)
        await until(fake, fanout, lambda c: made(fake, fanout) >= at_start + k)
        # The next reminder DM is made, and its answer held back: the kill lands while the
        # bot waits for it, its ledger row `sending`.
        armed = fake.mark()
        fake.hang_next("POST", fanout.posts, HOLD_SECONDS)
        regex = re.compile(fanout.posts)

        def first_after_arming(c: Call) -> bool:
            return c.index >= armed and not any(
                p.method == "POST" and regex.fullmatch(p.path) for p in fake.calls[armed : c.index]
            )

        held = await until(fake, fanout, first_after_arming)
        assert held.status == 200
    else:
        raise ValueError(how)
    bot.kill()
    await bot.wait()
    life.made = made(fake, fanout) - at_start
    check_integrity(fanout.db_path)
    with database(fanout.db_path) as db:
        sending = [k for (k,) in db.execute("SELECT key FROM deliveries WHERE state = 'sending'")]
        life.running = db.execute("SELECT count(*) FROM outbox WHERE state = 'running'").fetchone()[
            0
        ]
    life.sending = len(sending)
    if held is not None:
        # The message exists at Discord; the ledger still says `sending` for its key.
        by_nonce = {nonce_for(key): key for key in sending}
        key = by_nonce.get(str(held.json["nonce"]))
        assert key is not None, "the held DM's ledger row should still be `sending`"
        life.held = str(held.response["id"])
    return life


async def finish(fake: FakeDiscord, fanout: Fanout, bot: BotProcess) -> None:
    """Start once more and wait until every reminder went out and every due row is done."""
    await bot.start()
    marks = ",".join("?" * len(fanout.due_keys))
    for _ in range(600):
        if made(fake, fanout) >= fanout.total:
            with database(fanout.db_path) as db:
                states = Counter(
                    s
                    for (s,) in db.execute(
                        f"SELECT state FROM outbox WHERE key IN ({marks})", fanout.due_keys
                    )
                )
            if states["done"] == len(fanout.due_keys):
                break
        await asyncio.sleep(0.1)
    await bot.stop()


@pytest.mark.sqlite_only  # seeds and checks the SQLite file itself
async def test_kill_9_during_a_fan_out_of_300_reminders_leaves_exactly_one_each(
    tmp_path: Path,
) -> None:
    fake = FakeDiscord(rate_limit_per_second=GLOBAL_LIMIT)
    await fake.start()
    bot: BotProcess | None = None
    try:
        fanout = seed(fake, tmp_path / "haven.db")
        assert fanout.total == 300
        bot = BotProcess(
            fake, fanout.db_path, log_path=tmp_path / "bot.log", env={"MEMBERS_INTENT": "true"}
        )
        rng = random.Random(SEED)
        lives = [
            await kill_at_random(fake, fanout, bot, how, rng)
            for how in ("after-dm", "answer-held", "any-moment", "after-dm")
        ]
        await finish(fake, fanout, bot)
    finally:
        if bot is not None and bot.running:
            bot.kill()
            await bot.wait()
        await fake.stop()

    # Every life was cut short mid-fan-out, with work in flight.
    assert all(0 < life.made < fanout.total for life in lives), lives
    # Exactly one reminder of each kind each recipient was due, and nothing else.
    seated, reminded = set(fanout.circle_users), set(fanout.checkin_users)
    wrong = {}
    for channel, user in fanout.dm_channels.items():
        titles = Counter(
            e.get("title") for m in fake.messages_in(channel) for e in m.embeds or [{}]
        )
        want = Counter({CIRCLE_TITLE: user in seated, CHECKIN_TITLE: user in reminded})
        if titles != +want:
            wrong[user] = dict(titles)
    assert not wrong, f"{len(wrong)} recipients without exactly one of each: {wrong}"
    assert not fake.messages_in(CH_CIRCLES), "a DM fell back to a channel mention"
    assert fake.count_429 == 0
    assert not fake.rejections, [str(c) for c in fake.rejections]
    # Every due row ran to the end; every delivery is written down as sent.
    check_integrity(fanout.db_path)
    with database(fanout.db_path) as db:
        marks = ",".join("?" * len(fanout.due_keys))
        states = dict(
            db.execute(
                f"SELECT state, count(*) FROM outbox WHERE key IN ({marks}) GROUP BY state",
                fanout.due_keys,
            ).fetchall()
        )
        deliveries = dict(
            db.execute("SELECT state, count(*) FROM deliveries GROUP BY state").fetchall()
        )
        stuck = db.execute(
            "SELECT count(*) FROM outbox WHERE state IN ('running', 'failed')"
        ).fetchone()[0]
    assert states == {"done": len(fanout.due_keys)}
    assert deliveries == {"sent": fanout.total}
    assert stuck == 0
    # Discord's nonce de-duplication is what kept the held DM (and any other DM made just
    # before a kill) from arriving twice.
    repeats = nonce_repeats(fake, fanout)
    assert fake.store.nonce_duplicates == len(repeats) >= 1
    held_ids = {life.held for life in lives if life.held is not None}
    assert held_ids and held_ids <= {str(c.response["id"]) for c in repeats}
    assert "Traceback" not in bot.log() and "ERROR" not in bot.log(), bot.log()[-3000:]
    print(
        "\nkills: "
        + "; ".join(
            f"{life.how}: {life.made} made, {life.sending} `sending`, {life.running} `running`"
            for life in lives
        )
        + f"; nonce repeats answered with the existing message: {len(repeats)}"
    )
