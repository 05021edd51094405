r"""A loopback fake Discord (aiohttp REST + gateway WebSocket) for end-to-end tests.

The real, unmodified discord.py client connects to it. It validates what the bot sends (its own
Discord rules, and Discord's OpenAPI request schemas from ``discord-api-spec/openapi.json`` beside
this package), enforces the 3-second and double-acknowledge rules, injects faults, and builds
interactions from the commands the bot synced.

Quick reference (see the docstrings for details)::

    fake = FakeDiscord(callback_deadline=3.0, rate_limit_per_second=None)
    await fake.start(); fake.patch_discord()          # or: async with FakeDiscord() as fake
    ix = await fake.slash("my", "timezone", zone="Europe/London", user=ALICE)
    ix = await fake.slash("dm", user_=BOB)             # an option named like a keyword: trailing _
    ix = await fake.autocomplete("my timezone", focused="zone", zone="lond")
    msg = await ix.reply(); body = await ix.callback(); data = await ix.modal()
    ix2 = await fake.click(msg, "Yes"); ix3 = await fake.submit_modal(ix, {"field": "text"})
    call = await fake.expect("POST", r"/channels/\d+/messages", since=fake.mark())
    fake.messages_in(CH_GENERAL); fake.dms_to(BOB); await fake.wait_for_message(CH_CHECKINS)
    fake.fail_next("POST", r"/channels/\d+/messages", 429, retry_after=0.1); fake.close_dms(BOB)
    assert not fake.rejections and not fake.unanswered()

Paths given to ``expect``/``fail_next`` are ``re.fullmatch``ed against the path relative to
``/api/v10`` (no query string). World changes made after the bot connected are not announced over
the gateway unless a test dispatches the event itself (``await fake.dispatch(...)``).
"""

from .interactions import Interaction
from .models import Attachment, Call, Message
from .server import FakeDiscord
from .validate import Rejected
from .world import (
    ALICE,
    APP_ID,
    BOB,
    BOT_ID,
    BOT_ROLE,
    CAROL,
    CH_BUDDIES,
    CH_CHECKINS,
    CH_CIRCLES,
    CH_GENERAL,
    CH_LOCKED,
    CH_MODS,
    CH_STAGE,
    CH_VOICE,
    GUILD,
    MOD_ROLE,
    MONA,
    OWNER,
    Perm,
    World,
)

__all__ = [
    "ALICE",
    "APP_ID",
    "BOB",
    "BOT_ID",
    "BOT_ROLE",
    "CAROL",
    "CH_BUDDIES",
    "CH_CHECKINS",
    "CH_CIRCLES",
    "CH_GENERAL",
    "CH_LOCKED",
    "CH_MODS",
    "CH_STAGE",
    "CH_VOICE",
    "GUILD",
    "MOD_ROLE",
    "MONA",
    "OWNER",
    "Attachment",
    "Call",
    "FakeDiscord",
    "Interaction",
    "Message",
    "Perm",
    "Rejected",
    "World",
]
