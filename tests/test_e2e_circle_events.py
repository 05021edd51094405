"""Circle sessions mirrored as Discord scheduled events, end to end: what Discord is given for
voice, stage and external circles, only a window of sessions at a time, edits that update
(never duplicate) an event, skips and archiving that cancel, the window sliding as sessions
start, and restarts that make nothing twice."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest

from bot.circles import EVENT_WINDOW, Circle
from tests.clock import FakeClock, utc
from tests.conftest import Haven
from tests.fakediscord import CH_CIRCLES, CH_STAGE, CH_VOICE, GUILD, MONA, Call

# Saturday 5 June 2027, 12:00 UTC (the fake refuses events that start in the real past, so
# the dates stay well ahead). The circle meets on Sundays at 19:00 in New York: 23:00 UTC.
NOW = utc(2027, 6, 5, 12)
FIRST = utc(2027, 6, 6, 23)
WEEK = timedelta(days=7)
EVENTS = rf"/guilds/{GUILD}/scheduled-events(/\d+)?"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


async def weekly(haven: Haven, **options: object) -> Circle:
    settings: dict[str, object] = {
        "name": "Evening circle",
        "weekday": "sunday",
        "at": "19:00",
        "timezone": "America/New_York",
        "host_id": MONA,
        "description": "A quiet hour together.",
    }
    settings.update(options)
    return await haven.services.circles.create(GUILD, **settings)  # type: ignore[arg-type]


def events(haven: Haven) -> list[dict[str, Any]]:
    found = list(haven.fake.world.guilds[GUILD].scheduled_events.values())
    return sorted(found, key=lambda e: str(e["scheduled_start_time"]))


def standing(haven: Haven) -> list[dict[str, Any]]:
    return [e for e in events(haven) if e["status"] == 1]


def calls(haven: Haven, method: str, since: int = 0) -> list[Call]:
    return [
        c
        for c in haven.fake.calls[since:]
        if c.method == method and re.fullmatch(EVENTS, c.path) and c.status < 300
    ]


def iso(instant: datetime) -> str:
    return instant.isoformat()


# --- what Discord is given -----------------------------------------------------------------------


async def test_a_voice_circle_is_a_voice_event(haven: Haven) -> None:
    await weekly(haven, channel_id=CH_VOICE)
    body = calls(haven, "POST")[0].json
    assert body["entity_type"] == 2
    assert int(body["channel_id"]) == CH_VOICE
    assert body["privacy_level"] == 2
    assert not (body.get("entity_metadata") or {}).get("location")
    assert body["name"] == "Evening circle"
    assert body["scheduled_start_time"] == iso(FIRST)
    assert body["scheduled_end_time"] == iso(FIRST + timedelta(minutes=60))
    assert "A quiet hour together." in body["description"]
    first = standing(haven)[0]
    assert (first["entity_type"], first["channel_id"]) == (2, str(CH_VOICE))
    assert first["entity_metadata"] is None


async def test_a_stage_circle_is_a_stage_event(haven: Haven) -> None:
    await weekly(haven, channel_id=CH_STAGE)
    body = calls(haven, "POST")[0].json
    assert (body["entity_type"], int(body["channel_id"]), body["privacy_level"]) == (
        1,
        CH_STAGE,
        2,
    )
    assert not (body.get("entity_metadata") or {}).get("location")


@pytest.mark.parametrize(
    ("channel", "location"),
    [(CH_CIRCLES, "#circles"), (None, "On Discord — /circle info")],
)
async def test_a_text_channel_or_none_makes_an_external_event(
    haven: Haven, channel: int | None, location: str
) -> None:
    await weekly(haven, channel_id=channel)
    body = calls(haven, "POST")[0].json
    assert body["entity_type"] == 3 and body["privacy_level"] == 2
    assert body.get("channel_id") is None
    assert body["entity_metadata"] == {"location": location}
    assert body["scheduled_end_time"] == iso(FIRST + timedelta(minutes=60))
    assert standing(haven)[0]["entity_metadata"] == {"location": location}


async def test_every_create_and_update_names_its_type_and_privacy(haven: Haven) -> None:
    circle = await weekly(haven, channel_id=CH_VOICE)
    await haven.services.circles.edit(GUILD, str(circle.id), at="20:00", channel_id=CH_CIRCLES)
    updates = [c.json for c in calls(haven, "PATCH") if "status" not in c.json]
    assert updates  # the move and the new place
    for body in [c.json for c in calls(haven, "POST")] + updates:
        assert "entity_type" in body and body["privacy_level"] == 2


# --- the window ----------------------------------------------------------------------------------


async def test_events_exist_only_for_the_window(haven: Haven) -> None:
    circle = await weekly(haven, channel_id=CH_VOICE)
    sessions = await haven.services.circles.sessions(circle.id)
    assert len(sessions) == 8  # planned ahead, but not all mirrored
    within = [s.starts_at for s in sessions if s.starts_at - NOW <= EVENT_WINDOW]
    assert within == [FIRST, FIRST + WEEK]
    assert [e["scheduled_start_time"] for e in standing(haven)] == [iso(t) for t in within]
    assert len(calls(haven, "POST")) == 2


async def test_a_circle_s_next_session_has_an_event_even_beyond_the_window(haven: Haven) -> None:
    await weekly(haven, channel_id=CH_VOICE, every_weeks=4)
    [event] = standing(haven)
    assert event["scheduled_start_time"] == iso(FIRST)
    haven.clock.set(FIRST + timedelta(seconds=5))  # it starts; the next is four weeks away
    await haven.run_due()
    assert [e["scheduled_start_time"] for e in standing(haven)] == [
        iso(FIRST),
        iso(FIRST + 4 * WEEK),
    ]


async def test_a_four_weekly_circle_first_meets_on_its_next_weekday(haven: Haven) -> None:
    await weekly(haven, channel_id=CH_VOICE, every_weeks=4, weekday="monday")
    [event] = standing(haven)
    assert event["scheduled_start_time"] == iso(utc(2027, 6, 7, 23))  # Monday, two days on


async def test_the_window_slides_when_a_session_starts(haven: Haven) -> None:
    await weekly(haven, channel_id=CH_VOICE)
    since = haven.fake.mark()
    haven.clock.set(FIRST + timedelta(seconds=5))
    await haven.run_due()
    [new] = calls(haven, "POST", since)
    assert new.json["scheduled_start_time"] == iso(FIRST + 2 * WEEK)
    upcoming = [e["scheduled_start_time"] for e in standing(haven)]
    assert upcoming == [iso(FIRST + n * WEEK) for n in range(3)]  # the first is under way


# --- edits, skips, archiving -------------------------------------------------------------------


async def test_a_new_time_updates_each_event_rather_than_making_another(haven: Haven) -> None:
    circle = await weekly(haven, channel_id=CH_VOICE)
    before = {e["id"] for e in events(haven)}
    since = haven.fake.mark()
    await haven.services.circles.edit(GUILD, str(circle.id), at="20:30")
    assert calls(haven, "POST", since) == []
    patched = calls(haven, "PATCH", since)
    assert {c.path.rsplit("/", 1)[1] for c in patched} == before
    later = FIRST + timedelta(minutes=90)
    assert [e["scheduled_start_time"] for e in standing(haven)] == [
        iso(later),
        iso(later + WEEK),
    ]
    assert {e["id"] for e in events(haven)} == before


async def test_a_skipped_session_cancels_its_event(haven: Haven) -> None:
    circles = haven.services.circles
    circle = await weekly(haven, channel_id=CH_VOICE)
    session = await circles.next_session(circle)
    assert session is not None
    await circles.cancel_session(
        circle, session, state="skipped", notice="We're resting this week.", reason="A holiday"
    )
    first, second = events(haven)
    assert first["scheduled_start_time"] == iso(FIRST) and first["status"] == 4
    assert second["status"] == 1
    # Skipping does not pull a session from beyond the window forward.
    assert len(events(haven)) == 2


async def test_the_window_slides_at_a_skipped_session_s_time_too(haven: Haven) -> None:
    circles = haven.services.circles
    circle = await weekly(haven, channel_id=CH_VOICE)
    session = await circles.next_session(circle)
    assert session is not None
    await circles.cancel_session(circle, session, state="skipped", notice="Resting this week.")
    haven.clock.set(FIRST + timedelta(seconds=5))
    await haven.run_due()
    # Within 15 days now: the sessions of 13 and 20 June.
    assert [e["scheduled_start_time"] for e in standing(haven)] == [
        iso(FIRST + WEEK),
        iso(FIRST + 2 * WEEK),
    ]


async def test_archiving_cancels_every_event(haven: Haven) -> None:
    circle = await weekly(haven, channel_id=CH_VOICE)
    since = haven.fake.mark()
    await haven.services.circles.archive(GUILD, str(circle.id))
    assert [e["status"] for e in events(haven)] == [4, 4]
    assert calls(haven, "POST", since) == []
    # Later sessions starting never bring them back.
    haven.clock.set(FIRST + WEEK + timedelta(seconds=5))
    await haven.run_due()
    assert standing(haven) == []


# --- restarts ------------------------------------------------------------------------------------


async def test_a_restart_makes_no_second_event(haven: Haven) -> None:
    circle = await weekly(haven, channel_id=CH_VOICE)
    since = haven.fake.mark()
    await haven.restart()
    await haven.run_due()
    await haven.services.circles.sync_events(circle)
    assert calls(haven, "POST", since) == [] and calls(haven, "PATCH", since) == []

    # The window slides across a restart too, once.
    haven.clock.set(FIRST + timedelta(seconds=5))
    await haven.run_due()
    await haven.restart()
    await haven.run_due()
    assert len(calls(haven, "POST", since)) == 1
    assert len(events(haven)) == 3


async def test_an_event_made_just_before_a_crash_is_found_again(haven: Haven) -> None:
    circle = await weekly(haven, channel_id=CH_VOICE)
    session = await haven.services.circles.next_session(circle)
    assert session is not None
    # Discord made the event, but Haven stopped before writing its id down.
    await haven.services.db.execute(
        "UPDATE deliveries SET state = 'sending', channel_id = NULL, error = NULL WHERE key = ?",
        (f"circle-event:{session.id}",),
    )
    since = haven.fake.mark()
    await haven.restart()
    await haven.services.circles.sync_events(circle)
    assert calls(haven, "POST", since) == []
    assert len(events(haven)) == 2
