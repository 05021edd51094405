"""`/buddy …` for members, and the buddy commands of `/haven` for moderators.

Buddies are consent-first and no-fault (bot/buddies/ does the work): every reply here is
private, names nobody's reasons, and a member's avoid list is never shown to anyone but them —
not even as a hint in someone else's reply. Times are Discord timestamps, so each reader sees
their own time zone; a buddy is named by mention, which never pings (mentions are off on
everything Haven sends).

The check-back and "stay?" buttons Haven DMs (routes `CHECK` and `STAY`, signed for the member
they were made for) are answered by the handlers at the bottom, registered in `setup`.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.buddies import CHECK, HEADS_UP_BEFORE, STAY, STYLE_WORDS, Pair, Status
from bot.errors import BadInput
from bot.messages import Card, Field, Palette
from bot.texts import plain
from bot.timeutil import discord_timestamp
from cogs._components import Press
from cogs._replies import reply, think
from cogs._views import WEEKDAY_CHOICES, ServerGroup, guild_id_of

if TYPE_CHECKING:
    from bot.app import HavenBot

STYLE_CHOICES = [
    app_commands.Choice(name="text — I'd rather write", value="text"),
    app_commands.Choice(name="voice — I'd like to talk", value="voice"),
    app_commands.Choice(name="either — text or voice", value="either"),
]

ABOUT_LINE = (
    "A buddy is a peer who checks in now and then and is glad to hear from you — not a "
    "therapist, a crisis line or someone on call."
)
NO_RHYTHM = (
    "Pairing hasn't got a rhythm here yet — once a moderator sets one with `/haven buddies`, "
    "runs happen on their own."
)


# --- small pieces ---------------------------------------------------------------------------


def when(instant: datetime) -> str:
    """ "Monday 7 December 2026 18:00 (in 3 days)", in each reader's own time zone."""
    return f"{discord_timestamp(instant, 'F')} ({discord_timestamp(instant, 'R')})"


def mentions(user_ids: list[int] | tuple[int, ...]) -> str:
    """ "<@a>" or "<@a> and <@b>" (mentions never ping here)."""
    names = [f"<@{u}>" for u in user_ids]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + f" and {names[-1]}"


def others(pair: Pair, user_id: int) -> list[int]:
    return [u for u in pair.members if u != user_id]


def your_buddy(pair: Pair, user_id: int) -> str:
    """ "your buddy, <@b>" — or, in a trio, "your buddies, <@b> and <@c>"."""
    buddy = others(pair, user_id)
    return f"your {'buddies' if len(buddy) > 1 else 'buddy'}, {mentions(buddy)}"


def refuse_bot(member: discord.Member | discord.User, what: str) -> None:
    if member.bot:
        raise BadInput(
            f"**{plain(member.display_name)}** is a bot — {what} is only about people, so "
            "there's nothing to do there."
        )


def profile_card(status: Status) -> Card | None:
    """What a buddy sees about them: pronouns, style and intro."""
    profile = status.profile
    if profile is None:
        return None
    fields = [
        Field("Prefers", STYLE_WORDS.get(profile.style, profile.style), inline=True),
        Field("Pronouns", plain(profile.pronouns) if profile.pronouns else "—", inline=True),
        Field("Intro", plain(profile.intro) if profile.intro else "—"),
    ]
    return Card(
        "", title="What your buddy sees about you", colour=Palette.CALM, fields=tuple(fields)
    )


def next_run_line(status: Status) -> str:
    if status.next_run is None:
        return NO_RHYTHM
    return f"The next pairing run is {when(status.next_run)}."


# --- members: /buddy … -------------------------------------------------------------------


@app_commands.guild_only()
class BuddyCog(ServerGroup, group_name="buddy", group_description="Your buddy in this server"):
    """`/buddy`: consent-first buddy pairing."""

    @app_commands.command(name="join")
    @app_commands.choices(style=STYLE_CHOICES)
    @app_commands.describe(
        intro="A few words your buddy will see, if you like (up to 300 characters)",
        pronouns="Your pronouns, if you'd like your buddy to know them",
        style="How you'd rather keep in touch (default: either)",
    )
    async def join(
        self,
        interaction: discord.Interaction[HavenBot],
        intro: app_commands.Range[str, 1, 300] | None = None,
        pronouns: app_commands.Range[str, 1, 40] | None = None,
        style: str | None = None,
    ) -> None:
        """Opt in to buddy pairing (or update what your buddy sees about you)."""
        guild_id, user_id = guild_id_of(interaction), interaction.user.id
        buddies = self.bot.services.buddies
        _, is_new = await buddies.join(
            guild_id, user_id, intro=intro, pronouns=pronouns, style=style
        )
        status = await buddies.status(guild_id, user_id)
        if is_new:
            first = "You're in buddy pairing here — welcome. 🌱"
        else:
            first = "Saved — your buddy profile is up to date. 🌱"
        lines = [first, ABOUT_LINE]
        if status.pair is not None:
            lines.append(
                f"You're already paired with {your_buddy(status.pair, user_id)}; you'll "
                "simply carry on together."
            )
        elif status.next_run is not None:
            lines.append(f"The next pairing run is {when(status.next_run)}.")
        else:
            lines.append(NO_RHYTHM)
        lines.append(
            "Buddy DMs each come with a button to stop them, and `/buddy leave` steps out "
            "any time, no reason needed."
        )
        card = profile_card(status)
        await reply(interaction, "\n".join(lines), cards=[card] if card else [])

    @app_commands.command(name="status")
    async def status(self, interaction: discord.Interaction[HavenBot]) -> None:
        """See your buddy, since when, and when pairing runs next."""
        guild_id, user_id = guild_id_of(interaction), interaction.user.id
        status = await self.bot.services.buddies.status(guild_id, user_id)
        if status.profile is None and status.pair is None:
            await reply(
                interaction,
                "You're not in buddy pairing here — `/buddy join` opts you in, whenever it "
                "feels right. " + ABOUT_LINE,
            )
            return
        lines = []
        if status.pair is not None:
            buddy = others(status.pair, user_id)
            who = "Your buddies are" if len(buddy) > 1 else "Your buddy is"
            since = status.pair.started_at
            lines.append(
                f"{who} {mentions(buddy)}, since {discord_timestamp(since, 'D')} "
                f"({discord_timestamp(since, 'R')})."
            )
            if status.pair.thread_id:
                lines.append(f"Your space together: <#{status.pair.thread_id}>.")
        else:
            lines.append(
                "You don't have a buddy right now — you're in the pool, and the next run "
                "will look for a buddy for you."
            )
        profile = status.profile
        now = self.bot.clock()
        if profile is not None and profile.paused_at(now) and profile.paused_until:
            lines.append(
                f"You're paused until {when(profile.paused_until)}: runs until then skip you. "
                "`/buddy join` ends the pause early."
            )
        if status.pair is not None and status.next_run is not None:
            lines.append(
                f"The next pairing run is {when(status.next_run)} — you'll carry on together "
                "unless one of you asks for a change."
            )
        else:
            lines.append(next_run_line(status))
        card = profile_card(status)
        await reply(interaction, "\n".join(lines), cards=[card] if card else [])

    @app_commands.command(name="leave")
    async def leave(self, interaction: discord.Interaction[HavenBot]) -> None:
        """Step out of buddy pairing — no-fault, no reason needed."""
        guild_id, user_id = guild_id_of(interaction), interaction.user.id
        buddies = self.bot.services.buddies
        before = await buddies.status(guild_id, user_id)
        if before.profile is None and before.pair is None:
            raise BadInput(
                "You're not in buddy pairing here, so there's nothing to leave — nothing "
                "changed. `/buddy join` is there if you'd ever like to."
            )
        await think(interaction)  # your buddy is told, by DM
        await buddies.leave(guild_id, user_id)
        lines = ["Done — you've stepped out of buddy pairing here. 🤍"]
        if before.pair is not None:
            lines.append(
                "Your buddy was told, neutrally, that the pairing has come to a close — never "
                "why — and they stay in the pool for the next run."
            )
        lines.append("`/buddy join` brings you back whenever you like.")
        await reply(interaction, "\n".join(lines))

    @app_commands.command(name="pause")
    @app_commands.describe(
        weeks="How many weeks pairing skips you (1–12)",
        keep_buddy="Keep your current buddy meanwhile (default: yes)",
    )
    async def pause(
        self,
        interaction: discord.Interaction[HavenBot],
        weeks: app_commands.Range[int, 1, 12],
        keep_buddy: bool = True,
    ) -> None:
        """Skip pairing runs for a while, with or without your current buddy."""
        guild_id, user_id = guild_id_of(interaction), interaction.user.id
        buddies = self.bot.services.buddies
        before = await buddies.status(guild_id, user_id)
        if not keep_buddy and before.pair is not None:
            await think(interaction)  # your buddy is told, by DM
        until = await buddies.pause(guild_id, user_id, weeks, keep_buddy=keep_buddy)
        lines = [
            f"Paused until {when(until)} — pairing runs until then skip you. Rest well. 🤍 "
            "If you're back sooner, `/buddy join` ends the pause."
        ]
        if before.pair is not None and keep_buddy:
            lines.append(f"You keep {your_buddy(before.pair, user_id)}, meanwhile.")
        elif before.pair is not None:
            lines.append(
                "Your pairing has come to a close: your buddy was told neutrally, and stays "
                "in the pool."
            )
        lines.append("After that, pairing picks you up again on its own.")
        await reply(interaction, "\n".join(lines))

    @app_commands.command(name="rematch")
    async def rematch(self, interaction: discord.Interaction[HavenBot]) -> None:
        """Ask for a new buddy — no-fault: now if someone's waiting, else at the next run."""
        guild_id, user_id = guild_id_of(interaction), interaction.user.id
        buddies = self.bot.services.buddies
        before = await buddies.status(guild_id, user_id)
        if before.pair is not None and before.profile is not None:
            await think(interaction)  # a new pair is introduced, the old buddy told
        outcome = await buddies.rematch(guild_id, user_id)
        if outcome == "now":
            pair = await buddies.current_pair(guild_id, user_id)
            new = mentions(others(pair, user_id)) if pair else "someone new"
            where = (
                f" I've introduced you in <#{pair.thread_id}>."
                if pair and pair.thread_id
                else " I've introduced you by DM."
            )
            text = (
                f"Done — someone was waiting, so you have a new buddy right away: {new}.{where} "
                "Your previous buddy hears only that the pairing came to a close, never why, "
                "and stays in the pool."
            )
        else:
            status = await buddies.status(guild_id, user_id)
            at = f", {when(status.next_run)}," if status.next_run else ""
            text = (
                f"Noted — at the next pairing run{at} you'll be paired with someone new. "
                "Until then your pairing carries on as it is. Your buddy will hear only that "
                "the pairing came to a close, never why. It's nobody's fault. 🤍"
            )
        await reply(interaction, text)

    @app_commands.command(name="avoid")
    @app_commands.describe(member="Someone you'd rather never be paired with (private)")
    async def avoid(
        self, interaction: discord.Interaction[HavenBot], member: discord.Member
    ) -> None:
        """Never be paired with someone. Private: nobody is told."""
        guild_id, user_id = guild_id_of(interaction), interaction.user.id
        buddies = self.bot.services.buddies
        if member.id != user_id:
            refuse_bot(member, "buddy pairing")
        added = await buddies.avoid(guild_id, user_id, member.id)
        name = plain(member.display_name)
        if not added:
            await reply(
                interaction,
                f"You'd already asked me never to pair you with **{name}** — it stands, and "
                "nothing changed.",
            )
            return
        lines = [
            f"Done — I'll never pair you with **{name}**. This stays private: nobody is told, "
            "not them and not the moderators."
        ]
        pair = await buddies.current_pair(guild_id, user_id)
        if pair is not None and member.id in pair.members:
            lines.append(
                "They're your buddy right now; `/buddy rematch` finds you someone new, "
                "no-fault, and they'll never learn why."
            )
        lines.append("`/buddy unavoid` undoes it whenever you like.")
        await reply(interaction, "\n".join(lines))

    @app_commands.command(name="unavoid")
    @app_commands.describe(member="Someone you'd asked me not to pair you with")
    async def unavoid(
        self, interaction: discord.Interaction[HavenBot], member: discord.Member
    ) -> None:
        """Let someone you avoided be paired with you again. Private: nobody is told."""
        guild_id, user_id = guild_id_of(interaction), interaction.user.id
        removed = await self.bot.services.buddies.unavoid(guild_id, user_id, member.id)
        name = plain(member.display_name)
        if not removed:
            text = f"You hadn't asked me to avoid **{name}**, so nothing changed."
        else:
            text = (
                f"Done — **{name}** can be paired with you again. Nobody is told about this either."
            )
        await reply(interaction, text)


# --- moderators: /haven buddies, pair-now, separate --------------------------------------


class BuddyModeration(commands.Cog):
    """`/haven buddies`, `pair-now` and `separate`, mixed into the `/haven` group
    (cogs/haven.py), whose `interaction_check` requires Manage Server at run time.

    Moderators see counts only — never who was paired with whom, nor anyone's avoid list.
    """

    bot: HavenBot

    @app_commands.command(name="buddies")
    @app_commands.choices(weekday=WEEKDAY_CHOICES)
    @app_commands.describe(
        every_weeks="How often pairing runs, in weeks (1–8)",
        weekday="The day it runs",
        time="Its local time in the server's time zone, 24-hour like 18:00",
    )
    async def buddies(
        self,
        interaction: discord.Interaction[HavenBot],
        every_weeks: app_commands.Range[int, 1, 8],
        weekday: str,
        time: str,
    ) -> None:
        """Set buddy pairing's rhythm: every N weeks at a weekday and time."""
        guild_id = guild_id_of(interaction)
        buddies = self.bot.services.buddies
        next_run = await buddies.set_cadence(guild_id, every_weeks, weekday, time)
        cadence = await buddies.cadence(guild_id)
        config = await self.bot.services.guilds.get(guild_id)
        rhythm = cadence.rhythm if cadence else f"every {every_weeks} weeks"
        lines = [f"Saved — buddy pairing runs {rhythm} ({plain(config.timezone)})."]
        if next_run is not None:
            lines.append(f"Next run: {when(next_run)}.")
            heads_up = next_run - HEADS_UP_BEFORE
            if heads_up > self.bot.clock():
                lines.append(
                    f"Everyone in the pool gets a heads-up 24 hours before: {when(heads_up)}."
                )
            else:
                lines.append("That's under a day away, so there's no heads-up before this one.")
        else:
            lines.append("I couldn't find an upcoming run for that rhythm.")
        lines.append(
            "Pairs carry on from run to run; only those who ask for a change (or step out) "
            "are paired anew."
        )
        if config.buddy_channel_id is None:
            lines.append(
                "There's no buddy channel yet, so intros go by DM — "
                "`/haven setup buddy_channel:` gives each pair a private thread."
            )
        await reply(interaction, "\n".join(lines))

    @app_commands.command(name="pair-now")
    async def pair_now(self, interaction: discord.Interaction[HavenBot]) -> None:
        """Run buddy pairing now (pairs that are going well carry on)."""
        guild_id = guild_id_of(interaction)
        await think(interaction)  # matching and introducing everyone may take a while
        report = await self.bot.services.buddies.run(
            guild_id, key=f"buddy-pairing:{guild_id}:now:{interaction.id}"
        )
        pairs = sum(1 for group in report.new_groups if len(group) == 2)
        trios = len(report.new_groups) - pairs
        new = [_count(n, what) for n, what in ((pairs, "new pair"), (trios, "new trio")) if n]
        config = await self.bot.services.guilds.get(guild_id)
        introduced = (
            f"each introduced in a private thread in <#{config.buddy_channel_id}>"
            if config.buddy_channel_id
            else "each introduced by DM"
        )
        fields = (
            Field("Continued", _count(report.continued, "pair"), inline=True),
            Field("Ended", _count(report.ended, "pair"), inline=True),
            Field("New", " and ".join(new) + f", {introduced}" if new else "none"),
            Field(
                "Not matched",
                f"{len(report.unmatched)} — each told kindly, and still in the pool"
                if report.unmatched
                else "nobody",
            ),
        )
        ended = (
            "Pairs end only when someone asked for a change or stepped out, or after going "
            "quiet; everyone involved heard neutrally."
            if report.ended
            else "Pairs carry on from run to run unless someone asks for a change."
        )
        card = Card(
            ended,
            title="Pairing run done",
            colour=Palette.STEADY,
            fields=fields,
        )
        await reply(interaction, cards=[card])

    @app_commands.command(name="separate")
    @app_commands.describe(
        member_a="One member", member_b="The member they should never be paired with"
    )
    async def separate(
        self,
        interaction: discord.Interaction[HavenBot],
        member_a: discord.Member,
        member_b: discord.Member,
    ) -> None:
        """Never pair two members with each other. Neither is told."""
        guild_id = guild_id_of(interaction)
        if member_a.id == member_b.id:
            raise BadInput("Those are the same member — choose two different people.")
        refuse_bot(member_a, "buddy pairing")
        refuse_bot(member_b, "buddy pairing")
        buddies = self.bot.services.buddies
        pair = await buddies.current_pair(guild_id, member_a.id)
        paired = pair is not None and member_b.id in pair.members
        if paired:
            await think(interaction)  # their pairing ends, each told neutrally
        added = await buddies.separate(guild_id, member_a.id, member_b.id)
        a, b = plain(member_a.display_name), plain(member_b.display_name)
        if not added:
            await reply(
                interaction, f"**{a}** and **{b}** are already kept apart — nothing changed."
            )
            return
        lines = [f"Done — I'll never pair **{a}** and **{b}**. Neither of them is told."]
        if paired:
            lines.append(
                "They were buddies, so that pairing has ended: each heard only that it came "
                "to a close, and both stay in the pool."
            )
        await reply(interaction, "\n".join(lines))


def _count(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


# --- buttons: check-backs and "would you like to stay?" ----------------------------------


async def checkback_answered(press: Press) -> None:
    """One of the four check-back buttons, pressed by the member it was made for."""
    buddies = press.interaction.client.services.buddies
    answer = str(press.values["answer"])
    if answer == "not-a-fit":
        await think(press.interaction)  # a rematch may introduce someone new
    outcome = await buddies.answer(press.guild_id, press.user_id, press.value("checkback"), answer)
    thanks = "Thank you — that's just for you and me."
    if outcome == "gone":
        text = (
            "That check-back is about a pairing that has already come to a close, so there's "
            "nothing to answer — thank you all the same. `/buddy status` shows where you are."
        )
    elif outcome == "rematch-now":
        pair = await buddies.current_pair(press.guild_id, press.user_id)
        new = mentions(others(pair, press.user_id)) if pair else "someone new"
        where = f" in <#{pair.thread_id}>" if pair and pair.thread_id else " by DM"
        text = (
            f"{thanks} It's okay when a pairing isn't a fit — it's nobody's fault. Someone was "
            f"waiting, so you have a new buddy right away: {new}, introduced{where}. Your "
            "previous buddy hears only that the pairing came to a close, never why."
        )
    elif outcome == "rematch-next-run":
        status = await buddies.status(press.guild_id, press.user_id)
        at = f", {when(status.next_run)}," if status.next_run else ""
        text = (
            f"{thanks} It's okay when a pairing isn't a fit — it's nobody's fault. At the next "
            f"pairing run{at} you'll be paired with someone new; until then nothing changes. "
            "Your buddy will hear only that the pairing came to a close, never why."
        )
    elif answer == "connected":
        text = f"{thanks} I'm glad you two found each other. 🌱"
    elif answer == "not-yet":
        text = (
            f"{thanks} There's no rush — a short hello whenever it suits you is plenty, and "
            "it's fine if it doesn't happen this time."
        )
    elif answer == "paused":
        text = f"{thanks} Pausing together is completely fine; you're still buddies. 🤍"
    else:  # "not-a-fit" on a pairing that had already ended
        text = f"{thanks} That pairing has already come to a close, so there's nothing to change."
    await reply(press.interaction, text)


async def stay_answered(press: Press) -> None:
    """The answer to "would you like to stay in pairing?"."""
    buddies = press.interaction.client.services.buddies
    choice = str(press.values["choice"])
    if choice == "leave":
        await think(press.interaction)  # a buddy, if any, is told
    await buddies.stay(press.guild_id, press.user_id, choice)
    if choice == "stay":
        text = "Lovely — you're staying in buddy pairing. Nothing else changes. 🌱"
    elif choice == "pause":
        profile = await buddies.profile(press.guild_id, press.user_id)
        until = f" until {when(profile.paused_until)}" if profile and profile.paused_until else ""
        pair = await buddies.current_pair(press.guild_id, press.user_id)
        keep = ", and you keep your buddy meanwhile" if pair else ""
        text = f"Paused{until} — pairing runs skip you till then{keep}. Rest well. 🤍"
    else:
        text = (
            "Done — you've stepped out of buddy pairing. If you had a buddy, they were told "
            "neutrally and stay in the pool. `/buddy join` brings you back whenever you like."
        )
    await reply(press.interaction, text)


async def setup(bot: HavenBot) -> None:
    bot.components.handle(CHECK, checkback_answered)
    bot.components.handle(STAY, stay_answered)
    await bot.add_cog(BuddyCog(bot))
