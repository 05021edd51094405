"""The delivery core against the fake: once-only sends, closed DMs, 429s and pacing."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from bot.messages import Card, Outgoing
from bot.outgoing import Delivered
from bot.pacing import Pacer
from tests.clock import FakeClock
from tests.conftest import Haven, NewDatabase
from tests.fakediscord import ALICE, BOB, CH_GENERAL, CH_LOCKED, GUILD, FakeDiscord

HELLO = Outgoing(content="Hello @everyone <@1000000000000000004>", cards=(Card("a card"),))


async def test_a_key_is_sent_once_even_if_the_record_is_lost(haven: Haven) -> None:
    delivery = haven.services.delivery
    assert await delivery.to_channel("k:1", CH_GENERAL, HELLO, guild_id=GUILD) is Delivered.SENT
    assert await delivery.to_channel("k:1", CH_GENERAL, HELLO, guild_id=GUILD) is (
        Delivered.ALREADY_SENT
    )
    # A crash between Discord accepting the message and the ledger saying so: the retry
    # carries the same nonce, and Discord hands back the original instead of a second message.
    await haven.services.db.execute("DELETE FROM deliveries")
    assert await delivery.to_channel("k:1", CH_GENERAL, HELLO, guild_id=GUILD) is Delivered.SENT
    assert len(haven.fake.messages_in(CH_GENERAL)) == 1


async def test_nothing_haven_sends_pings_anyone(haven: Haven) -> None:
    await haven.services.delivery.to_channel("k:ping", CH_GENERAL, HELLO, guild_id=GUILD)
    [message] = haven.fake.messages_in(CH_GENERAL)
    assert "@everyone" in message.content
    assert message.pinged_user_ids == [] and not message.pinged_everyone


async def test_a_closed_dm_is_remembered_and_not_knocked_on_again(haven: Haven) -> None:
    fake, delivery = haven.fake, haven.services.delivery
    fake.close_dms(BOB)
    assert (
        await delivery.to_member("dm:1", BOB, HELLO, guild_id=GUILD, kind="checkin-reminder")
        is Delivered.DM_CLOSED
    )
    posts_before = _message_posts(haven)
    assert (
        await delivery.to_member("dm:2", BOB, HELLO, guild_id=GUILD, kind="checkin-reminder")
        is Delivered.DM_CLOSED
    )
    assert _message_posts(haven) == posts_before  # no second 403 toward Discord's ban budget
    await delivery.reopen_dm(BOB)
    fake.open_dms(BOB)
    assert (
        await delivery.to_member("dm:3", BOB, HELLO, guild_id=GUILD, kind="checkin-reminder")
        is Delivered.SENT
    )
    assert len(fake.dms_to(BOB)) == 1


async def test_a_channel_without_permission_is_not_even_tried(haven: Haven) -> None:
    result = await haven.services.delivery.to_channel("k:locked", CH_LOCKED, HELLO, guild_id=GUILD)
    assert result is Delivered.NO_ACCESS
    assert not [c for c in haven.fake.calls if f"/channels/{CH_LOCKED}/messages" in c.path]


async def test_a_429_with_via_is_waited_out(haven: Haven) -> None:
    haven.fake.fail_next("POST", r"/channels/\d+/messages", 429, retry_after=0.05)
    result = await haven.services.delivery.to_member(
        "dm:429", ALICE, HELLO, guild_id=GUILD, kind="checkin-reminder"
    )
    assert result is Delivered.SENT
    assert len(haven.fake.dms_to(ALICE)) == 1


async def test_a_server_error_is_reported_as_failed_not_raised(haven: Haven) -> None:
    haven.fake.fail_next("POST", r"/channels/\d+/messages", 503, times=5)
    result = await haven.services.delivery.to_channel("k:503", CH_GENERAL, HELLO, guild_id=GUILD)
    assert result is Delivered.FAILED
    row = await haven.services.db.fetchone("SELECT state FROM deliveries WHERE key = 'k:503'")
    assert row is not None and row["state"] == "failed"


def _message_posts(haven: Haven) -> int:
    return sum(1 for c in haven.fake.calls if c.method == "POST" and c.path.endswith("/messages"))


class CountingPacer(Pacer):
    def __init__(self) -> None:
        super().__init__(per_second=1000)
        self.waits = 0

    async def wait(self) -> None:
        self.waits += 1
        await super().wait()


async def test_every_rest_request_is_paced_but_interaction_replies_are_not(
    fake: FakeDiscord, tmp_path: Path, clock: FakeClock, new_database: NewDatabase
) -> None:
    pacer = CountingPacer()
    app = Haven(fake, tmp_path / "h.db", clock, pacer=pacer, database_url=await new_database())
    await app.start()
    try:
        before = pacer.waits
        await (await fake.slash("support")).reply()  # an interaction callback: exempt
        assert pacer.waits == before
        await app.services.delivery.to_member(
            "k:paced", BOB, HELLO, guild_id=GUILD, kind="checkin-reminder"
        )
        # Is Bob still a member? Then open the DM channel, then post in it.
        assert pacer.waits == before + 3
    finally:
        await app.stop()


async def test_pacer_spaces_requests_evenly() -> None:
    now = [0.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    pacer = Pacer(per_second=50, clock=lambda: now[0], sleep=sleep)
    for _ in range(100):
        await pacer.wait()
    # 50 in the first second, 18 ms apart; the 51st waits for the first to leave the window.
    assert slept[:49] == pytest.approx([0.018] * 49)
    assert now[0] == pytest.approx(1.0 + 49 * 0.018)


async def test_pacer_does_not_burst_after_the_loop_wakes_late() -> None:
    now = [0.0]
    sent: list[float] = []

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    pacer = Pacer(per_second=45, clock=lambda: now[0], sleep=sleep)
    for i in range(300):
        if i % 40 == 39:
            now[0] += 0.4  # the event loop was busy: many slots "passed" meanwhile
        await pacer.wait()
        sent.append(now[0])
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    assert min(gaps) >= 0.9 / 45 - 1e-9
    busiest = max(sum(1 for t in sent if start <= t < start + 1.0) for start in sent)
    assert busiest <= 45
