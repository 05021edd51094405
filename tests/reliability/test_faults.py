"""Discord faults, with Discord's invalid-request budget counted.

Discord bans a bot for a while after 10,000 invalid requests (401, 403 and 429 answers) in 10
minutes, so every test here counts the 401/403/429 answers the fake gave and holds them to the
faults the test itself injected (or the one 403 a closed door costs) — far below the budget, and
proof that Haven adds none of its own (no retry storm against a refusal). Each test also checks
that nothing was lost (every intended recipient ends with exactly one message per occurrence),
nothing was duplicated, and nothing is retried forever (the outbox row ends `done`, `failed` or
`missed` after a bounded number of attempts).

Covered: 429 per-route and global on a circle-reminder fan-out and on a check-in reminder;
500/502 (retried by discord.py, then by the scheduler's `Retry` when discord.py gives up);
a DM that never gets through (given up at the deadline); closed DMs (50007) on a fan-out;
Missing Permissions (50013) on the daily prompt's channel and on a circle's channel standing
in for closed DMs; Unknown Channel (10003) on the daily prompt's channel.

Timeouts (the fake's `hang_next`): an answer lost after Discord made the message (the retry's
nonce makes Discord drop the repeat), and a request stuck on the way in during a fan-out.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import discord.http
import pytest

from bot.circle_reminders import RETRY_AFTER
from bot.circles import REMINDER as CIRCLE_REMINDER
from bot.circles import Session
from bot.db import Row
from bot.delivery.rest_deadline import bound_requests
from bot.prompts import KIND as PROMPT
from bot.reminders import KIND as CHECKIN_REMINDER
from bot.scheduler import Job
from bot.timeutil import from_db
from tests.clock import FakeClock, utc
from tests.conftest import Haven, say
from tests.fakediscord import (
    ALICE,
    CH_CHECKINS,
    CH_CIRCLES,
    CH_MODS,
    GUILD,
    MONA,
    FakeDiscord,
    Message,
)

BAN_BUDGET = 10_000  # invalid requests in 10 minutes before Discord bans the bot for a while
INVALID = (401, 403, 429)
POSTS = r"/channels/\d+/messages"
TITLE = "Your circle is coming up"
# Saturday 5 June 2027, 12:00 UTC; the circle meets Sundays at 19:00 in New York, so its first
# session starts on 6 June at 23:00 UTC (dates well ahead: the fake refuses events in the past).
NOW = utc(2027, 6, 5, 12)
START = utc(2027, 6, 6, 23)
DAY_BEFORE = START - timedelta(hours=24)
HOUR_BEFORE = START - timedelta(hours=1)
FAN = 10


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


# --- counting ------------------------------------------------------------------------------------


def invalid_requests(fake: FakeDiscord) -> int:
    """The answers that count toward Discord's invalid-request ban."""
    return sum(1 for call in fake.calls if call.status in INVALID)


def within_budget(fake: FakeDiscord, expected: int) -> None:
    """Exactly the invalid answers the test caused itself: Haven added none of its own."""
    assert invalid_requests(fake) == expected < BAN_BUDGET // 100


def accepted_posts(fake: FakeDiscord) -> int:
    return sum(
        1
        for c in fake.calls
        if c.method == "POST" and c.path.endswith("/messages") and 200 <= c.status < 300
    )


async def outbox_row(haven: Haven, key: str) -> Row:
    row = await haven.services.db.fetchone(
        "SELECT state, attempts, note, due_at FROM outbox WHERE key = ?", (key,)
    )
    assert row is not None, key
    return row


async def delivery_attempts(haven: Haven, prefix: str) -> dict[str, tuple[str, int]]:
    rows = await haven.services.db.fetchall(
        "SELECT key, state, attempts FROM deliveries WHERE key LIKE ?", (prefix + "%",)
    )
    return {row["key"]: (row["state"], row["attempts"]) for row in rows}


async def run_at(haven: Haven, instant: datetime) -> None:
    haven.clock.set(instant)
    await haven.run_due()


# --- a circle with a fan-out of reminders ------------------------------------------------------


def reminders(haven: Haven, user: int) -> list[Message]:
    return [m for m in haven.fake.dms_to(user) if TITLE in m.text]


async def full_circle(haven: Haven, n: int = FAN) -> tuple[Session, list[int]]:
    """A circle on CH_CIRCLES with `n` members in its seats."""
    members = [haven.fake.world.add_user(f"member{i}", f"Member {i}") for i in range(n)]
    circles = haven.services.circles
    circle = await circles.create(
        GUILD,
        name="Evening circle",
        weekday="sunday",
        at="19:00",
        timezone="America/New_York",
        host_id=MONA,
        channel_id=CH_CIRCLES,
        capacity=n,
    )
    for user in members:
        await circles.join(circle, user)
    session = await circles.next_session(circle)
    assert session is not None and session.starts_at == START
    return session, members


def circle_key(session: Session, lead: timedelta) -> str:
    return f"{CIRCLE_REMINDER}:{session.id}:{int(lead.total_seconds()) // 60}"


async def assert_each_reminded_once(
    haven: Haven, session: Session, members: list[int], lead: timedelta, note: str
) -> None:
    assert [len(reminders(haven, u)) for u in members] == [1] * len(members)
    row = await outbox_row(haven, circle_key(session, lead))
    assert (row["state"], row["attempts"], row["note"]) == ("done", 1, note)
    # One ledger attempt per member: discord.py waited the fault out inside the one send.
    sends = await delivery_attempts(haven, circle_key(session, lead) + ":")
    assert sorted(sends.values()) == [("sent", 1)] * len(members)


# --- 429: per-route and global ------------------------------------------------------------------


@pytest.mark.parametrize("global_", [False, True], ids=["per-route", "global"])
async def test_429s_during_a_circle_fan_out_are_waited_out_and_nobody_gets_two(
    haven: Haven, global_: bool
) -> None:
    session, members = await full_circle(haven)
    haven.fake.fail_next("POST", POSTS, 429, retry_after=0.2, global_=global_, times=3)

    await run_at(haven, DAY_BEFORE)

    await assert_each_reminded_once(
        haven, session, members, timedelta(hours=24), f"{FAN} with a seat: {FAN} by DM"
    )
    assert accepted_posts(haven.fake) == FAN
    assert haven.fake.count_429 == 3
    within_budget(haven.fake, 3)  # the three injected 429s, each waited out, none repeated


@pytest.mark.parametrize("global_", [False, True], ids=["per-route", "global"])
async def test_429s_on_a_checkin_reminder_are_waited_out_and_it_arrives_once(
    haven: Haven, global_: bool
) -> None:
    job = await checkin_reminder(haven)
    haven.fake.fail_next("POST", POSTS, 429, retry_after=0.2, global_=global_, times=2)

    await run_at(haven, job.due_at + timedelta(seconds=1))

    assert len(haven.fake.dms_to(ALICE)) == 1
    row = await outbox_row(haven, job.key)
    assert (row["state"], row["attempts"]) == ("done", 1)
    assert await delivery_attempts(haven, job.key) == {job.key: ("sent", 1)}
    within_budget(haven.fake, 2)


async def checkin_reminder(haven: Haven) -> Job:
    """Alice's daily check-in reminder, set with `/my reminder`: its next occurrence."""
    await say(haven, "my", "reminder", time="09:00")
    [job] = await haven.services.scheduler.pending(
        guild_id=GUILD, kind=CHECKIN_REMINDER, user_id=ALICE
    )
    assert job.due_at > NOW
    return job


# --- 5xx -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502])
async def test_a_5xx_in_a_circle_fan_out_is_retried_by_discord_py_and_sent_once(
    haven: Haven, status: int
) -> None:
    session, members = await full_circle(haven)
    haven.fake.fail_next("POST", POSTS, status, times=2)  # discord.py waits 1 s, then 3 s

    await run_at(haven, DAY_BEFORE)

    await assert_each_reminded_once(
        haven, session, members, timedelta(hours=24), f"{FAN} with a seat: {FAN} by DM"
    )
    assert sum(1 for c in haven.fake.calls if c.status == status) == 2
    assert accepted_posts(haven.fake) == FAN
    within_budget(haven.fake, 0)


class FastBackoff:
    """`discord.http`'s view of asyncio, with every sleep 100 times shorter (and recorded):
    discord.py backs off 1 + 2·try seconds after a 500, 25 s in all over its five tries."""

    def __init__(self) -> None:
        self.asked: list[float] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    async def sleep(self, delay: float, result: Any = None) -> Any:
        self.asked.append(delay)
        return await asyncio.sleep(delay / 100, result)


async def test_5xx_past_discord_py_retries_is_retried_by_the_scheduler_and_arrives_once(
    haven: Haven, monkeypatch: pytest.MonkeyPatch
) -> None:
    backoff = FastBackoff()
    monkeypatch.setattr(discord.http, "asyncio", backoff)
    job = await checkin_reminder(haven)
    haven.fake.fail_next("POST", POSTS, 500, times=5)  # all five of discord.py's tries

    await run_at(haven, job.due_at + timedelta(seconds=1))

    # discord.py's own five tries, backing off after each, then it gave up.
    assert [d for d in backoff.asked if d > 0] == [1, 3, 5, 7, 9]
    assert haven.fake.dms_to(ALICE) == []
    row = await outbox_row(haven, job.key)
    assert (row["state"], row["attempts"], row["note"]) == (
        "pending",
        1,
        "Discord did not accept the DM",
    )

    await run_at(haven, job.due_at + timedelta(minutes=10, seconds=1))  # the scheduler's Retry

    assert len(haven.fake.dms_to(ALICE)) == 1
    row = await outbox_row(haven, job.key)
    assert (row["state"], row["attempts"]) == ("done", 2)
    assert await delivery_attempts(haven, job.key) == {job.key: ("sent", 2)}
    assert sum(1 for c in haven.fake.calls if c.status == 500) == 5
    within_budget(haven.fake, 0)


async def test_a_dm_discord_never_takes_is_given_up_at_its_deadline_not_retried_forever(
    haven: Haven,
) -> None:
    job = await checkin_reminder(haven)
    haven.fake.fail_next("POST", POSTS, 503, times=1000)  # 503: discord.py does not retry it

    runs = 0
    while (row := await outbox_row(haven, job.key))["state"] == "pending" and runs < 50:
        runs += 1
        await run_at(haven, from_db(row["due_at"]) + timedelta(seconds=1))

    # Every 10 minutes until the two-hour deadline (at most 2 h / 10 min + 1 tries), then
    # given up; each attempt cost Discord exactly one request.
    assert row["state"] == "failed" and row["note"] == "gave up: Discord did not accept the DM"
    assert row["attempts"] == runs <= 13
    assert sum(1 for c in haven.fake.calls if c.status == 503) == runs
    assert haven.fake.dms_to(ALICE) == []
    # The chain goes on: tomorrow's reminder is planned.
    [tomorrow] = await haven.services.scheduler.pending(
        guild_id=GUILD, kind=CHECKIN_REMINDER, user_id=ALICE
    )
    assert tomorrow.due_at == job.due_at + timedelta(days=1)
    within_budget(haven.fake, 0)


# --- timeouts ------------------------------------------------------------------------------------

ANSWER_WITHIN = 0.3  # seconds: the test's deadline for Discord's answers (Haven's is 30 s)
HANG = 1.0  # how long the fake holds an answer: longer than the deadline


async def test_a_dm_whose_answer_times_out_is_retried_and_discord_drops_the_repeat(
    haven: Haven,
) -> None:
    """Discord made the message but its answer never came: the ledger can't know it arrived.
    The retry carries the same nonce with `enforce_nonce`, so Discord answers with the first
    message instead of making a second."""
    bound_requests(haven.bot.http, ANSWER_WITHIN)
    job = await checkin_reminder(haven)
    haven.fake.hang_next("POST", POSTS, HANG, processed=True)

    await run_at(haven, job.due_at + timedelta(seconds=1))

    assert len(haven.fake.dms_to(ALICE)) == 1  # it reached Discord; Haven never heard back
    row = await outbox_row(haven, job.key)
    assert (row["state"], row["attempts"], row["note"]) == (
        "pending",
        1,
        "Discord did not accept the DM",
    )
    assert await delivery_attempts(haven, job.key) == {job.key: ("failed", 1)}

    await run_at(haven, job.due_at + timedelta(minutes=10, seconds=1))  # the scheduler's Retry

    assert len(haven.fake.dms_to(ALICE)) == 1
    assert haven.fake.store.nonce_duplicates == 1
    row = await outbox_row(haven, job.key)
    assert (row["state"], row["attempts"]) == ("done", 2)
    assert await delivery_attempts(haven, job.key) == {job.key: ("sent", 2)}
    within_budget(haven.fake, 0)


async def test_a_dm_stuck_on_the_way_in_during_a_fan_out_arrives_once(haven: Haven) -> None:
    """One reminder of a fan-out hangs before Discord acts on it; the rest go out meanwhile.
    The stuck request lands after Haven gave up on it, and the fan-out's retry is dropped as a
    repeat: one reminder each, and the others are not sent twice."""
    bound_requests(haven.bot.http, ANSWER_WITHIN)
    session, members = await full_circle(haven)
    haven.fake.hang_next("POST", POSTS, HANG, processed=False)

    await run_at(haven, DAY_BEFORE)

    key = circle_key(session, timedelta(hours=24))
    row = await outbox_row(haven, key)
    assert (row["state"], row["attempts"], row["note"]) == (
        "pending",
        1,
        f"1 of {FAN} reminders did not go out",
    )
    await asyncio.sleep(HANG)  # the stuck request reaches Discord after all

    await run_at(haven, DAY_BEFORE + RETRY_AFTER + timedelta(seconds=1))

    assert [len(reminders(haven, u)) for u in members] == [1] * len(members)
    assert haven.fake.store.nonce_duplicates == 1
    row = await outbox_row(haven, key)
    assert (row["state"], row["attempts"]) == ("done", 2)
    sends = await delivery_attempts(haven, key + ":")
    assert sorted(sends.values()) == [("sent", 1)] * (FAN - 1) + [("sent", 2)]
    within_budget(haven.fake, 0)


# --- 50007: closed DMs ---------------------------------------------------------------------------


async def test_closed_dms_in_a_fan_out_get_one_channel_mention_each_and_no_second_knock(
    haven: Haven,
) -> None:
    session, members = await full_circle(haven)
    closed, open_ = members[:3], members[3:]
    for user in closed:
        haven.fake.close_dms(user)

    await run_at(haven, DAY_BEFORE)
    note = f"{FAN} with a seat: 7 by DM, 3 in the channel"
    row = await outbox_row(haven, circle_key(session, timedelta(hours=24)))
    assert (row["state"], row["attempts"], row["note"]) == ("done", 1, note)
    assert [len(reminders(haven, u)) for u in open_] == [1] * len(open_)
    posts = haven.fake.messages_in(CH_CIRCLES)
    assert sorted(p.pinged_user_ids[0] for p in posts) == sorted(closed)
    assert all(len(p.pinged_user_ids) == 1 and TITLE in p.text for p in posts)
    within_budget(haven.fake, 3)  # one 403 (50007) per closed door

    # Not retried: running again, and again after the fan-out's retry delay, changes nothing.
    calls = len(haven.fake.calls)
    await haven.run_due()
    await run_at(haven, DAY_BEFORE + RETRY_AFTER + timedelta(seconds=1))
    assert [c for c in haven.fake.calls[calls:] if c.path.endswith("/messages")] == []

    # The next lead: the closed doors are remembered, so no second 403, one mention each.
    await run_at(haven, HOUR_BEFORE)
    assert [len(reminders(haven, u)) for u in open_] == [2] * len(open_)
    assert [len(haven.fake.dms_to(u)) for u in closed] == [0] * len(closed)
    assert len(haven.fake.messages_in(CH_CIRCLES)) == 6
    row = await outbox_row(haven, circle_key(session, timedelta(hours=1)))
    assert (row["state"], row["attempts"], row["note"]) == ("done", 1, note)
    within_budget(haven.fake, 3)


# --- a configured channel that refuses Haven, or is gone ----------------------------------------


def mod_posts(haven: Haven) -> list[str]:
    return [m.text for m in haven.fake.messages_in(CH_MODS)]


async def prompt_in_the_circles_channel(haven: Haven) -> Job:
    """A server with a moderators' channel, a circle in CH_CIRCLES and the daily prompt there
    too: the prompt's next occurrence."""
    await say(haven, "haven", "setup", user=MONA, checkin_channel=CH_CHECKINS, mod_channel=CH_MODS)
    await haven.services.circles.create(
        GUILD, name="Evening", weekday="sunday", at="19:00", channel_id=CH_CIRCLES
    )
    await say(haven, "haven", "prompt", user=MONA, time="09:00", channel_=CH_CIRCLES)
    [job] = await haven.services.scheduler.pending(guild_id=GUILD, kind=PROMPT)
    assert job.due_at > NOW
    return job


async def test_missing_permissions_on_the_daily_prompt_tell_moderators_once_without_a_storm(
    haven: Haven,
) -> None:
    job = await prompt_in_the_circles_channel(haven)
    # Room for a storm: were Haven to retry, these would answer it (and be counted).
    haven.fake.fail_next("POST", rf"/channels/{CH_CIRCLES}/messages", 403, code=50013, times=5)

    await run_at(haven, job.due_at + timedelta(seconds=1))
    await haven.run_due()
    await run_at(haven, job.due_at + timedelta(minutes=30))

    assert haven.fake.messages_in(CH_CIRCLES) == []
    [notice] = mod_posts(haven)
    assert f"<#{CH_CIRCLES}>" in notice and "/haven status" in notice
    row = await outbox_row(haven, job.key)
    assert (row["state"], row["attempts"], row["note"]) == ("done", 1, "no_access")
    # The setting stays: a moderator can give the permission back.
    prompt = await haven.services.prompts.rule(GUILD)
    assert prompt is not None and prompt.channel_id == CH_CIRCLES
    refused = [c for c in haven.fake.calls if c.status == 403]
    assert [(c.path, c.response["code"]) for c in refused] == [
        (f"/channels/{CH_CIRCLES}/messages", 50013)
    ]
    within_budget(haven.fake, 1)
    assert haven.fake.rejections == []  # injected faults are not the bot's mistakes


async def test_an_unknown_channel_clears_the_configuration_and_tells_moderators_once(
    haven: Haven,
) -> None:
    job = await prompt_in_the_circles_channel(haven)
    haven.fake.fail_next("POST", rf"/channels/{CH_CIRCLES}/messages", 404, code=10003, times=5)

    await run_at(haven, job.due_at + timedelta(seconds=1))
    await haven.run_due()

    row = await outbox_row(haven, job.key)
    assert (row["state"], row["attempts"], row["note"]) == ("done", 1, "no_access")
    prompt = await haven.services.prompts.rule(GUILD)
    assert prompt is not None and prompt.channel_id is None
    assert (await haven.services.circles.get(GUILD, "Evening")).channel_id is None
    [notice] = mod_posts(haven)
    assert "deleted" in notice and "Evening" in notice and "daily check-in prompt" in notice
    assert sum(1 for c in haven.fake.calls if c.status == 404) == 1  # asked once, never again

    # The next day's prompt falls back to the check-in channel, once; nothing more is said.
    [tomorrow] = await haven.services.scheduler.pending(guild_id=GUILD, kind=PROMPT)
    await run_at(haven, tomorrow.due_at + timedelta(seconds=1))
    assert len(haven.fake.messages_in(CH_CHECKINS)) == 1
    assert len(mod_posts(haven)) == 1
    within_budget(haven.fake, 0)
    assert haven.fake.rejections == []


async def test_a_circle_channel_refusing_the_fallback_tells_moderators_once_without_a_storm(
    haven: Haven,
) -> None:
    await say(haven, "haven", "setup", user=MONA, checkin_channel=CH_CHECKINS, mod_channel=CH_MODS)
    session, members = await full_circle(haven)
    closed, open_ = members[:3], members[3:]
    for user in closed:
        haven.fake.close_dms(user)
    # Room for a storm: were Haven to retry the mentions, these would answer it.
    haven.fake.fail_next("POST", rf"/channels/{CH_CIRCLES}/messages", 403, code=50013, times=20)

    await run_at(haven, DAY_BEFORE)
    await haven.run_due()
    await run_at(haven, DAY_BEFORE + RETRY_AFTER + timedelta(seconds=1))

    assert [len(reminders(haven, u)) for u in open_] == [1] * len(open_)
    assert haven.fake.messages_in(CH_CIRCLES) == []
    row = await outbox_row(haven, circle_key(session, timedelta(hours=24)))
    assert (row["state"], row["attempts"], row["note"]) == (
        "done",
        1,
        f"{FAN} with a seat: 7 by DM, 3 no_access",
    )
    [notice] = mod_posts(haven)
    assert f"<#{CH_CIRCLES}>" in notice and "Evening circle" in notice
    refused = sorted(c.response["code"] for c in haven.fake.calls if c.status == 403)
    assert refused == [50007] * 3 + [50013] * 3  # one knock per closed door, one per mention
    within_budget(haven.fake, 6)
    assert haven.fake.rejections == []
