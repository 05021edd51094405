"""`/host …`: tools for a circle's hosts, co-hosts, the host role and moderators.

Every command names a `circle` (autocomplete: this server's circles) and checks at run time
that the caller may host it — its host, a co-host, the server's host role, a moderator (Manage
Server), or whoever covers that session; anyone else gets a kind refusal and nothing changes.
The talking-piece buttons, the attendance select and "I'll host" are handled here too; the
work itself is `bot/hosting.py`'s.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.circles import MODE_WORDS, Circle, Rsvp, Session
from bot.errors import BadInput, NotAllowed, UserError
from bot.hosting import ATTEND, NEXT, PASS, SHARE, TAKE_COVER, NameOf
from bot.inputs import as_id
from bot.messages import Limits, pages, shorten
from bot.texts import plain
from bot.timeutil import discord_timestamp
from cogs._components import Press
from cogs._replies import reply, think
from cogs._views import ServerGroup, circle_choices, guild_id_of

if TYPE_CHECKING:
    from bot.app import HavenBot


def refusal(circle: Circle) -> NotAllowed:
    return NotAllowed(
        f"Only the host of **{plain(circle.name)}**, its co-hosts, the server's host role or a "
        "moderator can do that, so I've left everything as it was. If you'd like to help hold "
        "this circle, a moderator can add you as a co-host."
    )


def namer(bot: HavenBot, guild_id: int) -> NameOf:
    """Display names (server nicknames) as this server knows its members."""

    async def name_of(user_id: int) -> str | None:
        # Only a shortcut: a server on another process's shard (a DM press) is not cached
        # here, and `delivery.member` asks Discord about it.
        guild = bot.get_guild(guild_id)
        member = guild.get_member(user_id) if guild else None
        if member is None:
            try:
                member = await bot.services.delivery.member(guild_id, user_id)
            except discord.HTTPException:
                member = None
        return member.display_name if member else None

    return name_of


async def may_host(
    bot: HavenBot,
    circle: Circle,
    user: discord.abc.User,
    *,
    moderator: bool,
    session: Session | None,
) -> bool:
    role_ids = [r.id for r in user.roles] if isinstance(user, discord.Member) else []
    return await bot.services.circles.may_host(
        circle, user.id, role_ids=role_ids, moderator=moderator, session=session
    )


@app_commands.guild_only()
class HostCog(ServerGroup, group_name="host", group_description="Run a listening circle"):
    """`/host`: running a circle."""

    # --- who may host ----------------------------------------------------------------------

    async def _circle(self, interaction: discord.Interaction[HavenBot], ref: str) -> Circle:
        return await self.bot.services.circles.get(guild_id_of(interaction), ref)

    async def _may(
        self,
        interaction: discord.Interaction[HavenBot],
        circle: Circle,
        session: Session | None,
    ) -> bool:
        return await may_host(
            self.bot,
            circle,
            interaction.user,
            moderator=interaction.permissions.manage_guild,
            session=session,
        )

    async def _require(
        self,
        interaction: discord.Interaction[HavenBot],
        circle: Circle,
        session: Session | None,
    ) -> None:
        if not await self._may(interaction, circle, session):
            raise refusal(circle)

    async def _dated(
        self, interaction: discord.Interaction[HavenBot], circle: Circle, raw_date: str
    ) -> Session:
        """The session on `raw_date`, for someone who may host it. Whoever may not hears
        only that — never what was wrong with the date."""
        allowed = await self._may(interaction, circle, None)
        try:
            session = await self.bot.services.circles.session_on(circle, raw_date)
        except UserError:
            if not allowed:
                raise refusal(circle) from None
            raise
        if not allowed:
            await self._require(interaction, circle, session)
        return session

    # --- commands --------------------------------------------------------------------------

    @app_commands.command(name="roster")
    @app_commands.describe(circle="The circle")
    @app_commands.autocomplete(circle=circle_choices)
    async def roster(self, interaction: discord.Interaction[HavenBot], circle: str) -> None:
        """Who's coming to the current or next session: names, modes and the waitlist."""
        found = await self._circle(interaction, circle)
        hosting = self.bot.services.hosting
        session = await hosting.running(found)
        await self._require(interaction, found, session)
        if session is None:
            raise BadInput(f"**{plain(found.name)}** has no session coming up.")
        await think(interaction)
        cards = await hosting.roster_cards(found, session, namer(self.bot, found.guild_id))
        for page in pages(cards):
            await reply(interaction, cards=page)

    @app_commands.command(name="open")
    @app_commands.describe(circle="The circle")
    @app_commands.autocomplete(circle=circle_choices)
    async def open_(self, interaction: discord.Interaction[HavenBot], circle: str) -> None:
        """Open the session: the welcome, agreements, invitation and the talking piece."""
        found = await self._circle(interaction, circle)
        hosting = self.bot.services.hosting
        await self._require(interaction, found, await hosting.running(found))
        session = await hosting.openable(found)
        await think(interaction)
        opened = await hosting.open(found, session, interaction.channel_id)
        await reply(
            interaction,
            f"**{plain(found.name)}** is open in <#{opened.channel_id}>: the welcome, the "
            "agreements, this session's invitation and the talking piece are there. Take your "
            "time. `/host close` ends the circle with a closing reflection.",
        )

    @app_commands.command(name="close")
    @app_commands.describe(circle="The circle")
    @app_commands.autocomplete(circle=circle_choices)
    async def close(self, interaction: discord.Interaction[HavenBot], circle: str) -> None:
        """Close the session: a closing reflection, attendance, and aftercare later."""
        found = await self._circle(interaction, circle)
        hosting = self.bot.services.hosting
        session = await hosting.closable(found)
        await self._require(interaction, found, session)
        if session is None:
            raise BadInput(
                f"There's no session of **{plain(found.name)}** to close just now — "
                "`/host open` starts one when it's time."
            )
        await think(interaction)
        closed = await hosting.close(found, session, interaction.channel_id)
        if closed.already:
            lines = [f"**{plain(found.name)}** is already closed."]
        else:
            where = (
                f"I posted a closing reflection in <#{closed.channel_id}>."
                if closed.channel_id
                else "I couldn't post the closing reflection, but the circle is closed."
            )
            lines = [f"**{plain(found.name)}** is closed. {where} Thank you for holding it. 🤍"]
        view = None
        if closed.parts:
            lines.append(
                "Who was here? Choose everyone who came — aftercare goes only to them (and "
                "only to those who asked for it). If you record no one, everyone who had a "
                "seat counts as here."
            )
            view = await self._attendance_view(found, closed.session, closed.parts)
        else:
            lines.append("Nobody had a seat, so there's no attendance to record.")
        await reply(interaction, "\n".join(lines), view=view)

    async def _attendance_view(
        self, circle: Circle, session: Session, parts: list[list[Rsvp]]
    ) -> discord.ui.View:
        name_of = namer(self.bot, circle.guild_id)
        view = discord.ui.View(timeout=None)
        for number, group in enumerate(parts):
            first = number * Limits.SELECT_OPTIONS + 1
            span = f" ({first}–{first + len(group) - 1})"
            options = []
            for rsvp in group:
                name = await name_of(rsvp.user_id)
                options.append(
                    discord.SelectOption(
                        label=shorten(name or f"Member {rsvp.user_id}", Limits.SELECT_OPTION_LABEL),
                        value=str(rsvp.user_id),
                        description=MODE_WORDS.get(rsvp.mode, rsvp.mode),
                    )
                )
            select: discord.ui.Select[Any] = discord.ui.Select(
                custom_id=self.bot.components.custom_id(
                    ATTEND, guild=circle.guild_id, session=session.id, part=number
                ),
                placeholder="Who was here?" + (span if len(parts) > 1 else ""),
                min_values=0,
                max_values=len(group),
                options=options,
            )
            view.add_item(select)
        view.stop()  # sent and forgotten: the dispatcher routes the choice by custom_id
        return view

    @app_commands.command(name="skip")
    @app_commands.describe(
        circle="The circle",
        date="The session's date, YYYY-MM-DD",
        reason="Why, in a few words (shared with those who had a seat)",
    )
    @app_commands.autocomplete(circle=circle_choices)
    async def skip(
        self,
        interaction: discord.Interaction[HavenBot],
        circle: str,
        date: str,
        reason: str | None = None,
    ) -> None:
        """Skip one session: everyone with a seat is told kindly, and its event is cancelled."""
        found = await self._circle(interaction, circle)
        session = await self._dated(interaction, found, date)
        await think(interaction)
        told = await self.bot.services.hosting.skip(found, session, reason)
        people = "person" if told == 1 else "people"
        await reply(
            interaction,
            f"Skipped **{plain(found.name)}** on {session.when}. I let {told} {people} with a "
            "seat or a waitlist place know kindly, and cancelled its event. Later sessions "
            "are just as they were.",
        )

    @app_commands.command(name="message")
    @app_commands.describe(circle="The circle", text="What to tell everyone with a seat")
    @app_commands.autocomplete(circle=circle_choices)
    async def message(
        self, interaction: discord.Interaction[HavenBot], circle: str, text: str
    ) -> None:
        """Send a message to everyone with a seat at the current or next session."""
        found = await self._circle(interaction, circle)
        hosting = self.bot.services.hosting
        session = await hosting.running(found)
        await self._require(interaction, found, session)
        if session is None:
            raise BadInput(f"**{plain(found.name)}** has no session coming up to message.")
        hosting.message_text(text)  # refuse an empty or over-long text before anything else
        await think(interaction)
        author = interaction.user.display_name
        reached, going = await hosting.message(
            found, session, f"host-message:{interaction.id}", author, text
        )
        if not going:
            await reply(
                interaction,
                f"Nobody has a seat at **{plain(found.name)}** on {session.when} yet, so "
                "there was no one to send it to.",
            )
            return
        await reply(
            interaction,
            f"Sent to {reached} of the {going} {'person' if going == 1 else 'people'} with a "
            f"seat at **{plain(found.name)}** on {session.when}."
            + (
                ""
                if reached == going
                else " Some couldn't be reached just now (resting, or DMs closed)."
            ),
        )

    @app_commands.command(name="away")
    @app_commands.describe(circle="The circle", date="The session's date, YYYY-MM-DD")
    @app_commands.autocomplete(circle=circle_choices)
    async def away(
        self, interaction: discord.Interaction[HavenBot], circle: str, date: str
    ) -> None:
        """Can't make a session? Co-hosts are asked by DM to cover it."""
        found = await self._circle(interaction, circle)
        session = await self._dated(interaction, found, date)
        await think(interaction)
        away = await self.bot.services.hosting.away(
            found, session, interaction.user.id, interaction.user.display_name
        )
        cohosts = "co-host" if away.asked == 1 else "co-hosts"
        unreached = (
            ""
            if away.reached == away.asked
            else f" ({away.asked - away.reached} couldn't be reached by DM just now)"
        )
        await reply(
            interaction,
            f"I've asked {away.asked} {cohosts} to cover **{plain(found.name)}** on "
            f"{session.when}{unreached}. The first to say yes hosts it, and you'll hear who. "
            f"If nobody can by {discord_timestamp(away.deadline, 'F')}, I'll cancel it and let "
            "everyone with a seat know kindly.",
        )


# --- the talking piece -----------------------------------------------------------------------

SHARE_WORDS = {
    "holding": "The talking piece is yours — take all the time you need. Press **Pass** "
    "when you're done.",
    "holding-already": "You're holding the talking piece — take your time.",
}
PASS_WORDS = {
    "passed-on": "Thank you for sharing. 🤍 The piece has moved on.",
    "left": "You've stepped out of the line — that's always okay.",
    "listening": "Passing is always welcome — there's nothing you need to do. Listening is a "
    "full part of the circle.",
}


async def _after_press(press: Press, answer: str) -> None:
    """Answer the presser, then show the queue as it is now on the talking-piece message."""
    await reply(press.interaction, answer)
    bot = press.interaction.client
    await bot.services.hosting.refresh(
        press.guild_id, press.value("session"), namer(bot, press.guild_id)
    )


async def share_pressed(press: Press) -> None:
    hosting = press.interaction.client.services.hosting
    outcome, queue = await hosting.share(press.guild_id, press.value("session"), press.user_id)
    if outcome in SHARE_WORDS:
        answer = SHARE_WORDS[outcome]
    else:
        place = queue.place(press.user_id)
        answer = (
            f"You're in line to share — number {place}. Take your time; **Pass** steps out of "
            "line whenever you like."
        )
        if outcome == "waiting-already":
            answer = f"You're already in line — number {place}."
    await _after_press(press, answer)


async def pass_pressed(press: Press) -> None:
    hosting = press.interaction.client.services.hosting
    outcome, _ = await hosting.pass_(press.guild_id, press.value("session"), press.user_id)
    await _after_press(press, PASS_WORDS[outcome])


async def next_pressed(press: Press) -> None:
    bot = press.interaction.client
    hosting = bot.services.hosting
    circle, session = await hosting.in_guild(press.guild_id, press.value("session"))
    allowed = await may_host(
        bot,
        circle,
        press.member or press.interaction.user,
        moderator=press.interaction.permissions.manage_guild,
        session=session,
    )
    if not allowed:
        raise NotAllowed(
            "Only the circle's host (or a co-host) moves the talking piece on. You're welcome "
            "to press **I'd like to share**, or **Pass** — I've left the piece where it was."
        )
    outcome, queue = await hosting.next_(press.guild_id, session.id)
    if outcome == "moved" and queue.holder is not None:
        name = await namer(bot, press.guild_id)(queue.holder)
        answer = f"The talking piece is with {plain(name) if name else f'<@{queue.holder}>'} now."
    elif outcome == "resting":
        answer = "Nobody is waiting, so the piece is resting for now."
    else:
        answer = "Nobody holds the piece or is waiting to share — it's resting."
    await _after_press(press, answer)


# --- attendance and covering -----------------------------------------------------------------


async def attendance_chosen(press: Press) -> None:
    bot = press.interaction.client
    hosting = bot.services.hosting
    circle, session = await hosting.in_guild(press.guild_id, press.value("session"))
    member = press.member or press.interaction.user
    if not await may_host(
        bot,
        circle,
        member,
        moderator=press.interaction.permissions.manage_guild,
        session=session,
    ):
        raise refusal(circle)
    data: dict[str, Any] = dict(press.interaction.data or {})
    chosen = [i for v in data.get("values") or [] if (i := as_id(str(v))) is not None]
    here, group = await hosting.record_attendance(
        press.guild_id, session.id, press.value("part"), chosen
    )
    await reply(
        press.interaction,
        f"Noted: {here} of {group} here. Thank you for looking after the circle. 🤍",
    )


async def cover_pressed(press: Press) -> None:
    bot = press.interaction.client
    hosting = bot.services.hosting
    circle, session = await hosting.in_guild(press.guild_id, press.value("session"))
    member = press.member
    moderator = member.guild_permissions.manage_guild if member else False
    if member is None or not await may_host(bot, circle, member, moderator=moderator, session=None):
        raise NotAllowed(
            f"You're no longer a co-host of **{plain(circle.name)}**, so I left the session as "
            "it was. Thank you for thinking of it."
        )
    outcome, circle, now = await hosting.take_cover(press.guild_id, session.id, press.user_id)
    if outcome == "covered":
        await reply(
            press.interaction,
            f"Thank you — you're hosting **{plain(circle.name)}** on {now.when}. 🤍 I'll let "
            "the host know. `/host roster` and `/host open` work for you for that session.",
        )
        await hosting.tell_covered(circle, now, press.display_name, press.value("asker"))
    elif outcome == "yours":
        await reply(press.interaction, "You're already hosting that one — thank you. 🤍")
    elif outcome == "taken" and now.cover_id is not None:
        name = await namer(bot, press.guild_id)(now.cover_id)
        who = f"**{plain(name)}**" if name else "Another co-host"
        await reply(
            press.interaction,
            f"Thank you so much for offering — {who} already said they'll host "
            f"**{plain(circle.name)}** on {now.when}, so you're free. 🤍",
        )
    else:
        await reply(
            press.interaction,
            "That session isn't waiting for a host any more (it may have begun or been "
            "cancelled), so there's nothing to cover — thank you for offering.",
        )


Handler = Callable[[Press], Awaitable[None]]


async def setup(bot: HavenBot) -> None:
    handlers: dict[Any, Handler] = {
        SHARE: share_pressed,
        PASS: pass_pressed,
        NEXT: next_pressed,
        ATTEND: attendance_chosen,
        TAKE_COVER: cover_pressed,
    }
    for route, handler in handlers.items():
        bot.components.handle(route, handler)
    await bot.add_cog(HostCog(bot))
