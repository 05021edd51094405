"""The buttons on circle reminders: "I'll be there" and "Can't make it" (skeleton)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.app import HavenBot


async def setup(bot: HavenBot) -> None:
    del bot
