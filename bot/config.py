"""Settings from the environment: the only module that reads `os.environ`.

`python -m bot` loads `.env` into the environment once at start (never at import) and then calls
`Settings.from_env()`. Every variable is documented in `.env.example` and the README.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

DEFAULT_DATABASE_URL = "sqlite:///data/haven.db"


class ConfigError(ValueError):
    """A setting is missing or malformed; the message says how to fix it."""


@dataclass(frozen=True)
class Settings:
    token: str
    database_url: str = DEFAULT_DATABASE_URL
    dev_guild_id: int | None = None
    log_level: str = "INFO"
    api_base: str | None = None
    members_intent: bool = False
    # Sharding (SHARD_COUNT, SHARD_IDS): None runs one unsharded connection, as Haven always
    # has. With a count, the process holds the shards in `shard_ids` (all of them when None).
    shard_count: int | None = None
    shard_ids: tuple[int, ...] | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, need_token: bool = True) -> Settings:
        """Read every setting; `need_token=False` for commands like `backup` that stay offline."""
        env = os.environ if env is None else env
        token = env.get("DISCORD_TOKEN", "").strip()
        if need_token and not token:
            raise ConfigError(
                "DISCORD_TOKEN is not set. Create an application at "
                "https://discord.com/developers/applications, open Bot → Reset Token, and put "
                "the token in .env as DISCORD_TOKEN=... (see .env.example and the README)."
            )
        shard_count, shard_ids = _shards(env)
        return cls(
            token=token,
            database_url=database_url(env.get("DATABASE_URL") or DEFAULT_DATABASE_URL),
            dev_guild_id=_optional_snowflake(env, "DEV_GUILD_ID"),
            log_level=_log_level(env.get("LOG_LEVEL") or "INFO"),
            api_base=(env.get("DISCORD_API_BASE") or "").strip().rstrip("/") or None,
            members_intent=_flag(env, "MEMBERS_INTENT"),
            shard_count=shard_count,
            shard_ids=shard_ids,
        )

    def holds(self, guild_id: int) -> bool:
        """Whether this process holds the server's shard, `(guild_id >> 22) % SHARD_COUNT`, and
        so receives its events and interactions (always, unsharded). DMs come to shard 0."""
        if self.shard_count is None or self.shard_ids is None:
            return True
        return (guild_id >> 22) % self.shard_count in self.shard_ids

    @property
    def database_path(self) -> Path | None:
        """The SQLite file, or None when the database is PostgreSQL."""
        return None if is_postgresql(self.database_url) else database_path(self.database_url)


def is_postgresql(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def database_url(url: str) -> str:
    """DATABASE_URL, checked: `sqlite:///path` (the default) or `postgresql://…`."""
    url = url.strip()
    if is_postgresql(url):
        if not urlparse(url).netloc:
            raise ConfigError(
                f"DATABASE_URL must name the server, like "
                f"postgresql://haven@db.example:5432/haven (got {url!r})."
            )
        return url
    database_path(url)
    return url


def database_path(url: str) -> Path:
    """`sqlite:///relative/path.db` or `sqlite:////absolute/path.db` → a filesystem path."""
    parsed = urlparse(url)
    if parsed.scheme != "sqlite" or parsed.netloc or not parsed.path.strip("/"):
        raise ConfigError(
            f"DATABASE_URL must look like sqlite:///data/haven.db or "
            f"postgresql://user@host:5432/haven (got {url!r})."
        )
    # urlparse keeps the leading slash: '///data/x.db' → '/data/x.db' is relative,
    # '////srv/x.db' → '//srv/x.db' is absolute.
    path = parsed.path[1:]
    return Path(path)


def _optional_snowflake(env: Mapping[str, str], name: str) -> int | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise ConfigError(f"{name} must be a server id (digits only), got {raw!r}.")
    return int(raw)


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{name} must be true or false (or empty), got {raw!r}.")


def _shards(env: Mapping[str, str]) -> tuple[int | None, tuple[int, ...] | None]:
    """SHARD_COUNT and SHARD_IDS ("0,1", "0-2" or both, like "0-2,5"), checked together."""
    raw_count = env.get("SHARD_COUNT", "").strip()
    raw_ids = env.get("SHARD_IDS", "").strip()
    if not raw_count:
        if raw_ids:
            raise ConfigError(
                f"SHARD_IDS={raw_ids} needs SHARD_COUNT too: the total number of shards across "
                "every Haven process (for example SHARD_COUNT=6 with SHARD_IDS=0,1)."
            )
        return None, None
    if not _whole(raw_count) or int(raw_count) < 1:
        raise ConfigError(
            f"SHARD_COUNT must be a whole number of shards, 1 or more (got {raw_count!r}); "
            "leave it empty to run without sharding."
        )
    count = int(raw_count)
    if not raw_ids:
        return count, None
    ids: set[int] = set()
    for part in raw_ids.split(","):
        first, dash, last = part.strip().partition("-")
        if not _whole(first.strip()) or (dash and not _whole(last.strip())):
            raise ConfigError(
                f"SHARD_IDS must list shard numbers and ranges, like 0,1 or 0-2 (got {raw_ids!r})."
            )
        low, high = int(first), int(last) if dash else int(first)
        if low > high:
            raise ConfigError(
                f"SHARD_IDS: the range {part.strip()} runs backwards; write it {high}-{low}."
            )
        if high >= count:
            raise ConfigError(
                f"SHARD_IDS names shard {high}, but with SHARD_COUNT={count} the shards are "
                f"numbered 0 to {count - 1}."
            )
        ids.update(range(low, high + 1))
    return count, tuple(sorted(ids))


def _whole(raw: str) -> bool:
    return raw.isascii() and raw.isdigit()


def _log_level(raw: str) -> str:
    level = raw.strip().upper()
    if level not in logging.getLevelNamesMapping():
        raise ConfigError(f"LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR; got {raw!r}.")
    return level
