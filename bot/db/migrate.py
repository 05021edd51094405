"""Numbered SQL migrations, applied in order on start and tracked with `PRAGMA user_version`.

Files are `NNNN_description.sql` in `migrations/`, numbered from 0001 with no gaps; each runs in
its own transaction together with the `user_version` bump, so a failed migration leaves the
database exactly as it was.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from bot.db.database import Database

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            raise MigrationError(f"migration file {path.name} is not named NNNN_description.sql")
        found.append(Migration(int(match.group(1)), path.name, path.read_text("utf-8")))
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise MigrationError(
                f"migrations must be numbered 1..N with no gaps; expected {expected:04d}, "
                f"found {migration.name}"
            )
    return found


async def migrate(db: Database, migrations: list[Migration] | None = None) -> int:
    """Bring the schema up to date; returns the resulting version."""
    migrations = load_migrations() if migrations is None else migrations
    current = int(await db.fetchval("PRAGMA user_version"))
    latest = migrations[-1].version if migrations else 0
    if current > latest:
        raise MigrationError(
            f"the database is at schema version {current}, newer than this code knows ({latest}); "
            "run a newer Haven or restore a backup"
        )
    # Rebuilding a table (SQLite's way to change a column) drops it, and with foreign keys on
    # that would cascade into the rows that refer to it. So keys are off while migrating and
    # checked before each commit, as SQLite's documentation prescribes.
    await db.execute("PRAGMA foreign_keys = OFF")
    try:
        for migration in migrations[current:]:
            script = f"BEGIN;\n{migration.sql}\nPRAGMA user_version = {migration.version};"
            try:
                await db.executescript(script)
                broken = await db.fetchall("PRAGMA foreign_key_check")
                if broken:
                    raise MigrationError(f"{len(broken)} rows would break foreign keys")
                await db.execute("COMMIT")
            except Exception as exc:
                if db.in_transaction:  # the script stopped between its BEGIN and COMMIT
                    await db.execute("ROLLBACK")
                raise MigrationError(f"migration {migration.name} failed: {exc}") from exc
    finally:
        await db.execute("PRAGMA foreign_keys = ON")
    return latest
