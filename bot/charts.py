"""A small PNG of a member's feelings and capacity over time, plus words for screen readers.

Why it is built the way it is (measured on the 2-core machine this runs on): a fresh
matplotlib figure costs ~150–250 ms, nearly all of it axes, ticks and text layout — the same
for every member who asks on the same day, since the x-axis is "the last N days". So each
*frame* (axes, labels, grid for a window of days in one zone on one date) is drawn once and
kept as a bitmap; a chart restores that bitmap and draws only the member's points on it
(Agg "blitting"), which takes a few milliseconds. Rendering runs on one dedicated worker
thread: the event loop never draws, and frames are never shared between threads.

matplotlib is imported on that thread on first use: it is Haven's heaviest import, and most
processes never draw a chart.
"""

from __future__ import annotations

import asyncio
import gc
import io
from collections import Counter, OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
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
FRAMES_KEPT = 8  # a frame per (days, zone, date) asked for recently; ~1.2 MB each


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


class ChartRenderer:
    """Renders charts on its own thread; `await render(...)` from the event loop."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="haven-charts")
        self._frames: OrderedDict[tuple[int, str, date], _Frame] = OrderedDict()

    async def render(
        self, points: Sequence[Point], zone: ZoneInfo, days: int, now: datetime
    ) -> bytes:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._render, points, zone, days, now)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _render(self, points: Sequence[Point], zone: ZoneInfo, days: int, now: datetime) -> bytes:
        today = now.astimezone(zone).date()
        key = (days, zone.key, today)
        frame = self._frames.get(key)
        if frame is None:
            first = not self._frames
            frame = self._frames[key] = _Frame(days, zone, today)
            if first:
                # matplotlib and numpy just loaded a few hundred thousand long-lived objects;
                # left to the collector, every full collection rescans them (~70 ms pauses
                # of the whole process, event loop included). Freeze them out of its sight.
                gc.freeze()
            while len(self._frames) > FRAMES_KEPT:
                self._frames.popitem(last=False)
        self._frames.move_to_end(key)
        return frame.draw(points)


class _Frame:
    """The axes, labels and grid for one window, drawn once; charts are blitted onto it."""

    def __init__(self, days: int, zone: ZoneInfo, today: date) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
        from matplotlib.figure import Figure

        self.zone = zone
        fig = Figure(figsize=(8, 3.8), dpi=100)
        self.canvas = FigureCanvasAgg(fig)
        fig.subplots_adjust(left=0.17, right=0.98, top=0.92, bottom=0.1, hspace=0.12)
        self.top, self.bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 2])
        # Whole local days covering the window, so every chart asked for today shares the frame.
        start = datetime.combine(today - timedelta(days=days), time(0))
        end = datetime.combine(today + timedelta(days=1), time(0))
        self.top.set_xlim(start, end)
        self.top.set_yticks(range(len(ORDER)), [STYLE[f][0] for f in ORDER], fontsize=8)
        self.top.set_ylim(len(ORDER) - 0.5, -0.5)
        self.top.set_title(f"Your check-ins, last {days} days", fontsize=10, loc="left")
        self.bottom.set_ylim(0.5, 5.5)
        self.bottom.set_yticks([1, 2, 3, 4, 5])
        self.bottom.set_ylabel("capacity", fontsize=8)
        locator = AutoDateLocator(maxticks=7)
        self.bottom.xaxis.set_major_locator(locator)
        self.bottom.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        for axis in (self.top, self.bottom):
            axis.grid(True, color="#E6E6E6", linewidth=0.6, zorder=0)
            axis.tick_params(labelsize=8)
            for spine in ("top", "right"):
                axis.spines[spine].set_visible(False)
        self.canvas.draw()
        self.background = self.canvas.copy_from_bbox(fig.bbox)

    def draw(self, points: Sequence[Point]) -> bytes:
        from PIL import Image

        self.canvas.restore_region(self.background)
        local = [p.at.astimezone(self.zone).replace(tzinfo=None) for p in points]
        artists: list[Any] = []
        for feeling in ORDER:
            xs = [t for t, p in zip(local, points, strict=True) if p.feeling == feeling]
            if xs:
                _, colour, marker = STYLE[feeling]
                y = [ORDER.index(feeling)] * len(xs)
                artists.append(self.top.scatter(xs, y, c=colour, marker=marker, s=36, zorder=3))
        with_capacity = [(t, p.capacity) for t, p in zip(local, points, strict=True) if p.capacity]
        if with_capacity:
            times, levels = zip(*with_capacity, strict=True)
            artists.extend(
                self.bottom.plot(
                    times, levels, color="#0072B2", linewidth=1.2, marker="o", markersize=3.5
                )
            )
        try:
            for artist in artists:
                artist.axes.draw_artist(artist)
            width, height = self.canvas.get_width_height()
            pixels = self.canvas.buffer_rgba()
            image = Image.frombuffer("RGBA", (width, height), pixels)
            buffer = io.BytesIO()
            # Fast zlib level: the chart is mostly flat colour, so it stays small anyway.
            image.convert("RGB").save(buffer, format="PNG", compress_level=1)
            return buffer.getvalue()
        finally:
            for artist in artists:
                artist.remove()
