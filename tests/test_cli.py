"""`python -m bot` as a process: exit statuses, signals, DISCORD_API_BASE and backups."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from pathlib import Path

import pytest

from bot.db.migrate import load_migrations
from tests.fakediscord import FakeDiscord

ROOT = Path(__file__).resolve().parent.parent


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "DATABASE_"))}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'haven.db'}", LOG_LEVEL="INFO", **extra)
    return env


async def _run(*args: str, env: dict[str, str]) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *args, env=env, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_without_a_token_it_explains_and_exits_2(tmp_path: Path) -> None:
    code, out = await _run("-m", "bot", env=_env(tmp_path, DISCORD_TOKEN=""))
    assert code == 2
    assert "DISCORD_TOKEN" in out and "discord.com/developers/applications" in out
    assert "Traceback" not in out
    assert not (tmp_path / "haven.db").exists()


async def test_a_rejected_token_exits_2_without_a_traceback(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    env = _env(tmp_path, DISCORD_TOKEN="not-the-token", DISCORD_API_BASE=fake.api_base)
    code, out = await _run("-m", "bot", env=env)
    assert code == 2, out
    assert "rejected DISCORD_TOKEN" in out
    assert "Traceback" not in out
    # DISCORD_API_BASE was honoured: the login call reached the fake.
    assert any(c.path.endswith("/users/@me") for c in fake.calls)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_a_signal_stops_cleanly_with_status_0(
    fake: FakeDiscord, tmp_path: Path, sig: signal.Signals
) -> None:
    env = _env(
        tmp_path,
        DISCORD_TOKEN="fake-token",
        DISCORD_API_BASE=fake.api_base,
        FAKE_DISCORD_GATEWAY=fake.gateway_url,
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.fakediscord.launch", env=env, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        await fake.wait_identified(timeout=30)
        await asyncio.sleep(0.5)  # let it settle into the gateway loop
        proc.send_signal(sig)
        out, _ = await asyncio.wait_for(proc.communicate(), 20)
    finally:
        if proc.returncode is None:
            proc.kill()
    assert proc.returncode == 0, out.decode()
    assert "Traceback" not in out.decode()
    with sqlite3.connect(tmp_path / "haven.db") as db:  # closed cleanly, fully migrated
        assert db.execute("PRAGMA user_version").fetchone() == (len(load_migrations()),)
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


async def test_backup_writes_a_consistent_copy(tmp_path: Path) -> None:
    source = tmp_path / "haven.db"
    with sqlite3.connect(source) as db:
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("CREATE TABLE notes (text TEXT)")
        db.execute("INSERT INTO notes VALUES ('kept')")
    target = tmp_path / "copies" / "backup.db"
    code, out = await _run("-m", "bot", "backup", str(target), env=_env(tmp_path))
    assert code == 0, out
    with sqlite3.connect(target) as copy:
        assert copy.execute("SELECT text FROM notes").fetchall() == [("kept",)]
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)

    again, out = await _run("-m", "bot", "backup", str(target), env=_env(tmp_path))
    assert again == 2 and "already exists" in out


async def test_backup_of_a_missing_database_exits_2(tmp_path: Path) -> None:
    code, out = await _run("-m", "bot", "backup", str(tmp_path / "b.db"), env=_env(tmp_path))
    assert code == 2 and "no database" in out
