"""The buddies service's own promises that the end-to-end run tests don't show from outside:
the matcher runs off the event loop, and a run repeated with the same key changes nothing."""

from __future__ import annotations

import threading
from typing import Any

import pytest

import bot.buddies.base
import bot.pairing
from bot.pairing import Matching
from tests.conftest import Haven
from tests.fakediscord import ALICE, BOB, CAROL, GUILD


async def test_the_matcher_runs_in_a_worker_thread(
    haven: Haven, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[threading.Thread] = []
    real = bot.pairing.match

    def watched(*args: Any, **kwargs: Any) -> Matching:
        threads.append(threading.current_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(bot.buddies.base, "match", watched)
    buddies = haven.services.buddies
    for user in (ALICE, BOB):
        await buddies.join(GUILD, user)
    await buddies.run(GUILD, key="t1")
    await buddies.join(GUILD, CAROL)
    assert await buddies.rematch(GUILD, ALICE) == "now"  # Carol was waiting
    assert len(threads) == 2
    assert all(t is not threading.main_thread() for t in threads)


async def test_a_run_repeated_with_its_key_pairs_nobody_twice(haven: Haven) -> None:
    buddies = haven.services.buddies
    for user in (ALICE, BOB, CAROL):
        await buddies.join(GUILD, user)
    first = await buddies.run(GUILD, key="same")
    calls = len(haven.fake.calls)
    again = await buddies.run(GUILD, key="same")
    assert again.new_groups == first.new_groups == ((ALICE, BOB, CAROL),)
    assert again.continued == 0 and again.ended == 0
    assert [p.members for p in await buddies.pairs(GUILD)] == [(ALICE, BOB, CAROL)]
    sent = [c.path for c in haven.fake.calls[calls:] if c.method == "POST"]
    assert [p for p in sent if "/messages" in p or "/threads" in p] == []  # each intro once
