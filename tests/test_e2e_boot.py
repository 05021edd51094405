"""Boot, command sync and restarts, through the fake Discord."""

from __future__ import annotations

from tests.conftest import Haven
from tests.fakediscord import GUILD

CONTRACT = {
    "checkin": {"feeling", "capacity", "note", "share", "reach_out"},
    "support": set(),
}
MY = {
    "timezone": {"zone"},
    "checkins": {"days"},
    "reminder": {"time", "days"},
    "reminder-off": set(),
    "quiet-hours": {"start", "end"},
    "pause": {"days"},
    "resume": set(),
    "noticing": {"enabled", "days"},
    "privacy": set(),
    "data": set(),
    "forget": set(),
}
HAVEN = {
    "setup": {
        "checkin_channel",
        "circle_channel",
        "buddy_channel",
        "mod_channel",
        "host_role",
        "timezone",
        "retention_days",
    },
    "status": set(),
    "resources": set(),
    "prompt": {"time", "days", "channel"},
    "prompt-off": set(),
    "circle-create": {
        "name",
        "weekday",
        "time",
        "timezone",
        "duration",
        "capacity",
        "host",
        "channel",
        "description",
        "every_weeks",
        "reminders",
    },
    "circle-edit": {
        "circle",
        "name",
        "weekday",
        "time",
        "timezone",
        "duration",
        "capacity",
        "host",
        "channel",
        "description",
        "every_weeks",
        "reminders",
    },
    "circle-archive": {"circle"},
    "cohost": {"circle", "member", "remove"},
    "buddies": {"every_weeks", "weekday", "time"},
    "pair-now": set(),
    "separate": {"member_a", "member_b"},
}
CIRCLE = {
    "list": set(),
    "info": {"circle"},
    "join": {"circle", "mode", "every_week", "aftercare"},
    "leave": {"circle", "every_week"},
}
BUDDY = {
    "join": {"intro", "pronouns", "style"},
    "status": set(),
    "leave": set(),
    "pause": {"weeks", "keep_buddy"},
    "rematch": set(),
    "avoid": {"member"},
    "unavoid": {"member"},
}
HOST = {
    "roster": {"circle"},
    "open": {"circle"},
    "close": {"circle"},
    "skip": {"circle", "date", "reason"},
    "message": {"circle", "text"},
    "away": {"circle", "date"},
}


def _options(command: dict) -> set[str]:
    return {o["name"] for o in command.get("options", [])}


def _subcommands(command: dict) -> dict[str, set[str]]:
    return {o["name"]: _options(o) for o in command.get("options", []) if o["type"] == 1}


async def test_boot_syncs_the_contract_commands_once(haven: Haven) -> None:
    commands = {c["name"]: c for c in haven.fake.commands()}
    for name, options in CONTRACT.items():
        assert _options(commands[name]) == options
    assert _subcommands(commands["my"]) == MY
    assert _subcommands(commands["haven"]) == HAVEN
    assert _subcommands(commands["circle"]) == CIRCLE
    assert _subcommands(commands["host"]) == HOST
    assert _subcommands(commands["buddy"]) == BUDDY
    assert commands["haven"]["default_member_permissions"] == str(1 << 5)  # Manage Server
    assert haven.fake.sync_count == 1


async def test_no_second_sync_when_the_tree_is_unchanged(haven: Haven) -> None:
    await haven.restart()
    await haven.restart()
    assert haven.fake.sync_count == 1
    # …and the restarted bot still answers.
    reply = await (await haven.fake.slash("my", "privacy")).reply()
    assert reply.ephemeral


async def test_settings_persist_across_a_restart(haven: Haven) -> None:
    await (await haven.fake.slash("my", "timezone", zone="Europe/London")).reply()
    await haven.restart()
    shown = await (await haven.fake.slash("my", "timezone")).reply()
    assert "Europe/London" in shown.text


async def test_dev_guild_sync_goes_to_that_guild(fake, tmp_path, clock, new_database) -> None:
    app = Haven(
        fake, tmp_path / "h.db", clock, dev_guild_id=GUILD, database_url=await new_database()
    )
    await app.start()
    try:
        assert {c["name"] for c in fake.commands(GUILD)} >= {"checkin", "my", "haven", "support"}
        assert fake.commands() == []
        reply = await (await fake.slash("support")).reply()
        assert reply.ephemeral
        assert fake.rejections == []
    finally:
        await app.stop()
