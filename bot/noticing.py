"""Gentle noticing (opt-in): if a member who checks in regularly goes quiet, their buddy hears.

"Regularly" means at least 3 check-ins in the last 14 days; "quiet" means none in the member's
chosen number of days. Each check-in moves one outbox row to "that many days after it", so the
check costs nothing while they keep checking in. The buddy gets one soft nudge per quiet spell
(the ledger key names the last check-in), with no detail of any check-in. Never moderators,
never public, never while the member is paused. The nudge goes by DM, not the pair's thread,
where the quiet member would read it too.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.buddies import Buddies
from bot.checkins import Checkin
from bot.db import Database
from bot.dm_stops import DmKind, DmStops
from bot.errors import BadInput
from bot.features import Features
from bot.members import Members
from bot.messages import Card, Outgoing, Palette
from bot.outgoing import Sender
from bot.scheduler import Job, Scheduler
from bot.timeutil import Clock, from_db, to_db, utcnow

KIND = "noticing"
DAYS_MIN, DAYS_MAX, DAYS_DEFAULT = 2, 14, 4
REGULAR_WINDOW = timedelta(days=14)
REGULAR_COUNT = 3


class Noticing:
    def __init__(
        self,
        db: Database,
        members: Members,
        buddies: Buddies,
        scheduler: Scheduler,
        sender: Sender,
        dm_stops: DmStops,
        *,
        clock: Clock = utcnow,
    ) -> None:
        self._db = db
        self._members = members
        self._buddies = buddies
        self._scheduler = scheduler
        self._sender = sender
        self._clock = clock
        scheduler.register(KIND, self._run)
        members.on_left(self._left)
        dm_stops.declare(
            DmKind(
                KIND,
                stop_label="Stop these nudges",
                stopped="Done — I won't send you gentle-noticing nudges from this server. "
                "Nothing is said to your buddy about it, and you can start them again below.",
            )
        )

    def contribute(self, features: Features) -> None:
        features.job(KIND, None)
        features.data(
            "checkin_noticing", "Gentle noticing: how many quiet days before your buddy hears."
        )
        features.privacy(
            "keep", "• **Gentle noticing**, if you turned it on: how many quiet days you chose."
        )

    async def _left(self, guild_id: int, user_id: int) -> None:
        await self.set(guild_id, user_id, enabled=False, days=DAYS_DEFAULT)

    async def quiet_days(self, guild_id: int, user_id: int) -> int | None:
        """The member's setting, or None when noticing is off."""
        value = await self._db.fetchval(
            "SELECT quiet_days FROM checkin_noticing WHERE guild_id = ? AND user_id = ?",
            (guild_id, user_id),
        )
        return None if value is None else int(value)

    async def set(self, guild_id: int, user_id: int, enabled: bool, days: int) -> None:
        if not enabled:
            await self._db.execute(
                "DELETE FROM checkin_noticing WHERE guild_id = ? AND user_id = ?",
                (guild_id, user_id),
            )
            await self._scheduler.cancel(kind=KIND, guild_id=guild_id, user_id=user_id)
            return
        if not DAYS_MIN <= days <= DAYS_MAX:
            raise BadInput(
                f"Noticing works after {DAYS_MIN} to {DAYS_MAX} quiet days; not `{days}`."
            )
        await self._db.execute(
            "INSERT INTO checkin_noticing (guild_id, user_id, quiet_days, updated_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (guild_id, user_id) DO UPDATE SET"
            " quiet_days = excluded.quiet_days, updated_at = excluded.updated_at",
            (guild_id, user_id, days, to_db(self._clock())),
        )
        last = await self._db.fetchone(
            "SELECT id, created_at FROM checkins WHERE guild_id = ? AND user_id = ?"
            " ORDER BY created_at DESC, id DESC LIMIT 1",
            (guild_id, user_id),
        )
        await self._scheduler.cancel(kind=KIND, guild_id=guild_id, user_id=user_id)
        # Already quiet for longer than `days`? The clock starts at their next check-in.
        if last is not None and from_db(last["created_at"]) + timedelta(days=days) > self._clock():
            await self._watch(guild_id, user_id, last["id"], from_db(last["created_at"]), days)

    async def on_checkin(self, checkin: Checkin) -> None:
        days = await self.quiet_days(checkin.guild_id, checkin.user_id)
        if days is None:
            return
        await self._scheduler.cancel(kind=KIND, guild_id=checkin.guild_id, user_id=checkin.user_id)
        await self._watch(checkin.guild_id, checkin.user_id, checkin.id, checkin.created_at, days)

    async def _watch(
        self, guild_id: int, user_id: int, checkin_id: int, at: datetime, days: int
    ) -> None:
        due = at + timedelta(days=days)
        await self._scheduler.schedule(
            KIND,
            f"{KIND}:{guild_id}:{user_id}:{checkin_id}",
            due,
            deadline=due + timedelta(days=1),
            guild_id=guild_id,
            user_id=user_id,
            payload={"checkin_id": checkin_id},
        )

    async def _run(self, job: Job) -> str:
        assert job.guild_id is not None and job.user_id is not None
        guild_id, user_id = job.guild_id, job.user_id
        if await self.quiet_days(guild_id, user_id) is None:
            return "skipped: noticing is off"
        now = self._clock()
        if (await self._members.profile(guild_id, user_id)).paused_at(now):
            return "skipped: paused — resting is not going quiet"
        recent = await self._db.fetchall(
            "SELECT id FROM checkins WHERE guild_id = ? AND user_id = ? AND created_at >= ?"
            " ORDER BY created_at DESC, id DESC",
            (guild_id, user_id, to_db(now - REGULAR_WINDOW)),
        )
        if recent and recent[0]["id"] != job.payload["checkin_id"]:
            return "skipped: they checked in since"
        if len(recent) < REGULAR_COUNT:
            return "skipped: not a regular rhythm yet"
        buddies = await self._buddies.current(guild_id, user_id)
        if not buddies:
            return "skipped: no buddy"
        # A mention renders as their name for the buddy; inside an embed it pings nobody.
        name = f"<@{user_id}>"
        reached = 0
        for buddy in buddies:
            message = Outgoing(
                cards=(
                    Card(
                        title="A soft nudge",
                        description=(
                            f"{name} asked me to let you know if they went quiet for a few "
                            "days — and they have. I don't know anything more, and there's "
                            "nothing you need to fix. If you'd like, a simple *“thinking of "
                            "you”* can mean a lot."
                        ),
                        footer="You're a buddy, not a crisis line: /support has resources.",
                        colour=Palette.NUDGE,
                    ),
                ),
            )
            key = f"noticing-nudge:{guild_id}:{user_id}:{job.payload['checkin_id']}:{buddy.user_id}"
            result = await self._sender.to_member(
                key, buddy.user_id, message, guild_id=guild_id, kind=KIND, about_id=user_id
            )
            reached += result.ok
        return f"nudged {reached} buddy(ies)"
