"""Message storage: create/edit/delete, per-channel lists, nonce de-duplication, attachments."""

from __future__ import annotations

import mimetypes
import time
from collections.abc import Iterable
from typing import Any

from .models import EPHEMERAL, LOADING, Attachment, Message
from .validate import Rejected
from .world import JSON, World, iso_now

NONCE_WINDOW = 300.0  # Discord de-duplicates enforce_nonce sends for a few minutes
MESSAGE_KEYS = ("content", "embeds", "components", "allowed_mentions", "poll", "sticker_ids")


def _normalise_embeds(embeds: Iterable[JSON]) -> list[JSON]:
    out = []
    for e in embeds:
        e = dict(e)
        e.setdefault("type", "rich")
        if e.get("fields"):
            e["fields"] = [{"inline": False, **f} for f in e["fields"]]
        out.append(e)
    return out


def _number_components(components: list[Any]) -> list[Any]:
    """Discord assigns a numeric ``id`` to every component that has none."""
    counter = 0
    used = set()

    def walk_used(items: Iterable[Any]) -> None:
        for c in items:
            if isinstance(c, dict):
                if isinstance(c.get("id"), int):
                    used.add(c["id"])
                walk_used(c.get("components") or [])
                for key in ("accessory", "component"):
                    if isinstance(c.get(key), dict):
                        walk_used([c[key]])

    def assign(items: Iterable[Any]) -> list[Any]:
        nonlocal counter
        out = []
        for c in items:
            if not isinstance(c, dict):
                out.append(c)
                continue
            c = dict(c)
            if not isinstance(c.get("id"), int):
                counter += 1
                while counter in used:
                    counter += 1
                c["id"] = counter
            if c.get("components"):
                c["components"] = assign(c["components"])
            for key in ("accessory", "component"):
                if isinstance(c.get(key), dict):
                    c[key] = assign([c[key]])[0]
            out.append(c)
        return out

    walk_used(components)
    return assign(components)


class MessageStore:
    def __init__(self, world: World) -> None:
        self.world = world
        self.by_id: dict[int, Message] = {}
        self.ordered: list[Message] = []  # creation order, for waiting
        self.by_channel: dict[int, list[Message]] = {}
        self.cdn: dict[int, Attachment] = {}
        self.base_url = ""
        self._nonces: dict[tuple[int, int, str], tuple[int, float]] = {}
        self.nonce_duplicates = 0  # sends dropped as repeats of a nonce (answered with the first)

    # ---- attachments ------------------------------------------------------------------------
    def new_attachment(
        self,
        filename: str,
        data: bytes,
        content_type: str | None = None,
        description: str | None = None,
    ) -> Attachment:
        aid = self.world.next_id()
        guessed = mimetypes.guess_type(filename)[0]
        if content_type in (None, "", "application/octet-stream"):
            content_type = guessed or "application/octet-stream"
        att = Attachment(
            filename=filename,
            content_type=content_type,
            data=data,
            id=aid,
            description=description,
            url=f"{self.base_url}/attachments/{aid}/{filename}",
        )
        self.cdn[aid] = att
        return att

    def attachments_for(
        self, body: JSON, files: dict[int, Attachment], existing: list[Attachment]
    ) -> list[Attachment] | None:
        """The message's new attachment list; None = unchanged (no files, no ``attachments``)."""
        spec = body.get("attachments")
        if spec is None:
            if not files:
                return None
            return [*existing, *(self._materialise(f, None) for f in files.values())]
        out: list[Attachment] = []
        old = {a.id: a for a in existing}
        for entry in spec:
            if not isinstance(entry, dict):
                continue
            try:
                aid = int(entry.get("id"))  # type: ignore[arg-type]
            except (TypeError, ValueError):
                continue
            if aid in old:
                out.append(old[aid])
            elif aid in files:
                out.append(self._materialise(files[aid], entry))
            else:
                raise Rejected(
                    400,
                    50035,
                    "Invalid Form Body",
                    {
                        "attachments": {
                            "_errors": [
                                {
                                    "code": "ATTACHMENT_NOT_FOUND",
                                    "message": f"Unknown attachment {aid}",
                                }
                            ]
                        }
                    },
                )
        return out

    def _materialise(self, part: Attachment, entry: JSON | None) -> Attachment:
        filename = (entry or {}).get("filename") or part.filename
        return self.new_attachment(
            filename, part.data, part.content_type, (entry or {}).get("description")
        )

    # ---- nonce ------------------------------------------------------------------------------
    def nonce_hit(self, channel_id: int, author_id: int, body: JSON) -> Message | None:
        nonce = body.get("nonce")
        if nonce is None or not body.get("enforce_nonce"):
            return None
        hit = self._nonces.get((channel_id, author_id, str(nonce)))
        if hit is None or time.monotonic() - hit[1] > NONCE_WINDOW:
            return None
        first = self.by_id.get(hit[0])
        if first is not None:
            self.nonce_duplicates += 1
        return first

    # ---- create/edit ------------------------------------------------------------------------
    def create(
        self,
        channel_id: int,
        body: JSON,
        attachments: list[Attachment] | None,
        *,
        author_id: int,
        type: int = 0,
        webhook_id: int | None = None,
        interaction_id: int | None = None,
        interaction_metadata: JSON | None = None,
        flags: int | None = None,
        call_index: int = -1,
    ) -> Message:
        msg = Message(
            id=self.world.next_id(),
            channel_id=channel_id,
            author_id=author_id,
            guild_id=self.world.guild_of(channel_id),
            type=type,
            webhook_id=webhook_id,
            interaction_id=interaction_id,
            interaction_metadata=interaction_metadata,
            timestamp=iso_now(),
            nonce=body.get("nonce"),
            tts=bool(body.get("tts")),
            flags=int(body.get("flags") or 0) if flags is None else flags,
            message_reference=body.get("message_reference"),
            call_index=call_index,
            world=self.world,
        )
        self._apply(msg, body, attachments)
        self.by_id[msg.id] = msg
        self.ordered.append(msg)
        self.by_channel.setdefault(channel_id, []).append(msg)
        ch = self.world.channels.get(channel_id)
        if ch is not None and not msg.ephemeral:
            ch.last_message_id = msg.id
            ch.message_count += 1
        if msg.nonce is not None and body.get("enforce_nonce"):
            self._nonces[(channel_id, author_id, str(msg.nonce))] = (msg.id, time.monotonic())
        return msg

    def _apply(self, msg: Message, body: JSON, attachments: list[Attachment] | None) -> None:
        if "content" in body:
            msg.content = body.get("content") or ""
        if "embeds" in body:
            msg.embeds = _normalise_embeds(body.get("embeds") or [])
        if "components" in body:
            msg.components = _number_components(list(body.get("components") or []))
        if "allowed_mentions" in body:
            msg.allowed_mentions = body.get("allowed_mentions")
        if "poll" in body:
            msg.poll = body.get("poll")
        if "sticker_ids" in body:
            msg.sticker_ids = list(body.get("sticker_ids") or [])
        if attachments is not None:
            msg.attachments = attachments

    def edit(self, msg: Message, body: JSON, attachments: list[Attachment] | None) -> Message:
        """Apply a PATCH. Ephemeral-ness can't be changed; a deferred placeholder stops loading."""
        was_loading = msg.loading
        self._apply(msg, body, attachments)
        if body.get("flags") is not None:
            msg.flags = (int(body["flags"]) & ~(EPHEMERAL | LOADING)) | (
                msg.flags & (EPHEMERAL | LOADING)
            )
        msg.flags &= ~LOADING
        if not was_loading:
            msg.edited_timestamp = iso_now()
        return msg

    def delete(self, msg: Message) -> None:
        msg.deleted = True

    # ---- reading ----------------------------------------------------------------------------
    @staticmethod
    def visible(msg: Message) -> bool:
        return not (msg.deleted or msg.ephemeral or msg.loading)

    def in_channel(self, channel_id: int) -> list[Message]:
        return [m for m in self.by_channel.get(channel_id, []) if self.visible(m)]

    def get(self, channel_id: int, message_id: int) -> Message:
        msg = self.by_id.get(message_id)
        if msg is None or msg.deleted or msg.channel_id != channel_id or msg.ephemeral:
            raise Rejected(404, 10008, "Unknown Message")
        return msg
