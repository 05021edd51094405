"""`/checkin`, its picker (a modal), and the lasting "Check in" button on prompts and reminders."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.checkins import (
    FEELINGS,
    NOTE_MAX,
    CheckinInput,
    CheckinResult,
    ReachOut,
    Shared,
    feeling_label,
)
from cogs._replies import reply
from cogs._views import HavenModal, guarded, guild_id_of
from cogs.support import AskModeratorButton

if TYPE_CHECKING:
    from bot.app import HavenBot

CALM = discord.Colour(0xA8C3B8)

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


def result_message(result: CheckinResult) -> tuple[list[discord.Embed], discord.ui.View | None]:
    """The private reply to a check-in: acknowledgement, where it went, and any support card."""
    checkin = result.checkin
    lines = [feeling_label(checkin.feeling)]
    if checkin.capacity is not None:
        lines[0] += f" · capacity {checkin.capacity}/5"
    if checkin.note:
        lines.append("> " + checkin.note.replace("\n", "\n> "))
    lines.append("")
    lines.append(SHARED_LINES[result.shared])
    if result.reach_out in REACH_LINES:
        lines.append(REACH_LINES[result.reach_out])
    embeds = [
        discord.Embed(title=result.acknowledgement, description="\n".join(lines), colour=CALM)
    ]
    if result.support_resources:
        embeds.append(
            discord.Embed(
                title="You don't have to hold this alone",
                description=result.support_resources,
                colour=CALM,
            ).set_footer(text="Shown only to you. Nothing was sent to anyone.")
        )
    view = None
    if result.reach_out in (ReachOut.NO_BUDDY, ReachOut.BUDDY_UNREACHABLE) or (
        result.support_resources
    ):
        view = discord.ui.View(timeout=None)
        view.add_item(AskModeratorButton())
    return embeds, view


async def record_and_reply(
    interaction: discord.Interaction[HavenBot], guild_id: int, given: CheckinInput
) -> None:
    """Save a check-in and answer privately; defers first when Haven must post or DM."""
    if given.share != "private" or given.reach_out:
        await interaction.response.defer(ephemeral=True, thinking=True)
    user = interaction.user
    result = await interaction.client.services.checkins.record(
        guild_id, user.id, user.display_name, given
    )
    embeds, view = result_message(result)
    await reply(interaction, embeds=embeds, view=view)


class CheckinModal(HavenModal, title="Check in"):
    """The picker: every /checkin field in one private form."""

    def __init__(self, guild_id: int, given: dict[str, Any] | None = None) -> None:
        super().__init__(timeout=900)
        given = given or {}
        self.guild_id = guild_id
        self.feeling: discord.ui.Select[Any] = discord.ui.Select(
            options=[
                discord.SelectOption(label=label, value=value, emoji=emoji)
                for value, (emoji, label) in FEELINGS.items()
            ],
            placeholder="Choose what fits, even roughly",
            custom_id="feeling",
        )
        self.capacity: discord.ui.Select[Any] = discord.ui.Select(
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
        self.note: discord.ui.TextInput[Any] = discord.ui.TextInput(
            style=discord.TextStyle.paragraph,
            max_length=NOTE_MAX,
            required=False,
            default=given.get("note"),
            placeholder="Anything you'd like to note, just for you unless you share it",
            custom_id="note",
        )
        share = given.get("share", "private")
        self.share: discord.ui.Select[Any] = discord.ui.Select(
            options=[
                discord.SelectOption(
                    label=choice.name.split(" — ")[0].capitalize(),
                    description=choice.name.split(" — ")[1],
                    value=choice.value,
                    default=choice.value == share,
                )
                for choice in SHARE_CHOICES
            ],
            custom_id="share",
        )
        reach = bool(given.get("reach_out"))
        self.reach_out: discord.ui.Select[Any] = discord.ui.Select(
            options=[
                discord.SelectOption(label="No, thank you", value="no", default=not reach),
                discord.SelectOption(
                    label="Yes — a kind word would help", value="yes", default=reach
                ),
            ],
            custom_id="reach_out",
        )
        for text, component in (
            ("How are you?", self.feeling),
            ("Capacity today (optional)", self.capacity),
            ("A note (optional)", self.note),
            ("Who sees this?", self.share),
            ("Would a kind word help today?", self.reach_out),
        ):
            self.add_item(discord.ui.Label(text=text, component=component))

    async def on_submit(self, interaction: discord.Interaction[HavenBot]) -> None:  # type: ignore[override]
        capacity = self.capacity.values[0] if self.capacity.values else None
        given = CheckinInput(
            feeling=self.feeling.values[0],
            capacity=int(capacity) if capacity else None,
            note=self.note.value,
            share=self.share.values[0] if self.share.values else "private",
            reach_out=(self.reach_out.values or ["no"])[0] == "yes",
        )
        await record_and_reply(interaction, self.guild_id, given)


class CheckinButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"haven:checkin:open:(?P<guild>\d+)"
):
    """The "Check in" button on prompts and reminder DMs: opens the picker, even after restarts."""

    def __init__(self, guild_id: int) -> None:
        self.guild_id = guild_id
        super().__init__(
            discord.ui.Button(
                label="Check in",
                emoji="🌿",
                style=discord.ButtonStyle.primary,
                custom_id=f"haven:checkin:open:{guild_id}",
            )
        )

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> CheckinButton:
        return cls(int(match["guild"]))

    async def callback(self, interaction: discord.Interaction[HavenBot]) -> None:  # type: ignore[override]
        await guarded(interaction, self._open(interaction))

    async def _open(self, interaction: discord.Interaction[HavenBot]) -> None:
        await interaction.response.send_modal(CheckinModal(self.guild_id))


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
            given = {"capacity": capacity, "note": note, "share": share, "reach_out": reach_out}
            await interaction.response.send_modal(CheckinModal(guild_id, given))
            return
        await record_and_reply(
            interaction, guild_id, CheckinInput(feeling, capacity, note, share, reach_out)
        )


async def setup(bot: HavenBot) -> None:
    bot.add_dynamic_items(CheckinButton)
    await bot.add_cog(CheckinCog(bot))
