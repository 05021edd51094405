"""The bot down across scheduled moments, for 10 minutes and for 2 days, per kind of message.

For each kind: set it up, stop the bot, move the clock past the message's moment — by
`SHORT` (10 minutes) or by `LONG` (2 days, and the same 10 minutes, so no deadline is hit on
the dot) — start it and run what is due. What is still meaningful is sent exactly once; what
is stale is skipped (its outbox row `missed`); the chain goes on (the next occurrence is
planned); and a second restart sends nothing again. The rule per kind is the table
"Downtime: the rule per kind of message" in docs/reliability.md.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from bot.buddies import CHECKBACK, RUN
from bot.buddies.values import HEADS_UP
from bot.circles import REMINDER as CIRCLE_REMINDER
from bot.circles import START as CIRCLE_START
from bot.circles import Circle, Session
from bot.hosting import AFTERCARE, COVER_DEADLINE
from bot.noticing import KIND as NOTICING
from bot.prompts import KIND as PROMPT
from bot.reminders import KIND as REMINDER
from tests.clock import utc
from tests.conftest import Haven, say
from tests.fakediscord import ALICE, BOB, CAROL, CH_CHECKINS, CH_CIRCLES, GUILD, MONA, Message

SHORT = timedelta(minutes=10)
LONG = timedelta(days=2, minutes=10)
DOWNTIMES = [pytest.param(SHORT, id="10-minutes"), pytest.param(LONG, id="2-days")]


# --- helpers ---------------------------------------------------------------------------------


async def down_until(haven: Haven, instant: datetime) -> None:
    """The bot is down from now until `instant`; then it starts and runs what is due."""
    await haven.stop()
    haven.clock.set(instant)
    await haven.start()
    await haven.run_due()


async def restart_again(haven: Haven) -> None:
    """A second restart at the same instant: it must send nothing new."""
    await haven.restart()
    await haven.run_due()
    await haven.settle()


async def state(haven: Haven, key: str) -> str | None:
    value = await haven.services.db.fetchval("SELECT state FROM outbox WHERE key = ?", (key,))
    return None if value is None else str(value)


async def pending(haven: Haven, kind: str, user: int | None = None) -> list[datetime]:
    jobs = await haven.services.scheduler.pending(guild_id=GUILD, kind=kind, user_id=user)
    return [j.due_at for j in jobs]


def dms(haven: Haven, user: int, containing: str) -> list[Message]:
    return [m for m in haven.fake.dms_to(user) if not m.deleted and containing in m.text]


# --- personal check-in reminders (deadline: 2 hours late) ------------------------------------

REMINDER_AT = utc(2026, 11, 28, 13)  # 13:00 UTC; the clock starts at noon
REMINDER_TITLE = "gentle check-in reminder"


def reminder_key(day: str) -> str:
    return f"{REMINDER}:{GUILD}:{ALICE}:{day}"


async def test_a_reminder_10_minutes_late_is_sent_once_and_the_next_is_planned(
    haven: Haven,
) -> None:
    await say(haven, "my", "reminder", time="13:00")
    assert await pending(haven, REMINDER, ALICE) == [REMINDER_AT]

    await down_until(haven, REMINDER_AT + SHORT)
    assert len(dms(haven, ALICE, REMINDER_TITLE)) == 1
    assert await state(haven, reminder_key("2026-11-28")) == "done"
    assert await pending(haven, REMINDER, ALICE) == [REMINDER_AT + timedelta(days=1)]

    await restart_again(haven)
    assert len(dms(haven, ALICE, REMINDER_TITLE)) == 1


async def test_a_reminder_2_days_late_is_skipped_and_the_chain_goes_on(haven: Haven) -> None:
    await say(haven, "my", "reminder", time="13:00")

    await down_until(haven, REMINDER_AT + LONG)
    assert await state(haven, reminder_key("2026-11-28")) == "missed"
    assert await state(haven, reminder_key("2026-11-29")) is None  # never planned
    assert await pending(haven, REMINDER, ALICE) == [utc(2026, 12, 1, 13)]
    sent = len(dms(haven, ALICE, REMINDER_TITLE))
    assert sent <= 1  # never the stale one(s) on top

    await restart_again(haven)
    assert len(dms(haven, ALICE, REMINDER_TITLE)) == sent


async def test_after_2_days_down_the_reminder_due_just_before_the_restart_still_arrives(
    haven: Haven,
) -> None:
    await say(haven, "my", "reminder", time="13:00")

    await down_until(haven, REMINDER_AT + LONG)  # 30 Nov 13:10: the 30th's was due at 13:00
    assert await state(haven, reminder_key("2026-11-30")) == "done"
    assert len(dms(haven, ALICE, REMINDER_TITLE)) == 1


# --- the daily prompt (deadline: the end of the server's local day) --------------------------

PROMPT_AT = utc(2026, 11, 28, 14)  # 09:00 in New York


def prompt_key(day: str) -> str:
    return f"{PROMPT}:{GUILD}:{day}"


async def prompt_setup(haven: Haven) -> None:
    await say(
        haven,
        "haven",
        "setup",
        user=MONA,
        checkin_channel=CH_CHECKINS,
        timezone="America/New_York",
    )
    reply = await say(haven, "haven", "prompt", user=MONA, time="09:00")
    assert "09:00" in reply.text
    assert await pending(haven, PROMPT) == [PROMPT_AT]


def prompts_posted(haven: Haven) -> list[Message]:
    return [m for m in haven.fake.messages_in(CH_CHECKINS) if "Daily check-in" in m.text]


@pytest.mark.parametrize("down", DOWNTIMES)
async def test_the_daily_prompt_after_downtime_posts_todays_once(
    haven: Haven, down: timedelta
) -> None:
    await prompt_setup(haven)

    await down_until(haven, PROMPT_AT + down)
    # Either way one prompt: today's (local), late; a stale day's is skipped.
    assert len(prompts_posted(haven)) == 1
    if down == SHORT:
        assert await state(haven, prompt_key("2026-11-28")) == "done"
        assert await pending(haven, PROMPT) == [utc(2026, 11, 29, 14)]
    else:
        assert await state(haven, prompt_key("2026-11-28")) == "missed"
        assert await state(haven, prompt_key("2026-11-29")) is None
        assert await state(haven, prompt_key("2026-11-30")) == "done"
        assert await pending(haven, PROMPT) == [utc(2026, 12, 1, 14)]

    await restart_again(haven)
    assert len(prompts_posted(haven)) == 1


# --- gentle noticing (deadline: 1 day late) --------------------------------------------------

NUDGE = "went quiet"


@pytest.mark.parametrize("down", DOWNTIMES)
async def test_a_noticing_nudge_after_downtime(haven: Haven, down: timedelta) -> None:
    await haven.services.buddies.pair(GUILD, [ALICE, BOB], "2026-11-01T00:00:00Z")
    await say(haven, "my", "noticing", enabled=True, days=4)
    for _ in range(3):
        await say(haven, "checkin", feeling="heavy")
        haven.clock.advance(days=1)
    moment = utc(2026, 12, 4, 12)  # four days after the last check-in (30 Nov, noon)
    [watch] = await haven.services.scheduler.pending(guild_id=GUILD, kind=NOTICING, user_id=ALICE)
    assert watch.due_at == moment

    await down_until(haven, moment + down)
    if down == SHORT:
        assert len(dms(haven, BOB, NUDGE)) == 1
        assert await state(haven, watch.key) == "done"
    else:
        assert dms(haven, BOB, NUDGE) == []
        assert await state(haven, watch.key) == "missed"
    await restart_again(haven)
    assert len(dms(haven, BOB, NUDGE)) == (1 if down == SHORT else 0)

    # The chain: her next check-in starts the next watch.
    await say(haven, "checkin", feeling="settled")
    assert await pending(haven, NOTICING, ALICE) == [haven.clock() + timedelta(days=4)]


# --- listening circles: reminders (deadline: the start) and the session start (its end) ------

# Saturday 5 June 2027, noon UTC (the fake refuses events in the real past). The circle meets
# Sundays at 19:00 in New York: 6 June, 23:00–00:00 UTC; reminders a day and an hour before.
CIRCLE_NOW = utc(2027, 6, 5, 12)
SESSION_START = utc(2027, 6, 6, 23)
DAY_BEFORE = SESSION_START - timedelta(days=1)
HOUR_BEFORE = SESSION_START - timedelta(hours=1)
CIRCLE_CARD = "Your circle is coming up"


async def evening(haven: Haven, *going: int) -> tuple[Circle, Session]:
    haven.clock.set(CIRCLE_NOW)
    circles = haven.services.circles
    circle = await circles.create(
        GUILD,
        name="Evening circle",
        weekday="sunday",
        at="19:00",
        timezone="America/New_York",
        host_id=ALICE,
        channel_id=CH_CIRCLES,
    )
    for user in going:
        await circles.join(circle, user, aftercare=True)
    session = await circles.next_session(circle)
    assert session is not None and session.starts_at == SESSION_START
    return circle, session


def circle_cards(haven: Haven, user: int) -> list[Message]:
    return dms(haven, user, CIRCLE_CARD)


@pytest.mark.parametrize("down", DOWNTIMES)
async def test_a_circle_reminder_after_downtime(haven: Haven, down: timedelta) -> None:
    _, session = await evening(haven, BOB, CAROL)
    haven.clock.set(DAY_BEFORE + timedelta(seconds=5))
    await haven.run_due()  # the day-before reminder goes on time
    assert [len(circle_cards(haven, u)) for u in (BOB, CAROL)] == [1, 1]
    hour_key = f"{CIRCLE_REMINDER}:{session.id}:60"

    await down_until(haven, HOUR_BEFORE + down)
    if down == SHORT:  # 50 minutes before the start: still worth it, once
        assert [len(circle_cards(haven, u)) for u in (BOB, CAROL)] == [2, 2]
        assert await state(haven, hour_key) == "done"
        # Late but not misleading: the card says when, absolutely and relatively.
        assert "<t:" in circle_cards(haven, BOB)[-1].text
    else:  # the session is over: nothing
        assert [len(circle_cards(haven, u)) for u in (BOB, CAROL)] == [1, 1]
        assert await state(haven, hour_key) == "missed"
    # The chain: the next session's reminders are planned.
    upcoming = await haven.services.scheduler.pending(
        guild_id=GUILD, kind=CIRCLE_REMINDER, limit=50
    )
    assert HOUR_BEFORE + timedelta(weeks=1) in [j.due_at for j in upcoming]

    await restart_again(haven)
    expected = 2 if down == SHORT else 1
    assert [len(circle_cards(haven, u)) for u in (BOB, CAROL)] == [expected] * 2


@pytest.mark.parametrize("down", DOWNTIMES)
async def test_a_circle_session_start_after_downtime_still_plans_ahead(
    haven: Haven, down: timedelta
) -> None:
    circle, session = await evening(haven)
    start_key = f"{CIRCLE_START}:{session.id}"

    await down_until(haven, SESSION_START + down)
    # Within the session (10 minutes) it runs; after its end it is missed, and the missed
    # handler plans ahead just the same.
    assert await state(haven, start_key) == ("done" if down == SHORT else "missed")
    circles = haven.services.circles
    upcoming = await circles.next_session(circle)
    assert upcoming is not None and upcoming.starts_at == SESSION_START + timedelta(weeks=1)
    future = await haven.services.db.fetchval(
        "SELECT count(*) FROM circle_sessions WHERE circle_id = ? AND starts_at > ?"
        " AND state = 'planned'",
        (circle.id, haven.clock().strftime("%Y-%m-%dT%H:%M:%SZ")),
    )
    assert future >= 7
    assert await pending(haven, CIRCLE_START)  # the next sessions' starts

    await restart_again(haven)
    assert await state(haven, start_key) == ("done" if down == SHORT else "missed")


# --- host: aftercare (deadline: 22 hours late) and the cover deadline (the session's end) ----

AFTERCARE_CARD = "After the circle"


@pytest.mark.parametrize("down", DOWNTIMES)
async def test_aftercare_after_downtime(haven: Haven, down: timedelta) -> None:
    circle, session = await evening(haven, BOB)
    haven.clock.set(SESSION_START + timedelta(minutes=30))
    reply = await (await haven.fake.slash("host", "close", circle=str(circle.id))).reply()
    assert "is closed" in reply.text
    moment = haven.clock() + timedelta(hours=2)
    assert await pending(haven, AFTERCARE) == [moment]

    await down_until(haven, moment + down)
    expected = 1 if down == SHORT else 0
    assert len(dms(haven, BOB, AFTERCARE_CARD)) == expected
    assert await state(haven, f"{AFTERCARE}:{session.id}") == ("done" if expected else "missed")

    await restart_again(haven)
    assert len(dms(haven, BOB, AFTERCARE_CARD)) == expected


@pytest.mark.parametrize("down", DOWNTIMES)
async def test_the_cover_deadline_after_downtime(haven: Haven, down: timedelta) -> None:
    circle, session = await evening(haven, CAROL)
    await haven.services.circles.set_cohost(GUILD, str(circle.id), BOB, remove=False)
    reply = await (
        await haven.fake.slash("host", "away", circle=str(circle.id), date="2027-06-06")
    ).reply()
    assert "asked 1 co-host" in reply.text
    moment = SESSION_START - timedelta(hours=2)
    assert await pending(haven, COVER_DEADLINE) == [moment]
    notice = "won't take place this time"

    await down_until(haven, moment + down)
    now = await haven.services.circles.session(session.id)
    assert now is not None
    if down == SHORT:  # 1 h 50 before the start: members still need to know, once
        assert len(dms(haven, CAROL, notice)) == 1
        assert len(dms(haven, ALICE, "Nobody was free")) == 1
        assert now.state == "cancelled"
        assert await state(haven, f"{COVER_DEADLINE}:{session.id}") == "done"
    else:  # the session is long over: nobody is told it "won't take place"
        assert dms(haven, CAROL, notice) == []
        assert await state(haven, f"{COVER_DEADLINE}:{session.id}") == "missed"
    # The next session is untouched and keeps its own work.
    upcoming = await haven.services.circles.next_session(circle)
    assert upcoming is not None and not upcoming.away and upcoming.state == "planned"

    await restart_again(haven)
    assert len(dms(haven, CAROL, notice)) == (1 if down == SHORT else 0)


# --- buddy pairing: heads-up (deadline: an hour before the run), the run (end of its local
# day) and the check-back (2 days late) -------------------------------------------------------

# Every 2 weeks, Mondays 18:00 UTC; the clock starts on Saturday 28 November 2026, noon.
HEADS_UP_AT = utc(2026, 11, 29, 18)
RUN_AT = utc(2026, 11, 30, 18)
NEXT_RUN = utc(2026, 12, 14, 18)
HEADS_UP_CARD = "Buddy pairing soon"
INTRO_CARD = "Meet your buddy"


async def pairing_setup(haven: Haven) -> None:
    for user in (ALICE, BOB):
        await haven.services.buddies.join(GUILD, user)
    reply = await say(
        haven, "haven", "buddies", user=MONA, every_weeks=2, weekday="monday", time="18:00"
    )
    assert "Saved" in reply.text
    assert await pending(haven, RUN) == [RUN_AT]
    assert await pending(haven, HEADS_UP) == [HEADS_UP_AT]


async def pairs(haven: Haven) -> list[tuple[int, ...]]:
    return sorted(p.members for p in await haven.services.buddies.pairs(GUILD))


@pytest.mark.parametrize("down", DOWNTIMES)
async def test_the_pairing_heads_up_after_downtime(haven: Haven, down: timedelta) -> None:
    await pairing_setup(haven)
    heads_up_key = f"{HEADS_UP}:{GUILD}:2026-11-30T18:00:00Z"

    await down_until(haven, HEADS_UP_AT + down)
    if down == SHORT:
        assert [len(dms(haven, u, HEADS_UP_CARD)) for u in (ALICE, BOB)] == [1, 1]
        assert await state(haven, heads_up_key) == "done"
        assert await pending(haven, RUN) == [RUN_AT]
    else:  # past the run itself too: both skipped, the next run and its heads-up planned
        assert [len(dms(haven, u, HEADS_UP_CARD)) for u in (ALICE, BOB)] == [0, 0]
        assert await state(haven, heads_up_key) == "missed"
        assert await state(haven, f"{RUN}:{GUILD}:2026-11-30") == "missed"
        assert await pairs(haven) == []
        assert await pending(haven, RUN) == [NEXT_RUN]
        assert await pending(haven, HEADS_UP) == [NEXT_RUN - timedelta(days=1)]

    await restart_again(haven)
    expected = 1 if down == SHORT else 0
    assert [len(dms(haven, u, HEADS_UP_CARD)) for u in (ALICE, BOB)] == [expected] * 2


@pytest.mark.parametrize("down", DOWNTIMES)
async def test_the_pairing_run_after_downtime(haven: Haven, down: timedelta) -> None:
    await pairing_setup(haven)
    haven.clock.set(HEADS_UP_AT + timedelta(seconds=1))
    await haven.run_due()  # the heads-up goes on time
    run_key = f"{RUN}:{GUILD}:2026-11-30"

    await down_until(haven, RUN_AT + down)
    if down == SHORT:  # ten minutes late: the run happens, once
        assert await pairs(haven) == [(ALICE, BOB)]
        assert await state(haven, run_key) == "done"
        assert [len(dms(haven, u, INTRO_CARD)) for u in (ALICE, BOB)] == [1, 1]
        [checkback] = await pending(haven, CHECKBACK)
        assert checkback == RUN_AT + SHORT + timedelta(weeks=1)
    else:  # past the end of its day: skipped, nobody paired, the next run planned
        assert await pairs(haven) == []
        assert await state(haven, run_key) == "missed"
        assert await pending(haven, CHECKBACK) == []
    assert await pending(haven, RUN) == [NEXT_RUN]
    assert await pending(haven, HEADS_UP) == [NEXT_RUN - timedelta(days=1)]

    await restart_again(haven)
    assert await pairs(haven) == ([(ALICE, BOB)] if down == SHORT else [])
    expected = 1 if down == SHORT else 0
    assert [len(dms(haven, u, INTRO_CARD)) for u in (ALICE, BOB)] == [expected] * 2


@pytest.mark.parametrize("down", DOWNTIMES)
async def test_the_check_back_after_downtime(haven: Haven, down: timedelta) -> None:
    await pairing_setup(haven)
    haven.clock.set(RUN_AT)
    await haven.run_due()  # heads-up (late by a day, within its deadline) and the run
    assert await pairs(haven) == [(ALICE, BOB)]
    [checkback] = await haven.services.scheduler.pending(guild_id=GUILD, kind=CHECKBACK)
    card = "A quiet check-back"

    await down_until(haven, checkback.due_at + down)
    expected = 1 if down == SHORT else 0
    assert [len(dms(haven, u, card)) for u in (ALICE, BOB)] == [expected] * 2
    assert await state(haven, checkback.key) == ("done" if expected else "missed")
    # The chain: the next run (which plans the next check-back) is still ahead.
    assert await pending(haven, RUN) == [NEXT_RUN]

    await restart_again(haven)
    assert [len(dms(haven, u, card)) for u in (ALICE, BOB)] == [expected] * 2
