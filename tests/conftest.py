"""The end-to-end harness: the real HavenBot, unmodified, against the loopback fake Discord.

Every test that uses `haven` ends with three checks that make a green run mean something:
the fake rejected nothing the bot sent (Discord would have accepted all of it), every
interaction got an answer (no "The application did not respond"), and the bot is still running.

`--backend postgresql` (or HAVEN_TEST_BACKEND=postgresql) runs the same tests on PostgreSQL: a
throwaway cluster started for the session (`tests/pgcluster.py`), a database migrated once as
a template, and a fresh copy of it for each test. Tests marked `sqlite_only` look at SQLite's
own files (what a deleted row leaves on disk) and are skipped there, saying so. Tests that never
open Haven's database (no `haven`, `new_database`, `pg` or `backend` fixture: the fake, the
message builders, the matcher, the schema parity and migrate-db tests with clusters of their
own) are the same on every backend, so the PostgreSQL run leaves them to the SQLite run.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bot.app import HavenBot, Services
from bot.config import Settings
from bot.db import migrate, open_database
from bot.pacing import Pacer
from bot.scheduler import RunSummary
from tests.clock import FakeClock
from tests.fakediscord import ALICE, FakeDiscord, Message
from tests.pgcluster import PgCluster

TOKEN = "fake-token"


@dataclass
class Haven:
    """A running bot, the fake it talks to, and the clock it reads."""

    fake: FakeDiscord
    db_path: Path
    clock: FakeClock
    dev_guild_id: int | None = None
    members_intent: bool = False
    # Pacing has its own tests; a generous limit keeps the suite quick.
    pacer: Pacer = field(default_factory=lambda: Pacer(per_second=1000))
    answer_within: float = 30.0  # seconds Haven waits for an answer to a REST request
    database_url: str | None = None  # None: SQLite at db_path
    bot: HavenBot = field(init=False)
    task: asyncio.Task[None] = field(init=False)

    async def start(self) -> None:
        settings = Settings(
            token=TOKEN,
            database_url=self.database_url or f"sqlite:///{self.db_path}",
            dev_guild_id=self.dev_guild_id,
            members_intent=self.members_intent,
        )
        self.bot = HavenBot(
            settings,
            clock=self.clock,
            pacer=self.pacer,
            answer_within=self.answer_within,
            guild_ready_timeout=0.05,
        )
        await self.bot.__aenter__()
        self.task = asyncio.create_task(self.bot.start(TOKEN), name="haven-under-test")
        waiter = asyncio.create_task(self.bot.wait_until_ready())
        done, _ = await asyncio.wait({self.task, waiter}, timeout=15, return_when="FIRST_COMPLETED")
        if waiter not in done:
            waiter.cancel()
            if self.task.done():
                raise RuntimeError("the bot stopped during start-up") from self.task.exception()
            raise TimeoutError("the bot did not become ready")

    async def stop(self) -> None:
        await self.bot.close()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(self.task, 10)

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    def assert_alive(self) -> None:
        if self.task.done():
            raise AssertionError(f"the bot stopped: {self.task.exception()!r}")

    @property
    def services(self) -> Services:
        return self.bot.services

    async def run_due(self) -> RunSummary:
        """Run whatever the outbox holds that is due on the test's clock."""
        return await self.bot.services.scheduler.run_due()

    async def settle(self) -> None:
        """Let tasks the bot spawned (views, listeners) finish their current step."""
        for _ in range(5):
            await asyncio.sleep(0.01)


async def say(haven: Haven, *command: str, user: int = ALICE, **options: Any) -> Message:
    """Run a slash command as `user` (Alice by default) and wait for the bot's reply."""
    return await (await haven.fake.slash(*command, user=user, **options)).reply()


BACKENDS = ("sqlite", "postgresql")
TEMPLATE = "haven_template"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backend",
        choices=BACKENDS,
        default=os.environ.get("HAVEN_TEST_BACKEND", "sqlite"),
        help="the database the tests run Haven on (PostgreSQL: a throwaway local cluster)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sqlite_only: looks at SQLite's own files; skipped on other backends"
    )


USES_THE_BACKEND = frozenset({"haven", "new_database", "pg", "backend"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--backend") == "sqlite":
        return
    skip = pytest.mark.skip(reason="looks at SQLite's own files")
    kept: list[pytest.Item] = []
    same_everywhere: list[pytest.Item] = []
    for item in items:
        if item.get_closest_marker("sqlite_only"):
            item.add_marker(skip)
        fixtures = set(getattr(item, "fixturenames", ()))
        (kept if fixtures & USES_THE_BACKEND else same_everywhere).append(item)
    if same_everywhere:
        config.hook.pytest_deselected(items=same_everywhere)
        items[:] = kept


@pytest.fixture(scope="session")
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.config.getoption("--backend"))


@pytest.fixture(scope="session")
def pg(backend: str) -> Iterator[PgCluster | None]:
    """The session's PostgreSQL cluster, with Haven's schema in a template database."""
    if backend != "postgresql":
        yield None
        return
    with PgCluster() as cluster:
        url = cluster.create_database(TEMPLATE)

        async def migrated() -> None:
            db = await open_database(url)
            try:
                await migrate(db)
            finally:
                await db.close()

        asyncio.run(migrated())
        yield cluster


_numbers = itertools.count()

NewDatabase = Callable[..., Awaitable[str]]


@pytest.fixture
async def new_database(pg: PgCluster | None, tmp_path: Path) -> AsyncIterator[NewDatabase]:
    """Make an empty, migrated database for this test; returns its DATABASE_URL."""
    made: list[str] = []

    async def make(name: str = "haven") -> str:
        if pg is None:
            url = f"sqlite:///{tmp_path / name}.db"
            db = await open_database(url)
            try:
                await migrate(db)
            finally:
                await db.close()
            return url
        database = f"t{os.getpid()}_{next(_numbers)}"
        made.append(database)
        return await pg.acreate_database(database, TEMPLATE)

    yield make
    if pg is not None:
        for database in made:
            await pg.adrop_database(database)


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    fake = FakeDiscord(token=TOKEN)
    await fake.start()
    fake.patch_discord()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def haven(
    fake: FakeDiscord, tmp_path: Path, clock: FakeClock, new_database: NewDatabase
) -> AsyncIterator[Haven]:
    fake.clock = clock  # the fake judges "in the past" by the bot's clock, not today's date
    app = Haven(fake, tmp_path / "haven.db", clock, database_url=await new_database())
    await app.start()
    try:
        yield app
        await app.settle()
        app.assert_alive()
        assert fake.rejections == [], f"the fake rejected what the bot sent: {fake.rejections}"
        unanswered = fake.unanswered()
        assert unanswered == [], f"interactions nobody answered: {unanswered}"
    finally:
        await app.stop()


@pytest.fixture(autouse=True)
def _quiet_discord_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="discord")
