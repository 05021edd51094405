"""`python -m bot [run]` starts Haven; `python -m bot backup PATH` copies its database;
`python -m bot migrate-db --to postgresql://…` moves it into an empty PostgreSQL database.

Exit status: 0 after a clean stop (SIGINT/SIGTERM), 2 for a configuration problem the person
running it must fix (no token, a token Discord rejects, a bad setting, shards Discord refuses),
1 for anything else.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

import discord
from dotenv import load_dotenv

from bot.config import ConfigError, Settings
from bot.db.database import describe

log = logging.getLogger("bot")

EXIT_OK, EXIT_ERROR, EXIT_CONFIG = 0, 1, 2
# Gateway close codes that mean the shard settings must change (see SHARD_COUNT in .env.example).
SHARD_REFUSALS = {
    4010: "Discord refused the shard (4010 Invalid shard): check SHARD_COUNT and SHARD_IDS.",
    4011: (
        "Discord requires sharding (4011): Haven is in more servers than its shards may hold "
        "(2,500 each). Set SHARD_COUNT, and SHARD_IDS in each process; see .env.example."
    ),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="connect to Discord and run Haven (the default)")
    backup = sub.add_parser("backup", help="write a consistent copy of the database to PATH")
    backup.add_argument("path", type=Path)
    move = sub.add_parser(
        "migrate-db",
        help="copy the SQLite database (DATABASE_URL) into an empty PostgreSQL database, "
        "and check every table arrived whole",
    )
    move.add_argument("--to", required=True, metavar="postgresql://…", dest="target")
    args = parser.parse_args(argv)

    load_dotenv()  # once, here: importing Haven's modules never reads the environment
    command = args.command or "run"
    try:
        settings = Settings.from_env(need_token=command == "run")
    except ConfigError as exc:
        print(f"haven: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    discord.utils.setup_logging(level=logging.getLevelNamesMapping()[settings.log_level])
    if command == "backup":
        if settings.database_path is None:
            print(
                "haven: backup copies a SQLite database; use pg_dump for PostgreSQL.",
                file=sys.stderr,
            )
            return EXIT_CONFIG
        if not settings.database_path.exists():
            print(f"haven: there is no database at {settings.database_path}.", file=sys.stderr)
            return EXIT_CONFIG
        if args.path.exists():
            print(f"haven: {args.path} already exists; choose a new path.", file=sys.stderr)
            return EXIT_CONFIG
        return asyncio.run(_backup(settings, args.path))
    if command == "migrate-db":
        return _migrate_db(settings, args.target)
    return asyncio.run(_run(settings))


async def _run(settings: Settings) -> int:
    from bot.app import make_bot

    if settings.api_base:
        discord.http.Route.BASE = settings.api_base  # a REST proxy in front of Discord
    bot = make_bot(settings)  # sharded when SHARD_COUNT is set
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    async with bot:
        running = asyncio.create_task(bot.start(settings.token), name="haven")
        stopping = asyncio.create_task(stop.wait(), name="haven-stop")
        await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not running.done():
            log.info("stopping: closing the scheduler, the database and the connection")
            await bot.close()
        await asyncio.wait({running})
        error = None if running.cancelled() else running.exception()
    return _exit_status(error)


def _exit_status(error: BaseException | None) -> int:
    if error is None:
        return EXIT_OK
    if isinstance(error, discord.LoginFailure):
        print(
            "haven: Discord rejected DISCORD_TOKEN (401 Unauthorized). Open your application at "
            "https://discord.com/developers/applications → Bot → Reset Token, and put the new "
            "token in .env.",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    if isinstance(error, discord.PrivilegedIntentsRequired):
        print(f"haven: {error}", file=sys.stderr)
        return EXIT_CONFIG
    if isinstance(error, discord.ConnectionClosed) and error.code in SHARD_REFUSALS:
        print(f"haven: {SHARD_REFUSALS[error.code]}", file=sys.stderr)
        return EXIT_CONFIG
    log.error("Haven stopped because of an unexpected error", exc_info=error)
    return EXIT_ERROR


async def _backup(settings: Settings, target: Path) -> int:
    from bot.db.sqlite import SqliteDatabase

    source = settings.database_path
    assert source is not None
    db = await SqliteDatabase.open(source)
    try:
        await db.backup(target)
    finally:
        await db.close()
    print(f"haven: backed up {source} to {target}")
    return EXIT_OK


def _migrate_db(settings: Settings, target: str) -> int:
    from bot.config import database_url, is_postgresql
    from bot.db.transfer import TransferError, TransferRefused, transfer

    if settings.database_path is None:
        print(
            "haven: migrate-db copies a SQLite database into PostgreSQL, and DATABASE_URL "
            "already names PostgreSQL; there is nothing to move.",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    target = target.strip()
    try:
        valid = is_postgresql(target) and bool(database_url(target))
    except ConfigError:
        valid = False
    if not valid:
        print(
            "haven: --to must name an empty PostgreSQL database, like "
            f"postgresql://haven@db.example:5432/haven (got {describe(target)!r}).",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    try:
        report = asyncio.run(transfer(settings.database_path, target))
    except TransferRefused as exc:
        print(f"haven: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except TransferError as exc:
        print(f"haven: {exc}", file=sys.stderr)
        return EXIT_ERROR
    print("\n".join(report.lines()))
    if not report.committed:
        print(
            "haven: the copy in PostgreSQL did not match the SQLite database (MISMATCH above), "
            "so nothing was kept; the target is empty again. Please report this.",
            file=sys.stderr,
        )
        return EXIT_ERROR
    print(f"haven: moved {settings.database_path} to {report.target}; set DATABASE_URL to it.")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
