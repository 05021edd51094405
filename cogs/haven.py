"""`/haven …`: server configuration for moderators (Manage Server, checked again at run time)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.delivery import missing_permissions
from bot.errors import BadInput
from bot.guilds import GuildConfig
from bot.messages import Card, Field, Palette
from bot.routes import Route
from bot.timeutil import discord_timestamp
from cogs._components import Press, buttons_view
from cogs._replies import reply
from cogs._views import guild_id_of, zone_choices
from cogs.buddy import BuddyModeration
from cogs.checkin import CheckinModeration
from cogs.circle import CircleModeration
from cogs.support import SupportModeration

if TYPE_CHECKING:
    from bot.app import HavenBot


CONFIRM_MOD_CHANNEL = Route("haven:mod-channel", fields=(("channel", "id"),), who="moderator")

# (config attribute, label, what is lost without it, needs private threads)
CHANNELS = (
    ("checkin_channel_id", "Check-in channel", "check-ins can only be private", False),
    ("circle_channel_id", "Circles channel", "circle announcements have nowhere to go", False),
    ("buddy_channel_id", "Buddy channel", "buddy intros fall back to DMs", True),
    ("mod_channel_id", "Moderators' channel", "/support can't pass on reach-out requests", False),
)


def configuration_card(config: GuildConfig, title: str, *extra: Field) -> Card:
    fields = []
    for attr, label, without, _ in CHANNELS:
        channel_id = getattr(config, attr)
        fields.append(Field(label, f"<#{channel_id}>" if channel_id else f"not set — {without}"))
    role = f"<@&{config.host_role_id}>" if config.host_role_id else "not set"
    resources = (
        f"this server's own ({len(config.resources)} characters)"
        if config.resources
        else "Haven's general resources — `/haven resources` to write your own"
    )
    fields += [
        Field("Host role", role, inline=True),
        Field("Time zone", config.timezone, inline=True),
        Field("Check-in retention", f"{config.retention_days} days", inline=True),
        Field("Support resources", resources),
    ]
    return Card("", title=title, colour=Palette.STEADY, fields=(*fields, *extra))


def seen_by_non_moderators(channel: discord.abc.GuildChannel) -> list[str]:
    """Who without Manage Server can read `channel`: role names, or "specific members"."""
    readers = []
    for role in channel.guild.roles:
        perms = role.permissions
        if perms.manage_guild or perms.administrator or role.managed:  # managed: a bot's role
            continue
        if channel.permissions_for(role).view_channel:
            name = discord.utils.escape_markdown(role.name)
            readers.append("everyone" if role.is_default() else f"@{name}")
    if any(
        not isinstance(target, discord.Role) and overwrite.view_channel
        for target, overwrite in channel.overwrites.items()
    ):
        readers.append("specific members")
    return readers


def channel_warnings(
    guild: discord.Guild, config: GuildConfig, others: Sequence[tuple[int, str]] = ()
) -> list[str]:
    """One line per configured channel Haven cannot use, naming what uses it and the missing
    permission. `others`: channels features were set up with (a circle's, the daily prompt's),
    as (channel id, what uses it in words)."""
    uses: dict[int, list[str]] = {}
    threads: set[int] = set()
    for attr, label, _, makes_threads in CHANNELS:
        channel_id = getattr(config, attr)
        if channel_id is not None:
            uses.setdefault(channel_id, []).append(label)
            if makes_threads:
                threads.add(channel_id)
    for channel_id, label in others:
        uses.setdefault(channel_id, []).append(label[:1].upper() + label[1:])
    warnings = []
    for channel_id, labels in uses.items():
        named = discord.utils.escape_markdown(", ".join(dict.fromkeys(labels)))
        channel = guild.get_channel_or_thread(channel_id)
        if not isinstance(channel, discord.abc.GuildChannel | discord.Thread):
            warnings.append(f"**{named}**: I can't see <#{channel_id}> any more.")
            continue
        missing = missing_permissions(channel, embeds=True, threads=channel_id in threads)
        if missing:
            warnings.append(
                f"**{named}**: I can't post in <#{channel_id}> yet — I'm missing "
                f"**{', '.join(missing)}** there."
            )
    return warnings


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class HavenCog(
    CheckinModeration,
    CircleModeration,
    BuddyModeration,
    SupportModeration,
    commands.GroupCog,
    group_name="haven",
    group_description="Set up Haven for this server",
):
    """`/haven`: setup and status here; each pillar's moderator commands come from its mixin
    (discord.py collects app commands from every base class)."""

    def __init__(self, bot: HavenBot) -> None:
        self.bot = bot
        super().__init__()

    async def interaction_check(self, interaction: discord.Interaction[Any], /) -> bool:
        # Discord hides these from members without Manage Server, but server admins can
        # change that in Integrations settings; the permission is checked here regardless.
        guild_id_of(interaction)
        if not interaction.permissions.manage_guild:
            raise app_commands.MissingPermissions(["manage_guild"])
        return True

    @app_commands.command(name="setup")
    @app_commands.autocomplete(timezone=zone_choices)
    @app_commands.describe(
        checkin_channel="Where shared check-ins and the daily prompt are posted",
        circle_channel="Where circle announcements are posted",
        buddy_channel="Where private buddy threads are made",
        mod_channel="Where moderators hear that a member asked for a reach-out",
        host_role="Members with this role may host circles",
        timezone="The server's time zone, for prompts and members who set none",
        retention_days="Days to keep check-in notes (7–3650, default 90)",
    )
    async def setup_(
        self,
        interaction: discord.Interaction[HavenBot],
        checkin_channel: discord.TextChannel | None = None,
        circle_channel: discord.TextChannel | None = None,
        buddy_channel: discord.TextChannel | None = None,
        mod_channel: discord.TextChannel | None = None,
        host_role: discord.Role | None = None,
        timezone: str | None = None,
        retention_days: app_commands.Range[int, 7, 3650] | None = None,
    ) -> None:
        """Set Haven's channels, host role, time zone and retention; or see them."""
        guild_id = guild_id_of(interaction)
        guilds = self.bot.services.guilds
        given = {
            "checkin_channel_id": checkin_channel and checkin_channel.id,
            "circle_channel_id": circle_channel and circle_channel.id,
            "buddy_channel_id": buddy_channel and buddy_channel.id,
            "mod_channel_id": mod_channel and mod_channel.id,
            "host_role_id": host_role and host_role.id,
            "timezone": timezone,
            "retention_days": retention_days,
        }
        changes = {key: value for key, value in given.items() if value is not None}
        if not changes:
            config = await guilds.get(guild_id)
            await reply(interaction, cards=[configuration_card(config, "Haven's setup here")])
            return
        readers = seen_by_non_moderators(mod_channel) if mod_channel else []
        if readers:
            # Reach-out requests name a member who is struggling: confirm before they go there.
            del changes["mod_channel_id"]
        config = await guilds.update(guild_id, **changes) if changes else await guilds.get(guild_id)
        notes: list[Field] = []
        view = None
        if mod_channel and readers:
            notes.append(
                Field(
                    "⚠️ Not saved yet: the moderators' channel",
                    f"{mod_channel.mention} can be read by **{', '.join(readers)}**, not only "
                    "moderators. Reach-out requests there name a member who asked for support. "
                    "A private channel is kinder — or confirm if this is what you want.",
                )
            )
            view = buttons_view(
                discord.ui.Button(
                    label=f"Use #{mod_channel.name[:60]} anyway",
                    style=discord.ButtonStyle.danger,
                    custom_id=self.bot.components.custom_id(
                        CONFIRM_MOD_CHANNEL, channel=mod_channel.id
                    ),
                )
            )
        assert interaction.guild is not None
        warnings = channel_warnings(interaction.guild, config)
        if warnings:
            notes.append(
                Field(
                    "⚠️ Needs a moment of attention",
                    "\n".join(warnings)
                    + "\nI've saved the channels anyway; give my role those permissions there "
                    "and I'll start posting.",
                )
            )
        card = configuration_card(config, "Saved — here's Haven's setup now", *notes)
        await reply(interaction, cards=[card], view=view)

    @app_commands.command(name="status")
    async def status(self, interaction: discord.Interaction[HavenBot]) -> None:
        """See Haven's setup, missing permissions, what's scheduled next, and counts."""
        guild_id = guild_id_of(interaction)
        report = await self.bot.services.status.report(guild_id)
        assert interaction.guild is not None
        warnings = channel_warnings(interaction.guild, report.config, report.channels)
        labels = self.bot.services.features.job_labels
        upcoming = [
            f"{labels.get(job.kind) or job.kind} — {discord_timestamp(job.due_at, 'R')}"
            for job in report.next_runs
        ]
        card = configuration_card(
            report.config,
            "How Haven is doing here",
            Field(
                "Permissions",
                "\n".join(warnings) if warnings else "✅ I can post everywhere I'm set up to.",
            ),
            Field("Coming up", "\n".join(upcoming) or "Nothing scheduled."),
            Field("Counts", "\n".join(f"{label}: **{n}**" for label, n in report.counts)),
        )
        await reply(interaction, cards=[card])


async def mod_channel_confirmed(press: Press) -> None:
    """A moderator chose a channel others can read for reach-out requests, knowingly."""
    channel_id = press.value("channel")
    guild = press.interaction.guild
    if guild is None or guild.get_channel(channel_id) is None:
        raise BadInput("I can't find that channel any more — choose it again with `/haven setup`.")
    guilds = press.interaction.client.services.guilds
    await guilds.update(press.guild_id, mod_channel_id=channel_id)
    await reply(
        press.interaction,
        f"Saved: reach-out requests will go to <#{channel_id}>. You can change it anytime "
        "with `/haven setup mod_channel:`.",
    )


async def setup(bot: HavenBot) -> None:
    bot.components.handle(CONFIRM_MOD_CHANNEL, mod_channel_confirmed)
    await bot.add_cog(HavenCog(bot))
