"""The command tree: one error policy for every slash command."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands

from cogs._replies import handle_error

if TYPE_CHECKING:
    from bot.app import HavenBot


class HavenTree(app_commands.CommandTree["HavenBot"]):
    async def on_error(
        self, interaction: discord.Interaction[HavenBot], error: app_commands.AppCommandError
    ) -> None:
        await handle_error(interaction, error)
