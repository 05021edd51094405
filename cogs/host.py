"""`/host …`: tools for a circle's hosts, co-hosts, the host role and moderators (skeleton)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from cogs._views import guild_id_of

if TYPE_CHECKING:
    from bot.app import HavenBot


@app_commands.guild_only()
class HostCog(commands.GroupCog, group_name="host", group_description="Run a listening circle"):
    def __init__(self, bot: HavenBot) -> None:
        self.bot = bot
        super().__init__()

    async def interaction_check(self, interaction: discord.Interaction[Any], /) -> bool:
        guild_id_of(interaction)
        return True


async def setup(bot: HavenBot) -> None:
    await bot.add_cog(HostCog(bot))
