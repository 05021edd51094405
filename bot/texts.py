"""Curated text in `data/` (prompts, grounding practices, phrase lists), editable without code.

Files are re-read when they change on disk, so a moderator's edit needs no restart. A *list*
file holds one entry per paragraph (entries separated by a blank line); lines starting with `#`
are comments.
"""

from __future__ import annotations

from pathlib import Path

from bot.messages import shorten

DATA_DIR = Path(__file__).resolve().parent.parent / "data"


class Texts:
    def __init__(self, directory: Path = DATA_DIR) -> None:
        self._dir = directory
        self._cache: dict[str, tuple[float, str]] = {}

    def text(self, name: str) -> str:
        """The whole file, comments removed, trimmed."""
        path = self._dir / name
        mtime = path.stat().st_mtime
        cached = self._cache.get(name)
        if cached is None or cached[0] != mtime:
            raw = path.read_text("utf-8")
            body = "\n".join(line for line in raw.splitlines() if not line.startswith("#"))
            cached = self._cache[name] = (mtime, body.strip())
        return cached[1]

    def lines(self, name: str) -> list[str]:
        """The file's non-empty lines."""
        return [line.strip() for line in self.text(name).splitlines() if line.strip()]

    def entries(self, name: str) -> list[str]:
        """The file's paragraphs, each with its lines joined by newlines."""
        return [p.strip() for p in self.text(name).split("\n\n") if p.strip()]


_MARKDOWN = str.maketrans({c: "\\" + c for c in "\\*_~`|>#[]()-"})


def plain(text: str, limit: int | None = None) -> str:
    """User-supplied text made inert for Discord markdown, and then (optionally) shortened to
    `limit` characters *including* the escapes, never splitting one."""
    inert = text.translate(_MARKDOWN)
    return inert if limit is None else shorten(inert, limit)
