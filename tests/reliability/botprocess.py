"""The real bot (`python -m bot`) in its own OS process against a fake Discord in this one.

For tests that must kill the bot for real (SIGKILL: no `finally`, no clean close, a database
mid-write) while the fake Discord, which lives in the test process, survives and remembers
every message. `tests.fakediscord.launch` points discord.py's gateway at the fake; REST goes
through DISCORD_API_BASE, which Haven honours itself. The bot's log (warnings and up) is
appended to `log_path` across restarts, so a test can check that no life logged an error.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from tests.fakediscord import FakeDiscord

ROOT = Path(__file__).resolve().parents[2]


class BotProcess:
    def __init__(
        self,
        fake: FakeDiscord,
        db_path: Path,
        *,
        log_path: Path,
        env: dict[str, str] | None = None,
    ) -> None:
        self.fake = fake
        self.db_path = db_path
        self.log_path = log_path
        self.extra_env = env or {}
        self.proc: asyncio.subprocess.Process | None = None
        self.starts = 0

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def start(self, *, timeout: float = 60.0) -> None:  # noqa: ASYNC109 - a plain bound
        """Spawn the bot and wait for its gateway IDENTIFY (start-up work is done by then:
        migrated, start-up jobs run, the scheduler armed; it runs due work once `on_ready`)."""
        assert not self.running, "the bot is already running"
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "DATABASE_"))},
            "DISCORD_TOKEN": self.fake.token,
            "DISCORD_API_BASE": self.fake.api_base,
            "FAKE_DISCORD_GATEWAY": self.fake.gateway_url,
            "DATABASE_URL": f"sqlite:///{self.db_path}",
            "LOG_LEVEL": "WARNING",
            **self.extra_env,
        }
        identified = self.fake.identify_count
        with self.log_path.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.fakediscord.launch",
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=log,
            )
        self.starts += 1
        await self.fake.wait_identified(timeout=timeout, n=identified + 1)

    def kill(self) -> None:
        """SIGKILL, at once (synchronous, so it lands exactly where the caller is)."""
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.kill()

    async def wait(self) -> int:
        assert self.proc is not None
        return await asyncio.wait_for(self.proc.wait(), 30)

    async def stop(self) -> int:
        """A clean stop (SIGTERM), as a service manager would."""
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        return await self.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
