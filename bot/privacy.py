"""Members' data rights: what Haven keeps (`/my privacy`), a full export (`/my data`), and
deletion that really deletes (`/my forget`).

Every table that holds rows about a member is listed in `PERSONAL_DATA` with the condition that
finds that member's rows in one server. Export and forget both walk this list, so a new feature
plugs in by adding its tables here — and `tests/test_architecture.py` fails if a table with a
`user_id` column is missing from it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bot.db import Database
from bot.guilds import GuildConfig
from bot.timeutil import Clock, to_db, utcnow

DELIVERY_RECORD_DAYS = 30
CLOSED_DM_DAYS = 7

_IN_SERVER = "guild_id = :guild AND user_id = :user"


@dataclass(frozen=True)
class PersonalData:
    table: str
    description: str
    where: str = _IN_SERVER  # named parameters :guild and :user


PERSONAL_DATA: tuple[PersonalData, ...] = (
    PersonalData("member_profile", "Your settings here: time zone, quiet hours, pause."),
    PersonalData("checkins", "Your check-ins: feeling, capacity, note, who you shared with."),
    PersonalData("checkin_reminders", "Your check-in reminder: time and days."),
    PersonalData(
        "checkin_noticing", "Gentle noticing: how many quiet days before your buddy hears."
    ),
    PersonalData("member_notices", "Messages waiting to be shown to you."),
    PersonalData("outbox", "Things scheduled for you: reminders and noticing checks."),
    PersonalData(
        "deliveries",
        "Records that Haven sent you (or posted about you) a message, and whether it arrived. "
        "They never hold the message text.",
    ),
    PersonalData(
        "buddy_members",
        "Your buddy pairings in this server.",
        where="user_id = :user AND pair_id IN (SELECT id FROM buddy_pairs WHERE guild_id = :guild)",
    ),
    PersonalData(
        "closed_dms",
        "Whether your DMs refused Haven recently (shared by every server, so it is removed too).",
        where="user_id = :user",
    ),
)


class Privacy:
    def __init__(self, db: Database, *, clock: Clock = utcnow) -> None:
        self._db = db
        self._clock = clock

    async def export(self, guild_id: int, user_id: int) -> bytes:
        """Everything Haven keeps about the member in this server, as readable JSON."""
        params = {"guild": guild_id, "user": user_id}
        tables: dict[str, Any] = {}
        for item in PERSONAL_DATA:
            rows = await self._db.fetchall(f"SELECT * FROM {item.table} WHERE {item.where}", params)
            tables[item.table] = {
                "what": item.description,
                "rows": [_readable(dict(row)) for row in rows],
            }
        document = {
            "about": (
                "Everything Haven keeps about you in one server. Times are UTC. "
                "Delete it all with /my forget."
            ),
            "exported_at": to_db(self._clock()),
            "server_id": str(guild_id),
            "member_id": str(user_id),
            "data": tables,
        }
        return json.dumps(document, indent=2, ensure_ascii=False).encode("utf-8")

    async def forget(self, guild_id: int, user_id: int) -> int:
        """Delete every row about the member in this server; returns how many went.

        `secure_delete` zeroes the freed bytes in the database file, and the checkpoint folds
        and truncates the write-ahead log, so the text is gone from disk, not just hidden.
        """
        params = {"guild": guild_id, "user": user_id}
        removed = 0
        async with self._db.transaction() as tx:
            for item in PERSONAL_DATA:
                removed += await tx.execute(f"DELETE FROM {item.table} WHERE {item.where}", params)
        await self._db.checkpoint()
        return removed


def _readable(row: dict[str, Any]) -> dict[str, Any]:
    """Ids as strings (JavaScript would round them); JSON text columns decoded."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key.endswith("_id") and isinstance(value, int):
            value = str(value)
        elif key == "payload" and isinstance(value, str):
            value = json.loads(value)
        out[key] = value
    return out


def privacy_statement(config: GuildConfig) -> list[tuple[str, str]]:
    """(heading, text) sections; true for this server's settings, in Haven's own words."""
    return [
        (
            "What I keep about you in this server",
            "• **Your check-ins**: feeling, capacity, note, and who you shared each with. "
            f"This server keeps them **{config.retention_days} days**, then I delete them.\n"
            "• **Your settings**: time zone, quiet hours, pause, reminder time, and gentle "
            "noticing if you turned it on.\n"
            "• **Delivery records**: that I sent you (or posted about you) a message, when, and "
            f"whether it arrived — never its text. Kept {DELIVERY_RECORD_DAYS} days.\n"
            "• **Whether your DMs are closed to me**, so I don't keep knocking. Kept "
            f"{CLOSED_DM_DAYS} days, or until you turn on something that DMs you.",
        ),
        (
            "Who can see it",
            "Only you, through my commands. Moderators can't read private check-ins: they see "
            "counts and server settings only. A check-in you share goes only where you chose; "
            "an anonymous one carries nothing that identifies you, and I keep no link from the "
            "post back to you. If you ask for a reach-out, moderators see only that you asked.\n"
            "The people who host Haven can technically open its database file; this community "
            "asks them not to, and nothing in Haven shows it to them.",
        ),
        (
            "Your choices",
            "`/my data` sends you everything I keep about you here, as a file. `/my forget` "
            "deletes all of it for good (it asks first). `/my pause` rests every DM; "
            "`/my quiet-hours` keeps your nights quiet.",
        ),
        (
            "What I never do",
            "I can't read your messages (I have no message access), and I never sell or share "
            "data or use it for anything but the features you use.",
        ),
    ]
