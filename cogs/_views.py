"""Shared UI pieces: day choices, zone autocomplete, and the server an interaction came from."""

from __future__ import annotations

from typing import Any

import discord

from bot.timeutil import search_zones

# The `days` choices of /my reminder and /haven prompt (values are the public contract).
DAY_CHOICES = [
    discord.app_commands.Choice(name="every day", value="every-day"),
    discord.app_commands.Choice(name="weekdays", value="weekdays"),
    discord.app_commands.Choice(name="weekends", value="weekends"),
]
DAY_WORDS = {"every-day": "every day", "weekdays": "on weekdays", "weekends": "at weekends"}


async def zone_choices(
    interaction: discord.Interaction[Any], current: str
) -> list[discord.app_commands.Choice[str]]:
    """Autocomplete for time zone options: best matches first, at most 25."""
    return [discord.app_commands.Choice(name=z, value=z) for z in search_zones(current)]


def guild_id_of(interaction: discord.Interaction[Any]) -> int:
    """The server an interaction came from; commands that need one are checked earlier."""
    if interaction.guild_id is None:
        raise discord.app_commands.NoPrivateMessage()
    return interaction.guild_id
