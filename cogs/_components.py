"""The one dispatcher for every button, select and modal Haven sends.

Nothing here is kept in memory between a message and its press: the custom_id names a route
(`bot/routes.py`) and carries its fields, so a press works after a restart, and a modal
submitted after a restart or a long pause is still handled — the member's text is never lost.

Every press is checked the same way before a feature sees it:
1. the custom_id decodes to a registered route (else a kind "this button has expired");
2. the server comes from trusted data: the interaction's own server, or — in a DM — a server id
   whose signature binds it to the presser; a mismatch is refused;
3. Haven is still in that server (a DM press arrives on shard 0 whatever its server, so one on
   another process's shard is asked of Discord: `Delivery.guild`), and the presser is a
   *current* member of it (asked of Discord when pressed from a DM; one who left is told
   kindly and their reminders there stop), or a moderator where the route says so; stop
   buttons work for anyone they were made for, even outside the server;
4. errors go through the one policy in `cogs/_replies.py`, so nothing ends in "This
   interaction failed".
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.errors import NeedsServer, NotAllowed, UserError
from bot.messages import Card
from bot.routes import Route
from cogs._replies import handle_error, reply

if TYPE_CHECKING:
    from bot.app import HavenBot

log = logging.getLogger(__name__)


class Stale(UserError):
    def __init__(self) -> None:
        super().__init__(
            "That button is from an older message, or isn't one I recognise, so I left "
            "everything as it was. The commands (like `/checkin`) work any time."
        )


class NotInServer(NotAllowed):
    def __init__(self) -> None:
        super().__init__("I'm not part of that server any more, so this can't do anything there.")


@dataclass
class Press:
    """A verified press: who, in which server, on what, with which values."""

    interaction: discord.Interaction[HavenBot]
    route: Route
    values: dict[str, int | str]
    guild_id: int
    member: discord.Member | None  # None only on routes for "anyone" when they have left
    submitted: dict[str, str | list[str]] = field(default_factory=dict)  # a modal's fields

    @property
    def user_id(self) -> int:
        return self.interaction.user.id

    @property
    def display_name(self) -> str:
        """Their server nickname: what the server knows them by, never the account-wide name."""
        return (self.member or self.interaction.user).display_name

    def value(self, name: str) -> int:
        value = self.values[name]
        assert isinstance(value, int)
        return value

    def text(self, name: str) -> str:
        value = self.submitted.get(name, "")
        return value if isinstance(value, str) else ""

    def choice(self, name: str) -> str | None:
        value = self.submitted.get(name)
        return value[0] if isinstance(value, list) and value else None


Handler = Callable[[Press], Awaitable[None]]


class Components:
    """Route table and dispatcher. Cogs register handlers in their `setup`."""

    def __init__(self, bot: HavenBot) -> None:
        self._bot = bot
        self._handlers: dict[str, Handler] = {}

    def handle(self, route: Route, handler: Handler) -> None:
        if route.name in self._handlers:
            raise ValueError(f"a handler for {route.name!r} is already registered")
        self._bot.services.routes.add(route)
        self._handlers[route.name] = handler

    def custom_id(self, route: Route, user_id: int | None = None, **values: int | str) -> str:
        return self._bot.services.routes.custom_id(route, user_id, **values)

    async def on_interaction(self, interaction: discord.Interaction[HavenBot]) -> None:
        if interaction.type not in (
            discord.InteractionType.component,
            discord.InteractionType.modal_submit,
        ):
            return
        data: dict[str, Any] = dict(interaction.data or {})
        # Every id is ours: Haven keeps no views in memory, so an id it can't read (an old
        # format, a forged prefix) gets the kind "older message" reply, never silence.
        custom_id = str(data.get("custom_id", ""))
        try:
            press = await self._verify(interaction, custom_id)
            await self._handlers[press.route.name](press)
        except UserError as exc:
            typed = [v for v in _submitted(data).values() if isinstance(v, str) and v.strip()]
            if interaction.type is discord.InteractionType.modal_submit and typed:
                await _refuse_keeping_text(interaction, exc.message, typed)
            else:
                await handle_error(interaction, exc)
        except Exception as exc:
            await handle_error(interaction, exc)

    async def _verify(self, interaction: discord.Interaction[HavenBot], custom_id: str) -> Press:
        services = self._bot.services
        user_id = interaction.user.id
        decoded = services.routes.decode(custom_id, user_id)
        if decoded is None or decoded.route.name not in self._handlers:
            raise Stale()
        route = decoded.route
        if route.signed and not decoded.signature_ok:
            log.warning("refused a press with a bad signature on route %s", route.name)
            raise Stale()
        claimed = decoded.values.get("guild")
        guild_id = interaction.guild_id
        if guild_id is None:
            # A DM: only a signed server id is trusted.
            if not isinstance(claimed, int):
                raise NeedsServer()
            if not route.signed:
                raise Stale()
            guild_id = claimed
        elif claimed is not None and claimed != guild_id:
            raise Stale()
        # A DM press comes to shard 0 whatever server it is about: that server may be on
        # another process's shard, so "not cached here" is asked of Discord, not assumed.
        guild = await services.delivery.guild(guild_id)
        if guild is None:
            raise NotInServer()
        member: discord.Member | None
        if isinstance(interaction.user, discord.Member) and interaction.guild_id == guild_id:
            member = interaction.user
        else:
            try:
                member = await services.delivery.member(guild_id, user_id, fresh=True)
            except (discord.NotFound, discord.Forbidden):
                # Discord refused Haven that server: removed since it was last asked about?
                if await services.delivery.guild(guild_id) is None:
                    raise NotInServer() from None
                raise
        if member is None and route.who != "anyone":
            raise NotAllowed(
                f"You're no longer a member of **{discord.utils.escape_markdown(guild.name)}**, "
                "so I can't do that there. I've stopped anything I was sending you from it."
            )
        if route.who == "moderator" and not interaction.permissions.manage_guild:
            raise app_commands.MissingPermissions(["manage_guild"])
        return Press(
            interaction,
            route,
            decoded.values,
            guild_id,
            member,
            _submitted(interaction.data or {}),
        )


def _submitted(data: Any) -> dict[str, str | list[str]]:
    """A modal's values by custom_id, found at any depth (rows, labels)."""
    found: dict[str, str | list[str]] = {}
    stack = list(reversed(data.get("components") or []))
    while stack:  # depth first, in the form's order
        component = stack.pop()
        if not isinstance(component, dict):
            continue
        stack.extend(reversed(component.get("components") or []))
        if "component" in component:
            stack.append(component["component"])
        custom_id = component.get("custom_id")
        if custom_id and "value" in component:
            found[custom_id] = str(component["value"])
        elif custom_id and "values" in component:
            found[custom_id] = [str(v) for v in component["values"]]
    return found


async def _refuse_keeping_text(
    interaction: discord.Interaction[Any], message: str, typed: list[str]
) -> None:
    """A form Haven could not use: say why, and hand back what they wrote so nothing is lost.

    Each text comes back verbatim in a code block (one message each, so a long form fits).
    """
    for n, text in enumerate(typed):
        fenced = "```\n" + text.replace("```", "`\u200b`\u200b`") + "\n```"
        card = Card(fenced, title="What you wrote, to copy")
        await reply(interaction, message if n == 0 else None, cards=[card])


def buttons_view(*buttons: discord.ui.Button[Any]) -> discord.ui.View:
    """A view to send and forget: presses reach the dispatcher by custom_id, not this object."""
    view = discord.ui.View(timeout=None)
    for button in buttons:
        view.add_item(button)
    view.stop()  # a stopped view is sent but never stored in memory
    return view


async def open_modal(interaction: discord.Interaction[Any], modal: discord.ui.Modal) -> None:
    """Show a modal whose submit is routed by its custom_id (set by the caller), not kept here."""
    modal.stop()
    await interaction.response.send_modal(modal)
