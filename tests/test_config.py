"""Settings come only from the environment, with kind errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, Settings


def test_defaults() -> None:
    s = Settings.from_env({"DISCORD_TOKEN": "abc"})
    assert s.token == "abc"
    assert s.database_path == Path("data/haven.db")
    assert s.dev_guild_id is None and s.api_base is None
    assert s.log_level == "INFO"
    assert s.members_intent is False


@pytest.mark.parametrize(("raw", "on"), [("true", True), ("1", True), ("no", False), ("", False)])
def test_members_intent_flag(raw: str, on: bool) -> None:
    assert Settings.from_env({"DISCORD_TOKEN": "a", "MEMBERS_INTENT": raw}).members_intent is on


def test_members_intent_flag_refuses_nonsense() -> None:
    with pytest.raises(ConfigError, match="MEMBERS_INTENT"):
        Settings.from_env({"DISCORD_TOKEN": "a", "MEMBERS_INTENT": "maybe"})


def test_everything_set() -> None:
    s = Settings.from_env(
        {
            "DISCORD_TOKEN": "abc",
            "DATABASE_URL": "sqlite:////srv/haven/h.db",
            "DEV_GUILD_ID": "123",
            "LOG_LEVEL": "debug",
            "DISCORD_API_BASE": "http://proxy:8080/api/v10/",
        }
    )
    assert s.database_path == Path("/srv/haven/h.db")
    assert s.dev_guild_id == 123
    assert s.log_level == "DEBUG"
    assert s.api_base == "http://proxy:8080/api/v10"


def test_missing_token_says_how_to_get_one() -> None:
    with pytest.raises(ConfigError, match="developers/applications"):
        Settings.from_env({})
    assert Settings.from_env({}, need_token=False).token == ""


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DATABASE_URL", "mysql://x/y"),
        ("DATABASE_URL", "postgresql:///haven"),
        ("DATABASE_URL", "sqlite://"),
        ("DEV_GUILD_ID", "abc"),
        ("LOG_LEVEL", "LOUD"),
    ],
)
def test_malformed_settings_are_refused(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({"DISCORD_TOKEN": "x", name: value})


def test_a_postgresql_url_is_kept_as_given() -> None:
    url = "postgresql://haven@db.example:5432/haven"
    s = Settings.from_env({"DISCORD_TOKEN": "t", "DATABASE_URL": url})
    assert s.database_url == url and s.database_path is None
