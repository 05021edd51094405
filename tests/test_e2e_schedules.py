"""Scheduled check-in work end to end, on a clock the tests drive: the daily prompt, personal
reminders across DST, quiet hours, pauses, closed DMs, gentle noticing and retention."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from bot.prompts import KIND as PROMPT
from bot.reminders import KIND as REMINDER
from tests.clock import utc
from tests.conftest import Haven
from tests.fakediscord import ALICE, BOB, CH_CHECKINS, CH_GENERAL, CH_LOCKED, GUILD, MONA


async def pending(haven: Haven, kind: str, user: int | None = None) -> list[datetime]:
    jobs = await haven.services.scheduler.pending(guild_id=GUILD, kind=kind, user_id=user)
    return [j.due_at for j in jobs]


async def run_at(haven: Haven, instant: datetime) -> None:
    haven.clock.set(instant)
    await haven.run_due()


async def say(haven: Haven, *command: str, user: int = ALICE, **options: Any) -> str:
    return (await (await haven.fake.slash(*command, user=user, **options)).reply()).text


# --- the daily prompt ------------------------------------------------------------------------


async def prompt_setup(haven: Haven) -> None:
    await say(
        haven,
        "haven",
        "setup",
        user=MONA,
        checkin_channel=CH_CHECKINS,
        timezone="America/New_York",
    )
    haven.clock.set(utc(2026, 11, 28, 12))  # 07:00 in New York
    text = await say(haven, "haven", "prompt", user=MONA, time="09:00")
    assert f"<#{CH_CHECKINS}>" in text and "09:00" in text


async def test_the_prompt_is_posted_once_per_local_day_even_across_restarts(haven: Haven) -> None:
    await prompt_setup(haven)
    assert await pending(haven, PROMPT) == [utc(2026, 11, 28, 14)]  # 09:00 EST

    await run_at(haven, utc(2026, 11, 28, 14, 0, 5))
    [post] = haven.fake.messages_in(CH_CHECKINS)
    assert post.buttons[0]["label"] == "Check in"
    await haven.run_due()
    await haven.restart()
    await haven.run_due()
    assert len(haven.fake.messages_in(CH_CHECKINS)) == 1
    assert await pending(haven, PROMPT) == [utc(2026, 11, 29, 14)]

    await run_at(haven, utc(2026, 11, 29, 14, 0, 5))
    first, second = haven.fake.messages_in(CH_CHECKINS)
    assert first.text != second.text  # the prompts rotate


async def test_the_prompt_button_opens_the_picker(haven: Haven) -> None:
    await prompt_setup(haven)
    await run_at(haven, utc(2026, 11, 28, 14, 0, 5))
    [post] = haven.fake.messages_in(CH_CHECKINS)
    await haven.restart()  # the button must outlive the process that posted it
    opened = await haven.fake.click(post, "Check in", user=BOB)
    await opened.modal()
    reply = await (
        await haven.fake.submit_modal(opened, {"feeling": ["settled"], "share": ["private"]})
    ).reply()
    assert reply.ephemeral and "Kept private" in reply.text
    row = await haven.services.db.fetchone("SELECT user_id, feeling FROM checkins")
    assert row is not None and (row["user_id"], row["feeling"]) == (BOB, "settled")


async def test_a_prompt_missed_while_down_is_posted_late_only_the_same_local_day(
    haven: Haven,
) -> None:
    await prompt_setup(haven)
    await haven.stop()
    haven.clock.set(utc(2026, 11, 28, 20))  # 15:00 in New York: still the same day
    await haven.start()
    await haven.run_due()
    assert len(haven.fake.messages_in(CH_CHECKINS)) == 1

    await haven.stop()
    haven.clock.set(utc(2026, 11, 30, 5, 30))  # 00:30 on the 30th: the 29th's prompt is gone
    await haven.start()
    await haven.run_due()
    assert len(haven.fake.messages_in(CH_CHECKINS)) == 1
    missed = await haven.services.db.fetchval(
        "SELECT state FROM outbox WHERE key = ?", (f"{PROMPT}:{GUILD}:2026-11-29",)
    )
    assert missed == "missed"
    assert await pending(haven, PROMPT) == [utc(2026, 11, 30, 14)]


async def test_prompt_off_and_bad_prompt_input(haven: Haven) -> None:
    text = await say(haven, "haven", "prompt", user=MONA, time="09:00")
    assert "Choose a `channel:`" in text  # no channel anywhere yet
    text = await say(haven, "haven", "prompt", user=MONA, time="25:99", channel_=CH_GENERAL)
    assert "`25:99`" in text and "19:30" in text
    assert await haven.services.prompts.rule(GUILD) is None

    await say(haven, "haven", "prompt", user=MONA, time="7pm", channel_=CH_GENERAL)
    assert await pending(haven, PROMPT)
    assert "is off" in await say(haven, "haven", "prompt-off", user=MONA)
    assert await pending(haven, PROMPT) == []


# --- personal reminders ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "dues"),
    [
        # Spring forward (8 March 2026): 09:00 in New York moves from 14:00 to 13:00 UTC.
        (
            utc(2026, 3, 6, 12),
            [utc(2026, 3, 6, 14), utc(2026, 3, 7, 14), utc(2026, 3, 8, 13), utc(2026, 3, 9, 13)],
        ),
        # Fall back (1 November 2026): from 13:00 back to 14:00 UTC.
        (
            utc(2026, 10, 30, 12),
            [utc(2026, 10, 30, 13), utc(2026, 10, 31, 13), utc(2026, 11, 1, 14)],
        ),
    ],
)
async def test_reminders_arrive_at_local_time_on_both_sides_of_dst(
    haven: Haven, start: datetime, dues: list[datetime]
) -> None:
    haven.clock.set(start)
    await say(haven, "my", "timezone", zone="America/New_York")
    text = await say(haven, "my", "reminder", time="09:00")
    assert "America/New_York" in text and f"<t:{int(dues[0].timestamp())}:F>" in text
    for n, due in enumerate(dues, start=1):
        assert await pending(haven, REMINDER, ALICE) == [due]
        await run_at(haven, due.replace(second=3))
        assert len(haven.fake.dms_to(ALICE)) == n
    dm = haven.fake.dms_to(ALICE)[0]
    assert dm.buttons[0]["label"] == "Check in" and "gentle check-in reminder" in dm.text


async def test_the_dm_check_in_button_records_for_the_right_server(haven: Haven) -> None:
    await say(haven, "my", "reminder", time="13:00")
    await run_at(haven, utc(2026, 11, 28, 13, 0, 1))
    [dm] = haven.fake.dms_to(ALICE)
    opened = await haven.fake.click(dm, "Check in")
    await opened.modal()
    await (
        await haven.fake.submit_modal(opened, {"feeling": ["bright"], "share": ["private"]})
    ).reply()
    row = await haven.services.db.fetchone("SELECT guild_id FROM checkins")
    assert row is not None and row["guild_id"] == GUILD


async def test_quiet_hours_defer_a_reminder_to_their_end(haven: Haven) -> None:
    await say(haven, "my", "timezone", zone="Europe/London")
    text = await say(haven, "my", "quiet-hours", start="22:00", end="07:00")
    assert "22:00–07:00" in text
    await say(haven, "my", "reminder", time="23:30")
    assert await pending(haven, REMINDER, ALICE) == [utc(2026, 11, 29, 7)]


async def test_pause_holds_reminders_and_resume_brings_them_back(haven: Haven) -> None:
    await say(haven, "my", "reminder", time="09:00")
    assert await pending(haven, REMINDER, ALICE) == [utc(2026, 11, 29, 9)]
    text = await say(haven, "my", "pause", days=3)
    assert "paused until" in text
    assert await pending(haven, REMINDER, ALICE) == [utc(2026, 12, 2, 9)]
    text = await say(haven, "my", "resume")
    assert "Welcome back" in text and "<t:" in text
    assert await pending(haven, REMINDER, ALICE) == [utc(2026, 11, 29, 9)]


async def test_a_reminder_moved_to_a_time_already_past_stays_tomorrows_across_a_restart(
    haven: Haven,
) -> None:
    """Moved from 11:00 to 09:30 at 10:00: "next: tomorrow", and a restart must not revive
    today's cancelled occurrence as a reminder due half an hour ago."""
    haven.clock.set(utc(2026, 11, 28, 10))
    await say(haven, "my", "reminder", time="11:00")
    assert await pending(haven, REMINDER, ALICE) == [utc(2026, 11, 28, 11)]
    await say(haven, "my", "reminder", time="09:30")
    assert await pending(haven, REMINDER, ALICE) == [utc(2026, 11, 29, 9, 30)]

    await haven.restart()
    await run_at(haven, utc(2026, 11, 28, 10, 0, 5))

    assert haven.fake.dms_to(ALICE) == []
    assert await pending(haven, REMINDER, ALICE) == [utc(2026, 11, 29, 9, 30)]


async def test_reminder_off(haven: Haven) -> None:
    await say(haven, "my", "reminder", time="09:00", days="weekdays")
    assert "are off" in await say(haven, "my", "reminder-off")
    assert await pending(haven, REMINDER, ALICE) == []
    assert "nothing to stop" in await say(haven, "my", "reminder-off")


async def test_three_closed_dms_switch_the_reminder_off_and_the_member_is_told(
    haven: Haven,
) -> None:
    haven.fake.close_dms(ALICE)
    await say(haven, "my", "reminder", time="09:00")
    for day in (29, 30):
        await run_at(haven, utc(2026, 11, day, 9, 0, 1))
    assert await haven.services.reminders.rule(GUILD, ALICE) is not None
    await run_at(haven, utc(2026, 12, 1, 9, 0, 1))
    assert await haven.services.reminders.rule(GUILD, ALICE) is None
    assert await pending(haven, REMINDER, ALICE) == []
    refused = [c for c in haven.fake.errors if c.status == 403]
    assert len(refused) == 1  # the closed door was knocked on once, not three times

    ix = await haven.fake.slash("my", "privacy")
    await ix.reply()
    [notice] = await ix.followups(1)
    assert notice.ephemeral and "turned off your check-in reminders" in notice.text
    ix = await haven.fake.slash("my", "privacy")
    await ix.reply()
    await haven.settle()
    assert len(ix.messages) == 1  # told once


@pytest.mark.parametrize(
    ("command", "options", "expected"),
    [
        (("my", "reminder"), {"time": "25:99"}, "`25:99`"),
        (("my", "quiet-hours"), {"start": "22:00", "end": "22:00"}, "differ"),
        (("my", "quiet-hours"), {"start": "nightfall", "end": "07:00"}, "`nightfall`"),
        (("my", "timezone"), {"zone": "Mars/Olympus"}, "Mars/Olympus"),
    ],
)
async def test_bad_rhythm_input_is_refused_kindly_and_changes_nothing(
    haven: Haven, command: tuple[str, ...], options: dict, expected: str
) -> None:
    reply = await (await haven.fake.slash(*command, **options)).reply()
    assert reply.ephemeral and expected in reply.text
    assert await haven.services.db.fetchval("SELECT count(*) FROM member_profile") == 0
    assert await haven.services.db.fetchval("SELECT count(*) FROM checkin_reminders") == 0


async def test_out_of_range_numbers_are_refused_kindly_even_from_stale_clients(
    haven: Haven,
) -> None:
    """The schema stops these in Discord; a client with an old command list gets a kind reply."""
    [my] = [c for c in haven.fake.commands() if c["name"] == "my"]
    pause = next(o for o in my["options"] if o["name"] == "pause")
    assert (pause["options"][0]["min_value"], pause["options"][0]["max_value"]) == (1, 365)
    reply = await (await haven.fake.slash("my", "pause", days=0, unchecked=True)).reply()
    assert reply.ephemeral and "1 to 365" in reply.text
    assert await haven.services.db.fetchval("SELECT count(*) FROM member_profile") == 0


# --- gentle noticing -------------------------------------------------------------------------


async def test_noticing_nudges_the_buddy_once_per_quiet_spell(haven: Haven) -> None:
    await haven.services.buddies.pair(GUILD, [ALICE, BOB], "2026-11-01T00:00:00Z")
    text = await say(haven, "my", "noticing", enabled=True, days=4)
    assert "Gentle noticing is on" in text
    for _ in range(3):
        await say(haven, "checkin", feeling="heavy", note="private words")
        haven.clock.advance(days=1)
    await run_at(haven, utc(2026, 12, 4, 12, 1))  # four days after the last check-in
    [nudge] = haven.fake.dms_to(BOB)
    assert "went quiet" in nudge.text
    assert "private words" not in nudge.text and "Heavy" not in nudge.text
    await run_at(haven, utc(2026, 12, 8, 12, 1))
    assert len(haven.fake.dms_to(BOB)) == 1  # at most once per quiet spell


async def test_noticing_stays_silent_without_a_regular_rhythm(haven: Haven) -> None:
    await haven.services.buddies.pair(GUILD, [ALICE, BOB], "2026-11-01T00:00:00Z")
    await say(haven, "my", "noticing", enabled=True)
    await say(haven, "checkin", feeling="settled")
    await run_at(haven, utc(2026, 12, 3, 12))
    assert haven.fake.dms_to(BOB) == []


async def test_noticing_respects_a_pause(haven: Haven) -> None:
    await haven.services.buddies.pair(GUILD, [ALICE, BOB], "2026-11-01T00:00:00Z")
    await say(haven, "my", "noticing", enabled=True, days=2)
    for _ in range(3):
        await say(haven, "checkin", feeling="tender")
        haven.clock.advance(hours=6)
    await say(haven, "my", "pause", days=7)
    await run_at(haven, utc(2026, 12, 2, 12))
    assert haven.fake.dms_to(BOB) == []


# --- retention -------------------------------------------------------------------------------


async def test_checkins_past_retention_are_deleted_by_the_daily_job(haven: Haven) -> None:
    await say(haven, "haven", "setup", user=MONA, retention_days=7)
    await say(haven, "checkin", feeling="heavy", note="old words")
    haven.clock.advance(days=5)
    await say(haven, "checkin", feeling="settled", note="newer words")
    for day in range(3, 7):  # the daily tidy-up, day by day
        await run_at(haven, utc(2026, 12, day, 3, 20))
    notes = [r["note"] for r in await haven.services.db.fetchall("SELECT note FROM checkins")]
    assert notes == ["newer words"]


async def test_a_new_server_zone_moves_the_prompt_and_zone_less_reminders(haven: Haven) -> None:
    await prompt_setup(haven)  # 09:00 New York, set at 07:00 there
    await say(haven, "my", "reminder", time="10:00")  # Alice has no zone of her own
    await say(haven, "my", "reminder", user=BOB, time="10:00")
    await say(haven, "my", "timezone", user=BOB, zone="Asia/Tokyo")
    assert await pending(haven, REMINDER, ALICE) == [utc(2026, 11, 28, 15)]

    await say(haven, "haven", "setup", user=MONA, timezone="Europe/London")
    assert await pending(haven, PROMPT) == [utc(2026, 11, 29, 9)]  # 09:00 London, tomorrow
    assert await pending(haven, REMINDER, ALICE) == [utc(2026, 11, 29, 10)]
    assert await pending(haven, REMINDER, BOB) == [utc(2026, 11, 29, 1)]  # her own zone stays


async def test_noticing_can_be_turned_off(haven: Haven) -> None:
    await haven.services.buddies.pair(GUILD, [ALICE, BOB], "2026-11-01T00:00:00Z")
    await say(haven, "my", "noticing", enabled=True, days=2)
    for _ in range(3):
        await say(haven, "checkin", feeling="tender")
    assert "off" in await say(haven, "my", "noticing", enabled=False)
    await run_at(haven, utc(2026, 12, 3, 12))
    assert haven.fake.dms_to(BOB) == []
    assert await pending(haven, "noticing", ALICE) == []


async def test_prompt_in_a_channel_haven_cannot_post_in_warns_by_name(haven: Haven) -> None:
    text = await say(haven, "haven", "prompt", user=MONA, time="09:00", channel_=CH_LOCKED)
    assert "Send Messages" in text and await pending(haven, PROMPT)
