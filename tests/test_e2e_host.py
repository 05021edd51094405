"""`/host …` end to end: who may host, the roster, opening with the talking piece (and its
buttons after a restart), closing with attendance and aftercare, skipping a week, a host's
message, and asking co-hosts to cover."""

from __future__ import annotations

from typing import Any

from bot.circles import Circle
from bot.hosting import AFTERCARE, COVER_DEADLINE
from tests.clock import utc
from tests.conftest import Haven
from tests.fakediscord import (
    ALICE,
    BOB,
    CAROL,
    CH_CIRCLES,
    CH_GENERAL,
    GUILD,
    MONA,
    Message,
)

# The clock starts on Saturday 2026-11-28 12:00 UTC. The circle meets on Sundays at 19:00 in
# New York: the first session is 2026-11-29, 00:00–01:00 UTC on the 30th.
FIRST = "2026-11-29"
START = utc(2026, 11, 30, 0)
SOON = utc(2026, 11, 29, 23, 30)  # half an hour before: a host may open it


async def evening(haven: Haven, **options: Any) -> Circle:
    settings: dict[str, Any] = {
        "name": "Evening circle",
        "weekday": "sunday",
        "at": "19:00",
        "timezone": "America/New_York",
        "host_id": ALICE,
        "channel_id": CH_CIRCLES,
    }
    settings.update(options)
    return await haven.services.circles.create(GUILD, **settings)


async def host(haven: Haven, command: str, *, user: int = ALICE, **options: Any) -> Message:
    ix = await haven.fake.slash("host", command, user=user, **options)
    message = await ix.reply()
    assert message.ephemeral
    return message


def nick(haven: Haven, user: int, name: str) -> None:
    haven.fake.world.guilds[GUILD].members[user].nick = name


async def state(haven: Haven, circle: Circle) -> tuple[str, int, int | None]:
    session = await haven.services.circles.session_on(circle, FIRST)
    return session.state, int(session.away), session.cover_id


# --- who may host ----------------------------------------------------------------------------


async def test_a_member_who_isnt_a_host_is_refused_everything_and_nothing_changes(
    haven: Haven,
) -> None:
    circle = await evening(haven)
    await haven.services.circles.join(circle, CAROL)
    await haven.services.circles.set_cohost(GUILD, str(circle.id), MONA, remove=False)
    haven.clock.set(SOON)
    ref = str(circle.id)
    attempts: list[tuple[str, dict[str, Any]]] = [
        ("roster", {}),
        ("open", {}),
        ("close", {}),
        ("skip", {"date": FIRST, "reason": "tired"}),
        ("skip", {"date": "not a date"}),
        ("message", {"text": "hello everyone"}),
        ("away", {"date": FIRST}),
        ("away", {"date": "2020-01-01"}),
    ]
    for command, options in attempts:
        reply = await host(haven, command, user=BOB, circle=ref, **options)
        assert "Only the host of **Evening circle**" in reply.text, command
        assert "left everything as it was" in reply.text
    assert haven.fake.messages_in(CH_CIRCLES) == []
    assert haven.fake.dms_to(CAROL) == [] and haven.fake.dms_to(MONA) == []
    assert await state(haven, circle) == ("planned", 0, None)
    assert await haven.services.circles.rsvp(
        (await haven.services.circles.session_on(circle, FIRST)).id, CAROL
    )


async def test_the_host_role_a_moderator_and_a_co_host_may_host(haven: Haven) -> None:
    world = haven.fake.world
    role = world.add_role("Circle hosts", members=[CAROL])
    await haven.fake.dispatch(
        "GUILD_ROLE_CREATE", {"guild_id": str(GUILD), "role": world.role_payload(GUILD, role)}
    )
    await haven.settle()
    await haven.services.guilds.update(GUILD, host_role_id=role)
    circle = await evening(haven, host_id=None)
    await haven.services.circles.set_cohost(GUILD, str(circle.id), BOB, remove=False)
    for user in (CAROL, MONA, BOB):
        reply = await host(haven, "roster", user=user, circle=str(circle.id))
        assert "Evening circle — roster" in reply.text, user
    refused = await host(haven, "roster", user=ALICE, circle="Evening circle")
    assert "Only the host" in refused.text
    skipped = await host(haven, "skip", user=CAROL, circle="Evening circle", date=FIRST)
    assert "Skipped **Evening circle**" in skipped.text
    assert (await haven.services.circles.session_on(circle, "2026-12-06")).state == "planned"


async def test_autocomplete_offers_this_servers_circles(haven: Haven) -> None:
    circle = await evening(haven)
    ix = await haven.fake.autocomplete("host roster", focused="circle", circle="even")
    assert await ix.choices() == [{"name": "Evening circle", "value": str(circle.id)}]
    reply = await host(haven, "roster", circle="Morning circle")
    assert "couldn't find a circle called `Morning circle`" in reply.text


# --- the roster ------------------------------------------------------------------------------


async def test_the_roster_shows_names_modes_confirmations_and_the_waitlist(haven: Haven) -> None:
    circles = haven.services.circles
    circle = await evening(haven, capacity=2)
    nick(haven, BOB, "Bob *the* builder")
    joined = await circles.join(circle, BOB, mode="share")
    await circles.join(circle, CAROL, mode="listen")
    await circles.join(circle, MONA, mode="text")
    await circles.confirm(joined.session.id, BOB)
    text = (await host(haven, "roster", circle=str(circle.id))).text
    assert "2 of 2 seats taken, 1 waiting" in text
    assert "1. Bob \\*the\\* builder — sharing · ✓ I'll be there" in text
    assert "2. Carol — listening" in text
    assert "Waitlist, in order" in text and "1. Mona — taking part in text" in text


async def test_a_full_fifty_seat_roster_fits(haven: Haven) -> None:
    circles = haven.services.circles
    circle = await evening(haven, capacity=50)
    world = haven.fake.world
    people = [
        world.add_user(f"member{i}", f"~*_{i:02d}_*~ a rather long display name"[:32])
        for i in range(56)
    ]
    for user in people:
        await circles.join(circle, user, mode="text")
    ix = await haven.fake.slash("host", "roster", circle=str(circle.id))
    await ix.reply()
    await haven.settle()
    shown = "\n".join(m.text for m in ix.followup_messages)
    assert "50 of 50 seats taken, 6 waiting" in shown
    assert "50. " in shown and "6. " in shown.split("Waitlist, in order")[1]
    assert shown.count("a rather long") == 56

    haven.clock.set(utc(2026, 11, 30, 0, 45))  # under way: closing it asks who was here
    reply = await host(haven, "close", circle=str(circle.id))
    first, second = reply.selects
    assert len(first["options"]) == len(second["options"]) == 25
    chosen = [o["value"] for o in second["options"][:10]]
    noted = await (await haven.fake.click(reply, second["custom_id"], values=chosen)).reply()
    assert "Noted: 10 of 25 here" in noted.text
    rows = await haven.services.db.fetchall(
        "SELECT attended, count(*) AS n FROM circle_rsvps WHERE status = 'going' GROUP BY attended"
    )
    counts = {r["attended"]: r["n"] for r in rows}
    assert counts == {None: 25, 0: 15, 1: 10}


# --- opening and the talking piece -----------------------------------------------------------


async def opened(haven: Haven, circle: Circle) -> Message:
    haven.clock.set(SOON)
    reply = await host(haven, "open", circle=str(circle.id))
    assert f"is open in <#{CH_CIRCLES}>" in reply.text
    *_, piece = haven.fake.messages_in(CH_CIRCLES)
    return piece


async def test_open_posts_the_welcome_agreements_invitation_and_talking_piece(
    haven: Haven,
) -> None:
    circle = await evening(haven)
    early = await host(haven, "open", circle=str(circle.id))
    assert "from two hours before" in early.text
    assert haven.fake.messages_in(CH_CIRCLES) == []

    await opened(haven, circle)
    welcome, piece = haven.fake.messages_in(CH_CIRCLES)
    assert "Welcome to Evening circle" in welcome.text
    assert "Witness, don't fix" in welcome.text and "Hold the silence" in welcome.text
    assert "Our agreements" in welcome.text and "stays here" in welcome.text
    assert "This session's invitation" in welcome.text
    prompts = haven.services.texts.entries("circle_prompts.txt")
    assert len(prompts) >= 12 and any(p in welcome.text for p in prompts)
    assert [b["label"] for b in piece.buttons] == ["I'd like to share", "Pass", "Next"]
    assert "The piece is resting" in piece.text
    assert not piece.pinged_everyone and piece.pinged_user_ids == []
    assert (await state(haven, circle))[0] == "open"

    again = await host(haven, "open", circle=str(circle.id))
    assert "already open" in again.text and f"/{CH_CIRCLES}/{piece.id}" in again.text
    assert len(haven.fake.messages_in(CH_CIRCLES)) == 2


async def test_a_circle_without_a_channel_opens_where_the_host_asked(haven: Haven) -> None:
    circle = await evening(haven, channel_id=None)
    haven.clock.set(SOON)
    ix = await haven.fake.slash("host", "open", circle=str(circle.id), channel=CH_GENERAL)
    assert f"<#{CH_GENERAL}>" in (await ix.reply()).text
    assert len(haven.fake.messages_in(CH_GENERAL)) == 2


async def press(haven: Haven, piece: Message, label: str, user: int) -> str:
    reply = await (await haven.fake.click(piece, label, user=user)).reply()
    assert reply.ephemeral
    await haven.settle()
    return reply.text


async def test_share_pass_and_next_move_the_piece_and_the_message_follows(haven: Haven) -> None:
    circle = await evening(haven)
    piece = await opened(haven, circle)
    nick(haven, BOB, "Bob_the_builder")

    assert "The talking piece is yours" in await press(haven, piece, "I'd like to share", BOB)
    assert "**Holding the piece:** Bob\\_the\\_builder" in piece.text
    assert "number 1" in await press(haven, piece, "I'd like to share", CAROL)
    assert "number 2" in await press(haven, piece, "I'd like to share", MONA)
    assert "already in line — number 1" in await press(haven, piece, "I'd like to share", CAROL)
    assert "Waiting to share:**\n1. Carol\n2. Mona" in piece.text
    assert piece.content == "" and piece.pinged_user_ids == []

    assert "Thank you for sharing" in await press(haven, piece, "Pass", BOB)
    assert "**Holding the piece:** Carol" in piece.text and "1. Mona" in piece.text
    assert "stepped out of the line" in await press(haven, piece, "Pass", MONA)
    assert "Mona" not in piece.text
    assert "Passing is always welcome" in await press(haven, piece, "Pass", BOB)

    assert "number 1" in await press(haven, piece, "I'd like to share", BOB)  # again, later
    assert "with Bob\\_the\\_builder now" in await press(haven, piece, "Next", ALICE)
    assert "**Holding the piece:** Bob\\_the\\_builder" in piece.text
    assert "resting" in await press(haven, piece, "Next", ALICE)
    assert "The piece is resting" in piece.text


async def test_the_talking_piece_works_after_a_restart_and_next_is_for_hosts(
    haven: Haven,
) -> None:
    circle = await evening(haven)
    piece = await opened(haven, circle)
    await press(haven, piece, "I'd like to share", BOB)
    await haven.restart()
    assert "number 1" in await press(haven, piece, "I'd like to share", CAROL)
    assert "1. Carol" in piece.text

    refused = await press(haven, piece, "Next", CAROL)
    assert "Only the circle's host (or a co-host) moves the talking piece on" in refused
    assert "**Holding the piece:** Bob" in piece.text and "1. Carol" in piece.text
    assert "with Carol now" in await press(haven, piece, "Next", MONA)  # a moderator


async def test_a_forged_talking_piece_for_another_servers_session_is_refused(
    haven: Haven,
) -> None:
    circle = await evening(haven)
    await opened(haven, circle)
    session = await haven.services.circles.current_session(circle)
    assert session is not None
    forged = f"haven:host:share:{GUILD}:{session.id + 1000}"
    reply = await (await haven.fake.press(forged, user=BOB, guild=GUILD)).reply()
    assert "isn't there any more" in reply.text


# --- closing, attendance, aftercare ----------------------------------------------------------


def aftercare_to(haven: Haven, user: int) -> list[Message]:
    return [m for m in haven.fake.dms_to(user) if "After the circle" in m.text]


async def test_close_posts_a_reflection_records_attendance_and_sends_aftercare_later(
    haven: Haven,
) -> None:
    circles = haven.services.circles
    circle = await evening(haven)
    await circles.join(circle, BOB, aftercare=True)
    await circles.join(circle, CAROL, aftercare=True)
    await circles.join(circle, MONA, aftercare=False)
    piece = await opened(haven, circle)
    session = await circles.current_session(circle)
    assert session is not None
    await press(haven, piece, "I'd like to share", BOB)

    haven.clock.set(utc(2026, 11, 30, 1, 5))  # just after the end
    ix = await haven.fake.slash("host", "close", circle=str(circle.id))
    reply = await ix.reply()
    assert "is closed" in reply.text and f"<#{CH_CIRCLES}>" in reply.text
    *_, reflection = haven.fake.messages_in(CH_CIRCLES)
    closings = haven.services.texts.entries("circle_closings.txt")
    assert len(closings) >= 6 and any(c in reflection.text for c in closings)
    assert piece.buttons == [] and "has closed" in piece.text
    assert (await circles.session(session.id)).state == "closed"  # type: ignore[union-attr]
    [select] = reply.selects
    assert {o["value"] for o in select["options"]} == {str(BOB), str(CAROL), str(MONA)}
    assert select["min_values"] == 0

    noted = await (
        await haven.fake.click(reply, select["custom_id"], values=[str(BOB), str(MONA)])
    ).reply()
    assert "Noted: 2 of 3 here" in noted.text
    attended = {r.user_id: r.attended for r in await circles.rsvps(session.id)}
    assert attended == {BOB: True, CAROL: False, MONA: True}
    refused = await (
        await haven.fake.click(reply, select["custom_id"], values=[], user=CAROL)
    ).reply()
    assert "Only the host" in refused.text
    assert {r.user_id: r.attended for r in await circles.rsvps(session.id)} == attended

    again = await host(haven, "close", circle=str(circle.id))
    assert "already closed" in again.text and again.selects
    assert len(haven.fake.messages_in(CH_CIRCLES)) == 3  # no second reflection

    haven.clock.set(utc(2026, 11, 30, 3, 4))
    await haven.run_due()
    assert aftercare_to(haven, BOB) == []
    haven.clock.set(utc(2026, 11, 30, 3, 5, 30))
    await haven.run_due()
    [care] = aftercare_to(haven, BOB)
    assert "Evening circle" in care.text and "/support" in care.text
    assert "Stop aftercare messages" in [b["label"] for b in care.buttons]
    assert aftercare_to(haven, CAROL) == [] and aftercare_to(haven, MONA) == []
    assert [m for m in haven.fake.messages_in(CH_CIRCLES) if "After the circle" in m.text] == []


async def test_without_recorded_attendance_aftercare_goes_to_everyone_going_who_asked(
    haven: Haven,
) -> None:
    circles = haven.services.circles
    circle = await evening(haven)
    await circles.join(circle, BOB, aftercare=True)
    await circles.join(circle, CAROL, aftercare=False)
    haven.clock.set(utc(2026, 11, 30, 0, 30))  # under way, never opened
    reply = await host(haven, "close", circle=str(circle.id))
    assert "is closed" in reply.text
    jobs = await haven.services.scheduler.pending(guild_id=GUILD, kind=AFTERCARE)
    assert [j.due_at for j in jobs] == [utc(2026, 11, 30, 2, 30)]
    haven.clock.set(utc(2026, 11, 30, 2, 31))
    await haven.run_due()
    assert len(aftercare_to(haven, BOB)) == 1 and aftercare_to(haven, CAROL) == []


async def test_close_with_nothing_to_close_is_refused_kindly(haven: Haven) -> None:
    circle = await evening(haven)
    reply = await host(haven, "close", circle=str(circle.id))
    assert "no session of **Evening circle** to close just now" in reply.text
    assert await haven.services.scheduler.pending(guild_id=GUILD, kind=AFTERCARE) == []


# --- skipping a week -------------------------------------------------------------------------


async def test_skip_refuses_bad_dates_and_changes_nothing(haven: Haven) -> None:
    circle = await evening(haven)
    for date, words in (
        ("2026-11-22", "already passed"),
        ("2026-11-30", "doesn't meet on 2026-11-30"),
        ("next sunday", "couldn't read `next sunday` as a date"),
    ):
        reply = await host(haven, "skip", circle=str(circle.id), date=date)
        assert words in reply.text, date
    long = await host(haven, "skip", circle=str(circle.id), date=FIRST, reason="x" * 301)
    assert "up to 300 characters" in long.text
    assert await state(haven, circle) == ("planned", 0, None)


async def test_skip_tells_everyone_with_a_place_and_cancels_the_event(haven: Haven) -> None:
    circles = haven.services.circles
    circle = await evening(haven, capacity=2)
    for user in (BOB, CAROL, MONA):
        await circles.join(circle, user)
    session = await circles.session_on(circle, FIRST)
    event_id = await haven.services.db.fetchval(
        "SELECT channel_id FROM deliveries WHERE key = ?", (f"circle-event:{session.id}",)
    )
    events = haven.fake.world.guilds[GUILD].scheduled_events
    assert events[event_id]["status"] == 1

    reply = await host(haven, "skip", circle=str(circle.id), date=FIRST, reason="Host is *ill*")
    assert "I let 3 people" in reply.text
    for user in (BOB, CAROL, MONA):
        [told] = haven.fake.dms_to(user)
        assert "taking a rest" in told.text and "Host is \\*ill\\*" in told.text
    assert events[event_id]["status"] == 4
    skipped = await circles.session(session.id)
    assert skipped is not None and skipped.state == "skipped" and skipped.reason == "Host is *ill*"
    again = await host(haven, "skip", circle=str(circle.id), date=FIRST)
    assert "already skipped" in again.text


# --- a message to everyone coming ------------------------------------------------------------


async def test_a_hosts_message_reaches_everyone_with_a_seat_and_pings_no_one(
    haven: Haven,
) -> None:
    circles = haven.services.circles
    circle = await evening(haven, capacity=2)
    for user in (BOB, CAROL, MONA):  # Mona waits: a message is for those with a seat
        await circles.join(circle, user)
    nick(haven, ALICE, "Alice (host)")
    haven.fake.close_dms(CAROL)
    text = "@everyone please bring **tea** <@&123> \x07 and take care"
    reply = await host(haven, "message", circle=str(circle.id), text=text)
    assert "Sent to 2 of the 2 people" in reply.text

    [dm] = haven.fake.dms_to(BOB)
    assert "From **Alice \\(host\\)**" in dm.text
    assert "@everyone please bring \\*\\*tea\\*\\*" in dm.text and "\x07" not in dm.text
    assert not dm.pinged_everyone and dm.pinged_role_ids == [] and dm.pinged_user_ids == []
    assert dm.allowed_mentions is not None and "everyone" not in dm.allowed_mentions.get(
        "parse", []
    )
    [fallback] = haven.fake.messages_in(CH_CIRCLES)  # Carol's DMs are closed
    assert fallback.pinged_user_ids == [CAROL] and not fallback.pinged_everyone
    assert fallback.pinged_role_ids == []
    assert haven.fake.dms_to(MONA) == []

    too_long = await host(haven, "message", circle=str(circle.id), text="a" * 1501)
    assert "up to 1500 characters" in too_long.text
    assert len(haven.fake.dms_to(BOB)) == 1


# --- away, and co-hosts covering -------------------------------------------------------------


def cover_asks(haven: Haven, user: int) -> list[Message]:
    return [m for m in haven.fake.dms_to(user) if "Could you host" in m.text]


async def test_away_asks_co_hosts_and_the_first_to_say_yes_covers(haven: Haven) -> None:
    circles = haven.services.circles
    circle = await evening(haven)
    for cohost in (BOB, CAROL):
        await circles.set_cohost(GUILD, str(circle.id), cohost, remove=False)
    reply = await host(haven, "away", circle=str(circle.id), date=FIRST)
    assert "asked 2 co-hosts" in reply.text
    assert await state(haven, circle) == ("planned", 1, None)
    [ask_bob] = cover_asks(haven, BOB)
    [ask_carol] = cover_asks(haven, CAROL)
    assert "**Alice** can't host **Evening circle**" in ask_bob.text
    assert await haven.services.scheduler.pending(guild_id=GUILD, kind=COVER_DEADLINE)

    await haven.restart()  # the button outlives the process that sent it
    won = await (await haven.fake.click(ask_bob, "I'll host", user=BOB)).reply()
    assert "you're hosting **Evening circle**" in won.text
    await haven.settle()
    late = await (await haven.fake.click(ask_carol, "I'll host", user=CAROL)).reply()
    assert "**Bob** already said they'll host" in late.text
    assert await state(haven, circle) == ("planned", 1, BOB)
    [news] = [m for m in haven.fake.dms_to(ALICE) if "covered" in m.text]
    assert "**Bob** will host **Evening circle**" in news.text
    assert await haven.services.scheduler.pending(guild_id=GUILD, kind=COVER_DEADLINE) == []

    haven.clock.set(utc(2026, 11, 29, 22, 30))
    await haven.run_due()
    assert (await state(haven, circle))[0] == "planned"
    again = await host(haven, "away", circle=str(circle.id), date=FIRST)
    assert "already marked away" in again.text and f"<@{BOB}> is covering it" in again.text


async def test_away_refusals_change_nothing(haven: Haven) -> None:
    circles = haven.services.circles
    circle = await evening(haven)
    lonely = await host(haven, "away", circle=str(circle.id), date=FIRST)
    assert "no co-hosts to ask" in lonely.text and "/host skip" in lonely.text
    assert await state(haven, circle) == ("planned", 0, None)

    await circles.set_cohost(GUILD, str(circle.id), BOB, remove=False)
    for date, words in (
        ("2026-11-22", "already passed"),
        ("2026-12-01", "doesn't meet"),
        ("29/11/2026", "couldn't read"),
    ):
        assert words in (await host(haven, "away", circle=str(circle.id), date=date)).text
    await host(haven, "away", circle=str(circle.id), date=FIRST)
    twice = await host(haven, "away", circle=str(circle.id), date=FIRST)
    assert "already marked away" in twice.text
    assert len(cover_asks(haven, BOB)) == 1

    haven.clock.set(utc(2026, 12, 6, 23))  # an hour before the next session
    late = await host(haven, "away", circle=str(circle.id), date="2026-12-06")
    assert "too soon" in late.text


async def test_nobody_covering_cancels_kindly_two_hours_before(haven: Haven) -> None:
    circles = haven.services.circles
    circle = await evening(haven)
    await circles.set_cohost(GUILD, str(circle.id), BOB, remove=False)
    await circles.join(circle, CAROL)
    await circles.join(circle, MONA)
    session = await circles.session_on(circle, FIRST)
    await host(haven, "away", circle=str(circle.id), date=FIRST)
    [ask] = cover_asks(haven, BOB)

    haven.clock.set(utc(2026, 11, 29, 21, 59))
    await haven.run_due()
    assert (await state(haven, circle))[0] == "planned"
    haven.clock.set(utc(2026, 11, 29, 22, 0, 5))  # two hours before 19:00 in New York
    await haven.run_due()
    for user in (CAROL, MONA):
        [notice] = [m for m in haven.fake.dms_to(user) if "a change" in m.text]
        assert "won't take place this time" in notice.text and "nobody was free" in notice.text
    cancelled = await circles.session(session.id)
    assert cancelled is not None and cancelled.state == "cancelled"
    [news] = [m for m in haven.fake.dms_to(ALICE) if "Nobody was free" in m.text]
    assert "let 2 people know" in news.text

    late = await (await haven.fake.click(ask, "I'll host", user=BOB)).reply()
    assert "isn't waiting for a host any more" in late.text
    assert (await circles.session(session.id)).cover_id is None  # type: ignore[union-attr]
