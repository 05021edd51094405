"""`/my …`: a member's own settings and data. Every reply is private to them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.privacy import privacy_statement
from bot.timeutil import get_zone, search_zones
from cogs._replies import reply
from cogs._views import guild_id_of

if TYPE_CHECKING:
    from bot.app import HavenBot

GENTLE = discord.Colour(0x9DB4C0)


@app_commands.guild_only()
class MyCog(commands.GroupCog, group_name="my", group_description="Your own Haven settings"):
    def __init__(self, bot: HavenBot) -> None:
        self.bot = bot
        super().__init__()

    async def interaction_check(self, interaction: discord.Interaction[Any], /) -> bool:
        # Hidden from DMs by `guild_only`, but a stale client can still send one.
        guild_id_of(interaction)
        return True

    @app_commands.command(name="timezone")
    @app_commands.describe(zone="A city-based zone like Europe/London; leave empty to see yours")
    async def timezone(
        self, interaction: discord.Interaction[HavenBot], zone: str | None = None
    ) -> None:
        """See or set your time zone, so reminders and times fit your day."""
        guild_id, user_id = guild_id_of(interaction), interaction.user.id
        members = self.bot.services.members
        if zone is None:
            profile = await members.profile(guild_id, user_id)
            current = await members.zone_for(guild_id, user_id)
            local = self.bot.clock().astimezone(current).strftime("%H:%M")
            if profile.timezone:
                text = f"Your time zone here is **{current.key}** (it's {local} there)."
            else:
                text = (
                    f"You haven't set a time zone, so I use the server's: **{current.key}** "
                    f"(it's {local} there). You can set yours with `/my timezone zone:`."
                )
            await reply(interaction, text)
            return
        name = await members.set_timezone(guild_id, user_id, zone)
        local = self.bot.clock().astimezone(get_zone(name)).strftime("%H:%M")
        await reply(
            interaction,
            f"Got it — I'll use **{name}** for you here. It's {local} there now.",
        )

    @timezone.autocomplete("zone")
    async def _zone_choices(
        self, interaction: discord.Interaction[HavenBot], current: str
    ) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=z, value=z) for z in search_zones(current)]

    @app_commands.command(name="privacy")
    async def privacy(self, interaction: discord.Interaction[HavenBot]) -> None:
        """Read exactly what Haven keeps about you, who can see it, and for how long."""
        config = await self.bot.services.guilds.get(guild_id_of(interaction))
        embed = discord.Embed(title="Your privacy with Haven", colour=GENTLE)
        for heading, text in privacy_statement(config):
            embed.add_field(name=heading, value=text, inline=False)
        await reply(interaction, embed=embed)


async def setup(bot: HavenBot) -> None:
    await bot.add_cog(MyCog(bot))
