"""`python -m bot` with SHARD_COUNT/SHARD_IDS: each process connects the shards it was given."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from tests.conftest import NewDatabase
from tests.fakediscord import OWNER
from tests.reliability.botprocess import ROOT, BotProcess
from tests.test_shards import SHARDS, sharded_fake, world_with_guilds


async def test_processes_connect_the_shards_they_were_given(
    tmp_path: Path, new_database: NewDatabase
) -> None:
    world, _ = world_with_guilds()
    url = await new_database()
    async with sharded_fake(world) as fake:
        procs = [
            BotProcess(
                fake,
                tmp_path / "unused.db",
                log_path=tmp_path / f"bot{n}.log",
                env={"DATABASE_URL": url, "SHARD_COUNT": str(SHARDS), "SHARD_IDS": ids},
            )
            for n, ids in enumerate(("0,1", "2"))
        ]
        try:
            for proc in procs:
                await proc.start()
            await fake._wait_until(  # the second of "0,1" follows 5 s later (discord.py's pace)
                lambda: len(fake.gateway.sessions) == SHARDS or None, 30, "every shard"
            )
            assert set(fake.gateway.sessions) == {(s, SHARDS) for s in range(SHARDS)}
            for gid in sorted(world.guilds):
                general = world.guilds[gid].channel_ids[0]
                ix = await fake.slash(
                    "my", "timezone", zone="Asia/Tokyo", user=OWNER, guild=gid, channel=general
                )
                assert "Got it" in (await ix.reply(timeout=10)).content
            assert fake.rejections == [] and fake.unanswered() == []
        finally:
            for proc in procs:
                if proc.running:
                    assert await proc.stop() == 0, proc.log()
        for proc in procs:
            assert "Traceback" not in proc.log()


@pytest.mark.parametrize("shard_count", [None, "1"])
async def test_sharding_required_exits_2(tmp_path: Path, shard_count: str | None) -> None:
    world, _ = world_with_guilds(per_shard=1)
    async with sharded_fake(world) as fake:
        fake.gateway.max_guilds_per_shard = 2
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "DATABASE_"))}
        env |= {
            "DISCORD_TOKEN": fake.token,
            "DISCORD_API_BASE": fake.api_base,
            "FAKE_DISCORD_GATEWAY": fake.gateway_url,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'haven.db'}",
        }
        if shard_count:
            env["SHARD_COUNT"] = shard_count
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.fakediscord.launch", env=env, cwd=ROOT,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 2, out.decode()
        assert "requires sharding (4011)" in out.decode()
        assert "Traceback" not in out.decode()
