"""Numbered SQL migrations, applied in order on start, one set per backend.

Files are `NNNN_description.sql` in `migrations/<dialect>/`, numbered from 0001 with no gaps,
the same numbers for every backend (after version N both have the same tables). Each runs in its
own transaction together with the version bump, so a failed migration leaves the database
exactly as it was; the backend keeps other processes out while one migrates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from bot.db.database import Database

MIGRATIONS_ROOT = Path(__file__).with_name("migrations")
MIGRATIONS_DIR = MIGRATIONS_ROOT / "sqlite"
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
    if migrations is None:
        migrations = load_migrations(MIGRATIONS_ROOT / db.dialect)
    latest = migrations[-1].version if migrations else 0
    async with db.migrating():
        current = await db.schema_version()
        if current > latest:
            raise MigrationError(
                f"the database is at schema version {current}, newer than this code knows "
                f"({latest}); run a newer Haven or restore a backup"
            )
        for migration in migrations[current:]:
            try:
                await db.apply_migration(migration.version, migration.sql)
            except Exception as exc:
                raise MigrationError(f"migration {migration.name} failed: {exc}") from exc
    return latest
