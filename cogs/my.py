"""`/my …`: a member's own settings and data. Every reply is private to them."""

from __future__ import annotations

import io
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.checkins import checkin_line
from bot.messages import Card, Palette, fields_from_lines
from bot.privacy import FORGET, KEEP, privacy_statement
from bot.timeutil import discord_timestamp, format_hhmm, get_zone
from cogs._components import Press, buttons_view
from cogs._replies import reply
from cogs._views import DAY_CHOICES, DAY_WORDS, ServerGroup, guild_id_of, zone_choices

if TYPE_CHECKING:
    from bot.app import HavenBot


@app_commands.guild_only()
class MyCog(ServerGroup, group_name="my", group_description="Your own Haven settings"):
    """`/my`: a member's own settings and data."""

    @app_commands.command(name="timezone")
    @app_commands.describe(zone="A city-based zone like Europe/London; leave empty to see yours")
    @app_commands.autocomplete(zone=zone_choices)
    async def timezone(
        self, interaction: discord.Interaction[HavenBot], zone: str | None = None
    ) -> None:
        """See or set your time zone, so reminders and times fit your day."""
        guild_id, user_id = guild_id_of(interaction), interaction.user.id
        members = self.bot.services.members
        if zone is None:
            profile = await members.profile(guild_id, user_id)
            current = profile.zone
            local = self.bot.clock().astimezone(current).strftime("%H:%M")
            if profile.timezone:
                text = f"Your time zone here is **{current.key}** (it's {local} there)."
            else:
                text = (
                    f"You haven't set a time zone, so I use the server's: **{current.key}** "
                    f"(it's {local} there). You can set yours with `/my timezone zone:`."
                )
            await reply(interaction, text)
            return
        name = await members.set_timezone(guild_id, user_id, zone)
        local = self.bot.clock().astimezone(get_zone(name)).strftime("%H:%M")
        await reply(
            interaction,
            f"Got it — I'll use **{name}** for you here. It's {local} there now.",
        )

    @app_commands.command(name="privacy")
    async def privacy(self, interaction: discord.Interaction[HavenBot]) -> None:
        """Read exactly what Haven keeps about you, who can see it, and for how long."""
        config = await self.bot.services.guilds.get(guild_id_of(interaction))
        sections = privacy_statement(config, self.bot.services.features)
        card = Card(
            title="Your privacy with Haven",
            description="\n\n".join(f"**{heading}**\n{text}" for heading, text in sections),
            colour=Palette.GENTLE,
        )
        await reply(interaction, cards=[card])

    # --- check-in history ----------------------------------------------------------------

    @app_commands.command(name="checkins")
    @app_commands.describe(days="How many days to look back (1–365, default 14)")
    async def checkins(
        self, interaction: discord.Interaction[HavenBot], days: app_commands.Range[int, 1, 365] = 14
    ) -> None:
        """See your recent check-ins and a small chart — only you can see them."""
        guild_id, user_id = guild_id_of(interaction), interaction.user.id
        await interaction.response.defer(ephemeral=True, thinking=True)
        zone = await self.bot.services.members.zone_for(guild_id, user_id)
        report = await self.bot.services.checkins.history_report(guild_id, user_id, days, zone)
        if not report.checkins:
            await reply(
                interaction,
                f"You haven't checked in during the last {days} days. Whenever you'd like, "
                "`/checkin` is here — there's no catching up to do.",
            )
            return
        recent = [checkin_line(c, compact=True) for c in reversed(report.checkins[-10:])]
        card = Card(
            title="Your check-ins",
            description=report.summary,
            colour=Palette.GENTLE,
            fields=fields_from_lines("Most recent", recent),
        )
        file = None
        if report.chart_png:
            # The alt text carries the same summary, for screen readers.
            file = discord.File(
                io.BytesIO(report.chart_png), filename="checkins.png", description=report.summary
            )
            card = replace(card, image="attachment://checkins.png")
        await reply(interaction, cards=[card], file=file)

    # --- reminders and rhythm --------------------------------------------------------------

    @app_commands.command(name="reminder")
    @app_commands.describe(
        time="When, in your time zone, 24-hour like 19:30", days="Which days (default every day)"
    )
    @app_commands.choices(days=DAY_CHOICES)
    async def reminder(
        self, interaction: discord.Interaction[HavenBot], time: str, days: str = "every-day"
    ) -> None:
        """Get a gentle DM reminder to check in, at your local time."""
        guild_id, user_id = guild_id_of(interaction), interaction.user.id
        services = self.bot.services
        was_on = await services.reminders.rule(guild_id, user_id) is not None
        next_due = await services.reminders.set(guild_id, user_id, time, days)
        zone = await services.members.zone_for(guild_id, user_id)
        rule = await services.reminders.rule(guild_id, user_id)
        assert rule is not None
        text = (
            f"Your check-in reminder is {'updated' if was_on else 'on'}: "
            f"**{format_hhmm(rule.at)}** {DAY_WORDS[days]}, by DM, in **{zone.key}**."
        )
        if next_due:
            text += f" The next one arrives {discord_timestamp(next_due, 'F')}."
        text += (
            "\nI stay quiet during your quiet hours and while you're paused. "
            "`/my reminder-off` stops it anytime."
        )
        await reply(interaction, text)

    @app_commands.command(name="reminder-off")
    async def reminder_off(self, interaction: discord.Interaction[HavenBot]) -> None:
        """Stop your check-in reminder DMs."""
        was_on = await self.bot.services.reminders.off(
            guild_id_of(interaction), interaction.user.id
        )
        await reply(
            interaction,
            "Your check-in reminders are off. `/my reminder` turns them on again anytime."
            if was_on
            else "You don't have a check-in reminder here, so there was nothing to stop.",
        )

    @app_commands.command(name="quiet-hours")
    @app_commands.describe(
        start="When quiet begins, 24-hour like 22:00", end="When it ends, like 07:30"
    )
    async def quiet_hours(
        self, interaction: discord.Interaction[HavenBot], start: str, end: str
    ) -> None:
        """Set hours when Haven never DMs you (in your time zone)."""
        guild_id, user_id = guild_id_of(interaction), interaction.user.id
        members = self.bot.services.members
        await members.set_quiet_hours(guild_id, user_id, start, end)
        profile = await members.profile(guild_id, user_id)
        zone = profile.zone
        assert profile.quiet_start is not None and profile.quiet_end is not None
        begin, finish = format_hhmm(profile.quiet_start), format_hhmm(profile.quiet_end)
        await reply(
            interaction,
            f"Quiet hours set: **{begin}–{finish}** ({zone.key}). Nothing from me arrives "
            f"then; a reminder that would land in them waits until {finish}.",
        )

    @app_commands.command(name="pause")
    @app_commands.describe(days="How many days to rest (1–365)")
    async def pause(
        self, interaction: discord.Interaction[HavenBot], days: app_commands.Range[int, 1, 365]
    ) -> None:
        """Pause every Haven DM and nudge for a while. Rest is allowed."""
        until = await self.bot.services.members.pause(
            guild_id_of(interaction), interaction.user.id, days
        )
        await reply(
            interaction,
            f"Everything's paused until {discord_timestamp(until, 'F')}. Rest well. "
            "`/my resume` brings things back whenever you like — no explanation needed.",
        )

    @app_commands.command(name="resume")
    async def resume(self, interaction: discord.Interaction[HavenBot]) -> None:
        """End a pause early."""
        guild_id, user_id = guild_id_of(interaction), interaction.user.id
        was_paused = await self.bot.services.members.resume(guild_id, user_id)
        if not was_paused:
            await reply(interaction, "You weren't paused, so everything is already on.")
            return
        next_due = await self.bot.services.reminders.next_due(guild_id, user_id)
        text = "Welcome back. 🌿"
        if next_due:
            text += f" Your next reminder arrives {discord_timestamp(next_due, 'F')}."
        await reply(interaction, text)

    @app_commands.command(name="noticing")
    @app_commands.describe(
        enabled="Let your buddy know if you go quiet?",
        days="Quiet days before they hear (2–14, default 4)",
    )
    async def noticing(
        self,
        interaction: discord.Interaction[HavenBot],
        enabled: bool,
        days: app_commands.Range[int, 2, 14] = 4,
    ) -> None:
        """Let your buddy know if you go quiet."""
        guild_id, user_id = guild_id_of(interaction), interaction.user.id
        services = self.bot.services
        await services.noticing.set(guild_id, user_id, enabled, days)
        if not enabled:
            await reply(interaction, "Gentle noticing is off. Nobody is told anything.")
            return
        text = (
            f"Gentle noticing is on. If you usually check in and then go quiet for {days} days, "
            "your buddy gets one soft nudge — with no details of any check-in. Never "
            "moderators, never public, and not while you're paused."
        )
        if not await services.buddies.current(guild_id, user_id):
            text += "\nYou don't have a buddy yet; it starts working once you do."
        await reply(interaction, text)

    # --- data rights -----------------------------------------------------------------------

    @app_commands.command(name="data")
    async def data(self, interaction: discord.Interaction[HavenBot]) -> None:
        """Get everything Haven keeps about you here, as a file only you can see."""
        guild_id, user_id = guild_id_of(interaction), interaction.user.id
        await interaction.response.defer(ephemeral=True, thinking=True)
        export = await self.bot.services.privacy.export(guild_id, user_id)
        await reply(
            interaction,
            "Here's everything I keep about you in this server. `/my forget` deletes it all.",
            file=discord.File(io.BytesIO(export), filename=f"haven-data-{guild_id}.json"),
        )

    @app_commands.command(name="forget")
    async def forget(self, interaction: discord.Interaction[HavenBot]) -> None:
        """Delete everything Haven keeps about you here (it asks first)."""
        guild_id_of(interaction)
        components = self.bot.components
        confirm = discord.ui.Button[Any](
            label="Yes, forget me here",
            style=discord.ButtonStyle.danger,
            custom_id=components.custom_id(FORGET),
        )
        keep = discord.ui.Button[Any](label="Keep my data", custom_id=components.custom_id(KEEP))
        await reply(
            interaction,
            "This deletes everything I keep about you in this server — check-ins, settings, "
            "reminders — for good, and takes down my posts of check-ins you shared with your "
            "name. Other members' data is untouched. Are you sure?",
            view=buttons_view(confirm, keep),
        )


async def forget_confirmed(press: Press) -> None:
    """The presser forgets their own data in the server the button was pressed in."""
    services = press.interaction.client.services
    await press.interaction.response.defer()
    done = await services.privacy.forget(press.guild_id, press.user_id)
    services.notices.forget(press.guild_id, press.user_id)
    text = (
        "Done. Everything I kept about you in this server is gone. If you use Haven here "
        "again, it starts fresh. Take care. 🤍"
    )
    if done.posts_left:
        text += (
            f"\nI couldn't take down {done.posts_left} of my posts about you (I may have lost "
            "access to that channel); a moderator can remove them."
        )
    await press.interaction.edit_original_response(content=text, view=None)


async def forget_declined(press: Press) -> None:
    await press.interaction.response.edit_message(content="Nothing was deleted.", view=None)


async def setup(bot: HavenBot) -> None:
    bot.components.handle(FORGET, forget_confirmed)
    bot.components.handle(KEEP, forget_declined)
    await bot.add_cog(MyCog(bot))
