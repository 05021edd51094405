"""`/circle …` for members, and the circle commands of `/haven` for moderators (skeleton)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from cogs._views import guild_id_of

if TYPE_CHECKING:
    from bot.app import HavenBot


@app_commands.guild_only()
class CircleCog(commands.GroupCog, group_name="circle", group_description="Listening circles here"):
    def __init__(self, bot: HavenBot) -> None:
        self.bot = bot
        super().__init__()

    async def interaction_check(self, interaction: discord.Interaction[Any], /) -> bool:
        guild_id_of(interaction)
        return True


class CircleModeration(commands.Cog):
    """`/haven circle-create`, `circle-edit`, `circle-archive` and `cohost`, mixed into the
    `/haven` group (cogs/haven.py)."""

    bot: HavenBot


async def setup(bot: HavenBot) -> None:
    await bot.add_cog(CircleCog(bot))
