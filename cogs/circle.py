"""`/circle …` for members, and the circle commands of `/haven` for moderators.

Members see seat **counts** only, never who sits where; times are Discord timestamps, so each
reader sees their own time zone. A member's first join to a circle shows its agreements
(data/circle_agreements.md) with an "I agree" button and changes nothing until it is pressed.

Every `circle` option autocompletes this server's active circles (value: the circle's id), and
whatever arrives — a suggestion, a typed name, a tampered id — is resolved with
`circles.get(guild_id, value)`, which refuses another server's circle like one that never was.
"""

from __future__ import annotations

import io
import logging
import re
import unicodedata
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.calendar import SeriesCalendar, series_ics
from bot.circles import MODE_WORDS, TAKE_SEAT, Circle, Circles, Joined, Session, format_lead
from bot.delivery import missing_permissions
from bot.errors import BadInput
from bot.messages import Card, Field, Palette, fields_from_lines, pages
from bot.routes import Route
from bot.texts import plain
from cogs._components import Press, buttons_view
from cogs._replies import reply, think
from cogs._views import WEEKDAY_CHOICES, ServerGroup, circle_choices, guild_id_of, zone_choices

if TYPE_CHECKING:
    from bot.app import HavenBot

log = logging.getLogger(__name__)

AGREEMENTS = "circle_agreements.md"

# "I agree" under the agreements: joins with the options the member chose. Signed for them,
# so nobody else can press it into a seat (and the server id in it cannot be forged).
AGREE = Route(
    "circle:agree",
    fields=(("guild", "id"), ("circle", "id"), ("mode", "word"), ("flags", "word")),
    signed=True,
)
# "Yes, archive it": only someone with Manage Server, checked again when pressed.
ARCHIVE = Route("circle:archive", fields=(("circle", "id"),), who="moderator")

EVERY_WEEKS_CHOICES = [
    app_commands.Choice(name="every week", value=1),
    app_commands.Choice(name="every 2 weeks", value=2),
    app_commands.Choice(name="every 4 weeks", value=4),
]
MODE_CHOICES = [
    app_commands.Choice(name="share — I may speak when it's my turn", value="share"),
    app_commands.Choice(name="listen — I'd like to listen", value="listen"),
    app_commands.Choice(name="text — I'll take part in text", value="text"),
]

CircleChannel = discord.TextChannel | discord.VoiceChannel | discord.StageChannel

NEXT_SHOWN = 4


# --- small pieces ---------------------------------------------------------------------------


def person(guild: discord.Guild | None, user_id: int) -> str:
    """A member as the server knows them (their nickname) when cached, else a mention (which
    never pings: mentions are off on everything Haven sends)."""
    member = guild.get_member(user_id) if guild else None
    return plain(member.display_name) if member else f"<@{user_id}>"


def leads_text(circle: Circle) -> str:
    """ "24h and 1h before" — or that there are none."""
    if not circle.reminders:
        return "none"
    leads = [format_lead(m) for m in circle.reminders]
    joined = leads[0] if len(leads) == 1 else ", ".join(leads[:-1]) + f" and {leads[-1]}"
    return f"{joined} before, by DM"


def slug(name: str) -> str:
    """A file name from a circle's name: `Evening circle` → `evening-circle`."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:50].strip("-") or "circle"


def day_words(session: Session) -> str:
    """The session's local date in words: "Sunday 14 March 2027"."""
    day = session.local_date
    return f"{day:%A} {day.day} {day:%B %Y}"


async def session_lines(circles: Circles, circle: Circle, limit: int = NEXT_SHOWN) -> list[str]:
    """The next sessions with their seat counts (counts only, never names)."""
    lines = []
    for session in (await circles.sessions(circle.id, limit=limit))[:limit]:
        seats = await circles.seats(session.id, circle.capacity)
        lines.append(f"{session.when} — {seats.describe()}")
    return lines


async def channel_text(bot: HavenBot, circle: Circle) -> str:
    if circle.channel_id:
        return f"<#{circle.channel_id}>"
    config = await bot.services.guilds.get(circle.guild_id)
    if config.circle_channel_id:
        return f"the circles channel, <#{config.circle_channel_id}>"
    return "not set — `/haven setup circle_channel:` gives circle news a home"


async def summary_card(
    bot: HavenBot, guild: discord.Guild | None, circle: Circle, title: str
) -> Card:
    """What moderators see after each change: rhythm, next sessions, seats, hosts, channel,
    reminders."""
    circles = bot.services.circles
    host = (
        person(guild, circle.host_id)
        if circle.host_id
        else "none yet — moderators and members with the host role can still host"
    )
    cohosts = [person(guild, user_id) for user_id in await circles.cohosts(circle.id)]
    fields = [
        Field("Rhythm", f"{circle.rhythm}, {circle.duration} minutes"),
        *fields_from_lines(
            "Next sessions", await session_lines(circles, circle) or ["none planned just now"]
        ),
        Field("Capacity", f"{circle.capacity} seats", inline=True),
        Field("Host", host, inline=True),
    ]
    if cohosts:
        fields.append(Field("Co-hosts", ", ".join(cohosts), inline=True))
    fields += [
        Field("Channel", await channel_text(bot, circle)),
        Field("Reminders", leads_text(circle)),
    ]
    return Card(plain(circle.description), title=title, colour=Palette.STEADY, fields=tuple(fields))


def refuse_bot(member: discord.Member | None, role: str) -> None:
    if member is not None and member.bot:
        raise BadInput(
            f"**{plain(member.display_name)}** is a bot — a circle needs a person as its {role}. "
            "You're welcome to choose a member instead."
        )


def channel_warning(guild: discord.Guild | None, channel_id: int | None) -> str | None:
    if guild is None or channel_id is None:
        return None
    channel = guild.get_channel(channel_id)
    if not isinstance(channel, discord.abc.GuildChannel):
        return None
    missing = missing_permissions(channel, embeds=True)
    if not missing:
        return None
    return (
        f"⚠️ I can't post in <#{channel_id}> yet — I'm missing **{', '.join(missing)}** there. "
        "I've saved it anyway; give my role that and circle news will appear."
    )


# --- moderators: /haven circle-… ---------------------------------------------------------


class CircleModeration(commands.Cog):
    """`/haven circle-create`, `circle-edit`, `circle-archive` and `cohost`, mixed into the
    `/haven` group (cogs/haven.py), whose `interaction_check` requires Manage Server.

    Archiving asks first. It cancels every upcoming session (and its Discord event) and tells
    everyone with a seat or a waitlist place, and a slip of autocomplete would do that to the
    wrong circle; so `/haven circle-archive` only says what will happen, with a "Yes, archive
    it" button (route `ARCHIVE`, moderators only, checked again when pressed). Nothing changes
    until that press.
    """

    bot: HavenBot

    @app_commands.command(name="circle-create")
    @app_commands.autocomplete(timezone=zone_choices)
    @app_commands.choices(weekday=WEEKDAY_CHOICES)
    @app_commands.choices(every_weeks=EVERY_WEEKS_CHOICES)
    @app_commands.describe(
        name="What members will call it, like Sunday evening circle",
        weekday="The day it meets",
        time="Its local start time, 24-hour like 19:00",
        timezone="The time zone its time is in (default: the server's)",
        duration="How long a session lasts, in minutes (15–240, default 60)",
        capacity="How many seats (2–50, default 8); others wait on a waitlist",
        host="Who hosts it (optional: moderators and the host role can always host)",
        channel="Where it meets and where its news goes (text, voice or stage)",
        description="A few words about the circle, shown to members",
        every_weeks="How often it meets (default every week)",
        reminders="When members with a seat get a DM, like 24h,1h (default), or none",
    )
    async def circle_create(
        self,
        interaction: discord.Interaction[HavenBot],
        name: app_commands.Range[str, 1, 80],
        weekday: str,
        time: str,
        timezone: str | None = None,
        duration: app_commands.Range[int, 15, 240] = 60,
        capacity: app_commands.Range[int, 2, 50] = 8,
        host: discord.Member | None = None,
        channel: CircleChannel | None = None,
        description: app_commands.Range[str, 1, 1000] | None = None,
        every_weeks: int = 1,
        reminders: str | None = None,
    ) -> None:
        """Start a listening circle: a weekly (or fortnightly, or monthly) gathering."""
        guild_id = guild_id_of(interaction)
        refuse_bot(host, "host")
        circle = await self.bot.services.circles.create(
            guild_id,
            name=name,
            weekday=weekday,
            at=time,
            timezone=timezone,
            duration=duration,
            capacity=capacity,
            host_id=host.id if host else None,
            channel_id=channel.id if channel else None,
            description=description or "",
            every_weeks=every_weeks,
            reminders=reminders,
        )
        lines = [f"**{plain(circle.name)}** is ready. Members can join with `/circle join`."]
        if circle.host_id is None:
            lines.append(
                "It has no host yet — that's fine: moderators and members with the host role "
                "can still host it, and `/haven circle-edit host:` sets one any time."
            )
        warning = channel_warning(interaction.guild, circle.channel_id)
        if warning:
            lines.append(warning)
        card = await summary_card(self.bot, interaction.guild, circle, plain(circle.name))
        await reply(interaction, "\n".join(lines), cards=[card])

    @app_commands.command(name="circle-edit")
    @app_commands.autocomplete(circle=circle_choices, timezone=zone_choices)
    @app_commands.choices(weekday=WEEKDAY_CHOICES)
    @app_commands.choices(every_weeks=EVERY_WEEKS_CHOICES)
    @app_commands.describe(
        circle="The circle to change",
        name="A new name",
        weekday="A new day",
        time="A new local start time, 24-hour like 19:00",
        timezone="A new time zone",
        duration="A new length in minutes (15–240)",
        capacity="A new number of seats (2–50)",
        host="A new host",
        channel="A new channel (text, voice or stage)",
        description="A new description",
        every_weeks="A new cadence",
        reminders="New reminder times, like 24h,1h, or none",
    )
    async def circle_edit(
        self,
        interaction: discord.Interaction[HavenBot],
        circle: str,
        name: app_commands.Range[str, 1, 80] | None = None,
        weekday: str | None = None,
        time: str | None = None,
        timezone: str | None = None,
        duration: app_commands.Range[int, 15, 240] | None = None,
        capacity: app_commands.Range[int, 2, 50] | None = None,
        host: discord.Member | None = None,
        channel: CircleChannel | None = None,
        description: app_commands.Range[str, 1, 1000] | None = None,
        every_weeks: int | None = None,
        reminders: str | None = None,
    ) -> None:
        """Change a circle; upcoming sessions move with it and keep their seats where they can."""
        guild_id = guild_id_of(interaction)
        circles = self.bot.services.circles
        refuse_bot(host, "host")
        before = await circles.get(guild_id, circle)
        await think(interaction)  # a new rhythm may tell many members about moved dates
        edited = await circles.edit(
            guild_id,
            str(before.id),
            name=name,
            weekday=weekday,
            at=time,
            timezone=timezone,
            duration=duration,
            capacity=capacity,
            host_id=host.id if host else None,
            channel_id=channel.id if channel else None,
            description=description,
            every_weeks=every_weeks,
            reminders=reminders,
        )
        lines = [f"Saved — here's **{plain(edited.name)}** now."]
        if edited.rhythm != before.rhythm:
            lines.append(
                "Upcoming sessions moved to the new rhythm. Dates that still have a session "
                "kept their seats; anyone whose date went away was told kindly."
            )
        warning = channel_warning(interaction.guild, channel.id if channel else None)
        if warning:
            lines.append(warning)
        card = await summary_card(self.bot, interaction.guild, edited, plain(edited.name))
        await reply(interaction, "\n".join(lines), cards=[card])

    @app_commands.command(name="circle-archive")
    @app_commands.autocomplete(circle=circle_choices)
    @app_commands.describe(circle="The circle that has come to an end")
    async def circle_archive(self, interaction: discord.Interaction[HavenBot], circle: str) -> None:
        """Bring a circle to an end (asks first): its sessions are cancelled, members told."""
        guild_id = guild_id_of(interaction)
        circles = self.bot.services.circles
        found = await circles.get(guild_id, circle)
        now = self.bot.clock()
        upcoming = [s for s in await circles.sessions(found.id, limit=1000) if s.starts_at > now]
        places = 0
        for session in upcoming:
            seats = await circles.seats(session.id, found.capacity)
            places += seats.going + seats.waiting
        sessions = f"{len(upcoming)} upcoming session" + ("" if len(upcoming) == 1 else "s")
        told = (
            f"The **{places}** seats and waitlist places in them will go, and each person "
            "will be told kindly by DM (or in the circle's channel if their DMs are closed)."
            if places
            else "Nobody has a place in them yet, so nobody needs telling."
        )
        button = discord.ui.Button[Any](
            label="Yes, archive it",
            style=discord.ButtonStyle.danger,
            custom_id=self.bot.components.custom_id(ARCHIVE, circle=found.id),
        )
        await reply(
            interaction,
            f"Archive **{plain(found.name)}**? Its {sessions} will be cancelled, with their "
            f"Discord events. {told} It will disappear from `/circle list`.\n"
            "Nothing changes until you press the button; if you'd rather keep it, just "
            "dismiss this message.",
            view=buttons_view(button),
        )

    @app_commands.command(name="cohost")
    @app_commands.autocomplete(circle=circle_choices)
    @app_commands.describe(
        circle="The circle",
        member="Who shares the hosting",
        remove="Stop them co-hosting it (default: add them)",
    )
    async def cohost(
        self,
        interaction: discord.Interaction[HavenBot],
        circle: str,
        member: discord.Member,
        remove: bool = False,
    ) -> None:
        """Add (or remove) a co-host: they can run the circle's `/host` commands."""
        guild_id = guild_id_of(interaction)
        if not remove:
            refuse_bot(member, "co-host")
        found = await self.bot.services.circles.set_cohost(
            guild_id, circle, member.id, remove=remove
        )
        who = plain(member.display_name)
        text = (
            f"**{who}** no longer co-hosts **{plain(found.name)}**. Thank you to them for "
            "sharing the load."
            if remove
            else f"**{who}** now co-hosts **{plain(found.name)}** — they can use the `/host` "
            "commands for it and are asked to cover when the host is away."
        )
        card = await summary_card(self.bot, interaction.guild, found, plain(found.name))
        await reply(interaction, text, cards=[card])


async def archive_confirmed(press: Press) -> None:
    """The moderator pressed "Yes, archive it"."""
    circles = press.interaction.client.services.circles
    await think(press.interaction)  # everyone with a place is told, one by one
    circle, told = await circles.archive(press.guild_id, str(press.value("circle")))
    people = (
        f"I let the {told} people with a place know, kindly."
        if told > 1
        else "I let the one person with a place know, kindly."
        if told == 1
        else "Nobody had a place yet, so nobody needed telling."
    )
    await reply(
        press.interaction,
        f"**{plain(circle.name)}** is archived: its upcoming sessions are cancelled. {people} "
        "Thank you for holding it. 🤍",
    )


# --- members: /circle … -------------------------------------------------------------------


def _flags(every_week: bool, aftercare: bool) -> str:
    return ("weekly" if every_week else "once") + ("-care" if aftercare else "")


def joined_text(circle: Circle, joined: Joined, mode: str, aftercare: bool) -> str:
    """The warm reply to a join: where they are, when, how to leave, and what comes by DM."""
    name = plain(circle.name)
    session = joined.session
    if joined.status == "going":
        lines = [f"You have a seat at **{name}** on {session.when}, {MODE_WORDS[mode]}. 🤍"]
    else:
        lines = [
            f"**{name}** is full on {session.when}, so you're on the waitlist — number "
            f"**{joined.position}**. If a seat opens for you, I'll tell you by DM."
        ]
    if joined.every_week:
        lines.append(
            "I'll keep a place for you at every session from now on — a seat when there's "
            "one, else the waitlist."
        )
    if circle.reminders:
        lines.append(
            f"Reminders come by DM {leads_text(circle).removesuffix(', by DM')}, each with a "
            "button to stop them if you'd rather not have them."
        )
    if aftercare:
        lines.append("After the session, a gentle check-in DM will come your way.")
    lines.append(
        "Plans change, and that's okay: `/circle leave` frees your place"
        + (" (with `every_week:true`, the weekly one too)" if joined.every_week else "")
        + "."
    )
    return "\n".join(lines)


async def join_and_reply(
    interaction: discord.Interaction[HavenBot],
    circle: Circle,
    mode: str,
    every_week: bool,
    aftercare: bool,
) -> None:
    joined = await interaction.client.services.circles.join(
        circle, interaction.user.id, mode=mode, every_week=every_week, aftercare=aftercare
    )
    await reply(interaction, joined_text(circle, joined, mode, aftercare))


async def agreed(press: Press) -> None:
    """ "I agree" under the agreements: record it, then join as they asked."""
    circles = press.interaction.client.services.circles
    circle = await circles.get(press.guild_id, str(press.value("circle")))
    mode = str(press.values["mode"])
    flags = str(press.values["flags"]).split("-")
    await circles.agree(circle, press.user_id)
    await join_and_reply(press.interaction, circle, mode, "weekly" in flags, "care" in flags)


async def seat_taken(press: Press) -> None:
    """ "Take the seat" on a seat-opened DM: first come, first served."""
    circles = press.interaction.client.services.circles
    result, session = await circles.take_seat(press.value("session"), press.user_id)
    circle = await circles.by_id(session.circle_id) if session else None
    if session is None or circle is None or circle.guild_id != press.guild_id:
        result = "gone"
    name = f"**{plain(circle.name)}**" if circle else "that circle"
    when = session.when if session else ""
    if result == "taken":
        text = f"It's yours — you have a seat at {name} on {when}. 🤍"
    elif result == "full" and session is not None:
        place = await circles.position(session.id, press.user_id)
        text = (
            f"Someone took that seat just before you — you're still on the waitlist for {name}, "
            f"number **{place}**. If another opens, I'll let you know."
        )
    elif result == "going":
        text = f"You already have a seat at {name} on {when} — nothing more to do."
    elif result == "not-waiting":
        text = (
            f"You're not on the waitlist for {name} on {when} any more, so there's no seat "
            "to take. You're welcome to `/circle join` again."
        )
    else:
        text = (
            "That session has already begun or isn't taking place any more, so there's no "
            "seat to take. `/circle list` shows what's coming up."
        )
    await reply(press.interaction, text)


@app_commands.guild_only()
class CircleCog(ServerGroup, group_name="circle", group_description="Listening circles here"):
    """`/circle`: listening circles, for members."""

    @app_commands.command(name="list")
    async def list_(self, interaction: discord.Interaction[HavenBot]) -> None:
        """See this server's circles and when each meets next."""
        guild_id = guild_id_of(interaction)
        circles = self.bot.services.circles
        upcoming = await circles.upcoming(guild_id)
        if not upcoming:
            await reply(
                interaction,
                "There are no circles here yet. Moderators can start one with "
                "`/haven circle-create`.",
            )
            return
        cards = []
        for circle, session, seats in upcoming:
            lines = [circle.rhythm]
            if session is not None and seats is not None:
                lines += [f"Next: {session.when}", seats.describe()]
            else:
                lines.append("No session planned just now.")
            if circle.host_id:
                lines.append(f"Hosted by {person(interaction.guild, circle.host_id)}")
            cards.append(Card("\n".join(lines), title=plain(circle.name), colour=Palette.CALM))
        header = (
            "The circles here — times show in your own time zone. `/circle info` tells you "
            "more; `/circle join` saves you a seat."
        )
        for n, page in enumerate(pages(cards)):
            await reply(interaction, header if n == 0 else None, cards=page)

    @app_commands.command(name="info")
    @app_commands.autocomplete(circle=circle_choices)
    @app_commands.describe(circle="Which circle")
    async def info(self, interaction: discord.Interaction[HavenBot], circle: str) -> None:
        """About one circle: its rhythm, next sessions and seats, and a calendar file."""
        guild_id = guild_id_of(interaction)
        circles = self.bot.services.circles
        found = await circles.get(guild_id, circle)
        skipped = await circles.skipped(found.id)
        fields = [
            Field("When", f"{found.rhythm}, {found.duration} minutes"),
            *fields_from_lines(
                "Next sessions", await session_lines(circles, found) or ["none planned just now"]
            ),
        ]
        if skipped:
            fields += fields_from_lines(
                "Not meeting on",
                [
                    f"{day_words(s)}"
                    + (" — skipped" if s.state == "skipped" else " — cancelled")
                    + (f": {plain(s.reason, 200)}" if s.reason else "")
                    for s in skipped
                ],
            )
        hosts = [person(interaction.guild, u) for u in await circles.cohosts(found.id)]
        if found.host_id:
            hosts.insert(0, person(interaction.guild, found.host_id))
        fields += [
            Field("Hosted by", ", ".join(hosts) or "the server's hosts", inline=True),
            Field("Seats", f"{found.capacity} per session", inline=True),
            Field("Where", await channel_text(self.bot, found)),
        ]
        if found.reminders:
            fields.append(Field("Reminders", leads_text(found) + ", once you have a seat"))
        file = await self._calendar(interaction, found)
        footer = (
            f"The attached {file.filename} keeps it at {found.at:%H:%M} in {found.timezone} in "
            "your own calendar app."
            if file
            else None
        )
        card = Card(
            plain(found.description) or "A listening circle: we witness, we don't fix.",
            title=plain(found.name),
            colour=Palette.CALM,
            fields=tuple(fields),
            footer=footer,
        )
        await reply(interaction, "`/circle join` saves you a seat.", cards=[card], file=file)

    async def _calendar(
        self, interaction: discord.Interaction[HavenBot], circle: Circle
    ) -> discord.File | None:
        """The circle as an .ics file, from its next session on; None when none is planned."""
        circles = self.bot.services.circles
        nxt = await circles.next_session(circle)
        if nxt is None:
            return None
        channel_id = await circles.channel_for(circle)
        guild = interaction.guild
        channel = guild.get_channel(channel_id) if guild and channel_id else None
        location = f"#{channel.name} on {guild.name}" if channel and guild else None
        url = f"https://discord.com/channels/{circle.guild_id}/{channel_id}" if channel_id else None
        calendar = SeriesCalendar(
            uid=f"circle-{circle.id}@haven",
            name=circle.name,
            description=(circle.description + "\n\n" if circle.description else "")
            + "A listening circle: witness, don't fix. Join with /circle join.",
            zone=circle.timezone,
            weekday=circle.weekday,
            at=circle.at,
            duration=timedelta(minutes=circle.duration),
            every_weeks=circle.every_weeks,
            first=nxt.local_date,
            starts=[(s.local_date, s.starts_at) for s in await circles.sessions(circle.id)],
            skipped=[s.local_date for s in await circles.skipped(circle.id)],
            location=location or (None if url else "On Discord"),
            url=url,
        )
        try:
            data = series_ics(calendar)
        except ValueError:
            log.exception("could not write the calendar for circle %s", circle.id)
            return None
        return discord.File(io.BytesIO(data), filename=f"{slug(circle.name)}.ics")

    @app_commands.command(name="join")
    @app_commands.autocomplete(circle=circle_choices)
    @app_commands.choices(mode=MODE_CHOICES)
    @app_commands.describe(
        circle="Which circle",
        mode="How you'd like to take part (default: share)",
        every_week="Keep a place for me at every session, not just the next",
        aftercare="A gentle check-in DM a couple of hours after the session",
    )
    async def join(
        self,
        interaction: discord.Interaction[HavenBot],
        circle: str,
        mode: str = "share",
        every_week: bool = False,
        aftercare: bool = False,
    ) -> None:
        """Save a seat at a circle's next session (or every session)."""
        guild_id = guild_id_of(interaction)
        circles = self.bot.services.circles
        found = await circles.get(guild_id, circle)
        if mode not in MODE_WORDS:
            raise BadInput("You can take part by `share`, `listen` or `text`.")
        if await circles.agreed(found.id, interaction.user.id):
            await join_and_reply(interaction, found, mode, every_week, aftercare)
            return
        button = discord.ui.Button[Any](
            label="I agree",
            style=discord.ButtonStyle.success,
            custom_id=self.bot.components.custom_id(
                AGREE,
                interaction.user.id,
                guild=guild_id,
                circle=found.id,
                mode=mode,
                flags=_flags(every_week, aftercare),
            ),
        )
        card = Card(
            self.bot.services.texts.text(AGREEMENTS),
            title="How we hold each other in a circle",
            colour=Palette.CALM,
        )
        await reply(
            interaction,
            f"Before your first time in **{plain(found.name)}**, here's how we listen together. "
            "If it feels right, press **I agree** and I'll save your place — nothing happens "
            "until you do.",
            cards=[card],
            view=buttons_view(button),
        )

    @app_commands.command(name="leave")
    @app_commands.autocomplete(circle=circle_choices)
    @app_commands.describe(
        circle="Which circle",
        every_week="Also stop keeping a place for me every week",
    )
    async def leave(
        self,
        interaction: discord.Interaction[HavenBot],
        circle: str,
        every_week: bool = False,
    ) -> None:
        """Let go of your place at a circle's next session (or every session)."""
        guild_id = guild_id_of(interaction)
        circles = self.bot.services.circles
        found = await circles.get(guild_id, circle)
        await think(interaction)  # a freed seat may be offered to everyone waiting
        left = await circles.leave(found, interaction.user.id, every_week=every_week)
        name = plain(found.name)
        if every_week:
            text = (
                f"Done — I won't keep a place for you at **{name}** any more"
                + (
                    f", and your {left.sessions} upcoming places are free for others"
                    if left.sessions > 1
                    else ", and your upcoming place is free for someone else"
                    if left.sessions == 1
                    else ""
                )
                + "."
            )
        else:
            text = f"Done — your place at the next **{name}** is free for someone else."
            if await circles.is_series_member(found.id, interaction.user.id):
                text += (
                    " You still have a place every week after it; "
                    "`/circle leave every_week:true` lets that go too."
                )
        await reply(interaction, text + " You're welcome back whenever you like. 🤍")


async def setup(bot: HavenBot) -> None:
    bot.components.handle(AGREE, agreed)
    bot.components.handle(ARCHIVE, archive_confirmed)
    bot.components.handle(TAKE_SEAT, seat_taken)
    await bot.add_cog(CircleCog(bot))
