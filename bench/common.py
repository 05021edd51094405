"""Shared set-up for the benchmarks: a fake Discord here, the bot in its own process."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.fakediscord import FakeDiscord

ROOT = Path(__file__).resolve().parent.parent


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def machine() -> str:
    return f"{os.cpu_count()} cores, Python {platform.python_version()}, {platform.machine()}"


@dataclass
class BotProcess:
    proc: asyncio.subprocess.Process
    stats_path: Path
    stats: dict[str, Any] = field(default_factory=dict)

    def loop_lag_ms(self, since: float, until: float) -> tuple[float, float]:
        """The worst and p99 event-loop lateness the bot saw between two `time.time()`s."""
        lags = [lag for at, lag in self.stats.get("lags", []) if since <= at <= until]
        return (max(lags, default=float("nan")), percentile(lags, 0.99))


@asynccontextmanager
async def running_bot(
    fake: FakeDiscord,
    db_path: Path,
    *,
    extra_env: dict[str, str] | None = None,
    log_path: Path | None = None,
) -> AsyncIterator[BotProcess]:
    """Start `python -m bench.botproc` against `fake` (its output to `log_path` if given);
    stop it with SIGTERM and read its stats. A bot that exits during start-up stops the run."""
    stats_path = Path(tempfile.mkdtemp()) / "stats.json"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "DATABASE_"))},
        "DISCORD_TOKEN": fake.token,
        "DISCORD_API_BASE": fake.api_base,
        "FAKE_DISCORD_GATEWAY": fake.gateway_url,
        "DATABASE_URL": f"sqlite:///{db_path}",
        "BENCH_STATS": str(stats_path),
        **(extra_env or {}),
    }
    identified = fake.identify_count
    log = log_path.open("wb") if log_path is not None else None
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.botproc", env=env, cwd=ROOT, stdout=log, stderr=log
        )
    finally:
        if log is not None:
            log.close()
    bot = BotProcess(proc, stats_path)
    try:
        ready = asyncio.ensure_future(fake.wait_identified(timeout=120, n=identified + 1))
        exited = asyncio.ensure_future(proc.wait())
        await asyncio.wait({ready, exited}, return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():
            ready.cancel()
            tail = log_path.read_text(errors="replace")[-2000:] if log_path else ""  # noqa: ASYNC240 (once, failing)
            raise SystemExit(f"the bot exited during start-up ({proc.returncode}):\n{tail}")
        exited.cancel()
        ready.result()
        await asyncio.sleep(3)  # discord.py's guild_ready_timeout (2 s) before on_ready
        yield bot
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), 60)
        if stats_path.exists():
            bot.stats = json.loads(stats_path.read_text())


async def new_fake(**options: Any) -> FakeDiscord:
    fake = FakeDiscord(**options)
    await fake.start()
    return fake
