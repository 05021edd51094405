"""Remembered DM channels, against the fake: the id Discord gave for a member's DMs is kept in
`dm_channels`, so a DM after a restart costs one request (the message), not two; /my forget
removes it; and a channel Discord no longer knows is forgotten and opened afresh."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest

from tests.clock import FakeClock, utc
from tests.conftest import Haven, NewDatabase, say
from tests.fakediscord import ALICE, Call, FakeDiscord

OPEN_DM = "/users/@me/channels"


def rest_calls(haven: Haven, since: int) -> list[Call]:
    """Every REST request the bot made since a mark, but its answers to interactions."""
    return [
        c for c in haven.fake.calls[since:] if not c.path.startswith(("/interactions", "/webhooks"))
    ]


def dm_requests(haven: Haven, since: int) -> list[str]:
    """The requests since a mark that opened a DM channel or posted a message, in order."""
    return [
        f"{c.method} {c.path} {c.status}"
        for c in rest_calls(haven, since)
        if c.path == OPEN_DM or re.fullmatch(r"/channels/\d+/messages", c.path)
    ]


async def remembered(haven: Haven, user: int = ALICE) -> int | None:
    channel_id: int | None = await haven.services.db.fetchval(
        "SELECT channel_id FROM dm_channels WHERE user_id = ?", (user,)
    )
    return channel_id


async def reminder_at(haven: Haven, instant: datetime) -> None:
    haven.clock.set(instant)
    await haven.run_due()


async def first_reminder(haven: Haven) -> int:
    """Turn on a daily 09:00 UTC reminder, let the first arrive; the DM channel's id."""
    await say(haven, "my", "reminder", time="09:00")
    since = haven.fake.mark()
    await reminder_at(haven, utc(2026, 11, 29, 9, 0, 3))
    assert len(haven.fake.dms_to(ALICE)) == 1
    channel = haven.fake.world.dm_channels[ALICE]
    assert dm_requests(haven, since) == [
        f"POST {OPEN_DM} 200",
        f"POST /channels/{channel}/messages 200",
    ]
    return channel


@pytest.fixture
async def haven_with_members(
    fake: FakeDiscord, tmp_path: Path, clock: FakeClock, new_database: NewDatabase
) -> AsyncIterator[Haven]:
    """A bot with the members intent, so no membership look-up stands before a DM."""
    app = Haven(
        fake, tmp_path / "haven.db", clock, members_intent=True, database_url=await new_database()
    )
    await app.start()
    try:
        yield app
        await app.settle()
        app.assert_alive()
        assert fake.rejections == [], f"the fake rejected what the bot sent: {fake.rejections}"
    finally:
        await app.stop()


async def test_the_first_dm_opens_the_channel_and_writes_it_down(haven: Haven) -> None:
    channel = await first_reminder(haven)
    assert await remembered(haven) == channel
    opened_at = await haven.services.db.fetchval(
        "SELECT opened_at FROM dm_channels WHERE user_id = ?", (ALICE,)
    )
    assert opened_at == "2026-11-29T09:00:03Z"


async def test_a_dm_after_a_restart_costs_one_request_not_two(haven: Haven) -> None:
    channel = await first_reminder(haven)
    await haven.restart()
    since = haven.fake.mark()
    await reminder_at(haven, utc(2026, 11, 30, 9, 0, 3))
    assert len(haven.fake.dms_to(ALICE)) == 2
    assert dm_requests(haven, since) == [f"POST /channels/{channel}/messages 200"]


async def test_with_the_members_intent_the_dm_after_a_restart_is_the_only_request(
    haven_with_members: Haven,
) -> None:
    haven = haven_with_members
    channel = await first_reminder(haven)
    await haven.restart()
    await haven.run_due()  # start-up's own scheduling work is done before we count
    since = haven.fake.mark()
    await reminder_at(haven, utc(2026, 11, 30, 9, 0, 3))
    assert [f"{c.method} {c.path}" for c in rest_calls(haven, since)] == [
        f"POST /channels/{channel}/messages"
    ]


async def test_my_forget_removes_the_remembered_channel(haven: Haven) -> None:
    channel = await first_reminder(haven)
    assert await remembered(haven) == channel
    asked = await say(haven, "my", "forget")
    await (await haven.fake.click(asked, "Yes, forget me here")).reply()
    assert await haven.services.db.fetchval("SELECT count(*) FROM dm_channels") == 0


async def test_a_channel_discord_no_longer_knows_is_forgotten_and_opened_afresh(
    haven: Haven,
) -> None:
    fake = haven.fake
    old = await first_reminder(haven)
    await haven.restart()  # the next DM reads the channel from the database
    # Discord forgot the conversation: posting in it is a 404, and opening gives a new one.
    del fake.world.dm_channels[ALICE]
    fake.fail_next("POST", rf"/channels/{old}/messages", 404, code=10003)
    since = fake.mark()
    await reminder_at(haven, utc(2026, 11, 30, 9, 0, 3))

    new = fake.world.dm_channels[ALICE]
    assert new != old
    assert dm_requests(haven, since) == [
        f"POST /channels/{old}/messages 404",
        f"POST {OPEN_DM} 200",
        f"POST /channels/{new}/messages 200",
    ]
    [dm] = fake.dms_to(ALICE)  # the reminder still arrived, once, in the new channel
    assert "check-in reminder" in dm.text
    assert await remembered(haven) == new

    since = fake.mark()
    await reminder_at(haven, utc(2026, 12, 1, 9, 0, 3))
    assert dm_requests(haven, since) == [f"POST /channels/{new}/messages 200"]
