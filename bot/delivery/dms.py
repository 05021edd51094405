"""DMs through the one gate, fallback chains (DM, then a channel mention) and edits."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace

import aiohttp
import discord

from bot.delivery.ledger import Ledger, _edit
from bot.dm_stops import STOP
from bot.messages import Button, Outgoing
from bot.outgoing import Delivered, Dm, Reached, Target

log = logging.getLogger(__name__)


class Dms(Ledger):
    async def to_member(
        self,
        key: str,
        user_id: int,
        message: Outgoing,
        *,
        guild_id: int,
        kind: str,
        about_id: int | None = None,
    ) -> Delivered:
        """DM `message` to a member on a server's behalf, once per `key`, through the gate.

        `kind` names the kind of DM (declared in `bot/dm_stops.py`); its stop button is added.
        """
        try:
            if await self.guild(guild_id) is None:
                return Delivered.NO_ACCESS  # Haven is not (or not yet) in that server
        except (TimeoutError, discord.HTTPException, aiohttp.ClientError) as exc:
            return await self._failed(key, guild_id, user_id, about_id, exc)
        if await self.dm_closed(user_id):
            await self._record(key, guild_id, user_id, about_id, "dm_closed")
            return Delivered.DM_CLOSED
        if await self._dm_stops.stopped(guild_id, user_id, kind):
            return Delivered.STOPPED
        if (await self._members.profile(guild_id, user_id)).resting_at(self._clock()):
            return Delivered.RESTING
        try:
            if await self.member(guild_id, user_id) is None:
                return Delivered.LEFT
            channel = await self._dm_channel(user_id)
        except discord.HTTPException as exc:
            return await self._failed(key, guild_id, user_id, about_id, exc)
        message = self._with_stop(message, guild_id, user_id, kind)
        return await self._deliver(key, guild_id, user_id, about_id, channel, message)

    async def to_first(
        self,
        key: str,
        targets: Sequence[Target],
        message: Outgoing,
        *,
        guild_id: int,
        about_id: int | None = None,
    ) -> Reached:
        """Reach someone the first way that works, once per `key` (a DM, else a mention in the
        circle's channel).

        Each way has its own ledger key (`Reached.key`), so a retry or a restart resumes where
        it stopped and, once any way succeeded, sends nothing more. Only a way that could not
        reach them (`Delivered.unreachable`) passes to the next, and not before the member
        is asked about afresh, so one who rests, stopped this kind or left is never pinged in
        a channel instead. A `Post` pings whom it names.
        """
        if not targets:
            return Reached(Delivered.NO_ACCESS)
        try:
            if await self.guild(guild_id) is None:
                return Reached(Delivered.NO_ACCESS)
        except (TimeoutError, discord.HTTPException, aiohttp.ClientError) as exc:
            log.warning("could not look up server %s for %s: %r", guild_id, key, exc)
            return Reached(Delivered.FAILED)  # Discord could not say: retry, never fall back
        keys = [_attempt_key(key, target) for target in targets]
        marks = ",".join("?" * len(keys))
        done = await self._db.fetchall(
            f"SELECT key FROM deliveries WHERE state = 'sent' AND key IN ({marks})", keys
        )
        sent = {row["key"] for row in done}
        for target, attempt in zip(targets, keys, strict=True):
            if attempt in sent:
                return Reached(Delivered.ALREADY_SENT, target, attempt)
        reached = Reached(Delivered.NO_ACCESS)
        for i, (target, attempt) in enumerate(zip(targets, keys, strict=True)):
            if isinstance(target, Dm):
                outcome = await self.to_member(
                    attempt,
                    target.user_id,
                    message,
                    guild_id=guild_id,
                    kind=target.kind,
                    about_id=about_id,
                )
                if outcome.unreachable and i + 1 < len(targets):
                    outcome = await self._unwilling(guild_id, target) or outcome
            else:
                outcome = await self.to_channel(
                    attempt,
                    target.channel_id,
                    _pinging(message, target.ping),
                    guild_id=guild_id,
                    about_id=about_id,
                )
            reached = Reached(outcome, target, attempt)
            if not outcome.unreachable:
                break
        return reached

    async def edit(self, key: str, message: Outgoing, *, kind: str | None = None) -> Delivered:
        """Replace the message sent under `key` (a talking-piece queue, a roster) in place.

        Fitted, with mentions limited to its `ping_users`, like a send. A DM keeps its stop
        button: pass the `kind` it was sent with. NO_ACCESS when nothing was sent under `key`
        or the message or its channel is gone (an edit does not notify, so rest and stops
        do not hold it back).
        """
        row = await self._db.fetchone(
            "SELECT guild_id, user_id, channel_id, message_id FROM deliveries"
            " WHERE key = ? AND state = 'sent' AND message_id IS NOT NULL",
            (key,),
        )
        if row is None:
            return Delivered.NO_ACCESS
        if row["user_id"] is not None:  # only DMs record a recipient
            if kind is None:
                raise ValueError(f"{key!r} is a DM: pass its kind, so it keeps its stop button")
            message = self._with_stop(message, row["guild_id"], row["user_id"], kind)
        # Cached only on the shard's own process; elsewhere Discord answers instead.
        channel = self._client.get_channel(row["channel_id"])
        if (
            isinstance(channel, discord.abc.GuildChannel | discord.Thread)
            and not channel.permissions_for(channel.guild.me).view_channel
        ):
            return Delivered.NO_ACCESS  # asking would earn a 403 toward the ban
        target = self._client.get_partial_messageable(row["channel_id"])
        try:
            await _edit(target.get_partial_message(row["message_id"]), message)
        except (discord.Forbidden, discord.NotFound):
            return Delivered.NO_ACCESS
        except (TimeoutError, discord.HTTPException, aiohttp.ClientError) as exc:
            log.warning("edit of %s failed: %r", key, exc)
            return Delivered.FAILED
        return Delivered.SENT

    def _with_stop(self, message: Outgoing, guild_id: int, user_id: int, kind: str) -> Outgoing:
        """`message` with the button that stops this kind of DM (every DM carries one)."""
        stop = Button(
            self._routes.custom_id(STOP, user_id, guild=guild_id, kind=kind),
            self._dm_stops.kind(kind).stop_label,
        )
        return replace(message, buttons=(*message.buttons, stop))

    async def _unwilling(self, guild_id: int, target: Dm) -> Delivered | None:
        """Why the member must not be reached any way now (stopped, resting, left), or None.

        Asked before a fallback: `to_member` reports closed DMs before these, and believes a
        membership for ten minutes, either of which would let the next way ping them.
        """
        if await self._dm_stops.stopped(guild_id, target.user_id, target.kind):
            return Delivered.STOPPED
        if (await self._members.profile(guild_id, target.user_id)).resting_at(self._clock()):
            return Delivered.RESTING
        try:
            if await self.member(guild_id, target.user_id, fresh=True) is None:
                return Delivered.LEFT
        except discord.HTTPException:
            return None  # Discord could not say: the fallback is still kinder than silence
        return None


def _attempt_key(key: str, target: Target) -> str:
    """The ledger key of one way in a `to_first` chain: by what it reaches, not its place, so
    a chain reordered between a failure and its retry still sends nothing twice."""
    if isinstance(target, Dm):
        return f"{key}:dm:{target.user_id}"
    return f"{key}:in:{target.channel_id}"


def _pinging(message: Outgoing, users: Sequence[int]) -> Outgoing:
    """`message` with mentions of `users` in front, pinging exactly them (fitting cuts the
    end of a long text, never the mentions)."""
    mentions = " ".join(f"<@{user}>" for user in users)
    content = " ".join(part for part in (mentions, message.content) if part) or None
    return replace(message, content=content, ping_users=tuple(users))
