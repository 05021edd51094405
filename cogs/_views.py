"""Shared UI pieces: day choices, zone and circle autocomplete, the server an interaction came
from, and the base of every server-only command group."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands

from bot.messages import shorten
from bot.recurrence import WEEKDAYS
from bot.timeutil import search_zones

if TYPE_CHECKING:
    from bot.app import HavenBot

# The `days` choices of /my reminder and /haven prompt (values are the public contract).
DAY_CHOICES = [
    discord.app_commands.Choice(name="every day", value="every-day"),
    discord.app_commands.Choice(name="weekdays", value="weekdays"),
    discord.app_commands.Choice(name="weekends", value="weekends"),
]
# The `weekday` choices of /haven circle-create and /haven buddies (values are the contract).
WEEKDAY_CHOICES = [
    discord.app_commands.Choice(name=day.capitalize(), value=day) for day in WEEKDAYS
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


async def circle_choices(
    interaction: discord.Interaction[HavenBot], current: str
) -> list[discord.app_commands.Choice[str]]:
    """Autocomplete for every `circle` option: this server's active circles (value: the id).
    Whatever comes back (a suggestion, a typed name, a tampered id) is resolved with
    `circles.get(guild_id, value)`, which refuses another server's circle."""
    if interaction.guild_id is None:
        return []
    found = await interaction.client.services.circles.choices(interaction.guild_id, current)
    return [
        discord.app_commands.Choice(name=shorten(name, 100), value=value) for name, value in found
    ]


class ServerGroup(commands.GroupCog):
    """A slash-command group that belongs to a server (`/my`, `/circle`, `/host`). Each subclass
    is also `guild_only`, which hides it in DMs; a stale client can still send one, so it is
    refused there at run time too."""

    def __init__(self, bot: HavenBot) -> None:
        self.bot = bot
        super().__init__()

    async def interaction_check(self, interaction: discord.Interaction[Any], /) -> bool:
        guild_id_of(interaction)
        return True
