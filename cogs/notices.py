"""Shows waiting notices (like "your reminders switched off") after a member's next command."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

if TYPE_CHECKING:
    from bot.app import HavenBot

log = logging.getLogger(__name__)

# A follow-up needs a message to follow; after a modal or autocomplete there is none yet.
_CAN_FOLLOW = (
    discord.InteractionResponseType.channel_message,
    discord.InteractionResponseType.deferred_channel_message,
)


class NoticesCog(commands.Cog):
    def __init__(self, bot: HavenBot) -> None:
        self.bot = bot

    @commands.Cog.listener()
    async def on_app_command_completion(
        self,
        interaction: discord.Interaction[HavenBot],
        command: app_commands.Command[Any, ..., Any],
    ) -> None:
        guild_id, user_id = interaction.guild_id, interaction.user.id
        notices = self.bot.services.notices
        if guild_id is None or not notices.waiting(guild_id, user_id):
            return
        if interaction.response.type not in _CAN_FOLLOW:
            return
        texts = await notices.take(guild_id, user_id)
        try:
            await interaction.followup.send("\n\n".join(texts), ephemeral=True)
        except discord.HTTPException:
            log.warning("could not show %d notice(s); keeping them for next time", len(texts))
            for text in texts:
                await notices.add(guild_id, user_id, text)


async def setup(bot: HavenBot) -> None:
    await bot.add_cog(NoticesCog(bot))
