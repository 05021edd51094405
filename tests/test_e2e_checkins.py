"""/checkin, its picker, sharing by consent, /my checkins, and members' data rights — end to end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.checkins import FEELINGS
from tests.conftest import Haven
from tests.fakediscord import (
    ALICE,
    BOB,
    CH_BUDDIES,
    CH_CHECKINS,
    CH_LOCKED,
    CH_MODS,
    GUILD,
    MONA,
    Message,
)

NOTE = "A quiet, sunlit walk by the canal, thinking of Grandma Ines"


async def setup_channels(haven: Haven, checkin: int = CH_CHECKINS) -> None:
    await (
        await haven.fake.slash(
            "haven", "setup", user=MONA, checkin_channel=checkin, mod_channel=CH_MODS
        )
    ).reply()


async def checkin(haven: Haven, user: int = ALICE, **options: Any) -> Message:
    return await (await haven.fake.slash("checkin", user=user, **options)).reply()


async def rows(haven: Haven, user: int = ALICE) -> list[dict]:
    found = await haven.services.db.fetchall(
        "SELECT * FROM checkins WHERE user_id = ? ORDER BY id", (user,)
    )
    return [dict(r) for r in found]


async def pair(haven: Haven, *users: int) -> None:
    await haven.services.buddies.pair(GUILD, list(users), "2026-11-01T00:00:00Z")


def all_sent(haven: Haven) -> list[Message]:
    """Every message Haven posted or DMed on its own (not interaction replies)."""
    return [
        m
        for m in haven.fake.store.by_id.values()
        if m.author_id == haven.fake.world.bot_id and not m.ephemeral and m.interaction_id is None
    ]


# --- the command's schema ------------------------------------------------------------------


async def test_checkin_schema_enforces_choices_and_limits(haven: Haven) -> None:
    [command] = [c for c in haven.fake.commands() if c["name"] == "checkin"]
    options = {o["name"]: o for o in command["options"]}
    assert [c["value"] for c in options["feeling"]["choices"]] == list(FEELINGS)
    assert [c["value"] for c in options["share"]["choices"]] == [
        "private",
        "buddy",
        "channel",
        "anonymous",
    ]
    assert (options["capacity"]["min_value"], options["capacity"]["max_value"]) == (1, 5)
    assert options["note"]["max_length"] == 1000
    with pytest.raises(ValueError):  # Discord itself refuses these; the bot never sees them
        await haven.fake.slash("checkin", feeling="heavy", capacity=7)


# --- private by default --------------------------------------------------------------------


async def test_a_private_checkin_posts_nothing_anywhere(haven: Haven) -> None:
    await setup_channels(haven)
    reply = await checkin(haven, feeling="heavy", capacity=2, note=NOTE)
    assert reply.ephemeral
    assert "Kept private" in reply.text and NOTE in reply.text
    assert all_sent(haven) == []
    [row] = await rows(haven)
    assert (row["feeling"], row["capacity"], row["note"], row["share"]) == (
        "heavy",
        2,
        NOTE,
        "private",
    )


async def test_acknowledgements_vary_and_never_score(haven: Haven) -> None:
    seen = {(await checkin(haven, feeling="pass")).embeds[0]["title"] for _ in range(12)}
    assert len(seen) > 1
    for title in seen:
        assert not any(word in title.lower() for word in ("streak", "score", "points", "%"))


# --- the picker ----------------------------------------------------------------------------


async def test_without_a_feeling_the_picker_collects_the_same_fields(haven: Haven) -> None:
    await setup_channels(haven)
    opened = await haven.fake.slash("checkin", note="from the command", share="channel")
    modal = await opened.modal()
    assert modal["title"] == "Check in"
    submitted = await haven.fake.submit_modal(
        opened, {"feeling": ["tender"], "capacity": ["3"], "reach_out": ["no"]}
    )
    reply = await submitted.reply()
    assert reply.ephemeral and "Shared in the check-in channel" in reply.text
    [row] = await rows(haven)
    assert (row["feeling"], row["capacity"], row["note"], row["share"]) == (
        "tender",
        3,
        "from the command",  # what the command already said was carried into the picker
        "channel",
    )


async def test_an_over_long_note_through_the_picker_is_refused_kindly(haven: Haven) -> None:
    opened = await haven.fake.slash("checkin")
    await opened.modal()
    submitted = await haven.fake.submit_modal(
        opened, {"feeling": ["heavy"], "note": "x" * 1200}, unchecked=True
    )
    reply = await submitted.reply()
    assert reply.ephemeral and "1200 characters" in reply.text and "1000" in reply.text
    assert await rows(haven) == []


# --- sharing -------------------------------------------------------------------------------


async def test_a_channel_share_carries_the_name_and_pings_nobody(haven: Haven) -> None:
    await setup_channels(haven)
    reply = await checkin(
        haven, feeling="bright", share="channel", note="@everyone hi <@1000000000000000004> @here"
    )
    assert "Shared in the check-in channel" in reply.text
    [post] = haven.fake.messages_in(CH_CHECKINS)
    assert "Alice checked in" in post.text and "@everyone" in post.text
    assert post.pinged_user_ids == [] and post.pinged_role_ids == []
    assert not post.pinged_everyone


async def test_an_anonymous_share_carries_no_identity(haven: Haven) -> None:
    await setup_channels(haven)
    await checkin(haven, feeling="heavy", share="anonymous", note="it has been a long week")
    [post] = haven.fake.messages_in(CH_CHECKINS)
    raw = json.dumps(post.payload())
    assert "Someone checked in" in post.text and "long week" in post.text
    for identity in (str(ALICE), "alice", "Alice"):
        assert identity not in raw
    assert post.interaction_id is None  # posted by Haven itself, not as "Alice used /checkin"
    ledger = await haven.services.db.fetchall(
        "SELECT * FROM deliveries WHERE key LIKE 'checkin-anon:%'"
    )
    assert [r["user_id"] for r in ledger] == [None]  # no link back to Alice in Haven's records


async def test_channel_share_without_a_channel_stays_private_and_says_so(haven: Haven) -> None:
    reply = await checkin(haven, feeling="settled", share="channel")
    assert "hasn't set a check-in channel" in reply.text
    assert (await rows(haven))[0]["share"] == "private"
    assert all_sent(haven) == []


async def test_channel_share_where_haven_cannot_post_stays_private(haven: Haven) -> None:
    await setup_channels(haven, checkin=CH_LOCKED)
    reply = await checkin(haven, feeling="settled", share="anonymous")
    assert "couldn't post" in reply.text
    assert (await rows(haven))[0]["share"] == "private"
    assert not [c for c in haven.fake.calls if f"/channels/{CH_LOCKED}/messages" in c.path]


async def test_buddy_share_without_a_buddy_stays_private(haven: Haven) -> None:
    reply = await checkin(haven, feeling="foggy", share="buddy", note=NOTE)
    assert "don't have a buddy yet" in reply.text
    assert (await rows(haven))[0]["share"] == "private"
    assert all_sent(haven) == []


async def test_buddy_share_goes_to_the_buddy_only(haven: Haven) -> None:
    await pair(haven, ALICE, BOB)
    reply = await checkin(haven, feeling="stirred", capacity=2, share="buddy", note=NOTE)
    assert "Sent to your buddy" in reply.text
    [dm] = haven.fake.dms_to(BOB)
    assert "Alice" in dm.text and "Stirred up" in dm.text and NOTE in dm.text
    assert dm.pinged_everyone is False
    assert haven.fake.messages_in(CH_CHECKINS) == []


async def test_buddy_with_closed_dms_is_reported_honestly(haven: Haven) -> None:
    await pair(haven, ALICE, BOB)
    haven.fake.close_dms(BOB)
    reply = await checkin(haven, feeling="stirred", share="buddy")
    assert "couldn't reach your buddy" in reply.text
    assert (await rows(haven))[0]["share"] == "private"


# --- reach-out -----------------------------------------------------------------------------


async def test_reach_out_tells_the_buddy_a_kind_word_would_help(haven: Haven) -> None:
    await pair(haven, ALICE, BOB)
    reply = await checkin(haven, feeling="heavy", reach_out=True, note=NOTE)
    assert "let your buddy know" in reply.text
    [dm] = haven.fake.dms_to(BOB)
    assert "kind word" in dm.text
    assert NOTE not in dm.text  # the check-in itself stayed private


async def test_reach_out_without_a_buddy_offers_a_button_and_sends_nothing_until_pressed(
    haven: Haven,
) -> None:
    await setup_channels(haven)
    reply = await checkin(haven, feeling="heavy", reach_out=True, note=NOTE)
    assert "only if you press the button" in reply.text
    assert all_sent(haven) == []
    asked = await (await haven.fake.click(reply, "Ask a moderator to reach out")).reply()
    assert asked.ephemeral and "#moderators" in asked.text  # says who will see it, first
    assert "can't promise" in asked.text and all_sent(haven) == []
    answer = await (await haven.fake.click(asked, "Yes, let them know")).reply()
    assert answer.ephemeral
    [notice] = haven.fake.messages_in(CH_MODS)
    assert f"<@{ALICE}>" in notice.text
    assert NOTE not in notice.text and "Heavy" not in notice.text  # no check-in content


async def test_words_of_distress_add_resources_privately_and_escalate_nothing(
    haven: Haven,
) -> None:
    await setup_channels(haven)
    reply = await checkin(haven, feeling="heavy", note="honestly I don’t want to be here anymore")
    assert reply.ephemeral
    assert "You don't have to hold this alone" in reply.text and "findahelpline" in reply.text
    assert "may have read it wrong" in reply.text  # why it appeared, without alarm
    assert "A moment to ground" in reply.text and "Only you can see this card" in reply.text
    assert all_sent(haven) == []
    calm = await checkin(haven, feeling="heavy", note="a hard day at work, but here")
    assert "findahelpline" not in calm.text


# --- history -------------------------------------------------------------------------------


async def test_my_checkins_shows_history_with_a_chart_and_words(haven: Haven) -> None:
    for feeling, capacity in (("heavy", 2), ("tender", 3), ("settled", 4)):
        await checkin(haven, feeling=feeling, capacity=capacity)
        haven.clock.advance(days=1)
    reply = await (await haven.fake.slash("my", "checkins", days=7)).reply()
    assert reply.ephemeral
    assert "3 check-ins in the last 7 days" in reply.text
    assert "Capacity ranged from 2 to 4" in reply.text
    [chart] = reply.attachments
    assert chart.filename == "checkins.png" and chart.data.startswith(b"\x89PNG\r\n\x1a\n")
    assert "3 check-ins" in (chart.description or "")  # alt text for screen readers


async def test_my_checkins_with_none_is_gentle(haven: Haven) -> None:
    reply = await (await haven.fake.slash("my", "checkins")).reply()
    assert "haven't checked in" in reply.text and "no catching up" in reply.text
    assert reply.attachments == []


async def test_other_members_history_is_not_visible(haven: Haven) -> None:
    await checkin(haven, user=BOB, feeling="bright", note="bob's own note")
    reply = await (await haven.fake.slash("my", "checkins", user=ALICE)).reply()
    assert "bob's own note" not in reply.text and "haven't checked in" in reply.text


# --- data rights ---------------------------------------------------------------------------


async def test_my_data_exports_everything_about_me_and_nothing_else(haven: Haven) -> None:
    await (await haven.fake.slash("my", "timezone", zone="Europe/London")).reply()
    await checkin(haven, feeling="tender", note=NOTE)
    await checkin(haven, user=BOB, feeling="bright", note="bob's own note")
    reply = await (await haven.fake.slash("my", "data")).reply()
    assert reply.ephemeral
    [attachment] = reply.attachments
    export = json.loads(attachment.data)
    assert export["member_id"] == str(ALICE) and export["server_id"] == str(GUILD)
    data = export["data"]
    assert data["checkins"]["rows"][0]["note"] == NOTE
    assert data["member_profile"]["rows"][0]["timezone"] == "Europe/London"
    assert "bob's own note" not in attachment.data.decode()


@pytest.mark.sqlite_only
async def test_forget_asks_first_then_leaves_no_trace_on_disk(haven: Haven, tmp_path: Path) -> None:
    secret = "my-unmistakable-secret-note-7f3a"
    await (await haven.fake.slash("my", "reminder", time="09:00")).reply()
    await checkin(haven, feeling="heavy", note=secret)
    await checkin(haven, user=BOB, feeling="bright", note="bob keeps this")
    assert _on_disk(haven, secret)

    asked = await (await haven.fake.slash("my", "forget")).reply()
    assert asked.ephemeral and "Are you sure?" in asked.text
    assert await rows(haven) != []  # nothing yet: it asked first
    done = await (await haven.fake.click(asked, "Yes, forget me here")).reply()
    assert "gone" in done.text

    assert await rows(haven) == []
    assert await haven.services.reminders.rule(GUILD, ALICE) is None
    assert [r["note"] for r in await rows(haven, BOB)] == ["bob keeps this"]
    assert not _on_disk(haven, secret)


async def test_forget_can_be_declined(haven: Haven) -> None:
    await checkin(haven, feeling="heavy")
    asked = await (await haven.fake.slash("my", "forget")).reply()
    declined = await (await haven.fake.click(asked, "Keep my data")).reply()
    assert "Nothing was deleted" in declined.text
    assert len(await rows(haven)) == 1


def _on_disk(haven: Haven, text: str) -> bool:
    needle = text.encode()
    files = [haven.db_path, *haven.db_path.parent.glob(haven.db_path.name + "-*")]
    return any(needle in f.read_bytes() for f in files if f.exists())


async def test_buddy_share_goes_to_the_pairs_thread_and_pings_only_the_buddy(
    haven: Haven,
) -> None:
    thread = haven.fake.world.add_thread(CH_BUDDIES, "Alice & Bob")
    await haven.services.buddies.pair(GUILD, [ALICE, BOB], "2026-11-01T00:00:00Z", thread.id)
    reply = await checkin(haven, feeling="tender", share="buddy", note=NOTE)
    assert "Sent to your buddy" in reply.text
    [post] = haven.fake.messages_in(thread.id)
    assert NOTE in post.text and "Tender or mixed" in post.text
    assert post.pinged_user_ids == [BOB]
    assert haven.fake.dms_to(BOB) == []
