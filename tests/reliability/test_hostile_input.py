"""Hostile input against every command Haven registers, and forged buttons (PRODUCT.md 5, 5.1).

Property tests with the real bot against the fake Discord, many examples on one bot instance:

1. Every slash command and subcommand the bot synced (read from the fake's command store, so a
   new command is covered without touching this file) is sent with generated option values —
   within what a Discord client enforces for the synced option (choices, min/max, lengths), and
   as wild as possible where Discord passes anything through (free strings, autocomplete
   values): huge, empty, zero-width and right-to-left, markdown, mass and role mentions, control
   characters, impossible times, dates and zones, ids past 2**63, digits that aren't ASCII.
   Autocomplete is asked with the same kind of text. Users, channels and roles come from the
   fake world; invokers are members, a host, a moderator, the owner, a DM and another server.
2. Real buttons Haven sent (a circle reminder's "I'll be there", a buddy check-back, "Take the
   seat", the talking piece's "Next", and every other button on those DMs) are pressed by
   someone else, in another server, with the server id swapped, and with mangled ids.

For every interaction: it was answered, the fake rejected nothing, nothing was logged at ERROR
or with a traceback, and every message Haven posted or edited pings nobody it does not mean to
(never @everyone/@here or a role, never someone only named in member text, never from a reply)
and carries only buttons Haven's dispatcher answers. When the answer is a refusal — the error
policy turned a `UserError` (or a failed check) into its kind, ephemeral reply — nothing
changed: every table of the database (row count and content hash, `sqlite_sequence` included),
every message members can see, and no write to Discord but the interaction's own answer.

Defects this file found are fixed, and kept as focused regression tests at the end (the
`trips_…` predicates describe the inputs that once broke Haven).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import cogs._components
import cogs._tree
from bot.errors import NotFound
from cogs._replies import handle_error, user_message
from tests.clock import utc
from tests.conftest import Haven
from tests.fakediscord import (
    ALICE,
    BOB,
    BOT_ID,
    CAROL,
    CH_BUDDIES,
    CH_CHECKINS,
    CH_CIRCLES,
    CH_GENERAL,
    CH_LOCKED,
    CH_MODS,
    GUILD,
    MOD_ROLE,
    MONA,
    OWNER,
    FakeDiscord,
    Interaction,
    Message,
)
from tests.fakediscord.world import JSON

SETTINGS = settings(
    derandomize=True,  # a fixed seed: the same examples on every run, locally and in CI
    database=None,
    deadline=None,
    # One bot serves every example, so its state moves on: shrinking would replay a failure
    # against a different world. The failing example's draws are printed instead.
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # one bot for all examples, on purpose
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
ANSWER_TIMEOUT = 10.0
SQLITE_INT_MAX = 2**63 - 1

# ---------------------------------------------------------------------------------------------
# inputs that once broke Haven (fixed; see the regression tests at the end)
# ---------------------------------------------------------------------------------------------


def _digits_sqlite_cannot_take(text: str) -> bool:
    """What `str.isdigit()` accepts but `int()` or SQLite refuses: '²', or past 2**63."""
    if not (text.isdigit() and len(text) <= 20):
        return False
    return not text.isascii() or int(text) > SQLITE_INT_MAX


def trips_circle_lookup(ref: str) -> bool:
    """`Circles.get` sends such a `circle` value to int()/SQLite: an unexpected error."""
    return _digits_sqlite_cannot_take(ref.strip())


def trips_route_decoding(custom_id: str) -> bool:
    """`Routes.decode` or the dispatcher fails on such a custom_id instead of refusing it:
    not `haven:` (never answered), a non-ASCII field or signature, an id past 2**63."""
    if not custom_id.startswith("haven:"):
        return True
    return not custom_id.isascii() or any(
        _digits_sqlite_cannot_take(part) for part in custom_id.split(":")
    )


# ---------------------------------------------------------------------------------------------
# the world: who acts, and who must never be pinged
# ---------------------------------------------------------------------------------------------


@dataclass
class People:
    """Users, a role and a server added to the fake world for these tests."""

    dan: int
    erin: int
    victim: int  # a member who never acts and is never an option value: only named in text
    outsider: int  # a user who is not a member of the server
    other_guild: int  # where Alice, Bob, Carol, Dan and Erin are members too
    other_general: int
    ping_role: int


async def add_people(haven: Haven) -> People:
    fake = haven.fake
    w = fake.world
    dan = w.add_user("dan", "Dan")
    erin = w.add_user("erin", "Erin")
    victim = w.add_user("victim", "Victim")
    outsider = w.add_user("outsider", "Outsider", member_of=None)
    ping_role = w.add_role("Everyone we know", mentionable=True, members=[ALICE, BOB])
    other = w.add_guild("Elsewhere", members=[ALICE, BOB, CAROL, dan, erin])
    await fake.dispatch("GUILD_CREATE", w.guild_create_payload(other, all_members=False))
    await haven.settle()
    return People(dan, erin, victim, outsider, other, w.guilds[other].channel_ids[0], ping_role)


# ---------------------------------------------------------------------------------------------
# hostile text
# ---------------------------------------------------------------------------------------------

# Id-like text that must never reach int() or SQLite unguarded.
ID_EDGES = ["0", "-1", "9" * 19, "9" * 20, str(2**63), str(2**64), "²", "١", "１", "1e3", " 1 "]


def pieces(p: People) -> list[str]:
    menace = f"@everyone @here <@&{p.ping_role}> <@{p.victim}> <@!{p.victim}> **hi** \u202e"
    return [
        menace, "", " ", "\n", "\t", "\r\n", "\x00", "\x07", "\x1b[31m", "\x7f", "\u0085",
        "\u200b", "\u200d", "\u200e", "\u200f", "\u202e", "\u2066", "\ufeff", "\u2028",
        "@everyone", "@here", "@\u200beveryone", f"<@&{MOD_ROLE}>", f"<@&{p.ping_role}>",
        f"<@&{GUILD}>", f"<@{p.victim}>", f"<@!{p.victim}>", f"<#{CH_MODS}>",
        "<t:99999999999999:R>", "<a:x:1>", "**bold**", "__u__", "~~s~~", "||spoiler||", "`",
        "```", "> quote", "# Big", "-# small", "[link](https://evil.example)",
        "https://discord.gg/x", "\\", "*", "_", "👩\u200d👩\u200d👧\u200d👦", "🇺🇦", "👍🏽",
        "e\u0301", "\u0301\u0302", "مرحبا ", "שלום ", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "ｆｕｌｌ", "Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǧ̗͚̚o̙̔ͮ̇͐̇",
        "I want to end it all", "want to die", "19:30", "24:00", "25:99", "-1", "0", "7pm",
        "12:60", "00:00", "23:59", "١٩:٣٠", "１９:３０", "19h30", "19.30", "7:30 p.m.", "²",
        "¹⁹:³⁰", "2024-02-30", "2024-02-29", "2026-11-29", "2026-12-02", "0001-01-01",
        "9999-12-31", "2026-13-01", "2026/12/02", "Europe/London", "UTC", "Mars/Olympus",
        "Etc/GMT+14", "../../etc/passwd", "/etc/localtime", "EST5EDT", "localtime",
        "posixrules", "Factory", "zone.tab", "Europe", "right/UTC", "new york", "24h,1h", "0h",
        "-1h", "1m", "99999999999999999999h", "1h,1h,1h", ",", "1d", "10080m", "NaN", "inf",
        "1e309", "9" * 20, "9" * 25, str(2**64), "0x10", "null", "'; DROP TABLE checkins; --",
        "%s%n", "{0}",
    ]  # fmt: skip


def hostile_text(p: People) -> st.SearchStrategy[str]:
    bits = pieces(p)
    return st.one_of(
        st.sampled_from(bits),  # one nasty value on its own
        st.lists(st.sampled_from(bits), min_size=2, max_size=30).map("".join),
        st.tuples(st.sampled_from([b for b in bits if b]), st.integers(1, 6000)).map(
            lambda t: t[0] * t[1]  # huge
        ),
        st.text(max_size=100),
    )


def fit_length(text: str, opt: JSON) -> str:
    """What a Discord client lets through for the option's declared lengths (6000 at most)."""
    low, high = int(opt.get("min_length", 0)), int(opt.get("max_length", 6000))
    text = text[:high]
    return text + "x" * (low - len(text)) if len(text) < low else text


# ---------------------------------------------------------------------------------------------
# the command tree the bot synced
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Leaf:
    """One invocable slash command: `/name path…` and its options."""

    name: str
    path: tuple[str, ...]
    options: tuple[JSON, ...]

    @property
    def label(self) -> str:
        return "/" + " ".join((self.name, *self.path))


def synced_leaves(fake: FakeDiscord) -> list[Leaf]:
    found: dict[str, Leaf] = {}

    def walk(name: str, path: tuple[str, ...], options: list[JSON]) -> None:
        subs = [o for o in options if o.get("type") in (1, 2)]
        if not subs:
            leaf = Leaf(name, path, tuple(options))
            found.setdefault(leaf.label, leaf)
        for sub in subs:
            walk(name, (*path, sub["name"]), sub.get("options") or [])

    kinds: set[int] = set()
    for scope in list(fake.command_store.scopes):
        for cmd in fake.commands(scope):
            kinds.add(cmd["type"])
            if cmd["type"] == 1:
                walk(cmd["name"], (), cmd.get("options") or [])
    # Context-menu commands need targets of their own: cover them here when they come.
    assert kinds <= {1}, f"context-menu commands appeared ({kinds}); extend this test"
    assert len(found) >= 40, f"only {len(found)} commands synced: {sorted(found)}"
    return [found[label] for label in sorted(found)]


# ---------------------------------------------------------------------------------------------
# observing one interaction
# ---------------------------------------------------------------------------------------------

Snapshot = dict[str, tuple[int, str]]


async def snapshot(haven: Haven) -> Snapshot:
    """Every table's row count and content hash (order-independent): what the bot has
    committed (no transaction is open between interactions)."""
    db = haven.services.db
    out: Snapshot = {}
    for name in await db.columns():
        if name in ("sqlite_stat1", "rate_budget"):  # rate_budget: moves with every request
            continue
        rows = [tuple(row) for row in await db.fetchall(f'SELECT * FROM "{name}"')]
        digest = hashlib.sha256("\n".join(sorted(map(repr, rows))).encode())
        out[name] = (len(rows), digest.hexdigest()[:16])
    return out


def discord_side(fake: FakeDiscord) -> list[tuple[int, str | None, bool]]:
    """What members can see: every non-ephemeral message, its last edit, whether deleted."""
    return [
        (m.id, m.edited_timestamp, m.deleted)
        for m in fake.store.ordered
        if not m.ephemeral and not m.loading
    ]


def message_problems(msg: Message, never: set[int]) -> list[str]:
    """Why this message could ping someone it must not, or carries a dead button."""
    problems = [
        f"component {c.get('custom_id')!r} is not Haven's: nobody would answer it"
        for c in msg.buttons + msg.selects
        if c.get("style") not in (5, 6) and not str(c.get("custom_id", "")).startswith("haven:")
    ]
    if not msg.content:
        return problems  # embeds and components never ping
    am = msg.allowed_mentions
    if am is None:
        problems.append("no allowed_mentions: Discord would ping every mention in the content")
    else:
        parse = am.get("parse") or []
        if "everyone" in parse:
            problems.append("allowed_mentions parses @everyone/@here")
        if "roles" in parse or am.get("roles"):
            problems.append("allowed_mentions allows role pings")
        if "users" in parse:
            problems.append("allowed_mentions pings any user written in the content")
    if msg.pinged_everyone:
        problems.append("pings @everyone/@here")
    if msg.pinged_role_ids:
        problems.append(f"pings roles {msg.pinged_role_ids}")
    pinged = set(msg.pinged_user_ids)
    if pinged & never:
        problems.append(f"pings {pinged & never}, who is only named in someone's text")
    if pinged and (msg.interaction_id is not None or msg.webhook_id is not None or msg.ephemeral):
        problems.append(f"a reply pings {pinged}")
    return problems


@dataclass(repr=False)
class Observer:
    """Sends one interaction at a time and notes every promise of the module docstring that
    it breaks; `check()` fails with all of them."""

    haven: Haven
    caplog: pytest.LogCaptureFixture
    people: People
    refused: dict[int, str] = field(default_factory=dict)  # interaction id -> kind message
    problems: list[str] = field(default_factory=list)
    sent: int = 0
    refusals: int = 0

    @property
    def fake(self) -> FakeDiscord:
        return self.haven.fake

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Learn which interactions the one error policy answered with a kind refusal."""

        async def spy(interaction: Any, error: BaseException) -> None:
            message = user_message(error)
            if message is not None:
                self.refused[int(interaction.id)] = message
            await handle_error(interaction, error)

        monkeypatch.setattr(cogs._tree, "handle_error", spy)
        monkeypatch.setattr(cogs._components, "handle_error", spy)

    async def quiesce(self) -> None:
        """Wait until the bot stops talking to Discord (its follow-ups, edits and DMs)."""
        fake = self.fake
        last, stable = -1, 0
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and stable < 2:
            await asyncio.sleep(0.003)
            n = len(fake.calls)
            busy = any(c.status == 0 for c in fake.calls[-8:])
            stable = stable + 1 if n == last and not busy else 0
            last = n

    async def run(
        self,
        what: str,
        send: Callable[[], Awaitable[Interaction]],
        *,
        must_refuse: bool = False,
        within: float = ANSWER_TIMEOUT,
    ) -> Interaction:
        fake = self.fake
        before, seen = await snapshot(self.haven), discord_side(fake)
        calls, logs, msgs = len(fake.calls), len(self.caplog.records), len(fake.store.ordered)
        ix = await send()
        body: JSON = {}
        problems: list[str] = []
        try:
            body = await ix.callback(within)
            if body.get("type") == 5:  # deferred: the answer follows
                await ix.reply(within)
        except (TimeoutError, AssertionError) as exc:
            problems.append(f"no answer: {exc}")
        await self.quiesce()
        self.sent += 1
        problems += self._aftermath(logs, msgs)

        kind = self.refused.pop(ix.id, None)
        if must_refuse and kind is None:
            problems.append(f"not refused; answered {str(body)[:300]}")
        if kind is not None:
            self.refusals += 1
            said = f"refused ({kind[:70]!r}) but"
            answer = ix.messages[0] if ix.messages else None
            if answer is None or not answer.ephemeral or not answer.text.strip():
                problems.append(f"{said} not answered privately: {answer}")
            after = await snapshot(self.haven)
            changed = {
                t: (before.get(t), after.get(t))
                for t in before.keys() | after.keys()
                if before.get(t) != after.get(t)
            }
            if changed:
                problems.append(f"{said} the database changed: {changed}")
            if discord_side(fake) != seen:
                problems.append(f"{said} messages members can see changed")
            writes = [
                str(c)
                for c in fake.calls[calls:]
                if c.method != "GET" and not c.path.startswith(("/interactions/", "/webhooks/"))
            ]
            if writes:
                problems.append(f"{said} wrote to Discord: {writes}")
        self.problems += [f"{what}: {p}" for p in problems]
        return ix

    def _aftermath(self, logs: int, msgs: int) -> list[str]:
        """What went wrong since the caplog and message marks: rejections, silence, crashes,
        errors in the log, and pings or dead buttons in what Haven posted or edited."""
        fake = self.fake
        problems: list[str] = []
        if fake.rejections:  # noted here, so the fixture's final check does not repeat it
            problems.append(f"the fake rejected {[str(c) for c in fake.rejections]}")
            fake.rejections.clear()
        for unanswered in fake.unanswered():
            problems.append(f"never answered ({unanswered!r}): 'The application did not respond'")
            unanswered.attempted = True
        if self.haven.task.done():
            problems.append(f"the bot stopped: {self.haven.task.exception()!r}")
        for r in self.caplog.records[logs:]:
            if r.levelno >= logging.ERROR or r.exc_info:
                exc = f" [{r.exc_info[1]!r}]" if r.exc_info else ""
                problems.append(f"logged {r.levelname} {r.name}: {r.getMessage()}{exc}")
        never = {self.people.victim}
        edited = [m for m in fake.store.ordered[:msgs] if m.edited_timestamp and not m.ephemeral]
        for msg in [*fake.store.ordered[msgs:], *edited]:
            problems += [f"{p} in {msg.content[:120]!r}" for p in message_problems(msg, never)]
        return problems

    async def background(self, what: str, work: Callable[[], Awaitable[object]]) -> None:
        """Scheduled work (reminders, prompts, pairing runs): what it posts is checked too."""
        logs, msgs = len(self.caplog.records), len(self.fake.store.ordered)
        await work()
        await self.quiesce()
        self.problems += [f"{what}: {p}" for p in self._aftermath(logs, msgs)]

    def check(self) -> None:
        problems, self.problems = self.problems, []
        assert problems == [], f"{len(problems)} broken promise(s):\n" + "\n".join(problems)


async def observer_for(
    haven: Haven, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> Observer:
    observer = Observer(haven, caplog, await add_people(haven))
    observer.install(monkeypatch)
    return observer


# ---------------------------------------------------------------------------------------------
# 1. every command, hostile values
# ---------------------------------------------------------------------------------------------


@dataclass(repr=False)
class Arena:
    observer: Observer
    leaves: list[Leaf]
    circle_ids: list[int]
    other_circle_id: int

    @property
    def people(self) -> People:
        return self.observer.people


@pytest.fixture
async def arena(
    haven: Haven, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> Arena:
    """Channels configured, two circles here and one in another server, a pair of buddies."""
    observer = await observer_for(haven, caplog, monkeypatch)
    services = haven.services
    await services.guilds.update(
        GUILD,
        checkin_channel_id=CH_CHECKINS,
        circle_channel_id=CH_CIRCLES,
        buddy_channel_id=CH_BUDDIES,
        mod_channel_id=CH_MODS,
    )
    circles = services.circles
    evening = await circles.create(
        GUILD,
        name="Evening *circle* @everyone",
        weekday="wednesday",
        at="19:00",
        timezone="America/New_York",
        host_id=ALICE,
        channel_id=CH_CIRCLES,
        capacity=2,
    )
    morning = await circles.create(GUILD, name="Morning", weekday="monday", at="08:00")
    other = observer.people.other_guild
    elsewhere = await circles.create(other, name="Elsewhere", weekday="monday", at="9:00")
    for user in (BOB, CAROL, observer.people.dan):  # Dan waits
        await circles.join(evening, user)
    await services.buddies.join(GUILD, ALICE, intro="hi <@&1> @everyone")
    await services.buddies.join(GUILD, BOB)
    await services.buddies.join(GUILD, CAROL)
    await services.buddies.pair(GUILD, [ALICE, BOB], "2026-11-01T00:00:00Z")
    leaves = synced_leaves(haven.fake)
    return Arena(observer, leaves, [evening.id, morning.id], elsewhere.id)


def invokers(p: People) -> list[tuple[int, int | None, int | None]]:
    """(user, guild, channel): members, a host, a moderator, the owner, a DM, another server."""
    return [
        (MONA, GUILD, CH_MODS),  # a moderator: what she runs mostly succeeds, and posts
        (ALICE, GUILD, CH_GENERAL),  # hosts the evening circle
        (BOB, GUILD, CH_CIRCLES),
        (CAROL, GUILD, CH_GENERAL),
        (OWNER, GUILD, CH_LOCKED),
        (p.dan, GUILD, CH_GENERAL),
        (ALICE, None, None),  # a DM: a stale client still offers server commands there
        (BOB, p.other_guild, p.other_general),
    ]


def option_users(p: People) -> list[int]:
    return [ALICE, BOB, CAROL, MONA, OWNER, BOT_ID, p.dan, p.erin, p.outsider]


def hinted(name: str, arena: Arena) -> tuple[list[str], list[str]] | None:
    """Good and edge values for options whose names say what they hold."""
    today = date(2026, 11, 28)  # the fake clock's Saturday
    good: list[str]
    edges: list[str]
    if name == "circle":
        good = [str(i) for i in arena.circle_ids] + ["Morning", "morning "]
        edges = [str(arena.other_circle_id), "Elsewhere", *ID_EDGES]
    elif name == "date":
        good = [(today + timedelta(days=n)).isoformat() for n in (0, 4, 5, 11, 12)]
        edges = [(today + timedelta(days=n)).isoformat() for n in (-1, 400)]
        edges += ["2024-02-30", "2027-02-29", "0001-01-01", "9999-12-31", "2026-12-02T00:00",
                  "20261202", "2026-W49-3", "٢٠٢٦-١٢-٠٢", "2026-12-²", "+2026-12-02",
                  "-1"]  # fmt: skip
    elif name in ("time", "start", "end"):
        good = ["19:30", "7pm", "00:00", "23:59", "7:05", "12:30", "7:30 p.m.", "19h30"]
        edges = ["24:00", "25:99", "-1", "12:60", "١٩:٣٠", "¹⁹:³⁰", "0:00am", "13pm",
                 "99999999999999999999:00", "7", "19:30:00", "１９:３０"]  # fmt: skip
    elif name in ("zone", "timezone"):
        good = ["Europe/London", "america/new_york", "Tokyo", "UTC", "new york"]
        edges = ["Mars/Olympus", "../../etc/passwd", "/etc/localtime", "EST5EDT", "Etc/GMT+14",
                 "localtime", "zone.tab", "Europe", "right/UTC", "posix/Europe/London",
                 "London\x00", "Europe/London/"]  # fmt: skip
    elif name == "reminders":
        good = ["24h,1h", "48h", "30m", "2h, 1h"]
        edges = ["0h", "-1h", "1m", "99999999999999999999h", "1h," * 40, ",", "1d", "10080m",
                 "1.5h", "²h", "1h1m"]  # fmt: skip
    else:
        return None
    return good, edges


def value_for(data: st.DataObject, opt: JSON, arena: Arena, guild: int | None) -> Any:
    """A value for one option, as a Discord client would send it; None when there is none."""
    world = arena.observer.fake.world
    otype, name = opt["type"], opt["name"]
    choices = [c["value"] for c in opt.get("choices") or []]
    if choices:
        return data.draw(st.sampled_from(choices), label=name)
    if otype == 3:
        # A third each good, edge and noise where the name says what it holds; else noise.
        hint = hinted(name, arena)
        pick = data.draw(st.sampled_from([0, 1, 2]), label=f"{name} kind") if hint else 2
        values = st.sampled_from(hint[pick]) if hint and pick < 2 else hostile_text(arena.people)
        return fit_length(data.draw(values, label=name), opt)
    if otype in (4, 10):
        low, high = opt.get("min_value", -(2**53)), opt.get("max_value", 2**53)
        if otype == 4:
            return data.draw(st.integers(low, high), label=name)
        return data.draw(st.floats(low, high, allow_nan=False), label=name)
    if otype == 5:
        return data.draw(st.booleans(), label=name)
    if otype == 6:
        return data.draw(st.sampled_from(option_users(arena.people)), label=name)
    if guild is None:
        return None  # no channels or roles to pick from a DM
    if otype == 7:
        allowed = opt.get("channel_types")
        pool = [
            c
            for c in world.guilds[guild].channel_ids
            if not allowed or world.channels[c].type in allowed
        ]
        return data.draw(st.sampled_from(pool), label=name) if pool else None
    if otype in (8, 9):
        roles = list(world.guilds[guild].roles)
        pool = roles if otype == 8 else roles + option_users(arena.people)
        return data.draw(st.sampled_from(pool), label=name)
    raise AssertionError(f"{name}: option type {otype} is new; give it values here")


OFTEN = [True, True, False]  # optional options are given two times in three


async def send_leaf(arena: Arena, leaf: Leaf, data: st.DataObject) -> None:
    fake, observer = arena.observer.fake, arena.observer
    user, guild, channel = data.draw(st.sampled_from(invokers(arena.people)), label="who")
    values: dict[str, Any] = {}
    for opt in leaf.options:
        given = opt.get("required") or data.draw(st.sampled_from(OFTEN), label=f"{opt['name']}?")
        if not given:
            continue
        value = value_for(data, opt, arena, guild)
        if value is None and opt.get("required"):
            return  # Discord could not offer this command here at all
        if value is not None:
            values[opt["name"]] = value
    # slash() has parameters of its own with these names: a trailing _ reaches the option
    kwargs = {k + "_" if k in ("user", "guild", "channel") else k: v for k, v in values.items()}
    where = "a DM" if guild is None else "another server" if guild != GUILD else f"#{channel}"
    await observer.run(
        f"{leaf.label} {{user={user} in {where}: {values!r:.500}}}",
        lambda: fake.slash(
            leaf.name, *leaf.path, user=user, guild=guild, channel=channel, **kwargs
        ),
    )
    for opt in leaf.options:
        if not opt.get("autocomplete") or guild is None:
            continue
        typed = fit_length(data.draw(hostile_text(arena.people), f"typing {opt['name']}"), {})
        ix = await observer.run(
            f"{leaf.label} autocomplete {opt['name']} {{{typed!r:.200}}}",
            lambda o=opt["name"], t=typed: fake.autocomplete(  # type: ignore[misc]
                leaf.name,
                *leaf.path,
                focused=o,
                user=user,
                guild=guild,
                channel=channel,
                **{o: t},
            ),
        )
        if ix.callback_type != 8:
            observer.problems.append(f"{leaf.label}: autocomplete answered {ix.callback_body}")


@settings(SETTINGS, max_examples=16)
@given(data=st.data())
async def test_every_command_answers_hostile_input_kindly_and_changes_nothing_it_refuses(
    arena: Arena, data: st.DataObject
) -> None:
    for leaf in data.draw(st.permutations(arena.leaves), label="order"):
        await send_leaf(arena, leaf, data)
    # Then time passes: reminders, prompts, pairing runs and intros carry what was written.
    haven = arena.observer.haven
    haven.clock.advance(hours=data.draw(st.sampled_from([7, 13, 25]), label="hours later"))
    await arena.observer.background(f"scheduled work at {haven.clock()}", haven.run_due)
    arena.observer.check()


# ---------------------------------------------------------------------------------------------
# 2. forged buttons
# ---------------------------------------------------------------------------------------------

NOW = utc(2026, 11, 28, 12)  # a Saturday
SESSION_START = utc(2026, 12, 3, 0)  # Wednesday 19:00 in New York


@dataclass(frozen=True)
class Target:
    """A real button Haven sent, and whom it was made for."""

    label: str
    custom_id: str
    owner: int  # the DM's recipient, or the circle's host for the talking piece
    in_dm: bool


@dataclass(repr=False)
class Buttons:
    observer: Observer
    targets: list[Target]
    members: list[int]


@pytest.fixture
async def buttons(
    haven: Haven, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> Buttons:
    """A day-ahead circle reminder, a buddy check-back, a seat offer, an open talking piece."""
    observer = await observer_for(haven, caplog, monkeypatch)
    fake, services, p = haven.fake, haven.services, observer.people
    haven.clock.set(NOW)
    evening = await services.circles.create(
        GUILD,
        name="Evening",
        weekday="wednesday",
        at="19:00",
        timezone="America/New_York",
        host_id=ALICE,
        channel_id=CH_CIRCLES,
        capacity=2,
    )
    for user in (BOB, CAROL, p.dan, p.erin):  # Dan and Erin wait
        await services.circles.join(evening, user)
    await services.guilds.update(GUILD, buddy_channel_id=CH_BUDDIES)
    await services.buddies.join(GUILD, ALICE)
    await services.buddies.join(GUILD, BOB)
    await services.buddies.set_cadence(GUILD, 1, "saturday", "11:00")
    await (await fake.slash("haven", "pair-now", user=MONA)).reply()

    haven.clock.set(SESSION_START - timedelta(hours=24) + timedelta(seconds=5))
    await haven.run_due()  # the day-ahead reminders, and the check-backs halfway through
    [bobs] = [m for m in fake.dms_to(BOB) if m.find_component("Can't make it")]
    await (await fake.click(bobs, "Can't make it", user=BOB)).reply()  # Dan and Erin: offers
    haven.clock.set(SESSION_START - timedelta(minutes=30))
    await (await fake.slash("host", "open", circle=str(evening.id), user=ALICE)).reply()
    await haven.settle()

    targets: list[Target] = []
    for user, channel in fake.world.dm_channels.items():
        for msg in fake.messages_in(channel):
            targets += [
                Target(str(b.get("label")), str(b["custom_id"]), user, True)
                for b in msg.buttons
                if b.get("custom_id")
            ]
    [piece] = [m for m in fake.messages_in(CH_CIRCLES) if m.find_component("Next")]
    next_id = str(piece.find_component("Next")["custom_id"])  # type: ignore[index]
    targets.append(Target("Next", next_id, ALICE, False))  # share/pass are for anyone
    labels = {t.label for t in targets}
    for wanted in ("I'll be there", "We connected", "Take the seat", "Stop check-backs"):
        assert wanted in labels, f"no {wanted!r} button to forge; found {sorted(labels)}"
    members = [ALICE, BOB, CAROL, MONA, p.dan, p.erin]
    return Buttons(observer, sorted(targets, key=lambda t: t.custom_id), members)


MANGLES = [
    "digit", "exotic digit", "truncate", "drop field", "duplicate field", "swap fields",
    "edge field", "signature", "prefix", "route", "server",
]  # fmt: skip


def mangle(data: st.DataObject, custom_id: str, others: list[str], p: People) -> str:
    """The custom_id edited as a modified client could: digits, fields, signature, prefix,
    route name, server id."""
    fields = custom_id.split(":")
    how = data.draw(st.sampled_from(MANGLES), label="mangle")
    digits = [i for i, c in enumerate(custom_id) if c.isdigit()]
    if how in ("digit", "exotic digit") and digits:
        i = data.draw(st.sampled_from(digits), label="at")
        pool = "0123456789" if how == "digit" else "²١０𝟗"
        new = data.draw(st.sampled_from([c for c in pool if c != custom_id[i]]), label="to")
        return custom_id[:i] + new + custom_id[i + 1 :]
    if how == "truncate":
        return custom_id[: data.draw(st.integers(1, len(custom_id) - 1), label="keep")]
    n = data.draw(st.integers(0, len(fields) - 1), label="field")
    if how == "drop field" and len(fields) > 1:
        return ":".join(fields[:n] + fields[n + 1 :])
    if how == "duplicate field":
        return ":".join(fields[: n + 1] + fields[n:])[:100]
    if how == "swap fields" and n + 1 < len(fields):
        fields[n], fields[n + 1] = fields[n + 1], fields[n]
        return ":".join(fields)
    if how == "edge field":
        fields[n] = data.draw(st.sampled_from([*ID_EDGES, "", "0" + fields[n]]), label="edge")
        return ":".join(fields)[:100]
    if how == "signature":
        body, _, signature = custom_id.rpartition(":~")
        if not signature:
            return custom_id + ":~" + "A" * 16
        stolen = [o.rpartition(":~")[2] for o in others if ":~" in o]
        forged = [body, body + ":~", body + ":~" + signature[::-1]]
        forged += [body + ":~" + s for s in stolen if s != signature]
        return data.draw(st.sampled_from(forged), label="signature")[:100]
    if how == "prefix":
        forged = ["HAVEN" + custom_id[5:], " " + custom_id, "\u200b" + custom_id]
        forged += [custom_id + "\x00", custom_id + ":", "haven::" + custom_id[6:]]
        return data.draw(st.sampled_from(forged), label="prefix")[:100]
    names = sorted({":".join(o.split(":")[1:3]) for o in others} - {":".join(fields[1:3])})
    if how == "route" and names:
        name = data.draw(st.sampled_from(names), label="route")
        return ":".join(["haven", name, *fields[3:]])[:100]
    return custom_id.replace(str(GUILD), str(p.other_guild))


@settings(SETTINGS, max_examples=40)
@given(data=st.data())
async def test_forged_buttons_are_refused_kindly_and_change_nothing(
    buttons: Buttons, data: st.DataObject
) -> None:
    observer = buttons.observer
    fake, p = observer.fake, observer.people
    ids = [t.custom_id for t in buttons.targets]
    for _ in range(4):
        target = data.draw(st.sampled_from(buttons.targets), label="button")
        kinds = ["someone else", "another server", "swapped server", "mangled"]
        kind = data.draw(st.sampled_from(kinds if target.in_dm else [*kinds, "from a DM"]))
        custom_id, user = target.custom_id, target.owner
        guild, channel = (None, None) if target.in_dm else (GUILD, CH_CIRCLES)
        strangers = [m for m in buttons.members if m != target.owner]
        if not target.in_dm:
            strangers.remove(MONA)  # a moderator may move the talking piece on
        if kind == "someone else":
            user = data.draw(st.sampled_from(strangers), label="presser")
            if target.in_dm and data.draw(st.booleans(), label="in the server"):
                guild, channel = GUILD, CH_GENERAL
        elif kind == "another server":  # the owner is a member there too
            guild, channel = p.other_guild, p.other_general
        elif kind == "swapped server":
            custom_id = custom_id.replace(str(GUILD), str(p.other_guild))
            if data.draw(st.booleans(), label="in the other server"):
                guild, channel = p.other_guild, p.other_general
        elif kind == "mangled":
            custom_id = mangle(data, custom_id, ids, p)
            if not target.in_dm:
                user = data.draw(st.sampled_from(strangers), label="presser")
            if custom_id == target.custom_id:
                continue  # not a forgery after all
        else:  # the host presses the talking piece's "Next" from a DM
            guild, channel = None, None
        await observer.run(
            f"{target.label!r} {kind} {{user={user}, guild={guild}, id={custom_id!r}}}",
            lambda c=custom_id, u=user, g=guild, ch=channel: fake.press(  # type: ignore[misc]
                c, user=u, guild=g, channel_id=ch
            ),
            must_refuse=True,
        )
    observer.check()


# ---------------------------------------------------------------------------------------------
# 3. the oracle itself: a refusal that changes something is caught
# ---------------------------------------------------------------------------------------------


async def test_the_observer_catches_a_refusal_that_changes_something(
    haven: Haven, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    observer = await observer_for(haven, caplog, monkeypatch)
    notices = haven.services.notices

    async def careless_get(guild_id: int, ref: str | int, **_: Any) -> Any:
        await notices.add(guild_id, ALICE, "a row a refusal must not leave")
        raise NotFound("I couldn't find that circle.")

    monkeypatch.setattr(haven.services.circles, "get", careless_get)
    await observer.run("/circle info", lambda: haven.fake.slash("circle", "info", circle="x"))
    assert observer.refusals == 1
    with pytest.raises(AssertionError, match="the database changed") as caught:
        observer.check()
    assert "member_notices" in str(caught.value)


# ---------------------------------------------------------------------------------------------
# 4. defects this file found (now fixed), kept as focused regression tests
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ref", ["²", "9223372036854775808", "99999999999999999999"])
async def test_a_circle_named_by_an_impossible_id_is_refused_kindly(
    haven: Haven, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, ref: str
) -> None:
    assert trips_circle_lookup(ref)
    observer = await observer_for(haven, caplog, monkeypatch)
    for command in ("info", "join", "leave"):
        await observer.run(
            f"/circle {command} {ref!r}",
            lambda c=command: haven.fake.slash("circle", c, circle=ref),  # type: ignore[misc]
            must_refuse=True,
        )
    observer.check()


@pytest.mark.parametrize(
    "custom_id",
    [
        f"haven:host:next:{GUILD}:99999999999999999999",
        f"haven:host:share:{GUILD}:{2**63}",
        f"haven:host:pass:{GUILD}:²",
        f"haven:circle-reminder:there:{GUILD}:1:~é",
    ],
)
async def test_a_button_id_with_impossible_numbers_or_signature_is_refused_kindly(
    haven: Haven, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, custom_id: str
) -> None:
    assert trips_route_decoding(custom_id)
    observer = await observer_for(haven, caplog, monkeypatch)
    await observer.run(
        custom_id,
        lambda: haven.fake.press(custom_id, user=ALICE, guild=GUILD),
        must_refuse=True,
    )
    observer.check()


@pytest.mark.parametrize("custom_id", ["HAVEN:checkin:open:1", "9f1c2ab7d3e54c0e8f7a6b5c4d3e2f10"])
async def test_a_custom_id_haven_never_made_still_gets_a_kind_refusal(
    haven: Haven, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, custom_id: str
) -> None:
    assert trips_route_decoding(custom_id)
    observer = await observer_for(haven, caplog, monkeypatch)
    await observer.run(
        custom_id,
        lambda: haven.fake.press(custom_id, user=ALICE, guild=GUILD),
        must_refuse=True,
        within=1.0,  # Haven answers in milliseconds; Discord gives up after three seconds
    )
    observer.check()
