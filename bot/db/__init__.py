"""Storage: the interface services call (`Database`), its SQLite and PostgreSQL backends, and
the numbered migrations that shape both."""

from bot.db.database import Database, Row, describe, open_database
from bot.db.migrate import MigrationError, migrate

__all__ = ["Database", "MigrationError", "Row", "describe", "migrate", "open_database"]
