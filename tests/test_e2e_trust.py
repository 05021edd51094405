"""Issue 7's numbered defects, each reproduced through the fake Discord and shown mended.

Written as a hostile user and as a fragile one would try things: forged and stale custom_ids,
members who left, restarts between opening a form and sending it, ids that come back after a
purge, and sharing far more than a channel should carry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.reminders import KIND as REMINDER
from tests.clock import FakeClock, utc
from tests.conftest import Haven, NewDatabase, say
from tests.fakediscord import (
    ALICE,
    BOB,
    CH_CHECKINS,
    CH_GENERAL,
    CH_MODS,
    GUILD,
    MONA,
    FakeDiscord,
    Message,
)

NOTE = "an unmistakable private note 5e1f"


async def setup_channels(haven: Haven, **extra: Any) -> None:
    await say(
        haven,
        "haven",
        "setup",
        user=MONA,
        checkin_channel=CH_CHECKINS,
        mod_channel=CH_MODS,
        **extra,
    )


async def reminder_dm(haven: Haven, user: int = ALICE) -> Message:
    """Turn on a reminder for 12:30 UTC and let it arrive."""
    haven.clock.set(utc(2026, 11, 28, 12))
    await say(haven, "my", "reminder", user=user, time="12:30")
    haven.clock.set(utc(2026, 11, 28, 12, 30, 5))
    await haven.run_due()
    [dm] = haven.fake.dms_to(user)
    return dm


async def checkin_from_dm(haven: Haven, **values: list[str]) -> Message:
    """Check in through a reminder DM's button and its picker; the private reply."""
    opened = await haven.fake.click(await reminder_dm(haven), "Check in")
    await opened.modal()
    return await (await haven.fake.submit_modal(opened, values)).reply()


def posts_in(haven: Haven, channel: int) -> list[Message]:
    return [m for m in haven.fake.messages_in(channel) if not m.deleted]


def button(message: Message, label: str) -> str:
    [found] = [b["custom_id"] for b in message.buttons if b.get("label") == label]
    return str(found)


# --- 1. a forged server id on a DM button ---------------------------------------------------


async def test_a_dm_button_edited_to_name_another_server_is_refused(haven: Haven) -> None:
    fake = haven.fake
    other = fake.world.add_guild("Elsewhere", members=[BOB])  # Alice is not a member
    await fake.dispatch("GUILD_CREATE", fake.world.guild_create_payload(other, all_members=False))
    await haven.settle()
    dm = await reminder_dm(haven)
    genuine = button(dm, "Check in")
    assert genuine.startswith(f"haven:checkin:dm:{GUILD}:~")

    forged = genuine.replace(str(GUILD), str(other))
    refused = await (await fake.press(forged)).reply()
    assert refused.ephemeral and "older message" in refused.text
    unsigned = await (await fake.press(f"haven:checkin:dm:{other}")).reply()
    assert "older message" in unsigned.text
    legacy = await (await fake.press(f"haven:checkin:open:{other}")).reply()  # pre-signing id
    assert "older message" in legacy.text
    # Someone else pressing Alice's genuine button (copied id) is refused too.
    stolen = await (await fake.press(genuine, user=BOB)).reply()
    assert "older message" in stolen.text
    assert fake.unanswered() == []

    # The genuine button opens the picker, and the check-in lands in Alice's own server.
    opened = await fake.click(dm, "Check in")
    await opened.modal()
    await (await fake.submit_modal(opened, {"feeling": ["heavy"]})).reply()
    rows = await haven.services.db.fetchall("SELECT guild_id FROM checkins")
    assert [r["guild_id"] for r in rows] == [GUILD]


async def test_an_unknown_or_mangled_custom_id_gets_a_kind_reply(haven: Haven) -> None:
    for custom_id in ("haven:nope", "haven:checkin:undo:1:2", "haven:forget:yes:extra", "haven:"):
        answer = await (await haven.fake.press(custom_id, guild=GUILD)).reply()
        assert answer.ephemeral and "older message" in answer.text


# --- 2. members who left -------------------------------------------------------------------


async def test_a_member_who_left_gets_no_reminders_and_can_still_stop_them(haven: Haven) -> None:
    fake = haven.fake
    dm = await reminder_dm(haven)
    fake.world.remove_member(ALICE)

    # The button cannot post into the server any more…
    opened = await (await fake.click(dm, "Check in")).reply()
    assert "no longer a member" in opened.text
    assert await haven.services.db.fetchval("SELECT count(*) FROM checkins") == 0
    # …and Haven learned she left: her reminder stopped, so nothing more arrives.
    assert await haven.services.reminders.rule(GUILD, ALICE) is None
    haven.clock.advance(days=1)
    await haven.run_due()
    assert len(fake.dms_to(ALICE)) == 1

    # The stop button works from outside the server too.
    stopped = await (await fake.click(dm, "Stop these reminders")).reply()
    assert "reminders from this server are off" in stopped.text


async def test_a_member_who_left_is_found_out_when_the_reminder_is_due(haven: Haven) -> None:
    await reminder_dm(haven)
    haven.fake.world.remove_member(ALICE)
    haven.services.delivery.forget_member(GUILD, ALICE)  # as after the ten-minute memory
    haven.clock.advance(days=1)
    await haven.run_due()
    assert len(haven.fake.dms_to(ALICE)) == 1  # no second reminder
    assert await haven.services.reminders.rule(GUILD, ALICE) is None
    assert await haven.services.scheduler.pending(guild_id=GUILD, kind=REMINDER) == []


async def test_every_dm_carries_a_stop_button_that_works(haven: Haven) -> None:
    dm = await reminder_dm(haven)
    stopped = await (await haven.fake.click(dm, "Stop these reminders")).reply()
    assert "off" in stopped.text
    assert await haven.services.reminders.rule(GUILD, ALICE) is None

    await haven.services.buddies.pair(GUILD, [ALICE, BOB], "2026-11-01T00:00:00Z")
    await say(haven, "checkin", feeling="tender", share="buddy")
    [to_bob] = haven.fake.dms_to(BOB)
    stop = await (await haven.fake.click(to_bob, "Stop buddy check-ins by DM", user=BOB)).reply()
    assert "won't DM you" in stop.text
    again = await say(haven, "checkin", feeling="tender", share="buddy")
    assert "resting from DMs" in again.text and len(haven.fake.dms_to(BOB)) == 1
    resumed = await (await haven.fake.click(stop, "Start them again", user=BOB)).reply()
    assert "back on" in resumed.text
    await say(haven, "checkin", feeling="tender", share="buddy")
    assert len(haven.fake.dms_to(BOB)) == 2


async def test_pause_and_quiet_hours_hold_back_every_dm(haven: Haven) -> None:
    await haven.services.buddies.pair(GUILD, [ALICE, BOB], "2026-11-01T00:00:00Z")
    await say(haven, "my", "pause", user=BOB, days=3)
    reply = await say(haven, "checkin", feeling="heavy", share="buddy", note=NOTE)
    assert "resting from DMs" in reply.text
    assert haven.fake.dms_to(BOB) == []
    await say(haven, "my", "resume", user=BOB)
    await say(haven, "my", "quiet-hours", user=BOB, start="11:00", end="13:00")  # it is 12:00
    await say(haven, "checkin", feeling="heavy", share="buddy")
    assert haven.fake.dms_to(BOB) == []


async def test_a_dm_button_for_a_server_haven_left_is_refused_kindly(haven: Haven) -> None:
    dm = await reminder_dm(haven)
    await haven.fake.dispatch("GUILD_DELETE", {"id": str(GUILD)})
    await haven.settle()
    refused = await (await haven.fake.click(dm, "Check in")).reply()
    assert "not part of that server any more" in refused.text
    assert await haven.services.db.fetchval("SELECT count(*) FROM checkins") == 0


async def test_when_haven_is_removed_from_a_server_its_jobs_stop(haven: Haven) -> None:
    await say(haven, "my", "reminder", time="12:30")
    await say(haven, "haven", "setup", user=MONA, checkin_channel=CH_CHECKINS)
    await say(haven, "haven", "prompt", user=MONA, time="13:00")
    assert await haven.services.scheduler.pending(guild_id=GUILD)
    await haven.fake.dispatch("GUILD_DELETE", {"id": str(GUILD)})
    await haven.settle()
    assert await haven.services.scheduler.pending(guild_id=GUILD) == []

    # Still gone after a restart (start-up plans from the rules): nothing is even attempted.
    del haven.fake.world.guilds[GUILD]
    await haven.restart()
    mark = len(haven.fake.calls)
    haven.clock.advance(hours=2)
    await haven.run_due()
    assert [c for c in haven.fake.calls[mark:] if "/messages" in c.path] == []


# --- 3. messages within Discord's limits -----------------------------------------------------


async def test_history_with_ten_long_notes_that_need_escaping_fits(haven: Haven) -> None:
    note = "*so* _tired_ of `this` ~week~ | > # [x](y) - " * 2  # ~90 characters, all escaped
    for _ in range(10):
        await say(haven, "checkin", feeling="heavy", note=note)
        haven.clock.advance(hours=3)
    reply = await say(haven, "my", "checkins", days=7)
    assert "10 check-ins" in reply.text and "tired" in reply.text


async def test_the_support_card_with_long_server_resources_fits(haven: Haven) -> None:
    await haven.services.guilds.update(GUILD, resources="Call the Riverside line. " * 160)
    reply = await say(haven, "checkin", feeling="heavy", note="I want to end it all " + "x" * 970)
    assert "Riverside" in reply.text


# --- 4. ids are never reused ------------------------------------------------------------------


async def test_a_share_after_a_retention_purge_still_posts(haven: Haven) -> None:
    await setup_channels(haven, retention_days=7)
    await say(haven, "checkin", feeling="bright", share="channel", note="first")
    haven.clock.advance(days=8)
    await haven.services.maintenance.run_now()
    assert await haven.services.db.fetchval("SELECT count(*) FROM checkins") == 0
    await say(haven, "checkin", feeling="bright", share="channel", note="second")
    assert [p.text.count("second") for p in posts_in(haven, CH_CHECKINS)][-1] == 1
    assert len(posts_in(haven, CH_CHECKINS)) == 2


# --- 5. control characters ---------------------------------------------------------------------


async def test_a_nul_byte_and_control_characters_are_cleaned_not_fatal(haven: Haven) -> None:
    reply = await say(haven, "checkin", feeling="heavy", note="tired\x00 and\x1b[31m wired\r\nok")
    assert reply.ephemeral and "Something went wrong" not in reply.text
    note = await haven.services.db.fetchval("SELECT note FROM checkins")
    assert note == "tired and[31m wired\nok"
    only_controls = await say(haven, "checkin", feeling="pass", note="\x00\x01")
    assert "Something went wrong" not in only_controls.text
    assert await haven.services.db.fetchval("SELECT count(*) FROM checkins") == 2


# --- 7. deletion that finds everything ----------------------------------------------------------


async def test_forget_leaves_the_member_nowhere_in_any_table(haven: Haven, tmp_path: Path) -> None:
    """Reads the schema at test time, so a future table is covered without editing this test."""
    fake = haven.fake
    await setup_channels(haven)
    await haven.services.buddies.pair(GUILD, [ALICE, BOB], "2026-11-01T00:00:00Z")
    await alice_lives_here(haven)
    fake.close_dms(ALICE)
    await reminder_dm_closed(haven)
    await say(haven, "checkin", user=BOB, feeling="settled", note="bob's own")
    await circle_life(haven)
    named = [m for m in posts_in(haven, CH_CHECKINS) if "Alice" in m.text]
    assert named and fake.dms_to(BOB)

    asked = await say(haven, "my", "forget")
    await (await fake.click(asked, "Yes, forget me here")).reply()

    assert await _mentions(haven, ALICE) == []
    assert not [m for m in posts_in(haven, CH_CHECKINS) if "Alice" in m.text]
    # Her shares and the nudge about her are gone; what stays is the neutral notice that the
    # pairing closed, which doesn't name her.
    [left] = [m for m in fake.dms_to(BOB) if not m.deleted]
    assert (
        "come to a close" in left.text and str(ALICE) not in left.text and "Alice" not in left.text
    )
    assert posts_in(haven, CH_MODS) == []
    assert await _mentions(haven, BOB) != []  # Bob's own data stays


async def alice_lives_here(haven: Haven) -> None:
    """Alice, paired with Bob, in every check-in table: settings, shared and anonymous
    check-ins, a reach-out request, and a noticing nudge about her that reached Bob."""
    fake = haven.fake
    await say(haven, "my", "timezone", zone="Europe/London")
    await say(haven, "my", "quiet-hours", start="23:00", end="07:00")
    await say(haven, "my", "noticing", enabled=True, days=2)
    for _ in range(3):
        await say(haven, "checkin", feeling="heavy", share="buddy", note=NOTE)
        haven.clock.advance(hours=1)
    await say(haven, "checkin", feeling="bright", share="channel", note=NOTE)
    await say(haven, "checkin", feeling="tender", share="anonymous", note=NOTE)
    support = await say(haven, "support")
    asked = await (await fake.click(support, "Ask a moderator to reach out")).reply()
    await (await fake.click(asked, "Yes, let them know")).reply()
    haven.clock.advance(days=3)
    await haven.run_due()  # the noticing nudge about Alice reaches Bob


async def circle_life(haven: Haven) -> None:
    """Alice in every circle table: hosting, co-hosting, covering, seats, the talking piece."""
    circles = haven.services.circles
    hosted = await circles.create(
        GUILD, name="Alice's", weekday="monday", at="18:00", host_id=ALICE
    )
    other = await circles.create(GUILD, name="Other", weekday="tuesday", at="18:00", capacity=2)
    await circles.set_cohost(GUILD, str(other.id), ALICE, remove=False)
    await circles.agree(other, ALICE)
    await circles.join(other, ALICE, every_week=True, aftercare=True)
    await circles.join(other, BOB)
    session = await circles.next_session(other)
    assert session is not None
    await haven.services.db.execute(
        "UPDATE circle_sessions SET cover_id = ? WHERE id = ?", (ALICE, session.id)
    )
    await haven.services.db.execute(
        "INSERT INTO circle_talking (session_id, guild_id, user_id, state, queued_at)"
        " VALUES (?, ?, ?, 'waiting', '2026-11-01T00:00:00Z')",
        (session.id, GUILD, ALICE),
    )
    assert hosted.host_id == ALICE


async def reminder_dm_closed(haven: Haven) -> None:
    await say(haven, "my", "reminder", time="12:30")
    haven.clock.advance(days=1)
    await haven.run_due()


async def _mentions(haven: Haven, user_id: int) -> list[str]:
    """Every table.column whose value is, or contains, the member's id."""
    found = []
    db = haven.services.db
    for table, columns in (await db.columns()).items():
        for column in columns:
            hit = await db.fetchall(
                f"SELECT 1 FROM {table} WHERE CAST({column} AS TEXT) LIKE ?", (f"%{user_id}%",)
            )
            if hit:
                found.append(f"{table}.{column}")
    return found


async def test_an_anonymous_post_can_be_taken_back_by_its_author_only(haven: Haven) -> None:
    await setup_channels(haven)
    reply = await say(haven, "checkin", feeling="heavy", share="anonymous", note=NOTE)
    [post] = posts_in(haven, CH_CHECKINS)
    take_back = button(reply, "Take my anonymous post down")
    assert str(ALICE) not in take_back  # the button holds no author id, only a signature
    ledger = await haven.services.db.fetchall("SELECT * FROM deliveries")
    assert all(str(ALICE) not in str(dict(r)) for r in ledger)

    refused = await (await haven.fake.press(take_back, user=BOB, guild=GUILD)).reply()
    assert "older message" in refused.text and posts_in(haven, CH_CHECKINS) == [post]
    done = await (await haven.fake.click(reply, "Take my anonymous post down")).reply()
    assert "post is down" in done.text
    assert posts_in(haven, CH_CHECKINS) == []


async def test_an_anonymous_share_from_a_reminder_can_be_taken_back_in_the_dm(
    haven: Haven,
) -> None:
    await setup_channels(haven)
    reply = await checkin_from_dm(haven, feeling=["heavy"], share=["anonymous"])
    assert reply.guild_id is None and len(posts_in(haven, CH_CHECKINS)) == 1
    done = await (await haven.fake.click(reply, "Take my anonymous post down")).reply()
    assert "post is down" in done.text and posts_in(haven, CH_CHECKINS) == []


@pytest.mark.sqlite_only
async def test_the_retention_purge_leaves_no_note_bytes_in_the_wal(haven: Haven) -> None:
    await setup_channels(haven, retention_days=7)
    await say(haven, "checkin", feeling="heavy", note=NOTE)
    haven.clock.advance(days=8)
    await haven.services.maintenance.run_now()
    files = [haven.db_path, *haven.db_path.parent.glob(haven.db_path.name + "-*")]
    assert not any(NOTE.encode() in f.read_bytes() for f in files if f.exists())


# --- 8. forms and confirmations that outlive a restart -------------------------------------------


async def test_a_picker_submitted_after_a_restart_keeps_the_note(haven: Haven) -> None:
    opened = await haven.fake.slash("checkin")
    await opened.modal()
    await haven.restart()
    haven.clock.advance(hours=2)
    submitted = await haven.fake.submit_modal(opened, {"feeling": ["tender"], "note": NOTE})
    reply = await submitted.reply()
    assert "Kept private" in reply.text and NOTE in reply.text
    assert await haven.services.db.fetchval("SELECT note FROM checkins") == NOTE


async def test_forget_confirmed_after_a_restart_still_forgets(haven: Haven) -> None:
    await say(haven, "checkin", feeling="heavy", note=NOTE)
    asked = await say(haven, "my", "forget")
    await haven.restart()
    done = await (await haven.fake.click(asked, "Yes, forget me here")).reply()
    assert "gone" in done.text
    assert await haven.services.db.fetchval("SELECT count(*) FROM checkins") == 0


async def test_a_resources_edit_submitted_after_a_restart_is_saved(haven: Haven) -> None:
    opened = await haven.fake.slash("haven", "resources", user=MONA)
    await opened.modal()
    await haven.restart()
    saved = await (await haven.fake.submit_modal(opened, {"resources": "Riverside line"})).reply()
    assert "Riverside" in saved.text


# --- 9. "ask a moderator" from a check-in made in a DM -------------------------------------------


async def test_ask_a_moderator_works_from_a_checkin_made_from_a_reminder(haven: Haven) -> None:
    fake = haven.fake
    await setup_channels(haven)
    fake.world.guilds[GUILD].members[ALICE].nick = "Ally"
    reply = await checkin_from_dm(haven, feeling=["heavy"], reach_out=["yes"])
    assert "only if you press the button" in reply.text
    asked = await (await fake.click(reply, "Ask a moderator to reach out")).reply()
    assert "#moderators" in asked.text and "can't promise" in asked.text
    assert posts_in(haven, CH_MODS) == []
    later = await (await fake.click(asked, "Not now")).reply()
    assert "nothing was sent" in later.text and posts_in(haven, CH_MODS) == []
    await (await fake.click(asked, "Yes, let them know")).reply()
    [notice] = posts_in(haven, CH_MODS)
    assert "Ally" in notice.text and "Alice" not in notice.text  # the server nickname


async def test_shares_from_a_dm_use_the_server_nickname(haven: Haven) -> None:
    fake = haven.fake
    await setup_channels(haven)
    fake.world.guilds[GUILD].members[ALICE].nick = "Ally"
    await checkin_from_dm(haven, feeling=["bright"], share=["channel"])
    [post] = posts_in(haven, CH_CHECKINS)
    assert "Ally checked in" in post.text and "Alice" not in post.text


# --- 10. moderator safety ---------------------------------------------------------------------


async def test_a_public_moderators_channel_needs_confirming(haven: Haven) -> None:
    reply = await say(haven, "haven", "setup", user=MONA, mod_channel=CH_GENERAL)
    assert "everyone" in reply.text and "Not saved yet" in reply.text
    assert (await haven.services.guilds.get(GUILD)).mod_channel_id is None
    member_press = await (
        await haven.fake.press(button(reply, "Use #general anyway"), user=ALICE, guild=GUILD)
    ).reply()
    assert "moderators" in member_press.text
    assert (await haven.services.guilds.get(GUILD)).mod_channel_id is None
    confirmed = await (await haven.fake.click(reply, "Use #general anyway", user=MONA)).reply()
    assert "Saved" in confirmed.text
    assert (await haven.services.guilds.get(GUILD)).mod_channel_id == CH_GENERAL

    private = await say(haven, "haven", "setup", user=MONA, mod_channel=CH_MODS)
    assert "Not saved yet" not in private.text


async def test_status_shows_counts_never_a_members_reminder(haven: Haven) -> None:
    await say(haven, "my", "reminder", time="12:30")
    status = await say(haven, "haven", "status", user=MONA)
    assert "reminder" not in status.text.split("Counts")[0].lower()
    assert "members with a check-in reminder: **1**" in status.text


# --- 11. shares are paced ---------------------------------------------------------------------


async def test_thirty_anonymous_posts_in_a_row_do_not_all_land(haven: Haven) -> None:
    await setup_channels(haven)
    replies = [
        await say(haven, "checkin", feeling="heavy", share="anonymous", note=f"post {i}")
        for i in range(30)
    ]
    assert len(posts_in(haven, CH_CHECKINS)) == 4
    assert "shared a few times this hour" in replies[-1].text and "saved" in replies[-1].text
    assert await haven.services.db.fetchval("SELECT count(*) FROM checkins") == 30
    haven.clock.advance(hours=1, seconds=1)
    await say(haven, "checkin", feeling="heavy", share="anonymous", note="later")
    assert len(posts_in(haven, CH_CHECKINS)) == 5


# --- one round-trip where one will do ---------------------------------------------------------


async def test_my_timezone_reads_the_database_once(haven: Haven, monkeypatch: Any) -> None:
    db = haven.services.db
    calls: list[str] = []
    real = db.fetchall

    async def counting(sql: str, params: Any = ()) -> Any:
        calls.append(sql)
        return await real(sql, params)

    await haven.run_due()  # start-up's own scheduling work is done before we count
    monkeypatch.setattr(db, "fetchall", counting)
    reply = await say(haven, "my", "timezone")
    assert "server's" in reply.text
    [read] = [sql for sql in calls if "outbox" not in sql]  # the scheduler may wake meanwhile
    assert "member_profile" in read and "guild_config" in read


async def test_with_the_members_intent_a_leave_is_heard_not_asked(
    fake: FakeDiscord, tmp_path: Path, clock: FakeClock, new_database: NewDatabase
) -> None:
    app = Haven(
        fake, tmp_path / "h.db", clock, members_intent=True, database_url=await new_database()
    )
    await app.start()
    try:
        await reminder_dm(app)
        lookups = [c for c in fake.calls if "/members/" in c.path]
        assert lookups == []  # the chunked member list answered; no REST look-up per DM
        fake.world.remove_member(ALICE)
        await fake.dispatch(
            "GUILD_MEMBER_REMOVE", {"guild_id": str(GUILD), "user": fake.world.user_payload(ALICE)}
        )
        await app.settle()
        assert await app.services.reminders.rule(GUILD, ALICE) is None
        assert fake.rejections == []
    finally:
        await app.stop()


# --- moderators' own words, and forms that are refused keep their text -------------------------


async def test_moderators_own_phrases_show_the_card_privately(haven: Haven) -> None:
    opened = await haven.fake.slash("haven", "resources", user=MONA)
    await opened.modal()
    saved = await haven.fake.submit_modal(
        opened, {"resources": "Riverside line: 0800 123", "phrases": "going to the bridge tonight"}
    )
    await saved.reply()
    reply = await say(haven, "checkin", feeling="heavy", note="I keep going to the bridge tonight")
    assert "Riverside" in reply.text and "may have read it wrong" in reply.text
    calm = await say(haven, "checkin", feeling="heavy", note="walked over the bridge at noon")
    assert "Riverside" not in calm.text


async def test_a_refused_form_hands_back_what_was_written(haven: Haven) -> None:
    opened = await haven.fake.slash("haven", "resources", user=MONA)
    await opened.modal()
    words = "Our own line: call 0800 123 — ``` any time"
    submitted = await haven.fake.submit_modal(opened, {"resources": words, "phrases": "ok"})
    refused = await submitted.reply()
    [phrases_back] = await submitted.followups()
    assert "`ok` is too short" in refused.text and "What you wrote" in refused.text
    assert "Our own line: call 0800 123" in refused.text  # each field back, in form order
    assert "```\nok\n```" in phrases_back.text
    assert (await haven.services.guilds.get(GUILD)).resources is None  # nothing half-saved

    picker = await haven.fake.slash("checkin")
    await picker.modal()
    long_note = "a note that matters " * 60  # 1,200 characters: over the limit
    answer = await (
        await haven.fake.submit_modal(
            picker, {"feeling": ["heavy"], "note": long_note}, unchecked=True
        )
    ).reply()
    assert "1000" in answer.text and long_note.strip()[:500] in answer.text
