"""What feature services need from delivery, without importing discord: `Sender` and the
`Delivered` outcomes. The messages themselves are described in `bot/messages.py`.

Buttons carry only a custom_id (built from a route, `bot/routes.py`): the one dispatcher in
`cogs/_components.py` handles presses by that id, so a click works even after a restart.
"""

from __future__ import annotations

import enum
from typing import Protocol

from bot.messages import Button, Card, Outgoing

__all__ = ["Button", "Card", "Delivered", "Outgoing", "Sender"]  # TEMPORARY re-export


class Delivered(enum.Enum):
    """What became of one delivery."""

    SENT = "sent"
    ALREADY_SENT = "already_sent"  # the ledger says it went out before (a retry or a restart)
    DM_CLOSED = "dm_closed"  # the member's DMs refuse us; callers fall back or tell them later
    NO_ACCESS = "no_access"  # channel gone, Haven may not post there, or not in the server
    FAILED = "failed"  # Discord kept failing (5xx, network) after its own retries
    LEFT = "left"  # the member is no longer in the server; features were told (Members.left)
    RESTING = "resting"  # paused, or in their quiet hours: no DM now
    STOPPED = "stopped"  # they pressed "stop" on this kind of DM

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
        about_id: int | None = None,
    ) -> Delivered: ...

    async def to_member(
        self,
        key: str,
        user_id: int,
        message: Outgoing,
        *,
        guild_id: int,
        kind: str,
        about_id: int | None = None,
    ) -> Delivered: ...

    async def take_down(self, channel_id: int, message_id: int) -> bool: ...

    async def posted(self, key: str) -> tuple[int, int] | None: ...

    async def dm_closed(self, user_id: int) -> bool: ...

    async def reopen_dm(self, user_id: int) -> None: ...

    def guild_name(self, guild_id: int) -> str: ...
