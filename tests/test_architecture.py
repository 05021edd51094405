"""The layer boundaries from docs/STYLE (the house style), kept by a test rather than by memory.

- `bot/` is the application: only `app.py`, `delivery/` and `__main__.py` touch discord, and
  the feature services do not reach it indirectly either.
- `bot/scheduler.py` is the only module that imports APScheduler.
- `cogs/` are thin Discord adapters: no SQL, no database handle, no APScheduler.
- Only `bot/config.py` reads the environment, and only `bot/__main__.py` loads `.env`.
- Every table that holds a member's rows is covered by the data-rights registry, and every
  kind of scheduled work is declared with the label moderators see (`bot/features.py`).
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bot.app import HavenBot, Services
from bot.config import Settings
from bot.db import migrate
from bot.db.sqlite import SqliteDatabase
from bot.routes import Routes

ROOT = Path(__file__).resolve().parent.parent
BOT = sorted((ROOT / "bot").rglob("*.py"))
COGS = sorted((ROOT / "cogs").rglob("*.py"))
DISCORD_ALLOWED = {"app.py", "__main__.py"}  # and the package bot/delivery/, the Discord port
DELIVERY = ROOT / "bot" / "delivery"
SQL = re.compile(r"^\s*(SELECT .+ FROM|INSERT INTO|UPDATE \w+ SET|DELETE FROM|CREATE |PRAGMA )")


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def top(names: set[str]) -> set[str]:
    return {name.split(".")[0] for name in names}


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", BOT, ids=rel)
def test_only_the_edges_of_bot_import_discord(path: Path) -> None:
    if (path.name in DISCORD_ALLOWED and path.parent.name == "bot") or path.parent == DELIVERY:
        return
    assert "discord" not in top(imports(path)), f"{rel(path)} imports discord"
    assert not {"bot.app", "bot.delivery"} & imports(path), f"{rel(path)} reaches the Discord edge"


def test_feature_services_load_without_discord() -> None:
    """Transitively, too: importing every service (and every module of a package such as
    `bot/circles/`) leaves discord unloaded."""
    modules = [
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for p in BOT
        if p.parent != DELIVERY and not (p.parent.name == "bot" and p.name in DISCORD_ALLOWED)
    ]
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "assert 'discord' not in sys.modules, sorted(m for m in sys.modules if 'discord' in m)\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


@pytest.mark.parametrize("path", [*BOT, *COGS], ids=rel)
def test_only_the_scheduler_imports_apscheduler(path: Path) -> None:
    if path == ROOT / "bot" / "scheduler.py":
        return
    assert "apscheduler" not in top(imports(path)), f"{rel(path)} imports apscheduler"


@pytest.mark.parametrize("path", COGS, ids=rel)
def test_cogs_run_no_sql(path: Path) -> None:
    assert not {"aiosqlite", "sqlite3"} & top(imports(path))
    assert not any(name.startswith("bot.db") for name in imports(path))
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            assert not SQL.match(node.value), f"{rel(path)} holds SQL: {node.value[:40]!r}"


@pytest.mark.parametrize("path", [*BOT, *COGS], ids=rel)
def test_only_config_reads_the_environment(path: Path) -> None:
    source = path.read_text("utf-8")
    if path.name != "config.py":
        assert "os.environ" not in source and "getenv" not in source, rel(path)
    if path.name != "__main__.py":
        assert "load_dotenv" not in source, rel(path)


async def built_services(tmp_path: Path) -> Services:
    """Every service, built as the bot builds them (without connecting to Discord)."""
    db = await SqliteDatabase.open(tmp_path / "features.db")
    await migrate(db)
    bot = HavenBot(Settings(token="unused", database_url=f"sqlite:///{tmp_path / 'features.db'}"))
    return bot._build(db, Routes(b"k" * 32), pseudonyms=b"p" * 32)


async def test_every_table_with_member_rows_is_covered_by_data_rights(tmp_path: Path) -> None:
    services = await built_services(tmp_path)
    covered = {item.table for item in services.features.personal_data}
    with_members = set()
    for table in await services.db.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'"):
        columns = await services.db.fetchall(f"PRAGMA table_info({table['name']})")
        if {"user_id", "about_id"} & {c["name"] for c in columns}:
            with_members.add(table["name"])
    await services.db.close()
    missing = with_members - covered
    assert not missing, f"declare these tables with Features.data in their feature: {missing}"


async def test_every_job_kind_is_declared_with_its_label(tmp_path: Path) -> None:
    """A kind moderators would see unlabelled in /haven status (or never see) fails here."""
    services = await built_services(tmp_path)
    await services.db.close()
    registered = set(services.scheduler.kinds)
    assert registered == set(services.features.job_labels), "declare kinds with Features.job"
