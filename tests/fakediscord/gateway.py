"""The gateway WebSocket: HELLO, heartbeats, IDENTIFY → READY + GUILD_CREATE, RESUME, dispatch.

Frames are uncompressed JSON text, which discord.py accepts whatever ``compress=`` it asked for.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
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


class Gateway:
    def __init__(
        self, world: World, token: str, *, heartbeat_interval: int, notify: Callable[[], None]
    ) -> None:
        self.world = world
        self.token = token
        self.heartbeat_interval = heartbeat_interval
        self.notify = notify
        self.url = ""
        self.privileged_intents_allowed = True
        self.ws: web.WebSocketResponse | None = None
        self.sockets: set[web.WebSocketResponse] = set()
        self.session_id: str | None = None
        self.seq = 0
        self.intents = 0
        self.identify_payload: JSON | None = None
        self.identify_count = 0
        self.resume_count = 0
        self.heartbeats = 0
        self.received: list[JSON] = []  # client frames other than heartbeats
        self.pending: list[tuple[str, JSON]] = []  # dispatched while no session was connected
        self.ready_at: float | None = None
        self._lock = asyncio.Lock()

    @property
    def connected(self) -> bool:
        return self.ws is not None and not self.ws.closed

    def has_intent(self, bit: int) -> bool:
        return bool(self.intents & bit)

    # ---- sending ----------------------------------------------------------------------------
    @staticmethod
    async def _send(ws: web.WebSocketResponse, payload: JSON) -> None:
        await ws.send_str(json.dumps(payload, separators=(",", ":")))

    async def _send_event(self, ws: web.WebSocketResponse, t: str, d: JSON) -> None:
        async with self._lock:
            self.seq += 1
            await self._send(ws, {"op": 0, "s": self.seq, "t": t, "d": d})

    async def dispatch(self, t: str, d: JSON) -> bool:
        """Send an event now; queue it for a RESUME when no session is connected."""
        ws = self.ws
        if ws is None or ws.closed:
            self.pending.append((t, d))
            return False
        try:
            await self._send_event(ws, t, d)
        except (ConnectionError, RuntimeError):
            self.pending.append((t, d))
            return False
        return True

    async def close(self, code: int = 4000) -> None:
        ws = self.ws
        self.ws = None
        if ws is not None and not ws.closed:
            await ws.close(code=code, message=b"fake gateway closed the session")

    async def close_all(self) -> None:
        self.ws = None
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
            if self.ws is ws:
                self.ws = None
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
        intents = int(d.get("intents", 0))
        if intents & PRIVILEGED and not self.privileged_intents_allowed:
            await ws.close(code=4014, message=b"Disallowed intent(s).")
            return
        self.identify_count += 1
        self.identify_payload = d
        self.intents = intents
        self.session_id = f"fake-session-{self.identify_count}-{int(time.time())}"
        self.seq = 0
        self.pending.clear()
        self.ws = ws
        guild_ids = [g.id for g in self.world.guilds.values() if self.world.bot_id in g.members]
        ready: JSON = {
            "v": 10,
            "user": self.world.user_payload(self.world.bot_id),
            "guilds": [{"id": str(g), "unavailable": True} for g in guild_ids],
            "session_id": self.session_id,
            "session_type": "normal",
            "resume_gateway_url": self.url,
            "shard": d.get("shard") or [0, 1],
            "application": {"id": str(self.world.app_id), "flags": 0},
            "private_channels": [],
            "presences": [],
            "relationships": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["us-east"],
            "user_settings": {},
        }
        ready["user"].update(verified=True, mfa_enabled=False)
        await self._send_event(ws, "READY", ready)
        all_members = bool(intents & GUILD_MEMBERS)
        for gid in guild_ids:
            await self._send_event(
                ws, "GUILD_CREATE", self.world.guild_create_payload(gid, all_members=all_members)
            )
        self.ready_at = time.perf_counter()
        self.notify()

    async def _resume(self, ws: web.WebSocketResponse, d: JSON) -> None:
        if d.get("token") != self.token:
            await ws.close(code=4004, message=b"Authentication failed.")
            return
        if d.get("session_id") != self.session_id or self.session_id is None:
            await self._send(ws, {"op": 9, "d": False})
            return
        self.resume_count += 1
        self.ws = ws
        pending, self.pending = self.pending, []
        for t, data in pending:
            await self._send_event(ws, t, data)
        await self._send_event(ws, "RESUMED", {})
        self.notify()

    async def _chunk(self, ws: web.WebSocketResponse, d: JSON) -> None:
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
        await self._send_event(ws, "GUILD_MEMBERS_CHUNK", chunk)
