"""Values members type, read forgivingly, or refused with a kind message that shows what works."""

from __future__ import annotations

import unicodedata
from datetime import time

from bot.errors import BadInput
from bot.timeutil import get_zone, parse_hhmm

ID_MAX = 2**63 - 1  # the largest integer SQLite (and PostgreSQL's bigint) can hold


def as_id(text: str) -> int | None:
    """`text` as an id (a Discord snowflake, a row id): ASCII digits within 64 bits, else None.

    `str.isdigit` alone also accepts `²` and `١`, and an id past 64 bits overflows the database:
    both would turn a typed or forged value into an error instead of a kind "not found".
    """
    if text.isascii() and text.isdigit() and len(text) <= 19:
        value = int(text)
        return value if value <= ID_MAX else None
    return None


def parse_time(raw: str) -> time:
    try:
        return parse_hhmm(raw)
    except ValueError:
        raise BadInput(
            f"I couldn't read `{raw[:40]}` as a time — try `19:30` (24-hour) or `7:30pm`."
        ) from None


def zone_name(raw: str) -> str:
    """The canonical IANA name for what a member typed."""
    try:
        return get_zone(raw).key
    except ValueError:
        raise BadInput(
            f"I don't know the time zone `{raw[:60]}`. Try a city-based name like "
            "`Europe/London` or `America/New_York` — suggestions appear as you type."
        ) from None


def within(text: str, limit: int, what: str, after: str = "") -> str:
    """`text`, if it is at most `limit` characters; else a kind refusal naming both lengths
    (`after` can say what happens now, e.g. "Nothing was sent")."""
    if len(text) > limit:
        message = f"{what} can be up to {limit} characters; this one is {len(text)}."
        raise BadInput(f"{message} {after}".strip())
    return text


def one_line(raw: str) -> str:
    """`clean_text` on one line, runs of spaces folded: for names and pronouns."""
    return " ".join(clean_text(raw).split())


def clean_text(raw: str) -> str:
    """Free text as Haven stores and shows it: NFC, and no control characters but newline and
    tab (a NUL or an escape sequence in a note would break storage, logs or rendering).

    Every feature passes member- and moderator-written text through here before storing it.
    """
    text = unicodedata.normalize("NFC", raw.replace("\r\n", "\n").replace("\r", "\n"))
    return "".join(
        c for c in text if c in "\n\t" or unicodedata.category(c) not in ("Cc", "Cs")
    ).strip()
