"""Circle reminders: at each lead time, a DM to everyone with a seat.

`bot/circles/` schedules one `circle-reminder:<session>:<lead minutes>` job per lead, with
the session's start as its deadline: a reminder whose moment passed while the bot was down is
sent late only while the session has not begun (after that the scheduler marks it missed).
This module handles them. Everyone whose RSVP is `going` gets a warm card — never the
waitlist, who have no seat to come to — by DM, or, when their DMs are closed, as a mention in
the circle's channel. A member who rests (pause, quiet hours) or stopped these gets nothing,
and is not pinged in the channel instead either.

Each person has their own ledger key per lead, so a retry or a restart sends nothing twice.
The card carries "I'll be there" and "Can't make it" (handled in `cogs/circle_reminders.py`),
signed for the member it was made for.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import timedelta

from bot.circles import MODE_WORDS, REMINDER, Circle, Circles, Rsvp, Session
from bot.dm_stops import DmKind, DmStops
from bot.features import Features
from bot.messages import Button, Card, Field, Outgoing, Palette
from bot.outgoing import Delivered, Dm, Post, Reached, Sender
from bot.routes import Route, Routes
from bot.scheduler import Job, Retry, Scheduler
from bot.texts import plain
from bot.timeutil import Clock, utcnow

log = logging.getLogger(__name__)

# The two answers on a reminder: signed, so only the member it was made for can press them
# (from a DM, or on the channel mention that stands in for one).
THERE = Route(
    "circle-reminder:there", fields=(("guild", "id"), ("session", "id")), who="member", signed=True
)
CANT = Route(
    "circle-reminder:cant", fields=(("guild", "id"), ("session", "id")), who="member", signed=True
)

# How many reminders of one job are on their way at once: a fan-out of hundreds is not
# serial, and the delivery layer paces every request under Discord's global limit.
FAN_OUT = 8
RETRY_AFTER = timedelta(minutes=5)
TOPIC_SHOWN = 200


class CircleReminders:
    def __init__(
        self,
        circles: Circles,
        scheduler: Scheduler,
        sender: Sender,
        routes: Routes,
        dm_stops: DmStops,
        *,
        clock: Clock = utcnow,
    ) -> None:
        self._circles = circles
        self._sender = sender
        self._routes = routes
        self._clock = clock
        routes.add(THERE, CANT)
        scheduler.register(REMINDER, self._due)
        dm_stops.declare(
            DmKind(
                REMINDER,
                stop_label="Stop circle reminders",
                stopped="Done — I won't send you reminders before this server's circle "
                "sessions. Your seats stay as they are, and `/circle info` there shows when "
                "each circle meets.",
            )
        )

    def contribute(self, features: Features) -> None:
        features.job(REMINDER, "Circle reminders")
        features.privacy(
            "choices",
            "Circle reminders come to everyone with a seat; the button on any one of them "
            "stops them.",
        )

    # --- the job ---------------------------------------------------------------------------

    async def _due(self, job: Job) -> str:
        session = await self._circles.session(int(job.payload["session"]))
        lead = int(job.payload["lead"])
        if session is None:
            return "skipped: session removed"
        if session.state not in ("planned", "open"):
            return f"skipped: session {session.state}"
        circle = await self._circles.by_id(session.circle_id)
        if circle is None or circle.archived:
            return "skipped: circle archived"
        if session.starts_at <= self._clock():
            return "skipped: session already started"
        nearer = [m for m in circle.reminders if m < lead]
        if any(session.starts_at - timedelta(minutes=m) <= self._clock() for m in nearer):
            # Late after downtime, with a nearer reminder due too: one card, not two at once.
            return "skipped: a nearer reminder is due"
        going = [r for r in await self._circles.rsvps(session.id) if r.status == "going"]
        if not going:
            return "skipped: nobody has a seat"
        channel = await self._circles.channel_for(circle)
        limit = asyncio.Semaphore(FAN_OUT)

        async def remind(rsvp: Rsvp) -> Reached:
            async with limit:
                return await self._remind(circle, session, lead, rsvp, channel)

        results = await asyncio.gather(*(remind(r) for r in going), return_exceptions=True)
        outcomes: Counter[str] = Counter()
        failed = 0
        for result in results:
            if isinstance(result, BaseException):
                if not isinstance(result, Exception):
                    raise result  # cancellation and the like are not ours to swallow
                log.error(
                    "circle reminder for session %s failed for one member",
                    session.id,
                    exc_info=(type(result), result, result.__traceback__),
                )
                failed += 1
                continue
            if result.outcome is Delivered.FAILED:
                failed += 1
            elif result.ok and isinstance(result.target, Post):
                outcomes["in the channel"] += 1
            elif result.ok:
                outcomes["by DM"] += 1
            else:
                outcomes[result.outcome.value] += 1
        if failed:
            # Those already reached are skipped on the retry: each has its own ledger key.
            raise Retry(RETRY_AFTER, f"{failed} of {len(going)} reminders did not go out")
        detail = ", ".join(f"{n} {what}" for what, n in sorted(outcomes.items()))
        return f"{len(going)} with a seat: {detail}"

    async def _remind(
        self, circle: Circle, session: Session, lead: int, rsvp: Rsvp, channel: int | None
    ) -> Reached:
        user_id = rsvp.user_id
        targets: list[Dm | Post] = [Dm(user_id, REMINDER)]
        if channel is not None:
            targets.append(Post(channel, ping=(user_id,)))
        return await self._sender.to_first(
            f"{REMINDER}:{session.id}:{lead}:{user_id}",
            targets,
            self.message(
                circle, session, rsvp, channel, await self._sender.server_name(circle.guild_id)
            ),
            guild_id=circle.guild_id,
            about_id=user_id,  # a channel mention names them: /my forget takes it down
        )

    def message(
        self, circle: Circle, session: Session, rsvp: Rsvp, channel: int | None, server: str
    ) -> Outgoing:
        """The reminder card for one member, with their own signed buttons."""
        fields = [Field("When", session.when)]
        if session.topic:
            fields.append(Field("Topic", plain(session.topic, TOPIC_SHOWN)))
        if session.content_note:
            fields.append(Field("Content note", plain(session.content_note, TOPIC_SHOWN)))
        joining = MODE_WORDS.get(rsvp.mode, rsvp.mode)
        fields.append(Field("How you're joining", joining[:1].upper() + joining[1:], inline=True))
        if channel is not None:
            fields.append(Field("Where", f"<#{channel}>", inline=True))
        card = Card(
            title="Your circle is coming up",
            description=(
                f"There's a seat for you at **{plain(circle.name)}**, {session.when}.\n\n"
                "If you'd like to come, \"I'll be there\" lets the host know. And if today "
                "isn't the day, that's completely fine — \"Can't make it\" passes your seat to "
                "someone who's waiting. No explanation needed."
            ),
            fields=tuple(fields),
            footer=f"From {server}. /my pause there rests every DM for a while.",
            colour=Palette.CALM,
        )
        ids = {"guild": circle.guild_id, "session": session.id}
        return Outgoing(
            cards=(card,),
            buttons=(
                Button(
                    self._routes.custom_id(THERE, rsvp.user_id, **ids),
                    "I'll be there",
                    style="success",
                ),
                Button(self._routes.custom_id(CANT, rsvp.user_id, **ids), "Can't make it"),
            ),
        )
