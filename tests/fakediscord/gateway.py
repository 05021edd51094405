"""The gateway WebSocket: HELLO, heartbeats, IDENTIFY → READY + GUILD_CREATE, RESUME, dispatch.

Frames are uncompressed JSON text, which discord.py accepts whatever ``compress=`` it asked for.

Shards are routed as Discord routes them. An IDENTIFY may carry ``shard: [id, count]``: that
session gets READY (naming its shard) and GUILD_CREATE only for the guilds with
``(guild_id >> 22) % count == id``, and every later event about a guild goes only to the session
holding that guild's shard; events about no guild (DMs) go to shard 0. An IDENTIFY without
``shard`` is shard [0, 1] and so holds everything: the single session every test had before.
Several sessions, from one process or several, may be connected at once, each with its own
sequence numbers, RESUME state and queue of events dispatched while it was away.

``shards`` is the count ``GET /gateway/bot`` recommends. Discord does not force it on a client
(a bot may run more shards than recommended), so sessions are routed by the count they sent;
it refuses only a shard id outside its count (close 4010) and a session that would hold too
many guilds (close 4011, past ``max_guilds_per_shard``: 2,500 on Discord).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from .world import JSON, World

log = logging.getLogger("tests.fakediscord")

GUILDS = 1 << 0
GUILD_MEMBERS = 1 << 1
GUILD_PRESENCES = 1 << 8
GUILD_MESSAGES = 1 << 9
DIRECT_MESSAGES = 1 << 12
MESSAGE_CONTENT = 1 << 15
GUILD_SCHEDULED_EVENTS = 1 << 16
PRIVILEGED = GUILD_MEMBERS | GUILD_PRESENCES | MESSAGE_CONTENT


MAX_GUILDS_PER_SHARD = 2500
# Events whose ``d`` is the guild itself (its ``id``); every other guild event names ``guild_id``.
_GUILD_OBJECT_EVENTS = frozenset({"GUILD_CREATE", "GUILD_UPDATE", "GUILD_DELETE"})


def shard_of(guild_id: int | None, count: int) -> int:
    """The shard that receives a guild's events (Discord's formula); events about no guild: 0."""
    return 0 if guild_id is None else (guild_id >> 22) % count


def event_guild(t: str, d: JSON) -> int | None:
    """The guild an event is about, which decides the shard it is sent on."""
    raw = d.get("id") if t in _GUILD_OBJECT_EVENTS else d.get("guild_id")
    return None if raw is None else int(raw)


@dataclass(eq=False)
class Session:
    """One IDENTIFYed gateway session: a shard, its socket (None while away) and its sequence."""

    shard_id: int
    shard_count: int
    session_id: str
    intents: int
    ws: web.WebSocketResponse | None
    seq: int = 0
    pending: list[tuple[str, JSON]] = field(default_factory=list)  # dispatched while away
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def shard(self) -> list[int]:
        return [self.shard_id, self.shard_count]

    @property
    def connected(self) -> bool:
        return self.ws is not None and not self.ws.closed

    def holds(self, guild_id: int | None) -> bool:
        return shard_of(guild_id, self.shard_count) == self.shard_id


class Gateway:
    def __init__(
        self,
        world: World,
        token: str,
        *,
        heartbeat_interval: int,
        notify: Callable[[], None],
        shards: int = 1,
    ) -> None:
        if shards < 1:
            raise ValueError("a gateway has at least one shard")
        self.world = world
        self.token = token
        self.heartbeat_interval = heartbeat_interval
        self.notify = notify
        self.shards = shards  # what GET /gateway/bot recommends
        self.max_guilds_per_shard = MAX_GUILDS_PER_SHARD
        self.url = ""
        self.privileged_intents_allowed = True
        self.sockets: set[web.WebSocketResponse] = set()
        # The live sessions by (shard id, shard count); an unsharded IDENTIFY is (0, 1).
        self.sessions: dict[tuple[int, int], Session] = {}
        self.intents = 0  # the last IDENTIFY's
        self.identify_payload: JSON | None = None
        self.identify_count = 0  # over every session
        self.resume_count = 0
        self.heartbeats = 0
        self.received: list[JSON] = []  # client frames other than heartbeats
        self.ready_at: float | None = None

    @property
    def connected(self) -> bool:
        """Whether any session is connected."""
        return any(s.connected for s in self.sessions.values())

    def connected_for(self, guild_id: int | None) -> bool:
        """Whether the session holding this guild's shard (DMs: shard 0) is connected."""
        return any(s.connected for s in self.holders(guild_id))

    def holders(self, guild_id: int | None) -> list[Session]:
        return [s for s in self.sessions.values() if s.holds(guild_id)]

    def has_intent(self, bit: int) -> bool:
        return bool(self.intents & bit)

    # ---- sending ----------------------------------------------------------------------------
    @staticmethod
    async def _send(ws: web.WebSocketResponse, payload: JSON) -> None:
        await ws.send_str(json.dumps(payload, separators=(",", ":")))

    async def _send_event(
        self, session: Session, ws: web.WebSocketResponse, t: str, d: JSON
    ) -> None:
        async with session.lock:
            session.seq += 1
            await self._send(ws, {"op": 0, "s": session.seq, "t": t, "d": d})

    async def dispatch(self, t: str, d: JSON) -> bool:
        """Send an event now to the session holding its guild's shard (DMs: shard 0); queue it
        for a RESUME when that session is not connected. False unless some session got it."""
        sent = False
        for session in self.holders(event_guild(t, d)):
            ws = session.ws
            if ws is None or ws.closed:
                session.pending.append((t, d))
                continue
            try:
                await self._send_event(session, ws, t, d)
            except (ConnectionError, RuntimeError):
                session.pending.append((t, d))
                continue
            sent = True
        return sent

    async def close(self, code: int = 4000, *, shard: int | None = None) -> None:
        """Close the sessions' sockets (only shard ``shard``'s if given); they may RESUME."""
        for session in list(self.sessions.values()):
            if shard is not None and session.shard_id != shard:
                continue
            ws, session.ws = session.ws, None
            if ws is not None and not ws.closed:
                await ws.close(code=code, message=b"fake gateway closed the session")

    async def close_all(self) -> None:
        for session in self.sessions.values():
            session.ws = None
        for ws in list(self.sockets):
            if not ws.closed:
                await ws.close(code=1001, message=b"fake discord stopping")

    # ---- the connection ---------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0, autoping=True)
        await ws.prepare(request)
        self.sockets.add(ws)
        log.debug("gateway connect %s", request.query_string)
        try:
            await self._send(
                ws,
                {
                    "op": 10,
                    "d": {"heartbeat_interval": self.heartbeat_interval},
                    "s": None,
                    "t": None,
                },
            )
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    if msg.type == WSMsgType.ERROR:
                        break
                    continue
                try:
                    frame = json.loads(msg.data)
                except ValueError:
                    await ws.close(code=4002, message=b"Error while decoding payload.")
                    break
                await self._on_frame(ws, frame)
        finally:
            self.sockets.discard(ws)
            for session in self.sessions.values():
                if session.ws is ws:
                    session.ws = None
        return ws

    async def _on_frame(self, ws: web.WebSocketResponse, frame: JSON) -> None:
        op = frame.get("op")
        d = frame.get("d")
        if op == 1:
            self.heartbeats += 1
            await self._send(ws, {"op": 11})
            return
        self.received.append(frame)
        if op == 2 and isinstance(d, dict):
            await self._identify(ws, d)
        elif op == 6 and isinstance(d, dict):
            await self._resume(ws, d)
        elif op == 8 and isinstance(d, dict):
            await self._chunk(ws, d)
        elif op not in (3, 4):
            log.warning("fake gateway: unhandled op %s: %s", op, frame)

    async def _identify(self, ws: web.WebSocketResponse, d: JSON) -> None:
        if d.get("token") != self.token:
            await ws.close(code=4004, message=b"Authentication failed.")
            return
        shard = d.get("shard")
        if shard is None:
            shard = [0, 1]  # an unsharded session: every guild and every DM
        if not (
            isinstance(shard, list)
            and len(shard) == 2
            and all(type(n) is int for n in shard)
            and 0 <= shard[0] < shard[1]
        ):
            await ws.close(code=4010, message=b"Invalid shard.")
            return
        shard_id, shard_count = shard
        guild_ids = [
            g.id
            for g in self.world.guilds.values()
            if self.world.bot_id in g.members and shard_of(g.id, shard_count) == shard_id
        ]
        if len(guild_ids) > self.max_guilds_per_shard:
            await ws.close(code=4011, message=b"Sharding required.")
            return
        intents = int(d.get("intents", 0))
        if intents & PRIVILEGED and not self.privileged_intents_allowed:
            await ws.close(code=4014, message=b"Disallowed intent(s).")
            return
        self.identify_count += 1
        self.identify_payload = d
        self.intents = intents
        # A new session for a shard ends the old one (it can no longer RESUME); a cluster that
        # changed its shard count leaves the sessions of the old count behind once they are gone.
        for key, old in list(self.sessions.items()):
            if key == (shard_id, shard_count) or (
                old.shard_count != shard_count and not old.connected
            ):
                del self.sessions[key]
        session = Session(
            shard_id,
            shard_count,
            session_id=f"fake-session-{self.identify_count}-{int(time.time())}",
            intents=intents,
            ws=ws,
        )
        self.sessions[(shard_id, shard_count)] = session
        ready: JSON = {
            "v": 10,
            "user": self.world.user_payload(self.world.bot_id),
            "guilds": [{"id": str(g), "unavailable": True} for g in guild_ids],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": self.url,
            "shard": session.shard,
            "application": {"id": str(self.world.app_id), "flags": 0},
            "private_channels": [],
            "presences": [],
            "relationships": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["us-east"],
            "user_settings": {},
        }
        ready["user"].update(verified=True, mfa_enabled=False)
        await self._send_event(session, ws, "READY", ready)
        all_members = bool(intents & GUILD_MEMBERS)
        for gid in guild_ids:
            await self._send_event(
                session,
                ws,
                "GUILD_CREATE",
                self.world.guild_create_payload(gid, all_members=all_members),
            )
        self.ready_at = time.perf_counter()
        self.notify()

    async def _resume(self, ws: web.WebSocketResponse, d: JSON) -> None:
        if d.get("token") != self.token:
            await ws.close(code=4004, message=b"Authentication failed.")
            return
        session = next(
            (s for s in self.sessions.values() if s.session_id == d.get("session_id")), None
        )
        if session is None:
            await self._send(ws, {"op": 9, "d": False})
            return
        self.resume_count += 1
        session.ws = ws
        pending, session.pending = session.pending, []
        for t, data in pending:
            await self._send_event(session, ws, t, data)
        await self._send_event(session, ws, "RESUMED", {})
        self.notify()

    async def _chunk(self, ws: web.WebSocketResponse, d: JSON) -> None:
        session = next((s for s in self.sessions.values() if s.ws is ws), None)
        if session is None:
            await ws.close(code=4003, message=b"Not authenticated.")
            return
        gid = int(d.get("guild_id", 0))
        guild = self.world.guilds.get(gid)
        members = (
            [self.world.member_payload(gid, uid) for uid in guild.members]
            if guild is not None
            else []
        )
        chunk: dict[str, Any] = {
            "guild_id": str(gid),
            "members": members,
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
        }
        if d.get("nonce") is not None:
            chunk["nonce"] = d["nonce"]
        await self._send_event(session, ws, "GUILD_MEMBERS_CHUNK", chunk)
