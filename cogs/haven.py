"""`/haven …`: server configuration for moderators (Manage Server, checked again at run time)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.delivery import missing_permissions
from bot.errors import BadInput
from bot.guilds import RESOURCES_MAX, GuildConfig
from bot.timeutil import discord_timestamp, format_hhmm
from cogs._replies import reply
from cogs._views import DAY_CHOICES, DAY_WORDS, HavenModal, guild_id_of, zone_choices

if TYPE_CHECKING:
    from bot.app import HavenBot

STEADY = discord.Colour(0x6C8EAD)

# (config attribute, label, what is lost without it, needs private threads)
CHANNELS = (
    ("checkin_channel_id", "Check-in channel", "check-ins can only be private", False),
    ("circle_channel_id", "Circles channel", "circle announcements have nowhere to go", False),
    ("buddy_channel_id", "Buddy channel", "buddy intros fall back to DMs", True),
    ("mod_channel_id", "Moderators' channel", "/support can't pass on reach-out requests", False),
)

JOB_LABELS = {
    "maintenance": "Daily privacy tidy-up",
    "checkin-prompt": "Daily check-in prompt",
    "checkin-reminder": "A member's check-in reminder",
    "noticing": "A gentle-noticing check",
}


def configuration_embed(config: GuildConfig, title: str) -> discord.Embed:
    embed = discord.Embed(title=title, colour=STEADY)
    for attr, label, without, _ in CHANNELS:
        channel_id = getattr(config, attr)
        embed.add_field(
            name=label,
            value=f"<#{channel_id}>" if channel_id else f"not set — {without}",
            inline=False,
        )
    role = f"<@&{config.host_role_id}>" if config.host_role_id else "not set"
    resources = (
        f"this server's own ({len(config.resources)} characters)"
        if config.resources
        else "Haven's default — `/haven resources` to write your own"
    )
    embed.add_field(name="Host role", value=role, inline=True)
    embed.add_field(name="Time zone", value=config.timezone, inline=True)
    embed.add_field(name="Check-in retention", value=f"{config.retention_days} days", inline=True)
    embed.add_field(name="Support resources", value=resources, inline=False)
    return embed


def channel_warnings(guild: discord.Guild, config: GuildConfig) -> list[str]:
    """One line per configured channel Haven cannot use, naming the missing permission."""
    warnings = []
    for attr, label, _, threads in CHANNELS:
        channel_id = getattr(config, attr)
        if channel_id is None:
            continue
        channel = guild.get_channel_or_thread(channel_id)
        if not isinstance(channel, discord.abc.GuildChannel | discord.Thread):
            warnings.append(f"**{label}**: I can't see <#{channel_id}> any more.")
            continue
        missing = missing_permissions(channel, embeds=True, threads=threads)
        if missing:
            warnings.append(
                f"**{label}**: I can't post in <#{channel_id}> yet — I'm missing "
                f"**{', '.join(missing)}** there."
            )
    return warnings


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class HavenCog(
    commands.GroupCog, group_name="haven", group_description="Set up Haven for this server"
):
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
            await reply(interaction, embed=configuration_embed(config, "Haven's setup here"))
            return
        config = await guilds.update(guild_id, **changes)
        embed = configuration_embed(config, "Saved — here's Haven's setup now")
        assert interaction.guild is not None
        warnings = channel_warnings(interaction.guild, config)
        if warnings:
            embed.add_field(
                name="⚠️ Needs a moment of attention",
                value="\n".join(warnings)
                + "\nI've saved the channels anyway; give my role those permissions there and "
                "I'll start posting.",
                inline=False,
            )
        await reply(interaction, embed=embed)

    @app_commands.command(name="status")
    async def status(self, interaction: discord.Interaction[HavenBot]) -> None:
        """See Haven's setup, missing permissions, what's scheduled next, and counts."""
        guild_id = guild_id_of(interaction)
        report = await self.bot.services.status.report(guild_id)
        embed = configuration_embed(report.config, "How Haven is doing here")
        assert interaction.guild is not None
        warnings = channel_warnings(interaction.guild, report.config)
        embed.add_field(
            name="Permissions",
            value="\n".join(warnings) if warnings else "✅ I can post everywhere I'm set up to.",
            inline=False,
        )
        upcoming = [
            f"{JOB_LABELS.get(job.kind, job.kind)} — {discord_timestamp(job.due_at, 'R')}"
            for job in report.next_runs
        ]
        embed.add_field(
            name="Coming up", value="\n".join(upcoming) or "Nothing scheduled.", inline=False
        )
        embed.add_field(
            name="Counts",
            value="\n".join(f"{label}: **{n}**" for label, n in report.counts),
            inline=False,
        )
        await reply(interaction, embed=embed)

    @app_commands.command(name="prompt")
    @app_commands.describe(
        time="When to post, in the server's time zone, 24-hour like 09:00",
        days="Which days (default every day)",
        channel="Where to post (default: the check-in channel)",
    )
    @app_commands.choices(days=DAY_CHOICES)
    async def prompt(
        self,
        interaction: discord.Interaction[HavenBot],
        time: str,
        days: str = "every-day",
        channel: discord.TextChannel | None = None,
    ) -> None:
        """Post a gentle daily check-in prompt with a "Check in" button."""
        guild_id = guild_id_of(interaction)
        services = self.bot.services
        config = await services.guilds.get(guild_id)
        channel_id = channel.id if channel else config.checkin_channel_id
        if channel_id is None:
            raise BadInput(
                "Where should the prompt go? Choose a `channel:`, or set a check-in channel "
                "first with `/haven setup checkin_channel:`."
            )
        rule, next_due = await services.prompts.set(
            guild_id, time, days, channel.id if channel else None
        )
        text = (
            f"The daily check-in prompt will be posted in <#{channel_id}> at "
            f"**{format_hhmm(rule.at)}** ({config.timezone}), {DAY_WORDS[days]}."
        )
        if next_due:
            text += f" The next one: {discord_timestamp(next_due, 'F')}."
        assert interaction.guild is not None
        target = interaction.guild.get_channel(channel_id)
        if isinstance(target, discord.abc.GuildChannel):
            missing = missing_permissions(target, embeds=True)
            if missing:
                text += (
                    f"\n⚠️ I can't post there yet — I'm missing **{', '.join(missing)}**. "
                    "I've saved it; give my role that permission and the prompt will appear."
                )
        await reply(interaction, text)

    @app_commands.command(name="prompt-off")
    async def prompt_off(self, interaction: discord.Interaction[HavenBot]) -> None:
        """Stop the daily check-in prompt."""
        was_on = await self.bot.services.prompts.off(guild_id_of(interaction))
        await reply(
            interaction,
            "The daily check-in prompt is off. `/haven prompt` starts it again."
            if was_on
            else "There was no daily prompt to stop.",
        )

    @app_commands.command(name="resources")
    async def resources(self, interaction: discord.Interaction[HavenBot]) -> None:
        """Edit the support resources /support shows (crisis lines, local services)."""
        guild_id = guild_id_of(interaction)
        current, _ = await self.bot.services.support.resources(guild_id)
        await interaction.response.send_modal(ResourcesModal(self.bot, current))


class ResourcesModal(HavenModal, title="Support resources"):
    def __init__(self, bot: HavenBot, current: str) -> None:
        super().__init__()
        self.bot = bot
        self.text: discord.ui.TextInput[ResourcesModal] = discord.ui.TextInput(
            label="What /support shows members",
            custom_id="resources",
            style=discord.TextStyle.paragraph,
            default=current[:RESOURCES_MAX],
            max_length=RESOURCES_MAX,
            required=False,
            placeholder="Crisis lines for your members' countries, local services, who to ask",
        )
        self.add_item(self.text)

    async def on_submit(self, interaction: discord.Interaction[HavenBot]) -> None:  # type: ignore[override]
        guild_id = guild_id_of(interaction)
        saved = await self.bot.services.support.set_resources(guild_id, self.text.value)
        if saved is None:
            await reply(interaction, "Cleared — `/support` shows Haven's default resources again.")
            return
        preview = discord.Embed(title="Saved — /support now shows:", description=saved)
        await reply(interaction, embed=preview)


async def setup(bot: HavenBot) -> None:
    await bot.add_cog(HavenCog(bot))
