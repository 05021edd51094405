"""What feature services need from delivery, without importing discord: `Sender`, the
`Delivered` outcomes, the ways to reach someone (`Dm`, `Post`) and a scheduled event described
as data (`EventSpec`). The messages themselves are described in `bot/messages.py`.

Buttons carry only a custom_id (built from a route, `bot/routes.py`): the one dispatcher in
`cogs/_components.py` handles presses by that id, so a click works even after a restart.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeAlias

from bot.messages import Outgoing


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

    @property
    def unreachable(self) -> bool:
        """This way could not reach them, so the next way may (`Sender.to_first`).

        Never true of a choice (resting, stopped) or of a member who left: the next way would
        only reach them against their wishes. Nor of a passing failure (FAILED: Discord's 5xx
        after its own retries): the next way is often a public mention, which a hiccup does
        not justify; the caller retries the DM instead.
        """
        return self in (Delivered.DM_CLOSED, Delivered.NO_ACCESS)


@dataclass(frozen=True)
class Dm:
    """Reach a member by DM, through the gate (`Sender.to_member`) with its stop button."""

    user_id: int
    kind: str


@dataclass(frozen=True)
class Post:
    """Reach people in a server channel or thread, pinging exactly `ping` (mentions prefixed)."""

    channel_id: int
    ping: tuple[int, ...] = ()


Target: TypeAlias = Dm | Post


@dataclass(frozen=True)
class Reached:
    """What `Sender.to_first` did: the outcome of the way it tried last, and its ledger key
    (for `edit` or `take_down` later). `target` and `key` are None when nothing was tried."""

    outcome: Delivered
    target: Target | None = None
    key: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome.ok


@dataclass(frozen=True)
class EventSpec:
    """A Discord scheduled event as Haven wants it to stand (`Sender.sync_event`).

    In a voice or stage channel (`channel_id`), members join it there; otherwise it is an
    "external" event shown with `location` (or, when that is None, the channel's name).
    Times are aware instants; the texts are shortened to Discord's limits when sent.
    """

    name: str
    start: datetime
    end: datetime
    description: str = ""
    channel_id: int | None = None
    location: str | None = None

    def __post_init__(self) -> None:
        # A caller's bug, not text to trim: Discord would refuse each of these.
        if not self.name.strip():
            raise ValueError("an event needs a name")
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("event times must be aware instants")
        if self.end <= self.start:
            raise ValueError("an event must end after it starts")
        if self.channel_id is None and not (self.location and self.location.strip()):
            raise ValueError("an event needs a channel or a location")


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

    async def to_first(
        self,
        key: str,
        targets: Sequence[Target],
        message: Outgoing,
        *,
        guild_id: int,
        about_id: int | None = None,
    ) -> Reached: ...

    async def edit(self, key: str, message: Outgoing, *, kind: str | None = None) -> Delivered: ...

    async def open_thread(
        self,
        key: str,
        channel_id: int,
        name: str,
        *,
        invite: Sequence[int],
        guild_id: int,
        about_id: int | None = None,
    ) -> int | None: ...

    async def sync_event(self, key: str, guild_id: int, spec: EventSpec | None) -> Delivered: ...

    async def take_down(self, channel_id: int, message_id: int) -> bool: ...

    async def posted(self, key: str) -> tuple[int, int] | None: ...

    async def still_member(self, guild_id: int, user_id: int) -> bool: ...

    async def dm_closed(self, user_id: int) -> bool: ...

    async def reopen_dm(self, user_id: int) -> None: ...

    async def server_name(self, guild_id: int) -> str:
        """The server's name as Discord shows it (DMs have no server context of their own)."""
        ...
