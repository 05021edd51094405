"""FakeDiscord: a loopback Discord (REST + gateway) that the real discord.py client talks to.

Lifecycle::

    fake = FakeDiscord()
    await fake.start()
    fake.patch_discord()          # point discord.py at the fake (restored by stop())
    ...                           # run the bot, fake.slash(...), await ix.reply(), ...
    await fake.stop()

Every request is recorded in ``fake.calls``. A 4xx the fake produced because the bot broke a rule
(validation, deadline, double ack, permissions, unknown route, OpenAPI schema) is also appended to
``fake.rejections``; every non-2xx answer is in ``fake.errors``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import re
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import discord
import discord.gateway
import discord.http
import yarl
from aiohttp import BodyPartReader, hdrs, web

from .commands import CommandStore, OptionBuilder
from .gateway import Gateway
from .interactions import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    MESSAGE_COMPONENT,
    MODAL_SUBMIT,
    Interaction,
    envelope,
    new_token,
)
from .models import Attachment, Call, Message
from .openapi import SpecValidator, find_spec, load_spec
from .rest import Rest
from .store import MessageStore
from .validate import FormErrors, Rejected
from .world import ALICE, CH_GENERAL, DM, GUILD, JSON, Perm, World

log = logging.getLogger("tests.fakediscord")

_STATUS_TEXT = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
_CODE_TEXT = {
    10003: "Unknown Channel",
    10008: "Unknown Message",
    10015: "Unknown Webhook",
    10062: "Unknown interaction",
    40060: "Interaction has already been acknowledged.",
    50001: "Missing Access",
    50007: "Cannot send messages to this user",
    50013: "Missing Permissions",
    50035: "Invalid Form Body",
}
_PENDING = 0  # Call.status while the request is being handled


@dataclass
class Hang:
    method: str
    regex: re.Pattern[str]
    seconds: float
    processed: bool
    times: int


@dataclass
class Fault:
    method: str
    regex: re.Pattern[str]
    status: int
    code: int | None
    message: str | None
    retry_after: float
    global_: bool
    times: int

    def rejected(self) -> Rejected:
        status = self.status
        if status == 429:
            headers = {
                "Via": "1.1 google",
                "Retry-After": str(max(1, math.ceil(self.retry_after))),
                "X-RateLimit-Scope": "global" if self.global_ else "user",
            }
            if self.global_:
                headers["X-RateLimit-Global"] = "true"
            return Rejected(
                429,
                self.code or 0,
                self.message or "You are being rate limited.",
                rule=False,
                headers=headers,
                extra={"retry_after": self.retry_after, "global": self.global_},
            )
        code = self.code if self.code is not None else 0
        message = (
            self.message or _CODE_TEXT.get(code) or f"{status}: {_STATUS_TEXT.get(status, 'Error')}"
        )
        return Rejected(status, code, message, rule=False)


class FakeDiscord:
    """A loopback Discord. See the module docstring and ``tests/fakediscord/__init__.py``."""

    def __init__(
        self,
        *,
        token: str = "fake-token",
        callback_deadline: float = 3.0,
        spec_path: str | os.PathLike[str] | None = "auto",
        rate_limit_per_second: int | None = None,
        validate_spec: bool = True,
        world: World | None = None,
        heartbeat_interval: int = 41250,
        token_ttl: float = 900.0,
        host: str = "127.0.0.1",
        shards: int = 1,
    ) -> None:
        self.token = token
        self.callback_deadline = callback_deadline
        self.rate_limit_per_second = rate_limit_per_second
        self.validate_spec = validate_spec
        self.token_ttl = token_ttl
        self.host = host
        self.world = world if world is not None else World()
        self.store = MessageStore(self.world)
        self.command_store = CommandStore(self.world)
        # ``shards``: what GET /gateway/bot recommends; sessions get their shard's guilds only.
        self.gateway = Gateway(
            self.world,
            token,
            heartbeat_interval=heartbeat_interval,
            notify=self._notify,
            shards=shards,
        )
        # What "now" is for Discord's time rules (events in the past): real time, unless a
        # test hands the fake the clock it gives the bot.
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self.rest = Rest(self)
        self.spec_file = find_spec(spec_path)
        self.spec: SpecValidator | None = (
            load_spec(self.spec_file) if validate_spec and self.spec_file is not None else None
        )
        self.calls: list[Call] = []
        self.rejections: list[Call] = []
        self.errors: list[Call] = []
        self.count_429 = 0
        self.interactions: dict[int, Interaction] = {}
        self.interactions_by_token: dict[str, Interaction] = {}
        self.closed_dms: set[int] = set()
        self.port = 0
        self._faults: list[Fault] = []
        self._hangs: list[Hang] = []
        self._window: deque[float] = deque()
        self._changed = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._runner: web.AppRunner | None = None
        self._originals: tuple[str, yarl.URL] | None = None

    # ---- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> int:
        """Bind 127.0.0.1 on a free port; returns the port."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/", self.gateway.handle)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._handle_rest)
        app.router.add_get("/attachments/{id}/{filename}", self._handle_cdn)
        app.router.add_route("*", "/{tail:.*}", self._handle_unknown_root)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        self.gateway.url = self.gateway_url
        self.store.base_url = f"http://{self.host}:{self.port}"
        return self.port

    async def stop(self) -> None:
        """Close the gateway, stop serving and undo ``patch_discord()``."""
        await self.gateway.close_all()
        for task in list(self._tasks):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.unpatch_discord()

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        self.patch_discord()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @property
    def api_base(self) -> str:
        return f"http://{self.host}:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://{self.host}:{self.port}/"

    def patch_discord(self) -> None:
        """Point discord.py's REST base and default gateway at the fake (class attributes)."""
        if self._originals is None:
            self._originals = (
                discord.http.Route.BASE,
                discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY,
            )
        discord.http.Route.BASE = self.api_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.gateway_url)

    def unpatch_discord(self) -> None:
        if self._originals is not None:
            base, gateway = self._originals
            discord.http.Route.BASE = base
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = gateway
            self._originals = None

    # ---- gateway helpers -----------------------------------------------------------------------
    @property
    def identify_count(self) -> int:
        return self.gateway.identify_count

    @property
    def resume_count(self) -> int:
        return self.gateway.resume_count

    async def wait_identified(self, timeout: float = 10.0, *, n: int = 1) -> None:  # noqa: ASYNC109 - public API name
        """Wait until the bot has IDENTIFYed ``n`` times in total (and READY was sent)."""
        await self._wait_until(
            lambda: self.gateway.identify_count >= n or None, timeout, f"IDENTIFY #{n}"
        )

    async def wait_resumed(self, timeout: float = 10.0, *, n: int = 1) -> None:  # noqa: ASYNC109 - public API name
        await self._wait_until(
            lambda: self.gateway.resume_count >= n or None, timeout, f"RESUME #{n}"
        )

    async def close_gateway(self, code: int = 4000) -> None:
        """Close the bot's session socket; discord.py reconnects and RESUMEs (non-fatal codes)."""
        await self.gateway.close(code)

    async def dispatch(self, event: str, data: JSON) -> None:
        """Send any gateway event (queued for RESUME when disconnected)."""
        await self.gateway.dispatch(event, data)

    def schedule_dispatch(self, event: str, data: JSON) -> None:
        task = asyncio.get_running_loop().create_task(self.gateway.dispatch(event, data))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- commands -----------------------------------------------------------------------------
    def commands(self, guild_id: int | None = None) -> list[JSON]:
        """The last synced command list for a scope (None = global)."""
        return self.command_store.list(guild_id)

    @property
    def sync_count(self) -> int:
        return self.command_store.sync_count

    # ---- faults -------------------------------------------------------------------------------
    def fail_next(
        self,
        method: str,
        path_regex: str,
        status: int,
        *,
        code: int | None = None,
        message: str | None = None,
        retry_after: float = 0.05,
        global_: bool = False,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` matching requests (``re.fullmatch`` on the path relative to
        /api/v10, method "*" for any) with ``status``. 429s carry ``Via`` and a JSON body."""
        self._faults.append(
            Fault(
                method.upper(),
                re.compile(path_regex),
                status,
                code,
                message,
                retry_after,
                global_,
                times,
            )
        )

    def hang_next(
        self,
        method: str,
        path_regex: str,
        seconds: float,
        *,
        times: int = 1,
        processed: bool = True,
    ) -> None:
        """Hold the answer to the next ``times`` matching requests for ``seconds``: a request that
        times out. With ``processed`` (the default) Discord has already done what was asked when
        the client gives up waiting (the message exists; only the answer is lost); without, it
        does it after the delay, as a request stuck on the way in would be."""
        self._hangs.append(Hang(method.upper(), re.compile(path_regex), seconds, processed, times))

    def _take_hang(self, call: Call) -> Hang | None:
        for hang in self._hangs:
            if hang.method in ("*", call.method) and hang.regex.fullmatch(call.path):
                hang.times -= 1
                if hang.times <= 0:
                    self._hangs.remove(hang)
                return hang
        return None

    def close_dms(self, user_id: int) -> None:
        self.closed_dms.add(user_id)

    def open_dms(self, user_id: int) -> None:
        self.closed_dms.discard(user_id)

    def _take_fault(self, call: Call) -> Rejected | None:
        for fault in self._faults:
            if fault.method in ("*", call.method) and fault.regex.fullmatch(call.path):
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                if fault.status == 429:
                    self.count_429 += 1
                return fault.rejected()
        return None

    def _rate_limited(self) -> Rejected | None:
        limit = self.rate_limit_per_second
        if not limit:
            return None
        now = time.monotonic()
        window = self._window
        while window and now - window[0] >= 1.0:
            window.popleft()
        if len(window) >= limit:
            retry = round(max(0.001, 1.0 - (now - window[0])), 3)
            self.count_429 += 1
            return Rejected(
                429,
                0,
                "You are being rate limited.",
                rule=False,
                headers={
                    "Via": "1.1 google",
                    "Retry-After": str(math.ceil(retry)),
                    "X-RateLimit-Global": "true",
                    "X-RateLimit-Scope": "global",
                },
                extra={"retry_after": retry, "global": True},
            )
        window.append(now)
        return None

    # ---- OpenAPI -------------------------------------------------------------------------------
    def spec_check(self, call: Call) -> None:
        """Validate the call's body against the OpenAPI request schema (if a spec is loaded)."""
        call.spec_checked = True
        if self.spec is None or call.json is None:
            return
        errors = self.spec.validate(
            call.method, call.path, call.json, multipart=call.form is not None
        )
        if not errors:
            return
        errs = FormErrors()
        for e in errors:
            errs.add(e.path, "OPENAPI_SCHEMA", f"{e.message} [openapi: {e.schema_path}]")
        errs.raise_if_any()

    # ---- HTTP plumbing -------------------------------------------------------------------------
    async def _read_body(self, request: web.Request) -> tuple[Any, Any, list[Attachment], bool]:
        """(json, form, files, bad_json)"""
        if request.content_type.startswith("multipart/"):
            form: Any = None
            files: list[Attachment] = []
            reader = await request.multipart()
            while True:
                part = await reader.next()
                if part is None:
                    break
                if not isinstance(part, BodyPartReader):  # nested multipart
                    continue
                name = part.name or ""
                if name == "payload_json":
                    try:
                        form = json.loads(await part.text())
                    except ValueError:
                        return None, None, files, True
                elif (m := re.fullmatch(r"files\[(\d+)\]", name)) is not None:
                    data = bytes(await part.read(decode=False))
                    files.append(
                        Attachment(
                            filename=part.filename or f"file{m.group(1)}",
                            content_type=part.headers.get(
                                hdrs.CONTENT_TYPE, "application/octet-stream"
                            ),
                            data=data,
                            id=int(m.group(1)),
                        )
                    )
            return form, form, files, False
        if not request.can_read_body:
            return None, None, [], False
        raw = await request.read()
        if not raw:
            return None, None, [], False
        try:
            return json.loads(raw), None, [], False
        except ValueError:
            return None, None, [], True

    @staticmethod
    def _response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> web.Response:
        if status == 204 or body is None:
            return web.Response(status=status, headers=headers)
        # exactly "application/json": discord.py compares the header with ==
        return web.Response(
            status=status,
            body=json.dumps(body).encode(),
            content_type="application/json",
            headers=headers,
        )

    async def _handle_rest(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["tail"]
        body, form, files, bad_json = await self._read_body(request)
        call = Call(
            method=request.method,
            path=path,
            query=dict(request.query),
            json=body,
            form=form,
            files=files,
            headers=dict(request.headers),
            at=time.perf_counter(),
            index=len(self.calls),
        )
        self.calls.append(call)
        headers: Mapping[str, str] | None = None
        hang = self._take_hang(call)
        if hang is not None and not hang.processed:
            await asyncio.sleep(hang.seconds)
        try:
            status, payload = await self._route(call, bad_json)
        except Rejected as r:
            status, payload, headers = r.status, r.body(), r.headers
            call.reason = r.reason()
            self.errors.append(call)
            if r.rule:
                self.rejections.append(call)
                log.warning(
                    "fakediscord REJECTED %s %s -> %s %s",
                    call.method,
                    call.path,
                    r.status,
                    call.reason,
                )
        except Exception as exc:  # a bug in the fake: make it loud and fail the test
            log.exception("fakediscord internal error on %s %s", call.method, call.path)
            status, payload = 500, {"message": f"fake internal error: {exc!r}", "code": 0}
            call.reason = f"fake internal error: {exc!r}"
            self.errors.append(call)
            self.rejections.append(call)
        call.status = status
        call.response = payload
        ix = self.interactions.get(call.interaction_id) if call.interaction_id else None
        if ix is not None:
            if call in self.rejections:
                ix.rejections.append(call)
            ix.notify()
        self._notify()
        if hang is not None and hang.processed:
            await asyncio.sleep(hang.seconds)
        return self._response(status, payload, headers)

    async def _route(self, call: Call, bad_json: bool) -> tuple[int, Any]:
        found = self.rest.match(call.method, call.path)
        if found is None:
            log.error(
                "fakediscord UNKNOWN ROUTE %s %s (add it to tests/fakediscord/rest.py)",
                call.method,
                call.path,
            )
            raise Rejected(404, 0, "404: Not Found")
        route, params = found
        fault = self._take_fault(call)
        if fault is not None:
            raise fault
        if not route.webhook:
            auth = next((v for k, v in call.headers.items() if k.lower() == "authorization"), None)
            if auth != f"Bot {self.token}":
                raise Rejected(401, 0, "401: Unauthorized")
            limited = self._rate_limited()
            if limited is not None:
                raise limited
        if bad_json:
            raise Rejected(400, 50109, "The request body contains invalid JSON.")
        status, payload = await route.handler(call, params)
        if not call.spec_checked and call.json is not None and call.method != "GET":
            self.spec_check(call)  # a handler that forgot: still report schema violations
        return status, payload

    async def _handle_cdn(self, request: web.Request) -> web.Response:
        att = (
            self.store.cdn.get(int(request.match_info["id"]))
            if request.match_info["id"].isdigit()
            else None
        )
        if att is None:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=att.data, content_type=att.content_type)

    async def _handle_unknown_root(self, request: web.Request) -> web.Response:
        log.error(
            "fakediscord UNKNOWN ROUTE %s %s (outside /api/v10)", request.method, request.path
        )
        call = Call(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            json=None,
            form=None,
            files=[],
            headers=dict(request.headers),
            at=time.perf_counter(),
            index=len(self.calls),
            status=404,
            response={"message": "404: Not Found", "code": 0},
            reason="unknown route",
        )
        self.calls.append(call)
        self.errors.append(call)
        self.rejections.append(call)
        self._notify()
        return self._response(404, call.response)

    # ---- waiting ------------------------------------------------------------------------------
    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait_until(self, ready: Callable[[], Any], timeout: float, what: str) -> Any:  # noqa: ASYNC109 - public API name
        deadline = time.monotonic() + timeout
        while True:
            value = ready()
            if value is not None:
                return value
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"fakediscord: no {what} within {timeout}s")
            event = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)

    def mark(self) -> int:
        """A position in ``calls``; pass it as ``since=`` to look only at later requests."""
        return len(self.calls)

    async def expect(
        self,
        method: str,
        path_regex: str,
        timeout: float = 5.0,  # noqa: ASYNC109 - public API name
        since: int = 0,
        where: Callable[[Call], bool] | None = None,
    ) -> Call:
        """The first finished call at/after ``since`` whose method matches and whose path
        ``re.fullmatch``es ``path_regex`` (and ``where(call)``), waiting up to ``timeout``."""
        regex = re.compile(path_regex)
        method = method.upper()
        pos = since

        def scan() -> Call | None:
            nonlocal pos
            advance = True
            for j in range(pos, len(self.calls)):
                c = self.calls[j]
                if c.status == _PENDING:
                    advance = False
                    continue
                if c.method == method and regex.fullmatch(c.path) and (where is None or where(c)):
                    return c
                if advance:
                    pos = j + 1
            return None

        try:
            result: Call = await self._wait_until(scan, timeout, f"{method} {path_regex}")
        except TimeoutError:
            recent = "\n  ".join(str(c) for c in self.calls[since:][-15:])
            raise TimeoutError(
                f"fakediscord: no {method} {path_regex} within {timeout}s; "
                f"recent calls:\n  {recent}"
            ) from None
        return result

    def messages_in(self, channel_id: int) -> list[Message]:
        """Visible messages of a channel/thread/DM (no ephemeral, deleted or loading ones)."""
        return self.store.in_channel(channel_id)

    def dms_to(self, user_id: int) -> list[Message]:
        cid = self.world.dm_channels.get(user_id)
        return [] if cid is None else self.store.in_channel(cid)

    def message(self, message_id: int) -> Message:
        return self.store.by_id[message_id]

    async def wait_for_message(
        self,
        channel_id: int | None = None,
        dm_to: int | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - public API name
        where: Callable[[Message], bool] | None = None,
        since: int | None = None,
    ) -> Message:
        """The oldest visible message matching the filters (``since`` = a ``mark()``)."""
        pos = 0

        def scan() -> Message | None:
            nonlocal pos
            want = channel_id
            if dm_to is not None:
                want = self.world.dm_channels.get(dm_to)
                if want is None:
                    return None
            msgs = self.store.ordered
            for j in range(pos, len(msgs)):
                m = msgs[j]
                if since is not None and m.call_index < since:
                    continue
                if want is not None and m.channel_id != want:
                    continue
                if not MessageStore.visible(m):
                    continue
                if where is None or where(m):
                    return m
            return None

        result: Message = await self._wait_until(scan, timeout, "matching message")
        return result

    # ---- interactions -------------------------------------------------------------------------
    def unanswered(self, older_than: float = 0.0) -> list[Interaction]:
        """Interactions that got no callback attempt at all."""
        now = time.perf_counter()
        return [
            ix
            for ix in self.interactions.values()
            if not ix.attempted and now - ix.dispatched_at >= older_than
        ]

    def _interaction_channel(self, guild: int | None, channel: int | None, user: int) -> int:
        w = self.world
        if user not in w.users:
            raise LookupError(f"unknown user {user}")
        if guild is None:
            dm = w.dm_channel(user)
            if channel is not None and channel != dm.id:
                raise ValueError(f"channel {channel} is not the bot's DM channel with {user}")
            return dm.id
        g = w.guilds.get(guild)
        if g is None:
            raise LookupError(f"unknown guild {guild}")
        if user not in g.members:
            raise ValueError(f"user {user} is not a member of guild {guild}")
        cid = CH_GENERAL if channel is None else channel
        ch = w.channels.get(cid)
        if ch is None or ch.guild_id != guild:
            raise LookupError(f"channel {cid} is not in guild {guild}")
        if not w.permissions(guild, user, cid) & Perm.VIEW_CHANNEL:
            raise ValueError(
                f"user {user} cannot see channel {cid}; Discord would not deliver this"
            )
        return cid

    async def _dispatch_interaction(
        self,
        itype: int,
        data: JSON,
        *,
        user: int,
        guild: int | None,
        channel_id: int,
        message: Message | None = None,
        opened_by: Interaction | None = None,
        command_name: str | None = None,
    ) -> Interaction:
        if not self.gateway.connected_for(guild):
            raise RuntimeError(
                f"fakediscord: no connected gateway session holds the shard of guild {guild}"
            )
        iid = self.world.next_id()
        token = new_token(iid)
        payload = envelope(
            self.world,
            interaction_id=iid,
            token=token,
            itype=itype,
            data=data,
            user_id=user,
            guild_id=guild,
            channel_id=channel_id,
            message=None if message is None else message.payload(),
        )
        ix = Interaction(
            interaction_id=iid,
            token=token,
            itype=itype,
            user_id=user,
            guild_id=guild,
            channel_id=channel_id,
            payload=payload,
            source_message=message,
            opened_by=opened_by,
            command_name=command_name,
        )
        self.interactions[iid] = ix
        self.interactions_by_token[token] = ix
        ix.dispatched_at = time.perf_counter()
        await self.gateway.dispatch("INTERACTION_CREATE", payload)
        self._notify()
        return ix

    def _attachment_option(self, value: Any) -> JSON:
        if isinstance(value, Attachment):
            filename, data, ctype = value.filename, value.data, value.content_type
        elif isinstance(value, tuple) and len(value) == 2:
            filename, data, ctype = str(value[0]), bytes(value[1]), None
        else:
            raise ValueError("attachment options take (filename, bytes)")
        att = self.store.new_attachment(filename, data, ctype)
        return att.payload()

    def _split(self, command: str, path: Sequence[str]) -> tuple[str, tuple[str, ...]]:
        parts = command.split()
        return parts[0], (*parts[1:], *path)

    async def slash(
        self,
        command: str,
        *path: str,
        user: int = ALICE,
        guild: int | None = GUILD,
        channel: int | None = None,
        unchecked: bool = False,
        **options: Any,
    ) -> Interaction:
        """Invoke a synced slash command (``guild=None`` → from the user's DM with the bot).

        ``unchecked=True`` skips the client-side limits (required, ranges, lengths, choices) to
        prove the bot's own checks; unknown commands/options still raise LookupError."""
        return await self._command_interaction(
            APPLICATION_COMMAND, command, path, user, guild, channel, options, unchecked=unchecked
        )

    async def autocomplete(
        self,
        command: str,
        *path: str,
        focused: str,
        user: int = ALICE,
        guild: int | None = GUILD,
        channel: int | None = None,
        **options: Any,
    ) -> Interaction:
        """Ask the bot for choices for option ``focused`` (its value is the partial text)."""
        options.setdefault(focused, "")
        return await self._command_interaction(
            AUTOCOMPLETE, command, path, user, guild, channel, options, focused=focused
        )

    async def _command_interaction(
        self,
        itype: int,
        command: str,
        path: Sequence[str],
        user: int,
        guild: int | None,
        channel: int | None,
        options: Mapping[str, Any],
        *,
        focused: str | None = None,
        unchecked: bool = False,
    ) -> Interaction:
        """Build a slash-command (or autocomplete) interaction from the synced tree."""
        name, sub = self._split(command, path)
        cmd, scope = self.command_store.lookup(name, guild)
        channel_id = self._interaction_channel(guild, channel, user)
        builder = OptionBuilder(
            self.world,
            guild_id=guild,
            channel_id=channel_id,
            user_id=user,
            attachment_factory=self._attachment_option,
            unchecked=unchecked,
        )
        opts = builder.build(cmd, sub, options, focused=focused)
        data: JSON = {"id": cmd["id"], "name": cmd["name"], "type": 1}
        if opts or focused is not None:
            data["options"] = opts
        if builder.resolved and focused is None:
            data["resolved"] = builder.resolved
        if scope is not None:
            data["guild_id"] = str(scope)
        return await self._dispatch_interaction(
            itype,
            data,
            user=user,
            guild=guild,
            channel_id=channel_id,
            command_name=" ".join((name, *sub)),
        )

    async def context_menu(
        self,
        name: str,
        target: int | Message,
        *,
        user: int = ALICE,
        guild: int | None = GUILD,
        channel: int | None = None,
    ) -> Interaction:
        """Invoke a synced user (target = user id) or message (target = Message) command."""
        ctype = 3 if isinstance(target, Message) else 2
        cmd, scope = self.command_store.lookup(name, guild, ctype)
        channel_id = self._interaction_channel(guild, channel, user)
        if isinstance(target, Message):
            resolved: JSON = {"messages": {str(target.id): target.payload()}}
            target_id = target.id
        else:
            builder = OptionBuilder(self.world, guild_id=guild, channel_id=channel_id, user_id=user)
            target_id = builder._resolve(name, 6, {}, target)
            resolved = builder.resolved
        data: JSON = {
            "id": cmd["id"],
            "name": cmd["name"],
            "type": ctype,
            "target_id": str(target_id),
            "resolved": resolved,
        }
        if scope is not None:
            data["guild_id"] = str(scope)
        return await self._dispatch_interaction(
            APPLICATION_COMMAND,
            data,
            user=user,
            guild=guild,
            channel_id=channel_id,
            command_name=name,
        )

    async def click(
        self,
        message: Message | int,
        component: str,
        *,
        user: int = ALICE,
        values: Sequence[Any] | None = None,
        unchecked: bool = False,
    ) -> Interaction:
        """Click a button (by custom_id or label) or choose ``values`` in a select.

        ``unchecked=True`` allows disabled components and values a client would not send."""
        msg = message if isinstance(message, Message) else self.store.by_id.get(message)
        if msg is None or msg.deleted:
            raise LookupError(f"no (undeleted) message {message}")
        comp = msg.find_component(component)
        if comp is None:
            names = [c.get("custom_id") or c.get("label") for c in msg.buttons + msg.selects]
            raise LookupError(f"message {msg.id} has no component {component!r}; it has {names}")
        if comp.get("disabled") and not unchecked:
            raise ValueError(
                f"component {component!r} is disabled; Discord would not deliver a click"
            )
        ctype = comp["type"]
        data: JSON = {"custom_id": comp.get("custom_id"), "component_type": ctype}
        guild = msg.guild_id
        channel_id = msg.channel_id
        if guild is None:
            dm = self.world.channels[channel_id]
            if dm.type == DM and dm.recipient_id != user:
                raise ValueError(f"user {user} cannot see the DM message {msg.id}")
        elif user not in self.world.guilds[guild].members:
            raise ValueError(f"user {user} is not a member of guild {guild}")
        if ctype == 2:
            if comp.get("style") in (5, 6):
                raise ValueError("link/premium buttons do not create interactions")
            if values is not None:
                raise ValueError("buttons take no values")
        else:
            data.update(
                self._select_values(
                    comp, values, guild=guild, channel_id=channel_id, user=user, unchecked=unchecked
                )
            )
        return await self._dispatch_interaction(
            MESSAGE_COMPONENT, data, user=user, guild=guild, channel_id=channel_id, message=msg
        )

    async def press(
        self,
        custom_id: str,
        *,
        user: int = ALICE,
        guild: int | None = None,
        channel_id: int | None = None,
    ) -> Interaction:
        """A button press with any ``custom_id``, as a modified client can send (forgery tests).

        In a server by default in #general (the presser must be a member, as Discord checks);
        with ``guild=None`` and no channel, in the presser's DM with the bot."""
        if guild is not None and user not in self.world.guilds[guild].members:
            raise ValueError(f"user {user} is not a member of guild {guild}")
        if channel_id is None:
            channel_id = CH_GENERAL if guild == GUILD else None
        if channel_id is None:
            channel_id = self.world.dm_channel(user).id
        data: JSON = {"custom_id": custom_id, "component_type": 2}
        return await self._dispatch_interaction(
            MESSAGE_COMPONENT, data, user=user, guild=guild, channel_id=channel_id
        )

    def _select_values(
        self,
        comp: JSON,
        values: Sequence[Any] | None,
        *,
        guild: int | None,
        channel_id: int,
        user: int,
        unchecked: bool = False,
    ) -> JSON:
        label = comp.get("custom_id")
        if values is None:
            raise ValueError(f"select {label!r} needs values=[...]")
        lo = comp.get("min_values", 1)
        hi = comp.get("max_values", 1)
        if not lo <= len(values) <= hi and not unchecked:
            raise ValueError(f"select {label!r} takes {lo}..{hi} values, got {len(values)}")
        out: JSON = {}
        if comp["type"] == 3:
            allowed = [o.get("value") for o in comp.get("options") or []]
            for v in values:
                if v not in allowed and not unchecked:
                    raise ValueError(f"select {label!r}: {v!r} is not an option ({allowed})")
            out["values"] = list(values)
            return out
        kind = {5: 6, 6: 8, 7: 7, 8: 9}[comp["type"]]
        builder = OptionBuilder(self.world, guild_id=guild, channel_id=channel_id, user_id=user)
        opt = {"channel_types": comp.get("channel_types")}
        out["values"] = [str(builder._resolve(str(label), kind, opt, v)) for v in values]
        out["resolved"] = builder.resolved
        return out

    async def submit_modal(
        self,
        opened_by: Interaction,
        values: Mapping[str, Any],
        *,
        user: int | None = None,
        unchecked: bool = False,
    ) -> Interaction:
        """Submit the modal the bot opened in answer to ``opened_by``.

        ``values`` maps text-input custom_ids to text and select custom_ids to lists.
        Fields left out keep what the bot pre-filled (text ``value``, options marked
        ``default``, ``default_values``), else "" / no selection. ``unchecked=True`` skips the
        required/length/option checks a Discord client enforces (to prove the bot's own)."""
        body = opened_by.callback_body
        if body is None or body.get("type") != 9:
            raise ValueError(f"{opened_by!r} was not answered with a modal")
        modal: JSON = body["data"]
        remaining = dict(values)
        uid = opened_by.user_id if user is None else user
        resolved: JSON = {}
        next_id = 0

        def new_id() -> int:
            nonlocal next_id
            next_id += 1
            return next_id

        def text_input(ti: JSON) -> JSON:
            cid = ti["custom_id"]
            value = remaining.pop(cid, ti.get("value") or "")
            if not isinstance(value, str):
                raise ValueError(f"text input {cid!r} takes a string")
            if ti.get("required", True) and not value and not unchecked:
                raise ValueError(f"text input {cid!r} is required")
            lo, hi = ti.get("min_length", 0), ti.get("max_length", 4000)
            if value and not lo <= len(value) <= hi and not unchecked:
                raise ValueError(f"text input {cid!r}: length {len(value)} outside [{lo}, {hi}]")
            return {"type": 4, "id": new_id(), "custom_id": cid, "value": value}

        def select(sel: JSON) -> JSON:
            cid = sel["custom_id"]
            chosen = remaining.pop(cid, None)
            if chosen is None:  # what the bot pre-selected
                chosen = [o["value"] for o in sel.get("options") or [] if o.get("default")]
                chosen += [int(d["id"]) for d in sel.get("default_values") or []]
            if isinstance(chosen, str | int):
                raise ValueError(f"select {cid!r} takes a list of values")
            required = sel.get("required", True) and sel.get("min_values", 1) > 0
            if not chosen and required and not unchecked:
                raise ValueError(f"select {cid!r} is required")
            sel_data = self._select_values(
                {**sel, "min_values": sel.get("min_values", 1) if chosen else 0},
                list(chosen),
                guild=opened_by.guild_id,
                channel_id=opened_by.channel_id,
                user=uid,
                unchecked=unchecked,
            )
            for key, group in sel_data.pop("resolved", {}).items():
                resolved.setdefault(key, {}).update(group)
            return {"type": sel["type"], "id": new_id(), "custom_id": cid, **sel_data}

        components: list[JSON] = []
        for top in modal.get("components", []):
            if top.get("type") == 1:
                row_id = new_id()
                components.append(
                    {
                        "type": 1,
                        "id": row_id,
                        "components": [text_input(c) for c in top["components"]],
                    }
                )
            elif top.get("type") == 18:
                label_id = new_id()
                inner = top["component"]
                if inner.get("type") == 4:
                    sub = text_input(inner)
                elif inner.get("type") in (3, 5, 6, 7, 8):
                    sub = select(inner)
                else:
                    raise ValueError(f"modal component type {inner.get('type')} is not supported")
                components.append({"type": 18, "id": label_id, "component": sub})
            elif top.get("type") == 10:
                components.append({"type": 10, "id": new_id()})
        if remaining:
            raise LookupError(f"the modal has no fields {sorted(remaining)}")
        data: JSON = {"custom_id": modal["custom_id"], "components": components}
        if resolved:
            data["resolved"] = resolved
        return await self._dispatch_interaction(
            MODAL_SUBMIT,
            data,
            user=uid,
            guild=opened_by.guild_id,
            channel_id=opened_by.channel_id,
            message=opened_by.source_message,
            opened_by=opened_by,
        )
