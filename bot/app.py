"""HavenBot, the composition root: it builds every service and wires them to Discord.

All start-up work happens once, in `setup_hook` (never `on_ready`, which runs again after
every reconnect): open and migrate the database, build the services, load the cogs, start the
scheduler, and sync the command tree only if it changed since the last sync.

`make_bot` picks the class: `HavenBot`, one unsharded connection as Haven always had, or with
SHARD_COUNT set `ShardedHavenBot`, which holds the shards SHARD_IDS names (all without it).
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

import discord
from discord.ext import commands

from bot.buddies import Buddies
from bot.channel_care import ChannelCare
from bot.charts import ChartRenderer
from bot.checkins import Checkins
from bot.circle_reminders import CircleReminders
from bot.circles import Circles
from bot.config import Settings
from bot.db import Database, describe, migrate, open_database
from bot.delivery import Delivery
from bot.delivery.rest_deadline import ANSWER_WITHIN_SECONDS, bound_requests
from bot.dm_stops import DmStops
from bot.features import Contributor, Features
from bot.guilds import Guilds
from bot.hosting import Hosting
from bot.logs import keep_private_text_out_of_logs
from bot.maintenance import Maintenance
from bot.members import Members
from bot.notices import Notices
from bot.noticing import Noticing
from bot.pacing import Pacer, pacing_trace
from bot.privacy import Privacy
from bot.prompts import Prompts
from bot.reminders import Reminders
from bot.routes import Routes, load_key
from bot.scheduler import Scheduler
from bot.status import Status
from bot.support import Support
from bot.texts import Texts
from bot.timeutil import Clock, to_db, utcnow
from cogs._components import Components  # the one dispatcher for buttons and modals
from cogs._tree import HavenTree  # the one error policy lives with the Discord UI

log = logging.getLogger(__name__)

COGS = (
    "cogs.support",
    "cogs.checkin",
    "cogs.my",
    "cogs.circle",
    "cogs.circle_reminders",
    "cogs.host",
    "cogs.buddy",
    "cogs.haven",
    "cogs.notices",
    "cogs.dms",
)


@dataclass
class Services:
    """Everything the cogs may call. Built once per process in `setup_hook`."""

    # Feature services first: they contribute in this order, which is the order members read
    # in /my privacy (their check-ins before the records of how Haven reached them).
    checkins: Checkins
    members: Members
    reminders: Reminders
    noticing: Noticing
    prompts: Prompts
    circles: Circles
    circle_reminders: CircleReminders
    hosting: Hosting
    support: Support
    buddies: Buddies
    notices: Notices
    delivery: Delivery
    dm_stops: DmStops
    channel_care: ChannelCare
    scheduler: Scheduler
    maintenance: Maintenance
    status: Status
    privacy: Privacy
    guilds: Guilds
    charts: ChartRenderer
    texts: Texts
    routes: Routes
    features: Features
    db: Database


class HavenBot(commands.Bot):
    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock = utcnow,
        texts: Texts | None = None,
        pacer: Pacer | None = None,
        answer_within: float = ANSWER_WITHIN_SECONDS,
        **options: object,
    ) -> None:
        keep_private_text_out_of_logs()
        pacer = pacer or Pacer()
        super().__init__(
            command_prefix=commands.when_mentioned,
            help_command=None,
            # The guilds intent: channel and permission caches. The privileged members intent
            # only if the operator enabled it for the application (MEMBERS_INTENT): then Haven
            # hears when someone leaves instead of asking Discord before each DM.
            intents=discord.Intents(guilds=True, members=settings.members_intent),
            # Nothing Haven says pings anyone unless a message opts in explicitly.
            allowed_mentions=discord.AllowedMentions.none(),
            tree_cls=HavenTree,
            # Every REST request waits its turn under Discord's global rate limit.
            http_trace=pacing_trace(pacer),
            **options,  # type: ignore[arg-type]
        )
        bound_requests(self.http, answer_within)
        self._pacer = pacer
        self.settings = settings
        self.clock = clock
        self._texts = texts or Texts()
        self._services: Services | None = None
        self._closed = False
        self.components = Components(self)
        self.add_listener(self.components.on_interaction, "on_interaction")

    @property
    def services(self) -> Services:
        if self._services is None:
            raise RuntimeError("services are built in setup_hook; the bot has not started")
        return self._services

    async def setup_hook(self) -> None:
        db = await open_database(self.settings.database_url)
        version = await migrate(db)
        log.info("database %s at schema version %d", describe(self.settings.database_url), version)
        # Every process of this bot on this database shares one request budget (PostgreSQL);
        # on SQLite the pacer keeps counting its own requests.
        self._pacer.share(db)
        self._services = self._build(
            db, Routes(await load_key(db)), pseudonyms=await load_key(db, "pseudonyms")
        )
        for name in COGS:
            await self.load_extension(name)
        services = self._services
        # Processes starting together on one PostgreSQL database take turns: each finds the
        # rules the first planned and the tree it synced, and does neither again.
        async with db.cluster_lock("start-up"):
            for start in services.features.starts:
                await start()
            await self._sync_commands_if_changed()
        await services.scheduler.start()
        # Everything built so far lives as long as the process: keep it out of the garbage
        # collector's full scans, whose pauses would otherwise stall the event loop.
        gc.freeze()

    def _build(self, db: Database, routes: Routes, *, pseudonyms: bytes) -> Services:
        clock, texts = self.clock, self._texts
        features = Features()
        settings = self.settings
        shards = (
            (settings.shard_count, settings.shard_ids)
            if settings.shard_count is not None and settings.shard_ids is not None
            else None
        )
        scheduler = Scheduler(db, clock=clock, gate=self.wait_until_ready, shards=shards)
        guilds = Guilds(db, clock=clock)
        members = Members(db, clock=clock)
        dm_stops = DmStops(db, clock=clock)
        delivery = Delivery(
            self, db, members, dm_stops, routes, clock=clock, holds=self.settings.holds
        )
        notices = Notices(db, clock=clock)
        channel_care = ChannelCare(db, guilds, delivery, features, clock=clock)
        delivery.on_channel_trouble(channel_care.trouble)
        buddies = Buddies(
            db,
            guilds,
            members,
            scheduler,
            delivery,
            routes,
            dm_stops,
            texts,
            key=pseudonyms,
            clock=clock,
        )
        support = Support(guilds, texts, delivery, clock=clock)
        charts = ChartRenderer()
        checkins = Checkins(
            db, guilds, buddies, support, texts, delivery, charts, dm_stops, clock=clock
        )
        noticing = Noticing(db, members, buddies, scheduler, delivery, dm_stops, clock=clock)
        checkins.on_recorded(noticing.on_checkin)
        circles = Circles(db, guilds, members, scheduler, delivery, routes, dm_stops, clock=clock)
        services = Services(
            db=db,
            features=features,
            routes=routes,
            scheduler=scheduler,
            dm_stops=dm_stops,
            channel_care=channel_care,
            delivery=delivery,
            texts=texts,
            guilds=guilds,
            members=members,
            support=support,
            status=Status(db, guilds, scheduler, features, channel_care, clock=clock),
            maintenance=Maintenance(db, scheduler, features, clock=clock),
            notices=notices,
            buddies=buddies,
            checkins=checkins,
            charts=charts,
            prompts=Prompts(db, guilds, scheduler, texts, delivery, routes, clock=clock),
            reminders=Reminders(
                db, guilds, members, scheduler, notices, delivery, routes, dm_stops, clock=clock
            ),
            noticing=noticing,
            circles=circles,
            circle_reminders=CircleReminders(
                circles, scheduler, delivery, routes, dm_stops, clock=clock
            ),
            hosting=Hosting(
                db, circles, guilds, scheduler, delivery, routes, dm_stops, texts, clock=clock
            ),
            privacy=Privacy(db, delivery, features, clock=clock),
        )
        for service in vars(services).values():
            if isinstance(service, Contributor):
                service.contribute(features)
        return services

    async def on_ready(self) -> None:
        """The server and member caches are full now (with MEMBERS_INTENT, 100,000 members in
        `bench/scale.py`): keep them out of the collector's full scans too, which otherwise
        reached ~100 ms each and paused fan-outs. Cheap and harmless again after a reconnect;
        nothing else belongs here (start-up work is `setup_hook`'s)."""
        gc.freeze()

    async def on_raw_member_remove(self, payload: discord.RawMemberRemoveEvent) -> None:
        """Only with MEMBERS_INTENT: someone left a server, so what Haven sends them stops."""
        if self._services is not None:
            self._services.delivery.forget_member(payload.guild_id, payload.user.id)
            await self._services.members.left(payload.guild_id, payload.user.id)

    async def on_guild_channel_delete(self, channel: discord.abc.GuildChannel) -> None:
        """A channel was deleted: settings that named it are cleared, moderators told."""
        if self._services is not None:
            await self._services.channel_care.trouble(channel.guild.id, channel.id, "gone")

    async def on_guild_remove(self, guild: discord.Guild) -> None:
        """Haven was removed from a server (or it was deleted): its scheduled work stops."""
        if self._services is not None:
            stopped = await self._services.scheduler.cancel_guild(guild.id)
            log.info("removed from server %s; cancelled %d scheduled job(s)", guild.id, stopped)

    async def close(self) -> None:
        """Stop the scheduler, close the database, then disconnect — once, however often called."""
        try:
            if not self._closed and self._services is not None:
                self._closed = True
                try:
                    await self._services.scheduler.shutdown()
                finally:  # the database and the connection close even if that failed
                    self._services.charts.close()
                    await self._services.db.close()
        finally:
            self._closed = True
            await super().close()

    # --- command sync ----------------------------------------------------------------------

    async def _sync_commands_if_changed(self) -> None:
        """Sync only when the tree differs from the last synced one: sync is rate limited."""
        guild = discord.Object(self.settings.dev_guild_id) if self.settings.dev_guild_id else None
        if guild is not None:
            self.tree.copy_global_to(guild=guild)
        scope = f"{self.application_id}:" + (f"guild:{guild.id}" if guild else "global")
        digest = self.tree_hash(guild)
        db = self.services.db
        stored = await db.fetchval("SELECT tree_hash FROM command_sync WHERE scope = ?", (scope,))
        if stored == digest:
            log.info("command tree unchanged since the last sync; not syncing")
            return
        try:
            synced = await self.tree.sync(guild=guild)
        except discord.HTTPException:
            log.exception("command sync failed; keeping the previous commands")
            return
        await db.execute(
            "INSERT INTO command_sync (scope, tree_hash, synced_at) VALUES (?, ?, ?)"
            " ON CONFLICT (scope) DO UPDATE SET tree_hash = excluded.tree_hash,"
            " synced_at = excluded.synced_at",
            (scope, digest, to_db(self.clock())),
        )
        log.info("synced %d commands (%s)", len(synced), scope)

    def tree_hash(self, guild: discord.abc.Snowflake | None = None) -> str:
        payload = [command.to_dict(self.tree) for command in self.tree.get_commands(guild=guild)]
        canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


class ShardedHavenBot(HavenBot, commands.AutoShardedBot):
    """HavenBot on the shards SHARD_COUNT and SHARD_IDS name: one gateway connection per shard,
    each server's events and interactions arriving on the shard that holds it.

    The method order puts AutoShardedClient's connection handling (launching and reconnecting
    each shard, ready once every shard is) under HavenBot's own start-up and shutdown. The
    shard count is given, so discord.py never asks `/gateway/bot` for one: every process of a
    cluster must agree on it. discord.py waits 5 s between this process's own IDENTIFYs.
    """

    def __init__(self, settings: Settings, **options: Any) -> None:
        if settings.shard_count is None:
            raise ValueError("ShardedHavenBot runs only with SHARD_COUNT set; use make_bot")
        shard_ids = None if settings.shard_ids is None else list(settings.shard_ids)
        super().__init__(settings, shard_count=settings.shard_count, shard_ids=shard_ids, **options)


def make_bot(settings: Settings, **options: Any) -> HavenBot:
    """The bot these settings ask for: sharded only when SHARD_COUNT is set."""
    if settings.shard_count is None:
        return HavenBot(settings, **options)
    return ShardedHavenBot(settings, **options)
