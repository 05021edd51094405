"""The only Discord I/O for messages Haven sends on its own: idempotent, paced and DM-aware.

- **At most once.** Every send has a ledger key (`deliveries`). A key already `sent` is never
  sent again, and the Discord nonce is derived from the key with `enforce_nonce`, so even a crash
  between "Discord accepted it" and "we wrote it down" cannot double-send: Discord drops the
  repeat and hands back the original message.
- **One gate for every DM.** A DM on a server's behalf goes only to a current member of that
  server (asked of Discord, remembered for ten minutes; one who left is reported to
  `Members.left`, which ends what features send them), never while they rest (pause, quiet
  hours) and never of a kind they stopped; and it always carries a button to stop that kind
  (`bot/dm_stops.py`), which works from outside the server too.
- **Paced.** Every REST request is spaced under Discord's global limit (`bot/pacing.py`).
- **Closed DMs are remembered.** A 403/50007 also counts toward that ban, so the member is noted
  in `closed_dms` and not knocked on again for a week (or until they opt in anew); the caller
  learns `Delivered.DM_CLOSED` and can fall back.
- **Mentions are off.** Nothing Haven sends pings anyone except users a message names in
  `ping_users`.
- **More than sends, same ledger.** Fallback chains (`to_first`), edits, private threads and
  scheduled events are keyed like sends, so a retry or a restart never makes a second one.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import aiohttp
import discord

from bot.db import Database, Row
from bot.dm_stops import STOP, DmStops
from bot.features import Features
from bot.members import Members
from bot.messages import Button, Card, Outgoing, card_payload, fit, fit_card, shorten
from bot.outgoing import Delivered, Dm, EventSpec, Reached, Target
from bot.retention import CLOSED_DM_DAYS, DELIVERY_RECORD_DAYS
from bot.routes import Routes
from bot.timeutil import Clock, from_db, to_db, utcnow

log = logging.getLogger(__name__)

CLOSED_DM_MEMORY = timedelta(days=CLOSED_DM_DAYS)
DM_CLOSED_CODE = 50007
UNKNOWN_MEMBER_CODE = 10007
MEMBER_MEMORY_SECONDS = 600  # how long "yes, they are a member" is believed without asking again
MEMBER_MEMORY_SIZE = 20_000

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

_STYLES = {
    "primary": discord.ButtonStyle.primary,
    "secondary": discord.ButtonStyle.secondary,
    "success": discord.ButtonStyle.success,
    "danger": discord.ButtonStyle.danger,
}


def nonce_for(key: str) -> str:
    """A stable Discord nonce (≤ 25 characters) for a ledger key."""
    return str(int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big"))


def missing_permissions(
    channel: discord.abc.GuildChannel | discord.Thread,
    *,
    embeds: bool = True,
    threads: bool = False,
) -> list[str]:
    """Human names of the permissions Haven lacks to post in `channel` (empty when it can)."""
    me = channel.guild.me
    perms = channel.permissions_for(me)
    needed = {"View Channel": perms.view_channel}
    if isinstance(channel, discord.Thread):
        needed["Send Messages in Threads"] = perms.send_messages_in_threads
    else:
        needed["Send Messages"] = perms.send_messages
    if embeds:
        needed["Embed Links"] = perms.embed_links
    if threads:
        needed["Create Private Threads"] = perms.create_private_threads
        needed["Send Messages in Threads"] = perms.send_messages_in_threads
    return [name for name, granted in needed.items() if not granted]


class Delivery:
    def __init__(
        self,
        client: discord.Client,
        db: Database,
        members: Members,
        dm_stops: DmStops,
        routes: Routes,
        *,
        clock: Clock = utcnow,
    ) -> None:
        self._client = client
        self._db = db
        self._members = members
        self._dm_stops = dm_stops
        self._routes = routes
        self._clock = clock
        self._dm_channels: dict[int, int] = {}
        self._known_members: OrderedDict[tuple[int, int], tuple[float, discord.Member]] = (
            OrderedDict()
        )
        # One lock per key for threads and events, which have no nonce: two calls at once
        # must not both create.
        self._key_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    def contribute(self, features: Features) -> None:
        features.data(
            "deliveries",
            "Records that Haven sent you (or posted about you) a message, and whether it "
            "arrived. They never hold the message text.",
            where="guild_id = :guild AND (user_id = :user OR about_id = :user)",
        )
        features.data(
            "closed_dms",
            "Whether your DMs refused Haven recently (shared by every server, so it is "
            "removed too).",
            where="user_id = :user",
        )
        features.purge("delivery records", self._purge_records)
        features.purge("closed-DM notes", self._purge_closed_dms)
        features.privacy(
            "keep",
            "• **Delivery records**: that I sent you (or posted about you) a message, when, and "
            f"whether it arrived — never its text. Kept {DELIVERY_RECORD_DAYS} days (records of "
            "where a check-in was shared last as long as the check-in).",
        )
        features.privacy(
            "keep",
            f"• **Whether your DMs are closed to me**, so I don't keep knocking. Kept "
            f"{CLOSED_DM_DAYS} days, or until you turn on something that DMs you.",
        )

    async def _purge_records(self, now: datetime) -> int:
        # Records about a member (where their check-in was shared) follow the server's
        # check-in retention instead, in the check-ins' own purge step.
        cutoff = to_db(now - timedelta(days=DELIVERY_RECORD_DAYS))
        return await self._db.execute(
            "DELETE FROM deliveries WHERE updated_at < ? AND about_id IS NULL", (cutoff,)
        )

    async def _purge_closed_dms(self, now: datetime) -> int:
        cutoff = to_db(now - timedelta(days=CLOSED_DM_DAYS))
        return await self._db.execute("DELETE FROM closed_dms WHERE closed_at < ?", (cutoff,))

    # --- public API ------------------------------------------------------------------------

    async def to_channel(
        self,
        key: str,
        channel_id: int,
        message: Outgoing,
        *,
        guild_id: int | None,
        about_id: int | None = None,
    ) -> Delivered:
        """Post `message` in a server channel or thread, once per `key`.

        `about_id` names the member the post is about, so their data requests find it.
        """
        channel = self._client.get_channel(channel_id)
        if isinstance(channel, discord.abc.GuildChannel | discord.Thread) and missing_permissions(
            channel, embeds=bool(message.cards)
        ):
            # Asking anyway would earn a 403, which counts toward Discord's invalid-request ban.
            await self._record(key, guild_id, None, about_id, "failed", error="missing permissions")
            return Delivered.NO_ACCESS
        target = self._client.get_partial_messageable(channel_id, guild_id=guild_id)
        return await self._deliver(key, guild_id, None, about_id, target, message)

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
        if self._client.get_guild(guild_id) is None:
            return Delivered.NO_ACCESS  # Haven is not (or not yet) in that server
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
        if not targets or self._client.get_guild(guild_id) is None:
            return Reached(Delivered.NO_ACCESS)
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
            guild = self._client.get_guild(guild_id)
            channel = guild.get_channel(channel_id) if guild else None
            # Private threads exist only in text channels.
            if not isinstance(channel, discord.TextChannel) or missing_permissions(
                channel, embeds=False, threads=True
            ):
                await self._record(key, guild_id, None, about_id, "failed", error="no access")
                return None
            name = shorten(name.strip(), THREAD_NAME_LIMIT)
            if thread_id is None and row is not None:
                thread_id = _made_thread(channel, name)
            try:
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
            guild = self._client.get_guild(guild_id)
            if guild is None:
                return Delivered.NO_ACCESS
            row = await self._db.fetchone(
                "SELECT state, channel_id, error FROM deliveries WHERE key = ?", (key,)
            )
            if spec is None:
                return await self._cancel_event(key, guild, row)
            event_id: int | None = row["channel_id"] if row else None
            channel = guild.get_channel(spec.channel_id) if spec.channel_id else None
            payload = _event_payload(spec, channel)
            if payload is None or not _may_manage_events(guild, channel):
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

    async def member(
        self, guild_id: int, user_id: int, *, fresh: bool = False
    ) -> discord.Member | None:
        """The member as Discord knows them now, or None when they are not in the server.

        With the members intent (MEMBERS_INTENT) the server's member list is kept current by
        Discord's events, so the cache is the answer. Without it Haven asks (one REST call,
        remembered briefly for DMs; `fresh` for a press, which must know *now*). Learning that
        someone left tells `Members.left`, so features stop what they send them.
        """
        guild = self._client.get_guild(guild_id)
        if guild is None:
            return None
        if self._client.intents.members and guild.chunked:
            cached = guild.get_member(user_id)
            if cached is None:
                await self._members.left(guild_id, user_id)
            return cached
        key = (guild_id, user_id)
        known = self._known_members.get(key)
        if known is not None and known[0] > time.monotonic() and not fresh:
            return known[1]
        try:
            member = await guild.fetch_member(user_id)
        except discord.NotFound:
            self._known_members.pop(key, None)
            await self._members.left(guild_id, user_id)
            return None
        self._known_members[key] = (time.monotonic() + MEMBER_MEMORY_SECONDS, member)
        self._known_members.move_to_end(key)
        while len(self._known_members) > MEMBER_MEMORY_SIZE:
            self._known_members.popitem(last=False)
        return member

    def forget_member(self, guild_id: int, user_id: int) -> None:
        self._known_members.pop((guild_id, user_id), None)

    async def take_down(self, channel_id: int, message_id: int) -> bool:
        """Delete one of Haven's own posts; True when it is gone (or was already)."""
        target = self._client.get_partial_messageable(channel_id)
        try:
            await target.get_partial_message(message_id).delete()
        except discord.NotFound:
            return True
        except discord.HTTPException as exc:
            log.warning("could not take down message %s: %r", message_id, exc)
            return False
        return True

    async def posted(self, key: str) -> tuple[int, int] | None:
        """Where the delivery `key` landed: (channel id, message id), if it was sent."""
        row = await self._db.fetchone(
            "SELECT channel_id, message_id FROM deliveries WHERE key = ? AND state = 'sent'",
            (key,),
        )
        return (row["channel_id"], row["message_id"]) if row and row["message_id"] else None

    async def dm_closed(self, user_id: int) -> bool:
        closed_at = await self._db.fetchval(
            "SELECT closed_at FROM closed_dms WHERE user_id = ?", (user_id,)
        )
        return closed_at is not None and from_db(closed_at) > self._clock() - CLOSED_DM_MEMORY

    async def reopen_dm(self, user_id: int) -> None:
        """Forget that a member's DMs were closed (they just opted in to DMs again)."""
        await self._db.execute("DELETE FROM closed_dms WHERE user_id = ?", (user_id,))

    def guild_name(self, guild_id: int) -> str:
        """The server's name as Discord shows it (for DMs, which have no server context)."""
        guild = self._client.get_guild(guild_id)
        return guild.name if guild else "your server"

    # --- helpers of the public API ---------------------------------------------------------

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

    def _lock(self, key: str) -> asyncio.Lock:
        lock = self._key_locks.get(key)
        if lock is None:
            lock = self._key_locks[key] = asyncio.Lock()
        return lock

    async def _note_object(self, key: str, object_id: int) -> None:
        """Write down a thread's id the moment Discord made it, before anything else can fail."""
        await self._db.execute(
            "UPDATE deliveries SET channel_id = ?, updated_at = ? WHERE key = ?",
            (object_id, to_db(self._clock()), key),
        )

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
        if not _may_manage_events(guild, None):
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

    # --- the ledger ------------------------------------------------------------------------

    async def _deliver(
        self,
        key: str,
        guild_id: int | None,
        user_id: int | None,
        about_id: int | None,
        target: discord.abc.Messageable,
        message: Outgoing,
    ) -> Delivered:
        state = await self._db.fetchval("SELECT state FROM deliveries WHERE key = ?", (key,))
        if state == "sent":
            return Delivered.ALREADY_SENT
        if state == "dm_closed":
            return Delivered.DM_CLOSED
        await self._record(key, guild_id, user_id, about_id, "sending")
        try:
            sent = await _send(target, message, nonce_for(key))
        except discord.Forbidden as exc:
            if exc.code == DM_CLOSED_CODE:
                await self._note_dm_closed(user_id)
                await self._record(key, guild_id, user_id, about_id, "dm_closed")
                return Delivered.DM_CLOSED
            return await self._failed(key, guild_id, user_id, about_id, exc)
        except (TimeoutError, discord.HTTPException, aiohttp.ClientError) as exc:
            return await self._failed(key, guild_id, user_id, about_id, exc)
        await self._record(
            key,
            guild_id,
            user_id,
            about_id,
            "sent",
            channel_id=sent.channel.id,
            message_id=sent.id,
        )
        return Delivered.SENT

    async def _failed(
        self,
        key: str,
        guild_id: int | None,
        user_id: int | None,
        about_id: int | None,
        exc: Exception,
    ) -> Delivered:
        gone = isinstance(exc, discord.Forbidden | discord.NotFound)
        if not gone:
            log.warning("delivery %s failed: %r", key, exc)
        await self._record(key, guild_id, user_id, about_id, "failed", error=str(exc)[:300])
        return Delivered.NO_ACCESS if gone else Delivered.FAILED

    async def _record(
        self,
        key: str,
        guild_id: int | None,
        user_id: int | None,
        about_id: int | None,
        state: str,
        *,
        channel_id: int | None = None,
        message_id: int | None = None,
        error: str | None = None,
    ) -> None:
        attempt = 1 if state == "sending" else 0
        await self._db.execute(
            "INSERT INTO deliveries (key, guild_id, user_id, about_id, state, attempts,"
            " channel_id, message_id, error, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (key) DO UPDATE SET state = excluded.state,"
            " attempts = deliveries.attempts + excluded.attempts,"
            " channel_id = coalesce(excluded.channel_id, deliveries.channel_id),"
            " message_id = coalesce(excluded.message_id, deliveries.message_id),"
            " error = excluded.error, updated_at = excluded.updated_at",
            (
                key,
                guild_id,
                user_id,
                about_id,
                state,
                attempt,
                channel_id,
                message_id,
                error,
                to_db(self._clock()),
            ),
        )

    async def _note_dm_closed(self, user_id: int | None) -> None:
        if user_id is None:
            return
        self._dm_channels.pop(user_id, None)
        await self._db.execute(
            "INSERT INTO closed_dms (user_id, closed_at) VALUES (?, ?)"
            " ON CONFLICT (user_id) DO UPDATE SET closed_at = excluded.closed_at",
            (user_id, to_db(self._clock())),
        )

    async def _dm_channel(self, user_id: int) -> discord.abc.Messageable:
        channel_id = self._dm_channels.get(user_id)
        if channel_id is None:
            dm = await self._client.create_dm(discord.Object(user_id))
            channel_id = self._dm_channels[user_id] = dm.id
        return self._client.get_partial_messageable(channel_id, type=discord.ChannelType.private)


async def _send(target: discord.abc.Messageable, message: Outgoing, nonce: str) -> discord.Message:
    """Send an `Outgoing`, fitted to Discord's limits, with mentions limited to its `ping_users`."""
    message = fit(message)
    missing = discord.utils.MISSING
    return await target.send(
        message.content,
        embeds=[render_card(card) for card in message.cards] or missing,
        view=render_buttons(message) if message.buttons else missing,
        nonce=nonce,
        allowed_mentions=_mentions(message),
    )


async def _edit(target: discord.PartialMessage, message: Outgoing) -> None:
    """Replace a message with an `Outgoing`: parts it lacks are cleared, not kept."""
    message = fit(message)
    await target.edit(
        content=message.content,
        embeds=[render_card(card) for card in message.cards],
        view=render_buttons(message) if message.buttons else None,
        allowed_mentions=_mentions(message),
    )


def _mentions(message: Outgoing) -> discord.AllowedMentions:
    return discord.AllowedMentions(
        everyone=False,
        roles=False,
        replied_user=False,
        users=[discord.Object(u) for u in message.ping_users],
    )


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


def render_card(card: Card) -> discord.Embed:
    """The embed for a card, fitted to Discord's limits (`bot/messages.py` is the one place)."""
    return discord.Embed.from_dict(card_payload(fit_card(card)))


def render_buttons(message: Outgoing) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for button in message.buttons:
        view.add_item(
            discord.ui.Button(
                custom_id=button.custom_id,
                label=button.label,
                style=_STYLES[button.style],
                emoji=button.emoji,
            )
        )
    # A stopped view is sent but not stored: presses reach the one dispatcher
    # (cogs/_components.py) by custom_id, which keeps working after a restart.
    view.stop()
    return view
