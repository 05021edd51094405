"""The circles core (bot/circles/) on a real bot and database: planning sessions ahead across
DST, re-planning on edit, seats and the waitlist when members leave, retention, and parsing."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.circles import AHEAD, Circle, format_lead, parse_reminders
from bot.errors import BadInput
from tests.clock import utc
from tests.conftest import Haven
from tests.fakediscord import ALICE, BOB, CAROL, GUILD, MONA

NY = ZoneInfo("America/New_York")


async def evening(haven: Haven, **options: object) -> Circle:
    settings: dict[str, object] = {
        "name": "Evening circle",
        "weekday": "sunday",
        "at": "19:00",
        "timezone": "America/New_York",
        "host_id": MONA,
    }
    settings.update(options)
    return await haven.services.circles.create(GUILD, **settings)  # type: ignore[arg-type]


async def test_sessions_keep_local_time_across_the_spring_change(haven: Haven) -> None:
    haven.clock.set(utc(2027, 3, 1, 12))
    circle = await evening(haven)
    sessions = await haven.services.circles.sessions(circle.id)
    assert len(sessions) == AHEAD
    assert {s.starts_at.astimezone(NY).hour for s in sessions} == {19}
    before, after = sessions[0], sessions[1]  # 7 March (EST) and 14 March 2027 (EDT)
    assert (before.local_date.isoformat(), after.local_date.isoformat()) == (
        "2027-03-07",
        "2027-03-14",
    )
    assert after.starts_at - before.starts_at == timedelta(days=7) - timedelta(hours=1)


async def test_a_time_in_the_gap_moves_to_the_first_valid_minute(haven: Haven) -> None:
    haven.clock.set(utc(2027, 3, 1, 12))
    circle = await evening(haven, at="02:30")
    [_, gap_day] = (await haven.services.circles.sessions(circle.id))[:2]
    assert gap_day.starts_at.astimezone(NY).strftime("%Y-%m-%d %H:%M") == "2027-03-14 03:00"


async def test_an_edit_keeps_rsvps_where_the_date_still_has_a_session(haven: Haven) -> None:
    circles = haven.services.circles
    haven.clock.set(utc(2027, 3, 1, 12))
    circle = await evening(haven)
    joined = await circles.join(circle, ALICE)
    await circles.edit(GUILD, str(circle.id), at="18:30", duration=90)
    kept = await circles.session(joined.session.id)
    assert kept is not None
    assert kept.starts_at.astimezone(NY).strftime("%H:%M") == "18:30"
    assert kept.ends_at - kept.starts_at == timedelta(minutes=90)
    assert await circles.rsvp(kept.id, ALICE) is not None

    await circles.edit(GUILD, str(circle.id), weekday="monday")
    assert await circles.session(joined.session.id) is None
    [told] = haven.fake.dms_to(ALICE)
    assert "new rhythm" in told.text and "Mondays at 18:30" in told.text
    sessions = await circles.sessions(circle.id)
    assert len(sessions) == AHEAD and {s.local_date.weekday() for s in sessions} == {0}


async def test_capacity_below_the_seats_taken_is_refused_with_the_count(haven: Haven) -> None:
    circles = haven.services.circles
    circle = await evening(haven, capacity=4)
    for user in (ALICE, BOB, CAROL):
        await circles.join(circle, user)
    with pytest.raises(BadInput, match=r"\*\*3\*\*"):
        await circles.edit(GUILD, str(circle.id), capacity=2)
    assert (await circles.get(GUILD, str(circle.id))).capacity == 4


async def test_more_capacity_seats_the_waitlist_in_order(haven: Haven) -> None:
    circles = haven.services.circles
    haven.clock.set(utc(2027, 3, 1, 12))
    circle = await evening(haven, capacity=2)
    for user in (MONA, ALICE, BOB, CAROL):
        await circles.join(circle, user)
    session = await circles.next_session(circle)
    assert session is not None
    assert await circles.position(session.id, CAROL) == 2
    await circles.edit(GUILD, str(circle.id), capacity=3)
    statuses = {r.user_id: r.status for r in await circles.rsvps(session.id)}
    assert statuses == {MONA: "going", ALICE: "going", BOB: "going", CAROL: "waiting"}
    assert await circles.position(session.id, CAROL) == 1


async def test_a_member_who_leaves_the_server_frees_their_seats(haven: Haven) -> None:
    circles = haven.services.circles
    haven.clock.set(utc(2027, 3, 1, 12))
    circle = await evening(haven, capacity=2)
    await circles.join(circle, ALICE, every_week=True)
    await circles.join(circle, BOB)
    await circles.join(circle, CAROL)
    await circles.set_cohost(GUILD, str(circle.id), ALICE, remove=False)
    session = await circles.next_session(circle)
    assert session is not None

    await haven.services.members.left(GUILD, ALICE)

    assert await circles.rsvp(session.id, ALICE) is None
    assert (await circles.rsvp(session.id, CAROL)).status == "going"  # type: ignore[union-attr]
    assert not await circles.is_series_member(circle.id, ALICE)
    assert await circles.cohosts(circle.id) == []
    assert any("it's yours now" in m.text for m in haven.fake.dms_to(CAROL))


async def test_sessions_are_topped_up_as_time_passes_and_after_downtime(haven: Haven) -> None:
    circles = haven.services.circles
    haven.clock.set(utc(2027, 3, 1, 12))
    circle = await evening(haven)
    first = (await circles.sessions(circle.id))[0]
    haven.clock.set(first.starts_at + timedelta(minutes=1))
    await haven.run_due()
    ahead = [s for s in await circles.sessions(circle.id, limit=20) if s.starts_at > haven.clock()]
    assert len(ahead) == AHEAD

    await haven.stop()
    haven.clock.advance(days=40)  # down for weeks: start-up tops the circle up again
    await haven.start()
    await haven.run_due()
    circles = haven.services.circles  # the restarted bot's
    ahead = [s for s in await circles.sessions(circle.id, limit=20) if s.starts_at > haven.clock()]
    assert len(ahead) == AHEAD


async def test_past_sessions_go_after_the_servers_retention(haven: Haven) -> None:
    circles = haven.services.circles
    haven.clock.set(utc(2027, 3, 1, 12))
    circle = await evening(haven)
    joined = await circles.join(circle, ALICE)
    removed = await circles.purge_past(utc(2027, 3, 1, 12) + timedelta(days=89))
    assert removed == 0
    removed = await circles.purge_past(joined.session.ends_at + timedelta(days=91))
    assert removed >= 1 and await circles.session(joined.session.id) is None


@pytest.mark.parametrize(
    ("raw", "leads"),
    [
        ("24h,1h", (1440, 60)),
        ("24h, 1h, 15m", (1440, 60, 15)),
        ("1d,90m", (1440, 90)),
        ("1h30m", (90,)),
        ("7d", (10080,)),
        ("5m", (5,)),
        ("none", ()),
        ("1h,60m", (60,)),
    ],
)
def test_reminder_lead_times_are_read_forgivingly(raw: str, leads: tuple[int, ...]) -> None:
    assert parse_reminders(raw) == leads


@pytest.mark.parametrize("raw", ["25x", "2m", "8d", "24h;1h", "h", "1h,2m", "tomorrow"])
def test_reminder_lead_times_outside_5_minutes_to_7_days_are_refused(raw: str) -> None:
    with pytest.raises(BadInput):
        parse_reminders(raw)


def test_lead_times_are_shown_the_way_moderators_type_them() -> None:
    assert [format_lead(m) for m in (1440, 90, 60, 15)] == ["24h", "1h30m", "1h", "15m"]


async def test_a_member_who_asks_to_be_forgotten_hands_their_seat_on(haven: Haven) -> None:
    circles = haven.services.circles
    haven.clock.set(utc(2027, 3, 1, 12))
    circle = await evening(haven, capacity=2)
    for user in (ALICE, BOB, CAROL):
        await circles.join(circle, user)
    session = await circles.next_session(circle)
    assert session is not None

    await haven.services.privacy.forget(GUILD, ALICE)

    assert await circles.rsvp(session.id, ALICE) is None
    assert (await circles.rsvp(session.id, CAROL)).status == "going"  # type: ignore[union-attr]
