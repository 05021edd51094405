"""Listening circles through the fake Discord: moderators' `/haven circle-…` and `cohost`,
members' `/circle list`, `info` (with its calendar file), `join` (agreements first) and
`leave`, the waitlist's "Take the seat", autocomplete, and another server's circles kept out."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events

from bot.circles import TAKE_SEAT, Circle
from tests.clock import utc
from tests.conftest import Haven, say
from tests.fakediscord import (
    ALICE,
    BOB,
    BOT_ID,
    CAROL,
    CH_CIRCLES,
    CH_VOICE,
    GUILD,
    MONA,
    Message,
)

NY = ZoneInfo("America/New_York")
F_STAMP = re.compile(r"<t:(\d+):F>")
R_STAMP = re.compile(r"<t:(\d+):R>")


async def evening(haven: Haven, guild: int = GUILD, **options: Any) -> Circle:
    """A circle made through the service, for tests about something else."""
    settings: dict[str, Any] = {
        "name": "Evening circle",
        "weekday": "sunday",
        "at": "19:00",
        "timezone": "America/New_York",
    }
    settings.update(options)
    return await haven.services.circles.create(guild, **settings)


async def count(haven: Haven, table: str) -> int:
    return int(await haven.services.db.fetchval(f"SELECT count(*) FROM {table}"))


async def create(haven: Haven, **options: Any) -> Message:
    settings: dict[str, Any] = {"name": "Evening circle", "weekday": "sunday", "time": "19:00"}
    settings.update(options)
    return await say(haven, "haven", "circle-create", user=MONA, **settings)


async def join(haven: Haven, circle: Circle, user: int = ALICE, **options: Any) -> Message:
    """`/circle join`, pressing "I agree" when the agreements come first."""
    answer = await say(haven, "circle", "join", user=user, circle=str(circle.id), **options)
    if answer.find_component("I agree") is not None:
        answer = await (await haven.fake.click(answer, "I agree", user=user)).reply()
    return answer


async def names(haven: Haven, user: int = ALICE, guild: int = GUILD) -> list[str]:
    channel = haven.fake.world.guilds[guild].channel_ids[0]
    ix = await haven.fake.autocomplete(
        "circle", "info", focused="circle", circle="", user=user, guild=guild, channel=channel
    )
    return [c["name"] for c in await ix.choices()]


# --- /haven circle-create --------------------------------------------------------------------


async def test_create_with_every_option_shows_the_circle(haven: Haven) -> None:
    answer = await create(
        haven,
        name="Sunday evening circle",
        timezone="America/New_York",
        duration=90,
        capacity=6,
        host=CAROL,
        channel_=CH_VOICE,
        description="A quiet hour to be heard.",
        every_weeks=2,
        reminders="48h,2h,15m",
    )
    assert answer.ephemeral
    text = answer.text
    assert "Sunday evening circle" in text and "/circle join" in text
    assert "Sundays at 19:00 (America/New_York), every 2 weeks, 90 minutes" in text
    assert F_STAMP.search(text) and R_STAMP.search(text)
    assert "6 seats" in text and "0 of 6 seats taken" in text
    assert f"<#{CH_VOICE}>" in text
    assert "48h, 2h and 15m before" in text
    assert "A quiet hour to be heard" in text
    assert "Carol" in text or f"<@{CAROL}>" in text
    assert "no host yet" not in text

    [circle] = await haven.services.circles.active(GUILD)
    assert (circle.duration, circle.capacity, circle.every_weeks) == (90, 6, 2)
    assert (circle.host_id, circle.channel_id) == (CAROL, CH_VOICE)
    assert circle.reminders == (48 * 60, 120, 15)
    sessions = await haven.services.circles.sessions(circle.id)
    first = sessions[0].starts_at.astimezone(NY)
    assert (first.weekday(), first.strftime("%H:%M")) == (6, "19:00")
    assert sessions[1].local_date - sessions[0].local_date == timedelta(weeks=2)
    # The first timestamp shown is the first session.
    shown = int(F_STAMP.findall(text)[0])
    assert shown == int(sessions[0].starts_at.timestamp())


async def test_create_without_a_host_says_who_can_still_host(haven: Haven) -> None:
    text = (await create(haven)).text
    assert "no host yet" in text and "host role" in text
    assert "24h and 1h before" in text  # the default reminders
    assert "8 seats" in text  # the default capacity


BAD_INPUT: list[tuple[dict[str, Any], str]] = [
    ({"time": "24:00"}, "couldn't read `24:00` as a time"),
    ({"timezone": "Amercia/New_Yrok"}, "don't know the time zone"),
    ({"duration": 10}, "15 to 240"),
    ({"duration": 300}, "15 to 240"),
    ({"capacity": 1}, "2 to 50"),
    ({"capacity": 51}, "2 to 50"),
    ({"reminders": "25x"}, "couldn't read `25x`"),
    ({"reminders": "2m"}, "5 minutes to 7 days"),
    ({"reminders": "8d"}, "5 minutes to 7 days"),
    ({"weekday": "funday"}, "as a weekday"),
    ({"every_weeks": 3}, "3"),
    ({"name": "x" * 81}, "up to 80"),
    ({"description": "y" * 1001}, "up to 1000"),
]


async def test_bad_input_is_refused_kindly_and_changes_nothing(haven: Haven) -> None:
    for options, says in BAD_INPUT:
        settings: dict[str, Any] = {"name": "Evening circle", "weekday": "sunday", "time": "19:00"}
        settings.update(options)
        # unchecked: send what a Discord client would stop, to prove Haven's own checks.
        ix = await haven.fake.slash("haven", "circle-create", user=MONA, unchecked=True, **settings)
        answer = await ix.reply()
        assert answer.ephemeral and says in answer.text, (options, answer.text)
        assert "went wrong" not in answer.text
        assert await count(haven, "circles") == 0
        assert await count(haven, "circle_sessions") == 0


async def test_a_duplicate_name_and_a_bot_as_host_are_refused(haven: Haven) -> None:
    await create(haven)
    again = await create(haven, name="evening CIRCLE", time="10:00")
    assert "already a circle called" in again.text
    robot = await create(haven, name="Another", host=BOT_ID)
    assert "is a bot" in robot.text and "choose a member" in robot.text
    assert await count(haven, "circles") == 1


async def test_a_non_moderator_cannot_create_a_circle(haven: Haven) -> None:
    answer = await say(
        haven, "haven", "circle-create", user=ALICE, name="Mine", weekday="monday", time="19:00"
    )
    assert answer.ephemeral and "Manage Server" in answer.text
    assert await count(haven, "circles") == 0


# --- /haven circle-edit -------------------------------------------------------------------


async def test_edit_replans_and_keeps_seats_where_the_date_still_exists(haven: Haven) -> None:
    circles = haven.services.circles
    haven.clock.set(utc(2027, 3, 1, 12))
    circle = await evening(haven)
    joined = await join(haven, circle)
    assert "You have a seat" in joined.text
    [seat] = await haven.services.db.fetchall("SELECT session_id FROM circle_rsvps")

    moved = await say(
        haven, "haven", "circle-edit", user=MONA, circle=str(circle.id), time="18:30", duration=90
    )
    assert "Saved" in moved.text and "Sundays at 18:30 (America/New_York), 90 minutes" in moved.text
    assert "kept their seats" in moved.text
    kept = await circles.session(seat["session_id"])
    assert kept is not None and kept.starts_at.astimezone(NY).strftime("%H:%M") == "18:30"
    assert await circles.rsvp(kept.id, ALICE) is not None
    assert "1 of 8 seats taken" in moved.text

    renamed = await say(
        haven, "haven", "circle-edit", user=MONA, circle=str(circle.id), name="Sunday dusk"
    )
    assert "Sunday dusk" in renamed.text and "kept their seats" not in renamed.text

    await say(haven, "haven", "circle-edit", user=MONA, circle=str(circle.id), weekday="monday")
    assert await circles.session(seat["session_id"]) is None
    [told] = haven.fake.dms_to(ALICE)
    assert "new rhythm" in told.text and "Mondays at 18:30" in told.text


async def test_edit_refuses_capacity_below_the_seats_taken(haven: Haven) -> None:
    circle = await evening(haven, capacity=4)
    for user in (ALICE, BOB, CAROL):
        await join(haven, circle, user=user)
    answer = await say(haven, "haven", "circle-edit", user=MONA, circle=str(circle.id), capacity=2)
    assert "**3**" in answer.text and "Nothing changed" in answer.text
    assert (await haven.services.circles.get(GUILD, str(circle.id))).capacity == 4
    nothing = await say(haven, "haven", "circle-edit", user=MONA, circle=str(circle.id))
    assert "Tell me what to change" in nothing.text


# --- /haven circle-archive ----------------------------------------------------------------


async def test_archive_asks_first_then_tells_everyone_and_the_circle_goes(haven: Haven) -> None:
    fake = haven.fake
    circle = await evening(haven, capacity=2)
    await evening(haven, name="Morning circle", at="08:00")
    for user in (ALICE, BOB, CAROL):  # two seats and one waitlist place
        await join(haven, circle, user=user)
    asked = await say(haven, "haven", "circle-archive", user=MONA, circle=str(circle.id))
    assert "Archive **Evening circle**?" in asked.text and "**3**" in asked.text
    assert not (await haven.services.circles.get(GUILD, str(circle.id))).archived

    # The button is for moderators: a member pressing its id gets a kind refusal.
    [button] = asked.buttons
    refused = await (await fake.press(button["custom_id"], user=ALICE, guild=GUILD)).reply()
    assert "Manage Server" in refused.text
    assert "Evening circle" in await names(haven)

    done = await (await fake.click(asked, "Yes, archive it", user=MONA)).reply()
    assert "is archived" in done.text and "3 people" in done.text
    for user in (ALICE, BOB, CAROL):
        [dm] = fake.dms_to(user)
        assert "has come to an end" in dm.text
    assert await count(haven, "circle_rsvps") == 0
    assert await names(haven) == ["Morning circle"]
    listed = await say(haven, "circle", "list")
    assert "Morning circle" in listed.text and "Evening circle" not in listed.text
    gone = await say(haven, "circle", "info", circle=str(circle.id))
    assert "it was archived" in gone.text
    again = await (await fake.click(asked, "Yes, archive it", user=MONA)).reply()
    assert "it was archived" in again.text


# --- /haven cohost ------------------------------------------------------------------------


async def test_cohosts_are_added_and_removed_and_bots_refused(haven: Haven) -> None:
    circles = haven.services.circles
    circle = await evening(haven, host_id=MONA)
    added = await say(haven, "haven", "cohost", user=MONA, circle=str(circle.id), member=BOB)
    assert "now co-hosts **Evening circle**" in added.text and "Co-hosts" in added.text
    assert await circles.cohosts(circle.id) == [BOB]
    twice = await say(haven, "haven", "cohost", user=MONA, circle=str(circle.id), member=BOB)
    assert "already co-hosts" in twice.text
    host = await say(haven, "haven", "cohost", user=MONA, circle=str(circle.id), member=MONA)
    assert "already hosts" in host.text
    robot = await say(haven, "haven", "cohost", user=MONA, circle=str(circle.id), member=BOT_ID)
    assert "is a bot" in robot.text
    removed = await say(
        haven, "haven", "cohost", user=MONA, circle=str(circle.id), member=BOB, remove=True
    )
    assert "no longer co-hosts" in removed.text
    assert await circles.cohosts(circle.id) == []
    not_one = await say(
        haven, "haven", "cohost", user=MONA, circle=str(circle.id), member=BOB, remove=True
    )
    assert "isn't a co-host" in not_one.text


# --- autocomplete and other servers -------------------------------------------------------


async def test_autocomplete_and_ids_stay_within_the_server(haven: Haven) -> None:
    fake = haven.fake
    other = fake.world.add_guild("Elsewhere", members=[BOB])
    await fake.dispatch("GUILD_CREATE", fake.world.guild_create_payload(other, all_members=False))
    await haven.settle()
    await evening(haven)
    walk = await evening(haven, name="Evening walk", at="18:00")
    theirs = await evening(haven, guild=other, name="Elsewhere evening")

    assert await names(haven) == ["Evening circle", "Evening walk"]
    ix = await fake.autocomplete("circle", "join", focused="circle", circle="walk")
    assert [(c["name"], c["value"]) for c in await ix.choices()] == [("Evening walk", str(walk.id))]
    ix = await fake.autocomplete("haven", "circle-edit", focused="circle", circle="eve", user=MONA)
    assert "Elsewhere evening" not in [c["name"] for c in await ix.choices()]
    assert await names(haven, user=BOB, guild=other) == ["Elsewhere evening"]

    # Typing another server's id (or name) is refused as if it never existed.
    for command in (("circle", "info"), ("circle", "join"), ("circle", "leave")):
        answer = await say(haven, *command, circle=str(theirs.id))
        assert answer.ephemeral and "couldn't find a circle" in answer.text
    edit = await say(haven, "haven", "circle-edit", user=MONA, circle=str(theirs.id), capacity=3)
    assert "couldn't find a circle" in edit.text
    by_name = await say(haven, "circle", "info", circle="Elsewhere evening")
    assert "couldn't find a circle" in by_name.text
    assert await count(haven, "circle_rsvps") == 0
    assert (await haven.services.circles.get(other, str(theirs.id))).capacity == 8
    # A name typed instead of choosing a suggestion still works here.
    typed = await say(haven, "circle", "info", circle="evening walk")
    assert "Evening walk" in typed.text


# --- /circle list and info ----------------------------------------------------------------


async def test_list_shows_times_and_counts_never_names(haven: Haven) -> None:
    empty = await say(haven, "circle", "list")
    assert "no circles here yet" in empty.text
    circle = await evening(haven, capacity=3, host_id=MONA)
    await evening(haven, name="Morning circle", at="08:00", weekday="monday")
    for user in (ALICE, BOB):
        await join(haven, circle, user=user, mode="listen")
    listed = await say(haven, "circle", "list", user=CAROL)
    text = listed.text
    assert listed.ephemeral
    assert len(F_STAMP.findall(text)) == 2 and len(R_STAMP.findall(text)) == 2
    assert "2 of 3 seats taken" in text and "0 of 8 seats taken" in text
    assert "Alice" not in text and "Bob" not in text
    assert f"<@{ALICE}>" not in text and f"<@{BOB}>" not in text
    assert "Mona" in text or f"<@{MONA}>" in text  # the host
    # Soonest first: Sunday evening comes before Monday morning.
    assert text.index("Evening circle") < text.index("Morning circle")

    # More circles than one message holds: the rest follow, each message within Discord's limits.
    for n in range(10):
        await evening(haven, name=f"Circle {n:02}")
    ix = await haven.fake.slash("circle", "list")
    first = await ix.reply()
    [more] = await ix.followups()
    assert len(first.embeds) + len(more.embeds) == 12 and more.ephemeral


async def test_info_attaches_a_calendar_that_matches_the_sessions(haven: Haven) -> None:
    circles = haven.services.circles
    haven.clock.set(utc(2027, 2, 20, 12))
    circle = await evening(haven, description="Come as you are.", channel_id=CH_CIRCLES)
    sessions = await circles.sessions(circle.id)
    await circles.cancel_session(
        circle, sessions[3], state="skipped", notice="Skipped.", reason="a holiday"
    )
    await join(haven, circle)

    answer = await say(haven, "circle", "info", circle=str(circle.id))
    text = answer.text
    assert answer.ephemeral and "Come as you are" in text
    assert "Sundays at 19:00 (America/New_York), 60 minutes" in text
    assert len(F_STAMP.findall(text)) == 4 and "1 of 8 seats taken" in text
    assert "Sunday 14 March 2027 — skipped: a holiday" in text
    assert f"<#{CH_CIRCLES}>" in text
    assert "Alice" not in text

    [attachment] = answer.attachments
    assert attachment.filename == "evening-circle.ics"
    calendar = icalendar.Calendar.from_ical(attachment.data)
    [event] = calendar.walk("VEVENT")
    assert str(event["SUMMARY"]) == "Evening circle"
    held = await circles.sessions(circle.id)
    assert date_of(held[0]) == "2027-02-21"
    expanded = recurring_ical_events.of(calendar).between(
        held[0].starts_at - timedelta(minutes=1), held[-1].starts_at + timedelta(minutes=1)
    )
    starts = sorted(e["DTSTART"].dt.astimezone(UTC) for e in expanded)
    assert starts == [s.starts_at for s in held]
    assert datetime(2027, 3, 14, 23, tzinfo=UTC) not in starts  # the skipped date


def date_of(session: Any) -> str:
    return str(session.local_date.isoformat())


async def test_info_keeps_local_time_across_the_spring_change(haven: Haven) -> None:
    haven.clock.set(utc(2027, 3, 1, 12))
    made = await create(haven, timezone="America/New_York")
    [circle] = await haven.services.circles.active(GUILD)
    assert circle.timezone == "America/New_York"
    shown_at_create = [int(n) for n in F_STAMP.findall(made.text)]
    info = await say(haven, "circle", "info", circle=str(circle.id))
    listed = await say(haven, "circle", "list")
    stamps = [int(n) for n in F_STAMP.findall(info.text)]
    assert stamps == shown_at_create
    before, after = (datetime.fromtimestamp(n, UTC) for n in stamps[:2])  # 7 and 14 March
    assert before.astimezone(NY).strftime("%Y-%m-%d %H:%M %Z") == "2027-03-07 19:00 EST"
    assert after.astimezone(NY).strftime("%Y-%m-%d %H:%M %Z") == "2027-03-14 19:00 EDT"
    assert after - before == timedelta(days=7) - timedelta(hours=1)
    assert [int(n) for n in F_STAMP.findall(listed.text)] == stamps[:1]


# --- /circle join and leave ---------------------------------------------------------------


async def test_the_first_join_shows_the_agreements_and_joins_only_on_i_agree(
    haven: Haven,
) -> None:
    circles = haven.services.circles
    circle = await evening(haven)
    first = await say(
        haven, "circle", "join", circle=str(circle.id), mode="listen", every_week=True
    )
    assert first.ephemeral
    assert "Witness, don't fix" in first.text and "What's shared here stays here" in first.text
    assert "/support" in first.text and "pass" in first.text
    assert await count(haven, "circle_rsvps") == 0
    assert await count(haven, "circle_members") == 0
    assert not await circles.agreed(circle.id, ALICE)

    # Nobody else can press Alice's "I agree" into a seat.
    [button] = first.buttons
    stolen = await (await haven.fake.press(button["custom_id"], user=BOB, guild=GUILD)).reply()
    assert "older message" in stolen.text
    assert await count(haven, "circle_rsvps") == 0

    joined = await (await haven.fake.click(first, "I agree", user=ALICE)).reply()
    text = joined.text
    assert "You have a seat at **Evening circle**" in text and "listening" in text
    assert F_STAMP.search(text) and R_STAMP.search(text)
    assert "every session from now on" in text
    assert "/circle leave" in text and "every_week:true" in text
    assert "Reminders come by DM 24h and 1h before" in text and "stop them" in text
    assert await circles.agreed(circle.id, ALICE)
    assert await circles.is_series_member(circle.id, ALICE)
    assert await count(haven, "circle_rsvps") == 8  # every planned session


async def test_join_twice_leave_and_come_back(haven: Haven) -> None:
    circle = await evening(haven)
    await join(haven, circle)
    twice = await say(haven, "circle", "join", circle=str(circle.id))
    assert "You already have a seat" in twice.text
    assert twice.find_component("I agree") is None
    assert await count(haven, "circle_rsvps") == 1

    left = await say(haven, "circle", "leave", circle=str(circle.id))
    assert "free for someone else" in left.text and "welcome back" in left.text
    assert await count(haven, "circle_rsvps") == 0
    again = await say(haven, "circle", "leave", circle=str(circle.id))
    assert "nothing to leave" in again.text

    # Agreed once: the next join goes straight through, with aftercare noted.
    back = await say(haven, "circle", "join", circle=str(circle.id), aftercare=True)
    assert back.find_component("I agree") is None
    assert "You have a seat" in back.text and "gentle check-in DM" in back.text
    [rsvp] = await haven.services.db.fetchall("SELECT mode, aftercare FROM circle_rsvps")
    assert (rsvp["mode"], rsvp["aftercare"]) == ("share", 1)


async def test_a_full_session_puts_a_member_on_the_waitlist(haven: Haven) -> None:
    circle = await evening(haven, capacity=2)
    for user in (BOB, CAROL):
        await join(haven, circle, user=user)
    waiting = await join(haven, circle, user=ALICE, mode="text")
    assert "on the waitlist — number **1**" in waiting.text
    assert F_STAMP.search(waiting.text)
    fourth = await join(haven, circle, user=MONA)
    assert "number **2**" in fourth.text
    again = await say(haven, "circle", "join", circle=str(circle.id))
    assert "waitlist (number 1)" in again.text


async def test_leaving_every_week(haven: Haven) -> None:
    circle = await evening(haven)
    await join(haven, circle, every_week=True)
    once = await say(haven, "circle", "leave", circle=str(circle.id))
    assert "still have a place every week" in once.text
    assert await count(haven, "circle_rsvps") == 7
    weekly = await say(haven, "circle", "leave", circle=str(circle.id), every_week=True)
    assert "won't keep a place" in weekly.text and "7 upcoming places" in weekly.text
    assert await count(haven, "circle_rsvps") == 0
    assert await count(haven, "circle_members") == 0


# --- "Take the seat" ----------------------------------------------------------------------


async def test_take_the_seat_first_come_and_forgeries_refused(haven: Haven) -> None:
    fake = haven.fake
    circles = haven.services.circles
    circle = await evening(haven, capacity=2)
    for user in (ALICE, BOB, CAROL, MONA):  # Carol and Mona wait, in that order
        await join(haven, circle, user=user)
    session = await circles.next_session(circle)
    assert session is not None
    haven.clock.set(session.starts_at - timedelta(hours=3))  # inside the offer window
    await say(haven, "circle", "leave", circle=str(circle.id))

    [carol_dm] = fake.dms_to(CAROL)
    [mona_dm] = fake.dms_to(MONA)
    assert "A seat opened" in carol_dm.text
    genuine = str(carol_dm.find_component("Take the seat")["custom_id"])  # type: ignore[index]
    # Bob presses Carol's button (a copied id): refused, nothing changes.
    stolen = await (await fake.press(genuine, user=BOB)).reply()
    assert "older message" in stolen.text
    # …and a forged id naming another session, unsigned, is refused too.
    forged = await (await fake.press(f"haven:circle:take:{GUILD}:{session.id}", user=BOB)).reply()
    assert "older message" in forged.text
    assert (await circles.seats(session.id, 2)).going == 1

    taken = await (await fake.click(carol_dm, "Take the seat", user=CAROL)).reply()
    assert "It's yours" in taken.text
    full = await (await fake.click(mona_dm, "Take the seat", user=MONA)).reply()
    assert "still on the waitlist" in full.text and "number **1**" in full.text
    mine = await (await fake.click(carol_dm, "Take the seat", user=CAROL)).reply()
    assert "already have a seat" in mine.text

    # Alice left: a button made for her finds her no longer waiting.
    hers = haven.services.routes.custom_id(TAKE_SEAT, ALICE, guild=GUILD, session=session.id)
    not_waiting = await (await fake.press(hers, user=ALICE)).reply()
    assert "not on the waitlist" in not_waiting.text

    haven.clock.set(session.starts_at + timedelta(minutes=1))
    late = await (await fake.click(mona_dm, "Take the seat", user=MONA)).reply()
    assert "already begun" in late.text
