"""A new pair (or trio): recorded with the run that made it, and introduced — in a private
thread in the buddy channel, or else by DM to each with the other's mention."""

from __future__ import annotations

from collections.abc import Iterable

from bot.buddies.base import Base
from bot.buddies.values import ABOUT_FILE, STARTERS_FILE, STYLE_WORDS, Pair, Profile
from bot.messages import Card, Field, Outgoing, Palette
from bot.texts import plain
from bot.timeutil import to_db


class Intros(Base):
    async def _start(self, guild_id: int, group: Iterable[int], *, run_key: str) -> Pair:
        """Record a new pair (or trio), with the run that made it, and introduce them."""
        members = tuple(sorted(group))
        pair_id = await self.pair(guild_id, list(members), to_db(self._clock()), run_key=run_key)
        pair = await self._pair(pair_id)
        assert pair is not None
        await self._introduce(pair)
        return pair

    async def _introduce(self, pair: Pair) -> None:
        """A private thread in the buddy channel with everyone added and a warm intro; else a
        DM to each with the other's mention."""
        profiles = {u: await self.profile(pair.guild_id, u) for u in pair.members}
        cards = self._intro_cards(pair, profiles)
        channel = (await self._guilds.get(pair.guild_id)).buddy_channel_id
        thread_id = None
        if channel is not None:
            thread_id = await self._sender.open_thread(
                f"buddy-thread:{pair.id}",
                channel,
                # Unique: a creation interrupted before it was written down is found again
                # by its name, and must never be another pair's thread.
                f"Your buddy space 🌱 {pair.id}",
                invite=pair.members,
                guild_id=pair.guild_id,
            )
        if thread_id is not None:
            await self._db.execute(
                "UPDATE buddy_pairs SET thread_id = ? WHERE id = ?", (thread_id, pair.id)
            )
            mentions = " ".join(f"<@{u}>" for u in pair.members)
            outcome = await self._sender.to_channel(
                f"buddy-intro:{pair.id}",
                thread_id,
                Outgoing(content=mentions, cards=cards, ping_users=pair.members),
                guild_id=pair.guild_id,
            )
            if outcome.ok:
                return
        for user_id in pair.members:
            others = " and ".join(f"<@{u}>" for u in pair.members if u != user_id)
            await self._tell(
                pair.guild_id,
                user_id,
                f"buddy-intro:{pair.id}:{user_id}",
                Card(
                    f"Your new buddy is {others}. You're welcome to send them a message "
                    "whenever feels right — a hello is plenty.",
                    title="Meet your buddy 🌱",
                    colour=Palette.CALM,
                ),
                *cards,
            )

    def _intro_cards(self, pair: Pair, profiles: dict[int, Profile | None]) -> tuple[Card, ...]:
        fields = []
        for user_id in pair.members:
            profile = profiles.get(user_id)
            bits = []
            if profile is not None and profile.pronouns:
                bits.append(plain(profile.pronouns))
            bits.append(f"prefers {STYLE_WORDS[profile.style if profile else 'either']}")
            intro = plain(profile.intro) if profile is not None and profile.intro else ""
            value = f"<@{user_id}> · " + " · ".join(bits) + (f"\n{intro}" if intro else "")
            fields.append(Field("\u200b", value))
        starters = self._entries(STARTERS_FILE) or ["What's something small that helped lately?"]
        starter = starters[pair.id % len(starters)]
        about = self._text(ABOUT_FILE) or (
            "A buddy is a peer who checks in, listens and is glad to hear from you — not a "
            "therapist or a crisis line. If things feel heavy, `/support` is there any time."
        )
        return (
            Card(
                "You've been paired as buddies. Here's a little about each of you:",
                title="Meet your buddy 🌱",
                colour=Palette.CALM,
                fields=tuple(fields),
            ),
            Card(starter, title="A conversation starter, if you'd like one", colour=Palette.CALM),
            Card(about, title="What a buddy is (and isn't)", colour=Palette.SUPPORT),
        )

    def _entries(self, name: str) -> list[str]:
        try:
            return self._texts.entries(name)
        except OSError:
            return []

    def _text(self, name: str) -> str:
        try:
            return self._texts.text(name)
        except OSError:
            return ""
