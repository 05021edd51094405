"""The ledger every delivery goes through: one row per key, nonces from keys, the send itself.

Also who is still a member (asked of Discord, or the member list with MEMBERS_INTENT), because
DMs, threads and presses all need to know; and the DM channel Discord gave us for each member
(`dm_channels`), so a DM, even the first after a restart, costs Discord one request, not two.

**Servers on other processes' shards.** With SHARD_COUNT a process's cache holds only the
servers of its own shards, yet it runs any due job (and every DM press arrives on shard 0), so
"not in the cache" does not mean "Haven was removed". `guild` is the one lookup: the cached
server; None when this process holds the server's shard (its gateway keeps the cache true, so
the server is gone); else Discord is asked once (GET /guilds/{id}), the answer — "not in it"
included — remembered for `GUILD_MEMORY_SECONDS` in a bounded memory, so a fan-out costs one
request per server, not one per DM. Such a server has no member list or channels here:
members are asked of Discord (`member`), channels looked up the same way (`channel`), and
permission pre-checks are skipped (`knows_permissions`), Discord's own answer (403/50013,
handled like any refusal) standing in for them. Unsharded, every server is held: nothing
here asks Discord anything it did not ask before.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from datetime import datetime, timedelta
from typing import Generic, TypeVar

import aiohttp
import discord

from bot.db import Database
from bot.dm_stops import DmStops
from bot.features import Features
from bot.members import Members
from bot.messages import Card, Outgoing, card_payload, fit, fit_card
from bot.outgoing import Delivered
from bot.retention import CLOSED_DM_DAYS, DELIVERY_RECORD_DAYS, DM_CHANNEL_DAYS
from bot.routes import Routes
from bot.timeutil import Clock, from_db, to_db, utcnow

log = logging.getLogger(__name__)

CLOSED_DM_MEMORY = timedelta(days=CLOSED_DM_DAYS)
DM_CLOSED_CODE = 50007
UNKNOWN_CHANNEL_CODE = 10003
UNKNOWN_GUILD_CODE = 10004
MISSING_ACCESS_CODE = 50001
MISSING_PERMISSIONS_CODE = 50013

ChannelTrouble = Callable[[int, int, str], Awaitable[object]]
"""Told (guild_id, channel_id, "gone" | "forbidden") when a server channel can't be used."""
DM_CHANNEL_MEMORY_SIZE = 20_000  # DM channel ids kept in memory (the rest are one read away)
MEMBER_MEMORY_SECONDS = 600  # how long "yes, they are a member" is believed without asking again
MEMBER_MEMORY_SIZE = 20_000
# Servers (and their channels) on other processes' shards, as Discord last described them.
GUILD_MEMORY_SECONDS = 300
GUILD_MEMORY_SIZE = 1_000

_STYLES = {
    "primary": discord.ButtonStyle.primary,
    "secondary": discord.ButtonStyle.secondary,
    "success": discord.ButtonStyle.success,
    "danger": discord.ButtonStyle.danger,
}


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Remembered(Generic[K, V]):
    """Discord's answers by key, each believed for `seconds` and asked once at a time (a
    fan-out's concurrent jobs wait for the one request instead of each making it); at most
    `size` kept, the least recently used forgotten first. None is an answer too ("not there").
    """

    def __init__(self, seconds: float, size: int) -> None:
        self._seconds = seconds
        self._size = size
        self._answers: OrderedDict[K, tuple[float, V | None]] = OrderedDict()
        self._asking: weakref.WeakValueDictionary[K, asyncio.Lock] = weakref.WeakValueDictionary()

    def known(self, key: K) -> tuple[bool, V | None]:
        """(True, the answer) while one is believed, else (False, None); never asks."""
        entry = self._answers.get(key)
        if entry is None or entry[0] <= time.monotonic():
            return False, None
        self._answers.move_to_end(key)
        return True, entry[1]

    def forget(self, key: K) -> None:
        self._answers.pop(key, None)

    async def get(self, key: K, ask: Callable[[], Awaitable[V | None]]) -> V | None:
        """The believed answer, else `ask()`'s (remembered; an exception is not)."""
        found, answer = self.known(key)
        if found:
            return answer
        lock = self._asking.get(key)
        if lock is None:
            lock = self._asking[key] = asyncio.Lock()
        async with lock:
            found, answer = self.known(key)
            if found:
                return answer
            answer = await ask()
            self._answers[key] = (time.monotonic() + self._seconds, answer)
            self._answers.move_to_end(key)
            while len(self._answers) > self._size:
                self._answers.popitem(last=False)
            return answer


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


class Ledger:
    """Shared state and the ledger; `Delivery` adds DMs (`dms.py`) and places (`places.py`)."""

    def __init__(
        self,
        client: discord.Client,
        db: Database,
        members: Members,
        dm_stops: DmStops,
        routes: Routes,
        *,
        clock: Clock = utcnow,
        holds: Callable[[int], bool] = lambda guild_id: True,
    ) -> None:
        """`holds(guild_id)`: whether this process holds the server's shard (`Settings.holds`;
        always, unsharded)."""
        self._client = client
        self._holds = holds
        self._guilds: Remembered[int, discord.Guild] = Remembered(
            GUILD_MEMORY_SECONDS, GUILD_MEMORY_SIZE
        )
        self._channels: Remembered[tuple[int, int], discord.abc.GuildChannel] = Remembered(
            GUILD_MEMORY_SECONDS, GUILD_MEMORY_SIZE
        )
        self._db = db
        self._members = members
        self._dm_stops = dm_stops
        self._routes = routes
        self._clock = clock
        self._channel_trouble: list[ChannelTrouble] = []
        self._dm_channels: OrderedDict[int, int] = OrderedDict()  # user id -> DM channel id
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
        features.data(
            "dm_channels",
            "The id of our DM conversation with you (never what was said in it), so a message "
            "to you costs Discord one request instead of two. Shared by every server, so it is "
            "removed too.",
            where="user_id = :user",
        )
        features.purge("delivery records", self._purge_records)
        features.purge("closed-DM notes", self._purge_closed_dms)
        features.purge("remembered DM channels", self._purge_dm_channels)
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
        features.privacy(
            "keep",
            "• **Where our DMs are**: just the id of our conversation, never what was said, so "
            f"each message I send you costs Discord one request, not two. Kept {DM_CHANNEL_DAYS} "
            "days, then I simply ask Discord again.",
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

    async def _purge_dm_channels(self, now: datetime) -> int:
        cutoff = to_db(now - timedelta(days=DM_CHANNEL_DAYS))
        return await self._db.execute("DELETE FROM dm_channels WHERE opened_at < ?", (cutoff,))

    def on_channel_trouble(self, listener: ChannelTrouble) -> None:
        """Hear when a channel Haven posts in was deleted ("gone") or refuses it ("forbidden")."""
        self._channel_trouble.append(listener)

    async def _trouble(self, guild_id: int | None, channel_id: int, problem: str) -> None:
        if guild_id is not None:
            for listener in self._channel_trouble:
                await listener(guild_id, channel_id, problem)

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
        if guild_id is not None:
            try:
                if await self.guild(guild_id) is None:
                    return Delivered.NO_ACCESS  # Haven was removed from that server: never knock
            except (TimeoutError, discord.HTTPException, aiohttp.ClientError) as exc:
                return await self._failed(key, guild_id, None, about_id, exc)
        # Cached only for a server on this process's shards: elsewhere Discord answers instead.
        channel = self._client.get_channel(channel_id)
        if isinstance(channel, discord.abc.GuildChannel | discord.Thread) and missing_permissions(
            channel, embeds=bool(message.cards)
        ):
            # Asking anyway would earn a 403, which counts toward Discord's invalid-request ban.
            await self._record(key, guild_id, None, about_id, "failed", error="missing permissions")
            await self._trouble(guild_id, channel_id, "forbidden")
            return Delivered.NO_ACCESS
        target = self._client.get_partial_messageable(channel_id, guild_id=guild_id)
        outcome = await self._deliver(key, guild_id, None, about_id, target, message)
        if outcome is Delivered.NO_ACCESS:
            error = await self._db.fetchval("SELECT error FROM deliveries WHERE key = ?", (key,))
            problem = _problem(str(error or ""))
            if problem is not None:
                await self._trouble(guild_id, channel_id, problem)
        return outcome

    async def guild(self, guild_id: int) -> discord.Guild | None:
        """The server, or None when Haven is not in it (see the module docstring).

        Cached for a server on this process's shards, where the cache is the truth; for one on
        another process's shard asked of Discord, remembered for `GUILD_MEMORY_SECONDS`
        (404/403 mean Haven is not in it). Raises (HTTPException, a timeout) when Discord
        could not say: not knowing is not "removed".
        """
        cached = self._client.get_guild(guild_id)
        if cached is not None or self._holds(guild_id):
            return cached
        return await self._guilds.get(guild_id, lambda: self._fetch_guild(guild_id))

    async def _fetch_guild(self, guild_id: int) -> discord.Guild | None:
        try:
            return await self._client.fetch_guild(guild_id, with_counts=False)
        except (discord.NotFound, discord.Forbidden):
            return None

    def knows_permissions(self, guild: discord.Guild) -> bool:
        """Whether Haven's permissions in `guild` can be read here: only for a server in this
        process's cache (its gateway keeps roles, overwrites and Haven's own member current).
        One asked of Discord has no member list: skip the pre-check and let Discord answer."""
        return self._client.get_guild(guild.id) is guild

    async def channel(self, guild_id: int, channel_id: int) -> discord.abc.GuildChannel | None:
        """One of the server's channels (not a thread), or None when it is gone, belongs to
        another server or is hidden from Haven. From the cache like `Guild.get_channel` for a
        server on this process's shards; else asked of Discord (GET /channels/{id}) and
        remembered like servers. Raises when Discord could not say."""
        guild = self._client.get_guild(guild_id)
        if guild is not None or self._holds(guild_id):
            return guild.get_channel(channel_id) if guild else None
        return await self._channels.get(
            (guild_id, channel_id), lambda: self._fetch_channel(guild_id, channel_id)
        )

    async def _fetch_channel(
        self, guild_id: int, channel_id: int
    ) -> discord.abc.GuildChannel | None:
        try:
            channel = await self._client.fetch_channel(channel_id)
        except (discord.NotFound, discord.Forbidden, discord.InvalidData):
            return None
        if isinstance(channel, discord.abc.GuildChannel) and channel.guild.id == guild_id:
            return channel
        return None

    async def member(
        self, guild_id: int, user_id: int, *, fresh: bool = False
    ) -> discord.Member | None:
        """The member as Discord knows them now, or None when they are not in the server.

        With the members intent (MEMBERS_INTENT) the member list of a server on this process's
        shards is kept current by Discord's events, so the cache is the answer. Otherwise
        (without it, or a server on another process's shard) Haven asks (one REST call,
        remembered briefly for DMs; `fresh` for a press, which must know *now*). Learning that
        someone left tells `Members.left`, so features stop what they send them. Raises when
        Discord could not say.
        """
        guild = await self.guild(guild_id)
        if guild is None:
            return None
        if self._client.intents.members and guild.chunked and self._holds(guild_id):
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
        except (discord.NotFound, discord.Forbidden) as exc:
            if not self._holds(guild_id) and exc.code in (UNKNOWN_GUILD_CODE, MISSING_ACCESS_CODE):
                # Haven was removed since Discord last described the server: ask afresh next
                # time. Not "they left": raised, like any answer that is not about them.
                self._guilds.forget(guild_id)
                raise
            if isinstance(exc, discord.Forbidden):
                raise
            self._known_members.pop(key, None)
            await self._members.left(guild_id, user_id)
            return None
        self._known_members[key] = (time.monotonic() + MEMBER_MEMORY_SECONDS, member)
        self._known_members.move_to_end(key)
        while len(self._known_members) > MEMBER_MEMORY_SIZE:
            self._known_members.popitem(last=False)
        return member

    async def still_member(self, guild_id: int, user_id: int) -> bool:
        """Whether they are in the server (the same memory as DMs; False if Discord can't say
        now, so nobody is paired with someone who may be gone)."""
        try:
            return await self.member(guild_id, user_id) is not None
        except discord.HTTPException:
            return False

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

    async def server_name(self, guild_id: int) -> str:
        """The server's name as Discord shows it (for DMs, which have no server context): from
        the cache, or asked of Discord once for a server on another process's shard."""
        try:
            guild = await self.guild(guild_id)
        except (TimeoutError, discord.HTTPException, aiohttp.ClientError):
            guild = None
        return guild.name if guild else "your server"

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
            sent = await self._send_to(target, message, nonce_for(key), user_id)
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

    async def _send_to(
        self,
        target: discord.abc.Messageable,
        message: Outgoing,
        nonce: str,
        user_id: int | None,
    ) -> discord.Message:
        """`_send`; for a DM (`user_id`) whose channel Discord no longer knows (404, Unknown
        Channel), the channel is forgotten and the message sent once more in one opened afresh."""
        try:
            return await _send(target, message, nonce)
        except discord.NotFound as exc:
            if user_id is None or exc.code != UNKNOWN_CHANNEL_CODE:
                raise
        log.info("the remembered DM channel of %s is gone; opening it afresh", user_id)
        await self._forget_dm_channel(user_id)
        return await _send(await self._dm_channel(user_id), message, nonce)

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
        """Our DM channel with a member: remembered in memory, else in `dm_channels`, else
        opened (one request) and written down, so the next DM, even after a restart, costs
        Discord only the message."""
        channel_id = self._dm_channels.get(user_id)
        if channel_id is None:
            channel_id = await self._db.fetchval(
                "SELECT channel_id FROM dm_channels WHERE user_id = ?", (user_id,)
            )
        if channel_id is None:
            dm = await self._client.create_dm(discord.Object(user_id))
            channel_id = dm.id
            await self._db.execute(
                "INSERT INTO dm_channels (user_id, channel_id, opened_at) VALUES (?, ?, ?)"
                " ON CONFLICT (user_id) DO UPDATE SET channel_id = excluded.channel_id,"
                " opened_at = excluded.opened_at",
                (user_id, channel_id, to_db(self._clock())),
            )
        self._dm_channels[user_id] = channel_id
        self._dm_channels.move_to_end(user_id)
        while len(self._dm_channels) > DM_CHANNEL_MEMORY_SIZE:
            self._dm_channels.popitem(last=False)
        return self._client.get_partial_messageable(channel_id, type=discord.ChannelType.private)

    async def _forget_dm_channel(self, user_id: int) -> None:
        """Forget a DM channel Discord no longer knows, so the next DM opens one afresh."""
        self._dm_channels.pop(user_id, None)
        await self._db.execute("DELETE FROM dm_channels WHERE user_id = ?", (user_id,))


def _problem(error: str) -> str | None:
    """What a recorded failure says about the channel itself: deleted, or refusing Haven."""
    if f"(error code: {UNKNOWN_CHANNEL_CODE})" in error:
        return "gone"
    if any(f"(error code: {c})" in error for c in (MISSING_ACCESS_CODE, MISSING_PERMISSIONS_CODE)):
        return "forbidden"
    return None


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
