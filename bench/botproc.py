"""Run the real bot (`bot.__main__`) in its own process against a fake Discord, instrumented.

Started by the benchmarks as `python -m bench.botproc` with FAKE_DISCORD_GATEWAY set (REST goes
through DISCORD_API_BASE, which Haven honours itself). Beside the bot it runs an event-loop lag
probe: a task that asks to wake every 10 ms and records how late it woke. On exit (SIGTERM) it
writes every lag sample (so a benchmark can look at just its own window) and the process's
peak RSS as JSON to BENCH_STATS.

Peak RSS is the kernel's `VmHWM` for this process. `ru_maxrss` is not: a child inherits its
parent's high-water mark across fork and exec, so it reported the harness's peak, not the bot's.

Measuring in a separate process keeps the fake's own CPU work out of the bot's figures.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

import discord.gateway
import yarl

PROBE_INTERVAL = 0.010


async def loop_probe(lags: list[tuple[float, float]]) -> None:
    """Record (unix time, seconds late) every PROBE_INTERVAL: how late this event loop wakes.
    The benchmarks also run it in their own process, on the fake's loop."""
    loop = asyncio.get_running_loop()
    while True:
        start = loop.time()
        await asyncio.sleep(PROBE_INTERVAL)
        lags.append((time.time(), loop.time() - start - PROBE_INTERVAL))


async def _main() -> int:
    from bot import __main__ as entry
    from bot.config import Settings

    settings = Settings.from_env()
    lags: list[tuple[float, float]] = []
    probe = asyncio.create_task(loop_probe(lags))
    try:
        return await entry._run(settings)
    finally:
        probe.cancel()
        _write_stats(lags)


def _write_stats(lags: list[tuple[float, float]]) -> None:
    path = os.environ.get("BENCH_STATS")
    if not path:
        return
    stats = {
        "lags": [(at, round(lag * 1000, 3)) for at, lag in lags],  # (unix time, lateness ms)
        "peak_rss_mb": _vm_hwm_mb(),
    }
    Path(path).write_text(json.dumps(stats))


def _vm_hwm_mb() -> float:
    """This process's own peak resident set (Linux), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(os.environ["FAKE_DISCORD_GATEWAY"])
    from dotenv import load_dotenv

    load_dotenv()
    discord.utils.setup_logging(level=40)  # errors only: logging must not skew the timings
    sys.exit(asyncio.run(_main()))


if __name__ == "__main__":
    main()
