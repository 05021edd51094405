"""The fake's guild, users, channels and roles, Discord's permission maths and payload builders.

Everything the fake sends about the world (GUILD_CREATE, interaction envelopes, `resolved` data,
REST answers) is built here, so that the payloads stay complete and consistent with each other.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

JSON = dict[str, Any]

DISCORD_EPOCH_MS = 1420070400000
JOINED_AT = "2024-01-01T00:00:00+00:00"
ATTACHMENT_SIZE_LIMIT = 26214400  # 25 MiB, what an unboosted guild gets

# ---- the default world -------------------------------------------------------------------------
APP_ID = BOT_ID = 1000000000000000001
OWNER = 1000000000000000002
ALICE = 1000000000000000003
BOB = 1000000000000000004
CAROL = 1000000000000000005
MONA = 1000000000000000006
GUILD = 1000000000000000010
CH_GENERAL = 1000000000000000011
CH_CHECKINS = 1000000000000000012
CH_MODS = 1000000000000000013
CH_VOICE = 1000000000000000014
CH_LOCKED = 1000000000000000015
CH_CIRCLES = 1000000000000000016
CH_BUDDIES = 1000000000000000017
CH_STAGE = 1000000000000000018
MOD_ROLE = 1000000000000000020
BOT_ROLE = 1000000000000000021


class Perm:
    """Permission bits (https://discord.com/developers/docs/topics/permissions)."""

    CREATE_INSTANT_INVITE = 1 << 0
    KICK_MEMBERS = 1 << 1
    BAN_MEMBERS = 1 << 2
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    SEND_TTS_MESSAGES = 1 << 12
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    CONNECT = 1 << 20
    SPEAK = 1 << 21
    MANAGE_ROLES = 1 << 28
    USE_APPLICATION_COMMANDS = 1 << 31
    MANAGE_EVENTS = 1 << 33
    MANAGE_THREADS = 1 << 34
    CREATE_PUBLIC_THREADS = 1 << 35
    CREATE_PRIVATE_THREADS = 1 << 36
    SEND_MESSAGES_IN_THREADS = 1 << 38
    CREATE_EVENTS = 1 << 44
    ALL = (1 << 53) - 1


# Discord's default @everyone permissions for a new guild (no Manage Server, no Administrator).
EVERYONE_PERMISSIONS = 2248473465835073
MOD_PERMISSIONS = (
    Perm.MANAGE_GUILD | Perm.MANAGE_MESSAGES | Perm.MANAGE_THREADS | Perm.MANAGE_EVENTS
)
BOT_PERMISSIONS = (
    Perm.VIEW_CHANNEL
    | Perm.SEND_MESSAGES
    | Perm.EMBED_LINKS
    | Perm.ATTACH_FILES
    | Perm.READ_MESSAGE_HISTORY
    | Perm.CREATE_PRIVATE_THREADS
    | Perm.SEND_MESSAGES_IN_THREADS
    | Perm.MANAGE_EVENTS
    | Perm.MANAGE_THREADS
)

TEXT, DM, VOICE, CATEGORY, NEWS = 0, 1, 2, 4, 5
NEWS_THREAD, PUBLIC_THREAD, PRIVATE_THREAD, STAGE, FORUM = 10, 11, 12, 13, 15
THREAD_TYPES = frozenset({NEWS_THREAD, PUBLIC_THREAD, PRIVATE_THREAD})
MESSAGEABLE_TYPES = frozenset({TEXT, DM, VOICE, NEWS, STAGE, *THREAD_TYPES})


def snowflake_time_ms(snowflake: int) -> int:
    return (snowflake >> 22) + DISCORD_EPOCH_MS


def iso_now() -> str:
    return datetime.now(UTC).isoformat()


@dataclass
class User:
    id: int
    username: str
    global_name: str | None = None
    bot: bool = False


@dataclass
class Role:
    id: int
    name: str
    permissions: int
    position: int = 0
    managed: bool = False
    mentionable: bool = False
    color: int = 0
    hoist: bool = False
    bot_id: int | None = None


@dataclass
class Member:
    user_id: int
    roles: list[int] = field(default_factory=list)
    nick: str | None = None
    joined_at: str = JOINED_AT


@dataclass
class Overwrite:
    id: int
    type: int  # 0 role, 1 member
    allow: int = 0
    deny: int = 0


@dataclass
class Channel:
    id: int
    type: int
    name: str | None
    guild_id: int | None
    position: int = 0
    parent_id: int | None = None
    topic: str | None = None
    overwrites: dict[int, Overwrite] = field(default_factory=dict)
    bitrate: int = 64000
    user_limit: int = 0
    rate_limit_per_user: int = 0
    recipient_id: int | None = None  # DM channels
    # threads
    owner_id: int | None = None
    archived: bool = False
    locked: bool = False
    invitable: bool = True
    auto_archive_duration: int = 1440
    archive_timestamp: str = JOINED_AT
    thread_members: set[int] = field(default_factory=set)
    message_count: int = 0
    last_message_id: int | None = None


@dataclass
class Guild:
    id: int
    name: str
    owner_id: int
    roles: dict[int, Role] = field(default_factory=dict)
    channel_ids: list[int] = field(default_factory=list)
    members: dict[int, Member] = field(default_factory=dict)
    scheduled_events: dict[int, JSON] = field(default_factory=dict)


class World:
    """Mutable state of the fake Discord: users, guilds, channels, roles and DM channels."""

    def __init__(self, *, default: bool = True) -> None:
        self.app_id = APP_ID
        self.bot_id = BOT_ID
        self.users: dict[int, User] = {}
        self.guilds: dict[int, Guild] = {}
        self.channels: dict[int, Channel] = {}
        self.dm_channels: dict[int, int] = {}  # user id -> DM channel id
        self._last_id = 0
        self._lock = threading.Lock()
        self._seq = itertools.count(100)
        if default:
            self._build_default()

    # ---- ids -------------------------------------------------------------------------------
    def next_id(self) -> int:
        """A real-looking snowflake for *now*, strictly increasing."""
        with self._lock:
            now = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
            self._last_id = max(self._last_id + 1, now)
            return self._last_id

    def _static_id(self) -> int:
        return 1000000000000000000 + next(self._seq) * 1000 + 7

    # ---- building ----------------------------------------------------------------------------
    def _build_default(self) -> None:
        self.users[BOT_ID] = User(BOT_ID, "Haven", None, bot=True)
        self.users[OWNER] = User(OWNER, "owner", "Owner")
        g = Guild(GUILD, "Healing Havens Test", OWNER)
        self.guilds[GUILD] = g
        g.roles[GUILD] = Role(GUILD, "@everyone", EVERYONE_PERMISSIONS, position=0)
        g.roles[MOD_ROLE] = Role(MOD_ROLE, "Moderators", MOD_PERMISSIONS, position=1, hoist=True)
        g.roles[BOT_ROLE] = Role(
            BOT_ROLE, "Haven", BOT_PERMISSIONS, position=2, managed=True, bot_id=BOT_ID
        )
        g.members[BOT_ID] = Member(BOT_ID, [BOT_ROLE])
        g.members[OWNER] = Member(OWNER, [])
        for uid, name, display in (
            (ALICE, "alice", "Alice"),
            (BOB, "bob", "Bob"),
            (CAROL, "carol", "Carol"),
            (MONA, "mona", "Mona"),
        ):
            self.users[uid] = User(uid, name, display)
            g.members[uid] = Member(uid, [MOD_ROLE] if uid == MONA else [])
        for cid, name, ctype in (
            (CH_GENERAL, "general", TEXT),
            (CH_CHECKINS, "check-ins", TEXT),
            (CH_MODS, "moderators", TEXT),
            (CH_VOICE, "Circle room", VOICE),
            (CH_LOCKED, "announcements", TEXT),
            (CH_CIRCLES, "circles", TEXT),
            (CH_BUDDIES, "buddies", TEXT),
            (CH_STAGE, "Stage", STAGE),
        ):
            self.add_channel(name, ctype, channel_id=cid)
        # moderators: hidden from @everyone, visible to moderators and the bot
        self.set_overwrite(CH_MODS, GUILD, deny=Perm.VIEW_CHANNEL)
        self.set_overwrite(CH_MODS, MOD_ROLE, allow=Perm.VIEW_CHANNEL)
        self.set_overwrite(CH_MODS, BOT_ROLE, allow=Perm.VIEW_CHANNEL)
        # announcements: read-only for everyone, and explicitly for the bot
        self.set_overwrite(CH_LOCKED, GUILD, deny=Perm.SEND_MESSAGES)
        self.set_overwrite(CH_LOCKED, BOT_ROLE, deny=Perm.SEND_MESSAGES)
        self.set_overwrite(CH_LOCKED, MOD_ROLE, allow=Perm.SEND_MESSAGES)

    def add_user(
        self,
        username: str,
        global_name: str | None = None,
        member_of: int | None = GUILD,
        roles: Iterable[int] = (),
        *,
        bot: bool = False,
        user_id: int | None = None,
    ) -> int:
        """Add a user (and make them a guild member unless ``member_of`` is None)."""
        uid = user_id if user_id is not None else self.next_id()
        self.users[uid] = User(uid, username, global_name, bot=bot)
        if member_of is not None:
            self.add_member(uid, member_of, roles)
        return uid

    def add_member(self, user_id: int, guild_id: int = GUILD, roles: Iterable[int] = ()) -> None:
        self.guilds[guild_id].members[user_id] = Member(user_id, list(roles))

    def remove_member(self, user_id: int, guild_id: int = GUILD) -> None:
        """The member leaves (or is kicked or banned): REST answers 10007 Unknown Member."""
        del self.guilds[guild_id].members[user_id]

    def add_guild(
        self, name: str, members: Iterable[int] = (), *, guild_id: int | None = None
    ) -> int:
        """Another server with the bot in it (announce it with GUILD_CREATE to a connected bot).

        ``guild_id`` picks its id, and so its shard: ``(guild_id >> 22) % shard_count``."""
        gid = guild_id if guild_id is not None else self.next_id()
        if gid in self.guilds:
            raise ValueError(f"guild {gid} exists already")
        g = Guild(gid, name, OWNER)
        self.guilds[gid] = g
        g.roles[gid] = Role(gid, "@everyone", EVERYONE_PERMISSIONS, position=0)
        bot_role = self.next_id()
        g.roles[bot_role] = Role(
            bot_role, "Haven", BOT_PERMISSIONS, position=1, managed=True, bot_id=self.bot_id
        )
        g.members[self.bot_id] = Member(self.bot_id, [bot_role])
        g.members[OWNER] = Member(OWNER, [])
        for uid in members:
            g.members[uid] = Member(uid, [])
        self.add_channel("general", TEXT, guild_id=gid)
        return gid

    def add_role(
        self,
        name: str,
        permissions: int = 0,
        *,
        guild_id: int = GUILD,
        members: Iterable[int] = (),
        mentionable: bool = False,
    ) -> int:
        g = self.guilds[guild_id]
        rid = self.next_id()
        g.roles[rid] = Role(rid, name, permissions, position=len(g.roles), mentionable=mentionable)
        for uid in members:
            g.members[uid].roles.append(rid)
        return rid

    def add_channel(
        self,
        name: str,
        type: int = TEXT,
        *,
        guild_id: int = GUILD,
        channel_id: int | None = None,
        parent_id: int | None = None,
        topic: str | None = None,
        position: int | None = None,
    ) -> int:
        """Add a guild channel (text by default). Returns its id."""
        g = self.guilds[guild_id]
        cid = channel_id if channel_id is not None else self.next_id()
        pos = position if position is not None else len(g.channel_ids)
        self.channels[cid] = Channel(
            cid, type, name, guild_id, position=pos, parent_id=parent_id, topic=topic
        )
        g.channel_ids.append(cid)
        return cid

    def add_thread(
        self,
        parent_id: int,
        name: str,
        *,
        type: int = PRIVATE_THREAD,
        owner_id: int = BOT_ID,
        thread_id: int | None = None,
        auto_archive_duration: int = 1440,
        invitable: bool = True,
    ) -> Channel:
        parent = self.channels[parent_id]
        tid = thread_id if thread_id is not None else self.next_id()
        ch = Channel(
            tid,
            type,
            name,
            parent.guild_id,
            parent_id=parent_id,
            owner_id=owner_id,
            auto_archive_duration=auto_archive_duration,
            archive_timestamp=iso_now(),
            invitable=invitable if type == PRIVATE_THREAD else True,
        )
        ch.thread_members.add(owner_id)
        self.channels[tid] = ch
        return ch

    def set_overwrite(
        self,
        channel_id: int,
        target_id: int,
        allow: int = 0,
        deny: int = 0,
        type: int | None = None,
    ) -> None:
        """Set a permission overwrite; ``type`` 0 = role, 1 = member (inferred when None)."""
        ch = self.channels[channel_id]
        if type is None:
            assert ch.guild_id is not None
            type = 0 if target_id in self.guilds[ch.guild_id].roles else 1
        ch.overwrites[target_id] = Overwrite(target_id, type, allow, deny)

    def dm_channel(self, user_id: int) -> Channel:
        """The bot's DM channel with a user (created on first use)."""
        cid = self.dm_channels.get(user_id)
        if cid is None:
            cid = self.next_id()
            self.channels[cid] = Channel(cid, DM, None, None, recipient_id=user_id)
            self.dm_channels[user_id] = cid
        return self.channels[cid]

    # ---- permissions ---------------------------------------------------------------------------
    def base_permissions(self, guild_id: int, user_id: int) -> int:
        g = self.guilds[guild_id]
        if user_id == g.owner_id:
            return Perm.ALL
        member = g.members.get(user_id)
        perms = g.roles[guild_id].permissions
        if member is not None:
            for rid in member.roles:
                role = g.roles.get(rid)
                if role is not None:
                    perms |= role.permissions
        if perms & Perm.ADMINISTRATOR:
            return Perm.ALL
        return perms

    def permissions(self, guild_id: int, user_id: int, channel_id: int | None = None) -> int:
        """Discord's permission computation: roles, then @everyone/role/member overwrites."""
        perms = self.base_permissions(guild_id, user_id)
        if channel_id is None or perms == Perm.ALL:
            return perms
        ch = self.channels[channel_id]
        is_thread = ch.type in THREAD_TYPES
        if is_thread and ch.parent_id is not None:
            ch = self.channels[ch.parent_id]
        g = self.guilds[guild_id]
        member = g.members.get(user_id)
        member_roles = set(member.roles) if member is not None else set()
        ow = ch.overwrites.get(guild_id)
        if ow is not None:
            perms = (perms & ~ow.deny) | ow.allow
        allow = deny = 0
        for target, ow in ch.overwrites.items():
            if ow.type == 0 and target in member_roles:
                allow |= ow.allow
                deny |= ow.deny
        perms = (perms & ~deny) | allow
        ow = ch.overwrites.get(user_id)
        if ow is not None and ow.type == 1:
            perms = (perms & ~ow.deny) | ow.allow
        # implicit permissions
        if not perms & Perm.VIEW_CHANNEL:
            return 0
        if not is_thread and not perms & Perm.SEND_MESSAGES:
            perms &= ~(
                Perm.SEND_TTS_MESSAGES
                | Perm.MENTION_EVERYONE
                | Perm.EMBED_LINKS
                | Perm.ATTACH_FILES
            )
        return perms

    # ---- payload builders ---------------------------------------------------------------------
    def user_payload(self, user_id: int) -> JSON:
        u = self.users.get(user_id)
        if u is None:
            u = User(user_id, f"user{user_id}")
        data: JSON = {
            "id": str(u.id),
            "username": u.username,
            "discriminator": "0",
            "global_name": u.global_name,
            "avatar": None,
            "public_flags": 0,
            "flags": 0,
        }
        if u.bot:
            data["bot"] = True
        return data

    def member_payload(
        self,
        guild_id: int,
        user_id: int,
        *,
        with_user: bool = True,
        permissions: int | None = None,
    ) -> JSON:
        m = self.guilds[guild_id].members[user_id]
        data: JSON = {
            "roles": [str(r) for r in m.roles],
            "joined_at": m.joined_at,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "nick": m.nick,
            "avatar": None,
            "banner": None,
            "premium_since": None,
            "communication_disabled_until": None,
        }
        if with_user:
            data["user"] = self.user_payload(user_id)
        if permissions is not None:
            data["permissions"] = str(permissions)
        return data

    def role_payload(self, guild_id: int, role_id: int) -> JSON:
        r = self.guilds[guild_id].roles[role_id]
        data: JSON = {
            "id": str(r.id),
            "name": r.name,
            "permissions": str(r.permissions),
            "position": r.position,
            "color": r.color,
            "colors": {"primary_color": r.color, "secondary_color": None, "tertiary_color": None},
            "hoist": r.hoist,
            "managed": r.managed,
            "mentionable": r.mentionable,
            "icon": None,
            "unicode_emoji": None,
            "flags": 0,
        }
        if r.bot_id is not None:
            data["tags"] = {"bot_id": str(r.bot_id)}
        return data

    def channel_payload(self, channel_id: int, *, permissions_for: int | None = None) -> JSON:
        """A channel object; ``permissions_for`` adds the ``permissions`` field for that user."""
        ch = self.channels[channel_id]
        if ch.type == DM:
            assert ch.recipient_id is not None
            return {
                "id": str(ch.id),
                "type": DM,
                "last_message_id": _opt_str(ch.last_message_id),
                "flags": 0,
                "recipients": [self.user_payload(ch.recipient_id)],
            }
        data: JSON = {
            "id": str(ch.id),
            "type": ch.type,
            "guild_id": str(ch.guild_id),
            "name": ch.name,
            "parent_id": _opt_str(ch.parent_id),
            "flags": 0,
            "last_message_id": _opt_str(ch.last_message_id),
            "rate_limit_per_user": ch.rate_limit_per_user,
        }
        if ch.type in THREAD_TYPES:
            data.update(
                owner_id=str(ch.owner_id),
                message_count=ch.message_count,
                total_message_sent=ch.message_count,
                member_count=len(ch.thread_members),
                thread_metadata={
                    "archived": ch.archived,
                    "locked": ch.locked,
                    "auto_archive_duration": ch.auto_archive_duration,
                    "archive_timestamp": ch.archive_timestamp,
                    "create_timestamp": ch.archive_timestamp,
                    "invitable": ch.invitable,
                },
            )
        else:
            data.update(
                position=ch.position,
                nsfw=False,
                topic=ch.topic,
                permission_overwrites=[
                    {"id": str(o.id), "type": o.type, "allow": str(o.allow), "deny": str(o.deny)}
                    for o in ch.overwrites.values()
                ],
            )
            if ch.type in (VOICE, STAGE):
                data.update(
                    bitrate=ch.bitrate,
                    user_limit=ch.user_limit,
                    rtc_region=None,
                    video_quality_mode=1,
                )
                data.pop("topic")
        if permissions_for is not None and ch.guild_id is not None:
            data["permissions"] = str(self.permissions(ch.guild_id, permissions_for, ch.id))
        return data

    def guild_payload(self, guild_id: int) -> JSON:
        """The guild object of GET /guilds/{id} (no channels/members)."""
        g = self.guilds[guild_id]
        return {
            "id": str(g.id),
            "name": g.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(g.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "features": [],
            "preferred_locale": "en-US",
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "vanity_url_code": None,
            "max_members": 500000,
            "max_video_channel_users": 25,
            "premium_progress_bar_enabled": False,
            "roles": [self.role_payload(g.id, r) for r in g.roles],
            "emojis": [],
            "stickers": [],
        }

    def guild_create_payload(self, guild_id: int, *, all_members: bool) -> JSON:
        """GUILD_CREATE ``d``. Without the members intent Discord only sends the bot's member."""
        g = self.guilds[guild_id]
        data = self.guild_payload(guild_id)
        member_ids = list(g.members) if all_members else [self.bot_id]
        threads = [
            self.channel_payload(c.id)
            for c in self.channels.values()
            if c.guild_id == guild_id and c.type in THREAD_TYPES and not c.archived
        ]
        data.update(
            unavailable=False,
            large=len(g.members) > 250,
            member_count=len(g.members),
            joined_at=JOINED_AT,
            channels=[self.channel_payload(c) for c in g.channel_ids],
            members=[self.member_payload(guild_id, u) for u in member_ids if u in g.members],
            threads=threads,
            presences=[],
            voice_states=[],
            stage_instances=[],
            guild_scheduled_events=list(g.scheduled_events.values()),
            soundboard_sounds=[],
        )
        return data

    def application_payload(self) -> JSON:
        return {
            "id": str(self.app_id),
            "name": "Haven",
            "description": "",
            "icon": None,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "owner": self.user_payload(OWNER),
            "flags": 0,
            "team": None,
            "interactions_endpoint_url": None,
            "rpc_origins": [],
            "summary": "",
            "bot": self.user_payload(self.bot_id),
        }

    def guild_of(self, channel_id: int) -> int | None:
        ch = self.channels.get(channel_id)
        return None if ch is None else ch.guild_id


def _opt_str(value: int | None) -> str | None:
    return None if value is None else str(value)
