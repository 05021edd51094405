"""Two servers side by side: nothing one server does shows, or touches, the other's data.

Server A is the fake's default guild; server B is a second guild Haven is in. They share a
member (Alice: a plain member in A, the host of B's circle) and a name (each has a circle
called "Evening circle"); Mona moderates A and is a plain member in B. Each server is set up
through `/haven setup`, has its own circles, seats, buddies, check-ins and reminders, and every
check looks from one side for the other's ids, names, rows and messages.

The permission tests walk the command tree the bot registered with the fake, so a subcommand
added to `/haven` or `/host` later is covered without editing this file: each is sent by a
member Discord would hide it from (a server admin can show it), with the options it needs
and then with every option, and must be refused kindly with every table and every message
exactly as before.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest

from bot.checkins import OPEN_FROM_DM
from bot.circle_reminders import THERE
from bot.circles import TAKE_SEAT
from tests.clock import FakeClock, utc
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
    CH_MODS,
    GUILD,
    MOD_ROLE,
    MONA,
    Interaction,
    Message,
    Perm,
)
from tests.fakediscord.world import MOD_PERMISSIONS

JSON = dict[str, Any]

# Saturday 5 June 2027, noon UTC. Both servers' "Evening circle" meets on Sundays in New York:
# A's at 19:00 (23:00 UTC), B's at 21:00 (01:00 UTC on Monday), so their reminders and their
# sessions never fall due at the same moment.
NOW = utc(2027, 6, 5, 12)
A_START = utc(2027, 6, 6, 23)
B_START = utc(2027, 6, 7, 1)
SESSION_DATE = "2027-06-06"  # the local (New York) date of both first sessions

A_NOTES = ("north private 71c3", "north shared 0d5e")
B_NOTES = ("south private 9f2a", "south shared 4b6c")
REMINDER_TITLE = "Your circle is coming up"

STALE = "older message"
NOT_FOUND = "couldn't find a circle"
NOT_A_HOST = "Only the host of **Evening circle**"
NOT_A_MODERATOR = "Manage Server"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@dataclass
class Two:
    """Server B's ids (server A is the fake's defaults) and both servers' circles."""

    b: int
    dana: int  # only in B
    erin: int  # only in B
    bea: int  # B's moderator, only in B
    b_mod_role: int
    b_general: int
    b_checkins: int
    b_circles: int
    b_buddies: int
    b_mods: int
    circle_a: int = 0  # "Evening circle" in A, hosted by Carol
    circle_b: int = 0  # "Evening circle" in B, hosted by Alice
    walk_b: int = 0  # "Riverside walk", only in B

    def general(self, guild: int) -> int:
        return CH_GENERAL if guild == GUILD else self.b_general

    def circle_of(self, guild: int) -> int:
        return self.circle_a if guild == GUILD else self.circle_b

    def members_of(self, guild: int) -> tuple[int, int]:
        """Two ordinary members of the server, for member options."""
        return (BOB, CAROL) if guild == GUILD else (self.dana, self.erin)

    def role_of(self, guild: int) -> int:
        return MOD_ROLE if guild == GUILD else self.b_mod_role


# --- talking to the bot ------------------------------------------------------------------------


async def slash(
    haven: Haven, two: Two, guild: int, *command: str, user: int, **options: Any
) -> Interaction:
    # An option named like one of slash()'s own keywords goes by its name plus "_".
    named = {
        (k + "_" if k in ("user", "guild", "channel", "unchecked") else k): v
        for k, v in options.items()
    }
    return await haven.fake.slash(
        *command, user=user, guild=guild, channel=two.general(guild), **named
    )


async def say_in(
    haven: Haven, two: Two, guild: int, *command: str, user: int, **options: Any
) -> Message:
    """Run a slash command in `guild` (from its #general) and wait for the private answer."""
    return await answer_of(await slash(haven, two, guild, *command, user=user, **options))


async def answer_of(ix: Interaction) -> Message:
    """The visible answer; a modal instead of one fails the test with what was opened."""
    body = await ix.callback()
    assert body.get("type") != 9, f"{ix!r} opened a form instead of answering: {body}"
    return await ix.reply()


async def press(haven: Haven, two: Two, custom_id: str, *, user: int, guild: int | None) -> Message:
    channel = None if guild is None else two.general(guild)
    ix = await haven.fake.press(custom_id, user=user, guild=guild, channel_id=channel)
    return await ix.reply()


async def agree_and_join(haven: Haven, two: Two, guild: int, circle: int, user: int) -> None:
    answer = await say_in(haven, two, guild, "circle", "join", user=user, circle=str(circle))
    if answer.find_component("I agree") is not None:
        answer = await (await haven.fake.click(answer, "I agree", user=user)).reply()
    assert "You have a seat" in answer.text, answer.text


def custom_id(message: Message, label: str) -> str:
    found = message.find_component(label)
    assert found is not None, f"no {label!r} on {message.text!r}"
    return str(found["custom_id"])


# --- building the two servers ------------------------------------------------------------------


async def build(haven: Haven) -> Two:
    """Server B beside A, each configured with `/haven setup` and given its circles."""
    fake, world = haven.fake, haven.fake.world
    b = world.add_guild("Riverside Haven", members=[ALICE, MONA])
    dana = world.add_user("dana", "Dana", member_of=b)
    erin = world.add_user("erin", "Erin", member_of=b)
    bea = world.add_user("bea", "Bea", member_of=b)
    b_mod_role = world.add_role("Moderators", MOD_PERMISSIONS, guild_id=b, members=[bea])
    two = Two(
        b=b,
        dana=dana,
        erin=erin,
        bea=bea,
        b_mod_role=b_mod_role,
        b_general=world.guilds[b].channel_ids[0],
        b_checkins=world.add_channel("check-ins", guild_id=b),
        b_circles=world.add_channel("circles", guild_id=b),
        b_buddies=world.add_channel("buddies", guild_id=b),
        b_mods=world.add_channel("moderators", guild_id=b),
    )
    bot_role = next(r.id for r in world.guilds[b].roles.values() if r.bot_id == BOT_ID)
    world.set_overwrite(two.b_mods, b, deny=Perm.VIEW_CHANNEL)
    for role in (b_mod_role, bot_role):
        world.set_overwrite(two.b_mods, role, allow=Perm.VIEW_CHANNEL)
    world.guilds[b].members[ALICE].nick = "Ali of the River"  # B's name for her
    await fake.dispatch("GUILD_CREATE", world.guild_create_payload(b, all_members=False))
    await haven.settle()

    saved = await say_in(
        haven,
        two,
        GUILD,
        "haven",
        "setup",
        user=MONA,
        checkin_channel=CH_CHECKINS,
        circle_channel=CH_CIRCLES,
        buddy_channel=CH_BUDDIES,
        mod_channel=CH_MODS,
    )
    assert "Saved" in saved.text, saved.text
    saved = await say_in(
        haven,
        two,
        b,
        "haven",
        "setup",
        user=bea,
        checkin_channel=two.b_checkins,
        circle_channel=two.b_circles,
        buddy_channel=two.b_buddies,
        mod_channel=two.b_mods,
        timezone="America/New_York",
        retention_days=30,
    )
    assert "Saved" in saved.text and "Not saved yet" not in saved.text, saved.text

    for guild, user, time, host, words in (
        (GUILD, MONA, "19:00", CAROL, "Circle of server A"),
        (b, bea, "21:00", ALICE, "Circle of server B"),
    ):
        made = await say_in(
            haven,
            two,
            guild,
            "haven",
            "circle-create",
            user=user,
            name="Evening circle",
            weekday="sunday",
            time=time,
            timezone="America/New_York",
            host=host,
            description=words,
        )
        assert "is ready" in made.text, made.text
    await say_in(
        haven,
        two,
        b,
        "haven",
        "circle-create",
        user=bea,
        name="Riverside walk",
        weekday="monday",
        time="08:00",
    )
    circles = haven.services.circles
    [a] = await circles.active(GUILD)
    by_name = {c.name: c for c in await circles.active(b)}
    two.circle_a, two.circle_b = a.id, by_name["Evening circle"].id
    two.walk_b = by_name["Riverside walk"].id
    starts = [(await circles.next_session(c)) for c in (a, by_name["Evening circle"])]
    assert [s.starts_at for s in starts if s] == [A_START, B_START]
    return two


async def populate(haven: Haven, two: Two) -> None:
    """Seats, check-ins, reminders, time zones and buddies in both servers; Alice in each."""
    b = two.b
    for user in (ALICE, BOB):
        await agree_and_join(haven, two, GUILD, two.circle_a, user)
    for user in (ALICE, two.dana, two.erin):
        await agree_and_join(haven, two, b, two.circle_b, user)
    for guild, (private, shared) in ((GUILD, A_NOTES), (b, B_NOTES)):
        await say_in(haven, two, guild, "checkin", user=ALICE, feeling="heavy", note=private)
        posted = await say_in(
            haven, two, guild, "checkin", user=ALICE, feeling="tender", note=shared, share="channel"
        )
        assert "posted" in posted.text.lower() or "shared" in posted.text.lower(), posted.text
    await say_in(haven, two, b, "checkin", user=two.dana, feeling="settled", note="dana's own")
    # Each named share went to its own server's check-in channel, under that server's name.
    fake = haven.fake
    [in_a] = [m for m in fake.messages_in(CH_CHECKINS) if A_NOTES[1] in m.text]
    [in_b] = [m for m in fake.messages_in(two.b_checkins) if B_NOTES[1] in m.text]
    assert "Alice" in in_a.text and "Ali of the River" in in_b.text
    assert not any(B_NOTES[1] in m.text for m in fake.messages_in(CH_CHECKINS))
    assert not any(A_NOTES[1] in m.text for m in fake.messages_in(two.b_checkins))
    await say_in(haven, two, GUILD, "my", "timezone", user=ALICE, zone="Europe/London")
    await say_in(haven, two, b, "my", "timezone", user=ALICE, zone="Asia/Tokyo")
    await say_in(haven, two, GUILD, "my", "reminder", user=ALICE, time="09:00")
    await say_in(haven, two, b, "my", "reminder", user=ALICE, time="10:00")
    await say_in(haven, two, b, "my", "reminder", user=two.dana, time="11:00")
    for user in (ALICE, BOB):
        await say_in(haven, two, GUILD, "buddy", "join", user=user, intro="Hello from A")
    for user in (ALICE, two.dana, two.erin):
        await say_in(haven, two, b, "buddy", "join", user=user, intro="Hello from B")
    await say_in(haven, two, GUILD, "haven", "pair-now", user=MONA)
    await say_in(haven, two, b, "haven", "pair-now", user=two.bea)
    await haven.settle()
    buddies = haven.services.buddies
    assert [set(p.members) for p in await buddies.pairs(GUILD)] == [{ALICE, BOB}]
    assert [set(p.members) for p in await buddies.pairs(b)] == [{ALICE, two.dana, two.erin}]


# --- what the database and Discord hold --------------------------------------------------------


async def table_names(haven: Haven) -> list[str]:
    return sorted(await haven.services.db.columns())


def outward(haven: Haven) -> list[tuple[Any, ...]]:
    """Every message anyone could see (channels, threads, DMs) and every scheduled event."""
    fake = haven.fake
    messages = [
        (m.id, m.channel_id, m.text, m.deleted, json.dumps(m.components, sort_keys=True))
        for m in fake.store.ordered
        if not m.ephemeral and not m.loading
    ]
    events = [
        (gid, json.dumps(e, sort_keys=True))
        for gid, g in fake.world.guilds.items()
        for e in g.scheduled_events.values()
    ]
    return [*messages, *events]


async def everything(haven: Haven, *, settle: bool = True) -> dict[str, Any]:
    """Every row of every table, and what Discord shows: "nothing changed" compares these.
    `settle` first lets whatever the bot spawned finish (loops check at once after each
    command, and once more, settled, at the end)."""
    if settle:
        await haven.settle()
    db = haven.services.db
    state: dict[str, Any] = {}
    for table in await table_names(haven):
        if table == "rate_budget":  # moves with every REST request (shared pacing)
            continue
        rows = await db.fetchall(f"SELECT * FROM {table}")
        state[table] = sorted(repr(tuple(r)) for r in rows)
    state["(what Discord shows)"] = outward(haven)
    return state


def changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Only what differs, to read in a failure."""
    return {
        key: {
            "gone": [x for x in before.get(key, []) if x not in after.get(key, [])],
            "new": [x for x in after.get(key, []) if x not in before.get(key, [])],
        }
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    }


async def rows_of(haven: Haven, guild: int) -> dict[str, list[str]]:
    """Every row that belongs to `guild` (tables with a guild_id, and buddy memberships)."""
    db = haven.services.db
    found: dict[str, list[str]] = {}
    for table, columns in sorted((await db.columns()).items()):
        if "guild_id" in columns:
            rows = await db.fetchall(f"SELECT * FROM {table} WHERE guild_id = ?", (guild,))
            found[table] = sorted(repr(tuple(r)) for r in rows)
    members = await db.fetchall(
        "SELECT m.* FROM buddy_members m JOIN buddy_pairs p ON p.id = m.pair_id"
        " WHERE p.guild_id = ?",
        (guild,),
    )
    found["buddy_members"] = sorted(repr(tuple(r)) for r in members)
    return found


async def session_ids(haven: Haven, guild: int) -> set[int]:
    rows = await haven.services.db.fetchall(
        "SELECT id FROM circle_sessions WHERE guild_id = ?", (guild,)
    )
    return {int(r["id"]) for r in rows}


# --- the registered command tree ---------------------------------------------------------------


@dataclass(frozen=True)
class Leaf:
    """One invocable slash command: its path and its options as synced."""

    path: tuple[str, ...]
    options: tuple[JSON, ...]

    @property
    def name(self) -> str:
        return "/" + " ".join(self.path)


def leaves(haven: Haven, top: str | None = None) -> list[Leaf]:
    """Every invocable path of the synced tree (of `/top` only, when given)."""
    found: list[Leaf] = []

    def walk(path: tuple[str, ...], options: list[JSON]) -> Iterator[Leaf]:
        subs = [o for o in options if o.get("type") in (1, 2)]
        if not subs:
            yield Leaf(path, tuple(options))
        for sub in subs:
            yield from walk((*path, sub["name"]), sub.get("options") or [])

    for command in haven.fake.commands(None):
        if command["type"] == 1 and (top is None or command["name"] == top):
            found += walk((command["name"],), command.get("options") or [])
    assert found, f"no synced /{top}"
    return found


def sample(two: Two, guild: int, leaf: Leaf, *, every_option: bool) -> dict[str, Any]:
    """Valid values for `leaf`'s required options (or all of them), as a host or moderator in
    `guild` would choose: this server's circle, members, channels and role."""
    world_members = iter(two.members_of(guild))
    words = {
        "circle": str(two.circle_of(guild)),
        "date": SESSION_DATE,
        "time": "07:45",
        "timezone": "Europe/Paris",
        "name": "A renamed circle",
        "reminders": "2h",
        "text": "Hello everyone, see you soon",
        "reason": "a rest week",
        "description": "New words about it",
        "intro": "Hi there",
    }
    values: dict[str, Any] = {}
    for opt in leaf.options:
        if not (opt.get("required") or every_option):
            continue
        kind, name = opt["type"], opt["name"]
        if opt.get("choices"):
            value: Any = opt["choices"][-1]["value"]
        elif kind == 3:
            value = words.get(name, "ok")
            lo, hi = opt.get("min_length", 0), opt.get("max_length", 6000)
            value = value.ljust(lo, "x")[:hi]
        elif kind in (4, 10):
            lo, hi = opt.get("min_value", 1), opt.get("max_value", 2**31)
            value = lo + 1 if lo + 1 <= hi else lo
        elif kind == 5:
            value = True
        elif kind in (6, 9):
            value = next(world_members)
        elif kind == 7:
            value = two.general(guild)
        elif kind == 8:
            value = two.role_of(guild)
        elif kind == 11:
            value = ("note.txt", b"hello")
        else:
            raise AssertionError(f"{leaf.name}: no sample for option type {kind} ({name})")
        values[name] = value
    return values


# --- circles, /circle and autocomplete ---------------------------------------------------------


async def test_circle_list_info_join_and_leave_see_only_their_own_server(haven: Haven) -> None:
    two = await build(haven)
    await populate(haven, two)
    b = two.b

    listed_a = (await say_in(haven, two, GUILD, "circle", "list", user=ALICE)).text
    assert listed_a.count("Evening circle") == 1 and "Riverside walk" not in listed_a
    assert "2 of 8 seats taken" in listed_a and "3 of 8" not in listed_a
    assert ("Carol" in listed_a or f"<@{CAROL}>" in listed_a) and "Ali of the River" not in listed_a
    listed_b = (await say_in(haven, two, b, "circle", "list", user=ALICE)).text
    assert listed_b.count("Evening circle") == 1 and "Riverside walk" in listed_b
    assert "3 of 8 seats taken" in listed_b and "2 of 8" not in listed_b

    # The shared name finds this server's circle.
    info = await say_in(haven, two, GUILD, "circle", "info", user=ALICE, circle="Evening circle")
    assert "Circle of server A" in info.text and "Circle of server B" not in info.text
    assert "2 of 8 seats taken" in info.text
    [ics] = info.attachments
    assert f"circle-{two.circle_a}@haven".encode() in ics.data
    assert f"/{b}/".encode() not in ics.data

    # B's ids and B-only names typed into A: refused kindly, and nothing anywhere changes.
    before = await everything(haven)
    for user, command in (
        (ALICE, "info"),
        (BOB, "join"),
        (ALICE, "join"),
        (ALICE, "leave"),  # she has a seat in B's circle: it stays
    ):
        for ref in (str(two.circle_b), str(two.walk_b), "Riverside walk"):
            answer = await say_in(haven, two, GUILD, "circle", command, user=user, circle=ref)
            assert answer.ephemeral and NOT_FOUND in answer.text, (command, ref, answer.text)
            assert "went wrong" not in answer.text
    assert changes(before, await everything(haven)) == {}

    # Joining by the shared name joins A's circle only.
    b_rows = await rows_of(haven, b)
    await agree_and_join(haven, two, GUILD, two.circle_a, CAROL)
    joined_by_name = await say_in(
        haven, two, GUILD, "circle", "join", user=MONA, circle="Evening circle"
    )
    assert "Before your first time in **Evening circle**" in joined_by_name.text
    await (await haven.fake.click(joined_by_name, "I agree", user=MONA)).reply()
    rsvps = await haven.services.db.fetchall(
        "SELECT r.guild_id, s.circle_id FROM circle_rsvps r"
        " JOIN circle_sessions s ON s.id = r.session_id WHERE r.user_id IN (?, ?)",
        (CAROL, MONA),
    )
    assert {(r["guild_id"], r["circle_id"]) for r in rsvps} == {(GUILD, two.circle_a)}
    assert await rows_of(haven, b) == b_rows


async def test_every_circle_autocomplete_offers_only_this_servers_circles(haven: Haven) -> None:
    two = await build(haven)
    fake = haven.fake
    with_circle = [
        leaf
        for leaf in leaves(haven)
        if any(o["name"] == "circle" and o.get("autocomplete") for o in leaf.options)
    ]
    names = {leaf.name for leaf in with_circle}
    assert {"/circle info", "/circle join", "/host roster", "/haven circle-edit"} <= names
    own = {GUILD: {str(two.circle_a)}, two.b: {str(two.circle_b), str(two.walk_b)}}
    for leaf in with_circle:
        for guild, user in ((GUILD, MONA), (two.b, two.bea)):
            other = two.b if guild == GUILD else GUILD
            for typed in ("", "evening", "river", str(two.circle_of(other))):
                ix = await fake.autocomplete(
                    leaf.path[0],
                    *leaf.path[1:],
                    focused="circle",
                    circle=typed,
                    user=user,
                    guild=guild,
                    channel=two.general(guild),
                )
                offered = {str(c["value"]) for c in await ix.choices()}
                assert offered <= own[guild], (leaf.name, guild, typed, offered)
                if typed == "":
                    assert offered == own[guild], (leaf.name, guild, offered)


async def test_no_command_naming_a_circle_reaches_the_other_servers_circle(haven: Haven) -> None:
    """Every command with a `circle` option (from the tree: /circle, /host, /haven) sent in A
    with B's circle — its id, or the name only B has — by A's moderator and by B's host."""
    two = await build(haven)
    await populate(haven, two)
    haven.clock.set(A_START + timedelta(minutes=5))  # A's circle is under way: hosts may act
    await haven.run_due()
    with_circle = [
        leaf for leaf in leaves(haven) if any(o["name"] == "circle" for o in leaf.options)
    ]
    assert len(with_circle) >= 12
    before = await everything(haven)
    for leaf in with_circle:
        for user in (MONA, ALICE):
            for ref in (str(two.circle_b), "Riverside walk"):
                options = sample(two, GUILD, leaf, every_option=False) | {"circle": ref}
                ix = await slash(haven, two, GUILD, *leaf.path, user=user, **options)
                answer = await answer_of(ix)
                if leaf.path[0] == "haven" and user == ALICE:  # she isn't a moderator in A
                    assert NOT_A_MODERATOR in answer.text, (leaf.name, answer.text)
                else:
                    assert NOT_FOUND in answer.text, (leaf.name, user, ref, answer.text)
                assert "went wrong" not in answer.text
    assert changes(before, await everything(haven)) == {}


# --- /host ---------------------------------------------------------------------------------------


async def test_the_roster_shows_only_this_servers_seats_and_names(haven: Haven) -> None:
    two = await build(haven)
    await populate(haven, two)
    roster_a = (
        await say_in(haven, two, GUILD, "host", "roster", user=CAROL, circle="Evening circle")
    ).text
    assert "2 of 8 seats taken" in roster_a
    assert "Alice" in roster_a and "Bob" in roster_a
    for elsewhere in ("Dana", "Erin", "Ali of the River"):
        assert elsewhere not in roster_a
    roster_b = (
        await say_in(haven, two, two.b, "host", "roster", user=ALICE, circle="Evening circle")
    ).text
    assert "3 of 8 seats taken" in roster_b
    assert "Ali of the River" in roster_b and "Dana" in roster_b and "Erin" in roster_b
    assert "Bob" not in roster_b


async def test_every_host_subcommand_checks_who_may_host_when_it_runs(haven: Haven) -> None:
    """Bob (a member of A), Alice (who hosts B's circle of the same name) in A; Mona (who
    moderates A) and Dana in B: none may host there, for any /host subcommand."""
    two = await build(haven)
    await populate(haven, two)
    subcommands = leaves(haven, "host")
    assert {leaf.path[1] for leaf in subcommands} >= {
        "roster",
        "open",
        "close",
        "skip",
        "message",
        "away",
    }
    for guild, start, people in (
        (GUILD, A_START, (BOB, ALICE)),
        (two.b, B_START, (MONA, two.dana)),
    ):
        haven.clock.set(start + timedelta(minutes=5))  # under way: a host could do anything
        await haven.run_due()
        before = await everything(haven)
        for leaf in subcommands:
            for every_option in (False, True):
                options = sample(two, guild, leaf, every_option=every_option)
                # By id; and by the name both servers use, which must mean this server's.
                refs = (
                    (options["circle"],) if every_option else (options["circle"], "Evening circle")
                )
                for ref in refs:
                    for user in people:
                        ix = await slash(
                            haven, two, guild, *leaf.path, user=user, **(options | {"circle": ref})
                        )
                        answer = await answer_of(ix)
                        assert answer.ephemeral, leaf.name
                        assert NOT_A_HOST in answer.text, (leaf.name, guild, user, answer.text)
                        assert "left everything as it was" in answer.text
                        now = await everything(haven, settle=False)
                        assert changes(before, now) == {}, (leaf.name, user)
        assert changes(before, await everything(haven)) == {}


# --- /haven --------------------------------------------------------------------------------------


CONTRACT_HAVEN = {
    "setup",
    "status",
    "resources",
    "prompt",
    "prompt-off",
    "circle-create",
    "circle-edit",
    "circle-archive",
    "cohost",
    "buddies",
    "pair-now",
    "separate",
}


async def test_every_haven_subcommand_checks_manage_server_when_it_runs(haven: Haven) -> None:
    """Alice in A, and Mona — a moderator in A but not in B — in B."""
    two = await build(haven)
    await populate(haven, two)
    subcommands = leaves(haven, "haven")
    assert {leaf.path[1] for leaf in subcommands} >= CONTRACT_HAVEN
    before = await everything(haven)
    for guild, user in ((GUILD, ALICE), (two.b, MONA)):
        for leaf in subcommands:
            for every_option in (False, True):
                options = sample(two, guild, leaf, every_option=every_option)
                ix = await slash(haven, two, guild, *leaf.path, user=user, **options)
                answer = await answer_of(ix)
                assert answer.ephemeral, leaf.name
                assert NOT_A_MODERATOR in answer.text, (leaf.name, guild, user, answer.text)
                now = await everything(haven, settle=False)
                assert changes(before, now) == {}, (leaf.name, user)
    assert changes(before, await everything(haven)) == {}


async def test_moderators_cannot_reach_a_member_who_is_only_in_the_other_server(
    haven: Haven,
) -> None:
    two = await build(haven)
    await populate(haven, two)
    dana = two.dana
    before = await everything(haven)
    attempts: list[tuple[tuple[str, ...], int, dict[str, Any]]] = [
        (("haven", "cohost"), MONA, {"circle": str(two.circle_a), "member": dana}),
        (("haven", "separate"), MONA, {"member_a": BOB, "member_b": dana}),
        (("haven", "circle-edit"), MONA, {"circle": str(two.circle_a), "host": dana}),
        (
            ("haven", "circle-create"),
            MONA,
            {"name": "Dana's", "weekday": "friday", "time": "18:00", "host": dana},
        ),
        (("buddy", "avoid"), ALICE, {"member": dana}),
    ]
    for path, user, options in attempts:
        answer = await say_in(haven, two, GUILD, *path, user=user, **options)
        assert answer.ephemeral and "went wrong" not in answer.text, (path, answer.text)
        assert "Done" not in answer.text and "Saved" not in answer.text, (path, answer.text)
        assert "isn't a member of this server" in answer.text, (path, answer.text)
    assert changes(before, await everything(haven)) == {}


async def test_status_counts_only_its_own_server(haven: Haven) -> None:
    two = await build(haven)
    await populate(haven, two)
    world = haven.fake.world
    quiet = world.add_guild("Quiet Haven", members=[MONA])
    world.add_role("Moderators", MOD_PERMISSIONS, guild_id=quiet, members=[MONA])
    await haven.fake.dispatch("GUILD_CREATE", world.guild_create_payload(quiet, all_members=False))
    await haven.settle()
    prompt = await say_in(haven, two, two.b, "haven", "prompt", user=two.bea, time="09:00")
    assert "daily check-in prompt" in prompt.text

    async def status(guild: int, user: int) -> tuple[dict[str, int], str]:
        channel = world.guilds[guild].channel_ids[0]
        ix = await haven.fake.slash("haven", "status", user=user, guild=guild, channel=channel)
        text = (await ix.reply()).text
        counts = {
            m.group(1): int(m.group(2))
            for m in re.finditer(r"^(.+): \*\*(\d+)\*\*$", text, re.MULTILINE)
        }
        return counts, text

    a, a_text = await status(GUILD, MONA)
    b, b_text = await status(two.b, two.bea)
    empty, empty_text = await status(quiet, MONA)
    expected = {
        "listening circles": (1, 2),
        "seats taken in upcoming circle sessions": (2, 3),
        "members in buddy pairing": (2, 3),
        "current buddy pairs": (1, 1),
        "check-ins in the last 7 days": (2, 3),
        "members with a check-in reminder": (1, 2),
    }
    for label, (in_a, in_b) in expected.items():
        assert (a.get(label), b.get(label)) == (in_a, in_b), label
    assert set(a) == set(b) == set(empty) and len(a) >= len(expected)
    assert all(n == 0 for n in empty.values()), empty
    assert "Daily check-in prompt" in b_text and "Daily check-in prompt" not in a_text
    for job in ("Circle", "Buddy", "Daily check-in prompt"):
        assert job not in empty_text.split("Coming up")[1].split("Counts")[0], job
    for other in (str(two.b), f"<#{two.b_checkins}>", f"<#{two.b_circles}>"):
        assert other not in a_text
    for other in (f"<#{CH_CHECKINS}>", f"<#{CH_CIRCLES}>", f"<#{CH_MODS}>"):
        assert other not in b_text


async def test_each_server_keeps_check_ins_for_its_own_retention(haven: Haven) -> None:
    two = await build(haven)  # A keeps check-ins 90 days (the default), B 30
    await populate(haven, two)

    async def kept(guild: int) -> int:
        return int(
            await haven.services.db.fetchval(
                "SELECT count(*) FROM checkins WHERE guild_id = ?", (guild,)
            )
        )

    assert (await kept(GUILD), await kept(two.b)) == (2, 3)
    haven.clock.advance(days=31)
    await haven.services.maintenance.run_now()
    assert (await kept(GUILD), await kept(two.b)) == (2, 0)


async def test_a_reach_out_request_goes_to_this_servers_moderators_only(haven: Haven) -> None:
    two = await build(haven)
    fake = haven.fake
    for guild, mods, theirs in ((two.b, two.b_mods, CH_MODS), (GUILD, CH_MODS, two.b_mods)):
        before = len(fake.messages_in(theirs))
        support = await say_in(haven, two, guild, "support", user=ALICE)
        asked = await (await fake.click(support, "Ask a moderator to reach out")).reply()
        await (await fake.click(asked, "Yes, let them know")).reply()
        [notice] = fake.messages_in(mods)
        name = "Ali of the River" if guild == two.b else "Alice"
        assert name in notice.text, notice.text
        assert len(fake.messages_in(theirs)) == before


# --- /my data and /my forget -------------------------------------------------------------------


async def export(haven: Haven, two: Two, guild: int, user: int) -> tuple[str, JSON]:
    answer = await say_in(haven, two, guild, "my", "data", user=user)
    [attachment] = answer.attachments
    raw = attachment.data.decode("utf-8")
    return raw, json.loads(raw)


def exported_rows(document: JSON) -> Iterator[tuple[str, JSON]]:
    for table, entry in document["data"].items():
        for row in entry["rows"]:
            yield table, row


async def test_my_data_exports_only_this_server(haven: Haven) -> None:
    two = await build(haven)
    await populate(haven, two)
    ids = {
        GUILD: ({two.circle_a}, await session_ids(haven, GUILD)),
        two.b: ({two.circle_b, two.walk_b}, await session_ids(haven, two.b)),
    }
    for guild, other, mine, theirs in (
        (GUILD, two.b, A_NOTES, B_NOTES),
        (two.b, GUILD, B_NOTES, A_NOTES),
    ):
        raw, document = await export(haven, two, guild, ALICE)
        assert document["server_id"] == str(guild) and document["member_id"] == str(ALICE)
        for note in mine:
            assert note in raw  # her own data here is all there
        for note in theirs:
            assert note not in raw
        assert str(other) not in raw
        own_circles, own_sessions = ids[guild]
        other_circles, other_sessions = ids[other]
        assert document["data"]["circle_rsvps"]["rows"]  # she has a seat here
        assert document["data"]["buddy_members"]["rows"]  # and a buddy
        for table, row in exported_rows(document):
            if "guild_id" in row:
                assert row["guild_id"] == str(guild), (table, row)
            if "circle_id" in row:
                assert int(row["circle_id"]) in own_circles, (table, row)
                assert int(row["circle_id"]) not in other_circles
            if "session_id" in row:
                assert int(row["session_id"]) in own_sessions, (table, row)
                assert int(row["session_id"]) not in other_sessions
            if table == "buddy_members":
                pairs = await haven.services.buddies.pairs(guild)
                assert int(row["pair_id"]) in {p.id for p in pairs}, row


async def test_my_forget_here_leaves_the_other_server_exactly_as_it_was(haven: Haven) -> None:
    two = await build(haven)
    await populate(haven, two)
    fake, b = haven.fake, two.b
    b_rows = await rows_of(haven, b)
    _, b_export = await export(haven, two, b, ALICE)
    b_posts = [m.id for m in fake.messages_in(two.b_checkins)]
    assert any(B_NOTES[1] in m.text for m in fake.messages_in(two.b_checkins))
    dana_dms = len(fake.dms_to(two.dana))

    asked = await say_in(haven, two, GUILD, "my", "forget", user=ALICE)
    done = await (await fake.click(asked, "Yes, forget me here", user=ALICE)).reply()
    assert "gone" in done.text
    await haven.settle()

    # A: nothing about her is left, and her named share there is down.
    _, a_after = await export(haven, two, GUILD, ALICE)
    leftovers = {t: e["rows"] for t, e in a_after["data"].items() if e["rows"]}
    assert leftovers == {}
    assert not any(A_NOTES[1] in m.text for m in fake.messages_in(CH_CHECKINS))
    # B: every row of the server is as it was, and so is what members there see.
    assert await rows_of(haven, b) == b_rows
    _, b_after = await export(haven, two, b, ALICE)
    for doc in (b_export, b_after):
        doc.pop("exported_at")
    # The DM conversation's id is shared by every server, so forgetting removes it too (the
    # export says so); everything that belongs to B stays.
    for doc in (b_export, b_after):
        doc["data"].pop("dm_channels")
        doc["data"].pop("closed_dms")
    assert b_after == b_export
    assert [m.id for m in fake.messages_in(two.b_checkins)] == b_posts
    assert len(fake.dms_to(two.dana)) == dana_dms  # her B buddies heard nothing
    pair = await haven.services.buddies.current_pair(b, ALICE)
    assert pair is not None and set(pair.members) == {ALICE, two.dana, two.erin}
    assert await haven.services.reminders.rule(b, ALICE) is not None


async def test_my_history_and_settings_are_kept_per_server(haven: Haven) -> None:
    two = await build(haven)
    await populate(haven, two)
    b = two.b
    for guild, mine, theirs, zone in (
        (GUILD, A_NOTES, B_NOTES, "Europe/London"),
        (b, B_NOTES, A_NOTES, "Asia/Tokyo"),
    ):
        history = await say_in(haven, two, guild, "my", "checkins", user=ALICE, days=7)
        assert "2 check-ins" in history.text, history.text
        assert all(note in history.text for note in mine)
        assert not any(note in history.text for note in theirs)
        assert zone in (await say_in(haven, two, guild, "my", "timezone", user=ALICE)).text
    await say_in(haven, two, GUILD, "my", "reminder-off", user=ALICE)
    assert await haven.services.reminders.rule(GUILD, ALICE) is None
    assert await haven.services.reminders.rule(b, ALICE) is not None
    left = await say_in(haven, two, GUILD, "buddy", "leave", user=ALICE)
    assert "neutrally" in left.text
    pair = await haven.services.buddies.current_pair(b, ALICE)
    assert pair is not None and set(pair.members) == {ALICE, two.dana, two.erin}


# --- circle reminders ----------------------------------------------------------------------------


def reminders_to(haven: Haven, user: int) -> list[Message]:
    return [m for m in haven.fake.dms_to(user) if REMINDER_TITLE in m.text]


def reminder_posts(haven: Haven, channel: int) -> list[Message]:
    return [m for m in haven.fake.messages_in(channel) if REMINDER_TITLE in m.text]


async def run_at(haven: Haven, instant: datetime) -> None:
    haven.clock.set(instant)
    await haven.run_due()
    await haven.settle()


async def test_a_circle_reminder_reaches_only_its_own_seats_and_channel(haven: Haven) -> None:
    two = await build(haven)
    await populate(haven, two)
    fake, b = haven.fake, two.b
    fake.close_dms(BOB)  # only in A: his reminder falls back to A's circles channel
    fake.close_dms(two.erin)  # only in B: hers to B's

    await run_at(haven, A_START - timedelta(hours=24) + timedelta(seconds=5))
    [to_alice] = reminders_to(haven, ALICE)
    assert "From Healing Havens Test" in to_alice.text and "Riverside" not in to_alice.text
    assert all(f":{GUILD}:" in str(b_["custom_id"]) for b_ in to_alice.buttons[:2])
    [fallback] = reminder_posts(haven, CH_CIRCLES)
    assert fallback.pinged_user_ids == [BOB]
    assert reminders_to(haven, two.dana) == [] and reminder_posts(haven, two.b_circles) == []

    await run_at(haven, B_START - timedelta(hours=24) + timedelta(seconds=5))
    first, second = reminders_to(haven, ALICE)
    assert first.id == to_alice.id and "From Riverside Haven" in second.text
    assert all(f":{b}:" in str(b_["custom_id"]) for b_ in second.buttons[:2])
    assert len(reminders_to(haven, two.dana)) == 1
    [b_fallback] = reminder_posts(haven, two.b_circles)
    assert b_fallback.pinged_user_ids == [two.erin]
    assert reminder_posts(haven, CH_CIRCLES) == [fallback]  # nothing more in A
    assert reminders_to(haven, BOB) == [] and reminders_to(haven, CAROL) == []

    # "I'll be there" on A's reminder confirms A's seat only.
    there = await (await fake.click(to_alice, "I'll be there", user=ALICE)).reply()
    assert "Evening circle" in there.text
    rows = await haven.services.db.fetchall(
        "SELECT guild_id, confirmed FROM circle_rsvps WHERE user_id = ?", (ALICE,)
    )
    assert sorted((r["guild_id"], bool(r["confirmed"])) for r in rows) == sorted(
        [(GUILD, True), (b, False)]
    )


async def test_leaving_one_server_changes_nothing_in_the_other(haven: Haven) -> None:
    """Alice leaves A. A's reminder finds her gone and A lets her go (seat, buddy, reminder);
    B — her seat, her buddies, her reminder, every row — is exactly as it was."""
    two = await build(haven)
    await populate(haven, two)
    fake, b = haven.fake, two.b
    reminder_a = A_START - timedelta(hours=24)
    await run_at(haven, reminder_a - timedelta(minutes=1))  # what falls due before it, done
    b_rows = await rows_of(haven, b)
    fake.world.remove_member(ALICE)  # from A only
    haven.services.delivery.forget_member(GUILD, ALICE)  # as after the ten-minute memory
    await run_at(haven, reminder_a + timedelta(seconds=5))
    assert reminders_to(haven, ALICE) == []
    circles = haven.services.circles
    session_a = await circles.next_session(await circles.get(GUILD, str(two.circle_a)))
    assert session_a is not None and await circles.rsvp(session_a.id, ALICE) is None
    assert await haven.services.buddies.current_pair(GUILD, ALICE) is None
    after = await rows_of(haven, b)
    assert changes(b_rows, after) == {}

    await run_at(haven, B_START - timedelta(hours=24) + timedelta(seconds=5))
    [from_b] = reminders_to(haven, ALICE)
    assert "From Riverside Haven" in from_b.text
    pair = await haven.services.buddies.current_pair(b, ALICE)
    assert pair is not None and set(pair.members) == {ALICE, two.dana, two.erin}


# --- buddy pairing -------------------------------------------------------------------------------


async def test_buddy_runs_pair_only_within_their_own_server(haven: Haven) -> None:
    two = await build(haven)
    fake, b = haven.fake, two.b
    buddies = haven.services.buddies
    # One person in each pool: each run has nobody to pair them with — not the other server's.
    await say_in(haven, two, GUILD, "buddy", "join", user=BOB)
    await say_in(haven, two, b, "buddy", "join", user=two.dana)
    for guild, moderator in ((GUILD, MONA), (b, two.bea)):
        report = await say_in(haven, two, guild, "haven", "pair-now", user=moderator)
        assert "New\nnone" in report.text and "Not matched\n1" in report.text, report.text
    assert await buddies.pairs(GUILD) == [] and await buddies.pairs(b) == []
    assert [m for m in fake.dms_to(BOB) if "No buddy this time" in m.text]
    assert [m for m in fake.dms_to(two.dana) if "No buddy this time" in m.text]

    for user in (ALICE, CAROL):
        await say_in(haven, two, GUILD, "buddy", "join", user=user)
    for user in (ALICE, two.erin):
        await say_in(haven, two, b, "buddy", "join", user=user)
    for guild, moderator in ((GUILD, MONA), (b, two.bea)):
        await say_in(haven, two, guild, "haven", "pair-now", user=moderator)
    await haven.settle()
    [in_a] = await buddies.pairs(GUILD)
    [in_b] = await buddies.pairs(b)
    assert set(in_a.members) == {ALICE, BOB, CAROL}
    assert set(in_b.members) == {ALICE, two.dana, two.erin}
    world = fake.world
    assert in_a.thread_id is not None and in_b.thread_id is not None
    assert world.channels[in_a.thread_id].parent_id == CH_BUDDIES
    assert world.channels[in_b.thread_id].parent_id == two.b_buddies

    status_a = (await say_in(haven, two, GUILD, "buddy", "status", user=ALICE)).text
    status_b = (await say_in(haven, two, b, "buddy", "status", user=ALICE)).text
    assert f"<@{BOB}>" in status_a and f"<@{two.dana}>" not in status_a
    assert f"<@{two.dana}>" in status_b and f"<@{BOB}>" not in status_b

    # A check-in shared with "my buddy" in A reaches A's buddies only.
    note = "for my buddies in A 5a5a"
    await say_in(
        haven, two, GUILD, "checkin", user=ALICE, feeling="tender", note=note, share="buddy"
    )
    await haven.settle()
    reached = {m.channel_id for m in fake.store.ordered if note in m.text and not m.ephemeral}
    assert reached, "the share went nowhere"
    b_places = {in_b.thread_id, *(world.dm_channels.get(u) for u in (two.dana, two.erin))}
    assert reached.isdisjoint(b_places)
    for channel in reached:
        assert world.guild_of(channel) in (GUILD, None)


async def test_a_buddy_in_one_server_hears_nothing_from_the_other(haven: Haven) -> None:
    """Alice's buddy is in B only. In A — sharing with "my buddy", asking for a reach-out,
    going quiet with gentle noticing on — Dana hears nothing; the same in B reaches Dana."""
    two = await build(haven)
    fake, b, dana = haven.fake, two.b, two.dana
    buddies = haven.services.buddies
    await say_in(haven, two, GUILD, "buddy", "join", user=BOB)  # A's pool, never run
    for user in (ALICE, dana):
        await say_in(haven, two, b, "buddy", "join", user=user)
    await say_in(haven, two, b, "haven", "pair-now", user=two.bea)
    await haven.settle()
    [pair] = await buddies.pairs(b)
    assert set(pair.members) == {ALICE, dana} and await buddies.pairs(GUILD) == []
    assert pair.thread_id is not None
    heard = (len(fake.dms_to(dana)), len(fake.messages_in(pair.thread_id)), len(fake.dms_to(BOB)))

    await say_in(haven, two, GUILD, "my", "noticing", user=ALICE, enabled=True, days=2)
    for n in range(3):
        reply = await say_in(
            haven,
            two,
            GUILD,
            "checkin",
            user=ALICE,
            feeling="heavy",
            note=f"a-side note {n}",
            share="buddy",
            reach_out=True,
        )
        assert "Dana" not in reply.text and f"<@{dana}>" not in reply.text, reply.text
        haven.clock.advance(hours=1)
    haven.clock.advance(days=2)  # two quiet days after the last: the noticing check runs
    await haven.run_due()
    await haven.settle()
    notes = await haven.services.db.fetchall(
        "SELECT guild_id, note FROM outbox WHERE kind = 'noticing' AND state = 'done'"
    )
    assert [tuple(r) for r in notes] == [(GUILD, "skipped: no buddy")]
    assert (len(fake.dms_to(dana)), len(fake.messages_in(pair.thread_id))) == heard[:2]
    assert not any("a-side note" in m.text for m in fake.store.ordered if not m.ephemeral)

    # The same quiet spell in B is noticed there, and told to B's buddy only.
    await say_in(haven, two, b, "my", "noticing", user=ALICE, enabled=True, days=2)
    for _ in range(3):
        await say_in(haven, two, b, "checkin", user=ALICE, feeling="heavy")
        haven.clock.advance(hours=1)
    haven.clock.advance(days=2)
    await haven.run_due()
    await haven.settle()
    nudges = [m for m in fake.dms_to(dana) if "A soft nudge" in m.text]
    assert len(nudges) == 1
    assert len(fake.dms_to(BOB)) == heard[2]


# --- buttons made in one server, pressed in the other --------------------------------------------


async def test_talking_piece_buttons_from_one_server_do_nothing_in_the_other(
    haven: Haven,
) -> None:
    two = await build(haven)
    await populate(haven, two)
    fake, b = haven.fake, two.b
    haven.clock.set(B_START - timedelta(minutes=30))
    await haven.run_due()
    opened = await say_in(haven, two, b, "host", "open", user=ALICE, circle=str(two.circle_b))
    assert f"is open in <#{two.b_circles}>" in opened.text
    *_, piece = fake.messages_in(two.b_circles)
    for user in (two.dana, two.erin):
        await (await fake.click(piece, "I'd like to share", user=user)).reply()
    await haven.settle()
    session = await haven.services.circles.current_session(
        await haven.services.circles.get(b, str(two.circle_b))
    )
    assert session is not None
    nxt, share = custom_id(piece, "Next"), custom_id(piece, "I'd like to share")
    assert f":{b}:{session.id}" in nxt

    before = await everything(haven)
    # B's buttons pressed in A — by A's moderator, and by B's own host — are refused.
    for user in (MONA, ALICE):
        for genuine in (nxt, share, custom_id(piece, "Pass")):
            refused = await press(haven, two, genuine, user=user, guild=GUILD)
            assert STALE in refused.text, (user, genuine, refused.text)
    # Edited to name A: the session is B's, so it "isn't there" in A.
    for forged in (nxt.replace(f":{b}:", f":{GUILD}:"), share.replace(f":{b}:", f":{GUILD}:")):
        refused = await press(haven, two, forged, user=MONA, guild=GUILD)
        assert "isn't there any more" in refused.text, refused.text
    # From a DM, an unsigned server id is never trusted.
    refused = await press(haven, two, nxt, user=ALICE, guild=None)
    assert STALE in refused.text
    # Mona moderates A, not B: in B she may not move the piece on.
    refused = await press(haven, two, nxt, user=MONA, guild=b)
    assert "Only the circle's host" in refused.text
    assert changes(before, await everything(haven)) == {}

    # The host's own press in B still works.
    moved = await press(haven, two, nxt, user=ALICE, guild=b)
    assert "with Erin now" in moved.text

    # Closing it: "Who was here?" is for B's host, never for A's moderator, in A or in B.
    haven.clock.set(B_START + timedelta(minutes=50))
    closed = await say_in(haven, two, b, "host", "close", user=ALICE, circle=str(two.circle_b))
    [select] = closed.selects
    attend = str(select["custom_id"])
    before = await everything(haven)
    assert STALE in (await press(haven, two, attend, user=MONA, guild=GUILD)).text
    assert "Only the host" in (await press(haven, two, attend, user=MONA, guild=b)).text
    assert changes(before, await everything(haven)) == {}


async def test_signed_buttons_from_one_server_are_refused_in_the_other(haven: Haven) -> None:
    """A check-back and a circle reminder Haven sent Alice from B, and "Take the seat" and
    "Check in" made in B for her (she is in both): pressed in A, or edited to name A."""
    two = await build(haven)
    await populate(haven, two)
    fake, b = haven.fake, two.b
    await say_in(
        haven,
        two,
        b,
        "haven",
        "buddies",
        user=two.bea,
        every_weeks=2,
        weekday="monday",
        time="18:00",
    )
    await say_in(haven, two, b, "haven", "pair-now", user=two.bea)  # a check-back in a week
    await run_at(haven, B_START - timedelta(hours=24) + timedelta(seconds=5))
    [reminder] = [m for m in reminders_to(haven, ALICE) if "From Riverside Haven" in m.text]
    await run_at(haven, NOW + timedelta(weeks=1, hours=1))
    [asked] = [m for m in fake.dms_to(ALICE) if "A quiet check-back" in m.text]
    session_b = await haven.services.circles.next_session(
        await haven.services.circles.get(b, str(two.circle_b))
    )
    assert session_b is not None
    routes = haven.services.routes
    made_in_b = [
        *(str(button["custom_id"]) for button in asked.buttons),
        *(str(button["custom_id"]) for button in reminder.buttons),
        routes.custom_id(TAKE_SEAT, ALICE, guild=b, session=session_b.id),
        routes.custom_id(OPEN_FROM_DM, ALICE, guild=b),
    ]
    assert all(f":{b}:" in genuine for genuine in made_in_b)

    before = await everything(haven)
    for genuine in made_in_b:
        refused = await press(haven, two, genuine, user=ALICE, guild=GUILD)
        assert STALE in refused.text, (genuine, refused.text)
        # Edited to name A (pressed from a DM, or in A): the signature no longer holds.
        forged = genuine.replace(f":{b}:", f":{GUILD}:")
        for guild in (None, GUILD):
            refused = await press(haven, two, forged, user=ALICE, guild=guild)
            assert STALE in refused.text, (forged, refused.text)
    assert changes(before, await everything(haven)) == {}

    # Pressed where it was sent, the check-back answers for B only.
    answered = await (await fake.click(asked, "We connected", user=ALICE)).reply()
    assert "found each other" in answered.text
    rows = await haven.services.db.fetchall(
        "SELECT guild_id, answer FROM buddy_checkbacks WHERE user_id = ?", (ALICE,)
    )
    assert [(r["guild_id"], r["answer"]) for r in rows] == [(b, "connected")]


async def test_moderator_buttons_from_one_server_do_nothing_in_the_other(haven: Haven) -> None:
    two = await build(haven)
    await populate(haven, two)
    fake, b = haven.fake, two.b
    asked = await say_in(
        haven, two, b, "haven", "circle-archive", user=two.bea, circle="Riverside walk"
    )
    public = await say_in(haven, two, b, "haven", "setup", user=two.bea, mod_channel=two.b_general)
    assert "Not saved yet" in public.text
    archive, use_anyway = custom_id(asked, "Yes, archive it"), public.buttons[0]["custom_id"]

    before = await everything(haven)
    refused = await press(haven, two, archive, user=MONA, guild=GUILD)  # Mona moderates A
    assert NOT_FOUND in refused.text, refused.text
    refused = await press(haven, two, str(use_anyway), user=MONA, guild=GUILD)
    assert "can't find that channel" in refused.text, refused.text
    for genuine in (archive, str(use_anyway)):  # in B, Mona is no moderator
        refused = await press(haven, two, genuine, user=MONA, guild=b)
        assert NOT_A_MODERATOR in refused.text, refused.text
    assert changes(before, await everything(haven)) == {}
    assert (await haven.services.guilds.get(GUILD)).mod_channel_id == CH_MODS
    assert (await haven.services.guilds.get(b)).mod_channel_id == two.b_mods

    # The support-resources form is a moderator's in each server, checked when it comes back.
    for guild, user in ((GUILD, ALICE), (b, MONA)):
        refused = await press(haven, two, "haven:support:resources", user=user, guild=guild)
        assert NOT_A_MODERATOR in refused.text, refused.text
    assert changes(before, await everything(haven)) == {}

    done = await (await fake.click(asked, "Yes, archive it", user=two.bea)).reply()
    assert "is archived" in done.text
    assert [c.name for c in await haven.services.circles.active(GUILD)] == ["Evening circle"]


async def test_buttons_from_one_server_refuse_someone_who_is_only_in_the_other(
    haven: Haven,
) -> None:
    two = await build(haven)
    await populate(haven, two)
    routes, dana = haven.services.routes, two.dana
    session_a = await haven.services.circles.next_session(
        await haven.services.circles.get(GUILD, str(two.circle_a))
    )
    assert session_a is not None
    # Bob's genuine buttons, copied by Dana; and buttons signed for Dana naming A.
    bobs = [
        routes.custom_id(THERE, BOB, guild=GUILD, session=session_a.id),
        routes.custom_id(TAKE_SEAT, BOB, guild=GUILD, session=session_a.id),
    ]
    for_dana = [
        routes.custom_id(THERE, dana, guild=GUILD, session=session_a.id),
        routes.custom_id(TAKE_SEAT, dana, guild=GUILD, session=session_a.id),
        routes.custom_id(OPEN_FROM_DM, dana, guild=GUILD),
    ]
    unsigned = [f"haven:checkin:open:{GUILD}", f"haven:host:share:{GUILD}:{session_a.id}"]
    before = await everything(haven)
    for custom in bobs:
        for guild in (None, two.b):
            refused = await press(haven, two, custom, user=dana, guild=guild)
            assert STALE in refused.text, (custom, guild, refused.text)
    for custom in for_dana:
        refused = await press(haven, two, custom, user=dana, guild=None)
        assert "no longer a member" in refused.text, (custom, refused.text)
        refused = await press(haven, two, custom, user=dana, guild=two.b)
        assert STALE in refused.text, (custom, refused.text)
    for custom in unsigned:
        for guild in (None, two.b):
            refused = await press(haven, two, custom, user=dana, guild=guild)
            assert STALE in refused.text, (custom, guild, refused.text)
    assert changes(before, await everything(haven)) == {}
