"""Delivery as the one Discord port, against the fake: fallback chains, edits, private threads
and scheduled events — each once per ledger key, across restarts, and never asked of Discord
without the permission it needs."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.checkins import BUDDY_DMS
from bot.messages import Card, Outgoing
from bot.outgoing import Delivered, Dm, EventSpec, Post
from bot.reminders import KIND as REMINDER
from tests.conftest import Haven, say
from tests.fakediscord import (
    ALICE,
    BOB,
    BOT_ID,
    BOT_ROLE,
    CAROL,
    CH_BUDDIES,
    CH_CIRCLES,
    CH_LOCKED,
    CH_STAGE,
    CH_VOICE,
    GUILD,
    Call,
    Perm,
)

NOTE = Outgoing(
    content=f"Your circle starts in an hour. @everyone <@{ALICE}>",
    cards=(Card("Tonight: rest"),),
)
EVENTS = rf"/guilds/{GUILD}/scheduled-events(/\d+)?"


def calls(haven: Haven, method: str, path: str, since: int = 0) -> list[Call]:
    """The requests Discord accepted since a mark."""
    return [
        c
        for c in haven.fake.calls[since:]
        if c.method == method and re.fullmatch(path, c.path) and c.status < 400
    ]


def requests(haven: Haven, path: str, since: int) -> list[Call]:
    """Every request to `path` since a mark, accepted or not."""
    return [c for c in haven.fake.calls[since:] if re.fullmatch(path, c.path)]


# --- to_first: a DM, else a mention -----------------------------------------------------------


def chain(user: int = BOB, kind: str = REMINDER) -> list[Dm | Post]:
    return [Dm(user, kind), Post(CH_CIRCLES, ping=(user,))]


async def test_closed_dms_fall_back_to_a_mention_that_pings_only_that_member(
    haven: Haven,
) -> None:
    haven.fake.close_dms(BOB)
    reached = await haven.services.delivery.to_first("remind:1", chain(), NOTE, guild_id=GUILD)
    assert reached.outcome is Delivered.SENT
    assert reached.target == Post(CH_CIRCLES, ping=(BOB,))
    [post] = haven.fake.messages_in(CH_CIRCLES)
    assert post.content.startswith(f"<@{BOB}> Your circle starts")
    assert post.pinged_user_ids == [BOB]  # not Alice, though she is mentioned
    assert post.pinged_role_ids == [] and not post.pinged_everyone
    assert haven.fake.dms_to(BOB) == []
    assert await haven.services.delivery.posted(reached.key or "") == (CH_CIRCLES, post.id)


async def test_an_open_dm_is_used_and_the_channel_stays_quiet(haven: Haven) -> None:
    reached = await haven.services.delivery.to_first("remind:2", chain(), NOTE, guild_id=GUILD)
    assert (reached.outcome, reached.target) == (Delivered.SENT, Dm(BOB, REMINDER))
    [dm] = haven.fake.dms_to(BOB)
    assert dm.find_component("Stop these reminders") is not None  # through the DM gate
    assert haven.fake.messages_in(CH_CIRCLES) == []


async def test_no_fallback_when_the_member_rests_stopped_or_left(haven: Haven) -> None:
    delivery = haven.services.delivery
    for user in (ALICE, BOB, CAROL):
        # Haven already knows their DMs are closed, which the gate reports before the rest.
        haven.fake.close_dms(user)
        learnt = await delivery.to_member(
            f"learn:{user}", user, NOTE, guild_id=GUILD, kind=REMINDER
        )
        assert learnt is Delivered.DM_CLOSED
    await say(haven, "my", "pause", user=BOB, days=3)
    await haven.services.dm_stops.stop(GUILD, ALICE, BUDDY_DMS)
    haven.fake.world.remove_member(CAROL)
    since = haven.fake.mark()

    bob = await delivery.to_first("remind:3", chain(BOB), NOTE, guild_id=GUILD)
    alice = await delivery.to_first("remind:4", chain(ALICE, BUDDY_DMS), NOTE, guild_id=GUILD)
    carol = await delivery.to_first("remind:5", chain(CAROL), NOTE, guild_id=GUILD)

    assert (bob.outcome, bob.target) == (Delivered.RESTING, Dm(BOB, REMINDER))
    assert alice.outcome is Delivered.STOPPED
    assert carol.outcome is Delivered.LEFT
    assert haven.fake.messages_in(CH_CIRCLES) == []
    assert requests(haven, r"/channels/\d+/messages", since) == []


async def test_a_chain_that_reached_someone_never_sends_again(haven: Haven) -> None:
    delivery, fake = haven.services.delivery, haven.fake
    # The DM is refused (DMs closed), so the mention goes out instead.
    dm_channel = fake.world.dm_channel(BOB).id
    fake.fail_next("POST", rf"/channels/{dm_channel}/messages", 403, code=50007)
    first = await delivery.to_first("remind:6", chain(), NOTE, guild_id=GUILD)
    assert (first.outcome, first.target) == (Delivered.SENT, Post(CH_CIRCLES, ping=(BOB,)))

    await haven.restart()
    delivery = haven.services.delivery
    await delivery.reopen_dm(BOB)
    # DMs work again now, but the refused DM must not be tried again: Bob was reached.
    again = await delivery.to_first("remind:6", chain(), NOTE, guild_id=GUILD)
    assert (again.outcome, again.target) == (Delivered.ALREADY_SENT, first.target)
    assert again.key == first.key
    assert len(fake.messages_in(CH_CIRCLES)) == 1
    assert fake.dms_to(BOB) == []


async def test_a_passing_failure_is_not_a_reason_to_mention_someone_in_public(
    haven: Haven,
) -> None:
    delivery, fake = haven.services.delivery, haven.fake
    dm_channel = fake.world.dm_channel(BOB).id
    fake.fail_next("POST", rf"/channels/{dm_channel}/messages", 503)  # not retried by discord.py
    first = await delivery.to_first("remind:8", chain(), NOTE, guild_id=GUILD)
    assert (first.outcome, first.target) == (Delivered.FAILED, Dm(BOB, REMINDER))
    assert fake.messages_in(CH_CIRCLES) == []
    # The caller retries, and the DM goes out once Discord is back.
    again = await delivery.to_first("remind:8", chain(), NOTE, guild_id=GUILD)
    assert (again.outcome, again.target) == (Delivered.SENT, Dm(BOB, REMINDER))
    assert fake.messages_in(CH_CIRCLES) == [] and len(fake.dms_to(BOB)) == 1


async def test_a_dm_that_went_out_is_not_repeated_after_a_restart(haven: Haven) -> None:
    first = await haven.services.delivery.to_first("remind:7", chain(), NOTE, guild_id=GUILD)
    await haven.restart()
    again = await haven.services.delivery.to_first("remind:7", chain(), NOTE, guild_id=GUILD)
    assert first.outcome is Delivered.SENT
    assert (again.outcome, again.target) == (Delivered.ALREADY_SENT, Dm(BOB, REMINDER))
    assert len(haven.fake.dms_to(BOB)) == 1


# --- edit ---------------------------------------------------------------------------------------


async def test_edit_replaces_a_post_in_place_fitted_and_without_pings(haven: Haven) -> None:
    delivery = haven.services.delivery
    queue = Outgoing(content="Talking piece: Alice", cards=(Card("Queue"),))
    assert await delivery.to_channel("queue:1", CH_CIRCLES, queue, guild_id=GUILD) is (
        Delivered.SENT
    )
    since = haven.fake.mark()
    longer = Outgoing(content=f"Talking piece: Bob <@{BOB}> @everyone " + "and then… " * 300)
    assert await delivery.edit("queue:1", longer) is Delivered.SENT

    [post] = haven.fake.messages_in(CH_CIRCLES)
    assert post.content.startswith("Talking piece: Bob") and len(post.content) <= 2000
    assert post.embeds == []  # an edit replaces the whole message
    assert post.edited_timestamp is not None
    assert post.pinged_user_ids == [] and not post.pinged_everyone
    assert len(calls(haven, "PATCH", rf"/channels/{CH_CIRCLES}/messages/{post.id}", since)) == 1


async def test_edit_of_nothing_or_of_a_deleted_message_is_no_access(haven: Haven) -> None:
    delivery = haven.services.delivery
    since = haven.fake.mark()
    assert await delivery.edit("never:sent", Outgoing(content="x")) is Delivered.NO_ACCESS
    assert haven.fake.calls[since:] == []

    await delivery.to_channel("roster:1", CH_CIRCLES, Outgoing(content="Roster"), guild_id=GUILD)
    [post] = haven.fake.messages_in(CH_CIRCLES)
    haven.fake.store.delete(post)  # a moderator removed it; without message intents Haven
    assert await delivery.edit("roster:1", Outgoing(content="Roster, again")) is (  # can't know
        Delivered.NO_ACCESS
    )
    # Discord's 404 answers the edit (it does not count toward the invalid-request ban).
    assert [c.status for c in haven.fake.rejections] == [404]
    haven.fake.rejections.clear()


async def test_an_edited_dm_keeps_its_stop_button(haven: Haven) -> None:
    delivery = haven.services.delivery
    await delivery.to_member("dm:edit", ALICE, NOTE, guild_id=GUILD, kind=REMINDER)
    with pytest.raises(ValueError, match="kind"):
        await delivery.edit("dm:edit", Outgoing(content="moved to 8pm"))
    assert await delivery.edit("dm:edit", Outgoing(content="moved to 8pm"), kind=REMINDER) is (
        Delivered.SENT
    )
    [dm] = haven.fake.dms_to(ALICE)
    assert dm.content == "moved to 8pm"
    assert dm.find_component("Stop these reminders") is not None


# --- private threads ----------------------------------------------------------------------------


async def test_a_thread_is_opened_once_with_the_pair_invited(haven: Haven) -> None:
    delivery = haven.services.delivery
    since = haven.fake.mark()
    first, twin = await asyncio.gather(
        delivery.open_thread(
            "buddy:1", CH_BUDDIES, "Alice & Bob", invite=(ALICE, BOB), guild_id=GUILD
        ),
        delivery.open_thread(
            "buddy:1", CH_BUDDIES, "Alice & Bob", invite=(ALICE, BOB), guild_id=GUILD
        ),
    )
    assert first is not None and twin == first
    thread = haven.fake.world.channels[first]
    assert thread.type == 12 and thread.parent_id == CH_BUDDIES  # private
    assert thread.thread_members == {BOT_ID, ALICE, BOB}

    await haven.restart()
    again = await haven.services.delivery.open_thread(
        "buddy:1", CH_BUDDIES, "Alice & Bob", invite=(ALICE, BOB), guild_id=GUILD
    )
    assert again == first
    assert len(calls(haven, "POST", rf"/channels/{CH_BUDDIES}/threads", since)) == 1

    # The intro in the thread pings exactly the pair.
    intro = Outgoing(content="Welcome, you two.")
    pair = [Post(first, ping=(ALICE, BOB))]
    reached = await haven.services.delivery.to_first("intro:1", pair, intro, guild_id=GUILD)
    assert reached.outcome is Delivered.SENT
    [post] = haven.fake.messages_in(first)
    assert sorted(post.pinged_user_ids) == sorted([ALICE, BOB])


async def test_a_thread_interrupted_before_it_was_written_down_is_found_again(
    haven: Haven,
) -> None:
    delivery = haven.services.delivery
    since = haven.fake.mark()
    made = await delivery.open_thread(
        "buddy:2", CH_BUDDIES, "Carol & Bob", invite=(CAROL,), guild_id=GUILD
    )
    # As if Haven stopped between Discord making the thread and the ledger noting it.
    await haven.services.db.execute(
        "UPDATE deliveries SET state = 'sending', channel_id = NULL WHERE key = 'buddy:2'"
    )
    again = await delivery.open_thread(
        "buddy:2", CH_BUDDIES, "Carol & Bob", invite=(CAROL, BOB), guild_id=GUILD
    )
    assert again == made is not None
    assert len(calls(haven, "POST", rf"/channels/{CH_BUDDIES}/threads", since)) == 1
    assert haven.fake.world.channels[made].thread_members == {BOT_ID, CAROL, BOB}


async def test_a_member_who_left_is_simply_not_invited(haven: Haven) -> None:
    haven.fake.world.remove_member(CAROL)
    made = await haven.services.delivery.open_thread(
        "buddy:3", CH_BUDDIES, "Alice & Carol", invite=(ALICE, CAROL), guild_id=GUILD
    )
    assert made is not None
    assert haven.fake.world.channels[made].thread_members == {BOT_ID, ALICE}


async def test_a_thread_without_permission_is_not_even_asked_for(haven: Haven) -> None:
    since = haven.fake.mark()
    made = await haven.services.delivery.open_thread(
        "buddy:4", CH_LOCKED, "Alice & Bob", invite=(ALICE, BOB), guild_id=GUILD
    )
    assert made is None
    assert haven.fake.calls[since:] == []


# --- scheduled events ---------------------------------------------------------------------------


def session(**changes: Any) -> EventSpec:
    # Three days after the test clock's start, which the fake judges "the past" by. Fixed, so
    # two specs made a second apart are still the same session.
    start = datetime(2026, 12, 1, 12, tzinfo=UTC)
    fields: dict[str, Any] = {
        "name": "Sunday listening circle",
        "start": start,
        "end": start + timedelta(hours=1),
        "description": "Come as you are.",
        "location": "#circles",
    }
    fields.update(changes)
    return EventSpec(**fields)


def events(haven: Haven) -> list[dict[str, Any]]:
    return list(haven.fake.world.guilds[GUILD].scheduled_events.values())


async def test_an_event_is_created_updated_and_cancelled_once_each(haven: Haven) -> None:
    spec = session()
    since = haven.fake.mark()
    assert await haven.services.delivery.sync_event("circle:1", GUILD, spec) is Delivered.SENT
    [event] = events(haven)
    assert (event["entity_type"], event["entity_metadata"]) == (3, {"location": "#circles"})
    assert event["name"] == spec.name and event["status"] == 1

    await haven.restart()
    delivery = haven.services.delivery
    quiet = haven.fake.mark()
    assert await delivery.sync_event("circle:1", GUILD, spec) is Delivered.ALREADY_SENT
    assert requests(haven, EVENTS, quiet) == []

    later = spec.start + timedelta(hours=2)
    moved = session(name="Sunday circle (moved)", start=later, end=later + timedelta(hours=1))
    assert await delivery.sync_event("circle:1", GUILD, moved) is Delivered.SENT
    assert await delivery.sync_event("circle:1", GUILD, moved) is Delivered.ALREADY_SENT
    [event] = events(haven)
    assert event["name"] == "Sunday circle (moved)"
    assert event["scheduled_start_time"] == moved.start.isoformat()

    assert await delivery.sync_event("circle:1", GUILD, None) is Delivered.SENT
    assert await delivery.sync_event("circle:1", GUILD, None) is Delivered.ALREADY_SENT
    [event] = events(haven)
    assert event["status"] == 4  # cancelled, as Discord allows before it starts
    assert len(calls(haven, "POST", EVENTS, since)) == 1
    assert len(calls(haven, "PATCH", EVENTS, since)) == 2  # the move and the cancel

    # A cancelled event cannot be scheduled again: the session coming back makes a new one.
    assert await delivery.sync_event("circle:1", GUILD, moved) is Delivered.SENT
    assert sorted(e["status"] for e in events(haven)) == [1, 4]


async def test_events_in_voice_and_stage_channels_are_held_there(haven: Haven) -> None:
    delivery = haven.services.delivery
    voice = session(channel_id=CH_VOICE, location=None)
    stage = session(channel_id=CH_STAGE, location=None, name="Open stage", description=" ")
    assert await delivery.sync_event("circle:voice", GUILD, voice) is Delivered.SENT
    assert await delivery.sync_event("circle:stage", GUILD, stage) is Delivered.SENT
    by_name = {e["name"]: e for e in events(haven)}
    assert by_name[voice.name]["entity_type"] == 2
    assert by_name[voice.name]["channel_id"] == str(CH_VOICE)
    assert by_name["Open stage"]["entity_type"] == 1
    assert by_name["Open stage"]["channel_id"] == str(CH_STAGE)
    assert by_name["Open stage"]["description"] is None
    # Moving the voice circle outside turns it into an external event.
    outside = session(location="The park")
    assert await delivery.sync_event("circle:voice", GUILD, outside) is Delivered.SENT
    [moved] = [e for e in events(haven) if e["id"] == by_name[voice.name]["id"]]
    assert (moved["entity_type"], moved["channel_id"]) == (3, None)


async def test_a_session_under_way_keeps_its_start_time(haven: Haven) -> None:
    delivery = haven.services.delivery
    spec = session()
    await delivery.sync_event("circle:2", GUILD, spec)
    haven.clock.set(spec.start + timedelta(minutes=10))
    since = haven.fake.mark()
    longer = session(start=spec.start, end=spec.end + timedelta(minutes=30))
    assert await delivery.sync_event("circle:2", GUILD, longer) is Delivered.SENT
    [patch] = calls(haven, "PATCH", EVENTS, since)
    assert "scheduled_start_time" not in patch.json
    assert patch.json["scheduled_end_time"] == longer.end.isoformat()


async def test_an_event_interrupted_before_it_was_written_down_is_found_again(
    haven: Haven,
) -> None:
    delivery = haven.services.delivery
    since = haven.fake.mark()
    await delivery.sync_event("circle:3", GUILD, session())
    await haven.services.db.execute(
        "UPDATE deliveries SET state = 'sending', channel_id = NULL, error = NULL"
        " WHERE key = 'circle:3'"
    )
    assert await delivery.sync_event("circle:3", GUILD, session()) is Delivered.SENT
    assert len(events(haven)) == 1
    assert len(calls(haven, "POST", EVENTS, since)) == 1


async def test_an_event_deleted_by_hand_is_made_again_when_the_session_changes(
    haven: Haven,
) -> None:
    delivery = haven.services.delivery
    await delivery.sync_event("circle:4", GUILD, session())
    haven.fake.world.guilds[GUILD].scheduled_events.clear()
    assert await delivery.sync_event("circle:4", GUILD, session()) is Delivered.ALREADY_SENT
    assert events(haven) == []
    changed = session(description="Bring tea.")
    assert await delivery.sync_event("circle:4", GUILD, changed) is Delivered.SENT
    # Discord's 404 answered the update (Haven has no events intent to learn of the deletion).
    assert [c.status for c in haven.fake.rejections] == [404]
    haven.fake.rejections.clear()
    [event] = events(haven)
    assert event["description"] == "Bring tea."


async def test_events_without_manage_events_are_not_even_asked_for(haven: Haven) -> None:
    delivery = haven.services.delivery
    await delivery.sync_event("circle:5", GUILD, session())
    role = haven.fake.world.guilds[GUILD].roles[BOT_ROLE]
    role.permissions &= ~Perm.MANAGE_EVENTS
    await haven.fake.dispatch(
        "GUILD_ROLE_UPDATE",
        {"guild_id": str(GUILD), "role": haven.fake.world.role_payload(GUILD, BOT_ROLE)},
    )
    await haven.settle()
    since = haven.fake.mark()
    assert await delivery.sync_event("circle:6", GUILD, session()) is Delivered.NO_ACCESS
    assert await delivery.sync_event("circle:5", GUILD, session(name="x")) is Delivered.NO_ACCESS
    assert await delivery.sync_event("circle:5", GUILD, None) is Delivered.NO_ACCESS
    assert requests(haven, EVENTS, since) == []
    [event] = events(haven)
    assert event["status"] == 1
