"""`/support`: resources, a grounding practice and, on request only, a moderator reach-out."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from bot.guilds import RESOURCES_MAX
from bot.messages import Card, Palette
from bot.support import ASK, EDIT_RESOURCES, NOT_NOW, SEND, ReachOut, SupportCard
from cogs._components import Press, buttons_view, open_modal
from cogs._replies import reply
from cogs._views import guild_id_of

if TYPE_CHECKING:
    from bot.app import HavenBot


def support_cards(card: SupportCard, *, in_server: bool) -> list[Card]:
    footer = None
    if not card.server_specific and in_server:
        footer = "Moderators can add this server's own resources: /haven resources"
    return [
        Card(
            card.resources,
            title="You don't have to hold this alone",
            colour=Palette.SUPPORT,
            footer=footer,
        ),
        Card(card.grounding, title="A moment to ground", colour=Palette.SUPPORT),
    ]


def ask_button(custom_id: str) -> discord.ui.Button[Any]:
    return discord.ui.Button(
        label="Ask a moderator to reach out",
        emoji="🤍",
        style=discord.ButtonStyle.primary,
        custom_id=custom_id,
    )


async def ask(press: Press) -> None:
    """First press: say exactly who will see the request, and send nothing yet."""
    bot = press.interaction.client
    channel_id = await bot.services.support.moderators_channel(press.guild_id)
    if channel_id is None:
        await reply(press.interaction, REACH_OUT_REPLIES[ReachOut.NO_MOD_CHANNEL])
        return
    # Pressed in a DM (on shard 0), the server may be on another process's shard: looked up
    # through delivery, which asks Discord then.
    try:
        channel = await bot.services.delivery.channel(press.guild_id, channel_id)
    except (TimeoutError, discord.HTTPException, aiohttp.ClientError):
        channel = None
    where = f"**#{discord.utils.escape_markdown(channel.name)}**" if channel else "their channel"
    send = discord.ui.Button[Any](
        label="Yes, let them know",
        style=discord.ButtonStyle.primary,
        custom_id=bot.components.custom_id(SEND, press.user_id, guild=press.guild_id),
    )
    not_now = discord.ui.Button[Any](
        label="Not now",
        custom_id=bot.components.custom_id(NOT_NOW, press.user_id, guild=press.guild_id),
    )
    await reply(
        press.interaction,
        f"If you'd like, I'll post a short note in the moderators' channel ({where}), which "
        f"this server's moderators can read. It says only that **{_name(press)}** would "
        "welcome someone reaching out — nothing from your check-ins.\n"
        "The moderators are volunteers, so I can't promise when or whether someone will "
        "write; the resources are there for you in the meantime. Shall I send it?",
        view=buttons_view(send, not_now),
    )


async def send(press: Press) -> None:
    support = press.interaction.client.services.support
    result = await support.ask_moderator(press.guild_id, press.user_id, press.display_name)
    await reply(press.interaction, REACH_OUT_REPLIES[result])


async def not_now(press: Press) -> None:
    await reply(
        press.interaction, "Okay — nothing was sent. The button stays here if you change your mind."
    )


def _name(press: Press) -> str:
    return discord.utils.escape_markdown(press.display_name)


REACH_OUT_REPLIES = {
    ReachOut.SENT: (
        "I've let the moderators know you'd welcome someone reaching out. I didn't share "
        "anything else. They're volunteers, so it may take a while; you don't need to explain "
        "more than you want to. 🤍"
    ),
    ReachOut.ALREADY_ASKED: (
        "The moderators already know you'd welcome a reach-out — I told them a little while "
        "ago, so I haven't sent it again. The resources are always here in the meantime."
    ),
    ReachOut.NO_MOD_CHANNEL: (
        "This server hasn't set up a moderators' channel for Haven yet, so I can't pass this "
        "on. If you feel able to, you could message a moderator directly — and the resources "
        "are there for you right now."
    ),
    ReachOut.UNDELIVERABLE: (
        "I couldn't reach the moderators' channel just now, I'm sorry. If you feel able to, "
        "you could message a moderator directly — and the resources are there for you right now."
    ),
}


class SupportModeration(commands.Cog):
    """`/haven resources`, mixed into the `/haven` group (cogs/haven.py)."""

    bot: HavenBot

    @app_commands.command(name="resources")
    async def resources(self, interaction: discord.Interaction[HavenBot]) -> None:
        """Edit the support resources /support shows, and words that show them privately."""
        guild_id = guild_id_of(interaction)
        support = self.bot.services.support
        current, _ = await support.resources(guild_id)
        phrases = (await self.bot.services.guilds.get(guild_id)).distress_phrases or ""
        custom_id = self.bot.components.custom_id(EDIT_RESOURCES)
        await open_modal(interaction, ResourcesModal(custom_id, current, phrases))


class ResourcesModal(discord.ui.Modal, title="Support resources"):
    """Routed by custom_id, so a long edit survives a restart of the bot."""

    def __init__(self, custom_id: str, current: str, phrases: str) -> None:
        super().__init__(timeout=None, custom_id=custom_id)
        self.add_item(
            discord.ui.TextInput(
                label="What /support shows members",
                custom_id="resources",
                style=discord.TextStyle.paragraph,
                default=current[:RESOURCES_MAX],
                max_length=RESOURCES_MAX,
                required=False,
                placeholder="Crisis lines for your members' countries, local services, who to ask",
            )
        )
        self.add_item(
            discord.ui.TextInput(
                label="Your own words that show them (optional)",
                custom_id="phrases",
                style=discord.TextStyle.paragraph,
                default=phrases[:PHRASES_MAX] or None,
                max_length=PHRASES_MAX,
                required=False,
                placeholder="One per line. When a private note holds one, the card appears.",
            )
        )


PHRASES_MAX = 2000


async def resources_saved(press: Press) -> None:
    support = press.interaction.client.services.support
    saved = await support.set_resources(
        press.guild_id, press.text("resources"), press.text("phrases")
    )
    if saved is None:
        await reply(
            press.interaction, "Cleared — `/support` shows Haven's general resources again."
        )
        return
    preview = Card(saved, title="Saved — /support now shows:", colour=Palette.SUPPORT)
    await reply(press.interaction, cards=[preview])


class SupportCog(commands.Cog):
    def __init__(self, bot: HavenBot) -> None:
        self.bot = bot

    @app_commands.command(name="support")
    async def support(self, interaction: discord.Interaction[HavenBot]) -> None:
        """Find support resources, a grounding practice, and a way to ask for a reach-out."""
        card = await self.bot.services.support.card(interaction.guild_id)
        guild_id = interaction.guild_id
        view = None
        if guild_id is not None:
            custom_id = self.bot.components.custom_id(ASK, interaction.user.id, guild=guild_id)
            view = buttons_view(ask_button(custom_id))
        cards = support_cards(card, in_server=guild_id is not None)
        await reply(interaction, cards=cards, view=view)


async def setup(bot: HavenBot) -> None:
    for route, handler in (
        (ASK, ask),
        (SEND, send),
        (NOT_NOW, not_now),
        (EDIT_RESOURCES, resources_saved),
    ):
        bot.components.handle(route, handler)
    await bot.add_cog(SupportCog(bot))
