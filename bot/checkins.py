"""Check-ins: record how a member is, share it only where they chose, and read it back.

Private is the default and nothing is posted then. A check-in shared with the channel carries
the member's name; an anonymous one carries nothing that identifies them — it is posted by
Haven itself (never as a visible interaction reply, which would show who used the command),
and the delivery ledger keeps no link from that post back to the member.
"""

from __future__ import annotations

import enum
import random
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.buddies import Buddies
from bot.charts import ChartRenderer, Point, summarise
from bot.db import Database, Row
from bot.distress import DistressMatcher
from bot.dm_stops import DmKind, DmStops
from bot.errors import BadInput
from bot.features import Features
from bot.guilds import Guilds
from bot.inputs import clean_text
from bot.messages import Card, Outgoing, Palette
from bot.outgoing import Delivered, Sender
from bot.ratelimit import SlidingWindow
from bot.routes import Route
from bot.support import Support, SupportCard
from bot.texts import Texts, plain
from bot.timeutil import Clock, discord_timestamp, from_db, to_db, utcnow

FEELINGS: dict[str, tuple[str, str]] = {
    "settled": ("🌿", "Settled"),
    "stirred": ("🌊", "Stirred up"),
    "foggy": ("🌫️", "Foggy or far away"),
    "heavy": ("🌧️", "Heavy"),
    "tender": ("🌱", "Tender or mixed"),
    "bright": ("☀️", "Bright"),
    "pass": ("🤍", "Just checking in"),
}
SHARES = ("private", "buddy", "channel", "anonymous")
NOTE_MAX = 1000
CAPACITY_MIN, CAPACITY_MAX = 1, 5
HISTORY_MAX_DAYS = 365

ACKNOWLEDGEMENTS_FILE = "acknowledgements.txt"


# Shares to the channel (named or anonymous) per member: enough for a hard day, not a flood.
SHARES_PER_HOUR = 4

# Components. The prompt's button is pressed in a channel (the server is the interaction's
# own); a DM's button and the picker carry a server id signed for the member they were made for.
OPEN = Route("checkin:open", fields=(("guild", "id"),))
OPEN_FROM_DM = Route("checkin:dm", fields=(("guild", "id"),), signed=True)
PICKER = Route("checkin:pick", fields=(("guild", "id"),), signed=True)
TAKE_BACK = Route(
    "checkin:undo", fields=(("guild", "id"), ("channel", "id"), ("message", "id")), signed=True
)

BUDDY_DMS = "buddy"


def feeling_label(feeling: str) -> str:
    emoji, label = FEELINGS[feeling]
    return f"{emoji} {label}"


@dataclass(frozen=True)
class CheckinInput:
    feeling: str
    capacity: int | None = None
    note: str | None = None
    share: str = "private"
    reach_out: bool = False


@dataclass(frozen=True)
class Checkin:
    id: int
    guild_id: int
    user_id: int
    created_at: datetime
    feeling: str
    capacity: int | None
    note: str | None
    share: str
    reach_out: bool

    @classmethod
    def from_row(cls, row: Row) -> Checkin:
        return cls(
            id=row["id"],
            guild_id=row["guild_id"],
            user_id=row["user_id"],
            created_at=from_db(row["created_at"]),
            feeling=row["feeling"],
            capacity=row["capacity"],
            note=row["note"],
            share=row["share"],
            reach_out=bool(row["reach_out"]),
        )


class Shared(enum.Enum):
    """Where the check-in went."""

    PRIVATE = "private"
    CHANNEL = "channel"
    ANONYMOUS = "anonymous"
    BUDDY = "buddy"
    NO_CHANNEL = "no_channel"  # share=channel/anonymous but no check-in channel is set
    CHANNEL_UNAVAILABLE = "channel_unavailable"  # set, but Haven cannot post there
    NO_BUDDY = "no_buddy"
    BUDDY_UNREACHABLE = "buddy_unreachable"
    BUDDY_RESTING = "buddy_resting"  # paused, quiet hours, or they stopped buddy DMs
    PACED = "paced"  # over the share limit for now; kept private


class ReachOut(enum.Enum):
    NOT_ASKED = "not_asked"
    BUDDY_TOLD = "buddy_told"
    NO_BUDDY = "no_buddy"  # the member may press a button to tell the server's supporters
    BUDDY_UNREACHABLE = "buddy_unreachable"


@dataclass(frozen=True)
class CheckinResult:
    checkin: Checkin
    acknowledgement: str
    shared: Shared
    reach_out: ReachOut
    support: SupportCard | None  # set when the note held words of acute distress
    anonymous_post: tuple[int, int] | None = None  # (channel, message): the author may take it back
    share_again_at: datetime | None = None  # when Shared.PACED


@dataclass(frozen=True)
class HistoryReport:
    checkins: list[Checkin]
    chart_png: bytes | None
    summary: str


CheckinListener = Callable[[Checkin], Awaitable[None]]


class Checkins:
    def __init__(
        self,
        db: Database,
        guilds: Guilds,
        buddies: Buddies,
        support: Support,
        texts: Texts,
        sender: Sender,
        charts: ChartRenderer,
        dm_stops: DmStops,
        *,
        clock: Clock = utcnow,
    ) -> None:
        self._db = db
        self._charts = charts
        self._guilds = guilds
        self._buddies = buddies
        self._support = support
        self._texts = texts
        self._sender = sender
        self._clock = clock
        self._listeners: list[CheckinListener] = []
        self._distress = DistressMatcher(texts)
        self._shares = SlidingWindow(SHARES_PER_HOUR, timedelta(hours=1), clock=clock)
        dm_stops.declare(
            DmKind(
                BUDDY_DMS,
                stop_label="Stop buddy check-ins by DM",
                stopped=(
                    "Done — I won't DM you your buddy's check-ins from this server. Nothing "
                    "changes between you two, and you can start them again below."
                ),
            )
        )

    def contribute(self, features: Features) -> None:
        features.data("checkins", "Your check-ins: feeling, capacity, note, who you shared with.")
        features.count(
            "check-ins in the last 7 days",
            "SELECT count(*) FROM checkins WHERE guild_id = :guild AND created_at >= :week_ago",
        )
        features.purge("check-ins past retention", self.purge_expired)
        features.privacy(
            "keep",
            lambda config: (
                "• **Your check-ins**: feeling, capacity, note, and who you shared each "
                f"with. This server keeps them **{config.retention_days} days**, then I "
                "delete them, with the records of where you shared them."
            ),
        )
        features.privacy(
            "see",
            "A check-in you share goes only where you chose; an anonymous one carries nothing "
            "that identifies you, and I keep no link from the post back to you.\n"
            "I read your notes here, on Haven, for words of distress — only so I can show you "
            "support resources privately. Nothing is sent anywhere because of it.",
        )

    def on_recorded(self, listener: CheckinListener) -> None:
        self._listeners.append(listener)

    async def record(
        self, guild_id: int, user_id: int, display_name: str, given: CheckinInput
    ) -> CheckinResult:
        given = validate(given)
        now = self._clock()
        shared, reach = Shared.PRIVATE, ReachOut.NOT_ASKED
        anonymous_post: tuple[int, int] | None = None
        again_at = None
        if given.share in ("channel", "anonymous"):
            again_at = self._shares.take((guild_id, user_id))
        checkin_id = int(
            await self._db.fetchval(
                "INSERT INTO checkins"
                " (guild_id, user_id, created_at, feeling, capacity, note, share, reach_out)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    guild_id,
                    user_id,
                    to_db(now),
                    given.feeling,
                    given.capacity,
                    given.note,
                    given.share,
                    int(given.reach_out),
                ),
            )
        )
        checkin = Checkin(
            checkin_id,
            guild_id,
            user_id,
            now,
            given.feeling,
            given.capacity,
            given.note,
            given.share,
            given.reach_out,
        )

        if given.share in ("channel", "anonymous"):
            if again_at is not None:
                shared = Shared.PACED
            else:
                shared, anonymous_post = await self._post(checkin, display_name)
        if given.share == "buddy" or given.reach_out:
            told = await self._tell_buddies(checkin, display_name)
            if given.share == "buddy":
                shared = _buddy_shared(told)
            if given.reach_out:
                reach = _buddy_reached(told)
        if given.share != "private" and shared not in _DELIVERED:
            # It did not go where they asked, so it stayed private; the record says so.
            await self._db.execute(
                "UPDATE checkins SET share = 'private' WHERE id = ?", (checkin_id,)
            )
            checkin = replace(checkin, share="private")
        for listener in self._listeners:
            await listener(checkin)
        support = None
        if given.note and await self.sounds_acute(guild_id, given.note):
            support = await self._support.card(guild_id)
        return CheckinResult(
            checkin,
            self.acknowledgement(given.feeling),
            shared,
            reach,
            support,
            anonymous_post,
            again_at,
        )

    async def history(self, guild_id: int, user_id: int, days: int) -> list[Checkin]:
        if not 1 <= days <= HISTORY_MAX_DAYS:
            raise BadInput(
                f"I can look back 1 to {HISTORY_MAX_DAYS} days; `{days}` is outside that."
            )
        since = self._clock() - timedelta(days=days)
        rows = await self._db.fetchall(
            "SELECT * FROM checkins WHERE guild_id = ? AND user_id = ? AND created_at >= ?"
            " ORDER BY created_at, id",
            (guild_id, user_id, to_db(since)),
        )
        return [Checkin.from_row(r) for r in rows]

    async def history_report(
        self, guild_id: int, user_id: int, days: int, zone: ZoneInfo
    ) -> HistoryReport:
        """The member's check-ins with a chart (rendered in a worker thread) and a summary."""
        checkins = await self.history(guild_id, user_id, days)
        points = [Point(c.created_at, c.feeling, c.capacity) for c in checkins]
        png = await self._charts.render(points, zone, days, self._clock()) if points else None
        return HistoryReport(checkins, png, summarise(points, days))

    async def purge_expired(self, now: datetime) -> int:
        """Delete check-ins older than their server's retention period, with the records of
        where they were shared (kept as long, so /my forget can take those posts down)."""
        removed = 0
        for row in await self._db.fetchall(
            "SELECT guild_id FROM checkins UNION SELECT guild_id FROM deliveries"
            " WHERE about_id IS NOT NULL AND guild_id IS NOT NULL"
        ):
            days = (await self._guilds.get(row["guild_id"])).retention_days
            cutoff = to_db(now - timedelta(days=days))
            removed += await self._db.execute(
                "DELETE FROM checkins WHERE guild_id = ? AND created_at < ?",
                (row["guild_id"], cutoff),
            )
            removed += await self._db.execute(
                "DELETE FROM deliveries WHERE guild_id = ? AND about_id IS NOT NULL"
                " AND updated_at < ?",
                (row["guild_id"], cutoff),
            )
        if removed:
            await self._db.checkpoint()  # the deleted notes leave the write-ahead log too
        return removed

    async def take_back(self, channel_id: int, message_id: int) -> bool:
        """Take down an anonymous post (the button proving authorship is checked by routes)."""
        return await self._sender.take_down(channel_id, message_id)

    # --- words -----------------------------------------------------------------------------

    def acknowledgement(self, feeling: str) -> str:
        general, specific = [], []
        for entry in self._texts.entries(ACKNOWLEDGEMENTS_FILE):
            prefix, sep, rest = entry.partition(":")
            if sep and prefix in FEELINGS:
                if prefix == feeling:
                    specific.append(rest.strip())
            else:
                general.append(entry)
        return random.choice(specific + general)

    async def sounds_acute(self, guild_id: int, note: str) -> bool:
        """Haven's own phrases and the server's; checked here, never sent anywhere."""
        extra = (await self._guilds.get(guild_id)).distress_phrases
        return self._distress.matches(note, extra.splitlines() if extra else ())

    # --- sharing ---------------------------------------------------------------------------

    async def _post(
        self, checkin: Checkin, display_name: str
    ) -> tuple[Shared, tuple[int, int] | None]:
        channel_id = (await self._guilds.get(checkin.guild_id)).checkin_channel_id
        if channel_id is None:
            return Shared.NO_CHANNEL, None
        if checkin.share == "anonymous":
            # A random key, and no member id: nothing in Haven's records ties this post to them.
            key, about, who = f"checkin-anon:{secrets.token_hex(8)}", None, "Someone"
        else:
            key, about, who = f"checkin-share:{checkin.id}", checkin.user_id, None
        card = Card(
            title=f"{who or plain(display_name, 80)} checked in",
            description=checkin_line(checkin),
            colour=Palette.CALM,
            footer="Reflect, don't redirect: a kind word beats advice.",
        )
        result = await self._sender.to_channel(
            key, channel_id, Outgoing(cards=(card,)), guild_id=checkin.guild_id, about_id=about
        )
        if not result.ok:
            return Shared.CHANNEL_UNAVAILABLE, None
        if checkin.share == "anonymous":
            return Shared.ANONYMOUS, await self._sender.posted(key)
        return Shared.CHANNEL, None

    async def _tell_buddies(self, checkin: Checkin, display_name: str) -> Delivered | None:
        """Send the buddy (or both, in a trio) one message. None: no buddy; else how it went."""
        buddies = await self._buddies.current(checkin.guild_id, checkin.user_id)
        if not buddies:
            return None
        name = plain(display_name, 80)
        parts = []
        if checkin.share == "buddy":
            parts.append(f"**{name}** checked in and wanted you to know:\n{checkin_line(checkin)}")
        if checkin.reach_out:
            parts.append(
                f"**{name}** would welcome a kind word today. There's nothing to fix — "
                "something as simple as *“thinking of you”* can mean a lot."
            )
        card = Card(
            title="From your buddy",
            description="\n\n".join(parts),
            colour=Palette.CALM,
            footer="Witness, don't fix. You're a buddy, not a crisis line: /support has resources.",
        )
        # The pair's private thread if they have one (one post, pinging only the buddies)…
        thread_id = buddies[0].thread_id
        ids = tuple(b.user_id for b in buddies)
        if thread_id is not None:
            in_thread = Outgoing(
                content=" ".join(f"<@{i}>" for i in ids), cards=(card,), ping_users=ids
            )
            result = await self._sender.to_channel(
                f"checkin-buddy:{checkin.id}:thread",
                thread_id,
                in_thread,
                guild_id=checkin.guild_id,
                about_id=checkin.user_id,
            )
            if result.ok:
                return result
        # …else a DM to each (through the gate: not while they rest, not if they stopped these).
        outcomes = [
            await self._sender.to_member(
                f"checkin-buddy:{checkin.id}:{buddy_id}",
                buddy_id,
                Outgoing(cards=(card,)),
                guild_id=checkin.guild_id,
                kind=BUDDY_DMS,
                about_id=checkin.user_id,
            )
            for buddy_id in ids
        ]
        for outcome in outcomes:
            if outcome.ok:
                return outcome
        if any(o in (Delivered.RESTING, Delivered.STOPPED) for o in outcomes):
            return Delivered.RESTING
        return outcomes[0]


_DELIVERED = (Shared.CHANNEL, Shared.ANONYMOUS, Shared.BUDDY)


def _buddy_shared(told: Delivered | None) -> Shared:
    if told is None:
        return Shared.NO_BUDDY
    if told.ok:
        return Shared.BUDDY
    return Shared.BUDDY_RESTING if told is Delivered.RESTING else Shared.BUDDY_UNREACHABLE


def _buddy_reached(told: Delivered | None) -> ReachOut:
    if told is None:
        return ReachOut.NO_BUDDY
    return ReachOut.BUDDY_TOLD if told.ok else ReachOut.BUDDY_UNREACHABLE


def validate(given: CheckinInput) -> CheckinInput:
    """The input with its note tidied, or a kind BadInput saying what would work."""
    if given.feeling not in FEELINGS:
        raise BadInput("I don't know that feeling — please pick one of the choices offered.")
    if given.capacity is not None and not CAPACITY_MIN <= given.capacity <= CAPACITY_MAX:
        raise BadInput(
            f"Capacity goes from {CAPACITY_MIN} (running on empty) to {CAPACITY_MAX} "
            f"(plenty in the tank); `{given.capacity}` is outside that."
        )
    if given.share not in SHARES:
        raise BadInput("You can share with: private, buddy, channel or anonymous.")
    note = clean_text(given.note or "") or None
    if note is not None and len(note) > NOTE_MAX:
        raise BadInput(
            f"Your note is {len(note)} characters and notes can hold up to {NOTE_MAX}. "
            "Nothing was saved — you're welcome to shorten it and check in again."
        )
    return CheckinInput(given.feeling, given.capacity, note, given.share, given.reach_out)


def checkin_line(checkin: Checkin, *, compact: bool = False) -> str:
    """How a check-in reads everywhere Haven shows one (a share, a reply, the history).

    `compact`: one line with its date and the start of the note (for lists); otherwise the
    feeling and capacity with the whole note quoted below.
    """
    line = feeling_label(checkin.feeling)
    if checkin.capacity is not None:
        line += f" · {checkin.capacity}/5" if compact else f" · capacity {checkin.capacity}/5"
    if compact:
        note = f" — {plain(checkin.note.replace(chr(10), ' '), 90)}" if checkin.note else ""
        return f"{discord_timestamp(checkin.created_at, 'd')} {line}{note}"
    if checkin.note:
        quoted = "\n".join(f"> {row}" for row in checkin.note.splitlines())
        line += f"\n{quoted}"
    return line
