"""Shared UI pieces: views and modals that report errors through the one policy."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import discord

from bot.timeutil import search_zones
from cogs._replies import handle_error

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


class HavenView(discord.ui.View):
    """A view whose callback errors get the same kind reply as slash commands."""

    def __init__(self, *, timeout: float | None = 600) -> None:
        super().__init__(timeout=timeout)

    async def on_error(
        self, interaction: discord.Interaction[Any], error: Exception, item: discord.ui.Item[Any]
    ) -> None:
        await handle_error(interaction, error)


class HavenModal(discord.ui.Modal):
    async def on_error(  # type: ignore[override]  # Modal's on_error takes no item
        self, interaction: discord.Interaction[Any], error: Exception
    ) -> None:
        await handle_error(interaction, error)


def guild_id_of(interaction: discord.Interaction[Any]) -> int:
    """The server an interaction came from; commands that need one are checked earlier."""
    if interaction.guild_id is None:
        raise discord.app_commands.NoPrivateMessage()
    return interaction.guild_id


async def guarded(interaction: discord.Interaction[Any], action: Awaitable[None]) -> None:
    """Run a DynamicItem's action under the error policy (discord.py would only log errors)."""
    try:
        await action
    except Exception as exc:
        await handle_error(interaction, exc)
