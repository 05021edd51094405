"""A small PNG of a member's feelings and capacity over time, plus words for screen readers.

Rendering is CPU work, so callers run `render_history` in a worker thread; matplotlib is
imported there on first use (it is the heaviest import Haven has, and most processes never
draw a chart). Only the object-oriented API is used — pyplot's global state is not thread-safe.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

# Okabe–Ito colours (readable with the common colour-vision differences), and a distinct
# marker per feeling so colour is never the only cue.
STYLE: dict[str, tuple[str, str, str]] = {
    "bright": ("Bright", "#E69F00", "o"),
    "settled": ("Settled", "#009E73", "s"),
    "tender": ("Tender or mixed", "#CC79A7", "D"),
    "stirred": ("Stirred up", "#0072B2", "^"),
    "foggy": ("Foggy or far away", "#7F7F7F", "v"),
    "heavy": ("Heavy", "#4B2E83", "P"),
    "pass": ("Just checking in", "#A0A0A0", "h"),
}
ORDER = list(STYLE)


@dataclass(frozen=True)
class Point:
    at: datetime
    feeling: str
    capacity: int | None


def summarise(points: Sequence[Point], days: int) -> str:
    """A plain-language description of the chart, for screen readers and for everyone."""
    if not points:
        return f"No check-ins in the last {days} days."
    count = len(points)
    feelings = Counter(p.feeling for p in points)
    common = ", ".join(f"{STYLE[f][0]} ({n})" for f, n in feelings.most_common(3))
    plural = "s" if count != 1 else ""
    text = f"{count} check-in{plural} in the last {days} days. Most often: {common}."
    capacities = [p.capacity for p in points if p.capacity is not None]
    if capacities:
        low, high = min(capacities), max(capacities)
        text += (
            f" Capacity was {low} of 5 throughout."
            if low == high
            else f" Capacity ranged from {low} to {high} of 5."
        )
    return text


def render_history(points: Sequence[Point], zone: ZoneInfo, days: int) -> bytes:
    """The chart as PNG bytes (about 800×380 pixels)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 3.8), dpi=100)
    FigureCanvasAgg(fig)
    # Fixed margins: automatic layout engines measure every label and double the render time.
    fig.subplots_adjust(left=0.17, right=0.98, top=0.92, bottom=0.1, hspace=0.12)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    local = [p.at.astimezone(zone).replace(tzinfo=None) for p in points]

    for feeling in ORDER:
        xs = [t for t, p in zip(local, points, strict=True) if p.feeling == feeling]
        if xs:
            _, colour, marker = STYLE[feeling]
            top.scatter(
                xs, [ORDER.index(feeling)] * len(xs), c=colour, marker=marker, s=36, zorder=3
            )
    top.set_yticks(range(len(ORDER)), [STYLE[f][0] for f in ORDER], fontsize=8)
    top.set_ylim(len(ORDER) - 0.5, -0.5)
    top.set_title(f"Your check-ins, last {days} days", fontsize=10, loc="left")

    with_capacity = [(t, p.capacity) for t, p in zip(local, points, strict=True) if p.capacity]
    if with_capacity:
        times, capacities = zip(*with_capacity, strict=True)
        bottom.plot(times, capacities, color="#0072B2", linewidth=1.2, marker="o", markersize=3.5)
    bottom.set_ylim(0.5, 5.5)
    bottom.set_yticks([1, 2, 3, 4, 5])
    bottom.set_ylabel("capacity", fontsize=8)

    locator = AutoDateLocator(maxticks=7)  # type: ignore[no-untyped-call]
    bottom.xaxis.set_major_locator(locator)
    bottom.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    for axis in (top, bottom):
        axis.grid(True, color="#E6E6E6", linewidth=0.6, zorder=0)
        axis.tick_params(labelsize=8)
        for spine in ("top", "right"):
            axis.spines[spine].set_visible(False)

    buffer = io.BytesIO()
    # Fast zlib level: the chart is mostly flat colour, so it stays small anyway.
    fig.savefig(buffer, format="png", pil_kwargs={"compress_level": 1})
    return buffer.getvalue()
