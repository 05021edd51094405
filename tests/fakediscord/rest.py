"""REST route handlers. Each returns ``(status, json_body_or_None)`` or raises ``Rejected``.

Order inside a mutating handler: find the target → permissions → own validation → OpenAPI
schema check (``fake.spec_check``) → mutate → dispatch the gateway event.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .gateway import DIRECT_MESSAGES, GUILD_MESSAGES, GUILD_SCHEDULED_EVENTS, GUILDS
from .interactions import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    MESSAGE_COMPONENT,
    MODAL_SUBMIT,
    Interaction,
    interaction_metadata,
)
from .models import EPHEMERAL, LOADING, Call, Message
from .validate import (
    FormErrors,
    Rejected,
    message_is_empty,
    validate_choices,
    validate_command,
    validate_commands,
    validate_message,
    validate_modal,
    validate_scheduled_event,
    validate_thread,
)
from .world import (
    ATTACHMENT_SIZE_LIMIT,
    DM,
    FORUM,
    JSON,
    NEWS,
    NEWS_THREAD,
    PRIVATE_THREAD,
    PUBLIC_THREAD,
    TEXT,
    THREAD_TYPES,
    Channel,
    Perm,
    iso_now,
)

if TYPE_CHECKING:
    from .server import FakeDiscord

Result = tuple[int, Any]
Handler = Callable[[Call, dict[str, str]], Awaitable[Result]]
SNOWFLAKE = r"\d{1,20}"

# Which callback types each interaction type accepts (docs: interaction response types).
CALLBACKS_ALLOWED = {
    APPLICATION_COMMAND: {4, 5, 9},
    MESSAGE_COMPONENT: {4, 5, 6, 7, 9},
    AUTOCOMPLETE: {8},
    MODAL_SUBMIT: {4, 5},
}


@dataclass(frozen=True)
class Route:
    method: str
    regex: re.Pattern[str]
    handler: Handler
    webhook: bool  # authenticated by the token in the URL, not the bot token


def _compile(template: str) -> re.Pattern[str]:
    pattern = re.sub(r"\{(\w+)\}", lambda m: f"(?P<{m.group(1)}>[^/]+)", template)
    return re.compile(pattern)


class Rest:
    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        self.world = fake.world
        self.store = fake.store
        r = self._route
        self.routes: list[Route] = [
            r("GET", "/users/@me", self.get_me),
            r("GET", "/users/{user}", self.get_user),
            r("POST", "/users/@me/channels", self.create_dm),
            r("GET", "/oauth2/applications/@me", self.get_application),
            r("GET", "/applications/@me", self.get_application),
            r("GET", "/gateway", self.get_gateway),
            r("GET", "/gateway/bot", self.get_gateway_bot),
            # commands
            r("GET", "/applications/{app}/commands", self.commands_list),
            r("PUT", "/applications/{app}/commands", self.commands_put),
            r("POST", "/applications/{app}/commands", self.commands_post),
            r("GET", "/applications/{app}/commands/{cmd}", self.command_get),
            r("PATCH", "/applications/{app}/commands/{cmd}", self.command_patch),
            r("DELETE", "/applications/{app}/commands/{cmd}", self.command_delete),
            r("GET", "/applications/{app}/guilds/{guild}/commands", self.commands_list),
            r("PUT", "/applications/{app}/guilds/{guild}/commands", self.commands_put),
            r("POST", "/applications/{app}/guilds/{guild}/commands", self.commands_post),
            r("GET", "/applications/{app}/guilds/{guild}/commands/permissions", self.empty_list),
            r("GET", "/applications/{app}/guilds/{guild}/commands/{cmd}", self.command_get),
            r("PATCH", "/applications/{app}/guilds/{guild}/commands/{cmd}", self.command_patch),
            r("DELETE", "/applications/{app}/guilds/{guild}/commands/{cmd}", self.command_delete),
            # channels and messages
            r("GET", "/channels/{channel}", self.get_channel),
            r("PATCH", "/channels/{channel}", self.patch_channel),
            r("DELETE", "/channels/{channel}", self.delete_channel),
            r("GET", "/channels/{channel}/messages", self.list_messages),
            r("POST", "/channels/{channel}/messages", self.post_message),
            r("GET", "/channels/{channel}/messages/{message}", self.get_message),
            r("PATCH", "/channels/{channel}/messages/{message}", self.patch_message),
            r("DELETE", "/channels/{channel}/messages/{message}", self.delete_message),
            r("POST", "/channels/{channel}/typing", self.typing),
            r("PUT", "/channels/{channel}/messages/{message}/reactions/{emoji}/@me", self.react),
            r("DELETE", "/channels/{channel}/messages/{message}/reactions/{emoji}/@me", self.react),
            r("POST", "/channels/{channel}/threads", self.create_thread),
            r("POST", "/channels/{channel}/messages/{message}/threads", self.create_message_thread),
            r("GET", "/channels/{channel}/thread-members", self.thread_members),
            r("GET", "/channels/{channel}/thread-members/{user}", self.thread_member_get),
            r("PUT", "/channels/{channel}/thread-members/{user}", self.thread_member_put),
            r("DELETE", "/channels/{channel}/thread-members/{user}", self.thread_member_delete),
            # guilds
            r("GET", "/guilds/{guild}", self.get_guild),
            r("GET", "/guilds/{guild}/threads/active", self.active_threads),
            r("GET", "/guilds/{guild}/channels", self.guild_channels),
            r("GET", "/guilds/{guild}/roles", self.guild_roles),
            r("GET", "/guilds/{guild}/members", self.guild_members),
            r("GET", "/guilds/{guild}/members/{user}", self.guild_member),
            r("PUT", "/guilds/{guild}/members/{user}/roles/{role}", self.member_role),
            r("DELETE", "/guilds/{guild}/members/{user}/roles/{role}", self.member_role),
            r("GET", "/guilds/{guild}/scheduled-events", self.events_list),
            r("POST", "/guilds/{guild}/scheduled-events", self.event_create),
            r("GET", "/guilds/{guild}/scheduled-events/{event}", self.event_get),
            r("PATCH", "/guilds/{guild}/scheduled-events/{event}", self.event_patch),
            r("DELETE", "/guilds/{guild}/scheduled-events/{event}", self.event_delete),
            r("GET", "/guilds/{guild}/scheduled-events/{event}/users", self.empty_list),
            # interactions and webhooks (token-authenticated)
            r("POST", "/interactions/{ix}/{token}/callback", self.callback, webhook=True),
            r("POST", "/webhooks/{app}/{token}", self.followup, webhook=True),
            r("GET", "/webhooks/{app}/{token}/messages/{message}", self.webhook_get, webhook=True),
            r(
                "PATCH",
                "/webhooks/{app}/{token}/messages/{message}",
                self.webhook_edit,
                webhook=True,
            ),
            r(
                "DELETE",
                "/webhooks/{app}/{token}/messages/{message}",
                self.webhook_delete,
                webhook=True,
            ),
        ]

    @staticmethod
    def _route(method: str, template: str, handler: Handler, *, webhook: bool = False) -> Route:
        return Route(method, _compile(template), handler, webhook)

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            if route.method == method:
                m = route.regex.fullmatch(path)
                if m is not None:
                    return route, m.groupdict()
        return None

    # ---- helpers ----------------------------------------------------------------------------
    @staticmethod
    def _id(value: str, code: int = 10003, message: str = "Unknown Channel") -> int:
        if not re.fullmatch(SNOWFLAKE, value):
            raise Rejected(404, code, message)
        return int(value)

    def _guild(self, p: dict[str, str]) -> int:
        gid = self._id(p["guild"], 10004, "Unknown Guild")
        guild = self.world.guilds.get(gid)
        if guild is None:
            raise Rejected(404, 10004, "Unknown Guild")
        if self.world.bot_id not in guild.members:
            raise Rejected(403, 50001, "Missing Access")
        return gid

    def _app(self, p: dict[str, str]) -> None:
        if p["app"] != str(self.world.app_id):
            raise Rejected(403, 50001, "Missing Access")

    def _channel(self, p: dict[str, str]) -> Channel:
        ch = self.world.channels.get(self._id(p["channel"]))
        if ch is None:
            raise Rejected(404, 10003, "Unknown Channel")
        if ch.type == DM:
            return ch
        self._need(ch, Perm.VIEW_CHANNEL)
        return ch

    def _need(self, ch: Channel, bits: int) -> None:
        """403 unless the bot has ``bits`` in ``ch`` (50001 without View Channel)."""
        if ch.guild_id is None:
            return
        perms = self.world.permissions(ch.guild_id, self.world.bot_id, ch.id)
        if not perms & Perm.VIEW_CHANNEL:
            raise Rejected(403, 50001, "Missing Access")
        if ch.type == PRIVATE_THREAD and not (
            self.world.bot_id in ch.thread_members or perms & Perm.MANAGE_THREADS
        ):
            raise Rejected(403, 50001, "Missing Access")
        missing = bits & ~perms
        if missing:
            raise Rejected(
                403, 50013, "Missing Permissions", extra={"missing_permissions": str(missing)}
            )

    def _body(self, call: Call) -> JSON:
        if not isinstance(call.json, dict):
            raise Rejected(
                400,
                50035,
                "Invalid Form Body",
                {
                    "_errors": [
                        {
                            "code": "DICT_TYPE_CONVERT",
                            "message": "Only dictionaries may be used in a DictType",
                        }
                    ]
                },
            )
        return call.json

    def _dispatch_message(self, event: str, msg: Message) -> None:
        if msg.ephemeral:
            return
        bit = DIRECT_MESSAGES if msg.guild_id is None else GUILD_MESSAGES
        if self.fake.gateway.has_intent(bit):
            payload = (
                msg.event_payload()
                if event != "MESSAGE_DELETE"
                else {
                    "id": str(msg.id),
                    "channel_id": str(msg.channel_id),
                    **({"guild_id": str(msg.guild_id)} if msg.guild_id else {}),
                }
            )
            self.fake.schedule_dispatch(event, payload)

    def _files(self, call: Call) -> dict[int, Any]:
        out = {}
        for f in call.files:
            out[f.id] = f
        total = sum(f.size for f in call.files)
        if total > ATTACHMENT_SIZE_LIMIT:
            raise Rejected(413, 40005, "Request entity too large")
        return out

    # ---- users, application, gateway ---------------------------------------------------------
    async def get_me(self, call: Call, p: dict[str, str]) -> Result:
        me = self.world.user_payload(self.world.bot_id)
        me.update(verified=True, mfa_enabled=False, locale="en-US", bot=True, email=None)
        return 200, me

    async def get_user(self, call: Call, p: dict[str, str]) -> Result:
        uid = self._id(p["user"], 10013, "Unknown User")
        if uid not in self.world.users:
            raise Rejected(404, 10013, "Unknown User")
        return 200, self.world.user_payload(uid)

    async def create_dm(self, call: Call, p: dict[str, str]) -> Result:
        body = self._body(call)
        rid = body.get("recipient_id")
        try:
            uid = int(rid)  # type: ignore[arg-type]  # discord.py sends an int
        except (TypeError, ValueError):
            FormErrors.single(
                ("recipient_id",), "NUMBER_TYPE_COERCE", f'Value "{rid}" is not snowflake.'
            )
        self.fake.spec_check(call)
        if uid not in self.world.users:
            raise Rejected(400, 50033, "Invalid Recipient(s)")
        ch = self.world.dm_channel(uid)
        return 200, self.world.channel_payload(ch.id)

    async def get_application(self, call: Call, p: dict[str, str]) -> Result:
        return 200, self.world.application_payload()

    async def get_gateway(self, call: Call, p: dict[str, str]) -> Result:
        return 200, {"url": self.fake.gateway_url.rstrip("/")}

    async def get_gateway_bot(self, call: Call, p: dict[str, str]) -> Result:
        return 200, {
            "url": self.fake.gateway_url.rstrip("/"),
            "shards": self.fake.gateway.shards,
            "session_start_limit": {
                "total": 1000,
                "remaining": 999,
                "reset_after": 0,
                "max_concurrency": 1,
            },
        }

    async def empty_list(self, call: Call, p: dict[str, str]) -> Result:
        if "app" in p:
            self._app(p)
        if "guild" in p:
            self._guild(p)
        return 200, []

    # ---- application commands ------------------------------------------------------------------
    def _scope(self, p: dict[str, str]) -> int | None:
        self._app(p)
        return self._guild(p) if "guild" in p else None

    async def commands_list(self, call: Call, p: dict[str, str]) -> Result:
        return 200, self.fake.command_store.list(self._scope(p))

    async def commands_put(self, call: Call, p: dict[str, str]) -> Result:
        scope = self._scope(p)
        errs = FormErrors()
        validate_commands(call.json, errs)
        errs.raise_if_any()
        self.fake.spec_check(call)
        return 200, self.fake.command_store.bulk_overwrite(scope, call.json)

    async def commands_post(self, call: Call, p: dict[str, str]) -> Result:
        scope = self._scope(p)
        errs = FormErrors()
        validate_command(self._body(call), errs)
        errs.raise_if_any()
        self.fake.spec_check(call)
        cmd, created = self.fake.command_store.upsert(scope, self._body(call))
        return (201 if created else 200), cmd

    async def command_get(self, call: Call, p: dict[str, str]) -> Result:
        scope = self._scope(p)
        cid = self._id(p["cmd"], 10063, "Unknown application command")
        return 200, dict(self.fake.command_store.find_by_id(scope, cid))

    async def command_patch(self, call: Call, p: dict[str, str]) -> Result:
        scope = self._scope(p)
        cid = self._id(p["cmd"], 10063, "Unknown application command")
        old = self.fake.command_store.find_by_id(scope, cid)
        merged = {**old, **self._body(call)}
        errs = FormErrors()
        validate_command(merged, errs)
        errs.raise_if_any()
        self.fake.spec_check(call)
        return 200, self.fake.command_store.edit(scope, cid, self._body(call))

    async def command_delete(self, call: Call, p: dict[str, str]) -> Result:
        scope = self._scope(p)
        cid = self._id(p["cmd"], 10063, "Unknown application command")
        self.fake.command_store.delete(scope, cid)
        return 204, None

    # ---- channels ---------------------------------------------------------------------------
    async def get_channel(self, call: Call, p: dict[str, str]) -> Result:
        ch = self._channel(p)
        return 200, self.world.channel_payload(ch.id)

    async def patch_channel(self, call: Call, p: dict[str, str]) -> Result:
        ch = self._channel(p)
        body = self._body(call)
        if ch.type not in THREAD_TYPES:
            self._need(ch, Perm.MANAGE_CHANNELS)
            errs = FormErrors()
            if "name" in body:
                errs.length(body.get("name"), ("name",), 1, 100, required=True)
            if "topic" in body:
                errs.length(body.get("topic"), ("topic",), 0, 1024)
            errs.raise_if_any()
            self.fake.spec_check(call)
            if body.get("name"):
                ch.name = body["name"]
            if "topic" in body:
                ch.topic = body["topic"]
            return 200, self.world.channel_payload(ch.id)
        owner = ch.owner_id == self.world.bot_id
        if not owner or "locked" in body or "invitable" in body:
            self._need(ch, Perm.MANAGE_THREADS)
        errs = FormErrors()
        validate_thread({"name": ch.name, **body}, errs, from_message=True)
        errs.raise_if_any()
        self.fake.spec_check(call)
        for key in (
            "name",
            "archived",
            "locked",
            "invitable",
            "auto_archive_duration",
            "rate_limit_per_user",
        ):
            if key in body and body[key] is not None:
                setattr(ch, key, body[key])
        if "archived" in body:
            ch.archive_timestamp = iso_now()
        payload = self.world.channel_payload(ch.id)
        if self.fake.gateway.has_intent(GUILDS):
            self.fake.schedule_dispatch("THREAD_UPDATE", payload)
        return 200, payload

    async def delete_channel(self, call: Call, p: dict[str, str]) -> Result:
        ch = self._channel(p)
        self._need(ch, Perm.MANAGE_THREADS if ch.type in THREAD_TYPES else Perm.MANAGE_CHANNELS)
        payload = self.world.channel_payload(ch.id)
        del self.world.channels[ch.id]
        if ch.guild_id is not None:
            guild = self.world.guilds[ch.guild_id]
            if ch.id in guild.channel_ids:
                guild.channel_ids.remove(ch.id)
        event = "THREAD_DELETE" if ch.type in THREAD_TYPES else "CHANNEL_DELETE"
        if self.fake.gateway.has_intent(GUILDS):
            self.fake.schedule_dispatch(event, payload)
        return 200, payload

    async def list_messages(self, call: Call, p: dict[str, str]) -> Result:
        ch = self._channel(p)
        self._need(ch, Perm.VIEW_CHANNEL | Perm.READ_MESSAGE_HISTORY)
        msgs = self.store.in_channel(ch.id)
        q = call.query
        if "before" in q:
            msgs = [m for m in msgs if m.id < int(q["before"])]
        if "after" in q:
            msgs = [m for m in msgs if m.id > int(q["after"])]
        limit = int(q.get("limit", 50))
        if not 1 <= limit <= 100:
            FormErrors.single(
                ("limit",), "NUMBER_TYPE_MAX", "int value should be less than or equal to 100."
            )
        page = msgs[:limit] if "after" in q else msgs[-limit:]
        return 200, [m.payload() for m in reversed(page)]

    async def post_message(self, call: Call, p: dict[str, str]) -> Result:
        ch = self._channel(p)
        body = self._body(call)
        files = self._files(call)
        if ch.type == DM:
            recipient = ch.recipient_id
            mutual = any(
                recipient in g.members and self.world.bot_id in g.members
                for g in self.world.guilds.values()
            )
            if recipient in self.fake.closed_dms or not mutual:
                raise Rejected(403, 50007, "Cannot send messages to this user", rule=False)
        else:
            if ch.type in (FORUM, 4, 16):
                raise Rejected(400, 50008, "Cannot send messages in a non-text channel")
            need = Perm.SEND_MESSAGES_IN_THREADS if ch.type in THREAD_TYPES else Perm.SEND_MESSAGES
            if body.get("embeds"):
                need |= Perm.EMBED_LINKS
            if files:
                need |= Perm.ATTACH_FILES
            if body.get("message_reference"):
                need |= Perm.READ_MESSAGE_HISTORY
            self._need(ch, need)
            if ch.type in THREAD_TYPES and ch.archived and ch.locked:
                perms = self.world.permissions(ch.guild_id or 0, self.world.bot_id, ch.id)
                if not perms & Perm.MANAGE_THREADS:
                    raise Rejected(400, 50083, "Thread is archived")
        errs = FormErrors()
        validate_message(body, errs, n_files=len(files))
        ref = body.get("message_reference")
        reply_type = 0
        if isinstance(ref, dict) and ref.get("message_id") is not None:
            reply_type = 19
            target = self.store.by_id.get(int(ref["message_id"]))
            if (target is None or target.deleted) and ref.get("fail_if_not_exists", True):
                errs.add(
                    ("message_reference",),
                    "MESSAGE_REFERENCE_UNKNOWN_MESSAGE",
                    "Unknown message",
                )
        errs.raise_if_any()
        self.fake.spec_check(call)
        hit = self.store.nonce_hit(ch.id, self.world.bot_id, body)
        if hit is not None:
            return 200, hit.payload()
        attachments = self.store.attachments_for(body, files, [])
        msg = self.store.create(
            ch.id,
            body,
            attachments,
            author_id=self.world.bot_id,
            type=reply_type,
            call_index=call.index,
        )
        if ch.type in THREAD_TYPES and ch.archived and not ch.locked:
            ch.archived = False
        self._dispatch_message("MESSAGE_CREATE", msg)
        return 200, msg.payload()

    async def get_message(self, call: Call, p: dict[str, str]) -> Result:
        ch = self._channel(p)
        self._need(ch, Perm.VIEW_CHANNEL | Perm.READ_MESSAGE_HISTORY)
        msg = self.store.get(ch.id, self._id(p["message"], 10008, "Unknown Message"))
        return 200, msg.payload()

    async def patch_message(self, call: Call, p: dict[str, str]) -> Result:
        ch = self._channel(p)
        msg = self.store.get(ch.id, self._id(p["message"], 10008, "Unknown Message"))
        body = self._body(call)
        if msg.author_id != self.world.bot_id and set(body) - {"flags"}:
            raise Rejected(403, 50005, "Cannot edit a message authored by another user")
        files = self._files(call)
        errs = FormErrors()
        validate_message(body, errs, n_files=len(files), check_empty=False)
        errs.raise_if_any()
        self._check_not_emptied(msg, body, files)
        self.fake.spec_check(call)
        self.store.edit(msg, body, self.store.attachments_for(body, files, msg.attachments))
        self._dispatch_message("MESSAGE_UPDATE", msg)
        return 200, msg.payload()

    def _check_not_emptied(self, msg: Message, body: JSON, files: dict[int, Any]) -> None:
        existing = {
            "content": msg.content,
            "embeds": msg.embeds,
            "components": msg.components,
            "attachments": [a.id for a in msg.attachments],
            "poll": msg.poll,
            "sticker_ids": msg.sticker_ids,
        }
        if message_is_empty(body, len(files), existing):
            raise Rejected(400, 50006, "Cannot send an empty message")

    async def delete_message(self, call: Call, p: dict[str, str]) -> Result:
        ch = self._channel(p)
        msg = self.store.get(ch.id, self._id(p["message"], 10008, "Unknown Message"))
        if msg.author_id != self.world.bot_id:
            self._need(ch, Perm.MANAGE_MESSAGES)
        self.store.delete(msg)
        self._dispatch_message("MESSAGE_DELETE", msg)
        return 204, None

    async def typing(self, call: Call, p: dict[str, str]) -> Result:
        ch = self._channel(p)
        if ch.type != DM:
            self._need(
                ch, Perm.SEND_MESSAGES_IN_THREADS if ch.type in THREAD_TYPES else Perm.SEND_MESSAGES
            )
        return 204, None

    async def react(self, call: Call, p: dict[str, str]) -> Result:
        ch = self._channel(p)
        self.store.get(ch.id, self._id(p["message"], 10008, "Unknown Message"))
        if call.method == "PUT":
            self._need(ch, Perm.ADD_REACTIONS | Perm.READ_MESSAGE_HISTORY)
        return 204, None

    # ---- threads ----------------------------------------------------------------------------
    def _thread(self, p: dict[str, str]) -> Channel:
        ch = self._channel(p)
        if ch.type not in THREAD_TYPES:
            raise Rejected(400, 50024, "Cannot execute action on this channel type")
        return ch

    async def create_thread(self, call: Call, p: dict[str, str]) -> Result:
        parent = self._channel(p)
        body = self._body(call)
        if parent.type not in (TEXT, NEWS, FORUM, 16):
            raise Rejected(400, 50024, "Cannot execute action on this channel type")
        errs = FormErrors()
        validate_thread(body, errs, from_message=parent.type in (FORUM, 16))
        forum = parent.type in (FORUM, 16)
        if forum:
            ttype = PUBLIC_THREAD
            starter = body.get("message")
            if not isinstance(starter, dict):
                errs.add(("message",), "BASE_TYPE_REQUIRED", "This field is required")
            else:
                validate_message(starter, errs, ("message",), n_files=len(call.files))
            need = Perm.SEND_MESSAGES
        else:
            ttype = body.get("type") or PRIVATE_THREAD
            if parent.type == NEWS and ttype == PRIVATE_THREAD:
                errs.add(
                    ("type",),
                    "THREAD_TYPE_INVALID",
                    "Private threads are not allowed in announcement channels",
                )
            if parent.type == NEWS:
                ttype = NEWS_THREAD if ttype != PRIVATE_THREAD else ttype
            need = (
                Perm.CREATE_PRIVATE_THREADS
                if ttype == PRIVATE_THREAD
                else Perm.CREATE_PUBLIC_THREADS
            )
        self._need(parent, need)
        errs.raise_if_any()
        self.fake.spec_check(call)
        thread = self.world.add_thread(
            parent.id,
            body["name"],
            type=ttype,
            auto_archive_duration=body.get("auto_archive_duration") or 1440,
            invitable=body.get("invitable") is not False,
        )
        if forum and isinstance(body.get("message"), dict):
            starter_msg = self.store.create(
                thread.id,
                body["message"],
                self.store.attachments_for(body["message"], self._files(call), []),
                author_id=self.world.bot_id,
                call_index=call.index,
            )
            starter_msg.id = thread.id  # the starter message shares the thread's id
        payload = self.world.channel_payload(thread.id)
        if self.fake.gateway.has_intent(GUILDS):
            self.fake.schedule_dispatch("THREAD_CREATE", {**payload, "newly_created": True})
        return 201, payload

    async def create_message_thread(self, call: Call, p: dict[str, str]) -> Result:
        parent = self._channel(p)
        msg = self.store.get(parent.id, self._id(p["message"], 10008, "Unknown Message"))
        body = self._body(call)
        if parent.type not in (TEXT, NEWS):
            raise Rejected(400, 50024, "Cannot execute action on this channel type")
        if msg.thread_id is not None:
            raise Rejected(400, 160004, "A thread has already been created for this message")
        self._need(parent, Perm.CREATE_PUBLIC_THREADS | Perm.READ_MESSAGE_HISTORY)
        errs = FormErrors()
        validate_thread(body, errs, from_message=True)
        errs.raise_if_any()
        self.fake.spec_check(call)
        thread = self.world.add_thread(
            parent.id,
            body["name"],
            type=NEWS_THREAD if parent.type == NEWS else PUBLIC_THREAD,
            thread_id=msg.id,
            auto_archive_duration=body.get("auto_archive_duration") or 1440,
        )
        msg.thread_id = thread.id
        payload = self.world.channel_payload(thread.id)
        if self.fake.gateway.has_intent(GUILDS):
            self.fake.schedule_dispatch("THREAD_CREATE", {**payload, "newly_created": True})
        return 201, payload

    def _member_id(self, p: dict[str, str]) -> int:
        if p["user"] == "@me":
            return self.world.bot_id
        return self._id(p["user"], 10013, "Unknown User")

    def _thread_member(self, ch: Channel, uid: int) -> JSON:
        return {
            "id": str(ch.id),
            "user_id": str(uid),
            "join_timestamp": ch.archive_timestamp,
            "flags": 0,
        }

    async def thread_members(self, call: Call, p: dict[str, str]) -> Result:
        ch = self._thread(p)
        return 200, [self._thread_member(ch, u) for u in sorted(ch.thread_members)]

    async def thread_member_get(self, call: Call, p: dict[str, str]) -> Result:
        ch = self._thread(p)
        uid = self._member_id(p)
        if uid not in ch.thread_members:
            raise Rejected(404, 10007, "Unknown Member")
        return 200, self._thread_member(ch, uid)

    async def thread_member_put(self, call: Call, p: dict[str, str]) -> Result:
        ch = self._thread(p)
        uid = self._member_id(p)
        guild = self.world.guilds[ch.guild_id or 0]
        if uid not in guild.members:
            raise Rejected(404, 10007, "Unknown Member")
        if ch.archived:
            raise Rejected(400, 50083, "Thread is archived")
        if uid != self.world.bot_id:
            self._need(ch, Perm.SEND_MESSAGES_IN_THREADS)
            if ch.type == PRIVATE_THREAD and not ch.invitable:
                self._need(ch, Perm.MANAGE_THREADS)
        ch.thread_members.add(uid)
        return 204, None

    async def thread_member_delete(self, call: Call, p: dict[str, str]) -> Result:
        ch = self._thread(p)
        uid = self._member_id(p)
        if uid != self.world.bot_id and ch.owner_id != self.world.bot_id:
            self._need(ch, Perm.MANAGE_THREADS)
        if ch.archived:
            raise Rejected(400, 50083, "Thread is archived")
        ch.thread_members.discard(uid)
        return 204, None

    # ---- guilds -------------------------------------------------------------------------------
    def _world_answer(self, p: dict[str, str]) -> int:
        """The server, where asking whether Haven is in it is itself the question: a 404 or
        403 is an answer about the world, not a rule the bot broke by asking."""
        try:
            return self._guild(p)
        except Rejected as r:
            raise Rejected(r.status, r.code, r.message, rule=False) from None

    async def active_threads(self, call: Call, p: dict[str, str]) -> Result:
        gid = self._guild(p)
        threads = [
            self.world.channel_payload(c.id)
            for c in self.world.channels.values()
            if c.guild_id == gid and c.type in THREAD_TYPES and not c.archived
        ]
        return 200, {"threads": threads, "members": []}

    async def get_guild(self, call: Call, p: dict[str, str]) -> Result:
        gid = self._world_answer(p)
        data = self.world.guild_payload(gid)
        if call.query.get("with_counts") in ("true", "1", "True"):
            n = len(self.world.guilds[gid].members)
            data.update(approximate_member_count=n, approximate_presence_count=0)
        return 200, data

    async def guild_channels(self, call: Call, p: dict[str, str]) -> Result:
        gid = self._guild(p)
        return 200, [self.world.channel_payload(c) for c in self.world.guilds[gid].channel_ids]

    async def guild_roles(self, call: Call, p: dict[str, str]) -> Result:
        gid = self._guild(p)
        return 200, [self.world.role_payload(gid, r) for r in self.world.guilds[gid].roles]

    async def guild_members(self, call: Call, p: dict[str, str]) -> Result:
        gid = self._guild(p)
        from .gateway import GUILD_MEMBERS

        if not self.fake.gateway.has_intent(GUILD_MEMBERS):
            raise Rejected(403, 50001, "Missing Access")
        limit = int(call.query.get("limit", 1))
        after = int(call.query.get("after", 0))
        ids = sorted(u for u in self.world.guilds[gid].members if u > after)[:limit]
        return 200, [self.world.member_payload(gid, u) for u in ids]

    async def guild_member(self, call: Call, p: dict[str, str]) -> Result:
        gid = self._world_answer(p)
        uid = self._id(p["user"], 10013, "Unknown User")
        if uid not in self.world.guilds[gid].members:
            # An answer about the world (they left), not a rule the bot broke by asking.
            raise Rejected(404, 10007, "Unknown Member", rule=False)
        return 200, self.world.member_payload(gid, uid)

    async def member_role(self, call: Call, p: dict[str, str]) -> Result:
        gid = self._guild(p)
        guild = self.world.guilds[gid]
        uid = self._id(p["user"], 10013, "Unknown User")
        rid = self._id(p["role"], 10011, "Unknown Role")
        member = guild.members.get(uid)
        if member is None:
            raise Rejected(404, 10007, "Unknown Member")
        role = guild.roles.get(rid)
        if role is None:
            raise Rejected(404, 10011, "Unknown Role")
        perms = self.world.base_permissions(gid, self.world.bot_id)
        top = max(guild.roles[r].position for r in guild.members[self.world.bot_id].roles)
        if not perms & Perm.MANAGE_ROLES or role.position >= top or role.managed:
            raise Rejected(403, 50013, "Missing Permissions")
        if call.method == "PUT" and rid not in member.roles:
            member.roles.append(rid)
        elif call.method == "DELETE" and rid in member.roles:
            member.roles.remove(rid)
        return 204, None

    # ---- scheduled events ---------------------------------------------------------------------
    def _event(self, gid: int, p: dict[str, str]) -> JSON:
        eid = self._id(p["event"], 10070, "Unknown Guild Scheduled Event")
        ev = self.world.guilds[gid].scheduled_events.get(eid)
        if ev is None:
            raise Rejected(404, 10070, "Unknown Guild Scheduled Event")
        return ev

    def _channel_types(self, gid: int) -> dict[int, int]:
        return {c: self.world.channels[c].type for c in self.world.guilds[gid].channel_ids}

    def _event_perms(self, gid: int, ev: JSON) -> None:
        perms = self.world.base_permissions(gid, self.world.bot_id)
        cid = ev.get("channel_id")
        if cid is not None and int(cid) in self.world.channels:
            perms = self.world.permissions(gid, self.world.bot_id, int(cid))
        if not perms & Perm.MANAGE_EVENTS:
            raise Rejected(403, 50013, "Missing Permissions")

    def _dispatch_event(self, name: str, ev: JSON) -> None:
        if self.fake.gateway.has_intent(GUILD_SCHEDULED_EVENTS):
            self.fake.schedule_dispatch(name, dict(ev))

    async def events_list(self, call: Call, p: dict[str, str]) -> Result:
        gid = self._guild(p)
        return 200, list(self.world.guilds[gid].scheduled_events.values())

    async def event_get(self, call: Call, p: dict[str, str]) -> Result:
        gid = self._guild(p)
        return 200, self._event(gid, p)

    async def event_create(self, call: Call, p: dict[str, str]) -> Result:
        gid = self._guild(p)
        body = self._body(call)
        errs = FormErrors()
        validate_scheduled_event(
            body, errs, channel_types=self._channel_types(gid), now=self.fake.clock()
        )
        errs.raise_if_any()
        self._event_perms(gid, body)
        self.fake.spec_check(call)
        eid = self.world.next_id()
        meta = body.get("entity_metadata")
        ev: JSON = {
            "id": str(eid),
            "guild_id": str(gid),
            "channel_id": None if body.get("channel_id") is None else str(body["channel_id"]),
            "creator_id": str(self.world.bot_id),
            "creator": self.world.user_payload(self.world.bot_id),
            "name": body["name"],
            "description": body.get("description"),
            "scheduled_start_time": body["scheduled_start_time"],
            "scheduled_end_time": body.get("scheduled_end_time"),
            "privacy_level": body["privacy_level"],
            "status": 1,
            "entity_type": body["entity_type"],
            "entity_id": None,
            "entity_metadata": meta if body["entity_type"] == 3 else None,
            "user_count": 0,
            "image": None if body.get("image") is None else f"fakeimage{eid}",
            "recurrence_rule": body.get("recurrence_rule"),
            "auto_start": False,
        }
        self.world.guilds[gid].scheduled_events[eid] = ev
        self._dispatch_event("GUILD_SCHEDULED_EVENT_CREATE", ev)
        return 200, ev

    async def event_patch(self, call: Call, p: dict[str, str]) -> Result:
        gid = self._guild(p)
        ev = self._event(gid, p)
        body = self._body(call)
        errs = FormErrors()
        validate_scheduled_event(
            body,
            errs,
            channel_types=self._channel_types(gid),
            existing=ev,
            now=self.fake.clock(),
        )
        errs.raise_if_any()
        self._event_perms(gid, {**ev, **body})
        self.fake.spec_check(call)
        for key, value in body.items():
            if key == "image":
                ev["image"] = None if value is None else f"fakeimage{ev['id']}"
            elif key == "channel_id":
                ev["channel_id"] = None if value is None else str(value)
            else:
                ev[key] = value
        if ev.get("entity_type") == 3:
            ev["channel_id"] = None
        else:
            ev["entity_metadata"] = None
        self._dispatch_event("GUILD_SCHEDULED_EVENT_UPDATE", ev)
        return 200, ev

    async def event_delete(self, call: Call, p: dict[str, str]) -> Result:
        gid = self._guild(p)
        ev = self._event(gid, p)
        self._event_perms(gid, ev)
        del self.world.guilds[gid].scheduled_events[int(ev["id"])]
        self._dispatch_event("GUILD_SCHEDULED_EVENT_DELETE", ev)
        return 204, None

    # ---- interactions -------------------------------------------------------------------------
    async def callback(self, call: Call, p: dict[str, str]) -> Result:
        fake = self.fake
        ix = fake.interactions.get(int(p["ix"])) if p["ix"].isdigit() else None
        if ix is None or ix.token != p["token"]:
            raise Rejected(404, 10062, "Unknown interaction")
        call.interaction_id = ix.id
        ix.attempted = True
        if ix.callback_body is not None:
            raise Rejected(400, 40060, "Interaction has already been acknowledged.")
        waited = time.perf_counter() - ix.dispatched_at
        if waited > fake.callback_deadline:
            raise Rejected(
                404,
                10062,
                "Unknown interaction",
                extra={
                    "fake_note": f"initial response after {waited:.3f}s > {fake.callback_deadline}s"
                },
            )
        body = self._body(call)
        ctype = body.get("type")
        allowed = set(CALLBACKS_ALLOWED.get(ix.type, set()))
        if ix.type == MODAL_SUBMIT and ix.source_message is not None:
            allowed |= {6, 7}
        errs = FormErrors()
        if ctype not in allowed:
            errs.add(
                ("type",),
                "INTERACTION_RESPONSE_TYPE_INVALID",
                f"Interaction response type {ctype} is not valid for interaction type {ix.type}",
            )
            errs.raise_if_any()
        data = body.get("data")
        files = self._files(call)
        if ctype == 4:
            validate_message(data or {}, errs, ("data",), interaction=True, n_files=len(files))
        elif ctype == 7:
            validate_message(data or {}, errs, ("data",), interaction=True, check_empty=False)
        elif ctype == 5:
            flags = (data or {}).get("flags") or 0
            if flags & ~EPHEMERAL:
                errs.add(
                    ("data", "flags"),
                    "INTERACTION_DEFER_FLAGS_INVALID",
                    "Only EPHEMERAL may be set on a deferred response",
                )
        elif ctype == 8:
            validate_choices(data, errs)
        elif ctype == 9:
            validate_modal(data, errs)
        errs.raise_if_any()
        fake.spec_check(call)
        # accepted
        ix.callback_at = call.at  # arrival, so the fake's own checks don't count as latency
        ix.callback_body = body
        resp_ix: JSON = {"id": str(ix.id), "type": ix.type}
        result: JSON = {"interaction": resp_ix}
        meta = interaction_metadata(ix, self.world)
        if ctype in (4, 5):
            payload = dict(data or {})
            flags = int(payload.get("flags") or 0)
            if ctype == 5:
                flags = LOADING | (flags & EPHEMERAL)
                payload = {}
            msg_type = 20 if ix.type == APPLICATION_COMMAND else 0
            if ix.type == APPLICATION_COMMAND and ix.payload["data"].get("type", 1) != 1:
                msg_type = 23
            msg = self.store.create(
                ix.channel_id,
                payload,
                self.store.attachments_for(payload, files, []),
                author_id=self.world.bot_id,
                type=msg_type,
                webhook_id=self.world.app_id,
                interaction_id=ix.id,
                interaction_metadata=meta,
                flags=flags,
                call_index=call.index,
            )
            ix.original = msg
            ix.add_message(msg)
            if ctype == 4:
                ix.set_reply(msg)
            self._dispatch_message("MESSAGE_CREATE", msg)
            resp_ix.update(
                response_message_id=str(msg.id),
                response_message_loading=ctype == 5,
                response_message_ephemeral=msg.ephemeral,
            )
            result["resource"] = {"type": ctype, "message": msg.payload()}
        elif ctype == 7:
            target = ix.source_message
            assert target is not None
            payload = dict(data or {})
            self.store.edit(
                target, payload, self.store.attachments_for(payload, files, target.attachments)
            )
            ix.add_message(target)
            ix.set_reply(target)
            self._dispatch_message("MESSAGE_UPDATE", target)
            resp_ix.update(
                response_message_id=str(target.id),
                response_message_loading=False,
                response_message_ephemeral=target.ephemeral,
            )
            result["resource"] = {"type": 7, "message": target.payload()}
        elif ctype == 6:
            resp_ix.update(response_message_loading=False, response_message_ephemeral=False)
            result["resource"] = {"type": 6}
        else:
            result["resource"] = {"type": ctype}
        ix.notify()
        if call.query.get("with_response") not in ("1", "true", "True"):
            return 204, None
        return 200, result

    def _webhook_ix(self, call: Call, p: dict[str, str]) -> Interaction:
        fake = self.fake
        if p["app"] != str(self.world.app_id):
            raise Rejected(404, 10015, "Unknown Webhook")
        ix = fake.interactions_by_token.get(p["token"])
        if ix is None:
            raise Rejected(404, 10015, "Unknown Webhook")
        call.interaction_id = ix.id
        if time.perf_counter() - ix.dispatched_at > fake.token_ttl:
            raise Rejected(401, 50027, "Invalid Webhook Token")
        if ix.callback_body is None:
            raise Rejected(404, 10015, "Unknown Webhook")
        return ix

    def _webhook_message(self, ix: Interaction, ref: str) -> Message:
        if ref == "@original":
            ctype = ix.callback_type
            target = (
                ix.original if ctype in (4, 5) else ix.source_message if ctype in (6, 7) else None
            )
            if target is None or target.deleted:
                raise Rejected(404, 10008, "Unknown Message")
            return target
        mid = self._id(ref, 10008, "Unknown Message")
        for msg in ix.messages:
            if msg.id == mid and not msg.deleted:
                return msg
        raise Rejected(404, 10008, "Unknown Message")

    async def followup(self, call: Call, p: dict[str, str]) -> Result:
        ix = self._webhook_ix(call, p)
        body = self._body(call)
        files = self._files(call)
        errs = FormErrors()
        validate_message(body, errs, interaction=True, n_files=len(files))
        errs.raise_if_any()
        self.fake.spec_check(call)
        placeholder = ix.original
        if placeholder is not None and placeholder.loading:
            # The first follow-up after a defer fills in the "thinking…" message.
            self.store.edit(placeholder, body, self.store.attachments_for(body, files, []))
            msg = placeholder
            self._dispatch_message("MESSAGE_UPDATE", msg)
        else:
            msg = self.store.create(
                ix.channel_id,
                body,
                self.store.attachments_for(body, files, []),
                author_id=self.world.bot_id,
                type=0,
                webhook_id=self.world.app_id,
                interaction_id=ix.id,
                interaction_metadata=interaction_metadata(ix, self.world),
                flags=int(body.get("flags") or 0),
                call_index=call.index,
            )
            self._dispatch_message("MESSAGE_CREATE", msg)
        ix.add_message(msg)
        ix.followup_messages.append(msg)
        ix.set_reply(msg)
        ix.notify()
        if call.query.get("wait") in ("0", "false", "False"):
            return 204, None
        return 200, msg.payload()

    async def webhook_get(self, call: Call, p: dict[str, str]) -> Result:
        ix = self._webhook_ix(call, p)
        return 200, self._webhook_message(ix, p["message"]).payload()

    async def webhook_edit(self, call: Call, p: dict[str, str]) -> Result:
        ix = self._webhook_ix(call, p)
        msg = self._webhook_message(ix, p["message"])
        body = self._body(call)
        files = self._files(call)
        errs = FormErrors()
        validate_message(body, errs, interaction=True, n_files=len(files), check_empty=False)
        errs.raise_if_any()
        self._check_not_emptied(msg, body, files)
        self.fake.spec_check(call)
        self.store.edit(msg, body, self.store.attachments_for(body, files, msg.attachments))
        ix.add_message(msg)
        if p["message"] == "@original":
            ix.set_reply(msg)
        self._dispatch_message("MESSAGE_UPDATE", msg)
        ix.notify()
        return 200, msg.payload()

    async def webhook_delete(self, call: Call, p: dict[str, str]) -> Result:
        ix = self._webhook_ix(call, p)
        msg = self._webhook_message(ix, p["message"])
        self.store.delete(msg)
        self._dispatch_message("MESSAGE_DELETE", msg)
        ix.notify()
        return 204, None
