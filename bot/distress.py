"""Words of acute distress in a check-in note: when they appear, the private reply shows support.

The phrases live in `data/distress_phrases.txt` (its header documents the small pattern syntax)
so moderators can edit them without code; a server's moderators may add their own literal
phrases too. Matching is deliberately forgiving of how people type in distress — word forms,
misspellings, chat spellings, stretched letters, look-alike characters — because a false match
only shows the member a calm card privately, while a miss leaves someone without it. Everyday
sayings ("this workout is killing me", "cut myself a slice of cake") are listed in the same
file as lines to ignore.

Nothing here imports Discord, touches the database or sends anything.
"""

from __future__ import annotations

import itertools
import logging
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from bot.errors import BadInput
from bot.inputs import clean_text
from bot.texts import Texts

log = logging.getLogger(__name__)

DISTRESS_FILE = "distress_phrases.txt"

EXTRA_MAX = 50  # moderators' own phrases per server
EXTRA_CHARS = 100  # per phrase; a longer one is cut at a word boundary
EXTRA_MIN_LETTERS = 3  # fewer would show the card on ordinary notes

# --- folding: the text both a note and a phrase are compared in ----------------------------
#
# A folded text is words separated by single spaces, with "." standing for a sentence break,
# starting with a space and ending with " . ", e.g. " i cant . go on . ". Words hold only
# letters, digits and combining marks, so a pattern can rely on " " and "." as boundaries.

_APOSTROPHES = str.maketrans("", "", "'’‘ʼ`´′")
_BREAKS = frozenset(".!?;:,…。\n")
# Combining accents (and zalgo stacks), enclosing marks, and invisible format characters such
# as zero-width spaces and joiners: none of them changes what a word says.
_DROPPED = frozenset(("Mn", "Me", "Cf"))
# Look-alikes only between two letters ("k1ll", "h@rm"), so "3am", "4ever" and "2" stay put.
_LEET_INSIDE = re.compile(r"(?<=[^\W\d_])[013457@$]+(?=[^\W\d_])")
_LEET = str.maketrans("013457@$", "oieastas")


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(
        c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) not in _DROPPED
    )
    text = unicodedata.normalize("NFC", text).translate(_APOSTROPHES)
    text = _LEET_INSIDE.sub(lambda m: m.group().translate(_LEET), text)
    spaced = "".join(
        c if unicodedata.category(c)[0] in "LNM" else " . " if c in _BREAKS else " " for c in text
    )
    tokens: list[str] = []
    for token in spaced.split():
        if token != "." or (tokens and tokens[-1] != "."):
            tokens.append(token)
    if tokens and tokens[-1] == ".":
        tokens.pop()
    return " " + " ".join([*tokens, "."]) + " "


def _words(text: str) -> list[str]:
    return [t for t in _fold(text).split() if t != "."]


def _letters(words: Sequence[str]) -> int:
    return sum(c.isalpha() for w in words for c in w)


# --- compiling phrases to regular expressions ----------------------------------------------

# Each word of a phrase takes the space after it and any sentence breaks that follow, so the
# next word starts right there ("go on, then" matches "go on then"). The whole pattern then
# starts with a literal space and most alternatives with a literal letter, which lets `re` skip
# quickly past positions that cannot match: this runs on every check-in.
_AFTER = r" (?:\. )*"
_END = r"(?<=\. )"  # the last word was followed by a sentence break


def _word_regex(word: str, *, stem: bool = False) -> str:
    """A folded word where stretched letters still match: "die" matches "diiie", and "kill"
    matches "killll" — but a doubled letter stays doubled, so "noose" never matches "nose"."""
    runs = ((re.escape(char), len(list(run))) for char, run in itertools.groupby(word))
    # "cc*" rather than "c+": `re` skips a branch that starts with a plain character quickly.
    body = "".join(c * n + c + "*" for c, n in runs)
    return body + (r"\S*" if stem else "") + _AFTER


class PhraseError(ValueError):
    """A line of the phrase file that cannot be read; the message says why, plainly."""


@dataclass(frozen=True)
class _Node:
    """A compiled piece of a phrase."""

    regex: str
    optional: bool  # it can match no words at all


_TOKEN = re.compile(r"\s*(<end>|[()\[\]|]|@\w+|[^\s()\[\]|@<>]+)")
_DEFINITION = re.compile(r"@(\w+)\s*=(.*)")


def _tokens(pattern: str) -> list[str]:
    found, pos = [], 0
    while pos < len(pattern):
        m = _TOKEN.match(pattern, pos)
        if m is None:
            if not pattern[pos:].strip():
                break
            raise PhraseError(f"can't read `{pattern[pos:].strip()[:20]}`")
        found.append(m.group(1))
        pos = m.end()
    return found


class _Parser:
    def __init__(self, pattern: str, lists: dict[str, _Node]) -> None:
        self._tokens = _tokens(pattern)
        self._at = 0
        self._lists = lists

    def parse(self) -> _Node:
        node = self._choices()
        if self._peek() is not None:
            raise PhraseError(f"unexpected `{self._peek()}`")
        return node

    def _peek(self) -> str | None:
        return self._tokens[self._at] if self._at < len(self._tokens) else None

    def _take(self) -> str:
        token = self._tokens[self._at]
        self._at += 1
        return token

    def _choices(self) -> _Node:
        options = [self._sequence()]
        while self._peek() == "|":
            self._take()
            options.append(self._sequence())
        if len(options) == 1:
            return options[0]
        regex = "(?:" + "|".join(o.regex for o in options) + ")"
        return _Node(regex, any(o.optional for o in options))

    def _sequence(self) -> _Node:
        items: list[_Node] = []
        while self._peek() not in (None, "|", ")", "]"):
            items.append(self._item())
        return _Node("".join(i.regex for i in items), all(i.optional for i in items))

    def _group(self, close: str) -> _Node:
        node = self._choices()
        if self._peek() != close:
            raise PhraseError(f"a bracket is not closed: expected `{close}`")
        self._take()
        return node

    def _item(self) -> _Node:
        token = self._take()
        if token in (")", "]", "|"):
            raise PhraseError(f"unexpected `{token}`")
        if token == "(":
            node = self._group(")")
            return _Node(f"(?:{node.regex})", node.optional)
        if token == "[":
            node = self._group("]")
            return _Node(f"(?:{node.regex})?", True)
        if token == "<end>":
            return _Node(_END, True)
        if token.startswith("@"):
            if token[1:] not in self._lists:
                raise PhraseError(f"`{token}` is not defined on a line above")
            node = self._lists[token[1:]]
            return _Node(f"(?:{node.regex})", node.optional)
        stem = token.endswith("*")
        if "*" in token[:-1] or token == "*":
            raise PhraseError(f"`*` goes only at the end of a word, as in `hurt*` (`{token}`)")
        words = _words(token.rstrip("*"))
        if not words:
            raise PhraseError(f"`{token}` has no letters to match")
        last = len(words) - 1
        regex = "".join(_word_regex(w, stem=stem and i == last) for i, w in enumerate(words))
        return _Node(regex, False)


def _phrase(pattern: str, lists: dict[str, _Node]) -> str:
    node = _Parser(pattern, lists).parse()
    if node.optional:
        raise PhraseError("every part is optional, so it would match any note")
    return node.regex


@dataclass(frozen=True)
class _Compiled:
    phrases: re.Pattern[str] | None
    ignored: re.Pattern[str] | None  # everyday sayings whose words are skipped before matching
    problems: tuple[str, ...]


def _either(regexes: list[str], start: str = " ") -> re.Pattern[str] | None:
    if not regexes:
        return None
    return re.compile(start + "(?:" + "|".join(regexes) + ")")


@lru_cache(maxsize=4)
def _compile(lines: tuple[str, ...]) -> _Compiled:
    lists: dict[str, _Node] = {}
    phrases: list[str] = []
    ignored: list[str] = []
    problems: list[str] = []
    for line in lines:
        try:
            if definition := _DEFINITION.fullmatch(line):
                name, body = definition.groups()
                if not body.strip():
                    raise PhraseError("the list is empty")
                lists[name] = _Parser(body, lists).parse()
            else:
                regex = _phrase(line.removeprefix("!"), lists)
                # Compiled alone first, so one bad line can never break the others.
                re.compile(regex)
                (ignored if line.startswith("!") else phrases).append(regex)
        except PhraseError as e:
            problems.append(f"{line[:80]} — {e}")
        except (re.error, RecursionError):  # every word is escaped; only absurd nesting gets here
            problems.append(f"{line[:80]} — too many brackets inside one another")
    for problem in problems:
        log.warning("Skipped a line of %s: %s", DISTRESS_FILE, problem)
    # Sayings to ignore can follow one another, and the previous one took the space between.
    return _Compiled(_either(phrases), _either(ignored, "(?<= )"), tuple(problems))


@lru_cache(maxsize=256)
def _literal(phrases: tuple[str, ...]) -> re.Pattern[str] | None:
    """Moderators' own phrases, matched as written (no pattern syntax), folded like notes."""
    regexes = []
    for phrase in phrases:
        words = _words(phrase)
        if _letters(words) >= EXTRA_MIN_LETTERS:  # a stray "a" would match almost any note
            regexes.append("".join(_word_regex(w) for w in words))
    return _either(regexes)


_WORD = re.compile(r"[^ .]+")


class DistressMatcher:
    """Does a note hold words of acute distress? Re-reads the phrase file when it changes."""

    def __init__(self, texts: Texts) -> None:
        self._texts = texts

    def _compiled(self) -> _Compiled:
        return _compile(tuple(self._texts.lines(DISTRESS_FILE)))

    def matches(self, note: str, extra_phrases: Sequence[str] = ()) -> bool:
        folded = _fold(note)
        if folded == " . ":
            return False
        if isinstance(extra_phrases, str):  # the stored text, not yet split: one per line
            extra_phrases = extra_phrases.splitlines()
        # The server's own phrases are deliberate, so the everyday sayings never hide them.
        extra = _literal(tuple(extra_phrases)) if extra_phrases else None
        if extra is not None and extra.search(folded):
            return True
        compiled = self._compiled()
        if compiled.phrases is None:
            return False
        if compiled.ignored is not None:
            folded = compiled.ignored.sub(lambda m: _WORD.sub("~", m.group()), folded)
        return compiled.phrases.search(folded) is not None

    def problems(self) -> tuple[str, ...]:
        """Lines of the phrase file that were skipped, each with the reason."""
        return self._compiled().problems


# --- moderators' own phrases ---------------------------------------------------------------

# A phrase made only of these would show the card on almost every note.
_COMMON = frozenset(
    {"the", "and", "you", "are", "for", "not", "but", "was", "this", "that", "with", "have", "its"}
)


def _shown(phrase: str) -> str:
    return phrase.replace("`", "")[:40]


def _shorten(phrase: str, limit: int) -> str:
    if len(phrase) <= limit:
        return phrase
    cut = phrase[: limit + 1].rsplit(" ", 1)[0]
    return (cut if cut and len(cut) <= limit else phrase[:limit]).rstrip()


def parse_extra_phrases(raw: str) -> tuple[str, ...]:
    """Moderators' own phrases, one per line: trimmed, blanks and repeats dropped (ignoring case
    and punctuation), each cut to 100 characters at a word, and the first 50 kept."""
    kept: list[str] = []
    seen: set[tuple[str, ...]] = set()
    for line in clean_text(raw).splitlines():
        phrase = _shorten(" ".join(line.split()), EXTRA_CHARS)
        if not phrase:
            continue
        words = tuple(_words(phrase))
        if _letters(words) < EXTRA_MIN_LETTERS:
            raise BadInput(
                f"`{_shown(phrase)}` is too short to look for: each phrase needs at least "
                f"{EXTRA_MIN_LETTERS} letters, or everyday notes would show the support card. "
                "A few words work best, like `not safe tonight`."
            )
        if all(w in _COMMON for w in words):
            raise BadInput(
                f"`{_shown(phrase)}` is so common it would show the support card on almost "
                "every note. A few words together work better, like `not safe tonight`."
            )
        if words in seen:
            continue
        seen.add(words)
        kept.append(phrase)
        if len(kept) == EXTRA_MAX:
            break
    return tuple(kept)
