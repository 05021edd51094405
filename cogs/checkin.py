"""`/checkin`, its picker (a modal), and the lasting "Check in" button on prompts and reminders."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.checkins import (
    FEELINGS,
    NOTE_MAX,
    OPEN,
    OPEN_FROM_DM,
    PICKER,
    TAKE_BACK,
    CheckinInput,
    CheckinResult,
    ReachOut,
    Shared,
    checkin_line,
)
from bot.delivery import missing_permissions
from bot.errors import BadInput
from bot.inputs import as_id
from bot.messages import Card, Field, Palette
from bot.support import ASK
from bot.timeutil import discord_timestamp, format_hhmm
from cogs._components import Press, buttons_view, open_modal
from cogs._replies import reply
from cogs._views import DAY_CHOICES, DAY_WORDS, guild_id_of
from cogs.support import ask_button

if TYPE_CHECKING:
    from bot.app import HavenBot


SHARE_CHOICES = [
    app_commands.Choice(name="private — only me (default)", value="private"),
    app_commands.Choice(name="buddy — my current buddy", value="buddy"),
    app_commands.Choice(name="channel — the check-in channel, with my name", value="channel"),
    app_commands.Choice(
        name="anonymous — the check-in channel, without my name", value="anonymous"
    ),
]

SHARED_LINES = {
    Shared.PRIVATE: "Kept private — only you can see it.",
    Shared.CHANNEL: "Shared in the check-in channel.",
    Shared.ANONYMOUS: "Shared anonymously in the check-in channel — nothing there says it's you.",
    Shared.BUDDY: "Sent to your buddy.",
    Shared.NO_CHANNEL: (
        "This server hasn't set a check-in channel yet, so your check-in stayed private."
    ),
    Shared.CHANNEL_UNAVAILABLE: (
        "I couldn't post in the check-in channel just now, so your check-in stayed private."
    ),
    Shared.NO_BUDDY: "You don't have a buddy yet, so your check-in stayed private.",
    Shared.BUDDY_UNREACHABLE: (
        "I couldn't reach your buddy just now (their DMs may be closed), so it stayed private."
    ),
    Shared.BUDDY_RESTING: (
        "Your buddy is resting from DMs just now, so I kept this "
        "private rather than send it while they're away."
    ),
    Shared.PACED: (
        "You've shared a few times this hour, so I kept this one private — I pace shares so "
        "the channel stays gentle for everyone. Your check-in is saved."
    ),
}

REACH_LINES = {
    ReachOut.BUDDY_TOLD: "I let your buddy know a kind word would be welcome. 🤍",
    ReachOut.NO_BUDDY: (
        "You don't have a buddy yet. If you'd like, I can let this server's supporters know "
        "you'd welcome someone reaching out — only if you press the button. Nothing is sent "
        "otherwise."
    ),
    ReachOut.BUDDY_UNREACHABLE: (
        "I couldn't reach your buddy just now. If you'd like, I can let this server's "
        "supporters know instead — only if you press the button."
    ),
}


def result_message(
    result: CheckinResult, interaction: discord.Interaction[HavenBot]
) -> tuple[list[Card], discord.ui.View | None]:
    """The private reply to a check-in: acknowledgement, where it went, and any support card."""
    checkin = result.checkin
    lines = [checkin_line(checkin), "", SHARED_LINES[result.shared]]
    if result.share_again_at is not None:
        lines[-1] += f" You can share there again {discord_timestamp(result.share_again_at, 'R')}."
    if result.reach_out in REACH_LINES:
        lines.append(REACH_LINES[result.reach_out])
    cards = [Card(title=result.acknowledgement, description="\n".join(lines), colour=Palette.CALM)]
    if result.support:
        # Calm, not alarming: why it is here, that it may be a misreading, the resources, and a
        # grounding practice (each works without sight or movement: data/grounding.txt).
        cards.append(
            Card(
                title="You don't have to hold this alone",
                description=(
                    "Some words in your note made me want to make sure you have these. "
                    "I may have read it wrong — if so, please just let this be.\n\n"
                    + result.support.resources
                ),
                colour=Palette.SUPPORT,
                fields=(Field("A moment to ground, if you'd like", result.support.grounding),),
                footer="Only you can see this card. I checked your note here, on Haven, for "
                "words like these; I haven't told anyone about it.",
            )
        )
    components = interaction.client.components
    user_id = checkin.user_id
    buttons: list[discord.ui.Button[Any]] = []
    if result.reach_out in (ReachOut.NO_BUDDY, ReachOut.BUDDY_UNREACHABLE) or (result.support):
        buttons.append(ask_button(components.custom_id(ASK, user_id, guild=checkin.guild_id)))
    if result.anonymous_post is not None:
        channel_id, message_id = result.anonymous_post
        buttons.append(
            discord.ui.Button(
                label="Take my anonymous post down",
                style=discord.ButtonStyle.secondary,
                custom_id=components.custom_id(
                    TAKE_BACK,
                    user_id,
                    guild=checkin.guild_id,
                    channel=channel_id,
                    message=message_id,
                ),
            )
        )
    return cards, buttons_view(*buttons) if buttons else None


async def record_and_reply(
    interaction: discord.Interaction[HavenBot],
    guild_id: int,
    display_name: str,
    given: CheckinInput,
) -> None:
    """Save a check-in and answer privately; defers first when Haven must post or DM."""
    if given.share != "private" or given.reach_out:
        await interaction.response.defer(ephemeral=True, thinking=True)
    result = await interaction.client.services.checkins.record(
        guild_id, interaction.user.id, display_name, given
    )
    cards, view = result_message(result, interaction)
    await reply(interaction, cards=cards, view=view)


class CheckinModal(discord.ui.Modal, title="Check in"):
    """The picker: every /checkin field in one private form.

    Its custom_id carries the server, signed for the member, so a submit is understood without
    this object: after a restart or a long pause the typed note still arrives.
    """

    def __init__(self, custom_id: str, given: dict[str, Any] | None = None) -> None:
        super().__init__(timeout=None, custom_id=custom_id)
        given = given or {}
        feeling: discord.ui.Select[Any] = discord.ui.Select(
            options=[
                discord.SelectOption(label=label, value=value, emoji=emoji)
                for value, (emoji, label) in FEELINGS.items()
            ],
            placeholder="Choose what fits, even roughly",
            custom_id="feeling",
        )
        capacity: discord.ui.Select[Any] = discord.ui.Select(
            options=[
                discord.SelectOption(
                    label=f"{n} of 5", value=str(n), default=given.get("capacity") == n
                )
                for n in range(1, 6)
            ],
            placeholder="1 is running on empty, 5 is plenty in the tank",
            custom_id="capacity",
            required=False,
        )
        note: discord.ui.TextInput[Any] = discord.ui.TextInput(
            style=discord.TextStyle.paragraph,
            max_length=NOTE_MAX,
            required=False,
            default=given.get("note"),
            placeholder="Anything you'd like to note, just for you unless you share it",
            custom_id="note",
        )
        chosen = given.get("share", "private")
        share: discord.ui.Select[Any] = discord.ui.Select(
            options=[
                discord.SelectOption(
                    label=choice.name.split(" — ")[0].capitalize(),
                    description=choice.name.split(" — ")[1],
                    value=choice.value,
                    default=choice.value == chosen,
                )
                for choice in SHARE_CHOICES
            ],
            custom_id="share",
        )
        reach = bool(given.get("reach_out"))
        reach_out: discord.ui.Select[Any] = discord.ui.Select(
            options=[
                discord.SelectOption(label="No, thank you", value="no", default=not reach),
                discord.SelectOption(
                    label="Yes — a kind word would help", value="yes", default=reach
                ),
            ],
            custom_id="reach_out",
        )
        for text, component in (
            ("How are you?", feeling),
            ("Capacity today (optional)", capacity),
            ("A note (optional)", note),
            ("Who sees this?", share),
            ("Would a kind word help today?", reach_out),
        ):
            self.add_item(discord.ui.Label(text=text, component=component))


def picker(interaction: discord.Interaction[HavenBot], guild_id: int, **given: Any) -> CheckinModal:
    custom_id = interaction.client.components.custom_id(PICKER, interaction.user.id, guild=guild_id)
    return CheckinModal(custom_id, given)


async def open_picker(press: Press) -> None:
    """The "Check in" button on prompts and reminder DMs."""
    await open_modal(press.interaction, picker(press.interaction, press.guild_id))


async def picker_submitted(press: Press) -> None:
    capacity = press.choice("capacity")
    given = CheckinInput(
        feeling=press.choice("feeling") or "",
        capacity=as_id(capacity) if capacity else None,
        note=press.text("note"),
        share=press.choice("share") or "private",
        reach_out=press.choice("reach_out") == "yes",
    )
    await record_and_reply(press.interaction, press.guild_id, press.display_name, given)


async def take_back(press: Press) -> None:
    """The author takes their anonymous post down (the signed button proves it is theirs)."""
    gone = await press.interaction.client.services.checkins.take_back(
        press.value("channel"), press.value("message")
    )
    await reply(
        press.interaction,
        "Done — your anonymous post is down. Your check-in is still saved, just for you."
        if gone
        else "I couldn't take it down just now (I may have lost access to that channel). "
        "A moderator can remove it; they won't learn it was yours unless you tell them.",
    )


class CheckinModeration(commands.Cog):
    """`/haven prompt` and `/haven prompt-off`, mixed into the `/haven` group (cogs/haven.py)."""

    bot: HavenBot

    @app_commands.command(name="prompt")
    @app_commands.describe(
        time="When to post, in the server's time zone, 24-hour like 09:00",
        days="Which days (default every day)",
        channel="Where to post (default: the check-in channel)",
    )
    @app_commands.choices(days=DAY_CHOICES)
    async def prompt(
        self,
        interaction: discord.Interaction[HavenBot],
        time: str,
        days: str = "every-day",
        channel: discord.TextChannel | None = None,
    ) -> None:
        """Post a gentle daily check-in prompt with a "Check in" button."""
        guild_id = guild_id_of(interaction)
        services = self.bot.services
        config = await services.guilds.get(guild_id)
        channel_id = channel.id if channel else config.checkin_channel_id
        if channel_id is None:
            raise BadInput(
                "Where should the prompt go? Choose a `channel:`, or set a check-in channel "
                "first with `/haven setup checkin_channel:`."
            )
        rule, next_due = await services.prompts.set(
            guild_id, time, days, channel.id if channel else None
        )
        text = (
            f"The daily check-in prompt will be posted in <#{channel_id}> at "
            f"**{format_hhmm(rule.at)}** ({config.timezone}), {DAY_WORDS[days]}."
        )
        if next_due:
            text += f" The next one: {discord_timestamp(next_due, 'F')}."
        assert interaction.guild is not None
        target = interaction.guild.get_channel(channel_id)
        if isinstance(target, discord.abc.GuildChannel):
            missing = missing_permissions(target, embeds=True)
            if missing:
                text += (
                    f"\n⚠️ I can't post there yet — I'm missing **{', '.join(missing)}**. "
                    "I've saved it; give my role that permission and the prompt will appear."
                )
        await reply(interaction, text)

    @app_commands.command(name="prompt-off")
    async def prompt_off(self, interaction: discord.Interaction[HavenBot]) -> None:
        """Stop the daily check-in prompt."""
        was_on = await self.bot.services.prompts.off(guild_id_of(interaction))
        await reply(
            interaction,
            "The daily check-in prompt is off. `/haven prompt` starts it again."
            if was_on
            else "There was no daily prompt to stop.",
        )


class CheckinCog(commands.Cog):
    def __init__(self, bot: HavenBot) -> None:
        self.bot = bot

    @app_commands.command(name="checkin")
    @app_commands.guild_only()
    @app_commands.describe(
        feeling="How you are, roughly — leave empty to open the picker",
        capacity="How much you have in the tank today, 1 (empty) to 5 (plenty)",
        note="Anything you'd like to note (up to 1000 characters)",
        share="Who sees it — private unless you choose otherwise",
        reach_out="Would a kind word from your buddy help today?",
    )
    @app_commands.choices(
        feeling=[
            app_commands.Choice(name=f"{emoji} {label}", value=value)
            for value, (emoji, label) in FEELINGS.items()
        ],
        share=SHARE_CHOICES,
    )
    async def checkin(
        self,
        interaction: discord.Interaction[HavenBot],
        feeling: str | None = None,
        capacity: app_commands.Range[int, 1, 5] | None = None,
        note: app_commands.Range[str, 1, NOTE_MAX] | None = None,
        share: str = "private",
        reach_out: bool = False,
    ) -> None:
        """Say how you are — privately unless you choose to share."""
        guild_id = guild_id_of(interaction)
        if feeling is None:
            modal = picker(
                interaction,
                guild_id,
                capacity=capacity,
                note=note,
                share=share,
                reach_out=reach_out,
            )
            await open_modal(interaction, modal)
            return
        await record_and_reply(
            interaction,
            guild_id,
            interaction.user.display_name,
            CheckinInput(feeling, capacity, note, share, reach_out),
        )


async def setup(bot: HavenBot) -> None:
    for route, handler in (
        (OPEN, open_picker),
        (OPEN_FROM_DM, open_picker),
        (PICKER, picker_submitted),
        (TAKE_BACK, take_back),
    ):
        bot.components.handle(route, handler)
    await bot.add_cog(CheckinCog(bot))
