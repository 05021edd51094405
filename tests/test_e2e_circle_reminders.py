"""Circle reminders end to end: a DM at each lead time to everyone with a seat (never the
waitlist), exactly once across restarts, late after downtime only before the session starts,
a channel mention for closed DMs, nothing for those who rest — and the "I'll be there" and
"Can't make it" buttons, with the waitlist rule a freed seat follows."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from bot.circle_reminders import FAN_OUT
from bot.circles import REMINDER, Circle, Session
from bot.outgoing import Reached
from tests.clock import FakeClock, utc
from tests.conftest import Haven, say
from tests.fakediscord import ALICE, BOB, CAROL, CH_CIRCLES, GUILD, MONA, Message

TITLE = "Your circle is coming up"
# Tests begin on Saturday 5 June 2027, 12:00 UTC (the fake refuses events that start in the
# real past, so the dates stay well ahead); the circle meets on Sundays at 19:00 in New
# York, so its first session starts on 6 June at 23:00 UTC.
NOW = utc(2027, 6, 5, 12)
START = utc(2027, 6, 6, 23)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


def add_member(haven: Haven, name: str) -> int:
    return haven.fake.world.add_user(name, name.capitalize())


async def evening(
    haven: Haven,
    *,
    going: tuple[int, ...] = (ALICE, BOB),
    waiting: tuple[int, ...] = (CAROL,),
    **options: object,
) -> tuple[Circle, Session]:
    """A circle with `going` in its seats and `waiting` on the waitlist, in that order."""
    settings: dict[str, object] = {
        "name": "Evening *circle*",
        "weekday": "sunday",
        "at": "19:00",
        "timezone": "America/New_York",
        "host_id": MONA,
        "channel_id": CH_CIRCLES,
        "capacity": max(len(going), 2),
    }
    settings.update(options)
    circles = haven.services.circles
    circle = await circles.create(GUILD, **settings)  # type: ignore[arg-type]
    for user in (*going, *waiting):
        await circles.join(circle, user)
    session = await circles.next_session(circle)
    assert session is not None and session.starts_at == START
    for user in going:
        assert await status(haven, session, user) == "going"
    for user in waiting:
        assert await status(haven, session, user) == "waiting"
    return circle, session


async def status(haven: Haven, session: Session, user: int) -> str | None:
    rsvp = await haven.services.circles.rsvp(session.id, user)
    return None if rsvp is None else rsvp.status


async def confirmed(haven: Haven, session: Session, user: int) -> bool:
    rsvp = await haven.services.circles.rsvp(session.id, user)
    assert rsvp is not None
    return rsvp.confirmed


async def run_at(haven: Haven, instant: datetime) -> None:
    haven.clock.set(instant)
    await haven.run_due()


def reminders(haven: Haven, user: int) -> list[Message]:
    return [m for m in haven.fake.dms_to(user) if TITLE in m.text]


def dms_titled(haven: Haven, user: int, title: str) -> list[Message]:
    return [m for m in haven.fake.dms_to(user) if any(e.get("title") == title for e in m.embeds)]


async def reminder_jobs(haven: Haven) -> list[datetime]:
    jobs = await haven.services.scheduler.pending(guild_id=GUILD, kind=REMINDER, limit=50)
    return [j.due_at for j in jobs]


async def job_state(haven: Haven, session: Session, lead: int) -> tuple[str, str | None]:
    row = await haven.services.db.fetchone(
        "SELECT state, note FROM outbox WHERE key = ?", (f"{REMINDER}:{session.id}:{lead}",)
    )
    assert row is not None
    return row["state"], row["note"]


async def click(haven: Haven, message: Message, label: str, user: int) -> str:
    reply = await (await haven.fake.click(message, label, user=user)).reply()
    assert reply.ephemeral
    return reply.text


# --- reminders arrive ------------------------------------------------------------------------


async def test_reminders_arrive_at_each_lead_to_those_with_a_seat_only(haven: Haven) -> None:
    _, session = await evening(haven)
    day, hour = START - timedelta(hours=24), START - timedelta(hours=1)
    # The first session's two, and the next sessions' too (they are planned ahead).
    assert (await reminder_jobs(haven))[:2] == [day, hour]

    await run_at(haven, day + timedelta(seconds=5))
    for user in (ALICE, BOB):
        assert len(reminders(haven, user)) == 1
    assert haven.fake.dms_to(CAROL) == []  # waiting is not a seat
    assert haven.fake.messages_in(CH_CIRCLES) == []
    assert await job_state(haven, session, 24 * 60) == ("done", "2 with a seat: 2 by DM")

    await run_at(haven, hour + timedelta(seconds=5))
    for user in (ALICE, BOB):
        assert len(reminders(haven, user)) == 2
    assert haven.fake.dms_to(CAROL) == []

    dm = reminders(haven, ALICE)[0]
    stamp = int(START.timestamp())
    assert f"<t:{stamp}:F>" in dm.text and f"<t:{stamp}:R>" in dm.text
    assert "Evening \\*circle\\*" in dm.text  # the name is shown inert
    assert "Sharing" in dm.text and f"<#{CH_CIRCLES}>" in dm.text
    assert "completely fine" in dm.text
    labels = [b["label"] for b in dm.buttons]
    assert labels == ["I'll be there", "Can't make it", "Stop circle reminders"]
    assert dm.pinged_user_ids == []


async def test_the_card_shows_the_topic_and_content_note_inert(haven: Haven) -> None:
    _, session = await evening(haven, going=(ALICE,), waiting=())
    await haven.services.db.execute(
        "UPDATE circle_sessions SET topic = ?, content_note = ? WHERE id = ?",
        ("Rest **and** repair", "We may talk about loss", session.id),
    )
    await run_at(haven, START - timedelta(hours=24))
    [dm] = reminders(haven, ALICE)
    assert "Rest \\*\\*and\\*\\* repair" in dm.text
    assert "We may talk about loss" in dm.text


async def test_no_reminders_for_a_skipped_session(haven: Haven) -> None:
    circle, session = await evening(haven)
    await haven.services.circles.cancel_session(
        circle, session, state="skipped", notice="We're resting this week."
    )
    await run_at(haven, START - timedelta(hours=1))
    for user in (ALICE, BOB, CAROL):
        assert reminders(haven, user) == []
    assert len(dms_titled(haven, ALICE, "Evening *circle*: a change")) == 1


async def test_a_full_circle_is_reminded_side_by_side_within_a_bound(haven: Haven) -> None:
    many = tuple(add_member(haven, f"member{n}") for n in range(30))
    _, session = await evening(haven, going=many, waiting=())
    delivery = haven.services.delivery
    sending, most = 0, 0
    original = delivery.to_first

    async def counted(*args: Any, **kwargs: Any) -> Reached:
        nonlocal sending, most
        sending += 1
        most = max(most, sending)
        try:
            return await original(*args, **kwargs)
        finally:
            sending -= 1

    delivery.to_first = counted  # type: ignore[method-assign]
    await run_at(haven, START - timedelta(hours=24))
    assert [len(reminders(haven, u)) for u in many] == [1] * 30
    assert most == FAN_OUT  # side by side, never more than the bound at once
    assert (await job_state(haven, session, 24 * 60))[0] == "done"


# --- exactly once, and late only before the start ----------------------------------------------


async def test_reminders_are_not_repeated_after_a_restart(haven: Haven) -> None:
    _, session = await evening(haven)
    await run_at(haven, START - timedelta(hours=24))
    await haven.restart()
    await haven.run_due()
    for user in (ALICE, BOB):
        assert len(reminders(haven, user)) == 1

    # A crash while the job ran, after the DMs went out: it runs again on the next start.
    await haven.services.db.execute(
        "UPDATE outbox SET state = 'running' WHERE key = ?", (f"{REMINDER}:{session.id}:1440",)
    )
    await haven.restart()
    await haven.run_due()
    assert (await job_state(haven, session, 24 * 60))[0] == "done"
    for user in (ALICE, BOB):
        assert len(reminders(haven, user)) == 1


async def test_a_reminder_missed_while_down_is_sent_late_before_the_start(haven: Haven) -> None:
    _, session = await evening(haven)
    await haven.stop()
    haven.clock.set(START - timedelta(minutes=30))  # both leads passed while Haven was down
    await haven.start()
    await haven.run_due()
    for user in (ALICE, BOB):
        assert len(reminders(haven, user)) == 1  # the 1-hour one, late; not two at once
    assert (await job_state(haven, session, 60))[0] == "done"


async def test_a_reminder_is_not_sent_once_the_session_started(haven: Haven) -> None:
    _, session = await evening(haven)
    await run_at(haven, START - timedelta(hours=24))
    await haven.stop()
    haven.clock.set(START + timedelta(minutes=10))
    await haven.start()
    await haven.run_due()
    for user in (ALICE, BOB):
        assert len(reminders(haven, user)) == 1  # only the 24-hour one, sent in time
    assert (await job_state(haven, session, 60))[0] == "missed"


async def test_a_dm_discord_failed_to_take_is_retried_and_nobody_gets_two(haven: Haven) -> None:
    _, session = await evening(haven, channel_id=None)  # no channel to fall back to
    bobs = haven.fake.world.dm_channel(BOB).id
    haven.fake.fail_next("POST", rf"/channels/{bobs}/messages", 503)
    await run_at(haven, START - timedelta(hours=24))
    assert len(reminders(haven, ALICE)) == 1 and reminders(haven, BOB) == []
    state, note = await job_state(haven, session, 24 * 60)
    assert state == "pending" and note == "1 of 2 reminders did not go out"

    await run_at(haven, START - timedelta(hours=24) + timedelta(minutes=5))
    assert len(reminders(haven, ALICE)) == 1 and len(reminders(haven, BOB)) == 1
    assert (await job_state(haven, session, 24 * 60))[0] == "done"


# --- closed DMs and rest -----------------------------------------------------------------------


async def test_closed_dms_get_a_mention_in_the_circle_channel(haven: Haven) -> None:
    _, session = await evening(haven)
    haven.fake.close_dms(BOB)
    await run_at(haven, START - timedelta(hours=24))
    assert len(reminders(haven, ALICE)) == 1 and haven.fake.dms_to(BOB) == []
    [post] = haven.fake.messages_in(CH_CIRCLES)
    assert post.content.startswith(f"<@{BOB}>") and TITLE in post.text
    assert post.pinged_user_ids == [BOB]
    assert post.allowed_mentions is not None
    assert [int(u) for u in post.allowed_mentions.get("users", [])] == [BOB]
    assert post.pinged_role_ids == [] and not post.pinged_everyone
    assert await job_state(haven, session, 24 * 60) == (
        "done",
        "2 with a seat: 1 by DM, 1 in the channel",
    )

    # The buttons on the mention are Bob's alone; pressed by him, they work there too.
    refused = await click(haven, post, "Can't make it", ALICE)
    assert "older message" in refused
    assert await status(haven, session, BOB) == "going"
    said = await click(haven, post, "I'll be there", BOB)
    assert "let the host know" in said
    assert await confirmed(haven, session, BOB)

    await run_at(haven, START - timedelta(hours=1))
    assert len(haven.fake.messages_in(CH_CIRCLES)) == 2  # once per lead, not once per run


async def test_members_who_rest_get_no_dm_and_no_channel_ping(haven: Haven) -> None:
    _, session = await evening(haven, going=(ALICE, BOB, CAROL), waiting=())
    await say(haven, "my", "pause", user=BOB, days=3)
    await say(haven, "my", "pause", user=CAROL, days=3)
    haven.fake.close_dms(CAROL)  # resting wins over the fallback too
    await run_at(haven, START - timedelta(hours=24))
    assert len(reminders(haven, ALICE)) == 1
    assert reminders(haven, BOB) == [] and reminders(haven, CAROL) == []
    assert haven.fake.messages_in(CH_CIRCLES) == []
    assert await job_state(haven, session, 24 * 60) == (
        "done",
        "3 with a seat: 1 by DM, 2 resting",
    )


async def test_the_stop_button_stops_circle_reminders(haven: Haven) -> None:
    await evening(haven, going=(ALICE, BOB), waiting=())
    await run_at(haven, START - timedelta(hours=24))
    [dm] = reminders(haven, ALICE)
    said = await click(haven, dm, "Stop circle reminders", ALICE)
    assert "won't send you reminders" in said
    await run_at(haven, START - timedelta(hours=1))
    assert len(reminders(haven, ALICE)) == 1 and len(reminders(haven, BOB)) == 2
    assert haven.fake.messages_in(CH_CIRCLES) == []  # a stop is a choice, not a closed door


# --- "I'll be there" ---------------------------------------------------------------------------


async def test_ill_be_there_is_noted_and_works_after_a_restart(haven: Haven) -> None:
    _, session = await evening(haven)
    await run_at(haven, START - timedelta(hours=24))
    [dm] = reminders(haven, ALICE)
    await haven.restart()
    said = await click(haven, dm, "I'll be there", ALICE)
    assert "let the host know" in said and "Evening \\*circle\\*" in said
    assert await confirmed(haven, session, ALICE)
    assert not await confirmed(haven, session, BOB)

    [bobs] = reminders(haven, BOB)
    assert "is free for someone else" in await click(haven, bobs, "Can't make it", BOB)
    assert "don't have a seat" in await click(haven, bobs, "I'll be there", BOB)


# --- "Can't make it" and the waitlist ----------------------------------------------------------


async def test_more_than_a_day_ahead_a_freed_seat_goes_to_the_next_in_line(haven: Haven) -> None:
    dan, erin = add_member(haven, "dan"), add_member(haven, "erin")
    circles = haven.services.circles
    haven.clock.set(NOW - timedelta(days=1))  # so a reminder two days ahead is still to come
    _, session = await evening(haven, waiting=(CAROL, dan, erin), reminders="48h,1h")
    await run_at(haven, START - timedelta(hours=48))
    [alices] = reminders(haven, ALICE)
    [bobs] = reminders(haven, BOB)

    said = await click(haven, alices, "Can't make it", ALICE)
    assert "your seat has gone to someone on the waitlist" in said
    assert await circles.rsvp(session.id, ALICE) is None
    assert await status(haven, session, CAROL) == "going"  # first in line
    [told] = dms_titled(haven, CAROL, "You have a seat")
    assert "Evening \\*circle\\*" in told.text
    assert [await circles.position(session.id, u) for u in (dan, erin)] == [1, 2]

    said = await click(haven, bobs, "Can't make it", BOB)
    assert "your seat has gone to someone on the waitlist" in said
    assert await status(haven, session, dan) == "going"  # then the next
    assert len(dms_titled(haven, dan, "You have a seat")) == 1
    assert await circles.position(session.id, erin) == 1
    assert dms_titled(haven, erin, "You have a seat") == []
    assert [m for m in haven.fake.dms_to(erin) if m.find_component("Take the seat")] == []

    # A second press, or one without a seat: gently nothing.
    assert "don't have a seat" in await click(haven, alices, "Can't make it", ALICE)
    assert (await circles.seats(session.id, 2)).going == 2

    # The new seat-holders are reminded at the next lead; those who left are not.
    await run_at(haven, START - timedelta(hours=1))
    assert [len(reminders(haven, u)) for u in (ALICE, BOB, CAROL, dan, erin)] == [1, 1, 1, 1, 0]


async def seat_offers(haven: Haven) -> tuple[Session, dict[int, Message]]:
    """Alice can't make it a day before, with Carol, Dan and Erin waiting in that order."""
    dan, erin = add_member(haven, "dan"), add_member(haven, "erin")
    _, session = await evening(haven, waiting=(CAROL, dan, erin))
    await run_at(haven, START - timedelta(hours=24))  # exactly a day before: offers now
    [alices] = reminders(haven, ALICE)
    said = await click(haven, alices, "Can't make it", ALICE)
    assert "your seat at **Evening \\*circle\\*** is free for someone else" in said
    offers = {u: dms_titled(haven, u, "A seat opened") for u in (CAROL, dan, erin)}
    assert all(len(found) == 1 for found in offers.values())
    return session, {u: found[0] for u, found in offers.items()}


async def test_within_a_day_everyone_waiting_is_told_a_seat_opened(haven: Haven) -> None:
    circles = haven.services.circles
    session, offers = await seat_offers(haven)
    assert (await circles.seats(session.id, 2)).going == 1  # nobody was moved automatically
    assert await status(haven, session, ALICE) is None
    assert dms_titled(haven, BOB, "A seat opened") == []
    for offer in offers.values():
        assert offer.find_component("Take the seat") is not None
        assert offer.find_component("Stop circle news") is not None
    waiting = list(offers)
    assert [await circles.position(session.id, u) for u in waiting] == [1, 2, 3]


@pytest.mark.parametrize(
    ("lead", "promoted"),
    [("24h1m", True), ("24h", False)],  # a minute more than a day ahead, and exactly a day
)
async def test_the_waitlist_rule_switches_a_day_before(
    haven: Haven, lead: str, promoted: bool
) -> None:
    _, session = await evening(haven, waiting=(CAROL,), reminders=lead)
    await run_at(haven, START - timedelta(minutes=1441 if promoted else 1440))
    [alices] = reminders(haven, ALICE)
    said = await click(haven, alices, "Can't make it", ALICE)
    assert ("has gone to someone on the waitlist" in said) is promoted
    assert await status(haven, session, CAROL) == ("going" if promoted else "waiting")
    assert len(dms_titled(haven, CAROL, "You have a seat")) == int(promoted)
    assert len(dms_titled(haven, CAROL, "A seat opened")) == int(not promoted)


async def test_the_first_to_take_the_seat_has_it_and_the_next_is_told_kindly(
    haven: Haven,
) -> None:
    # "Take the seat" is handled in cogs/circle.py (circles' TAKE_SEAT route).
    circles = haven.services.circles
    session, offers = await seat_offers(haven)
    carol, dan, erin = offers
    # The last in line is the first to press: first come, first served.
    taken = await click(haven, offers[erin], "Take the seat", erin)
    assert await status(haven, session, erin) == "going"
    late = await click(haven, offers[carol], "Take the seat", carol)
    assert await status(haven, session, carol) == "waiting"
    assert taken != late
    assert "waitlist" in late and "**1**" in late  # told it went, and their place: first
    assert [await circles.position(session.id, u) for u in (carol, dan)] == [1, 2]


# --- trust ---------------------------------------------------------------------------------------


async def test_a_forged_or_borrowed_button_is_refused_and_changes_nothing(haven: Haven) -> None:
    _, session = await evening(haven)
    await run_at(haven, START - timedelta(hours=24))
    [dm] = reminders(haven, ALICE)
    cant = (dm.find_component("Can't make it") or {})["custom_id"]
    since = haven.fake.mark()

    for where in (None, GUILD):  # from Bob's DM with Haven, and in the server
        reply = await (await haven.fake.press(cant, user=BOB, guild=where)).reply()
        assert reply.ephemeral and "older message" in reply.text
    unsigned = cant.rsplit(":~", 1)[0]
    reply = await (await haven.fake.press(unsigned, user=ALICE)).reply()
    assert "older message" in reply.text

    assert await status(haven, session, ALICE) == "going"
    assert await status(haven, session, CAROL) == "waiting"
    assert haven.fake.dms_to(CAROL) == []
    posts = [c for c in haven.fake.calls[since:] if c.path.endswith("/messages")]
    assert posts == []
