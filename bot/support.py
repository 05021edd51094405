"""`/support`: the server's resources, a grounding practice, and a reach-out on request.

Nothing here is automatic. A moderator hears about a member only when that member presses
"Ask a moderator to reach out", and the notice carries no check-in content — just who asked.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass

from bot.distress import parse_extra_phrases
from bot.features import Features
from bot.guilds import Guilds
from bot.messages import Card, Outgoing, Palette
from bot.outgoing import Delivered, Sender
from bot.routes import Route
from bot.texts import Texts, plain
from bot.timeutil import Clock, discord_timestamp, utcnow

RESOURCES_FILE = "support_resources.md"
GROUNDING_FILE = "grounding.txt"

# "Ask a moderator to reach out": the first press says who will see it, the second sends it.
# Both carry the server, signed for the member, so they work from a check-in made in a DM too.
ASK = Route("support:ask", fields=(("guild", "id"),), signed=True)
SEND = Route("support:send", fields=(("guild", "id"),), signed=True)
NOT_NOW = Route("support:not-now", fields=(("guild", "id"),), signed=True)
EDIT_RESOURCES = Route("support:resources", who="moderator")


@dataclass(frozen=True)
class SupportCard:
    resources: str
    grounding: str
    server_specific: bool  # False: Haven's default text (the server has not written its own)


class ReachOut(enum.Enum):
    SENT = "sent"
    ALREADY_ASKED = "already_asked"  # asked within the last hour; moderators already know
    NO_MOD_CHANNEL = "no_mod_channel"
    UNDELIVERABLE = "undeliverable"


class Support:
    def __init__(
        self, guilds: Guilds, texts: Texts, sender: Sender, *, clock: Clock = utcnow
    ) -> None:
        self._guilds = guilds
        self._texts = texts
        self._sender = sender
        self._clock = clock

    def contribute(self, features: Features) -> None:
        features.privacy(
            "see",
            "If you ask for a reach-out, moderators see only that you asked — after I've told "
            "you who will see it, and only if you confirm.",
        )

    async def resources(self, guild_id: int | None) -> tuple[str, bool]:
        """The server's own resources text if it has one, else Haven's default."""
        if guild_id is not None:
            custom = (await self._guilds.get(guild_id)).resources
            if custom:
                return custom, True
        return self._texts.text(RESOURCES_FILE), False

    async def set_resources(self, guild_id: int, text: str, phrases: str = "") -> str | None:
        """Save the server's own resources and its own words that show them privately, both or
        neither (a refusal changes nothing). Empty resources (or Haven's default, unchanged)
        clear them; returns what `/support` shows now, None for the default."""
        if text.strip() == self._texts.text(RESOURCES_FILE):
            text = ""
        words = "\n".join(parse_extra_phrases(phrases)) or None
        config = await self._guilds.update(guild_id, resources=text, distress_phrases=words)
        return config.resources

    async def card(self, guild_id: int | None) -> SupportCard:
        resources, custom = await self.resources(guild_id)
        grounding = random.choice(self._texts.entries(GROUNDING_FILE))
        return SupportCard(resources, grounding, custom)

    async def moderators_channel(self, guild_id: int) -> int | None:
        return (await self._guilds.get(guild_id)).mod_channel_id

    async def ask_moderator(self, guild_id: int, user_id: int, display_name: str) -> ReachOut:
        """Tell the moderators' channel that this member would welcome someone reaching out."""
        config = await self._guilds.get(guild_id)
        if config.mod_channel_id is None:
            return ReachOut.NO_MOD_CHANNEL
        now = self._clock()
        # One notice per member per hour: pressing again must not flood the moderators.
        key = f"support-reach:{guild_id}:{user_id}:{now:%Y-%m-%dT%H}"
        notice = Outgoing(
            cards=(
                Card(
                    colour=Palette.SUPPORT,
                    title="🤍 A member would welcome a reach-out",
                    description=(
                        f"**{plain(display_name, 80)}** (<@{user_id}>) asked for someone to "
                        "reach out. That is all they shared; Haven never passes on check-ins.\n\n"
                        "A gentle, no-pressure DM is a good start, for example: *“Hi, I saw you "
                        "asked for someone to reach out. I'm here if you'd like to talk — no "
                        f"rush.”*\n\nAsked {discord_timestamp(now, 'R')}."
                    ),
                ),
            )
        )
        result = await self._sender.to_channel(
            key, config.mod_channel_id, notice, guild_id=guild_id, about_id=user_id
        )
        if result is Delivered.SENT:
            return ReachOut.SENT
        if result is Delivered.ALREADY_SENT:
            return ReachOut.ALREADY_ASKED
        return ReachOut.UNDELIVERABLE
