"""Records the fake keeps and hands to tests: recorded calls, stored messages, attachments."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .world import JSON

if TYPE_CHECKING:
    from .world import World

USER_MENTION = re.compile(r"<@!?(\d+)>")
ROLE_MENTION = re.compile(r"<@&(\d+)>")
EVERYONE_MENTION = re.compile(r"@(everyone|here)\b")
EPHEMERAL = 64
LOADING = 128
SELECT_TYPES = (3, 5, 6, 7, 8)


@dataclass
class Call:
    """One REST request the fake received, with the answer it gave.

    ``json`` is the logical body (for multipart requests, the parsed ``payload_json``, which is
    also in ``form``); ``path`` is relative to ``/api/v10`` and has no query string.
    """

    method: str
    path: str
    query: dict[str, str]
    json: Any
    form: Any
    files: list[Attachment]
    headers: dict[str, str]
    at: float
    index: int = -1
    status: int = 0
    response: Any = None
    reason: str = ""
    spec_checked: bool = False
    interaction_id: int | None = None  # the interaction a callback/webhook call belongs to

    def __str__(self) -> str:
        text = f"{self.method} {self.path} -> {self.status}"
        if self.reason:
            text += f" ({self.reason})"
        return text


@dataclass
class Attachment:
    filename: str
    content_type: str
    data: bytes
    id: int = 0
    description: str | None = None
    url: str = ""

    @property
    def size(self) -> int:
        return len(self.data)

    def payload(self) -> JSON:
        data: JSON = {
            "id": str(self.id),
            "filename": self.filename,
            "size": self.size,
            "url": self.url,
            "proxy_url": self.url,
            "content_type": self.content_type,
        }
        if self.description is not None:
            data["description"] = self.description
        return data


@dataclass(eq=False)
class Message:
    """A message the bot created (channel message, DM, interaction response or follow-up).

    Treat it as read-only: the fake updates it in place when the bot edits it.
    """

    id: int
    channel_id: int
    author_id: int
    content: str = ""
    embeds: list[JSON] = field(default_factory=list)
    components: list[JSON] = field(default_factory=list)
    flags: int = 0
    attachments: list[Attachment] = field(default_factory=list)
    allowed_mentions: JSON | None = None
    nonce: str | int | None = None
    type: int = 0
    guild_id: int | None = None
    webhook_id: int | None = None
    interaction_id: int | None = None
    interaction_metadata: JSON | None = None
    message_reference: JSON | None = None
    tts: bool = False
    timestamp: str = ""
    edited_timestamp: str | None = None
    deleted: bool = False
    pinned: bool = False
    thread_id: int | None = None
    call_index: int = -1
    poll: JSON | None = None
    sticker_ids: list[Any] = field(default_factory=list)
    world: World | None = field(default=None, repr=False)

    # ---- test helpers ----------------------------------------------------------------------
    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    @property
    def loading(self) -> bool:
        """A deferred ("thinking…") response not yet filled in."""
        return bool(self.flags & LOADING)

    @property
    def text(self) -> str:
        """Content, every embed's visible text and Components-V2 text displays, one per line."""
        parts: list[str] = [self.content] if self.content else []
        for e in self.embeds:
            author = e.get("author") or {}
            parts.append(author.get("name") or "")
            parts.append(e.get("title") or "")
            parts.append(e.get("description") or "")
            for f in e.get("fields") or []:
                parts.append(f.get("name") or "")
                parts.append(f.get("value") or "")
            footer = e.get("footer") or {}
            parts.append(footer.get("text") or "")
        parts.extend(c.get("content") or "" for c in self._walk() if c.get("type") == 10)
        return "\n".join(p for p in parts if p)

    def _walk(self) -> list[JSON]:
        out: list[JSON] = []
        stack: list[Any] = list(reversed(self.components))
        while stack:
            c = stack.pop()
            if not isinstance(c, dict):
                continue
            out.append(c)
            kids: list[Any] = list(c.get("components") or [])
            for key in ("accessory", "component"):
                if isinstance(c.get(key), dict):
                    kids.append(c[key])
            stack.extend(reversed(kids))
        return out

    @property
    def buttons(self) -> list[JSON]:
        return [c for c in self._walk() if c.get("type") == 2]

    @property
    def selects(self) -> list[JSON]:
        return [c for c in self._walk() if c.get("type") in SELECT_TYPES]

    def find_component(self, key: str) -> JSON | None:
        """A button/select by custom_id, else a button by label."""
        items = self.buttons + self.selects
        for c in items:
            if c.get("custom_id") == key:
                return c
        for c in items:
            if c.get("label") == key:
                return c
        return None

    # ---- mentions (what would actually ping) ---------------------------------------------------
    def _parse(self) -> tuple[list[int], list[int], bool]:
        users = list(dict.fromkeys(int(x) for x in USER_MENTION.findall(self.content or "")))
        roles = list(dict.fromkeys(int(x) for x in ROLE_MENTION.findall(self.content or "")))
        everyone = bool(EVERYONE_MENTION.search(self.content or ""))
        return users, roles, everyone

    def _allowed(self, kind: str) -> set[int] | None:
        """None = every parsed mention of this kind pings."""
        am = self.allowed_mentions
        if am is None or kind in (am.get("parse") or []):
            return None
        return {int(x) for x in am.get(kind) or []}

    @property
    def pinged_user_ids(self) -> list[int]:
        users, _, _ = self._parse()
        allowed = self._allowed("users")
        return [u for u in users if allowed is None or u in allowed]

    @property
    def pinged_role_ids(self) -> list[int]:
        _, roles, _ = self._parse()
        allowed = self._allowed("roles")
        return [r for r in roles if allowed is None or r in allowed]

    @property
    def pinged_everyone(self) -> bool:
        _, _, everyone = self._parse()
        am = self.allowed_mentions
        return everyone and (am is None or "everyone" in (am.get("parse") or []))

    # ---- wire format -----------------------------------------------------------------------
    def payload(self) -> JSON:
        """The full message object Discord would return."""
        assert self.world is not None
        w = self.world
        data: JSON = {
            "id": str(self.id),
            "channel_id": str(self.channel_id),
            "type": self.type,
            "content": self.content,
            "author": w.user_payload(self.author_id),
            "timestamp": self.timestamp,
            "edited_timestamp": self.edited_timestamp,
            "tts": self.tts,
            "mention_everyone": self.pinged_everyone,
            "mentions": [w.user_payload(u) for u in self.pinged_user_ids if u in w.users],
            "mention_roles": [str(r) for r in self.pinged_role_ids],
            "mention_channels": [],
            "attachments": [a.payload() for a in self.attachments],
            "embeds": self.embeds,
            "reactions": [],
            "pinned": self.pinned,
            "flags": self.flags,
            "components": self.components,
            "sticker_items": [],
        }
        if self.nonce is not None:
            data["nonce"] = self.nonce
        if self.webhook_id is not None:
            data["webhook_id"] = str(self.webhook_id)
            data["application_id"] = str(self.webhook_id)
        if self.interaction_metadata is not None:
            data["interaction_metadata"] = self.interaction_metadata
        if self.message_reference is not None:
            data["message_reference"] = self.message_reference
        if self.poll is not None:
            data["poll"] = self.poll
        if self.thread_id is not None and self.thread_id in w.channels:
            data["thread"] = w.channel_payload(self.thread_id)
        return data

    def event_payload(self) -> JSON:
        """MESSAGE_CREATE/UPDATE ``d``: the message plus guild_id and the author's member."""
        data = self.payload()
        if self.guild_id is not None:
            data["guild_id"] = str(self.guild_id)
            assert self.world is not None
            guild = self.world.guilds.get(self.guild_id)
            if guild is not None and self.author_id in guild.members and self.webhook_id is None:
                data["member"] = self.world.member_payload(
                    self.guild_id, self.author_id, with_user=False
                )
        return data
