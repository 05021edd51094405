"""Plain descriptions of messages Haven sends on its own (not as an interaction reply).

Feature services build these without importing discord; `bot.delivery` renders and sends them.
Buttons carry only a custom_id: the cogs register persistent handlers (DynamicItems) for those
ids, so a click works even after a restart.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal, Protocol

ButtonStyle = Literal["primary", "secondary", "success", "danger"]


@dataclass(frozen=True)
class Button:
    custom_id: str
    label: str
    style: ButtonStyle = "secondary"
    emoji: str | None = None


@dataclass(frozen=True)
class Card:
    """An embed: a titled block of text."""

    description: str
    title: str | None = None
    footer: str | None = None
    colour: int | None = None


@dataclass(frozen=True)
class Outgoing:
    content: str | None = None
    cards: tuple[Card, ...] = ()
    buttons: tuple[Button, ...] = ()
    # Users that may actually be pinged (everyone else, @everyone and roles never are).
    ping_users: tuple[int, ...] = ()


class Delivered(enum.Enum):
    """What became of one delivery."""

    SENT = "sent"
    ALREADY_SENT = "already_sent"  # the ledger says it went out before (a retry or a restart)
    DM_CLOSED = "dm_closed"  # the member's DMs refuse us; callers fall back or tell them later
    NO_ACCESS = "no_access"  # channel gone, or Haven may not post there
    FAILED = "failed"  # Discord kept failing (5xx, network) after its own retries

    @property
    def ok(self) -> bool:
        return self in (Delivered.SENT, Delivered.ALREADY_SENT)


class Sender(Protocol):
    """What feature services need from `bot.delivery.Delivery` (kept discord-free)."""

    async def to_channel(
        self,
        key: str,
        channel_id: int,
        message: Outgoing,
        *,
        guild_id: int | None,
        user_id: int | None = None,
    ) -> Delivered: ...

    async def to_member(
        self, key: str, user_id: int, message: Outgoing, *, guild_id: int | None
    ) -> Delivered: ...

    async def dm_closed(self, user_id: int) -> bool: ...

    async def reopen_dm(self, user_id: int) -> None: ...

    def guild_name(self, guild_id: int) -> str: ...
