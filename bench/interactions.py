"""Benchmark: 1,000 interactions at 50 per second against the real bot.

    python -m bench.interactions [--count 1000] [--rate 50]

Half are `/support` (resources, a grounding practice, a button), half `/my timezone` with a zone
(a validated write to SQLite). Prints p50/p99 of dispatch-to-callback time — from the fake
sending INTERACTION_CREATE to the bot's initial response arriving — and the bot's peak RSS.
The fake's OpenAPI body checks are off here (the test suite runs them) so the figures measure
the bot, not the validator.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from bench.common import machine, new_fake, percentile, running_bot

TARGET_P99_MS, TARGET_RSS_MB = 15.0, 120.0


async def run(count: int, rate: float) -> None:
    fake = await new_fake(validate_spec=False)
    db_path = Path(tempfile.mkdtemp()) / "haven.db"
    try:
        async with running_bot(fake, db_path) as bot:
            # Warm-up: the first call of each command pays one-time import and cache costs.
            for _ in range(3):
                await (await fake.slash("support")).callback()
                await (await fake.slash("my", "timezone", zone="Europe/London")).callback()
            handles = []
            window = time.time()
            start = time.perf_counter()
            for i in range(count):
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                if i % 2:
                    handles.append(await fake.slash("my", "timezone", zone="Europe/London"))
                else:
                    handles.append(await fake.slash("support"))
            for ix in handles:
                await ix.callback(timeout=30)
            window_end = time.time()
        latencies = [(ix.latency or float("nan")) * 1000 for ix in handles]
        p50, p99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
        rss = bot.stats.get("peak_rss_mb", float("nan"))
        worst_lag, p99_lag = bot.loop_lag_ms(window, window_end)
        print(f"interactions: {count} at {rate:g}/s on {machine()}")
        print(f"  dispatch-to-callback p50 {p50:.2f} ms, p99 {p99:.2f} ms, "
              f"max {max(latencies):.2f} ms")  # fmt: skip
        print(f"  bot peak RSS {rss:.1f} MB; event-loop lag p99 {p99_lag:.2f} ms, "
              f"worst {worst_lag:.2f} ms")  # fmt: skip
        print(f"  targets: p99 < {TARGET_P99_MS:g} ms: {_verdict(p99 < TARGET_P99_MS)}; "
              f"RSS < {TARGET_RSS_MB:g} MB: {_verdict(rss < TARGET_RSS_MB)}")  # fmt: skip
        print(f"  fake rejections: {len(fake.rejections)}")
    finally:
        await fake.stop()


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=50.0)
    args = parser.parse_args()
    asyncio.run(run(args.count, args.rate))


if __name__ == "__main__":
    main()
