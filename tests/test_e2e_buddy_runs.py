"""Buddy pairing runs end to end, through the fake Discord and the scheduler.

The pairing cadence drives everything here: the heads-up a day before, the run (stable pairs
carry on, the rest are matched and introduced), the check-back halfway through the cycle, and
what happens to members who go quiet, leave, or ask Haven to forget them. Time moves on the
test clock and jobs run through `haven.run_due()`, as they would on their own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import timedelta

import pytest

from bot.buddies import CHECKBACK, RUN
from tests.clock import utc
from tests.conftest import Haven, say
from tests.fakediscord import (
    ALICE,
    BOB,
    BOT_ID,
    BOT_ROLE,
    CAROL,
    CH_BUDDIES,
    CH_LOCKED,
    GUILD,
    MONA,
    Message,
    Perm,
)
from tests.test_e2e_trust import _mentions

# With the cadence below (every 2 weeks, Mondays 18:00 UTC) and the clock's start (Saturday
# 28 November 2026, noon): heads-up Sunday 29th 18:00, first run Monday 30th 18:00, the
# check-back a week later, the next run two weeks later.
HEADS_UP_AT = utc(2026, 11, 29, 18, 0, 1)
FIRST_RUN_AT = utc(2026, 11, 30, 18, 0, 1)
WEEK = {"weeks": 1}

INTRO = "I *love* `tea` | ~gardens~"
INTRO_SHOWN = r"I \*love\* \`tea\` \| \~gardens\~"

ENDED = "come to a close"
UNMATCHED = "No buddy this time"


def more_members(haven: Haven, *names: str) -> list[int]:
    return [haven.fake.world.add_user(name.lower(), name) for name in names]


async def join(haven: Haven, *users: int, **profile: str) -> None:
    for user in users:
        await haven.services.buddies.join(GUILD, user, **profile)


async def cadence(haven: Haven) -> None:
    reply = await say(
        haven, "haven", "buddies", user=MONA, every_weeks=2, weekday="monday", time="18:00"
    )
    assert "Saved" in reply.text


def dms(haven: Haven, user: int, containing: str = "") -> list[Message]:
    return [m for m in haven.fake.dms_to(user) if not m.deleted and containing in m.text]


def labels(message: Message) -> list[str]:
    return [str(b.get("label")) for b in message.buttons]


async def groups(haven: Haven) -> list[tuple[int, ...]]:
    return sorted(p.members for p in await haven.services.buddies.pairs(GUILD))


async def end_all_pairs(haven: Haven) -> None:
    """Every current pair ends as if someone had left and come back (a soft "recent" pair)."""
    await haven.services.db.execute(
        "UPDATE buddy_pairs SET ended_at = ?, end_reason = 'left' WHERE ended_at IS NULL",
        ("2026-11-30T00:00:00Z",),
    )


def buddy_of(pairs: Iterable[tuple[int, ...]], user: int) -> set[int]:
    return {u for group in pairs if user in group for u in group if u != user}


# --- the heads-up and the run --------------------------------------------------------------


async def test_heads_up_a_day_before_then_a_pair_and_a_trio_in_private_threads(
    haven: Haven,
) -> None:
    fake = haven.fake
    dave, erin, finn = more_members(haven, "Dave", "Erin", "Finn")
    await say(haven, "haven", "setup", user=MONA, buddy_channel=CH_BUDDIES)
    joined = await say(haven, "buddy", "join", intro=INTRO, pronouns="she/*her*", style="text")
    assert joined.ephemeral
    await join(haven, BOB, CAROL, dave, erin, intro="Hello from the **garden**")
    await join(haven, finn)
    await haven.services.buddies.pause(GUILD, finn, 3)
    await cadence(haven)

    # The heads-up: a day before, to everyone opted in and not paused, with a stop button.
    haven.clock.set(HEADS_UP_AT)
    await haven.run_due()
    for user in (ALICE, BOB, CAROL, dave, erin):
        [heads_up] = dms(haven, user)
        assert "Buddy pairing soon" in heads_up.text and "/buddy pause" in heads_up.text
        assert "Stop pairing heads-ups" in labels(heads_up)
    assert dms(haven, finn) == [] and dms(haven, MONA) == []
    stopped = await (
        await fake.click(dms(haven, erin)[0], "Stop pairing heads-ups", user=erin)
    ).reply()
    assert "no more heads-ups" in stopped.text

    # The run: five members make one pair and one trio, each in its own private thread.
    haven.clock.set(FIRST_RUN_AT)
    await haven.run_due()
    pairs = await haven.services.buddies.pairs(GUILD)
    assert sorted(len(p.members) for p in pairs) == [2, 3]
    assert sorted(u for p in pairs for u in p.members) == sorted([ALICE, BOB, CAROL, dave, erin])
    starters = haven.services.texts.entries("buddy_starters.txt")
    for pair in pairs:
        assert pair.thread_id is not None
        thread = fake.world.channels[pair.thread_id]
        assert thread.type == 12 and thread.parent_id == CH_BUDDIES  # a private thread
        assert thread.thread_members == {BOT_ID, *pair.members}
        assert "Alice" not in (thread.name or "") and str(ALICE) not in (thread.name or "")
        [intro] = fake.messages_in(pair.thread_id)
        assert sorted(intro.pinged_user_ids) == sorted(pair.members)  # exactly the pair
        assert intro.pinged_role_ids == [] and not intro.pinged_everyone
        for user in pair.members:
            assert f"<@{user}>" in intro.content
        assert sum(s in intro.text for s in starters) == 1
        assert "What a buddy is (and isn't)" in intro.text and "not** a therapist" in intro.text
        if ALICE in pair.members:
            assert INTRO_SHOWN in intro.text and r"she/\*her\*" in intro.text
            assert "prefers text" in intro.text
        else:
            assert r"Hello from the \*\*garden\*\*" in intro.text
    # Introduced in the threads, so nobody got an intro by DM; the paused member nothing.
    for user in (ALICE, BOB, CAROL, dave, erin):
        assert dms(haven, user, "Meet your buddy") == []
    assert dms(haven, finn) == []
    # The check-back is planned halfway through the cycle.
    [checkback] = await haven.services.scheduler.pending(guild_id=GUILD, kind=CHECKBACK)
    assert checkback.due_at == FIRST_RUN_AT + timedelta(weeks=1)


@pytest.mark.parametrize("place", ["no channel", "locked channel", "no thread permission"])
async def test_without_a_usable_buddy_channel_each_hears_by_dm(haven: Haven, place: str) -> None:
    fake = haven.fake
    if place == "locked channel":
        await say(haven, "haven", "setup", user=MONA, buddy_channel=CH_LOCKED)
    elif place == "no thread permission":
        fake.world.set_overwrite(CH_BUDDIES, BOT_ROLE, deny=Perm.CREATE_PRIVATE_THREADS)
        await fake.dispatch("CHANNEL_UPDATE", fake.world.channel_payload(CH_BUDDIES))
        await haven.settle()
        await say(haven, "haven", "setup", user=MONA, buddy_channel=CH_BUDDIES)
    await join(haven, ALICE, pronouns="they/them")
    await join(haven, BOB, intro="*waves*")
    report = await haven.services.buddies.run(GUILD, key="t1")
    assert report.new_groups == ((ALICE, BOB),)

    [to_alice] = dms(haven, ALICE, "Meet your buddy")
    [to_bob] = dms(haven, BOB, "Meet your buddy")
    assert f"Your new buddy is <@{BOB}>" in to_alice.text and r"\*waves\*" in to_alice.text
    assert f"Your new buddy is <@{ALICE}>" in to_bob.text and "they/them" in to_bob.text
    assert "What a buddy is (and isn't)" in to_alice.text
    assert "Stop buddy messages" in labels(to_alice)
    [pair] = await haven.services.buddies.pairs(GUILD)
    assert pair.thread_id is None
    assert fake.messages_in(CH_BUDDIES) == [] and fake.messages_in(CH_LOCKED) == []


# --- stability -----------------------------------------------------------------------------


async def test_a_second_run_keeps_pairs_and_matches_only_the_new(haven: Haven) -> None:
    dave, erin, finn = more_members(haven, "Dave", "Erin", "Finn")
    buddies = haven.services.buddies
    await join(haven, ALICE, BOB, CAROL, dave)
    first = await buddies.run(GUILD, key="r1")
    before = await buddies.pairs(GUILD)
    assert len(first.new_groups) == 2

    await join(haven, erin, finn)
    second = await buddies.run(GUILD, key="r2")
    assert second.continued == 2 and second.ended == 0
    assert second.new_groups == ((erin, finn),)
    after = await buddies.pairs(GUILD)
    assert [p.id for p in after[:2]] == [p.id for p in before]
    # Nobody who carried on heard anything new.
    for user in (ALICE, BOB, CAROL, dave):
        assert dms(haven, user, ENDED) == []


async def test_a_rematch_gets_a_new_buddy_at_the_next_run_and_the_old_one_hears_neutrally(
    haven: Haven,
) -> None:
    dave, erin, finn = more_members(haven, "Dave", "Erin", "Finn")
    buddies = haven.services.buddies
    await join(haven, ALICE, BOB, CAROL, dave)
    await buddies.run(GUILD, key="r1")
    [old] = buddy_of(await groups(haven), ALICE)
    reply = await say(haven, "buddy", "rematch")
    assert reply.ephemeral
    assert buddy_of(await groups(haven), ALICE) == {old}  # nobody waiting: at the next run

    await join(haven, erin, finn)
    report = await buddies.run(GUILD, key="r2")
    assert report.ended == 1 and report.continued == 1
    now = await groups(haven)
    assert buddy_of(now, ALICE) and old not in buddy_of(now, ALICE)
    assert buddy_of(now, old) and ALICE not in buddy_of(now, old)
    [notice] = dms(haven, old, ENDED)
    assert "Alice" not in notice.text and str(ALICE) not in notice.text
    assert "rematch" not in notice.text.lower() and "fit" not in notice.text
    assert dms(haven, ALICE, ENDED) == []


async def test_a_pair_ended_by_a_rematch_is_not_made_again_even_with_no_one_else(
    haven: Haven,
) -> None:
    buddies = haven.services.buddies
    await join(haven, ALICE, BOB)
    await buddies.run(GUILD, key="r1")
    assert await buddies.rematch(GUILD, ALICE) == "next-run"
    report = await buddies.run(GUILD, key="r2")
    assert report.new_groups == () and sorted(report.unmatched) == [ALICE, BOB]
    assert await groups(haven) == []
    assert len(dms(haven, ALICE, UNMATCHED)) == 1 and len(dms(haven, BOB, UNMATCHED)) == 1


async def test_a_paused_member_is_never_matched_over_several_runs(haven: Haven) -> None:
    dave, erin = more_members(haven, "Dave", "Erin")
    buddies = haven.services.buddies
    await join(haven, ALICE, BOB, CAROL, dave, erin)
    await say(haven, "buddy", "pause", user=CAROL, weeks=8)
    for run in range(4):
        await buddies.run(GUILD, key=f"paused-{run}")
        assert not buddy_of(await groups(haven), CAROL)
        await end_all_pairs(haven)
        haven.clock.advance(weeks=1)
    assert dms(haven, CAROL) == []  # not even "no buddy this time": pausing was their choice
    await buddies.resume(GUILD, CAROL)
    await buddies.run(GUILD, key="resumed")
    assert buddy_of(await groups(haven), CAROL)


async def test_avoids_and_separations_hold_over_many_seeded_runs(haven: Haven) -> None:
    dave, erin, finn, gail, hugo = more_members(haven, "Dave", "Erin", "Finn", "Gail", "Hugo")
    members = [ALICE, BOB, CAROL, dave, erin, finn, gail, hugo]
    buddies = haven.services.buddies
    await join(haven, *members)
    await say(haven, "buddy", "avoid", member=BOB)
    await buddies.avoid(GUILD, CAROL, dave)
    await buddies.avoid(GUILD, erin, ALICE)
    await buddies.avoid(GUILD, erin, finn)
    await buddies.separate(GUILD, gail, hugo)
    await buddies.separate(GUILD, ALICE, CAROL)
    kept_apart = [(ALICE, BOB), (CAROL, dave), (erin, ALICE), (erin, finn), (gail, hugo)]
    forbidden = {frozenset(p) for p in [*kept_apart, (ALICE, CAROL)]}
    for run in range(20):
        if run % 3 == 2:  # seven members too: the trio must keep the rules as well
            await buddies.pause(GUILD, members[run % 8], 1)
        report = await buddies.run(GUILD, key=f"many-{run}")
        for group in report.new_groups:
            for a in group:
                for b in group:
                    assert a == b or frozenset((a, b)) not in forbidden, (run, group)
        await end_all_pairs(haven)
        await haven.services.db.execute("UPDATE buddy_profiles SET paused_until = NULL")
    # The avoid list is stored as codes: nothing names whom Alice avoids.
    rows = await haven.services.db.fetchall("SELECT * FROM buddy_avoids")
    assert all(str(BOB) not in str(dict(r)) for r in rows)


async def test_no_repeat_pair_within_twelve_weeks_when_there_is_another_way(
    haven: Haven,
) -> None:
    buddies = haven.services.buddies
    dave = more_members(haven, "Dave")[0]
    await join(haven, ALICE, BOB, CAROL, dave)
    await buddies.run(GUILD, key="first")
    first = await groups(haven)
    # Both pairs end, neutrally: Alice and Carol each ask for a change.
    for user in (ALICE, CAROL) if buddy_of(first, ALICE) != {CAROL} else (ALICE, BOB):
        assert await buddies.rematch(GUILD, user) == "next-run"
    haven.clock.advance(weeks=2)
    await buddies.run(GUILD, key="second")
    second = await groups(haven)
    assert len(second) == 2 and not set(first) & set(second)

    # A pair that ended without anyone asking (someone left and came back) is a recent one:
    # it's not made again while there's another way…
    await end_all_pairs(haven)
    haven.clock.advance(weeks=2)
    await buddies.run(GUILD, key="third")
    third = await groups(haven)
    assert len(third) == 2 and not set(third) & (set(first) | set(second))
    # …and when there's none (the first pairs were asked to change), a recent buddy is still
    # better than none: everyone is paired again, never across a change someone asked for.
    await end_all_pairs(haven)
    haven.clock.advance(weeks=2)
    report = await buddies.run(GUILD, key="fourth")
    assert report.unmatched == () and not set(await groups(haven)) & set(first)


# --- nobody left out silently ---------------------------------------------------------------


async def test_a_member_everyone_avoids_and_a_lone_member_hear_kindly_without_why(
    haven: Haven,
) -> None:
    buddies = haven.services.buddies
    await join(haven, ALICE, BOB, CAROL)
    await buddies.avoid(GUILD, BOB, ALICE)
    await buddies.avoid(GUILD, CAROL, ALICE)
    report = await buddies.run(GUILD, key="avoided")
    assert report.new_groups == ((BOB, CAROL),) and report.unmatched == (ALICE,)
    [told] = dms(haven, ALICE, UNMATCHED)
    for secret in ("avoid", "Bob", "Carol", str(BOB), str(CAROL), "asked"):
        assert secret not in told.text
    assert "nothing you did" in told.text and "Stop buddy messages" in labels(told)

    # In another server, a lone member gets the very same words.
    fake = haven.fake
    other = fake.world.add_guild("Elsewhere", members=[ALICE])
    await fake.dispatch("GUILD_CREATE", fake.world.guild_create_payload(other, all_members=False))
    await haven.settle()
    await buddies.join(other, ALICE)
    alone = await buddies.run(other, key="alone")
    assert alone.unmatched == (ALICE,)
    [first, second] = dms(haven, ALICE, UNMATCHED)
    assert first.embeds[0]["description"] == second.embeds[0]["description"]


# --- check-backs ----------------------------------------------------------------------------


async def _checkback_round(haven: Haven) -> None:
    haven.clock.advance(**WEEK)
    await haven.run_due()


async def test_check_backs_are_private_and_their_buttons_work_after_a_restart(
    haven: Haven,
) -> None:
    fake = haven.fake
    await say(haven, "haven", "setup", user=MONA, buddy_channel=CH_BUDDIES)
    await join(haven, ALICE, BOB)
    await cadence(haven)
    haven.clock.set(FIRST_RUN_AT)
    await haven.run_due()
    posted = {m.id for m in fake.messages_in(CH_BUDDIES)}

    await _checkback_round(haven)
    for user in (ALICE, BOB):
        [asked] = dms(haven, user, "A quiet check-back")
        assert labels(asked)[:4] == [
            "We connected",
            "Not yet",
            "It's not a fit",
            "We paused by agreement",
        ]
        assert "Stop check-backs" in labels(asked)
    [pair] = await haven.services.buddies.pairs(GUILD)
    assert pair.thread_id is not None and len(fake.messages_in(pair.thread_id)) == 1
    assert {m.id for m in fake.messages_in(CH_BUDDIES)} == posted  # nothing public

    await haven.restart()
    [asked] = dms(haven, ALICE, "A quiet check-back")
    answered = await (await fake.click(asked, "We connected")).reply()
    assert answered.ephemeral and "just for you" in answered.text
    rows = await haven.services.db.fetchall("SELECT user_id, answer FROM buddy_checkbacks")
    assert {r["user_id"]: r["answer"] for r in rows} == {ALICE: "connected", BOB: None}

    # Moderators see totals only.
    status = await say(haven, "haven", "status", user=MONA)
    assert "We connected” (last 12 weeks): **1**" in status.text
    for name in ("Alice", "Bob", str(ALICE), str(BOB)):
        assert name not in status.text


async def bob_goes_quiet(haven: Haven) -> Message:
    """Alice and Bob are paired; Alice answers every check-back, Bob none. After his second
    unanswered round (at the third), he is gently asked whether to stay: that DM."""
    fake = haven.fake
    await say(haven, "haven", "setup", user=MONA, buddy_channel=CH_BUDDIES)
    await join(haven, ALICE, BOB)
    await cadence(haven)
    haven.clock.set(FIRST_RUN_AT)
    await haven.run_due()  # run 1: Alice and Bob
    threads_before = {m.id for m in fake.messages_in(CH_BUDDIES)}

    async def alice_answers() -> None:
        latest = dms(haven, ALICE, "A quiet check-back")[-1]
        await (await fake.click(latest, "Not yet")).reply()

    await _checkback_round(haven)  # round 1: Bob doesn't answer
    await alice_answers()
    await _checkback_round(haven)  # run 2: carry on
    await _checkback_round(haven)  # round 2: Bob's round 1 counts; still silent
    await alice_answers()
    assert dms(haven, BOB, "Would you like to stay") == []
    await _checkback_round(haven)  # run 3
    await _checkback_round(haven)  # round 3: two unanswered in a row → the gentle question
    await alice_answers()
    [gentle] = dms(haven, BOB, "Would you like to stay")
    assert labels(gentle)[:3] == ["Stay in pairing", "Pause for 4 weeks", "Leave pairing"]
    assert dms(haven, ALICE, "Would you like to stay") == []
    assert {m.id for m in fake.messages_in(CH_BUDDIES)} == threads_before  # never public
    assert buddy_of(await groups(haven), BOB) == {ALICE}
    return gentle


async def test_a_member_who_goes_quiet_is_asked_gently_then_rests_until_they_answer(
    haven: Haven,
) -> None:
    fake = haven.fake
    buddies = haven.services.buddies
    await bob_goes_quiet(haven)

    # The next run: Bob stayed quiet, so the pair ends; Alice hears neutrally and, with Dave
    # new in the pool, gets a new buddy; Bob is not matched again until he answers.
    dave = more_members(haven, "Dave")[0]
    await join(haven, dave)
    await _checkback_round(haven)  # run 4
    assert await groups(haven) == [tuple(sorted((ALICE, dave)))]
    [neutral] = dms(haven, ALICE, ENDED)
    assert "Bob" not in neutral.text and str(BOB) not in neutral.text
    assert "quiet" not in neutral.text
    [resting] = dms(haven, BOB, "resting")
    assert "/buddy join" in resting.text
    assert dms(haven, BOB, UNMATCHED) == []  # resting is not "unmatched"
    assert dms(haven, BOB, ENDED) == []

    haven.clock.advance(weeks=2)
    await buddies.run(GUILD, key="still-quiet")
    assert not buddy_of(await groups(haven), BOB)
    assert dms(haven, BOB, UNMATCHED) == []

    # Bob answers his last check-back: he's back in the pool for the next run.
    last = dms(haven, BOB, "A quiet check-back")[-1]
    await (await fake.click(last, "Not yet", user=BOB)).reply()
    await join(haven, CAROL)
    await buddies.run(GUILD, key="back")
    assert buddy_of(await groups(haven), BOB) == {CAROL}


async def test_a_quiet_member_who_chooses_to_stay_keeps_their_buddy(haven: Haven) -> None:
    gentle = await bob_goes_quiet(haven)
    stayed = await (await haven.fake.click(gentle, "Stay in pairing", user=BOB)).reply()
    assert stayed.ephemeral and "staying" in stayed.text
    await _checkback_round(haven)  # run 4
    assert buddy_of(await groups(haven), BOB) == {ALICE}
    assert dms(haven, ALICE, ENDED) == [] and dms(haven, BOB, "resting") == []
    # And the count starts afresh: one more silent round is not two.
    await _checkback_round(haven)  # round 4
    assert len(dms(haven, BOB, "Would you like to stay")) == 1


async def test_a_member_resting_after_going_quiet_comes_back_with_buddy_join(
    haven: Haven,
) -> None:
    buddies = haven.services.buddies
    await join(haven, ALICE, BOB, CAROL)
    await haven.services.db.execute(
        "UPDATE buddy_profiles SET quiet_checks = 2 WHERE user_id = ?", (BOB,)
    )
    report = await buddies.run(GUILD, key="quiet")
    assert report.new_groups == ((ALICE, CAROL),) and report.unmatched == ()
    assert dms(haven, BOB) == []
    joined = await say(haven, "buddy", "join", user=BOB)
    assert joined.ephemeral
    await join(haven, more_members(haven, "Dave")[0])
    await buddies.run(GUILD, key="back")
    assert buddy_of(await groups(haven), BOB)


async def test_a_check_back_that_could_not_reach_someone_never_counts_against_them(
    haven: Haven,
) -> None:
    fake = haven.fake
    await join(haven, ALICE, BOB)
    await cadence(haven)
    haven.clock.set(FIRST_RUN_AT)
    await haven.run_due()
    await _checkback_round(haven)
    for user in (ALICE, BOB):
        asked = dms(haven, user, "A quiet check-back")[0]
        stopped = await (await fake.click(asked, "Stop check-backs", user=user)).reply()
        assert "pair goes on" in stopped.text
    for _ in range(8):  # four more cycles without a single check-back reaching them
        await _checkback_round(haven)
    for user in (ALICE, BOB):
        assert len(dms(haven, user, "A quiet check-back")) == 1
        assert dms(haven, user, "Would you like to stay") == []
    assert buddy_of(await groups(haven), BOB) == {ALICE}  # as the stop button promised


# --- leaving and forgetting -----------------------------------------------------------------


async def test_a_member_who_left_the_server_is_taken_out_at_the_next_run(haven: Haven) -> None:
    fake = haven.fake
    buddies = haven.services.buddies
    dave = more_members(haven, "Dave")[0]
    await join(haven, ALICE, BOB)
    await buddies.run(GUILD, key="r1")
    await join(haven, CAROL, dave)
    fake.world.remove_member(BOB)
    haven.services.delivery.forget_member(GUILD, BOB)  # as after the ten-minute memory
    fake.world.remove_member(dave)
    haven.services.delivery.forget_member(GUILD, dave)

    # Finding them gone mid-run takes them out of pairing inside the run (it used to hang
    # here on its own lock; the generous limit only turns a hang into a failure).
    report = await asyncio.wait_for(buddies.run(GUILD, key="r2"), 60)
    assert report.new_groups == ((ALICE, CAROL),)
    assert await buddies.profile(GUILD, BOB) is None and await buddies.profile(GUILD, dave) is None
    [neutral] = dms(haven, ALICE, ENDED)
    assert "Bob" not in neutral.text and str(BOB) not in neutral.text


async def test_a_departure_found_by_the_heads_up_ends_the_pair_at_once(haven: Haven) -> None:
    fake = haven.fake
    buddies = haven.services.buddies
    await join(haven, ALICE, BOB, CAROL)
    await buddies.run(GUILD, key="r1")
    assert await groups(haven) == [(ALICE, BOB, CAROL)]
    await cadence(haven)
    fake.world.remove_member(CAROL)
    haven.services.delivery.forget_member(GUILD, CAROL)

    haven.clock.set(HEADS_UP_AT)
    await haven.run_due()  # the heads-up to Carol finds she's gone
    assert await buddies.pairs(GUILD) == [] and await buddies.profile(GUILD, CAROL) is None
    for user in (ALICE, BOB):
        [neutral] = dms(haven, user, ENDED)
        assert "Carol" not in neutral.text and str(CAROL) not in neutral.text
    assert dms(haven, CAROL, "Buddy pairing soon") == [] and dms(haven, CAROL, ENDED) == []

    # Told some other way (the gateway, with the members intent), it's the same.
    await join(haven, MONA)
    haven.clock.set(FIRST_RUN_AT)
    await haven.run_due()
    assert await groups(haven) == [(ALICE, BOB, MONA)]
    await haven.services.members.left(GUILD, MONA)
    assert await buddies.pairs(GUILD) == []
    assert len(dms(haven, ALICE, ENDED)) == 2 and dms(haven, MONA, ENDED) == []


async def test_forget_takes_the_member_out_and_their_intro_down(haven: Haven) -> None:
    fake = haven.fake
    await say(haven, "haven", "setup", user=MONA, buddy_channel=CH_BUDDIES)
    await say(haven, "buddy", "join", intro=INTRO, pronouns="she/her")
    await join(haven, BOB)
    await cadence(haven)
    haven.clock.set(FIRST_RUN_AT)
    await haven.run_due()
    await _checkback_round(haven)
    await (await fake.click(dms(haven, ALICE, "A quiet check-back")[0], "We connected")).reply()
    await haven.services.buddies.avoid(GUILD, ALICE, CAROL)
    [pair] = await haven.services.buddies.pairs(GUILD)
    assert pair.thread_id is not None and fake.messages_in(pair.thread_id)

    asked = await say(haven, "my", "forget")
    await (await fake.click(asked, "Yes, forget me here")).reply()

    assert await _mentions(haven, ALICE) == []
    assert fake.messages_in(pair.thread_id) == []  # the intro that showed her intro is down
    assert await haven.services.buddies.pairs(GUILD) == []
    [neutral] = dms(haven, BOB, ENDED)
    assert "Alice" not in neutral.text and str(ALICE) not in neutral.text


# --- restarts and interrupted runs ----------------------------------------------------------


async def test_a_restart_right_after_a_run_sends_nothing_twice(haven: Haven) -> None:
    fake = haven.fake
    dave, erin = more_members(haven, "Dave", "Erin")
    await say(haven, "haven", "setup", user=MONA, buddy_channel=CH_BUDDIES)
    await join(haven, ALICE, BOB, CAROL, dave, erin)
    await cadence(haven)
    haven.clock.set(FIRST_RUN_AT)
    await haven.run_due()
    pairs = await haven.services.buddies.pairs(GUILD)
    sent = len(fake.calls)

    await haven.restart()
    await haven.run_due()
    haven.clock.advance(minutes=30)
    await haven.run_due()
    assert await haven.services.buddies.pairs(GUILD) == pairs
    for pair in pairs:
        assert pair.thread_id is not None and len(fake.messages_in(pair.thread_id)) == 1
    posts = [c for c in fake.calls[sent:] if c.method == "POST"]
    assert [c.path for c in posts if "/messages" in c.path or "/threads" in c.path] == []
    [next_run] = await haven.services.scheduler.pending(guild_id=GUILD, kind=RUN)
    assert next_run.due_at == utc(2026, 12, 14, 18)


async def test_a_run_interrupted_mid_way_finishes_once_when_it_runs_again(
    haven: Haven, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = haven.fake
    dave, erin, finn = more_members(haven, "Dave", "Erin", "Finn")
    everyone = [ALICE, BOB, CAROL, dave, erin, finn]
    await say(haven, "haven", "setup", user=MONA, buddy_channel=CH_BUDDIES)
    await join(haven, *everyone)
    await cadence(haven)
    buddies = haven.services.buddies
    introduce = buddies._introduce
    calls = 0

    async def crash_on_the_second(pair: object) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("the host went down")
        await introduce(pair)  # type: ignore[arg-type]

    monkeypatch.setattr(buddies, "_introduce", crash_on_the_second)
    haven.clock.set(FIRST_RUN_AT)
    await haven.run_due()
    assert len(await buddies.pairs(GUILD)) == 2  # the third pair was never made
    # As if the process died there: the occurrence is still "running" at the next start.
    await haven.services.db.execute(
        "UPDATE outbox SET state = 'running' WHERE kind = ? AND state = 'failed'", (RUN,)
    )
    await haven.restart()
    await haven.run_due()

    pairs = await haven.services.buddies.pairs(GUILD)
    assert sorted(u for p in pairs for u in p.members) == sorted(everyone)  # each once
    assert len(pairs) == 3
    for pair in pairs:
        assert pair.thread_id is not None and len(fake.messages_in(pair.thread_id)) == 1
    for user in everyone:
        assert dms(haven, user, "Meet your buddy") == [] and dms(haven, user, UNMATCHED) == []
