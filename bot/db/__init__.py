"""Storage: one SQLite connection (`Database`) and the numbered migrations that shape it."""

from bot.db.database import Database, Row
from bot.db.migrate import MigrationError, migrate

__all__ = ["Database", "MigrationError", "Row", "migrate"]
