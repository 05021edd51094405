"""The only Discord I/O for messages Haven sends on its own: idempotent, paced and DM-aware.

- **At most once.** Every send has a ledger key (`deliveries`). A key already `sent` is never
  sent again, and the Discord nonce is derived from the key with `enforce_nonce`, so even a crash
  between "Discord accepted it" and "we wrote it down" cannot double-send: Discord drops the
  repeat and hands back the original message.
- **Paced.** Every REST request the bot makes is spaced under Discord's global limit of 50 per
  second (`Pacer`, hooked into aiohttp) rather than bounced off 429s; every 429 is an invalid
  request, and 10,000 in 10 minutes earns a ban.
- **Closed DMs are remembered.** A 403/50007 also counts toward that ban, so the member is noted
  in `closed_dms` and not knocked on again for a week (or until they opt in anew); the caller
  learns `Delivered.DM_CLOSED` and can fall back.
- **Mentions are off.** Nothing Haven sends pings anyone except users a message names in
  `ping_users`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import timedelta

import aiohttp
import discord

from bot.db import Database
from bot.outgoing import Card, Delivered, Outgoing
from bot.privacy import CLOSED_DM_DAYS
from bot.timeutil import Clock, from_db, to_db, utcnow

log = logging.getLogger(__name__)

GLOBAL_REQUESTS_PER_SECOND = 45  # Discord allows 50; the rest is headroom for jitter
CLOSED_DM_MEMORY = timedelta(days=CLOSED_DM_DAYS)
DM_CLOSED_CODE = 50007

_STYLES = {
    "primary": discord.ButtonStyle.primary,
    "secondary": discord.ButtonStyle.secondary,
    "success": discord.ButtonStyle.success,
    "danger": discord.ButtonStyle.danger,
}


class Pacer:
    """Keeps Haven's requests under Discord's global limit, measured on actual send times.

    Two rules, both on the moments requests really go out: never more than `per_second` in any
    one second, and spaced out rather than in bursts (a gap of 90% of 1/`per_second`; the 10%
    absorbs timer overshoot, which would otherwise cost ~5% of the throughput).

    It is applied where aiohttp starts each request (`pacing_trace`), after discord.py's
    per-route queues: pacing earlier let requests bunch up in those queues and leave together,
    which Discord's sliding window counts as a burst (measured: six 429s in 10,000 requests).
    """

    def __init__(
        self,
        per_second: int = GLOBAL_REQUESTS_PER_SECOND,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._per_second = per_second
        self._gap = 0.9 / per_second
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        async with self._lock:
            while True:
                now = self._clock()
                while self._sent and now - self._sent[0] >= 1.0:
                    self._sent.popleft()
                delay = 0.0
                if self._sent:
                    delay = self._sent[-1] + self._gap - now
                if len(self._sent) >= self._per_second:
                    delay = max(delay, self._sent[0] + 1.0 - now)
                if delay <= 0:
                    break
                await self._sleep(delay)
            self._sent.append(now)


def pacing_trace(pacer: Pacer) -> aiohttp.TraceConfig:
    """An aiohttp hook that paces every REST request bound by Discord's global limit.

    Interaction responses and webhooks are not bound by it, and are never delayed.
    """

    async def on_request_start(
        session: aiohttp.ClientSession,
        context: object,
        params: aiohttp.TraceRequestStartParams,
    ) -> None:
        path = params.url.path
        if "/api/v" in path and not _UNPACED.search(path):
            await pacer.wait()

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_request_start)
    return trace


_UNPACED = re.compile(r"/(interactions|webhooks)/")


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
        *,
        clock: Clock = utcnow,
    ) -> None:
        self._client = client
        self._db = db
        self._clock = clock
        self._dm_channels: dict[int, int] = {}

    # --- public API ------------------------------------------------------------------------

    async def to_channel(
        self,
        key: str,
        channel_id: int,
        message: Outgoing,
        *,
        guild_id: int | None,
        user_id: int | None = None,
    ) -> Delivered:
        """Post `message` in a server channel or thread, once per `key`.

        `user_id` names the member the post is about, so their data request finds it.
        """
        channel = self._client.get_channel(channel_id)
        if isinstance(channel, discord.abc.GuildChannel | discord.Thread) and missing_permissions(
            channel, embeds=bool(message.cards)
        ):
            # Asking anyway would earn a 403, which counts toward Discord's invalid-request ban.
            await self._record(key, guild_id, user_id, "failed", error="missing permissions")
            return Delivered.NO_ACCESS
        target = self._client.get_partial_messageable(channel_id, guild_id=guild_id)
        return await self._deliver(key, guild_id, user_id, target, message)

    async def to_member(
        self, key: str, user_id: int, message: Outgoing, *, guild_id: int | None
    ) -> Delivered:
        """DM `message` to a member, once per `key`. Never retries a member whose DMs are closed."""
        if await self.dm_closed(user_id):
            await self._record(key, guild_id, user_id, "dm_closed")
            return Delivered.DM_CLOSED
        try:
            channel = await self._dm_channel(user_id)
        except discord.HTTPException as exc:
            return await self._failed(key, guild_id, user_id, exc)
        return await self._deliver(key, guild_id, user_id, channel, message)

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

    # --- the ledger ------------------------------------------------------------------------

    async def _deliver(
        self,
        key: str,
        guild_id: int | None,
        user_id: int | None,
        target: discord.abc.Messageable,
        message: Outgoing,
    ) -> Delivered:
        state = await self._db.fetchval("SELECT state FROM deliveries WHERE key = ?", (key,))
        if state == "sent":
            return Delivered.ALREADY_SENT
        if state == "dm_closed":
            return Delivered.DM_CLOSED
        await self._record(key, guild_id, user_id, "sending")
        try:
            sent = await _send(target, message, nonce_for(key))
        except discord.Forbidden as exc:
            if exc.code == DM_CLOSED_CODE:
                await self._note_dm_closed(user_id)
                await self._record(key, guild_id, user_id, "dm_closed")
                return Delivered.DM_CLOSED
            return await self._failed(key, guild_id, user_id, exc)
        except (TimeoutError, discord.HTTPException, aiohttp.ClientError) as exc:
            return await self._failed(key, guild_id, user_id, exc)
        await self._record(
            key, guild_id, user_id, "sent", channel_id=sent.channel.id, message_id=sent.id
        )
        return Delivered.SENT

    async def _failed(
        self, key: str, guild_id: int | None, user_id: int | None, exc: Exception
    ) -> Delivered:
        gone = isinstance(exc, discord.Forbidden | discord.NotFound)
        if not gone:
            log.warning("delivery %s failed: %r", key, exc)
        await self._record(key, guild_id, user_id, "failed", error=str(exc)[:300])
        return Delivered.NO_ACCESS if gone else Delivered.FAILED

    async def _record(
        self,
        key: str,
        guild_id: int | None,
        user_id: int | None,
        state: str,
        *,
        channel_id: int | None = None,
        message_id: int | None = None,
        error: str | None = None,
    ) -> None:
        attempt = 1 if state == "sending" else 0
        await self._db.execute(
            "INSERT INTO deliveries"
            " (key, guild_id, user_id, state, attempts, channel_id, message_id, error, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (key) DO UPDATE SET state = excluded.state,"
            " attempts = attempts + excluded.attempts,"
            " channel_id = coalesce(excluded.channel_id, channel_id),"
            " message_id = coalesce(excluded.message_id, message_id),"
            " error = excluded.error, updated_at = excluded.updated_at",
            (
                key,
                guild_id,
                user_id,
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
    """Send an `Outgoing` with mentions limited to its `ping_users`."""
    missing = discord.utils.MISSING
    return await target.send(
        message.content,
        embeds=[render_card(card) for card in message.cards] or missing,
        view=render_buttons(message) if message.buttons else missing,
        nonce=nonce,
        allowed_mentions=discord.AllowedMentions(
            everyone=False,
            roles=False,
            replied_user=False,
            users=[discord.Object(u) for u in message.ping_users],
        ),
    )


def render_card(card: Card) -> discord.Embed:
    embed = discord.Embed(title=card.title, description=card.description, colour=card.colour)
    if card.footer:
        embed.set_footer(text=card.footer)
    return embed


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
    # A stopped view is sent but not stored: clicks go to the persistent DynamicItems the cogs
    # register for these custom_ids, which keep working after a restart.
    view.stop()
    return view
