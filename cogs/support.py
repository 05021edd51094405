"""`/support`: resources, a grounding practice and, on request only, a moderator reach-out."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.support import ReachOut, SupportCard
from cogs._replies import reply
from cogs._views import guarded, guild_id_of

if TYPE_CHECKING:
    from bot.app import HavenBot

CALM = discord.Colour(0x7BA7A0)


def support_embeds(card: SupportCard, *, in_server: bool) -> list[discord.Embed]:
    resources = discord.Embed(
        title="You don't have to hold this alone", description=card.resources, colour=CALM
    )
    if not card.server_specific and in_server:
        resources.set_footer(
            text="Moderators can add this server's own resources: /haven resources"
        )
    grounding = discord.Embed(title="A moment to ground", description=card.grounding, colour=CALM)
    return [resources, grounding]


class AskModeratorButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"haven:support:reach"
):
    """Pressed by a member who would welcome a moderator reaching out. Works after restarts."""

    def __init__(self) -> None:
        super().__init__(
            discord.ui.Button(
                label="Ask a moderator to reach out",
                emoji="🤍",
                style=discord.ButtonStyle.primary,
                custom_id="haven:support:reach",
            )
        )

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> AskModeratorButton:
        return cls()

    async def callback(self, interaction: discord.Interaction[HavenBot]) -> None:  # type: ignore[override]
        await guarded(interaction, self._ask(interaction))

    async def _ask(self, interaction: discord.Interaction[HavenBot]) -> None:
        support = interaction.client.services.support
        user = interaction.user
        result = await support.ask_moderator(guild_id_of(interaction), user.id, user.display_name)
        await reply(interaction, REACH_OUT_REPLIES[result])


REACH_OUT_REPLIES = {
    ReachOut.SENT: (
        "I've let the moderators know you'd welcome someone reaching out. I didn't share "
        "anything else. You don't need to explain more than you want to. 🤍"
    ),
    ReachOut.ALREADY_ASKED: (
        "The moderators already know you'd welcome a reach-out — I told them a little while "
        "ago. Someone will be in touch. In the meantime, the resources above are always here."
    ),
    ReachOut.NO_MOD_CHANNEL: (
        "This server hasn't set up a moderators' channel for Haven yet, so I can't pass this "
        "on. Please message a moderator directly — and the resources above are there for you "
        "right now."
    ),
    ReachOut.UNDELIVERABLE: (
        "I couldn't reach the moderators' channel just now, I'm sorry. Please message a "
        "moderator directly — and the resources above are there for you right now."
    ),
}


class SupportCog(commands.Cog):
    def __init__(self, bot: HavenBot) -> None:
        self.bot = bot

    @app_commands.command(name="support")
    async def support(self, interaction: discord.Interaction[HavenBot]) -> None:
        """Find support resources, a grounding practice, and a way to ask for a reach-out."""
        card = await self.bot.services.support.card(interaction.guild_id)
        in_server = interaction.guild_id is not None
        view = None
        if in_server:
            view = discord.ui.View(timeout=None)
            view.add_item(AskModeratorButton())
        await reply(interaction, embeds=support_embeds(card, in_server=in_server), view=view)


async def setup(bot: HavenBot) -> None:
    bot.add_dynamic_items(AskModeratorButton)
    await bot.add_cog(SupportCog(bot))
