"""Buddies: consent-first, stable pairs of members who check on each other.

The package: `values.py` (job kinds, limits, routes and values), `base.py` (shared state,
reading, recording and ending pairs, the matcher and what it may never pair), `intros.py` (a
new pair introduced), `pool.py` (joining, leaving, pauses, rematches, avoids, separations),
`runs.py` (the server's cadence and the pairing run — the whole story is told there) and
`checkbacks.py` (check-backs, going quiet, "stay?"); `Buddies` is all of them.
"""

from __future__ import annotations

from bot.buddies.checkbacks import CheckBacks
from bot.buddies.runs import Runs
from bot.buddies.values import (
    CHECK,
    CHECKBACK,
    HEADS_UP_BEFORE,
    RUN,
    STAY,
    STYLE_WORDS,
    Buddy,
    Cadence,
    Pair,
    Profile,
    Rematch,
    RunReport,
    Status,
)


class Buddies(CheckBacks, Runs):
    """Buddy pairing in a server (see the package docstring)."""


__all__ = [
    "CHECK",
    "CHECKBACK",
    "HEADS_UP_BEFORE",
    "RUN",
    "STAY",
    "STYLE_WORDS",
    "Buddies",
    "Buddy",
    "Cadence",
    "Pair",
    "Profile",
    "Rematch",
    "RunReport",
    "Status",
]
