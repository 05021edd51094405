"""Work for a server on another process's shard (issue 11): sent, pressed and refused rightly.

A process's cache holds only its own shards' servers, yet any process runs any due job (and a
dead process's jobs are taken over by the others), and Discord brings every DM press to shard
0. So "not in my cache" must not mean "Haven was removed from that server": `Delivery.guild`
asks Discord once about a server on another shard, and remembers the answer for a few minutes.

Two `ShardedHaven`s on one database and one fake with three shards: `first` holds shards 0 and
1 (so every DM press), `second` shard 2. Each reads its own clock, so a job runs where the test
moves the clock: a reminder for a server on shard 2, made through `second`, is run by `first`.
REST calls are counted from the fake's log: one GET /guilds/{id} per server, not per DM.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from bot.config import Settings
from bot.messages import Outgoing
from bot.outgoing import Delivered, EventSpec
from bot.pacing import Pacer
from bot.reminders import KIND as REMINDER
from tests.clock import FakeClock, utc
from tests.conftest import TOKEN, NewDatabase
from tests.fakediscord import ALICE, BOB, FakeDiscord, Message
from tests.fakediscord.models import Call
from tests.test_shards import SHARDS, ShardedHaven, sharded_fake, world_with_guilds


@dataclass
class Cluster:
    fake: FakeDiscord
    first: ShardedHaven  # shards 0 and 1: DMs and their presses arrive here
    second: ShardedHaven  # shard 2
    clocks: tuple[FakeClock, FakeClock]
    far: int  # a server on shard 2, held by `second` only
    near: int  # a server on shard 0, held by `first`

    def general(self, guild_id: int) -> int:
        return self.fake.world.guilds[guild_id].channel_ids[0]

    def calls(self, method: str, pattern: str, since: int = 0) -> list[Call]:
        return [
            c
            for c in self.fake.calls[since:]
            if c.method == method and re.fullmatch(pattern, c.path)
        ]

    async def say(self, guild_id: int, *command: str, user: int = ALICE, **options: Any) -> Message:
        ix = await self.fake.slash(
            *command, user=user, guild=guild_id, channel=self.general(guild_id), **options
        )
        return await ix.reply()


async def start(settings: Settings, clock: FakeClock) -> tuple[ShardedHaven, asyncio.Task[None]]:
    bot = ShardedHaven(
        settings,
        clock=clock,
        pacer=Pacer(per_second=1000),
        answer_within=30.0,
        guild_ready_timeout=0.05,
    )
    await bot.__aenter__()
    task = asyncio.create_task(bot.start(TOKEN))
    waiter = asyncio.create_task(bot.wait_until_ready())
    done, _ = await asyncio.wait({task, waiter}, timeout=20, return_when="FIRST_COMPLETED")
    if waiter not in done:
        waiter.cancel()
        raise RuntimeError("a bot did not become ready") from (
            task.exception() if task.done() else None
        )
    return bot, task


@contextlib.asynccontextmanager
async def cluster(new_database: NewDatabase) -> AsyncIterator[Cluster]:
    world, on = world_with_guilds(per_shard=2)
    far, near = min(on[2]), min(on[0])
    for gid in (far, near):
        for user in (ALICE, BOB):
            world.add_member(user, gid)
    url = await new_database()
    clocks = (FakeClock(), FakeClock())
    async with sharded_fake(world) as fake:
        fake.clock = clocks[0]
        runs = []
        try:
            for ids, clock in zip(("0,1", "2"), clocks, strict=True):
                env = {
                    "DISCORD_TOKEN": TOKEN,
                    "DATABASE_URL": url,
                    "SHARD_COUNT": str(SHARDS),
                    "SHARD_IDS": ids,
                }
                runs.append(await start(Settings.from_env(env), clock))
            (first, _), (second, _) = runs
            assert {g.id for g in first.guilds} == on[0] | on[1]
            assert {g.id for g in second.guilds} == on[2]
            yield Cluster(fake, first, second, clocks, far, near)
            await asyncio.sleep(0.05)  # let the bots finish what the last answers started
            for bot, task in runs:
                assert bot.is_closed() or not task.done(), f"a bot stopped: {task.exception()!r}"
            assert fake.unanswered() == [], f"interactions nobody answered: {fake.unanswered()}"
        finally:
            for bot, task in runs:
                await bot.close()
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait_for(task, 10)


def no_rejections(c: Cluster, *about_the_world: str) -> None:
    """The fake rejected nothing, except requests on paths matching `about_the_world`: asking
    about a server Haven was removed from, which Discord answers 404/403 (the fake counts those
    as rejections; they are answers about the world, not rules broken)."""
    rejected = [
        call
        for call in c.fake.rejections
        if not any(re.fullmatch(p, call.path) for p in about_the_world)
    ]
    assert rejected == [], f"the fake rejected what a bot sent: {rejected}"


async def reminders_due(c: Cluster, guild_id: int, users: tuple[int, ...]) -> None:
    """Each user turns on a 12:30 reminder in the server (answered by the process holding it)
    and `first` runs them; `second`'s clock stays at 12:00, so it runs nothing."""
    c.clocks[0].set(utc(2026, 11, 28, 12))
    for user in users:
        reply = await c.say(guild_id, "my", "reminder", user=user, time="12:30")
        assert "12:30" in reply.text
    c.clocks[0].set(utc(2026, 11, 28, 12, 30, 5))
    await c.first.services.scheduler.run_due()
    pending = await c.first.services.scheduler.pending(guild_id=guild_id, kind=REMINDER)
    assert all(job.due_at > c.clocks[0]() for job in pending)  # today's went; tomorrow's wait


# ---- (1) a job for a server on another process's shard is sent, not dropped -----------------


async def test_a_reminder_for_a_server_on_another_shard_arrives(
    new_database: NewDatabase,
) -> None:
    async with cluster(new_database) as c:
        assert not c.first.settings.holds(c.far)
        await reminders_due(c, c.far, (ALICE, BOB))

        for user in (ALICE, BOB):
            [dm] = c.fake.dms_to(user)  # exactly one each, sent by `first`
            assert "A gentle check-in reminder" in dm.text
            assert f"From {c.fake.world.guilds[c.far].name}" in dm.text  # not "your server"
        # One question about the server for the whole fan-out, one per member asked.
        assert len(c.calls("GET", f"/guilds/{c.far}")) == 1
        assert len(c.calls("GET", rf"/guilds/{c.far}/members/\d+")) == 2

        # Remembered: more DMs about that server ask about it no more.
        delivery = c.first.services.delivery
        for n in range(3):
            sent = await delivery.to_member(
                f"test:{n}", ALICE, Outgoing(content="hello"), guild_id=c.far, kind=REMINDER
            )
            assert sent is Delivered.SENT
        assert len(c.calls("GET", f"/guilds/{c.far}")) == 1
        assert len(c.fake.dms_to(ALICE)) == 4
        assert await delivery.server_name(c.far) == c.fake.world.guilds[c.far].name

        # A server on this process's own shards is never asked about: the cache knows.
        mark = len(c.fake.calls)
        await reminders_due(c, c.near, (ALICE,))
        assert len(c.fake.dms_to(ALICE)) == 5
        assert c.calls("GET", f"/guilds/{c.near}", since=mark) == []
        no_rejections(c)


async def test_a_dead_processs_servers_still_get_their_reminders(
    new_database: NewDatabase,
) -> None:
    """The process holding shard 2 dies: no gateway anywhere holds that server until it comes
    back, yet the job another process takes over is sent."""
    async with cluster(new_database) as c:
        for user in (ALICE, BOB):
            await c.say(c.far, "my", "reminder", user=user, time="12:30")
        await c.second.close()
        assert not c.fake.gateway.connected_for(c.far)
        c.clocks[0].set(utc(2026, 11, 28, 12, 30, 5))
        await c.first.services.scheduler.run_due()
        assert [len(c.fake.dms_to(user)) for user in (ALICE, BOB)] == [1, 1]
        assert len(c.calls("GET", f"/guilds/{c.far}")) == 1
        no_rejections(c)


# ---- (2) a DM press about a server on shard 2, delivered to shard 0's process ---------------


async def test_a_dm_press_for_a_server_on_another_shard_works(new_database: NewDatabase) -> None:
    async with cluster(new_database) as c:
        await reminders_due(c, c.far, (ALICE,))
        [dm] = c.fake.dms_to(ALICE)
        before = (list(c.first.served), list(c.second.served))

        opened = await c.fake.click(dm, "Check in")  # a DM: Discord sends it on shard 0
        await opened.modal()
        reply = await (await c.fake.submit_modal(opened, {"feeling": ["settled"]})).reply()
        assert "not part of that server" not in reply.text

        assert c.first.served[len(before[0]) :] == [None, None]  # the press and the form
        assert c.second.served == before[1]
        db = c.first.services.db
        count = "SELECT count(*) FROM checkins WHERE guild_id = ? AND user_id = ?"
        assert await db.fetchval(count, (c.far, ALICE)) == 1
        # The press believed what the DM's fan-out learnt about the server: still one question.
        assert len(c.calls("GET", f"/guilds/{c.far}")) == 1
        no_rejections(c)


# ---- (3) a server Haven was really removed from is still NO_ACCESS ---------------------------


async def test_a_server_haven_was_removed_from_is_still_no_access(
    new_database: NewDatabase,
) -> None:
    async with cluster(new_database) as c:
        world = c.fake.world
        delivery = c.first.services.delivery
        await reminders_due(c, c.far, (ALICE,))
        [dm] = c.fake.dms_to(ALICE)
        general = c.general(c.far)

        # Removed from the server on shard 2 after the DM went: its shard's process hears it.
        del world.guilds[c.far]
        await c.fake.dispatch("GUILD_DELETE", {"id": str(c.far)})
        await asyncio.sleep(0.05)
        assert c.second.get_guild(c.far) is None

        # A press within the minutes `first` believes the server: Discord's refusal of the
        # member lookup makes it ask again, and the member hears the kind refusal.
        refused = await (await c.fake.click(dm, "Check in")).reply()
        assert "not part of that server any more" in refused.text
        asked = len(c.calls("GET", f"/guilds/{c.far}"))
        assert asked == 2
        # ... and then it is known: DMs about it are NO_ACCESS without asking again.
        for n in range(3):
            gone = await delivery.to_member(
                f"gone:{n}", ALICE, Outgoing(content="hello"), guild_id=c.far, kind=REMINDER
            )
            assert gone is Delivered.NO_ACCESS
        post = await delivery.to_channel(
            "gone:post", general, Outgoing(content="x"), guild_id=c.far
        )
        assert post is Delivered.NO_ACCESS
        assert len(c.calls("GET", f"/guilds/{c.far}")) == asked
        assert len(c.fake.dms_to(ALICE)) == 1

        # Haven's bot removed from a server it was never asked about: 403, also NO_ACCESS.
        other = next(g for g in world.guilds if not c.first.settings.holds(g) and g != c.far)
        del world.guilds[other].members[world.bot_id]
        assert await delivery.guild(other) is None
        assert await delivery.still_member(other, world.guilds[other].owner_id) is False
        assert len(c.calls("GET", f"/guilds/{other}")) == 1

        # A server on this process's own shard, gone from its cache: no question at all.
        del world.guilds[c.near]
        await c.fake.dispatch("GUILD_DELETE", {"id": str(c.near)})
        await asyncio.sleep(0.05)
        mark = len(c.fake.calls)
        gone = await delivery.to_member(
            "gone:near", ALICE, Outgoing(content="hello"), guild_id=c.near, kind=REMINDER
        )
        assert gone is Delivered.NO_ACCESS
        assert c.fake.calls[mark:] == []

        no_rejections(c, f"/guilds/({c.far}|{other})", rf"/guilds/{c.far}/members/\d+")


# ---- places: threads and events in a server on another shard ----------------------------------


async def test_threads_and_events_for_a_server_on_another_shard(
    new_database: NewDatabase,
) -> None:
    async with cluster(new_database) as c:
        general = c.general(c.far)
        delivery = c.first.services.delivery
        thread = await delivery.open_thread(
            "thread:far", general, "Buddies", invite=[ALICE, BOB], guild_id=c.far
        )
        assert thread is not None
        made = c.fake.world.channels[thread]
        assert made.parent_id == general and {ALICE, BOB} <= made.thread_members
        again = await delivery.open_thread(
            "thread:far", general, "Buddies", invite=[ALICE, BOB], guild_id=c.far
        )
        assert again == thread

        # The same event from either process: the channel asked of Discord where not cached.
        start = utc(2026, 12, 1, 18)
        spec = EventSpec("Circle", start, utc(2026, 12, 1, 19), channel_id=general)
        assert await delivery.sync_event("event:far", c.far, spec) is Delivered.SENT
        assert await delivery.sync_event("event:far", c.far, spec) is Delivered.ALREADY_SENT
        holder = c.second.services.delivery
        assert await holder.sync_event("event:far", c.far, spec) is Delivered.ALREADY_SENT
        [event] = c.fake.world.guilds[c.far].scheduled_events.values()
        assert event["entity_metadata"] == {"location": "#general"}
        assert len(c.calls("GET", f"/channels/{general}")) == 1
        assert len(c.calls("GET", f"/guilds/{c.far}")) == 1
        assert await delivery.sync_event("event:far", c.far, None) is Delivered.SENT
        no_rejections(c)


async def test_a_thread_interrupted_on_another_shard_is_found_again(
    new_database: NewDatabase,
) -> None:
    """A process that never saw the server's threads finds the one an interrupted creation
    made among the server's active threads (asked of Discord), instead of making a second."""
    async with cluster(new_database) as c:
        general = c.general(c.far)
        delivery = c.first.services.delivery
        made = await delivery.open_thread("thread:cut", general, "Pair", invite=[], guild_id=c.far)
        # As if the process stopped between Discord making the thread and the ledger noting it.
        await c.first.services.db.execute(
            "UPDATE deliveries SET state = 'sending', channel_id = NULL WHERE key = 'thread:cut'"
        )
        again = await delivery.open_thread(
            "thread:cut", general, "Pair", invite=[ALICE], guild_id=c.far
        )
        assert again == made is not None
        assert len(c.calls("POST", f"/channels/{general}/threads")) == 1
        assert len(c.calls("GET", f"/guilds/{c.far}/threads/active")) == 1
        assert ALICE in c.fake.world.channels[made].thread_members
        no_rejections(c)
