"""The distress matcher, the phrase file it reads, and the calm words shown when it matches.

The examples live in tests/data/distress_examples.txt so anyone can add a note that was missed
or matched wrongly without touching code.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from bot.distress import DISTRESS_FILE, DistressMatcher, parse_extra_phrases
from bot.errors import BadInput
from bot.texts import Texts

EXAMPLES = Path(__file__).resolve().parent / "data" / "distress_examples.txt"


def examples(sign: str) -> list[str]:
    lines = EXAMPLES.read_text("utf-8").splitlines()
    return [line[2:] for line in lines if line.startswith(f"{sign} ")]


@pytest.fixture(scope="module")
def matcher() -> DistressMatcher:
    return DistressMatcher(Texts())


def test_the_phrase_file_reads_cleanly(matcher: DistressMatcher) -> None:
    assert matcher.problems() == ()


def test_there_are_plenty_of_examples_both_ways() -> None:
    assert len(examples("+")) >= 40 and len(examples("-")) >= 25


@pytest.mark.parametrize("note", examples("+"))
def test_words_of_distress_match(matcher: DistressMatcher, note: str) -> None:
    assert matcher.matches(note)


@pytest.mark.parametrize("note", examples("-"))
def test_everyday_sayings_do_not(matcher: DistressMatcher, note: str) -> None:
    assert not matcher.matches(note)


@pytest.mark.parametrize(
    "note",
    [
        "I don’t want to be here",  # curly apostrophe
        "i want to d\u200bie",  # zero-width space inside a word
        "I want to\u00a0die",  # no-break space
        "ｋｉｌｌ ｍｙｓｅｌｆ",  # fullwidth
        "kíll mýself",  # accents
        "k1ll mys3lf",  # look-alike digits
        "KILLLLL MYSELFFFF",
        "i want to... die",  # punctuation between the words
        "I can't go on.\nAnyway, dinner",
    ],
)
def test_how_a_note_is_typed_does_not_matter(matcher: DistressMatcher, note: str) -> None:
    assert matcher.matches(note)


@pytest.mark.parametrize(
    "note",
    [
        "",
        "   ",
        "my nose is blocked",  # "noose" keeps its double letter
        "I taught myself a new skill",  # whole words only
        "I can't go on holiday",  # "can't go on" must end the sentence
        "I'd die for pizza 🍕",
    ],
)
def test_and_it_stays_precise(matcher: DistressMatcher, note: str) -> None:
    assert not matcher.matches(note)


def test_an_everyday_saying_does_not_hide_a_real_cry_in_the_same_note(
    matcher: DistressMatcher,
) -> None:
    assert matcher.matches("cut myself a slice of cake, then cut myself again")
    assert matcher.matches("this workout is killing me. honestly i want to die")


def test_the_compiled_phrases_are_reused(matcher: DistressMatcher) -> None:
    assert matcher._compiled() is matcher._compiled()


# --- moderators' own phrases -------------------------------------------------------------


BRIDGE = "going to the bridge tonight"


def test_a_moderators_phrase_matches_only_when_supplied(matcher: DistressMatcher) -> None:
    note = "Going to the bridge tonight."
    assert not matcher.matches(note)
    assert matcher.matches(note, [BRIDGE])
    assert matcher.matches("ok so im GOING to the bridge, tonight", (BRIDGE,))
    assert not matcher.matches("going to the bridge tomorrow", [BRIDGE])
    assert not matcher.matches("a quiet evening in", [BRIDGE])


def test_moderators_phrases_also_work_as_the_stored_text(matcher: DistressMatcher) -> None:
    stored = "hiding the pills\n" + BRIDGE
    assert matcher.matches("I'm going to the bridge tonight", stored)
    assert not matcher.matches("a bright day", stored)  # not split into single letters


def test_a_stray_short_phrase_from_storage_is_ignored(matcher: DistressMatcher) -> None:
    assert not matcher.matches("a bright day", ["a", "!!"])


def test_blank_lines_repeats_and_spacing_are_tidied() -> None:
    raw = f"\n  {BRIDGE}  \n\nGoing  to the Bridge tonight!\nhiding the pills\n\t\n"
    assert parse_extra_phrases(raw) == (BRIDGE, "hiding the pills")


def test_repeats_are_spotted_through_apostrophes_and_case() -> None:
    assert parse_extra_phrases("Can't keep going\ncan’t keep going\nCANT KEEP GOING") == (
        "Can't keep going",
    )


def test_nothing_typed_is_no_phrases() -> None:
    assert parse_extra_phrases("") == ()
    assert parse_extra_phrases(" \n\n\t ") == ()


def test_control_characters_are_removed() -> None:
    assert parse_extra_phrases("not safe\x00 tonight\x1b") == ("not safe tonight",)


def test_a_long_phrase_is_cut_at_a_word() -> None:
    long = "so tired of " + "everything and everyone " * 10
    [cut] = parse_extra_phrases(long)
    assert len(cut) <= 100 and long.startswith(cut) and long[len(cut)] == " "


def test_a_long_phrase_without_spaces_is_cut_at_100() -> None:
    assert parse_extra_phrases("a" * 150) == ("a" * 100,)


def test_the_first_fifty_phrases_are_kept() -> None:
    raw = "\n".join(f"phrase number {n}" for n in range(60))
    kept = parse_extra_phrases(raw)
    assert len(kept) == 50 and kept[-1] == "phrase number 49"


@pytest.mark.parametrize("entry", ["ok", "x", "!!", "988", "..."])
def test_a_phrase_with_fewer_than_three_letters_is_refused_kindly(entry: str) -> None:
    with pytest.raises(BadInput) as refused:
        parse_extra_phrases(f"{BRIDGE}\n{entry}")
    assert f"`{entry}`" in refused.value.message and "3 letters" in refused.value.message


def test_a_phrase_of_only_common_words_is_refused_kindly() -> None:
    with pytest.raises(BadInput, match="common") as refused:
        parse_extra_phrases("The")
    assert "`The`" in refused.value.message


def test_backticks_cannot_break_the_message() -> None:
    with pytest.raises(BadInput) as refused:
        parse_extra_phrases("`o`")
    assert refused.value.message.startswith("`o` is too short")


# --- the phrase file, edited while Haven runs ------------------------------------------------


def write(directory: Path, text: str, mtime: float) -> None:
    path = directory / DISTRESS_FILE
    path.write_text(text, "utf-8")
    os.utime(path, (mtime, mtime))  # a distinct mtime: two quick writes can share one


def test_an_edit_to_the_phrase_file_applies_without_a_restart(tmp_path: Path) -> None:
    write(tmp_path, "# comment\nsinking (feeling|feelings)\n", 1_000_000)
    matcher = DistressMatcher(Texts(tmp_path))
    assert matcher.matches("a sinking feeling")
    assert not matcher.matches("drowning in it")
    write(tmp_path, "drown* in it\n", 2_000_000)
    assert matcher.matches("drowning in it")
    assert not matcher.matches("a sinking feeling")


def test_the_pattern_syntax(tmp_path: Path) -> None:
    write(
        tmp_path,
        "@me = myself | me\n"
        "hurt* @me [on purpose]\n"
        "(can't|cannot) go on <end>\n"
        "! hurt myself at the gym\n",
        1_000_000,
    )
    matcher = DistressMatcher(Texts(tmp_path))
    assert matcher.matches("hurting myself")
    assert matcher.matches("hurts me")
    assert matcher.matches("i cannot go on!")
    assert not matcher.matches("i cannot go on holiday")
    assert not matcher.matches("hurt myself at the gym")


def test_a_line_that_cannot_be_read_is_skipped_and_the_rest_still_work(tmp_path: Path) -> None:
    write(tmp_path, "unclosed (group\n@nothing [defined]\nx*y\nstill works\n", 1_000_000)
    matcher = DistressMatcher(Texts(tmp_path))
    assert matcher.matches("it still works")
    problems = matcher.problems()
    assert len(problems) == 3
    assert "not closed" in problems[0] and "@nothing" in problems[1] and "`*`" in problems[2]


# --- the calm words around it ----------------------------------------------------------------


def test_the_default_resources_say_they_are_general_and_promise_nothing_untrue() -> None:
    text = Texts().text("support_resources.md")
    assert "General resources (international)" in text
    assert "hasn't added" in text
    assert "findahelpline.com" in text
    assert "confidential" not in text.lower()
    assert len(text) < 1500


# Practices must work without sight or movement; these words would assume them.
ASSUMES = re.compile(r"\b(look|see|seeing|watch|eyes|feet|press|stand|walk|stretch)\b", re.I)


def test_grounding_practices_are_short_and_assume_no_sight_or_movement() -> None:
    practices = Texts().entries("grounding.txt")
    assert 5 <= len(practices) <= 7
    for practice in practices:
        assert len(practice) <= 350, practice
        assert not ASSUMES.search(practice), practice
