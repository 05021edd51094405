"""Shards (issue 11): SHARD_COUNT/SHARD_IDS, the fake Discord routing shards as Discord does, and
real HavenBots that share the shards of one bot between them, on one fake and one database.

Discord sends a server's events, interactions included, only on the shard
`(server_id >> 22) % shard_count`, and events about no server (DMs) on shard 0. So a process
that holds some of the shards sees only those servers, and the interactions it serves are its
own servers'. The settings tests pin what SHARD_COUNT and SHARD_IDS accept and the kind refusals;
the fake's tests speak the gateway protocol by hand so that what each session receives is exact;
the bots' tests run several `ShardedHaven`s (HavenBot on `commands.AutoShardedBot`, Haven's class
for SHARD_COUNT) in this process, each as one process of a cluster would be.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import discord
import pytest

from bot.app import ShardedHavenBot
from bot.config import ConfigError, Settings
from bot.pacing import Pacer
from tests.conftest import TOKEN, NewDatabase
from tests.fakediscord import GUILD, OWNER, FakeDiscord, World
from tests.fakediscord.gateway import GUILDS, shard_of

JSON = dict[str, Any]
SHARDS = 3


# ---- settings ------------------------------------------------------------------------------------


def shards(**env: str) -> tuple[int | None, tuple[int, ...] | None]:
    settings = Settings.from_env({"DISCORD_TOKEN": "t", **env})
    return settings.shard_count, settings.shard_ids


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, (None, None)),
        ({"SHARD_COUNT": "", "SHARD_IDS": ""}, (None, None)),
        ({"SHARD_COUNT": "6"}, (6, None)),
        ({"SHARD_COUNT": "1", "SHARD_IDS": "0"}, (1, (0,))),
        ({"SHARD_COUNT": "6", "SHARD_IDS": "0,1"}, (6, (0, 1))),
        ({"SHARD_COUNT": "6", "SHARD_IDS": "0-2"}, (6, (0, 1, 2))),
        ({"SHARD_COUNT": "6", "SHARD_IDS": " 5, 0-1 ,3-3 "}, (6, (0, 1, 3, 5))),
        ({"SHARD_COUNT": "6", "SHARD_IDS": "1,1,0-1"}, (6, (0, 1))),
    ],
)
def test_shard_settings(env: dict[str, str], expected: tuple[object, object]) -> None:
    assert shards(**env) == expected


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"SHARD_IDS": "0,1"}, "needs SHARD_COUNT too"),
        ({"SHARD_COUNT": "0"}, "1 or more"),
        ({"SHARD_COUNT": "-2"}, "1 or more"),
        ({"SHARD_COUNT": "three"}, "whole number"),
        ({"SHARD_COUNT": "²"}, "whole number"),
        ({"SHARD_COUNT": "6", "SHARD_IDS": "6"}, "numbered 0 to 5"),
        ({"SHARD_COUNT": "6", "SHARD_IDS": "4-6"}, "numbered 0 to 5"),
        ({"SHARD_COUNT": "6", "SHARD_IDS": "2-0"}, "write it 0-2"),
        ({"SHARD_COUNT": "6", "SHARD_IDS": "0,,1"}, "like 0,1 or 0-2"),
        ({"SHARD_COUNT": "6", "SHARD_IDS": "1-"}, "like 0,1 or 0-2"),
        ({"SHARD_COUNT": "6", "SHARD_IDS": "-1"}, "like 0,1 or 0-2"),
    ],
)
def test_shard_settings_refused_kindly(env: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        shards(**env)


def test_settings_know_which_servers_this_process_holds() -> None:
    on_shard = {s: [guild_on(s, n, 6) for n in range(3)] for s in range(6)}
    unsharded = Settings.from_env({"DISCORD_TOKEN": "t"})
    every = Settings.from_env({"DISCORD_TOKEN": "t", "SHARD_COUNT": "6"})
    some = Settings.from_env({"DISCORD_TOKEN": "t", "SHARD_COUNT": "6", "SHARD_IDS": "2-3"})
    for shard, guilds in on_shard.items():
        for gid in guilds:
            assert unsharded.holds(gid) and every.holds(gid)
            assert some.holds(gid) == (shard in (2, 3))


def test_env_example_documents_sharding() -> None:
    example = (Path(__file__).resolve().parents[1] / ".env.example").read_text()
    assert "SHARD_COUNT=" in example and "SHARD_IDS=" in example
    # the worked example: three processes sharing six shards, each shard in exactly one
    lines = [line for line in example.splitlines() if "SHARD_COUNT=6 SHARD_IDS=" in line]
    assert len(lines) == 3
    held: list[int] = []
    for line in lines:
        env = dict(part.split("=", 1) for part in line.split(":", 1)[1].split())
        count, ids = shards(**env)
        assert count == 6 and ids is not None
        held += ids
    assert sorted(held) == list(range(6))


# ---- the fake's gateway, spoken by hand ---------------------------------------------------------


def guild_on(shard: int, n: int, count: int = SHARDS) -> int:
    """A server id on `shard` of `count` (the `n`th such): its timestamp picks the shard."""
    ms = 300_000_000_000 + n * count * 7 + shard  # mid-2024, in ms since Discord's epoch
    gid = ms << 22 | 1
    assert shard_of(gid, count) == shard
    return gid


def world_with_guilds(per_shard: int = 2) -> tuple[World, dict[int, set[int]]]:
    """The default world (GUILD is on shard 1 of 3) plus `per_shard` servers on every shard."""
    world = World()
    on: dict[int, set[int]] = {s: set() for s in range(SHARDS)}
    on[shard_of(GUILD, SHARDS)].add(GUILD)
    for shard in range(SHARDS):
        for n in range(per_shard):
            on[shard].add(world.add_guild(f"server {shard}.{n}", guild_id=guild_on(shard, n)))
    return world, on


@dataclass
class Raw:
    """A gateway session opened by hand: what READY said and the servers GUILD_CREATE sent."""

    ws: aiohttp.ClientWebSocketResponse
    ready: JSON
    guilds: set[int]

    async def event(self) -> tuple[str, JSON]:
        while True:
            msg = await asyncio.wait_for(self.ws.receive(), 10)
            if msg.type is not aiohttp.WSMsgType.TEXT:
                raise ConnectionError(f"closed {self.ws.close_code}")
            frame = json.loads(msg.data)
            if frame["op"] == 0:
                return frame["t"], frame["d"]

    async def events_until(self, marker: str) -> list[tuple[str, JSON]]:
        """Every event before the GUILD_UPDATE whose name is `marker` (events arrive in order)."""
        seen = []
        while (event := await self.event())[0] != "GUILD_UPDATE" or event[1]["name"] != marker:
            seen.append(event)
        return seen


async def opened(http: aiohttp.ClientSession, fake: FakeDiscord) -> aiohttp.ClientWebSocketResponse:
    ws = await http.ws_connect(fake.gateway_url)
    hello = await ws.receive_json()
    assert hello["op"] == 10
    return ws


async def identify(
    http: aiohttp.ClientSession, fake: FakeDiscord, shard: list[int] | None
) -> Raw | int:
    """IDENTIFY (with `shard` unless None): the session, or the close code it was refused with."""
    ws = await opened(http, fake)
    d: JSON = {"token": fake.token, "intents": GUILDS, "properties": {}}
    if shard is not None:
        d["shard"] = shard
    await ws.send_json({"op": 2, "d": d})
    msg = await asyncio.wait_for(ws.receive(), 10)
    if msg.type is not aiohttp.WSMsgType.TEXT:
        return ws.close_code or 0
    ready = json.loads(msg.data)
    assert ready["t"] == "READY"
    raw = Raw(ws, ready["d"], set())
    for _ in ready["d"]["guilds"]:
        t, g = await raw.event()
        assert t == "GUILD_CREATE"
        raw.guilds.add(int(g["id"]))
    return raw


@contextlib.asynccontextmanager
async def sharded_fake(world: World) -> AsyncIterator[FakeDiscord]:
    fake = FakeDiscord(token=TOKEN, world=world, shards=SHARDS)
    await fake.start()
    fake.patch_discord()
    try:
        yield fake
    finally:
        await fake.stop()


async def test_fake_gateway_bot_recommends_its_shard_count() -> None:
    async with sharded_fake(World()) as fake, aiohttp.ClientSession() as http:
        headers = {"Authorization": f"Bot {fake.token}"}
        async with http.get(f"{fake.api_base}/gateway/bot", headers=headers) as answer:
            assert (await answer.json())["shards"] == SHARDS
    async with (
        FakeDiscord(token=TOKEN) as fake,
        aiohttp.ClientSession() as http,
        http.get(f"{fake.api_base}/gateway/bot", headers=headers) as answer,
    ):
        assert (await answer.json())["shards"] == 1


async def test_fake_sends_each_shard_its_own_servers_and_events() -> None:
    world, on = world_with_guilds()
    async with sharded_fake(world) as fake, aiohttp.ClientSession() as http:
        sessions = []
        for shard in range(SHARDS):
            raw = await identify(http, fake, [shard, SHARDS])
            assert isinstance(raw, Raw)
            assert raw.ready["shard"] == [shard, SHARDS]
            assert raw.guilds == on[shard]
            assert {int(g["id"]) for g in raw.ready["guilds"]} == on[shard]
            sessions.append(raw)
        assert set(fake.gateway.sessions) == {(s, SHARDS) for s in range(SHARDS)}

        # one event per server (each kind finds its server differently), and a DM
        for gid in world.guilds:
            await fake.dispatch("GUILD_MEMBER_REMOVE", {"guild_id": str(gid), "user": {}})
            await fake.dispatch("GUILD_UPDATE", {"id": str(gid), "name": "renamed"})
        await fake.dispatch("MESSAGE_CREATE", {"id": "1", "channel_id": "2", "content": "dm"})
        for shard in range(SHARDS):  # a marker closes each shard's stream
            await fake.dispatch("GUILD_UPDATE", {"id": str(min(on[shard])), "name": "end"})

        for shard, raw in enumerate(sessions):
            events = await raw.events_until("end")
            members = {int(d["guild_id"]) for t, d in events if t == "GUILD_MEMBER_REMOVE"}
            updates = {int(d["id"]) for t, d in events if t == "GUILD_UPDATE"}
            dms = [d for t, d in events if t == "MESSAGE_CREATE"]
            assert members == updates == on[shard]
            assert len(dms) == (1 if shard == 0 else 0)  # DMs go to shard 0, as on Discord
            assert len(events) == 2 * len(on[shard]) + len(dms)


async def test_fake_unsharded_session_gets_everything() -> None:
    """An IDENTIFY without `shard` is shard [0, 1]: every server, every event (Haven unsharded)."""
    world, _ = world_with_guilds(per_shard=1)
    async with sharded_fake(world) as fake, aiohttp.ClientSession() as http:
        raw = await identify(http, fake, None)
        assert isinstance(raw, Raw)
        assert raw.ready["shard"] == [0, 1]
        assert raw.guilds == set(world.guilds)
        for gid in world.guilds:
            await fake.dispatch("CHANNEL_DELETE", {"id": "5", "guild_id": str(gid), "type": 0})
        await fake.dispatch("GUILD_UPDATE", {"id": str(GUILD), "name": "end"})
        events = await raw.events_until("end")
        assert {int(d["guild_id"]) for _, d in events} == set(world.guilds)


async def test_fake_refuses_shards_as_discord_does() -> None:
    world, on = world_with_guilds()
    async with sharded_fake(world) as fake, aiohttp.ClientSession() as http:
        assert await identify(http, fake, [SHARDS, SHARDS]) == 4010  # no such shard
        assert await identify(http, fake, [0, 0]) == 4010
        assert await identify(http, fake, [-1, SHARDS]) == 4010
        fake.gateway.max_guilds_per_shard = 2  # GUILD's shard holds three
        assert await identify(http, fake, [1, SHARDS]) == 4011  # sharding required
        assert await identify(http, fake, None) == 4011
        raw = await identify(http, fake, [0, SHARDS])  # two: allowed
        assert isinstance(raw, Raw) and raw.guilds == on[0]
        # more shards than recommended is allowed, and routed by the count the client sent
        fake.gateway.max_guilds_per_shard = 2500
        wide = await identify(http, fake, [1, 2 * SHARDS])
        assert isinstance(wide, Raw)
        assert wide.guilds == {g for g in world.guilds if shard_of(g, 2 * SHARDS) == 1}
        assert fake.identify_count == 2


async def test_fake_resumes_one_shard_while_the_others_run() -> None:
    world, on = world_with_guilds(per_shard=1)
    async with sharded_fake(world) as fake, aiohttp.ClientSession() as http:
        first = await identify(http, fake, [0, SHARDS])
        second = await identify(http, fake, [1, SHARDS])
        assert isinstance(first, Raw) and isinstance(second, Raw)
        session_id = second.ready["session_id"]
        await fake.gateway.close(4000, shard=1)
        assert fake.gateway.connected_for(min(on[0]))
        assert not fake.gateway.connected_for(GUILD)
        gateway = fake.gateway
        assert await gateway.dispatch("GUILD_UPDATE", {"id": str(min(on[0])), "name": "x"})
        # shard 1's event waits for its RESUME
        assert not await gateway.dispatch("GUILD_UPDATE", {"id": str(min(on[1])), "name": "x"})
        await fake.dispatch("GUILD_UPDATE", {"id": str(min(on[0])), "name": "end"})
        assert [d["name"] for _, d in await first.events_until("end")] == ["x"]

        ws = await opened(http, fake)
        resume = {"token": fake.token, "session_id": session_id, "seq": 0}
        await ws.send_json({"op": 6, "d": resume})
        resumed = Raw(ws, {}, set())
        assert await resumed.event() == ("GUILD_UPDATE", {"id": str(min(on[1])), "name": "x"})
        assert (await resumed.event())[0] == "RESUMED"
        assert fake.resume_count == 1


# ---- Haven on shards ----------------------------------------------------------------------------


class ShardedHaven(ShardedHavenBot):
    """Haven as it runs with SHARD_COUNT set, noting the servers whose interactions it saw."""

    def __init__(self, settings: Settings, **options: Any) -> None:
        super().__init__(settings, **options)
        self.served: list[int | None] = []
        self.add_listener(self._note, "on_interaction")

    async def _note(self, interaction: discord.Interaction) -> None:
        self.served.append(interaction.guild_id)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """No pause between this process's IDENTIFYs: the fake has no IDENTIFY rate limit.
        (discord.py waits 5 s, Discord's pace for one IDENTIFY at a time.)"""


async def started(settings: Settings) -> tuple[ShardedHaven, asyncio.Task[None]]:
    bot = ShardedHaven(
        settings, pacer=Pacer(per_second=1000), answer_within=30.0, guild_ready_timeout=0.05
    )
    await bot.__aenter__()
    task = asyncio.create_task(bot.start(TOKEN))
    waiter = asyncio.create_task(bot.wait_until_ready())
    done, _ = await asyncio.wait({task, waiter}, timeout=20, return_when="FIRST_COMPLETED")
    if waiter not in done:
        waiter.cancel()
        if task.done():
            raise RuntimeError("a bot stopped during start-up") from task.exception()
        raise TimeoutError("a bot did not become ready")
    return bot, task


@contextlib.asynccontextmanager
async def running(
    fake: FakeDiscord, url: str, shard_ids: Iterable[str | None]
) -> AsyncIterator[list[ShardedHaven]]:
    """Haven processes, one per SHARD_IDS value, all with SHARD_COUNT=3 on one database."""
    settings = []
    for ids in shard_ids:
        env = {"DISCORD_TOKEN": TOKEN, "DATABASE_URL": url, "SHARD_COUNT": str(SHARDS)}
        settings.append(Settings.from_env(env | ({"SHARD_IDS": ids} if ids else {})))
    runs = await asyncio.gather(*(started(s) for s in settings), return_exceptions=True)
    ok = [run for run in runs if not isinstance(run, BaseException)]
    try:
        for run in runs:
            if isinstance(run, BaseException):
                raise run
        yield [bot for bot, _ in ok]
        await asyncio.sleep(0.05)  # let the bots finish what the last answers started
        for _, task in ok:
            assert not task.done(), f"a bot stopped: {task.exception()!r}"
        assert fake.rejections == [], f"the fake rejected what a bot sent: {fake.rejections}"
        assert fake.unanswered() == [], f"interactions nobody answered: {fake.unanswered()}"
    finally:
        for bot, task in ok:
            await bot.close()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 10)


async def test_two_processes_share_three_shards(new_database: NewDatabase) -> None:
    """Two Havens on one database, one holding shards 0 and 1, the other shard 2: each sees
    only its shards' servers, and a command in every server is answered by the one holding it."""
    world, on = world_with_guilds()
    async with sharded_fake(world) as fake:
        url = await new_database()
        async with running(fake, url, ["0,1", "2"]) as (first, second):
            assert set(fake.gateway.sessions) == {(s, SHARDS) for s in range(SHARDS)}
            assert first.shard_ids == [0, 1] and second.shard_ids == [2]
            assert {g.id for g in first.guilds} == on[0] | on[1]
            assert {g.id for g in second.guilds} == on[2]

            zones = ["Europe/London", "Asia/Tokyo", "America/Chicago", "Africa/Lagos"]
            chosen = {}
            for n, gid in enumerate(sorted(world.guilds)):
                zone = chosen[gid] = zones[n % len(zones)]
                general = world.guilds[gid].channel_ids[0]
                ix = await fake.slash(
                    "my", "timezone", zone=zone, user=OWNER, guild=gid, channel=general
                )
                assert "Got it" in (await ix.reply()).content

            assert first.served == sorted(on[0] | on[1])  # commands ran in server-id order
            assert second.served == sorted(on[2])
            # one database: each process reads what the other wrote
            for gid, zone in chosen.items():
                reader = second if gid in first.served else first
                assert (await reader.services.members.profile(gid, OWNER)).timezone == zone


async def test_shard_count_alone_runs_every_shard(new_database: NewDatabase) -> None:
    """SHARD_COUNT without SHARD_IDS: this one process runs all the shards, so every server."""
    world, _ = world_with_guilds(per_shard=1)
    url = await new_database()
    async with sharded_fake(world) as fake, running(fake, url, [None]) as (bot,):
        assert sorted(bot.shards) == list(range(SHARDS))
        assert {g.id for g in bot.guilds} == set(world.guilds)
        assert set(fake.gateway.sessions) == {(s, SHARDS) for s in range(SHARDS)}
        ix = await fake.slash("my", "timezone", user=OWNER, guild=GUILD)
        assert "time zone" in (await ix.reply()).content
        assert bot.served == [GUILD]
