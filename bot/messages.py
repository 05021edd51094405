"""Everything Haven says, described without discord, and fitted to Discord's limits.

Feature services and cogs build `Outgoing` messages from `Card`s, `Field`s and `Button`s; the
renderers call `fit` (or `fit_card`) last, so no message can be rejected for length however long
or strange the member's text is. Discord rejects the whole message when one part is too long
(50035), so a note that grew past a limit after markdown escaping used to lose the reply.

Lengths are counted as Python counts them, in code points: Discord's API is written in Python
and measures `len(str)` (discord/discord-api-docs#1315), and so does the fake's validator.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final, Literal

ButtonStyle = Literal["primary", "secondary", "success", "danger"]

ELLIPSIS: Final = "…"
# Discord strips whitespace and then rejects an empty field name or value; a zero-width space
# is the usual stand-in and counts as one character.
BLANK: Final = "\u200b"


class Limits:
    """Discord's limits (the numbers `tests/fakediscord/validate.py` enforces)."""

    CONTENT: Final = 2000
    EMBEDS: Final = 10  # per message
    EMBED_TITLE: Final = 256
    EMBED_DESCRIPTION: Final = 4096
    EMBED_FIELDS: Final = 25
    FIELD_NAME: Final = 256
    FIELD_VALUE: Final = 1024
    FOOTER_TEXT: Final = 2048
    AUTHOR_NAME: Final = 256
    # Titles, descriptions, field names and values, footers and authors of all embeds together.
    EMBEDS_TOTAL: Final = 6000
    BUTTON_LABEL: Final = 80
    SELECT_OPTION_LABEL: Final = 100
    SELECT_OPTION_VALUE: Final = 100
    SELECT_OPTION_DESCRIPTION: Final = 100
    SELECT_PLACEHOLDER: Final = 150
    SELECT_OPTIONS: Final = 25
    CUSTOM_ID: Final = 100
    ACTION_ROWS: Final = 5
    BUTTONS_PER_ROW: Final = 5
    BUTTONS: Final = ACTION_ROWS * BUTTONS_PER_ROW
    MODAL_TITLE: Final = 45
    TEXT_INPUT_LABEL: Final = 45
    TEXT_INPUT_PLACEHOLDER: Final = 100
    TEXT_INPUT_VALUE: Final = 4000
    COLOUR: Final = 0xFFFFFF


class Palette:
    """Haven's colours: quiet ones, so nothing looks like an alarm."""

    CALM = 0xA8C3B8  # check-ins, prompts, reminders
    GENTLE = 0x9DB4C0  # a member's own history and privacy
    STEADY = 0x6C8EAD  # server configuration
    SUPPORT = 0x7BA7A0  # /support and grounding
    NUDGE = 0xE8C07D  # "someone may need a kind word"


# --- the data model ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Button:
    """A persistent button: the cogs route its custom_id, so a click works after a restart."""

    custom_id: str
    label: str
    style: ButtonStyle = "secondary"
    emoji: str | None = None

    def __post_init__(self) -> None:
        # An id is a route, not text: shortening it would break the click silently.
        if not 1 <= len(self.custom_id) <= Limits.CUSTOM_ID:
            raise ValueError(f"custom_id must be 1-{Limits.CUSTOM_ID} characters")
        if not self.label.strip() and not self.emoji:
            raise ValueError("a button needs a label or an emoji")


@dataclass(frozen=True)
class Field:
    name: str
    value: str
    inline: bool = False


@dataclass(frozen=True)
class Card:
    """An embed: a titled block of text, optionally with fields and an attached image."""

    description: str
    title: str | None = None
    footer: str | None = None
    colour: int | None = None
    fields: tuple[Field, ...] = ()
    image: str | None = None  # "attachment://name.png"


@dataclass(frozen=True)
class Outgoing:
    content: str | None = None
    cards: tuple[Card, ...] = ()
    buttons: tuple[Button, ...] = ()
    # Users that may actually be pinged (everyone else, @everyone and roles never are).
    ping_users: tuple[int, ...] = ()


# --- cutting text --------------------------------------------------------------------------------

# Markup that means something only whole: cutting inside it shows raw syntax, or (for an escape)
# turns the escaped character back into markdown in the next chunk.
_ATOMIC = re.compile(
    r"\\."  # a markdown escape and the character it escapes
    r"|<(?:@[!&]?|#)\d+>"  # user, role and channel mentions
    r"|<t:-?\d+(?::[a-zA-Z])?>"  # timestamps
    r"|<a?:\w+:\d+>"  # custom emoji
    r"|</[^<>:\n]+:\d+>"  # slash-command mentions
    r"|\[[^\[\]\n]*\]\(<?https?://[^\s)]*>?\)"  # [text](link)
    r"|<?https?://[^\s<>]+>?",  # bare and <unembedded> links
    re.DOTALL,
)
_LOOKAHEAD = 600  # how far past the cut to read, to see markup that spans it
_ZWJ = "\u200d"


def _extends(ch: str) -> bool:
    """Whether `ch` belongs to the character before it (one glyph on screen)."""
    cp = ord(ch)
    return (
        unicodedata.category(ch) in ("Mn", "Mc", "Me")  # accents, variation selectors, keycaps
        or cp == 0x200D
        or 0x1F3FB <= cp <= 0x1F3FF  # skin tones
        or 0xE0020 <= cp <= 0xE007F  # tag sequences (subdivision flags)
    )


def _regional(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF


def _odd_backslashes(text: str) -> bool:
    return (len(text) - len(text.rstrip("\\"))) % 2 == 1


def _run_before(text: str, i: int, belongs: Callable[[str], bool]) -> int:
    """How many characters just before position `i` satisfy `belongs`."""
    j = i
    while j > 0 and belongs(text[j - 1]):
        j -= 1
    return i - j


def _cut(text: str, limit: int, *, hard: bool) -> int:
    """Where to cut `text` (longer than `limit`) so the head keeps at most `limit` characters.

    Prefers a line break, then a space, in the last half; else any point outside markup and
    between glyphs. When the first glyph or markup alone is longer than the limit, a `hard`
    cut goes through it (but never through an escape); otherwise the answer is 0, keep nothing.
    Checks run lazily from the limit down: the first good point is usually a few steps away.
    """
    spans = [m.span() for m in _ATOMIC.finditer(text, 0, limit + _LOOKAHEAD)]
    starts = [start for start, _ in spans]

    def inside(i: int) -> bool:  # within markup
        k = bisect_left(starts, i) - 1
        return k >= 0 and i < spans[k][1]

    def escaped(i: int) -> bool:  # right after an unpaired backslash
        return _run_before(text, i, lambda c: c == "\\") % 2 == 1

    def joined(i: int) -> bool:  # inside one glyph
        if _extends(text[i]) or text[i - 1] == _ZWJ:
            return True
        return _regional(text[i]) and _run_before(text, i, _regional) % 2 == 1

    def clean(i: int) -> bool:
        return not (joined(i) or escaped(i) or inside(i))

    floor = max(1, limit // 2)
    for separators in ("\n", " \t\n"):
        for i in range(limit, floor - 1, -1):
            # Skip a space that carries an accent: the accent would start the next piece.
            if text[i] in separators and clean(i) and not _extends(text[i + 1 : i + 2] or "x"):
                return i
    for i in range(limit, 0, -1):
        if clean(i):
            return i
    if not hard:
        return 0
    for i in range(limit, 0, -1):
        if not escaped(i):
            return i
    return limit


def _trim_end(text: str) -> str:
    """`text` without trailing whitespace, unless that whitespace is escaped."""
    trimmed = text.rstrip()
    return text[: len(trimmed) + 1] if _odd_backslashes(trimmed) else trimmed


def _trim_start(text: str) -> str:
    """`text` without leading whitespace, unless an accent sits on that whitespace."""
    trimmed = text.lstrip()
    if trimmed and trimmed != text and _extends(trimmed[0]):
        return text[len(text) - len(trimmed) - 1 :]
    return trimmed


def shorten(text: str, limit: int) -> str:
    """`text` if it fits in `limit` characters, else its start cut cleanly and ended with "…".

    Never splits a glyph, an escape, a mention, a timestamp or a link: if the first of them
    does not fit, the result is just "…".
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if len(text) <= limit:
        return text
    if limit == 1:
        return ELLIPSIS
    return _trim_end(text[: _cut(text, limit - 1, hard=False)]) + ELLIPSIS


def _split(line: str, limit: int) -> Iterator[str]:
    """An over-long line in pieces of at most `limit`; only whitespace at the cuts is dropped."""
    while len(line) > limit:
        at = _cut(line, limit, hard=True)  # a piece of a link beats losing it
        if head := _trim_end(line[:at]):
            yield head
        line = _trim_start(line[at:])
    yield line


def pack_lines(lines: Sequence[str], limit: int) -> list[str]:
    """Lines packed into as few newline-joined chunks of at most `limit` characters as possible.

    A line too long for one chunk continues in the next (nothing is lost but whitespace at the
    cut); chunks with nothing visible are dropped.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for line in lines:
        for part in line.split("\n"):
            for piece in _split(part, limit):
                if current and size + 1 + len(piece) > limit:
                    chunks.append("\n".join(current))
                    current = []
                size = size + 1 + len(piece) if current else len(piece)
                current.append(piece)
    if current:
        chunks.append("\n".join(current))
    return [chunk for chunk in chunks if chunk.strip()]


def fields_from_lines(name: str, lines: Sequence[str]) -> tuple[Field, ...]:
    """A list too long for one field, as fields of at most 1,024 characters each.

    The first is called `name`, the rest `name (continued)`; no lines, no fields.
    """
    suffix = " (continued)"
    name = name if name.strip() else BLANK
    first = shorten(name, Limits.FIELD_NAME)
    later = shorten(name, Limits.FIELD_NAME - len(suffix)) + suffix
    chunks = pack_lines(lines, Limits.FIELD_VALUE)
    return tuple(Field(later if i else first, chunk) for i, chunk in enumerate(chunks))


# --- fitting messages ----------------------------------------------------------------------------


def card_size(card: Card) -> int:
    """What a card counts towards Discord's 6,000-character total for one message."""
    return (
        len(card.title or "")
        + len(card.description)
        + len(card.footer or "")
        + sum(len(f.name) + len(f.value) for f in card.fields)
    )


def _clamp(card: Card, cap: int) -> Card:
    """Every text of `card` within its own limit and within `cap`; blank parts made valid."""

    def cut(text: str, limit: int) -> str:
        return shorten(text, min(limit, cap))

    title = cut(card.title, Limits.EMBED_TITLE) if card.title and card.title.strip() else None
    footer = cut(card.footer, Limits.FOOTER_TEXT) if card.footer and card.footer.strip() else None
    description = (
        cut(card.description, Limits.EMBED_DESCRIPTION) if card.description.strip() else ""
    )
    fields = tuple(
        Field(
            cut(f.name if f.name.strip() else BLANK, Limits.FIELD_NAME),
            cut(f.value if f.value.strip() else BLANK, Limits.FIELD_VALUE),
            f.inline,
        )
        for f in card.fields[: Limits.EMBED_FIELDS]
    )
    if not (title or description or fields or footer or card.image):
        description = BLANK  # Discord rejects an embed with nothing in it
    colour = card.colour if card.colour is not None and 0 <= card.colour <= Limits.COLOUR else None
    return Card(description, title, footer, colour, fields, card.image or None)


def _within_total(cards: Sequence[Card]) -> tuple[Card, ...]:
    """Fitted cards shrunk together to the 6,000 total, longest texts first.

    Finds the largest cap such that cutting every text to it fits ("water-filling"): the longest
    texts, usually descriptions and then field values, give way first; short titles and names
    only once everything else is as short. A cap of one always fits: ten cards hold at most 530
    texts.
    """
    sizes = [
        len(text)
        for card in cards
        for text in (
            card.title or "",
            card.description,
            card.footer or "",
            *(t for f in card.fields for t in (f.name, f.value)),
        )
    ]
    if sum(sizes) <= Limits.EMBEDS_TOTAL:
        return tuple(cards)
    low, high = 1, max(sizes)
    while low < high:
        cap = (low + high + 1) // 2
        if sum(min(n, cap) for n in sizes) <= Limits.EMBEDS_TOTAL:
            low = cap
        else:
            high = cap - 1
    return tuple(_clamp(card, low) for card in cards)


def fit_card(card: Card) -> Card:
    """`card` as Discord will accept it on its own (each part and the 6,000 total)."""
    return _within_total([_clamp(card, Limits.EMBEDS_TOTAL)])[0]


def fit(message: Outgoing) -> Outgoing:
    """`message` as Discord will accept it: every part within its limit, texts shortened.

    At most 10 cards and 25 buttons are kept (use `pages` for more cards). Duplicate custom_ids
    are a bug in the caller, not text to trim, so they raise ValueError.
    """
    ids = [b.custom_id for b in message.buttons]
    if len(set(ids)) != len(ids):
        raise ValueError(f"duplicate custom_ids in {ids}")
    content = message.content
    return replace(
        message,
        content=shorten(content, Limits.CONTENT) if content and content.strip() else None,
        cards=_within_total([fit_card(card) for card in message.cards[: Limits.EMBEDS]]),
        buttons=tuple(
            replace(b, label=shorten(b.label, Limits.BUTTON_LABEL))
            for b in message.buttons[: Limits.BUTTONS]
        ),
    )


def pages(cards: Sequence[Card]) -> list[tuple[Card, ...]]:
    """Fitted cards grouped into as few messages as the 10-card and 6,000-character limits allow."""
    result: list[tuple[Card, ...]] = []
    page: list[Card] = []
    size = 0
    for card in map(fit_card, cards):
        if page and (len(page) == Limits.EMBEDS or size + card_size(card) > Limits.EMBEDS_TOTAL):
            result.append(tuple(page))
            page, size = [], 0
        page.append(card)
        size += card_size(card)
    if page:
        result.append(tuple(page))
    return result


# --- Discord's JSON ------------------------------------------------------------------------------

_STYLES: Final[dict[ButtonStyle, int]] = {"primary": 1, "secondary": 2, "success": 3, "danger": 4}
_CUSTOM_EMOJI = re.compile(r"<(a?):(\w+):(\d+)>")


def card_payload(card: Card) -> dict[str, Any]:
    """The embed object Discord expects (unset parts left out); pass a fitted card."""
    payload: dict[str, Any] = {"type": "rich"}
    if card.title is not None:
        payload["title"] = card.title
    if card.description:
        payload["description"] = card.description
    if card.colour is not None:
        payload["color"] = card.colour
    if card.fields:
        payload["fields"] = [
            {"name": f.name, "value": f.value, "inline": f.inline} for f in card.fields
        ]
    if card.footer is not None:
        payload["footer"] = {"text": card.footer}
    if card.image:
        payload["image"] = {"url": card.image}
    return payload


def button_payload(button: Button) -> dict[str, Any]:
    """The button component Discord expects (type 2)."""
    payload: dict[str, Any] = {
        "type": 2,
        "style": _STYLES[button.style],
        "custom_id": button.custom_id,
    }
    if button.label:
        payload["label"] = button.label
    if button.emoji:
        custom = _CUSTOM_EMOJI.fullmatch(button.emoji)
        payload["emoji"] = (
            {"name": custom[2], "id": custom[3], "animated": bool(custom[1])}
            if custom
            else {"name": button.emoji}
        )
    return payload
