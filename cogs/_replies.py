"""Replying to interactions, and the one policy that turns errors into kind replies.

`reply()` works whatever state the interaction is in: it answers a fresh interaction and uses a
follow-up once it was answered or deferred (a second `response.send_message` would fail).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from typing import Any

import discord
from discord import app_commands

from bot.delivery import render_card
from bot.errors import NeedsServer, UserError
from bot.messages import Card, Outgoing, fit

log = logging.getLogger(__name__)

MISSING: Any = discord.utils.MISSING


async def reply(
    interaction: discord.Interaction[Any],
    content: str | None = None,
    *,
    cards: Sequence[Card] = (),
    view: discord.ui.View | None = None,
    file: discord.File | None = None,
    ephemeral: bool = True,
) -> None:
    """Answer privately (by default), with mentions disabled by the client's default.

    Text and cards go through `bot.messages.fit`, so a reply fits Discord's limits whatever the
    member wrote or the server configured.
    """
    message = fit(Outgoing(content=content, cards=tuple(cards)))
    content = message.content
    kwargs: dict[str, Any] = {
        "embeds": [render_card(card) for card in message.cards] or MISSING,
        "view": view or MISSING,
        "file": file or MISSING,
        "ephemeral": ephemeral,
    }
    if interaction.response.is_done():
        await interaction.followup.send(content or MISSING, **kwargs)
    else:
        await interaction.response.send_message(content, **kwargs)


async def think(interaction: discord.Interaction[Any]) -> None:
    """Acknowledge now, privately, when what follows may outlast Discord's three seconds
    (telling a circle's members, say); `reply()` then answers as a follow-up, and so does
    the error policy."""
    if not interaction.response.is_done():
        await interaction.response.defer(ephemeral=True, thinking=True)


def user_message(error: BaseException) -> str | None:
    """The kind message for an expected error, or None when it is unexpected."""
    original = getattr(error, "original", None) or error
    if isinstance(original, UserError):
        return original.message
    if isinstance(error, app_commands.NoPrivateMessage):
        return NeedsServer().message
    if isinstance(error, app_commands.MissingPermissions):
        return (
            "This is for the server's moderators (it needs the **Manage Server** permission). "
            "If something needs changing, a moderator can help."
        )
    if isinstance(error, app_commands.CommandOnCooldown):
        return f"Let's take a breath — you can do that again in {error.retry_after:.0f} seconds."
    if isinstance(error, app_commands.TransformerError):
        if error.type is discord.AppCommandOptionType.user:
            return (
                "That person isn't a member of this server, so I can't use them here. "
                "Please pick someone from the list Discord shows."
            )
        return (
            f"I couldn't use `{str(error.value)[:50]}` there. "
            "Please pick one of the suggestions Discord shows."
        )
    if isinstance(error, app_commands.CheckFailure):
        return "This isn't available to you here."
    return None


async def handle_error(interaction: discord.Interaction[Any], error: BaseException) -> None:
    """Reply kindly and privately; log the unexpected with an id the member can quote."""
    message = user_message(error)
    if message is None:
        original = getattr(error, "original", None) or error
        if isinstance(original, discord.NotFound) and original.code == 10062:
            log.warning("interaction %s expired before Haven answered", interaction.id)
            return
        error_id = secrets.token_hex(3).upper()
        log.error(
            "unexpected error %s in %s",
            error_id,
            _describe(interaction),
            exc_info=(type(original), original, original.__traceback__),
        )
        message = (
            "Something went wrong on my side — I'm sorry, and it isn't anything you did. "
            f"If it keeps happening, a moderator can look it up with error id `{error_id}`."
        )
    try:
        await reply(interaction, message)
    except discord.HTTPException:
        log.warning("could not tell the member about an error in %s", _describe(interaction))


def _describe(interaction: discord.Interaction[Any]) -> str:
    command = interaction.command.qualified_name if interaction.command else None
    data: dict[str, Any] = dict(interaction.data or {})
    custom_id = data.get("custom_id")
    return f"/{command}" if command else f"component {custom_id!r}"
