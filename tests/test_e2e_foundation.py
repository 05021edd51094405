"""The first commands end to end: /support, /my timezone and privacy, and /haven."""

from __future__ import annotations

import logging
import re

import pytest

from tests.conftest import Haven
from tests.fakediscord import (
    ALICE,
    CH_CHECKINS,
    CH_LOCKED,
    CH_MODS,
    GUILD,
    MONA,
    FakeDiscord,
    Message,
)


async def profile_row(haven: Haven, user: int = ALICE) -> dict | None:
    row = await haven.services.db.fetchone(
        "SELECT * FROM member_profile WHERE guild_id = ? AND user_id = ?", (GUILD, user)
    )
    return dict(row) if row else None


# --- /support -----------------------------------------------------------------------------


async def ask_moderators(fake: FakeDiscord, message: Message) -> Message:
    """Press "Ask a moderator to reach out", then confirm once told who will see it."""
    asked = await (await fake.click(message, "Ask a moderator to reach out")).reply()
    assert "moderators" in asked.text and "Yes, let them know" in [
        b["label"] for b in asked.buttons
    ]
    return await (await fake.click(asked, "Yes, let them know")).reply()


async def test_support_shows_resources_grounding_and_a_reach_out_button(haven: Haven) -> None:
    reply = await (await haven.fake.slash("support")).reply()
    assert reply.ephemeral
    assert "findahelpline.com" in reply.text  # Haven's default resources
    assert "A moment to ground" in reply.text
    assert [b["label"] for b in reply.buttons] == ["Ask a moderator to reach out"]
    assert haven.fake.messages_in(CH_MODS) == []  # nothing is sent until pressed


async def test_reach_out_posts_only_when_pressed_and_only_once(haven: Haven) -> None:
    fake = haven.fake
    await (await fake.slash("haven", "setup", user=MONA, mod_channel=CH_MODS)).reply()
    support = await (await fake.slash("support")).reply()

    answer = await ask_moderators(fake, support)
    assert answer.ephemeral and "let the moderators know" in answer.text
    [notice] = fake.messages_in(CH_MODS)
    assert f"<@{ALICE}>" in notice.text and "reach out" in notice.text
    assert notice.pinged_user_ids == [] and not notice.pinged_everyone

    again = await ask_moderators(fake, support)
    assert "already know" in again.text
    assert len(fake.messages_in(CH_MODS)) == 1


async def test_reach_out_without_a_mod_channel_says_so_honestly(haven: Haven) -> None:
    support = await (await haven.fake.slash("support")).reply()
    answer = await (await haven.fake.click(support, "Ask a moderator to reach out")).reply()
    assert "hasn't set up a moderators' channel" in answer.text


async def test_support_works_in_dms_without_a_server_button(haven: Haven) -> None:
    reply = await (await haven.fake.slash("support", guild=None)).reply()
    assert "findahelpline.com" in reply.text
    assert reply.buttons == []


# --- /my timezone, /my privacy ------------------------------------------------------------


async def test_timezone_set_and_show(haven: Haven) -> None:
    fake = haven.fake
    shown = await (await fake.slash("my", "timezone")).reply()
    assert "haven't set a time zone" in shown.text and "UTC" in shown.text
    saved = await (await fake.slash("my", "timezone", zone="america/new york")).reply()
    assert saved.ephemeral and "America/New_York" in saved.text
    row = await profile_row(haven)
    assert row is not None and row["timezone"] == "America/New_York"


async def test_unknown_zone_is_refused_kindly_and_changes_nothing(haven: Haven) -> None:
    reply = await (await haven.fake.slash("my", "timezone", zone="Mars/Olympus")).reply()
    assert reply.ephemeral
    assert "Mars/Olympus" in reply.text and "Europe/London" in reply.text
    assert await profile_row(haven) is None


async def test_timezone_autocomplete_ranks_best_first(haven: Haven) -> None:
    choices = await (
        await haven.fake.autocomplete("my", "timezone", focused="zone", zone="lond")
    ).choices()
    assert choices[0]["value"] == "Europe/London"
    assert 1 <= len(choices) <= 25
    many = await (
        await haven.fake.autocomplete("my", "timezone", focused="zone", zone="a")
    ).choices()
    assert len(many) == 25


async def test_privacy_is_specific_and_private(haven: Haven) -> None:
    await (await haven.fake.slash("haven", "setup", user=MONA, retention_days=30)).reply()
    reply = await (await haven.fake.slash("my", "privacy")).reply()
    assert reply.ephemeral
    assert "30 days" in reply.text  # this server's retention, not a generic promise
    assert "Moderators can't read private check-ins" in reply.text


async def test_server_commands_in_a_dm_get_a_kind_reply(haven: Haven) -> None:
    for command in (("my", "timezone"), ("haven", "status"), ("checkin",)):
        reply = await (await haven.fake.slash(*command, guild=None)).reply()
        assert reply.ephemeral and "works inside a server" in reply.text


# --- /haven -------------------------------------------------------------------------------


async def test_haven_needs_manage_server_at_run_time(haven: Haven) -> None:
    reply = await (
        await haven.fake.slash("haven", "setup", user=ALICE, checkin_channel=CH_CHECKINS)
    ).reply()
    assert reply.ephemeral and "Manage Server" in reply.text
    assert await haven.services.db.fetchone("SELECT * FROM guild_config") is None


async def test_setup_saves_and_shows(haven: Haven) -> None:
    fake = haven.fake
    saved = await (
        await fake.slash(
            "haven",
            "setup",
            user=MONA,
            checkin_channel=CH_CHECKINS,
            mod_channel=CH_MODS,
            timezone="Europe/London",
            retention_days=60,
        )
    ).reply()
    assert saved.ephemeral and f"<#{CH_CHECKINS}>" in saved.text
    config = await haven.services.guilds.get(GUILD)
    assert (config.checkin_channel_id, config.mod_channel_id) == (CH_CHECKINS, CH_MODS)
    assert (config.timezone, config.retention_days) == ("Europe/London", 60)
    shown = await (await fake.slash("haven", "setup", user=MONA)).reply()
    assert "Europe/London" in shown.text and "60 days" in shown.text


async def test_setup_with_a_channel_haven_cannot_post_in_warns_by_name(haven: Haven) -> None:
    reply = await (
        await haven.fake.slash("haven", "setup", user=MONA, checkin_channel=CH_LOCKED)
    ).reply()
    assert "Send Messages" in reply.text and f"<#{CH_LOCKED}>" in reply.text
    assert (await haven.services.guilds.get(GUILD)).checkin_channel_id == CH_LOCKED  # saved


async def test_setup_refuses_an_unknown_zone_and_changes_nothing(haven: Haven) -> None:
    reply = await (
        await haven.fake.slash(
            "haven", "setup", user=MONA, timezone="Mars/Olympus", retention_days=30
        )
    ).reply()
    assert "Mars/Olympus" in reply.text
    assert await haven.services.db.fetchone("SELECT * FROM guild_config") is None


async def test_status_reports_config_permissions_schedule_and_counts(haven: Haven) -> None:
    fake = haven.fake
    await (await fake.slash("haven", "setup", user=MONA, checkin_channel=CH_LOCKED)).reply()
    status = await (await fake.slash("haven", "status", user=MONA)).reply()
    assert status.ephemeral
    assert "Send Messages" in status.text  # missing permission, named
    assert "Daily privacy tidy-up" in status.text  # next scheduled run
    assert re.search(r"members with a Haven profile: \*\*\d+\*\*", status.text)


async def test_resources_modal_saves_what_support_shows(haven: Haven) -> None:
    fake = haven.fake
    opened = await fake.slash("haven", "resources", user=MONA)
    modal = await opened.modal()
    assert modal["title"] == "Support resources"
    assert _text_inputs(modal) == ["resources", "phrases"]
    saved = await (
        await fake.submit_modal(opened, {"resources": "Call the Riverside line: 0800 123 456"})
    ).reply()
    assert "Riverside" in saved.text
    support = await (await fake.slash("support")).reply()
    assert "Riverside" in support.text and "findahelpline" not in support.text

    reopened = await fake.slash("haven", "resources", user=MONA)
    await reopened.modal()
    cleared = await (await fake.submit_modal(reopened, {"resources": ""})).reply()
    assert "general resources" in cleared.text
    assert (await haven.services.guilds.get(GUILD)).resources is None


def _text_inputs(modal: dict) -> list[str]:
    ids = []
    for top in modal["components"]:
        inner = top.get("component") or (top.get("components") or [None])[0]
        if inner and inner["type"] == 4:
            ids.append(inner["custom_id"])
    return ids


# --- the error policy ---------------------------------------------------------------------


async def test_an_unexpected_error_gets_an_apology_with_an_id(
    haven: Haven, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(guild_id: int) -> None:
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr(haven.services.guilds, "get", broken)
    with caplog.at_level(logging.ERROR):
        reply = await (await haven.fake.slash("my", "privacy")).reply()
    assert reply.ephemeral
    match = re.search(r"error id `([0-9A-F]{6})`", reply.text)
    assert match, reply.text
    assert "the disk is on fire" not in reply.text  # no internals shown to the member
    logged = [r for r in caplog.records if match.group(1) in r.getMessage()]
    assert logged and logged[0].exc_info is not None  # the traceback is in the log, under the id


async def test_setup_timezone_autocomplete(haven: Haven) -> None:
    ix = await haven.fake.autocomplete(
        "haven", "setup", focused="timezone", user=MONA, timezone="tok"
    )
    assert (await ix.choices())[0]["value"] == "Asia/Tokyo"


async def test_reach_out_to_a_channel_haven_cannot_post_in_says_so(haven: Haven) -> None:
    fake = haven.fake
    setup = await (await fake.slash("haven", "setup", user=MONA, mod_channel=CH_LOCKED)).reply()
    # Everyone can read #announcements, so Haven asks before using it for reach-outs.
    await (await fake.click(setup, "Use #announcements anyway", user=MONA)).reply()
    support = await (await fake.slash("support")).reply()
    answer = await ask_moderators(fake, support)
    assert answer.ephemeral and "couldn't reach the moderators' channel" in answer.text
    assert fake.messages_in(CH_LOCKED) == []
