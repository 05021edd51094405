"""Channels that stop working: deleted, or no longer letting Haven post.

Moderators choose channels (`/haven setup`, a prompt's channel, a circle's channel) and then
rarely look again. When Discord says one was deleted (the gateway's channel-delete event, or an
Unknown Channel answer), every setting that names it is cleared — a feature without its channel
falls back or says so, rather than knocking on a door that is gone — and the moderators are told
in their channel, once. When Haven may no longer post there (Missing Permissions or Missing
Access), the setting stays (a moderator can give the permission back) and the moderators are
told once a day at most; `/haven status` shows the missing permission meanwhile.

Features declare the tables that hold configured channel ids (`Features.channel`); the server's
own settings are cleared through `Guilds`, which keeps them cached.
"""

from __future__ import annotations

import logging

from bot.db import Database
from bot.features import Features
from bot.guilds import Guilds
from bot.messages import Card, Outgoing, Palette
from bot.outgoing import Sender
from bot.timeutil import Clock, to_db, utcnow

log = logging.getLogger(__name__)

SETTINGS = (
    ("checkin_channel_id", "the check-in channel"),
    ("circle_channel_id", "the circles channel"),
    ("buddy_channel_id", "the buddy channel"),
    ("mod_channel_id", "the moderators' channel"),
)


class ChannelCare:
    def __init__(
        self,
        db: Database,
        guilds: Guilds,
        sender: Sender,
        features: Features,
        *,
        clock: Clock = utcnow,
    ) -> None:
        self._db = db
        self._guilds = guilds
        self._sender = sender
        self._features = features
        self._clock = clock

    async def trouble(self, guild_id: int, channel_id: int, problem: str) -> list[str]:
        """A channel was deleted ("gone") or refuses Haven ("forbidden"): clear what names it
        (when gone) and tell the moderators. Returns what named it, in words."""
        config = await self._guilds.get(guild_id)
        settings = [attr for attr, _ in SETTINGS if getattr(config, attr) == channel_id]
        places = [label for attr, label in SETTINGS if attr in settings]
        places += [label for _, label in await self.configured(guild_id, channel_id)]
        if not places:
            return []  # not a channel anyone configured (a reply's own channel, say)
        if problem == "gone":
            if settings:
                await self._guilds.update(guild_id, **dict.fromkeys(settings))
            for ref in self._features.channels:
                await self._db.execute(
                    f"UPDATE {ref.table} SET {ref.column} = NULL"
                    f" WHERE guild_id = ? AND {ref.column} = ?",
                    (guild_id, channel_id),
                )
            log.info(
                "channel %s in server %s is gone; cleared it from %d setting(s)",
                channel_id,
                guild_id,
                len(places),
            )
        await self._tell(guild_id, channel_id, problem, places)
        return places

    async def configured(
        self, guild_id: int, channel_id: int | None = None, *, live_only: bool = False
    ) -> list[tuple[int, str]]:
        """The channels features were set up with in a server (beyond the server's own
        settings), as (channel id, what uses it in words); only `channel_id`'s if given."""
        found: list[tuple[int, str]] = []
        for ref in self._features.channels:
            where = f"guild_id = ? AND {ref.column} IS NOT NULL"
            params: tuple[int, ...] = (guild_id,)
            if channel_id is not None:
                where += f" AND {ref.column} = ?"
                params += (channel_id,)
            if live_only:
                where += f" AND {ref.live}"
            rows = await self._db.fetchall(
                f"SELECT {ref.column} AS channel_id, {ref.label} AS label FROM {ref.table}"
                f" WHERE {where}",
                params,
            )
            found += [(int(row["channel_id"]), str(row["label"])) for row in rows]
        return found

    async def _tell(self, guild_id: int, channel_id: int, problem: str, places: list[str]) -> None:
        mods = (await self._guilds.get(guild_id)).mod_channel_id
        if mods is None or mods == channel_id:
            return  # nowhere to say it: /haven status shows it
        named = ", ".join(places)
        if problem == "gone":
            key = f"channel-gone:{channel_id}"
            text = (
                f"A channel I used was deleted, so I've cleared it from {named}. "
                "`/haven setup` (or `/haven circle-edit`, `/haven prompt`) chooses another "
                "whenever you're ready; until then those features fall back or wait."
            )
        else:
            key = f"channel-forbidden:{channel_id}:{to_db(self._clock())[:10]}"
            text = (
                f"I can't post in <#{channel_id}> any more ({named}): I'm missing a "
                "permission there. `/haven status` shows which one. I'll keep trying, and "
                "I'll mention it here at most once a day."
            )
        await self._sender.to_channel(
            key,
            mods,
            Outgoing(cards=(Card(text, title="A channel needs attention", colour=Palette.STEADY),)),
            guild_id=guild_id,
        )
