"""Places Haven makes: private threads and scheduled events, each once per ledger key.

For a server on another process's shard (`Ledger.guild`) the channel is asked of Discord and
Haven's permissions are not pre-checked: Discord's refusal is the answer, recorded as any.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from datetime import UTC, timedelta
from typing import Any, Final

import aiohttp
import discord

from bot.db import Row
from bot.delivery.ledger import Ledger, missing_permissions
from bot.messages import shorten
from bot.outgoing import Delivered, EventSpec
from bot.timeutil import to_db

log = logging.getLogger(__name__)

UNKNOWN_MEMBER_CODE = 10007

# Discord's limits outside messages (bot/messages.py holds the message ones).
THREAD_NAME_LIMIT = 100
EVENT_NAME_LIMIT = 100
EVENT_DESCRIPTION_LIMIT = 1000
EVENT_LOCATION_LIMIT = 100
# A week of quiet before Discord hides a thread from the channel list (the longest it allows).
THREAD_ARCHIVE_MINUTES: Final = 10080
# Scheduled events: the only privacy level Discord accepts, its entity types, and the status
# that cancels one (allowed only while it is still scheduled, not once it started).
EVENT_GUILD_ONLY = 2
EVENT_STAGE, EVENT_VOICE, EVENT_EXTERNAL = 1, 2, 3
EVENT_CANCELED = 4
EVENT_CANCELLED_MARK = "cancelled"


class Places(Ledger):
    async def open_thread(
        self,
        key: str,
        channel_id: int,
        name: str,
        *,
        invite: Sequence[int],
        guild_id: int,
        about_id: int | None = None,
    ) -> int | None:
        """A private thread in a text channel with `invite` added, made once per `key`: its id.

        The id is kept in the ledger row's `channel_id` (`message_id` stays empty, so `posted`
        and take-downs never take it for a message). A repeat returns it without asking
        Discord; one interrupted while inviting invites the rest. Threads have no nonce, so a
        creation interrupted before it was written down is found again among the channel's
        threads. None when Haven may not make private threads there (not asked: a 403 counts
        toward Discord's ban) or Discord refused. A member who left is not invited. Delivery
        records last 30 days: keep the id for the thread's life (e.g. with the buddy pair).
        """
        if not name.strip():
            raise ValueError("a thread needs a name")
        async with self._lock(key):
            row = await self._db.fetchone(
                "SELECT state, channel_id FROM deliveries WHERE key = ?", (key,)
            )
            thread_id: int | None = row["channel_id"] if row else None
            if row is not None and row["state"] == "sent" and thread_id is not None:
                return thread_id
            try:
                guild = await self.guild(guild_id)
                channel = await self.channel(guild_id, channel_id) if guild else None
            except (TimeoutError, discord.HTTPException, aiohttp.ClientError) as exc:
                await self._failed(key, guild_id, None, about_id, exc)
                return None
            # Haven's permissions are known only in a server on this process's shards;
            # elsewhere Discord's answer stands in for the pre-check.
            cached = guild is not None and self.knows_permissions(guild)
            # Private threads exist only in text channels.
            if not isinstance(channel, discord.TextChannel) or (
                cached and missing_permissions(channel, embeds=False, threads=True)
            ):
                await self._record(key, guild_id, None, about_id, "failed", error="no access")
                return None
            name = shorten(name.strip(), THREAD_NAME_LIMIT)
            try:
                if thread_id is None and row is not None:
                    thread_id = (
                        _made_thread(channel, name)
                        if cached
                        else await self._made_thread_elsewhere(guild_id, channel_id, name)
                    )
                if thread_id is None:
                    await self._record(key, guild_id, None, about_id, "sending")
                    thread = await channel.create_thread(
                        name=name,
                        type=discord.ChannelType.private_thread,
                        auto_archive_duration=THREAD_ARCHIVE_MINUTES,
                    )
                    thread_id = thread.id
                    await self._note_object(key, thread_id)
                for user_id in invite:
                    await self._invite(guild_id, thread_id, user_id)
            except (TimeoutError, discord.HTTPException, aiohttp.ClientError) as exc:
                await self._failed(key, guild_id, None, about_id, exc)
                return None
            await self._record(key, guild_id, None, about_id, "sent", channel_id=thread_id)
            return thread_id

    async def sync_event(self, key: str, guild_id: int, spec: EventSpec | None) -> Delivered:
        """Make the server's scheduled event for `key` match `spec`: created the first time,
        updated when the spec changed, cancelled when `spec` is None.

        The ledger row keeps the standing event's id in `channel_id` (`message_id` stays
        empty) and, in `error`, a fingerprint of what Discord was last given (`spec:<hash>`,
        or `cancelled`), so a repeat asks Discord nothing; a failure writes its error there
        instead, which matches no spec, so the next call tries again. Events have no nonce,
        so a creation interrupted before it was written down is looked for among the
        server's events rather than made twice. An event deleted by hand is made again when
        the spec next changes. Needs Manage Events: without it, NO_ACCESS without asking.
        Delivery records last 30 days: sync again within that time (or plan events nearer).
        """
        async with self._lock(key):
            try:
                guild = await self.guild(guild_id)
            except (TimeoutError, discord.HTTPException, aiohttp.ClientError) as exc:
                return await self._failed(key, guild_id, None, None, exc)
            if guild is None:
                return Delivered.NO_ACCESS
            row = await self._db.fetchone(
                "SELECT state, channel_id, error FROM deliveries WHERE key = ?", (key,)
            )
            if spec is None:
                return await self._cancel_event(key, guild, row)
            event_id: int | None = row["channel_id"] if row else None
            try:
                channel = await self.channel(guild_id, spec.channel_id) if spec.channel_id else None
            except (TimeoutError, discord.HTTPException, aiohttp.ClientError) as exc:
                return await self._failed(key, guild_id, None, None, exc)
            payload = _event_payload(spec, channel)
            if payload is None or (
                self.knows_permissions(guild) and not _may_manage_events(guild, channel)
            ):
                await self._record(key, guild_id, None, None, "failed", error="no access")
                return Delivered.NO_ACCESS
            mark = (
                "spec:"
                + hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]
            )
            if row is not None and row["state"] == "sent" and row["error"] == mark:
                return Delivered.ALREADY_SENT
            try:
                if event_id is None and row is not None and row["state"] != "sent":
                    event_id = await self._made_event(guild, spec)
                if event_id is not None:
                    try:
                        await self._client.http.edit_scheduled_event(
                            guild_id, event_id, **self._changeable(payload, spec)
                        )
                    except discord.NotFound:
                        event_id = None  # deleted by hand; the session still stands
                if event_id is None:
                    await self._record(key, guild_id, None, None, "sending")
                    # The HTTP client directly: one payload for create and update, and no
                    # fetch to rebuild an event object Haven only knows the id of.
                    created = await self._client.http.create_guild_scheduled_event(
                        guild_id, **payload
                    )
                    event_id = int(created["id"])
            except (TimeoutError, discord.HTTPException, aiohttp.ClientError) as exc:
                return await self._failed(key, guild_id, None, None, exc)
            await self._record(key, guild_id, None, None, "sent", channel_id=event_id, error=mark)
            return Delivered.SENT

    async def _invite(self, guild_id: int, thread_id: int, user_id: int) -> None:
        """Add a current member to a thread; one who left is skipped (and features told)."""
        if await self.member(guild_id, user_id) is None:
            return
        # By id through the HTTP client: after a restart the thread may not be cached.
        try:
            await self._client.http.add_user_to_thread(thread_id, user_id)
        except discord.NotFound as exc:
            if exc.code != UNKNOWN_MEMBER_CODE:
                raise  # the thread itself is gone; they left just now otherwise

    async def _made_thread_elsewhere(self, guild_id: int, channel_id: int, name: str) -> int | None:
        """`_made_thread` for a server on another process's shard, whose threads this process
        never saw: the server's active threads, asked of Discord (one request, only after an
        interrupted creation)."""
        me = self._client.user
        listing = await self._client.http.get_active_threads(guild_id)
        for thread in listing.get("threads", []):
            if (
                me is not None
                and str(thread.get("parent_id")) == str(channel_id)
                and str(thread.get("owner_id")) == str(me.id)
                and thread.get("name") == name
                and thread.get("type") == discord.ChannelType.private_thread.value
            ):
                return int(thread["id"])
        return None

    async def _made_event(self, guild: discord.Guild, spec: EventSpec) -> int | None:
        """The still-scheduled event Haven made for `spec`, if an interrupted call made it."""
        me = self._client.user
        for event in await guild.fetch_scheduled_events(with_counts=False):
            if (
                me is not None
                and event.creator_id == me.id
                and event.status is discord.EventStatus.scheduled
                and event.name == shorten(spec.name.strip(), EVENT_NAME_LIMIT)
                and abs(event.start_time - spec.start) < timedelta(seconds=1)
            ):
                return event.id
        return None

    def _changeable(self, payload: dict[str, Any], spec: EventSpec) -> dict[str, Any]:
        """The update for an existing event: Discord refuses a start time in the past, which
        is what an unchanged start becomes once the session is under way."""
        if spec.start > self._clock():
            return payload
        return {k: v for k, v in payload.items() if k != "scheduled_start_time"}

    async def _cancel_event(self, key: str, guild: discord.Guild, row: Row | None) -> Delivered:
        """Cancel the event standing for `key`; nothing standing is ALREADY_SENT."""
        event_id: int | None = row["channel_id"] if row else None
        if event_id is None:
            return Delivered.ALREADY_SENT
        if self.knows_permissions(guild) and not _may_manage_events(guild, None):
            await self._record(key, guild.id, None, None, "failed", error="no access")
            return Delivered.NO_ACCESS
        try:
            await self._client.http.edit_scheduled_event(guild.id, event_id, status=EVENT_CANCELED)
        except discord.NotFound:
            pass  # deleted by hand: as cancelled as it gets
        except (TimeoutError, discord.HTTPException, aiohttp.ClientError) as exc:
            return await self._failed(key, guild.id, None, None, exc)
        # Nothing stands any more: the id goes, and a later spec makes a new event (a
        # cancelled one cannot be scheduled again).
        await self._db.execute(
            "UPDATE deliveries SET state = 'sent', channel_id = NULL, error = ?, updated_at = ?"
            " WHERE key = ?",
            (EVENT_CANCELLED_MARK, to_db(self._clock()), key),
        )
        return Delivered.SENT


def _made_thread(channel: discord.TextChannel, name: str) -> int | None:
    """A private thread Haven made in `channel` by that name (an interrupted `open_thread`)."""
    me = channel.guild.me
    for thread in channel.threads:
        if (
            thread.name == name
            and thread.owner_id == me.id
            and thread.type is discord.ChannelType.private_thread
        ):
            return thread.id
    return None


def _event_payload(
    spec: EventSpec, channel: discord.abc.GuildChannel | None
) -> dict[str, Any] | None:
    """What Discord is given for `spec`, create and update alike; None when its channel is
    gone and there is no location to show instead."""
    payload: dict[str, Any] = {
        "name": shorten(spec.name.strip(), EVENT_NAME_LIMIT),
        "description": shorten(spec.description.strip(), EVENT_DESCRIPTION_LIMIT) or None,
        "privacy_level": EVENT_GUILD_ONLY,
        "scheduled_start_time": spec.start.astimezone(UTC).isoformat(),
        "scheduled_end_time": spec.end.astimezone(UTC).isoformat(),
    }
    if isinstance(channel, discord.StageChannel | discord.VoiceChannel):
        kind = EVENT_STAGE if isinstance(channel, discord.StageChannel) else EVENT_VOICE
        payload.update(entity_type=kind, channel_id=channel.id, entity_metadata=None)
        return payload
    if spec.location and spec.location.strip():
        location = spec.location.strip()
    elif channel is not None:
        location = f"#{channel.name}"
    else:
        return None
    payload.update(
        entity_type=EVENT_EXTERNAL,
        channel_id=None,
        entity_metadata={"location": shorten(location, EVENT_LOCATION_LIMIT)},
    )
    return payload


def _may_manage_events(guild: discord.Guild, channel: discord.abc.GuildChannel | None) -> bool:
    """Whether Haven may manage events there (a voice or stage channel's own overwrites count)."""
    me = guild.me
    perms = (
        channel.permissions_for(me)
        if isinstance(channel, discord.StageChannel | discord.VoiceChannel)
        else me.guild_permissions
    )
    return perms.view_channel and perms.manage_events
