"""`/buddy …` for members, and the buddy commands of `/haven` for moderators (skeleton)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from discord import app_commands
from discord.ext import commands

from cogs._views import ServerGroup

if TYPE_CHECKING:
    from bot.app import HavenBot


@app_commands.guild_only()
class BuddyCog(ServerGroup, group_name="buddy", group_description="Your buddy in this server"):
    """`/buddy`: consent-first buddy pairing."""


class BuddyModeration(commands.Cog):
    """`/haven buddies`, `pair-now` and `separate`, mixed into the `/haven` group."""

    bot: HavenBot


async def setup(bot: HavenBot) -> None:
    await bot.add_cog(BuddyCog(bot))
