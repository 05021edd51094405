"""Interaction envelopes (what INTERACTION_CREATE carries) and the test-facing handle."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .world import ATTACHMENT_SIZE_LIMIT, JSON, World

if TYPE_CHECKING:
    from .models import Call, Message

PING, APPLICATION_COMMAND, MESSAGE_COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 1, 2, 3, 4, 5
# What the bot may do in a DM (view, send, embed, attach, history, reactions, external emoji).
DM_APP_PERMISSIONS = (
    (1 << 10) | (1 << 11) | (1 << 14) | (1 << 15) | (1 << 16) | (1 << 6) | (1 << 18)
)


REJECTION_GRACE = 0.5


def envelope(
    world: World,
    *,
    interaction_id: int,
    token: str,
    itype: int,
    data: JSON,
    user_id: int,
    guild_id: int | None,
    channel_id: int,
    message: JSON | None = None,
) -> JSON:
    env: JSON = {
        "id": str(interaction_id),
        "application_id": str(world.app_id),
        "type": itype,
        "token": token,
        "version": 1,
        "locale": "en-US",
        "entitlements": [],
        "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
        "channel_id": str(channel_id),
        "data": data,
    }
    if guild_id is not None:
        perms = world.permissions(guild_id, user_id, channel_id)
        env.update(
            guild_id=str(guild_id),
            guild={"id": str(guild_id), "locale": "en-US", "features": []},
            guild_locale="en-US",
            channel=world.channel_payload(channel_id, permissions_for=user_id),
            member=world.member_payload(guild_id, user_id, permissions=perms),
            app_permissions=str(world.permissions(guild_id, world.bot_id, channel_id)),
            authorizing_integration_owners={"0": str(guild_id)},
            context=0,
        )
    else:
        env.update(
            channel=world.channel_payload(channel_id),
            user=world.user_payload(user_id),
            app_permissions=str(DM_APP_PERMISSIONS),
            authorizing_integration_owners={"0": "0"},
            context=1,
        )
    if message is not None:
        env["message"] = message
    return env


def new_token(interaction_id: int) -> str:
    return f"aW50ZXJhY3Rpb24{interaction_id}:{secrets.token_urlsafe(48)}"


class Interaction:
    """Handle on one dispatched interaction: what the bot answered, and when."""

    def __init__(
        self,
        *,
        interaction_id: int,
        token: str,
        itype: int,
        user_id: int,
        guild_id: int | None,
        channel_id: int,
        payload: JSON,
        source_message: Message | None = None,
        opened_by: Interaction | None = None,
        command_name: str | None = None,
    ) -> None:
        self.id = interaction_id
        self.token = token
        self.type = itype
        self.user_id = user_id
        self.guild_id = guild_id
        self.channel_id = channel_id
        self.payload = payload
        self.data: JSON = payload.get("data", {})
        self.source_message = source_message
        self.opened_by = opened_by
        self.command_name = command_name
        self.dispatched_at = 0.0
        self.callback_at: float | None = None
        self.callback_body: JSON | None = None
        self.attempted = False  # any callback POST arrived (accepted or not)
        self.original: Message | None = None  # @original (type 4/5 response)
        self.messages: list[Message] = []
        self.followup_messages: list[Message] = []
        self.rejections: list[Call] = []
        self._reply: Message | None = None
        self._changed = asyncio.Event()

    def __repr__(self) -> str:
        return (
            f"<Interaction id={self.id} type={self.type} user={self.user_id} "
            f"command={self.command_name!r} callback={self.callback_type}>"
        )

    @property
    def callback_type(self) -> int | None:
        return None if self.callback_body is None else int(self.callback_body.get("type", 0))

    @property
    def latency(self) -> float | None:
        """Seconds from dispatch to the accepted initial callback."""
        return None if self.callback_at is None else self.callback_at - self.dispatched_at

    # ---- bookkeeping (used by the server) ---------------------------------------------------
    def notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def add_message(self, msg: Message) -> None:
        if msg not in self.messages:
            self.messages.append(msg)

    def set_reply(self, msg: Message) -> None:
        if self._reply is None:
            self._reply = msg

    # ---- waiting ------------------------------------------------------------------------------
    async def _wait(self, ready: Callable[[], Any], timeout: float, what: str) -> Any:  # noqa: ASYNC109 - public API name
        deadline = time.monotonic() + timeout
        grace: float | None = None
        while True:
            value = ready()
            if value is not None:
                return value
            now = time.monotonic()
            if self.rejections:
                # The fake rejected something the bot sent for this interaction: fail fast,
                # after a short grace for a bot that recovers (e.g. an error handler's answer).
                grace = now + REJECTION_GRACE if grace is None else grace
                if now >= grace:
                    raise AssertionError(
                        f"{self!r}: no {what}; the fake rejected the bot's answer: "
                        + "; ".join(str(c) for c in self.rejections)
                    )
            remaining = min(deadline, grace or deadline) - now
            if remaining <= 0:
                raise TimeoutError(f"{self!r}: no {what} within {timeout}s")
            event = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)

    async def callback(self, timeout: float = 5.0) -> JSON:  # noqa: ASYNC109 - public API name
        """The bot's accepted initial response body ``{"type": .., "data": ..}``."""
        result: JSON = await self._wait(lambda: self.callback_body, timeout, "callback")
        return result

    async def reply(self, timeout: float = 5.0) -> Message:  # noqa: ASYNC109 - public API name
        """The visible answer: the type-4 message; after a defer, the first edit of @original
        or first follow-up; after type 7, the updated message."""
        result: Message = await self._wait(lambda: self._reply, timeout, "reply")
        return result

    async def modal(self, timeout: float = 5.0) -> JSON:  # noqa: ASYNC109 - public API name
        body = await self.callback(timeout)
        if body.get("type") != 9:
            raise AssertionError(f"{self!r}: expected a modal (type 9), got {body}")
        data: JSON = body["data"]
        return data

    async def choices(self, timeout: float = 5.0) -> list[JSON]:  # noqa: ASYNC109 - public API name
        body = await self.callback(timeout)
        if body.get("type") != 8:
            raise AssertionError(f"{self!r}: expected autocomplete choices (type 8), got {body}")
        choices: list[JSON] = body.get("data", {}).get("choices", [])
        return choices

    async def followups(self, n: int = 1, timeout: float = 5.0) -> list[Message]:  # noqa: ASYNC109 - public API name
        def ready() -> list[Message] | None:
            return list(self.followup_messages) if len(self.followup_messages) >= n else None

        result: list[Message] = await self._wait(ready, timeout, f"{n} follow-up(s)")
        return result


def interaction_metadata(ix: Interaction, world: World) -> JSON:
    meta: JSON = {
        "id": str(ix.id),
        "type": ix.type,
        "user": world.user_payload(ix.user_id),
        "authorizing_integration_owners": {"0": str(ix.guild_id or 0)},
    }
    if ix.command_name is not None:
        meta["name"] = ix.command_name
    if ix.source_message is not None:
        meta["interacted_message_id"] = str(ix.source_message.id)
    return meta
