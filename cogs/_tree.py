"""The command tree: one error policy for every slash command, and one cleaning of what was
typed into them."""

from __future__ import annotations

import unicodedata
from typing import TYPE_CHECKING, Any

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

    async def interaction_check(self, interaction: discord.Interaction[HavenBot], /) -> bool:
        """Every typed option (and autocomplete's partial text) loses its control characters
        but newline and tab before any command sees it. A NUL byte cannot be stored at all on
        PostgreSQL, and no option needs one; features still clean free text for storage."""
        data: Any = interaction.data
        if isinstance(data, dict):
            _clean_options(data.get("options") or [])
        return True


def _clean_options(options: list[Any]) -> None:
    for option in options:
        if option.get("type") == discord.AppCommandOptionType.string.value and isinstance(
            option.get("value"), str
        ):
            option["value"] = "".join(
                c for c in option["value"] if c in "\n\t" or unicodedata.category(c) != "Cc"
            )
        _clean_options(option.get("options") or [])
