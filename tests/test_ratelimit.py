"""The share pace: a sliding window that lets go of people once their window has passed."""

from __future__ import annotations

from datetime import timedelta

from bot.ratelimit import SWEEP_EVERY, SlidingWindow
from tests.clock import FakeClock


def test_the_window_slides_and_then_forgets_who_acted() -> None:
    clock = FakeClock()
    window = SlidingWindow(2, timedelta(hours=1), clock=clock)
    assert window.take("alice") is None and window.take("alice") is None
    assert window.take("alice") == clock.now + timedelta(hours=1)
    clock.advance(hours=1, seconds=1)
    for n in range(SWEEP_EVERY):  # other people's actions, long after Alice's
        window.take(f"member {n}")
    assert "alice" not in window._seen  # nothing about her outlives the window by much
    assert window.take("alice") is None
