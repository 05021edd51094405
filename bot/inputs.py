"""Values members type, read forgivingly, or refused with a kind message that shows what works."""

from __future__ import annotations

import unicodedata
from datetime import time

from bot.errors import BadInput
from bot.timeutil import get_zone, parse_hhmm


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


def clean_text(raw: str) -> str:
    """Free text as Haven stores and shows it: NFC, and no control characters but newline and
    tab (a NUL or an escape sequence in a note would break storage, logs or rendering).

    Every feature passes member- and moderator-written text through here before storing it.
    """
    text = unicodedata.normalize("NFC", raw.replace("\r\n", "\n").replace("\r", "\n"))
    return "".join(
        c for c in text if c in "\n\t" or unicodedata.category(c) not in ("Cc", "Cs")
    ).strip()
