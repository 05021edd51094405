"""Listening circles: the circles moderators set up, their sessions, and who has a seat.

The package: `values.py` (constants, circles, sessions, RSVPs, seat counts, and reading what
moderators type), `base.py` (shared state, reading, telling people, the waitlist rule),
`planning.py` (sessions planned ahead, their outbox work and scheduled events), `moderating.py`
(create, edit, archive, co-hosts) and `seats.py` (join, leave, the waitlist); `Circles` is all
of them.

Nothing here imports discord: messages go out through `Sender` (`bot/outgoing.py`).
"""

from __future__ import annotations

from bot.circles.moderating import Moderating
from bot.circles.planning import Planning
from bot.circles.seats import Seating
from bot.circles.values import (
    AHEAD,
    DEFAULT_REMINDERS,
    EVENT_WINDOW,
    MODE_WORDS,
    NEWS,
    REMINDER,
    START,
    TAKE_SEAT,
    Circle,
    Joined,
    Rsvp,
    Session,
    format_lead,
    parse_reminders,
)


class Circles(Moderating, Planning, Seating):
    """Listening circles, their sessions and seats (see the package docstring)."""


__all__ = [
    "AHEAD",
    "DEFAULT_REMINDERS",
    "EVENT_WINDOW",
    "MODE_WORDS",
    "NEWS",
    "REMINDER",
    "START",
    "TAKE_SEAT",
    "Circle",
    "Circles",
    "Joined",
    "Rsvp",
    "Session",
    "format_lead",
    "parse_reminders",
]
