"""A tiny server-side SVG bar chart for the dashboard: geometry here, markup in the template.

No JavaScript and no CDN: the admin stays usable under a strict CSP and offline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    value: int
    label: str  # for the <title> tooltip and screen readers


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    series: list[tuple[str, str, list[Bar]]]  # (name, css class, bars)
    ticks: list[tuple[float, str]]  # (x, date label) under the bars
    peak: int


def daily_bars(
    days: Sequence[date],
    series: Sequence[tuple[str, str, Sequence[int]]],
    *,
    width: int = 640,
    height: int = 160,
    padding: int = 20,
) -> Chart:
    """Side-by-side bars per day for each series, scaled to the largest value."""
    peak = max((v for _, _, values in series for v in values), default=0)
    slot = (width - 2 * padding) / max(len(days), 1)
    bar_width = slot * 0.8 / max(len(series), 1)
    plot_height = height - 2 * padding
    drawn = []
    for index, (name, css, values) in enumerate(series):
        bars = []
        for n, (day, value) in enumerate(zip(days, values, strict=True)):
            h = plot_height * value / peak if peak else 0
            bars.append(
                Bar(
                    x=round(padding + n * slot + slot * 0.1 + index * bar_width, 1),
                    y=round(height - padding - h, 1),
                    width=round(bar_width, 1),
                    height=round(h, 1),
                    value=value,
                    label=f"{name}, {day:%b %-d}: {value}",
                )
            )
        drawn.append((name, css, bars))
    every = max(1, len(days) // 6)
    ticks = [
        (round(padding + n * slot + slot / 2, 1), f"{day:%b %-d}")
        for n, day in enumerate(days)
        if n % every == 0
    ]
    return Chart(width, height, drawn, ticks, peak)
