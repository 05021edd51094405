"""Channels that stop working (bot/channel_care.py), end to end: a deleted channel is cleared
from every setting that named it and the moderators are told once; a channel that refuses
Haven (Missing Permissions) is reported to them at most once a day and keeps its setting."""

from __future__ import annotations

from tests.clock import utc
from tests.conftest import Haven, say
from tests.fakediscord import CH_CHECKINS, CH_CIRCLES, CH_LOCKED, CH_MODS, GUILD, MONA


def mod_posts(haven: Haven) -> list[str]:
    return [m.text for m in haven.fake.messages_in(CH_MODS)]


async def configured(haven: Haven) -> None:
    haven.clock.set(utc(2027, 3, 1, 12))
    await say(haven, "haven", "setup", user=MONA, checkin_channel=CH_CHECKINS, mod_channel=CH_MODS)
    await haven.services.circles.create(
        GUILD, name="Evening", weekday="sunday", at="19:00", channel_id=CH_CIRCLES
    )
    await say(haven, "haven", "prompt", user=MONA, time="09:00", channel_=CH_CIRCLES)
    assert (await haven.services.prompts.rule(GUILD)).channel_id == CH_CIRCLES  # type: ignore[union-attr]


async def test_a_deleted_channel_is_cleared_everywhere_and_moderators_told_once(
    haven: Haven,
) -> None:
    await configured(haven)
    await haven.fake.dispatch("CHANNEL_DELETE", haven.fake.world.channel_payload(CH_CIRCLES))
    del haven.fake.world.channels[CH_CIRCLES]
    await haven.settle()

    circle = await haven.services.circles.get(GUILD, "Evening")
    assert circle.channel_id is None
    prompt = await haven.services.prompts.rule(GUILD)
    assert prompt is not None and prompt.channel_id is None
    [notice] = mod_posts(haven)
    assert "deleted" in notice and "Evening" in notice and "daily check-in prompt" in notice

    # Discord answering Unknown Channel later says nothing new: told once.
    await haven.services.channel_care.trouble(GUILD, CH_CIRCLES, "gone")
    assert len(mod_posts(haven)) == 1


async def test_an_unknown_channel_answer_clears_the_setting(haven: Haven) -> None:
    await configured(haven)
    haven.fake.fail_next("POST", rf"/channels/{CH_CHECKINS}/messages", 404, code=10003)
    await say(haven, "checkin", feeling="bright", share="channel")
    config = await haven.services.guilds.get(GUILD)
    assert config.checkin_channel_id is None
    assert any("check-in channel" in text for text in mod_posts(haven))
    haven.fake.rejections.clear()  # the 404 was the test's own


async def test_a_channel_that_refuses_haven_is_reported_once_a_day_and_kept(
    haven: Haven,
) -> None:
    await configured(haven)
    haven.fake.fail_next("POST", rf"/channels/{CH_CHECKINS}/messages", 403, code=50013, times=2)
    await say(haven, "checkin", feeling="bright", share="channel")
    await say(haven, "checkin", feeling="settled", share="channel")
    [notice] = mod_posts(haven)
    assert f"<#{CH_CHECKINS}>" in notice and "/haven status" in notice
    assert (await haven.services.guilds.get(GUILD)).checkin_channel_id == CH_CHECKINS
    haven.fake.rejections.clear()  # the 403s were the test's own


async def test_status_names_each_feature_channel_haven_cannot_post_in(haven: Haven) -> None:
    """/haven status checks the channels features were set up with, not only the server's own
    settings: a circle's channel that refuses Haven is named with what it is for; an archived
    circle's channel is nobody's concern any more."""
    haven.clock.set(utc(2027, 3, 1, 12))
    circles = haven.services.circles
    await circles.create(
        GUILD, name="Grief *circle*", weekday="monday", at="19:00", channel_id=CH_LOCKED
    )
    await circles.create(GUILD, name="Old", weekday="tuesday", at="19:00", channel_id=CH_LOCKED)
    await circles.archive(GUILD, "Old")

    status = (await say(haven, "haven", "status", user=MONA)).text

    [line] = [line for line in status.splitlines() if f"<#{CH_LOCKED}>" in line]
    assert "The circle “Grief \\*circle\\*”" in line and "Send Messages" in line
    assert "Old" not in status
