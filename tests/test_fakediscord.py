"""Self-tests of the loopback fake Discord, driven by a tiny throwaway discord.py bot.

The bot below is NOT Haven: it exists only to exercise the fake through the real, unmodified
discord.py client (login, command sync, gateway, interactions, REST).
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.ext import commands
from discord.http import Route

from tests.fakediscord import (
    ALICE,
    APP_ID,
    BOB,
    BOT_ID,
    CAROL,
    CH_GENERAL,
    CH_LOCKED,
    CH_MODS,
    GUILD,
    MOD_ROLE,
    MONA,
    OWNER,
    FakeDiscord,
    Message,
    Perm,
    Rejected,
    World,
)
from tests.fakediscord.openapi import find_spec, load_spec
from tests.fakediscord.validate import (
    FormErrors,
    validate_commands,
    validate_message,
    validate_modal,
    validate_scheduled_event,
)

# ---------------------------------------------------------------------------------------------
# the tiny bot
# ---------------------------------------------------------------------------------------------


class FeedbackModal(discord.ui.Modal, title="Feedback"):
    text: discord.ui.TextInput[Any] = discord.ui.TextInput(label="Text", custom_id="fb_text")
    name: discord.ui.Label[Any] = discord.ui.Label(
        text="Name", component=discord.ui.TextInput(custom_id="fb_name", required=False)
    )
    mood: discord.ui.Label[Any] = discord.ui.Label(
        text="Mood",
        component=discord.ui.Select(
            custom_id="fb_mood",
            options=[
                discord.SelectOption(label="Good", value="good", default=True),
                discord.SelectOption(label="Bad", value="bad"),
            ],
        ),
    )

    async def on_submit(self, interaction: discord.Interaction) -> None:
        assert isinstance(self.name.component, discord.ui.TextInput)
        assert isinstance(self.mood.component, discord.ui.Select)
        await interaction.response.send_message(
            f"thanks {self.text.value} from {self.name.component.value} "
            f"feeling {self.mood.component.values[0]}"
        )


class VoteView(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=30)
        self.add_item(discord.ui.Button(label="Docs", url="https://example.com/docs"))

    @discord.ui.button(label="Yes", custom_id="yes", style=discord.ButtonStyle.success)
    async def yes(self, interaction: discord.Interaction, button: discord.ui.Button[Any]) -> None:
        await interaction.response.edit_message(
            content=f"voted yes by {interaction.user.id}", view=None
        )


@dataclass
class Seen:
    errors: list[BaseException] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)


class TinyBot(commands.Bot):
    def __init__(self) -> None:
        super().__init__(
            command_prefix="!",
            intents=discord.Intents.default(),
            guild_ready_timeout=0.1,
            help_command=None,
        )
        self.seen = Seen()
        self._add_commands()

    async def setup_hook(self) -> None:
        await self.tree.sync()

    def _add_commands(self) -> None:
        tree = self.tree
        seen = self.seen

        @tree.command(description="Echo text")
        @app_commands.describe(text="what to echo", times="how often")
        async def echo(
            interaction: discord.Interaction, text: str, times: app_commands.Range[int, 1, 5] = 1
        ) -> None:
            await interaction.response.send_message(text * times)

        @tree.command(description="A secret")
        async def secret(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("psst", ephemeral=True)

        cfg = app_commands.Group(name="cfg", description="Config")

        @cfg.command(name="set", description="Set a key")
        async def cfg_set(interaction: discord.Interaction, key: str, value: str) -> None:
            await interaction.response.send_message(f"{key}={value}")

        @cfg_set.autocomplete("key")
        async def key_complete(
            interaction: discord.Interaction, current: str
        ) -> list[app_commands.Choice[str]]:
            keys = ["alpha", "beta", "gamma", "alphabet"]
            return [app_commands.Choice(name=k, value=k) for k in keys if k.startswith(current)]

        tree.add_command(cfg)

        @tree.command(description="Defers, then follows up")
        async def slow(interaction: discord.Interaction) -> None:
            await interaction.response.defer(thinking=True)
            await asyncio.sleep(0.05)
            await interaction.followup.send("done")
            await interaction.followup.send("and more", ephemeral=True)

        @tree.command(description="Opens a modal")
        async def feedback(interaction: discord.Interaction) -> None:
            await interaction.response.send_modal(FeedbackModal())

        @tree.command(description="A vote")
        async def vote(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("vote?", view=VoteView())

        @tree.command(description="Posts with a nonce, twice")
        async def announce(interaction: discord.Interaction) -> None:
            await interaction.response.defer(ephemeral=True)
            channel = interaction.client.get_channel(CH_GENERAL)
            assert isinstance(channel, discord.TextChannel)
            first = await channel.send("hello all", nonce=4242)
            second = await channel.send("hello all", nonce=4242)
            seen.values["announce"] = (first.id, second.id)
            await interaction.followup.send("posted", ephemeral=True)

        @tree.command(description="DMs a user")
        async def dm(interaction: discord.Interaction, user: discord.User) -> None:
            try:
                await user.send("hi there")
            except discord.Forbidden as exc:
                await interaction.response.send_message(f"forbidden {exc.code}", ephemeral=True)
            else:
                await interaction.response.send_message("sent", ephemeral=True)

        @tree.command(description="Too long")
        async def long(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("x" * 2001)

        @tree.command(description="Responds twice (a bug)")
        async def twice(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("one")
            interaction.response._response_type = None  # defeat discord.py's own guard
            try:
                await interaction.response.send_message("two")
            except discord.HTTPException as exc:
                seen.values["twice"] = exc.code

        @tree.command(description="Sleeps before answering")
        async def sleepy(interaction: discord.Interaction) -> None:
            await asyncio.sleep(0.3)
            try:
                await interaction.response.send_message("late")
            except discord.HTTPException as exc:
                seen.values["sleepy"] = exc.code

        @tree.command(description="Sends a file")
        async def attach(interaction: discord.Interaction) -> None:
            f = discord.File(io.BytesIO(b"hello bytes"), filename="notes.txt")
            await interaction.response.send_message("here", file=f)

        @tree.command(description="Mentions people")
        async def ping(interaction: discord.Interaction, quiet: bool) -> None:
            mentions = discord.AllowedMentions.none() if quiet else discord.utils.MISSING
            await interaction.response.send_message(
                f"<@{BOB}> <@!{CAROL}> <@&{MOD_ROLE}> @everyone", allowed_mentions=mentions
            )

        @tree.command(description="Moderators only, in a guild")
        @app_commands.guild_only()
        async def mods(interaction: discord.Interaction) -> None:
            if interaction.guild is None:
                await interaction.response.send_message("guild only", ephemeral=True)
                return
            await interaction.response.send_message("in guild")

        @tree.error
        async def on_tree_error(
            interaction: discord.Interaction, error: app_commands.AppCommandError
        ) -> None:
            seen.errors.append(error)
            if not interaction.response.is_done():
                await interaction.response.send_message(f"error: {error}", ephemeral=True)


# ---------------------------------------------------------------------------------------------
# fixture
# ---------------------------------------------------------------------------------------------


@dataclass
class Env:
    fake: FakeDiscord
    bot: TinyBot
    task: asyncio.Task[None]

    def alive(self) -> None:
        if self.task.done():
            raise AssertionError(f"the bot task died: {self.task.exception()!r}")


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    fake = FakeDiscord()
    await fake.start()
    fake.patch_discord()
    bot = TinyBot()
    try:
        async with bot:
            task = asyncio.create_task(bot.start(fake.token))
            await asyncio.wait_for(bot.wait_until_ready(), 10)
            e = Env(fake, bot, task)
            yield e
            e.alive()
            await bot.close()
            await asyncio.wait_for(task, 5)
        assert not fake.rejections, [str(c) for c in fake.rejections]
        assert not fake.unanswered(), fake.unanswered()
    finally:
        await fake.stop()
    assert discord.http.Route.BASE == "https://discord.com/api/v10"


# ---------------------------------------------------------------------------------------------
# tests
# ---------------------------------------------------------------------------------------------


async def test_boot_and_sync(env: Env) -> None:
    fake, bot = env.fake, env.bot
    assert fake.identify_count == 1
    assert fake.sync_count == 1
    assert bot.user is not None and bot.user.id == BOT_ID
    assert bot.application_id == APP_ID
    names = {c["name"] for c in fake.commands()}
    assert {"echo", "cfg", "slow", "feedback", "vote", "mods"} <= names
    guild = bot.get_guild(GUILD)
    assert guild is not None and guild.name == "Healing Havens Test"
    assert guild.member_count == len(fake.world.guilds[GUILD].members)
    # discord.py computes the same permissions as the fake from GUILD_CREATE
    locked = guild.get_channel(CH_LOCKED)
    assert isinstance(locked, discord.TextChannel)
    assert not locked.permissions_for(guild.me).send_messages
    general = guild.get_channel(CH_GENERAL)
    assert isinstance(general, discord.TextChannel)
    assert general.permissions_for(guild.me).embed_links
    assert [c.path for c in fake.calls[:3]] == [
        "/users/@me",
        "/oauth2/applications/@me",
        "/applications/1000000000000000001/commands",
    ]


async def test_invalid_command_name_is_rejected(env: Env) -> None:
    fake, bot = env.fake, env.bot
    with pytest.raises(discord.HTTPException) as info:
        await bot.http.bulk_upsert_global_commands(
            APP_ID, [{"name": "Bad Name", "description": "x", "type": 1}]
        )
    assert info.value.code == 50035 and "0.name" in str(info.value)
    assert fake.sync_count == 1 and {c["name"] for c in fake.commands()} >= {"echo"}
    assert len(fake.rejections) == 1
    fake.rejections.clear()


async def test_slash_reply_and_ephemeral(env: Env) -> None:
    fake = env.fake
    ix = await fake.slash("echo", text="hi", times=2)
    msg = await ix.reply()
    assert msg.content == "hihi" and not msg.ephemeral and msg.channel_id == CH_GENERAL
    assert fake.messages_in(CH_GENERAL) == [msg]
    assert ix.latency is not None and ix.latency < 3
    ix2 = await fake.slash("secret", user=BOB)
    msg2 = await ix2.reply()
    assert msg2.ephemeral and msg2.content == "psst"
    assert msg2 not in fake.messages_in(CH_GENERAL)
    env.alive()


async def test_defer_then_followups(env: Env) -> None:
    ix = await env.fake.slash("slow")
    assert (await ix.callback())["type"] == 5
    reply = await ix.reply()
    assert reply.content == "done" and not reply.loading
    followups = await ix.followups(2)
    assert [m.content for m in followups] == ["done", "and more"]
    assert followups[1].ephemeral
    assert [m.content for m in env.fake.messages_in(CH_GENERAL)] == ["done"]


async def test_modal_round_trip(env: Env) -> None:
    fake = env.fake
    ix = await fake.slash("feedback")
    modal = await ix.modal()
    assert modal["title"] == "Feedback"
    assert [c["type"] for c in modal["components"]] == [1, 18, 18]
    sub = await fake.submit_modal(ix, {"fb_text": "great", "fb_name": "Bob", "fb_mood": ["good"]})
    msg = await sub.reply()
    assert msg.content == "thanks great from Bob feeling good"
    with pytest.raises(ValueError, match="required"):
        await fake.submit_modal(ix, {"fb_name": "Bob", "fb_mood": ["good"]})
    with pytest.raises(ValueError, match="not an option"):
        await fake.submit_modal(ix, {"fb_text": "x", "fb_mood": ["meh"]})
    again = await fake.slash("feedback")  # discord.py forgets a modal once submitted
    await again.modal()
    defaults = await fake.submit_modal(again, {"fb_text": "fine"})  # the pre-selected option
    assert (await defaults.reply()).content == "thanks fine from  feeling good"


async def test_button_click_reaches_view(env: Env) -> None:
    fake = env.fake
    ix = await fake.slash("vote")
    msg = await ix.reply()
    assert sorted(str(b.get("label")) for b in msg.buttons) == ["Docs", "Yes"]
    click = await fake.click(msg, "Yes", user=CAROL)
    updated = await click.reply()
    assert updated.id == msg.id and updated.content == f"voted yes by {CAROL}"
    assert updated.components == []
    with pytest.raises(LookupError):
        await fake.click(msg, "Yes")


async def test_autocomplete(env: Env) -> None:
    ix = await env.fake.autocomplete("cfg", "set", focused="key", key="alp")
    choices = await ix.choices()
    assert [c["value"] for c in choices] == ["alpha", "alphabet"]
    done = await env.fake.slash("cfg set", key="alpha", value="1")
    assert (await done.reply()).content == "alpha=1"


async def test_deadline_gives_10062(env: Env) -> None:
    fake = env.fake
    fake.callback_deadline = 0.1
    ix = await fake.slash("sleepy")
    call = await fake.expect("POST", r"/interactions/\d+/[^/]+/callback", timeout=3)
    assert call.status == 404 and call.response["code"] == 10062
    await asyncio.sleep(0.05)
    assert env.bot.seen.values["sleepy"] == 10062
    assert ix.callback_at is None and fake.rejections == [call]
    fake.rejections.clear()


async def test_double_callback_gives_40060(env: Env) -> None:
    fake = env.fake
    ix = await fake.slash("twice")
    assert (await ix.reply()).content == "one"
    call = await fake.expect("POST", r"/interactions/.*/callback", where=lambda c: c.status == 400)
    assert call.response["code"] == 40060
    await asyncio.sleep(0.05)
    assert env.bot.seen.values["twice"] == 40060
    assert fake.rejections == [call]
    fake.rejections.clear()


async def test_too_long_message_is_rejected(env: Env) -> None:
    fake = env.fake
    ix = await fake.slash("long")
    call = await fake.expect("POST", r"/interactions/.*/callback")
    assert call.status == 400 and "data.content" in call.reason and "2000" in call.reason
    error = await ix.reply()  # the tree error handler answers instead
    assert "2000 or fewer" in error.content
    assert len(fake.rejections) == 1
    fake.rejections.clear()


async def test_429_with_via_is_retried(env: Env) -> None:
    fake = env.fake
    fake.fail_next("POST", r"/channels/\d+/messages", 429, retry_after=0.1)
    channel = env.bot.get_channel(CH_GENERAL)
    assert isinstance(channel, discord.TextChannel)
    sent = await channel.send("after a 429")
    assert [c.status for c in fake.calls if c.path.endswith("/messages")] == [429, 200]
    assert fake.count_429 == 1 and fake.errors[0].headers is not None
    assert fake.messages_in(CH_GENERAL)[-1].id == sent.id
    assert not fake.rejections


async def test_closed_dms_surface_as_forbidden_50007(env: Env) -> None:
    fake = env.fake
    fake.close_dms(BOB)
    ix = await fake.slash("dm", user_=BOB)  # option "user"; `user=` is the invoker
    assert (await ix.reply()).content == "forbidden 50007"
    assert fake.dms_to(BOB) == [] and not fake.rejections
    assert any(c.status == 403 for c in fake.errors)
    fake.open_dms(BOB)
    ix = await fake.slash("dm", user_=BOB)
    assert (await ix.reply()).content == "sent"
    assert [m.content for m in fake.dms_to(BOB)] == ["hi there"]


async def test_nonce_deduplication(env: Env) -> None:
    fake = env.fake
    ix = await fake.slash("announce")
    await ix.followups(1)
    first, second = env.bot.seen.values["announce"]
    assert first == second
    assert [m.content for m in fake.messages_in(CH_GENERAL)] == ["hello all"]


async def test_pings_with_and_without_allowed_mentions(env: Env) -> None:
    fake = env.fake
    loud = await (await fake.slash("ping", quiet=False)).reply()
    assert loud.pinged_user_ids == [BOB, CAROL]
    assert loud.pinged_role_ids == [MOD_ROLE] and loud.pinged_everyone
    quiet = await (await fake.slash("ping", quiet=True)).reply()
    assert quiet.allowed_mentions == {"parse": []}
    assert quiet.pinged_user_ids == [] and quiet.pinged_role_ids == []
    assert not quiet.pinged_everyone


async def test_multipart_attachment_bytes_are_stored(env: Env) -> None:
    msg = await (await env.fake.slash("attach")).reply()
    assert msg.content == "here"
    [att] = msg.attachments
    assert (att.filename, att.content_type, att.data) == ("notes.txt", "text/plain", b"hello bytes")
    call = await env.fake.expect("POST", r"/interactions/.*/callback")
    assert call.form is not None and call.files[0].data == b"hello bytes"
    # discord.py can fetch it back from the fake CDN
    attachment = discord.Attachment(data=att.payload(), state=env.bot._connection)  # type: ignore[arg-type]
    assert await attachment.read() == b"hello bytes"


async def test_global_rate_limit(env: Env) -> None:
    fake = env.fake
    fake.rate_limit_per_second = 5
    channel = env.bot.get_channel(CH_GENERAL)
    assert isinstance(channel, discord.TextChannel)
    await asyncio.gather(*(channel.send(f"m{i}") for i in range(8)))
    assert fake.count_429 >= 1
    assert len(fake.messages_in(CH_GENERAL)) == 8
    limited = [c for c in fake.errors if c.status == 429]
    assert limited and all(c.response["global"] for c in limited)
    assert not fake.rejections
    fake.rate_limit_per_second = None


async def test_openapi_schema_violation_is_caught(env: Env) -> None:
    fake = env.fake
    if fake.spec is None:
        pytest.skip("no OpenAPI spec available")
    route = Route("POST", "/channels/{channel_id}/messages", channel_id=CH_GENERAL)
    with pytest.raises(discord.HTTPException) as info:
        await env.bot.http.request(route, json={"content": "ok", "tts": "yes"})
    assert info.value.status == 400 and "tts" in str(info.value)
    [call] = fake.rejections
    assert "openapi" in call.reason
    fake.rejections.clear()


async def test_unknown_route_is_recorded(env: Env) -> None:
    fake = env.fake
    with pytest.raises(discord.NotFound):
        await env.bot.http.request(Route("GET", "/no/such/endpoint"))
    [call] = fake.rejections
    assert call.path == "/no/such/endpoint" and call.status == 404
    fake.rejections.clear()


async def test_slash_refuses_what_discord_would_not_send(env: Env) -> None:
    fake = env.fake
    with pytest.raises(ValueError, match="outside"):
        await fake.slash("echo", text="x", times=99)
    assert not fake.interactions
    stale = await fake.slash("echo", text="x", times=99, unchecked=True)  # a stale client
    assert (await stale.reply()).content == "x" * 99  # discord.py trusts Discord's range check
    with pytest.raises(ValueError, match="missing required"):
        await fake.slash("echo")
    with pytest.raises(LookupError):
        await fake.slash("nope")
    with pytest.raises(LookupError):
        await fake.slash("echo", text="x", bogus=1)
    with pytest.raises(ValueError, match="needs a subcommand"):
        await fake.slash("cfg")
    assert len(fake.interactions) == 1


async def test_guild_only_command_from_a_dm(env: Env) -> None:
    fake = env.fake
    [mods] = [c for c in fake.commands() if c["name"] == "mods"]
    assert mods["contexts"] == [0] or mods["dm_permission"] is False
    ix = await fake.slash("mods", guild=None, user=ALICE)
    assert ix.payload["context"] == 1 and "guild_id" not in ix.payload
    assert (await ix.reply()).content == "guild only"
    assert (await (await fake.slash("mods")).reply()).content == "in guild"


async def test_threads_and_scheduled_events(env: Env) -> None:
    fake, bot = env.fake, env.bot
    channel = bot.get_channel(CH_GENERAL)
    assert isinstance(channel, discord.TextChannel)
    thread = await channel.create_thread(name="circle")
    assert thread.type is discord.ChannelType.private_thread
    await thread.send("welcome")
    assert [m.content for m in fake.messages_in(thread.id)] == ["welcome"]
    guild = bot.get_guild(GUILD)
    assert guild is not None
    start = datetime.now(UTC) + timedelta(days=1)
    with pytest.raises(discord.HTTPException) as info:  # discord.py omits the two fields (§0.9)
        await guild.create_scheduled_event(
            name="Circle", start_time=start, end_time=start + timedelta(hours=1), location="Park"
        )
    assert "privacy_level" in str(info.value) and "entity_type" in str(info.value)
    fake.rejections.clear()
    event = await guild.create_scheduled_event(
        name="Circle",
        start_time=start,
        end_time=start + timedelta(hours=1),
        location="Park",
        entity_type=discord.EntityType.external,
        privacy_level=discord.PrivacyLevel.guild_only,
    )
    assert event.name == "Circle" and event.location == "Park"


async def test_reconnect_and_resume(env: Env) -> None:
    fake = env.fake
    await fake.close_gateway(4000)
    await fake.wait_resumed(timeout=10)
    assert fake.identify_count == 1
    assert (await (await fake.slash("echo", text="back")).reply()).content == "back"


async def test_injected_faults_are_errors_not_rejections(env: Env) -> None:
    fake = env.fake
    channel = env.bot.get_channel(CH_GENERAL)
    assert isinstance(channel, discord.TextChannel)
    fake.fail_next("POST", r"/channels/\d+/messages", 503)
    with pytest.raises(discord.DiscordServerError):
        await channel.send("x")
    fake.fail_next("POST", r"/channels/\d+/messages", 403, code=50007)
    with pytest.raises(discord.Forbidden) as info:
        await channel.send("x")
    assert info.value.code == 50007
    assert [c.status for c in fake.errors] == [503, 403] and not fake.rejections
    assert fake.messages_in(CH_GENERAL) == []


async def test_followup_before_the_callback_is_10015(env: Env) -> None:
    fake = env.fake
    ix = await fake.slash("sleepy")  # answers after 0.3 s
    async with aiohttp.ClientSession() as session:
        url = f"{fake.api_base}/webhooks/{APP_ID}/{ix.token}"
        async with session.post(url, json={"content": "too early"}) as resp:
            assert resp.status == 404 and (await resp.json())["code"] == 10015
    [early] = fake.rejections
    assert ix.rejections == [early] and early.interaction_id == ix.id
    fake.rejections.clear()
    ix.rejections.clear()  # or reply() would fail fast on the recorded rejection
    assert (await ix.reply()).content == "late"


# ---------------------------------------------------------------------------------------------
# the validators and helpers on their own (no bot)
# ---------------------------------------------------------------------------------------------


def _command_errors(commands: list[dict[str, Any]]) -> str:
    errs = FormErrors()
    try:
        validate_commands(commands, errs)
        errs.raise_if_any()
    except Rejected as r:
        return r.reason()
    return ""


def _cmd(**over: Any) -> dict[str, Any]:
    return {"name": "echo", "description": "Echo", "type": 1, **over}


def _opt(name: str, otype: int = 3, **over: Any) -> dict[str, Any]:
    return {"name": name, "description": "d", "type": otype, **over}


@pytest.mark.parametrize(
    ("commands", "needle"),
    [
        ([_cmd(name="Echo")], "0.name"),
        ([_cmd(name="has space")], "0.name"),
        ([_cmd(description="")], "0.description"),
        ([_cmd(description="x" * 101)], "0.description"),
        ([_cmd(options=[_opt(f"o{i}") for i in range(26)])], "0.options"),
        ([_cmd(options=[_opt("a"), _opt("b", required=True)])], "0.options.1.required"),
        ([_cmd(options=[_opt("a"), _opt("a")])], "0.options.1.name"),
        (
            [_cmd(options=[_opt("a", autocomplete=True, choices=[{"name": "x", "value": "x"}])])],
            "autocomplete",
        ),
        (
            [_cmd(options=[_opt("a", choices=[{"name": "x", "value": "y" * 101}])])],
            "choices.0.value",
        ),
        ([_cmd(options=[_opt("a", 4, choices=[{"name": "x", "value": "1"}])])], "choices.0.value"),
        ([_cmd(options=[_opt("s", 1), _opt("plain")])], "cannot mix"),
        ([_cmd(options=[_opt("g", 2, options=[_opt("plain")])])], "0.options.0.options.0.type"),
        ([_cmd(options=[_opt("a", 4, min_length=2)])], "min_length"),
        ([_cmd(options=[_opt("a", channel_types=[0])])], "channel_types"),
        (
            [
                _cmd(
                    description="x" * 100,
                    options=[
                        _opt(
                            f"o{i}",
                            description="y" * 100,
                            choices=[{"name": "n" * 100, "value": "v" * 100} for _ in range(25)],
                        )
                        for i in range(2)
                    ],
                )
            ],
            "8000",
        ),
        ([_cmd(), _cmd()], "1.name"),
        ([{"name": "Inspect User", "type": 2, "description": "nope"}], "0.description"),
    ],
)
def test_command_sync_rules(commands: list[dict[str, Any]], needle: str) -> None:
    assert needle in _command_errors(commands)


def test_valid_commands_pass() -> None:
    ok = [
        _cmd(options=[_opt("text", required=True), _opt("n", 4, min_value=1, max_value=5)]),
        _cmd(name="cfg", options=[_opt("set", 1, options=[_opt("key", autocomplete=True)])]),
        {"name": "Inspect User", "type": 2},
    ]
    assert _command_errors(ok) == ""
    with pytest.raises(Rejected) as info:
        validate_commands([_cmd(name=f"c{i}") for i in range(101)], FormErrors())
    assert info.value.code == 30032


def _message_errors(body: dict[str, Any], **kw: Any) -> str:
    errs = FormErrors()
    try:
        validate_message(body, errs, **kw)
        errs.raise_if_any()
    except Rejected as r:
        return f"{r.code} {r.reason()}"
    return ""


def _row(*items: dict[str, Any]) -> dict[str, Any]:
    return {"type": 1, "components": list(items)}


def _button(cid: str, label: str = "b") -> dict[str, Any]:
    return {"type": 2, "style": 1, "label": label, "custom_id": cid}


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"content": "x" * 2001}, "In content: Must be 2000 or fewer"),
        ({"content": ""}, "50006"),
        ({"embeds": [{"title": "t" * 257}]}, "embeds.0.title"),
        ({"embeds": [{"fields": [{"name": "n", "value": "v" * 1025}]}]}, "embeds.0.fields.0.value"),
        ({"embeds": [{"description": "d" * 4000}, {"description": "d" * 2001}]}, "6000"),
        ({"components": [_row(_button(str(i))) for i in range(6)]}, "components"),
        ({"components": [_row(*(_button(str(i)) for i in range(6)))]}, "components.0.components"),
        ({"components": [_row(_button("a"), _button("a"))]}, "duplicated"),
        ({"components": [_row(_button("x" * 101))]}, "custom_id"),
        ({"components": [_row(_button("a", label="l" * 81))]}, "label"),
        ({"components": [_row({"type": 2, "style": 5, "label": "l"})]}, "url"),
        ({"content": "x", "flags": 64}, "flags"),
        (
            {"content": "x", "allowed_mentions": {"parse": ["users"], "users": ["1"]}},
            "mutually exclusive",
        ),
    ],
)
def test_message_rules(body: dict[str, Any], needle: str) -> None:
    assert needle in _message_errors(body)


def test_valid_message_and_ephemeral_interaction() -> None:
    assert _message_errors({"content": "x", "flags": 64}, interaction=True) == ""
    assert (
        _message_errors({"embeds": [{"title": "t", "fields": [{"name": "a", "value": "b"}]}]}) == ""
    )
    assert _message_errors({"content": ""}, n_files=1) == ""


@pytest.mark.parametrize(
    ("modal", "needle"),
    [
        (
            {
                "custom_id": "m",
                "title": "t" * 46,
                "components": [_row({"type": 4, "style": 1, "label": "L", "custom_id": "a"})],
            },
            "data.title",
        ),
        ({"custom_id": "m", "title": "t", "components": []}, "data.components"),
        (
            {
                "custom_id": "m",
                "title": "t",
                "components": [_row({"type": 4, "style": 1, "custom_id": "a"})],
            },
            "label",
        ),
        (
            {
                "custom_id": "m",
                "title": "t",
                "components": [
                    {
                        "type": 18,
                        "label": "",
                        "component": {"type": 4, "style": 1, "custom_id": "a"},
                    }
                ],
            },
            "components.0.label",
        ),
    ],
)
def test_modal_rules(modal: dict[str, Any], needle: str) -> None:
    errs = FormErrors()
    validate_modal(modal, errs)
    assert needle in "; ".join(".".join(map(str, p)) + " " + m for p, _, m in errs.items)


def test_label_wrapped_text_input_may_have_null_label() -> None:
    errs = FormErrors()
    inner = {"type": 4, "style": 1, "label": None, "custom_id": "nm", "required": True}
    validate_modal(
        {
            "custom_id": "m",
            "title": "t",
            "components": [{"type": 18, "label": "Name", "component": inner}],
        },
        errs,
    )
    assert not errs


def test_scheduled_event_rules() -> None:
    start = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    end = (datetime.now(UTC) + timedelta(days=1, hours=1)).isoformat()
    trap = {
        "name": "x",
        "scheduled_start_time": start,
        "scheduled_end_time": end,
        "entity_metadata": {"location": "Park"},
    }
    errs = FormErrors()
    validate_scheduled_event(trap, errs, channel_types={})
    assert {p for p, _, _ in errs.items} == {("privacy_level",), ("entity_type",)}
    errs = FormErrors()
    validate_scheduled_event(
        {**trap, "entity_type": 3, "privacy_level": 2, "scheduled_end_time": None},
        errs,
        channel_types={},
    )
    assert [p for p, _, _ in errs.items] == [("scheduled_end_time",)]
    errs = FormErrors()
    validate_scheduled_event(
        {
            "name": "v",
            "scheduled_start_time": start,
            "entity_type": 2,
            "privacy_level": 2,
            "channel_id": str(CH_GENERAL),
        },
        errs,
        channel_types={CH_GENERAL: 0},
    )
    assert [p for p, _, _ in errs.items] == [("channel_id",)]


def test_pinged_rules() -> None:
    content = f"<@{BOB}> <@!{CAROL}> <@&{MOD_ROLE}> @here"
    msg = Message(id=1, channel_id=CH_GENERAL, author_id=BOT_ID, content=content)
    assert (msg.pinged_user_ids, msg.pinged_role_ids, msg.pinged_everyone) == (
        [BOB, CAROL],
        [MOD_ROLE],
        True,
    )
    msg.allowed_mentions = {"parse": [], "users": [str(CAROL)], "replied_user": True}
    assert (msg.pinged_user_ids, msg.pinged_role_ids, msg.pinged_everyone) == ([CAROL], [], False)
    msg.allowed_mentions = {"parse": ["roles", "everyone"]}
    assert (msg.pinged_user_ids, msg.pinged_role_ids, msg.pinged_everyone) == ([], [MOD_ROLE], True)


def test_permission_computation() -> None:
    w = World()
    assert not w.permissions(GUILD, ALICE) & Perm.MANAGE_GUILD
    assert w.permissions(GUILD, MONA) & Perm.MANAGE_GUILD
    assert w.permissions(GUILD, OWNER, CH_LOCKED) == Perm.ALL
    assert not w.permissions(GUILD, BOT_ID, CH_LOCKED) & Perm.SEND_MESSAGES
    assert w.permissions(GUILD, BOT_ID, CH_MODS) & Perm.SEND_MESSAGES
    assert w.permissions(GUILD, ALICE, CH_MODS) == 0
    w.set_overwrite(CH_GENERAL, ALICE, deny=Perm.SEND_MESSAGES)
    perms = w.permissions(GUILD, ALICE, CH_GENERAL)
    assert perms & Perm.VIEW_CHANNEL and not perms & (Perm.SEND_MESSAGES | Perm.EMBED_LINKS)
    admin = w.add_role("Admin", Perm.ADMINISTRATOR, members=[CAROL])
    assert admin in w.guilds[GUILD].roles and w.permissions(GUILD, CAROL, CH_MODS) == Perm.ALL
    uid = w.add_user("dave", "Dave")
    assert uid in w.guilds[GUILD].members and w.users[uid].global_name == "Dave"


def test_openapi_allow_list() -> None:
    spec_file = find_spec("auto")
    if spec_file is None:
        pytest.skip("no OpenAPI spec available")
    spec = load_spec(spec_file)
    assert spec.validate("POST", "/users/@me/channels", {"recipient_id": ALICE}) == []
    big_nonce = {"content": "x", "nonce": str(2**64 - 1), "enforce_nonce": True}
    assert spec.validate("POST", f"/channels/{CH_GENERAL}/messages", big_nonce) == []
    cmd = _cmd(default_member_permissions="32")
    assert spec.validate("PUT", f"/applications/{APP_ID}/commands", [cmd]) == []
    errors = spec.validate("POST", f"/channels/{CH_GENERAL}/messages", {"content": 5})
    assert errors and errors[0].path == ("content",)
    assert spec.validate("GET", "/users/@me", None) is None
