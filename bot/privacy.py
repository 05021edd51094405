"""Members' data rights: what Haven keeps (`/my privacy`), a full export (`/my data`), and
deletion that really deletes (`/my forget`).

Every table that holds rows about a member is declared by the feature that owns it
(`Features.data`, see `bot/features.py`) with the condition that finds that member's rows in one
server. Export and forget both walk that list, so a new feature plugs in by declaring its tables
— and `tests/test_architecture.py` fails if a table with a member column is left out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bot.db import Database
from bot.features import Features
from bot.guilds import GuildConfig
from bot.outgoing import Sender
from bot.routes import Route
from bot.timeutil import Clock, to_db, utcnow

FORGET = Route("forget:yes")
KEEP = Route("forget:no")


@dataclass(frozen=True)
class Forgotten:
    rows: int
    posts_taken_down: int
    posts_left: int  # Haven could not delete these (e.g. it lost access to the channel)


class Privacy:
    def __init__(
        self, db: Database, sender: Sender, features: Features, *, clock: Clock = utcnow
    ) -> None:
        self._db = db
        self._sender = sender
        self._features = features
        self._clock = clock

    async def export(self, guild_id: int, user_id: int) -> bytes:
        """Everything Haven keeps about the member in this server, as readable JSON."""
        params = {"guild": guild_id, "user": user_id}
        tables: dict[str, Any] = {}
        for item in self._features.personal_data:
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

    async def forget(self, guild_id: int, user_id: int) -> Forgotten:
        """Take down Haven's posts about the member, then delete every row about them here.

        Their named shares (in the channel, a buddy thread or a buddy's DMs) and any notice
        naming them are deleted from Discord first, found through the delivery records. Then
        `secure_delete` zeroes the freed bytes in the database file, and the checkpoint folds
        and truncates the write-ahead log, so the text is gone from disk, not just hidden.
        """
        params = {"guild": guild_id, "user": user_id}
        for work in self._features.forgetting:
            await work(guild_id, user_id)
        posts = await self._db.fetchall(
            "SELECT channel_id, message_id FROM deliveries WHERE guild_id = :guild"
            " AND about_id = :user AND state = 'sent' AND message_id IS NOT NULL",
            params,
        )
        down = 0
        for post in posts:
            down += await self._sender.take_down(post["channel_id"], post["message_id"])
        removed = 0
        async with self._db.transaction() as tx:
            for item in self._features.personal_data:
                removed += await tx.execute(item.forget_sql, params)
        await self._db.checkpoint()
        return Forgotten(removed, down, len(posts) - down)


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


def privacy_statement(config: GuildConfig, features: Features) -> list[tuple[str, str]]:
    """(heading, text) sections; true for this server's settings, in Haven's own words."""
    lines = {
        section: "\n".join(
            line(config) for where, line in features.privacy_lines if where == section
        )
        for section in ("keep", "see", "choices")
    }
    return [
        ("What I keep about you in this server", lines["keep"]),
        (
            "Who can see it",
            "Only you, through my commands. Moderators can't read private check-ins: they see "
            "counts and server settings only, never one member's settings or answers.\n"
            + lines["see"]
            + "\nThe people who host Haven can technically open its database file; this "
            "community asks them not to, and nothing in Haven shows it to them.",
        ),
        (
            "Your choices",
            "`/my data` sends you everything I keep about you here, as a file. `/my forget` "
            "deletes all of it for good (it asks first) and takes down my posts of check-ins "
            "you shared with your name.\n" + lines["choices"],
        ),
        (
            "What I never do",
            "I can't read your messages (I have no message access), and I never sell or share "
            "data or use it for anything but the features you use.",
        ),
    ]
