"""What each feature contributes to the core, so the core never names a feature.

A feature service implements `contribute(features)` and declares there: its job kinds (with the
label moderators see, or none for work about one member, which is only ever counted), its
`/haven status` counts, its purge steps for the daily tidy-up, its data-rights entries (the
tables `/my data` exports and `/my forget` empties), its lines in `/my privacy`, and its
start-up work. `bot/app.py` calls every service's `contribute` and then loops over what they
declared; `tests/test_architecture.py` checks that every job kind and every table holding a
member's rows was declared. Circles and buddies plug in the same way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

from bot.guilds import GuildConfig

IN_SERVER = "guild_id = :guild AND user_id = :user"

Step = Callable[[datetime], Awaitable[int]]
"""One purge: given 'now', deletes what is due and returns how many rows went."""

Section = Literal["keep", "see", "choices"]
"""Where a privacy line goes: what Haven keeps, who can see it, the member's choices."""

PrivacyLine = Callable[[GuildConfig], str]


@dataclass(frozen=True)
class PersonalData:
    table: str
    description: str
    where: str = IN_SERVER  # named parameters :guild and :user
    # What forgetting does to the rows `where` finds. None deletes them; a SET clause
    # ("host_id = NULL") clears the member's mark from a row that belongs to the server (a
    # circle they host stays; only their name on it goes).
    forget_set: str | None = None

    @property
    def forget_sql(self) -> str:
        if self.forget_set is None:
            return f"DELETE FROM {self.table} WHERE {self.where}"
        return f"UPDATE {self.table} SET {self.forget_set} WHERE {self.where}"


@dataclass(frozen=True)
class ChannelRef:
    """A column holding a channel id moderators chose; `label` is an SQL expression naming
    the setting in words (e.g. "'the daily check-in prompt'"); `live` is an SQL condition for
    the rows still in use (an archived circle's channel needs no one's attention)."""

    table: str
    column: str
    label: str
    live: str = "1 = 1"


@dataclass
class Features:
    job_labels: dict[str, str | None] = field(default_factory=dict)
    counts: dict[str, str] = field(default_factory=dict)
    purges: dict[str, Step] = field(default_factory=dict)
    personal_data: list[PersonalData] = field(default_factory=list)
    privacy_lines: list[tuple[Section, PrivacyLine]] = field(default_factory=list)
    starts: list[Callable[[], Awaitable[object]]] = field(default_factory=list)
    forgetting: list[Callable[[int, int], Awaitable[object]]] = field(default_factory=list)
    channels: list[ChannelRef] = field(default_factory=list)

    def job(self, kind: str, label: str | None) -> None:
        """A kind of scheduled work; `label` None: about one member, never listed by itself."""
        self.job_labels[kind] = label

    def count(self, label: str, sql: str) -> None:
        """A `/haven status` count: a COUNT query using :guild (and :now or :week_ago if it
        needs them: instants as stored, so the SQL stays the same on every backend)."""
        self.counts[label] = sql

    def purge(self, name: str, step: Step) -> None:
        self.purges[name] = step

    def data(
        self,
        table: str,
        description: str,
        where: str = IN_SERVER,
        *,
        forget_set: str | None = None,
    ) -> None:
        self.personal_data.append(PersonalData(table, description, where, forget_set))

    def privacy(self, section: Section, line: str | PrivacyLine) -> None:
        self.privacy_lines.append((section, line if callable(line) else _constant(line)))

    def on_start(self, work: Callable[[], Awaitable[object]]) -> None:
        self.starts.append(work)

    def channel(self, table: str, column: str, label: str, *, live: str = "1 = 1") -> None:
        """`table.column` (with a guild_id) holds a channel moderators chose: cleared if that
        channel is deleted, and named when it needs attention (`bot/channel_care.py`, and
        `/haven status` for the `live` rows)."""
        self.channels.append(ChannelRef(table, column, label, live))

    def before_forget(self, work: Callable[[int, int], Awaitable[object]]) -> None:
        """Run with (guild_id, user_id) before `/my forget` deletes the member's rows: what
        their rows held up for others (a seat, a place in line) is handed on first."""
        self.forgetting.append(work)


@runtime_checkable
class Contributor(Protocol):
    def contribute(self, features: Features) -> None: ...


def _constant(text: str) -> PrivacyLine:
    return lambda _config: text
