"""bot.messages: whatever text members write, the messages Haven builds pass Discord's limits.

"Discord accepts it" is checked with the fake's own validator (tests/fakediscord/validate.py),
the same rules the end-to-end tests enforce.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import discord
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.messages import (
    BLANK,
    Button,
    Card,
    Field,
    Limits,
    Outgoing,
    Palette,
    button_payload,
    card_payload,
    card_size,
    fields_from_lines,
    fit,
    fit_card,
    pack_lines,
    pages,
    shorten,
)
from bot.texts import plain
from tests.fakediscord.validate import (
    FormErrors,
    validate_message,
    validate_modal,
)

FAMILY = "👩\u200d👩\u200d👧\u200d👦"  # one glyph, seven code points
FLAG = "🇺🇦"
MENTION = "<@123456789012345678>"
TIMESTAMP = "<t:1700000000:R>"
LINK = "https://example.com/a_b?c=1"
TOKENS = (MENTION, "<#42>", "<@&7>", TIMESTAMP, LINK, "[a link](https://example.com)")


def body(message: Outgoing) -> dict[str, Any]:
    """The message-create body Discord would get (buttons laid out five to a row)."""
    buttons = [button_payload(b) for b in message.buttons]
    return {
        "content": message.content,
        "embeds": [card_payload(c) for c in message.cards],
        "components": [
            {"type": 1, "components": buttons[i : i + Limits.BUTTONS_PER_ROW]}
            for i in range(0, len(buttons), Limits.BUTTONS_PER_ROW)
        ],
    }


def errors(payload: dict[str, Any]) -> list[str]:
    """What the fake's validator objects to (an empty message is a separate concern)."""
    errs = FormErrors()
    json.dumps(payload)  # it must be sendable as JSON at all
    validate_message(payload, errs, check_empty=False)
    return [f"{'.'.join(map(str, path))}: {message}" for path, _, message in errs.items]


def accepted(message: Outgoing) -> None:
    assert errors(body(message)) == []


def odd_backslashes(text: str) -> bool:
    return (len(text) - len(text.rstrip("\\"))) % 2 == 1


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


# --- the limits are the validator's -------------------------------------------------------------


def embed(n: int, key: str) -> dict[str, Any]:
    """A message whose one embed has an `n`-character `key`."""
    text = "x" * n
    parts: dict[str, dict[str, Any]] = {
        "name": {"fields": [{"name": text, "value": "v"}]},
        "value": {"fields": [{"name": "n", "value": text}]},
        "footer": {"footer": {"text": text}},
        "author": {"author": {"name": text}},
    }
    return {"embeds": [parts.get(key, {key: text})]}


def button_rows(rows: int, per_row: int, **changes: str) -> dict[str, Any]:
    def button(i: int) -> dict[str, Any]:
        return {"type": 2, "style": 2, "custom_id": f"b{i}", "label": "b", **changes}

    return {
        "components": [
            {"type": 1, "components": [button(r * per_row + i) for i in range(per_row)]}
            for r in range(rows)
        ]
    }


def select(n_options: int = 1, placeholder: str | None = None, **option: str) -> dict[str, Any]:
    options = [{"label": "l", "value": f"v{i}", "description": "d"} for i in range(n_options)]
    options[0].update(option)
    menu = {"type": 3, "custom_id": "s", "options": options, "placeholder": placeholder}
    return {"components": [{"type": 1, "components": [menu]}]}


LIMIT_CASES: dict[str, tuple[int, Callable[[int], dict[str, Any]]]] = {
    "content": (Limits.CONTENT, lambda n: {"content": "x" * n}),
    "embeds": (Limits.EMBEDS, lambda n: {"embeds": [{"description": "x"}] * n}),
    "title": (Limits.EMBED_TITLE, lambda n: embed(n, "title")),
    "description": (Limits.EMBED_DESCRIPTION, lambda n: embed(n, "description")),
    "field name": (Limits.FIELD_NAME, lambda n: embed(n, "name")),
    "field value": (Limits.FIELD_VALUE, lambda n: embed(n, "value")),
    "footer": (Limits.FOOTER_TEXT, lambda n: embed(n, "footer")),
    "author": (Limits.AUTHOR_NAME, lambda n: embed(n, "author")),
    "fields": (
        Limits.EMBED_FIELDS,
        lambda n: {"embeds": [{"fields": [{"name": "n", "value": "v"}] * n}]},
    ),
    "total": (
        Limits.EMBEDS_TOTAL,
        lambda n: {"embeds": [{"description": "x" * (n - 4000)}, {"description": "x" * 4000}]},
    ),
    "button label": (Limits.BUTTON_LABEL, lambda n: button_rows(1, 1, label="x" * n)),
    "custom_id": (Limits.CUSTOM_ID, lambda n: button_rows(1, 1, custom_id="x" * n)),
    "action rows": (Limits.ACTION_ROWS, lambda n: button_rows(n, 1)),
    "buttons per row": (Limits.BUTTONS_PER_ROW, lambda n: button_rows(1, n)),
    "select placeholder": (Limits.SELECT_PLACEHOLDER, lambda n: select(placeholder="x" * n)),
    "select options": (Limits.SELECT_OPTIONS, lambda n: select(n_options=n)),
    "option label": (Limits.SELECT_OPTION_LABEL, lambda n: select(label="x" * n)),
    "option value": (Limits.SELECT_OPTION_VALUE, lambda n: select(value="x" * n)),
    "option description": (Limits.SELECT_OPTION_DESCRIPTION, lambda n: select(description="x" * n)),
}


@pytest.mark.parametrize("what", LIMIT_CASES)
def test_each_message_limit_is_exactly_the_validators(what: str) -> None:
    limit, build = LIMIT_CASES[what]
    assert errors(build(limit)) == []
    assert errors(build(limit + 1)) != []


def modal(**text_input: Any) -> dict[str, Any]:
    title = text_input.pop("title", "t")
    field = {"type": 4, "custom_id": "i", "style": 2, "label": "l", **text_input}
    return {"custom_id": "m", "title": title, "components": [{"type": 1, "components": [field]}]}


@pytest.mark.parametrize(
    ("key", "limit"),
    [
        ("title", Limits.MODAL_TITLE),
        ("label", Limits.TEXT_INPUT_LABEL),
        ("placeholder", Limits.TEXT_INPUT_PLACEHOLDER),
        ("value", Limits.TEXT_INPUT_VALUE),
    ],
)
def test_modal_limits_are_exactly_the_validators(key: str, limit: int) -> None:
    for n, ok in ((limit, True), (limit + 1, False)):
        errs = FormErrors()
        validate_modal(modal(**{key: "x" * n}), errs)
        assert (not errs) is ok, (key, n)


# --- shorten -------------------------------------------------------------------------------------


def test_shorten_leaves_text_that_fits_alone() -> None:
    assert shorten("a quiet evening", 15) == "a quiet evening"
    assert shorten("", 1) == ""


def test_shorten_cuts_at_a_word_and_marks_the_cut() -> None:
    assert shorten("a quiet evening with tea", 20) == "a quiet evening…"


def test_shorten_prefers_a_line_break_in_the_last_half() -> None:
    assert shorten("first thought\nsecond thought here", 22) == "first thought…"


def test_shorten_cuts_a_long_word_hard_when_it_must() -> None:
    assert shorten("x" * 50, 10) == "x" * 9 + "…"


def test_shorten_never_leaves_half_an_escape() -> None:
    escaped = plain("*" * 20)  # \*\*\*…
    for limit in range(2, 30):
        cut = shorten(escaped, limit)
        assert len(cut) <= limit
        assert not odd_backslashes(cut.removesuffix("…")), (limit, cut)


@pytest.mark.parametrize("token", TOKENS)
def test_shorten_keeps_markup_whole_or_leaves_it_out(token: str) -> None:
    text = f"hello {token}rest"
    for limit in range(8, len(text)):
        kept = shorten(text, limit).removesuffix("…")
        assert kept == "hello" or kept.startswith(f"hello {token}"), (limit, kept)


@pytest.mark.parametrize("glyph", [FAMILY, FLAG, "🏳️\u200d🌈", "👍🏽", "1️⃣", "e\u0301\u0323"])
def test_shorten_never_splits_a_glyph(glyph: str) -> None:
    text = glyph * 6
    for limit in range(2, len(text)):
        kept = shorten(text, limit).removesuffix("…")
        assert kept == glyph * (len(kept) // len(glyph)), (limit, kept)


def test_shorten_leaves_out_markup_that_cannot_fit_whole() -> None:
    assert shorten(f"{MENTION} is here", 12) == "…"
    assert shorten(f"{LINK}/and/more", 20) == "…"
    assert shorten(FAMILY, 5) == "…"


def test_shorten_needs_room_for_something() -> None:
    assert shorten("too long", 1) == "…"
    with pytest.raises(ValueError):
        shorten("x", 0)


# --- pack_lines and fields_from_lines -------------------------------------------------------------


def test_pack_lines_packs_as_many_lines_as_fit() -> None:
    assert pack_lines(["one", "two", "three"], 7) == ["one\ntwo", "three"]
    assert pack_lines(["one", "two", "three"], 100) == ["one\ntwo\nthree"]
    assert pack_lines([], 10) == []
    assert pack_lines(["  ", ""], 10) == []


def test_pack_lines_continues_a_long_line_in_the_next_chunk() -> None:
    line = "the kettle is on and the window is open"
    chunks = pack_lines(["before", line], 16)
    assert chunks == ["before", "the kettle is on", "and the window", "is open"]


def test_pack_lines_splits_lines_that_hold_newlines() -> None:
    assert pack_lines(["a\nb", "c"], 3) == ["a\nb", "c"]


def test_pack_lines_does_not_start_a_chunk_with_an_accent() -> None:
    text = "x" * 9 + " \u0301" + "y" * 9
    for chunk in pack_lines([text], 10):
        assert not chunk.startswith("\u0301")


def test_fields_from_lines_names_the_continuations() -> None:
    lines = [f"line {i} " + "x" * 200 for i in range(10)]
    fields = fields_from_lines("Most recent", lines)
    assert [f.name for f in fields] == ["Most recent"] + ["Most recent (continued)"] * (
        len(fields) - 1
    )
    assert "\n".join(f.value for f in fields).split("\n") == lines
    assert all(len(f.value) <= Limits.FIELD_VALUE for f in fields)
    long_name = fields_from_lines("n" * 300, lines)
    assert all(len(f.name) <= Limits.FIELD_NAME for f in long_name)
    assert long_name[1].name.endswith("… (continued)")
    assert fields_from_lines("empty", []) == ()


def test_ten_ordinary_escaped_notes_fit_in_my_checkins() -> None:
    """The `/my checkins` failure: ten ~80-character notes, escaped, passed 1,024 in one field."""
    note = "feeling a bit [better] - slept ~7h, walked (slowly) by the river | tea > coffee #1"
    lines = [f"<t:{1700000000 + i}:d> Okay · 3/5 — {plain(note)}" for i in range(10)]
    assert len("\n".join(lines)) > Limits.FIELD_VALUE
    card = Card(
        "12 check-ins in 30 days",
        title="Your check-ins",
        colour=Palette.GENTLE,
        fields=fields_from_lines("Most recent", lines),
    )
    message = fit(Outgoing(cards=(card,)))
    accepted(message)
    assert "\n".join(f.value for f in message.cards[0].fields).split("\n") == lines


# --- fit_card and fit -----------------------------------------------------------------------------


def test_fit_card_clamps_every_part() -> None:
    card = fit_card(
        Card(
            "d" * 5000,
            title="t" * 300,
            footer="f" * 3000,
            fields=tuple(Field("n" * 300, "v" * 2000) for _ in range(30)),
        )
    )
    assert len(card.title or "") <= Limits.EMBED_TITLE
    assert len(card.description) <= Limits.EMBED_DESCRIPTION
    assert len(card.footer or "") <= Limits.FOOTER_TEXT
    assert len(card.fields) == Limits.EMBED_FIELDS
    assert card_size(card) <= Limits.EMBEDS_TOTAL
    accepted(Outgoing(cards=(card,)))


def test_fit_card_makes_blank_parts_valid() -> None:
    card = fit_card(Card("   ", title=" ", footer="", colour=-1, fields=(Field(" ", "\n"),)))
    assert card == Card("", fields=(Field(BLANK, BLANK),))
    assert fit_card(Card("")) == Card(BLANK)
    assert fit_card(Card("", image="attachment://chart.png")).description == ""


def test_fit_card_leaves_a_card_that_fits_alone() -> None:
    card = Card(
        "Take your time.", title="Checking in", colour=Palette.CALM, fields=(Field("a", "b"),)
    )
    assert fit_card(card) == card


def test_fit_shrinks_the_longest_part_first() -> None:
    """A support card with long server resources, and a grounding card beside it."""
    resources = "\n".join(f"Line {i}: call 0800 000 {i:03}, any time" for i in range(110))
    support = Card(resources[:4096], title="If you need support now", colour=Palette.SUPPORT)
    grounding = Card(
        "Notice five things you can see. " * 70,
        title="A moment to ground",
        fields=(Field("Breathe", "In for four, out for six."),),
    )
    assert card_size(support) + card_size(grounding) > Limits.EMBEDS_TOTAL
    fitted = fit(Outgoing(cards=(support, grounding)))
    accepted(fitted)
    assert fitted.cards[1] == grounding  # the shorter card is untouched
    cut = fitted.cards[0].description
    assert cut.endswith("…") and resources.startswith(cut.removesuffix("…"))
    assert len(cut) > 2500  # shortened only as much as needed (to a line break)


def test_fit_clamps_content_cards_and_buttons() -> None:
    buttons = tuple(Button(f"b:{i}", "a label " * 20) for i in range(30))
    message = fit(Outgoing("x " * 1500, cards=(Card("c"),) * 12, buttons=buttons, ping_users=(5,)))
    assert len(message.content or "") <= Limits.CONTENT
    assert len(message.cards) == Limits.EMBEDS
    assert len(message.buttons) == Limits.BUTTONS
    assert all(len(b.label) <= Limits.BUTTON_LABEL for b in message.buttons)
    assert message.ping_users == (5,)
    accepted(message)
    assert fit(Outgoing("  ")).content is None


def test_fit_refuses_duplicate_custom_ids() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        fit(Outgoing(buttons=(Button("same", "a"), Button("same", "b"))))


def test_buttons_need_a_routable_id_and_something_to_show() -> None:
    with pytest.raises(ValueError):
        Button("x" * 101, "label")
    with pytest.raises(ValueError):
        Button("", "label")
    with pytest.raises(ValueError):
        Button("id", "  ")
    assert Button("id", "", emoji="🌿").emoji == "🌿"


# --- pages ----------------------------------------------------------------------------------------


def test_pages_split_by_card_count_and_total_size() -> None:
    assert [len(p) for p in pages([Card("short")] * 23)] == [10, 10, 3]
    big = pages([Card("x" * 4000)] * 3)
    assert [len(p) for p in big] == [1, 1, 1]
    assert pages([]) == []
    for page in big:
        accepted(Outgoing(cards=page))


# --- payloads -------------------------------------------------------------------------------------


def test_card_payload_leaves_out_unset_parts() -> None:
    assert card_payload(Card("hi")) == {"type": "rich", "description": "hi"}
    full = Card(
        "d",
        title="t",
        footer="f",
        colour=Palette.NUDGE,
        fields=(Field("n", "v", True),),
        image="attachment://chart.png",
    )
    assert card_payload(full) == {
        "type": "rich",
        "title": "t",
        "description": "d",
        "color": 0xE8C07D,
        "footer": {"text": "f"},
        "fields": [{"name": "n", "value": "v", "inline": True}],
        "image": {"url": "attachment://chart.png"},
    }


def test_card_payload_renders_like_a_hand_built_embed() -> None:
    """The renderer will be `discord.Embed.from_dict(card_payload(fit_card(card)))`."""
    card = Card(
        "d",
        title="t",
        footer="f",
        colour=Palette.CALM,
        fields=(Field("n", "v"),),
        image="attachment://chart.png",
    )
    by_hand = discord.Embed(title="t", description="d", colour=Palette.CALM)
    by_hand.add_field(name="n", value="v", inline=False)
    by_hand.set_footer(text="f")
    by_hand.set_image(url="attachment://chart.png")
    assert discord.Embed.from_dict(card_payload(card)).to_dict() == by_hand.to_dict()


def test_button_payload() -> None:
    assert button_payload(Button("a:1", "Yes", "success")) == {
        "type": 2,
        "style": 3,
        "custom_id": "a:1",
        "label": "Yes",
    }
    assert button_payload(Button("a:2", "", "danger", emoji="🌿"))["emoji"] == {"name": "🌿"}
    custom = button_payload(Button("a:3", "Hi", "primary", emoji="<a:wave:123>"))
    assert custom["style"] == 1
    assert custom["emoji"] == {"name": "wave", "id": "123", "animated": True}


# --- property: adversarial text always makes a message Discord accepts ----------------------------

PIECES = [
    "word", "gentle words ", " ", "   ", "\n", "\n\n", "\t", "@everyone", "@here", *TOKENS,
    "*", "**", "_", "`", "~~", "||", ">", "# ", "- ", "\\", "(", ")", "[", "]",
    FAMILY, FLAG, "🇺", "🏳️\u200d🌈", "👍🏽", "1️⃣", "e\u0301", "\u0301", "\u0301\u0302\u0303",
    "مرحبا بالعالم", "שלום עולם", "\u200f", "\u200b", "漢字かな",
    "a" * 1500, "long words " * 150, "x" * 99,
]  # fmt: skip

raw_texts = st.one_of(
    st.text(max_size=200),
    st.lists(st.sampled_from(PIECES), max_size=40).map("".join),
    st.tuples(st.text(min_size=1, max_size=4), st.integers(1, 2500)).map(lambda t: t[0] * t[1]),
)
# User text goes out through `plain`, which only adds backslashes: try both.
texts = st.tuples(raw_texts, st.booleans()).map(lambda t: plain(t[0]) if t[1] else t[0])
fields = st.builds(Field, texts, texts, st.booleans())
cards = st.builds(
    Card,
    description=texts,
    title=st.none() | texts,
    footer=st.none() | texts,
    colour=st.none() | st.integers(-5, 0x1FFFFFF),
    fields=st.lists(fields, max_size=27).map(tuple),
    image=st.none() | st.just("attachment://checkins.png"),
)
labels = texts.filter(str.strip)
button_lists = st.lists(labels, max_size=30).map(
    lambda ls: tuple(Button(f"haven:{i}", label) for i, label in enumerate(ls))
)
messages = st.builds(
    Outgoing,
    content=st.none() | texts,
    cards=st.lists(cards, max_size=11).map(tuple),
    buttons=button_lists,
)
FAST = settings(max_examples=200, deadline=None)


@FAST
@given(messages)
def test_fit_always_gives_a_message_discord_accepts(message: Outgoing) -> None:
    fitted = fit(message)
    accepted(fitted)
    assert fit(fitted) == fitted  # fitting twice changes nothing
    assert len(fitted.cards) == min(len(message.cards), Limits.EMBEDS)  # no card dropped


@FAST
@given(st.lists(cards, max_size=15))
def test_pages_always_give_messages_discord_accepts(cards: list[Card]) -> None:
    result = pages(cards)
    assert sum(map(len, result)) == len(cards)
    for page in result:
        accepted(Outgoing(cards=page))


@FAST
@given(st.lists(texts, max_size=20), texts)
def test_fields_from_lines_always_fit(lines: list[str], name: str) -> None:
    fields = fields_from_lines(name, lines)
    for field in fields:  # each as built, before any fitting
        accepted(Outgoing(cards=(Card("", fields=(field,)),)))
    assert squash("".join(f.value for f in fields)) == squash("".join(lines))


@FAST
@given(st.lists(texts, max_size=20), st.integers(1, 2000))
def test_pack_lines_loses_nothing(lines: list[str], limit: int) -> None:
    chunks = pack_lines(lines, limit)
    assert all(len(chunk) <= limit and chunk.strip() for chunk in chunks)
    # Nothing is lost: only whitespace at the split points differs.
    assert squash("".join(chunks)) == squash("".join(lines))


@FAST
@given(st.lists(raw_texts.map(plain), max_size=20), st.integers(2, 2000))
def test_pack_lines_keeps_escapes_whole(lines: list[str], limit: int) -> None:
    """Split between a backslash and its character, the next chunk would turn markdown on."""
    chunks = pack_lines(lines, limit)
    assert not any(odd_backslashes(chunk) for chunk in chunks)
    assert not any(re.match(r"[*_~`|>#\[\]()-]", chunk) for chunk in chunks[1:] if chunk)


@FAST
@given(texts, st.integers(1, 5000))
def test_shorten_marks_a_cut_and_keeps_the_start(text: str, limit: int) -> None:
    result = shorten(text, limit)
    assert len(result) <= limit
    if len(text) <= limit:
        assert result == text
        return
    assert result.endswith("…")
    kept = result.removesuffix("…")
    assert text.startswith(kept)
    assert not odd_backslashes(kept)
    for token in TOKENS:
        for match in re.finditer(re.escape(token), text):
            assert not match.start() < len(kept) < match.end(), (token, kept[-20:])
