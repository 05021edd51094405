"""Buddies through the fake Discord: members' `/buddy join`, `status`, `leave`, `pause`,
`rematch`, `avoid` and `unavoid`; moderators' `/haven buddies`, `pair-now` and `separate`;
and the check-back and "stay?" buttons Haven DMs, pressed after a restart and forged."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from bot.buddies import CHECKBACK, Buddies
from bot.errors import BadInput
from tests.clock import utc
from tests.conftest import Haven, say
from tests.fakediscord import (
    ALICE,
    BOB,
    BOT_ID,
    CAROL,
    CH_BUDDIES,
    GUILD,
    MONA,
    Message,
)
from tests.fakediscord.store import MessageStore

F_STAMP = re.compile(r"<t:(\d+):F>")
R_STAMP = re.compile(r"<t:(\d+):R>")
D_STAMP = re.compile(r"<t:(\d+):D>")


def service(haven: Haven) -> Buddies:
    return haven.services.buddies


def more_members(haven: Haven, *names: str) -> list[int]:
    return [haven.fake.world.add_user(name, name.capitalize()) for name in names]


async def join_all(haven: Haven, *users: int) -> None:
    for user in users:
        await service(haven).join(GUILD, user)


def visible(haven: Haven) -> list[Message]:
    """Every message anyone but the presser could see (no ephemeral replies)."""
    return [m for m in haven.fake.store.ordered if MessageStore.visible(m)]


def button(message: Message, label: str) -> str:
    [found] = [b["custom_id"] for b in message.buttons if b.get("label") == label]
    return str(found)


async def groups(haven: Haven) -> list[set[int]]:
    return [set(pair.members) for pair in await service(haven).pairs(GUILD)]


async def export(haven: Haven, user: int) -> tuple[str, dict[str, Any]]:
    answer = await say(haven, "my", "data", user=user)
    [attachment] = answer.attachments
    raw = attachment.data.decode("utf-8")
    return raw, json.loads(raw)


async def count(haven: Haven, sql: str, *params: Any) -> int:
    return int(await haven.services.db.fetchval(sql, params))


def stamp(instant: Any, style: str = "F") -> str:
    return f"<t:{int(instant.timestamp())}:{style}>"


# --- /buddy join and status ------------------------------------------------------------------


async def test_join_creates_a_profile_and_a_second_join_updates_it(haven: Haven) -> None:
    first = await say(haven, "buddy", "join", intro="I love *slow* walks", pronouns="she/her")
    assert first.ephemeral
    text = first.text
    assert "welcome" in text and "peer" in text and "not a therapist" in text
    assert "button to stop" in text
    assert "/haven buddies" in text  # no rhythm yet
    assert "I love \\*slow\\* walks" in text and "she/her" in text  # shown inert
    profile = await service(haven).profile(GUILD, ALICE)
    assert profile is not None and profile.style == "either"

    await service(haven).set_cadence(GUILD, 2, "monday", "18:00")
    second = await say(haven, "buddy", "join", intro="Tea and quiet", style="text")
    text = second.text
    assert "Saved" in text and "welcome" not in text
    next_run = utc(2026, 11, 30, 18)
    assert stamp(next_run, "F") in text and stamp(next_run, "R") in text
    assert "Tea and quiet" in text and "text" in text
    profile = await service(haven).profile(GUILD, ALICE)
    assert profile is not None
    assert (profile.intro, profile.pronouns, profile.style) == ("Tea and quiet", "she/her", "text")
    rows = "SELECT count(*) FROM buddy_profiles WHERE guild_id = ? AND user_id = ?"
    assert await count(haven, rows, GUILD, ALICE) == 1


async def test_join_with_bad_input_is_refused_and_changes_nothing(haven: Haven) -> None:
    bad: list[tuple[dict[str, Any], str]] = [
        ({"style": "loud"}, "`text`, `voice` or `either`"),
        ({"intro": "x" * 301}, "up to 300"),
        ({"pronouns": "y" * 41}, "up to 40"),
    ]
    for options, says in bad:
        ix = await haven.fake.slash("buddy", "join", unchecked=True, **options)
        answer = await ix.reply()
        assert answer.ephemeral and says in answer.text, (options, answer.text)
        assert await service(haven).profile(GUILD, ALICE) is None


async def test_status_before_and_after_a_pairing(haven: Haven) -> None:
    answer = await say(haven, "buddy", "status")
    assert "not in buddy pairing" in answer.text and "/buddy join" in answer.text

    await join_all(haven, ALICE, BOB)
    await say(haven, "haven", "buddies", user=MONA, every_weeks=2, weekday="monday", time="18:00")
    waiting = (await say(haven, "buddy", "status")).text
    assert "don't have a buddy" in waiting and "in the pool" in waiting
    assert stamp(utc(2026, 11, 30, 18)) in waiting

    await service(haven).run(GUILD, key="t1")
    answer = await say(haven, "buddy", "status")
    text = answer.text
    assert f"<@{BOB}>" in text and answer.pinged_user_ids == []
    started = utc(2026, 11, 28, 12)
    assert stamp(started, "D") in text and stamp(started, "R") in text
    assert stamp(utc(2026, 11, 30, 18)) in text  # the next run
    bob = (await say(haven, "buddy", "status", user=BOB)).text
    assert f"<@{ALICE}>" in bob


# --- /buddy leave ------------------------------------------------------------------------------


async def test_leave_tells_the_other_neutrally_and_they_stay_in_the_pool(haven: Haven) -> None:
    await join_all(haven, ALICE, BOB)
    await service(haven).run(GUILD, key="t1")
    before = len(haven.fake.dms_to(BOB))

    answer = await say(haven, "buddy", "leave")
    assert answer.ephemeral
    assert "neutrally" in answer.text and "stay in the pool" in answer.text

    [notice] = haven.fake.dms_to(BOB)[before:]
    assert "come to a close" in notice.text and "isn't about anything you did" in notice.text
    assert str(ALICE) not in notice.text and "Alice" not in notice.text
    assert "left" not in notice.text.lower()
    assert await service(haven).profile(GUILD, ALICE) is None
    assert await service(haven).profile(GUILD, BOB) is not None  # still in the pool
    assert await groups(haven) == []
    assert "don't have a buddy" in (await say(haven, "buddy", "status", user=BOB)).text


async def test_leave_when_not_in_pairing_is_refused_kindly(haven: Haven) -> None:
    await join_all(haven, BOB)
    seen = len(visible(haven))
    answer = await say(haven, "buddy", "leave")
    assert (
        answer.ephemeral and "nothing to leave" in answer.text and "nothing changed" in answer.text
    )
    assert await service(haven).profile(GUILD, BOB) is not None
    assert len(visible(haven)) == seen


# --- /buddy pause ------------------------------------------------------------------------------


async def test_pause_shows_until_and_a_run_skips_the_paused_member(haven: Haven) -> None:
    await join_all(haven, ALICE, BOB, CAROL)
    answer = await say(haven, "buddy", "pause", weeks=2)
    assert answer.ephemeral
    assert f"Paused until {stamp(utc(2026, 12, 12, 12))}" in answer.text
    assert stamp(utc(2026, 12, 12, 12)) in (await say(haven, "buddy", "status")).text

    report = await service(haven).run(GUILD, key="t1")
    assert await groups(haven) == [{BOB, CAROL}]
    assert ALICE not in report.unmatched  # paused: skipped, not "unmatched"


async def test_joining_twice_with_nothing_new_changes_nothing(haven: Haven) -> None:
    await say(haven, "buddy", "join", style="text")
    before = await service(haven).profile(GUILD, ALICE)
    again = await say(haven, "buddy", "join")
    assert again.ephemeral and "already in buddy pairing" in again.text
    assert await service(haven).profile(GUILD, ALICE) == before


async def test_joining_again_ends_a_pause_early(haven: Haven) -> None:
    await join_all(haven, ALICE, BOB)
    await say(haven, "buddy", "pause", weeks=4)
    assert "`/buddy join` ends the pause" in (await say(haven, "buddy", "status")).text
    await say(haven, "buddy", "join")
    assert "paused until" not in (await say(haven, "buddy", "status")).text.lower()
    await service(haven).run(GUILD, key="t1")
    assert await groups(haven) == [{ALICE, BOB}]


async def test_pause_without_keeping_the_buddy_ends_the_pair_neutrally(haven: Haven) -> None:
    await join_all(haven, ALICE, BOB)
    await service(haven).run(GUILD, key="t1")
    before = len(haven.fake.dms_to(BOB))
    answer = await say(haven, "buddy", "pause", weeks=1, keep_buddy=False)
    assert "come to a close" in answer.text and "stays" in answer.text
    [notice] = haven.fake.dms_to(BOB)[before:]
    assert "come to a close" in notice.text and str(ALICE) not in notice.text
    assert await groups(haven) == []


async def test_pause_out_of_range_is_refused_and_changes_nothing(haven: Haven) -> None:
    await join_all(haven, ALICE)
    for weeks in (0, 13):
        ix = await haven.fake.slash("buddy", "pause", weeks=weeks, unchecked=True)
        answer = await ix.reply()
        assert answer.ephemeral and "1 to 12 weeks" in answer.text
        with pytest.raises(BadInput, match="1 to 12 weeks"):
            await service(haven).pause(GUILD, ALICE, weeks)
    profile = await service(haven).profile(GUILD, ALICE)
    assert profile is not None and profile.paused_until is None
    # Pausing without having joined is refused too.
    answer = await say(haven, "buddy", "pause", user=BOB, weeks=2)
    assert "not in buddy pairing" in answer.text
    assert await service(haven).profile(GUILD, BOB) is None


# --- /buddy rematch ----------------------------------------------------------------------------


async def test_rematch_when_not_paired_is_refused(haven: Haven) -> None:
    answer = await say(haven, "buddy", "rematch")
    assert "not in buddy pairing" in answer.text
    await join_all(haven, ALICE)
    answer = await say(haven, "buddy", "rematch")
    assert answer.ephemeral and "nothing to rematch" in answer.text
    profile = await service(haven).profile(GUILD, ALICE)
    assert profile is not None and not profile.wants_change


async def test_rematch_with_someone_waiting_pairs_them_now(haven: Haven) -> None:
    await say(haven, "haven", "setup", user=MONA, buddy_channel=CH_BUDDIES)
    await join_all(haven, ALICE, BOB)
    await service(haven).run(GUILD, key="t1")
    await join_all(haven, CAROL)  # waiting for a buddy
    bob_before = len(haven.fake.dms_to(BOB))

    answer = await say(haven, "buddy", "rematch")
    assert "right away" in answer.text and f"<@{CAROL}>" in answer.text
    assert await groups(haven) == [{ALICE, CAROL}]
    pair = await service(haven).current_pair(GUILD, ALICE)
    assert pair is not None and pair.thread_id is not None
    assert f"<#{pair.thread_id}>" in answer.text
    [intro] = haven.fake.messages_in(pair.thread_id)
    assert f"<@{ALICE}>" in intro.text and f"<@{CAROL}>" in intro.text
    [notice] = haven.fake.dms_to(BOB)[bob_before:]
    assert "come to a close" in notice.text and str(ALICE) not in notice.text
    assert await service(haven).profile(GUILD, BOB) is not None


async def test_rematch_without_anyone_waiting_waits_for_the_next_run(haven: Haven) -> None:
    await join_all(haven, ALICE, BOB)
    await service(haven).set_cadence(GUILD, 1, "friday", "19:00")
    await service(haven).run(GUILD, key="t1")
    before = len(visible(haven))

    answer = await say(haven, "buddy", "rematch")
    assert "next pairing run" in answer.text and "nobody's fault" in answer.text
    assert stamp(utc(2026, 12, 4, 19)) in answer.text
    assert await groups(haven) == [{ALICE, BOB}]  # carries on until then
    profile = await service(haven).profile(GUILD, ALICE)
    assert profile is not None and profile.wants_change
    assert len(visible(haven)) == before  # Bob hears nothing yet


# --- /buddy avoid and unavoid ----------------------------------------------------------------


async def test_avoid_and_unavoid_are_private_and_never_revealed(haven: Haven) -> None:
    await join_all(haven, ALICE, BOB)
    seen = len(visible(haven))

    answer = await say(haven, "buddy", "avoid", member=BOB)
    assert answer.ephemeral and "never pair you with **Bob**" in answer.text
    assert "nobody is told" in answer.text
    again = await say(haven, "buddy", "avoid", member=BOB)
    assert again.ephemeral and "already" in again.text and "nothing changed" in again.text
    assert await count(haven, "SELECT count(*) FROM buddy_avoids") == 1
    assert len(visible(haven)) == seen
    assert haven.fake.dms_to(BOB) == []

    # Bob's own data shows nothing of it; Alice's shows only a code.
    raw, bobs = await export(haven, BOB)
    assert str(ALICE) not in raw
    assert bobs["data"]["buddy_avoids"]["rows"] == []
    raw, alices = await export(haven, ALICE)
    [row] = alices["data"]["buddy_avoids"]["rows"]
    assert str(BOB) not in raw and re.fullmatch(r"[0-9a-f]{32}", row["avoided"])

    # Neither a run nor an unavoid tells anyone.
    await join_all(haven, CAROL)
    await service(haven).run(GUILD, key="t1")
    assert all(not {ALICE, BOB} <= group for group in await groups(haven))

    seen = len(visible(haven))
    answer = await say(haven, "buddy", "unavoid", member=BOB)
    assert answer.ephemeral and "can be paired with you again" in answer.text
    again = await say(haven, "buddy", "unavoid", member=BOB)
    assert "hadn't asked" in again.text and "nothing changed" in again.text
    assert await count(haven, "SELECT count(*) FROM buddy_avoids") == 0
    assert len(visible(haven)) == seen


async def test_avoiding_yourself_or_a_bot_is_refused_kindly(haven: Haven) -> None:
    yourself = await say(haven, "buddy", "avoid", member=ALICE)
    assert yourself.ephemeral and "can't avoid yourself" in yourself.text
    bot = await say(haven, "buddy", "avoid", member=BOT_ID)
    assert bot.ephemeral and "is a bot" in bot.text
    assert await count(haven, "SELECT count(*) FROM buddy_avoids") == 0


async def test_avoiding_your_current_buddy_points_to_a_rematch(haven: Haven) -> None:
    await join_all(haven, ALICE, BOB)
    await service(haven).run(GUILD, key="t1")
    answer = await say(haven, "buddy", "avoid", member=BOB)
    assert "/buddy rematch" in answer.text
    assert await groups(haven) == [{ALICE, BOB}]


# --- /haven buddies, separate, pair-now ------------------------------------------------------


async def test_haven_buddies_sets_the_rhythm_in_the_servers_zone(haven: Haven) -> None:
    refused = await say(
        haven, "haven", "buddies", every_weeks=2, weekday="monday", time="18:00"
    )  # Alice is no moderator
    assert refused.ephemeral and "Manage Server" in refused.text
    assert await service(haven).cadence(GUILD) is None

    await say(haven, "haven", "setup", user=MONA, timezone="Europe/Paris")
    answer = await say(
        haven, "haven", "buddies", user=MONA, every_weeks=2, weekday="monday", time="18:00"
    )
    text = answer.text
    assert answer.ephemeral
    assert "every 2 weeks on Monday at 18:00 (Europe/Paris)" in text
    next_run = utc(2026, 11, 30, 17)  # 18:00 in Paris
    assert stamp(next_run) in text and stamp(next_run, "R") in text
    assert stamp(utc(2026, 11, 29, 17)) in text  # the heads-up
    assert "/haven setup buddy_channel:" in text
    cadence = await service(haven).cadence(GUILD)
    assert cadence is not None and (cadence.every_weeks, cadence.weekday) == (2, 0)

    bad = await say(
        haven, "haven", "buddies", user=MONA, every_weeks=1, weekday="monday", time="25:99"
    )
    assert "25:99" in bad.text
    over = await (
        await haven.fake.slash(
            "haven",
            "buddies",
            user=MONA,
            every_weeks=9,
            weekday="monday",
            time="18:00",
            unchecked=True,
        )
    ).reply()
    assert "9" in over.text and "went wrong" not in over.text
    cadence = await service(haven).cadence(GUILD)
    assert cadence is not None and cadence.every_weeks == 2


async def test_separate_refuses_the_same_member_and_bots(haven: Haven) -> None:
    same = await say(haven, "haven", "separate", user=MONA, member_a=ALICE, member_b=ALICE)
    assert same.ephemeral and "same member" in same.text
    bot = await say(haven, "haven", "separate", user=MONA, member_a=ALICE, member_b=BOT_ID)
    assert "is a bot" in bot.text
    refused = await say(haven, "haven", "separate", member_a=BOB, member_b=CAROL)
    assert "Manage Server" in refused.text
    assert await count(haven, "SELECT count(*) FROM buddy_separations") == 0


async def test_a_separation_is_private_and_respected_by_the_next_run(haven: Haven) -> None:
    await join_all(haven, ALICE, BOB, CAROL)
    seen = len(visible(haven))
    answer = await say(haven, "haven", "separate", user=MONA, member_a=ALICE, member_b=BOB)
    assert answer.ephemeral and "Neither of them is told" in answer.text
    again = await say(haven, "haven", "separate", user=MONA, member_a=BOB, member_b=ALICE)
    assert "already kept apart" in again.text
    assert await count(haven, "SELECT count(*) FROM buddy_separations") == 1
    assert len(visible(haven)) == seen

    report = await service(haven).run(GUILD, key="t1")
    [group] = await groups(haven)
    assert len(group) == 2 and CAROL in group  # Carol with one of them, never Alice with Bob
    assert len(report.unmatched) == 1


async def test_separating_two_buddies_ends_their_pairing_neutrally(haven: Haven) -> None:
    await join_all(haven, ALICE, BOB)
    await service(haven).run(GUILD, key="t1")
    before = {u: len(haven.fake.dms_to(u)) for u in (ALICE, BOB)}
    answer = await say(haven, "haven", "separate", user=MONA, member_a=ALICE, member_b=BOB)
    assert "pairing has ended" in answer.text
    assert await groups(haven) == []
    for user in (ALICE, BOB):
        [notice] = haven.fake.dms_to(user)[before[user] :]
        assert "come to a close" in notice.text and "moderator" not in notice.text


async def test_pair_now_with_five_members_makes_a_pair_and_a_trio(haven: Haven) -> None:
    dave, erin = more_members(haven, "dave", "erin")
    everyone = (ALICE, BOB, CAROL, dave, erin)
    await say(haven, "haven", "setup", user=MONA, buddy_channel=CH_BUDDIES)
    for user in everyone:
        await say(haven, "buddy", "join", user=user, intro=f"hello from {user}")

    refused = await say(haven, "haven", "pair-now")
    assert "Manage Server" in refused.text and await groups(haven) == []

    answer = await say(haven, "haven", "pair-now", user=MONA)
    text = answer.text
    assert answer.ephemeral
    assert "1 new pair and 1 new trio" in text and f"<#{CH_BUDDIES}>" in text
    assert "Continued\n0 pairs" in text and "Not matched\nnobody" in text
    for user in everyone:  # counts only, never names
        assert str(user) not in text
    assert sorted(len(g) for g in await groups(haven)) == [2, 3]

    threads = [c for c in haven.fake.world.channels.values() if c.parent_id == CH_BUDDIES]
    assert len(threads) == 2
    introduced: set[int] = set()
    for thread in threads:
        [intro] = haven.fake.messages_in(thread.id)
        named = {u for u in everyone if f"<@{u}>" in intro.content}
        assert named and named <= thread.thread_members
        introduced |= named
    assert introduced == set(everyone)

    # Run again: everyone carries on with their buddy.
    again = await say(haven, "haven", "pair-now", user=MONA)
    assert "Continued\n2 pairs" in again.text and "New\nnone" in again.text


# --- the check-back and "stay?" buttons ------------------------------------------------------


async def checkbacks(haven: Haven, *users: int) -> dict[int, Message]:
    """A weekly rhythm, a run now, and the check-back halfway through the cycle."""
    await service(haven).set_cadence(GUILD, 1, "saturday", "11:00")  # next: 5 Dec, 11:00
    await say(haven, "haven", "pair-now", user=MONA)
    haven.clock.set(utc(2026, 12, 2, 1))  # past halfway (2 Dec, 00:00)
    await haven.run_due()
    found = {}
    for user in users:
        [dm] = [m for m in haven.fake.dms_to(user) if "check-back" in m.text]
        assert "private" in dm.text
        found[user] = dm
    return found


async def answer_of(haven: Haven, user: int) -> str | None:
    value = await haven.services.db.fetchval(
        "SELECT answer FROM buddy_checkbacks WHERE user_id = ?", (user,)
    )
    return None if value is None else str(value)


async def test_check_back_answers_are_private_and_work_after_a_restart(haven: Haven) -> None:
    await join_all(haven, ALICE, BOB)
    dms = await checkbacks(haven, ALICE, BOB)
    labels = [b["label"] for b in dms[ALICE].buttons]
    assert labels[:4] == ["We connected", "Not yet", "It's not a fit", "We paused by agreement"]
    await haven.restart()
    seen = len(visible(haven))

    # Bob pressing Alice's button (a copied id) is refused, and changes nothing.
    stolen = await (await haven.fake.press(button(dms[ALICE], "It's not a fit"), user=BOB)).reply()
    assert "older message" in stolen.text
    assert await answer_of(haven, ALICE) is None and await groups(haven) == [{ALICE, BOB}]

    thanks = await (await haven.fake.click(dms[ALICE], "We connected")).reply()
    assert thanks.ephemeral and "Thank you — that's just for you and me." in thanks.text
    assert await answer_of(haven, ALICE) == "connected"
    paused = await (await haven.fake.click(dms[BOB], "We paused by agreement", user=BOB)).reply()
    assert "still buddies" in paused.text
    assert await answer_of(haven, BOB) == "paused"
    assert len(visible(haven)) == seen  # nobody else heard a thing


async def test_not_a_fit_rematches_now_when_someone_is_waiting(haven: Haven) -> None:
    await join_all(haven, ALICE, BOB)
    dms = await checkbacks(haven, ALICE, BOB)
    await join_all(haven, CAROL)  # waiting
    before = len(haven.fake.dms_to(BOB))

    answer = await (await haven.fake.click(dms[ALICE], "It's not a fit")).reply()
    assert "nobody's fault" in answer.text and "right away" in answer.text
    assert f"<@{CAROL}>" in answer.text
    assert await groups(haven) == [{ALICE, CAROL}]
    [notice] = haven.fake.dms_to(BOB)[before:]
    assert "come to a close" in notice.text and str(ALICE) not in notice.text


async def test_not_a_fit_without_anyone_waiting_rematches_at_the_next_run(haven: Haven) -> None:
    await join_all(haven, ALICE, BOB)
    dms = await checkbacks(haven, ALICE)
    answer = await (await haven.fake.click(dms[ALICE], "It's not a fit")).reply()
    assert "next pairing run" in answer.text and stamp(utc(2026, 12, 5, 11)) in answer.text
    assert await groups(haven) == [{ALICE, BOB}]
    profile = await service(haven).profile(GUILD, ALICE)
    assert profile is not None and profile.wants_change
    # A check-back about a pairing that has since ended changes nothing.
    await service(haven).leave(GUILD, BOB)
    late = await (await haven.fake.click(dms[ALICE], "Not yet")).reply()
    assert "Thank you" in late.text or "come to a close" in late.text


async def test_a_member_who_left_the_server_cannot_answer(haven: Haven) -> None:
    await join_all(haven, ALICE, BOB)
    dms = await checkbacks(haven, BOB)
    haven.fake.world.remove_member(BOB)
    answer = await (await haven.fake.click(dms[BOB], "We connected", user=BOB)).reply()
    assert "no longer a member" in answer.text
    assert await answer_of(haven, BOB) is None


async def test_the_stay_question_answers_stay_pause_and_leave(haven: Haven) -> None:
    await join_all(haven, ALICE, BOB)
    await service(haven).run(GUILD, key="t1")
    scheduler = haven.services.scheduler
    for n in range(3):  # two check-backs left unanswered, then the gentle "stay?"
        await scheduler.schedule(
            CHECKBACK,
            f"{CHECKBACK}:test:{n}",
            haven.clock(),
            guild_id=GUILD,
            payload={"round": f"round-{n}"},
        )
        await haven.run_due()
        haven.clock.advance(days=1)
    [ask] = [m for m in haven.fake.dms_to(ALICE) if "stay in pairing" in m.text]

    stay = await (await haven.fake.click(ask, "Stay in pairing")).reply()
    assert "staying" in stay.text
    profile = await service(haven).profile(GUILD, ALICE)
    assert profile is not None and profile.quiet_checks == 0

    paused = await (await haven.fake.click(ask, "Pause for 4 weeks")).reply()
    assert "Paused until" in paused.text and F_STAMP.search(paused.text)
    profile = await service(haven).profile(GUILD, ALICE)
    assert profile is not None and profile.paused_until is not None

    left = await (await haven.fake.click(ask, "Leave pairing")).reply()
    assert "stepped out" in left.text
    assert await service(haven).profile(GUILD, ALICE) is None
    assert await service(haven).profile(GUILD, BOB) is not None
