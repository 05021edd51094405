"""The "stop these" button every DM carries, and its "start them again".

Stopping works for the member the DM was sent to even after they left the server (the route
is for "anyone" it was signed for); what stopping means belongs to each kind of DM
(`bot/dm_stops.py`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord

from bot.dm_stops import RESUME, STOP
from cogs._components import Press, buttons_view
from cogs._replies import reply

if TYPE_CHECKING:
    from bot.app import HavenBot


async def stop(press: Press) -> None:
    bot = press.interaction.client
    kind = str(press.values["kind"])
    dm_stops = bot.services.dm_stops
    said = await dm_stops.stop(press.guild_id, press.user_id, kind)
    view = None
    if dm_stops.can_resume(kind) and press.member is not None:
        again = discord.ui.Button[Any](
            label="Start them again",
            custom_id=bot.components.custom_id(
                RESUME, press.user_id, guild=press.guild_id, kind=kind
            ),
        )
        view = buttons_view(again)
    await reply(press.interaction, said, view=view)


async def resume(press: Press) -> None:
    await press.interaction.client.services.dm_stops.resume(
        press.guild_id, press.user_id, str(press.values["kind"])
    )
    await reply(press.interaction, "They're back on. The button on each one stops them again.")


async def setup(bot: HavenBot) -> None:
    bot.components.handle(STOP, stop)
    bot.components.handle(RESUME, resume)
