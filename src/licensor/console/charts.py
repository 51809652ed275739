"""The dashboard's charts as geometry for its SVG templates (console/dashboard_chart.html):
bars a day or bars by name, a zero line, three value ticks and a few day labels.

No chart library and no script: the server draws the bars, the page's CSS colours them
from the brand's variables (``.chart-bar``: the accent, 3:1 or more against the paper),
and each chart's numbers are in a table beside it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

WIDTH = 560
HEIGHT = 240
LEFT = 96  # room for the value labels
RIGHT = 12
TOP = 12
BOTTOM = 40  # room for the day labels
BAR_GAP = 0.2  # of a bar's slot

ROW_HEIGHT = 32  # a bar by name
LABEL_WIDTH = 220


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Tick:
    """A label on an axis, at ``at`` along it."""

    at: float
    label: str


@dataclass(frozen=True)
class Chart:
    """A chart's drawing: its bars, where zero is, its value and category labels."""

    width: int
    height: int
    bars: list[Bar]
    zero: float  # y of the zero line (a column chart), x of it (a bar chart)
    value_ticks: list[Tick]
    category_ticks: list[Tick]
    left: int = LEFT  # where the plot starts and ends across
    right: int = WIDTH - RIGHT
    labels_at: int = HEIGHT - BOTTOM + 24  # the day labels' baseline


def nice_ceiling(value: float) -> float:
    """The round number at or above ``value`` an axis ends at: 1, 2, 2.5 or 5 times a power
    of ten (37 ends at 50, 120 at 200; an axis of zeros at 1)."""
    if value <= 0:
        return 1
    power = 10.0 ** math.floor(math.log10(value))
    return next(step * power for step in (1.0, 2.0, 2.5, 5.0, 10.0) if value <= step * power)


def columns(
    values: Sequence[int],
    labels: Sequence[str],
    number: Callable[[float], str],
) -> Chart:
    """A column a value (a day), left to right, negative ones below the zero line; the
    first, middle and last of ``labels`` under the axis; ``number`` writes the values."""
    top = nice_ceiling(max([0, *values]))
    bottom = -nice_ceiling(-min(values)) if values and min(values) < 0 else 0
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    scale = plot_height / (top - bottom)
    zero = TOP + top * scale
    slot = plot_width / max(1, len(values))
    bars = []
    for index, value in enumerate(values):
        if value == 0:
            continue
        height = abs(value) * scale
        bars.append(
            Bar(
                x=round(LEFT + index * slot + slot * BAR_GAP / 2, 2),
                y=round(zero - height if value > 0 else zero, 2),
                width=round(max(1.0, slot * (1 - BAR_GAP)), 2),
                height=round(max(1.0, height), 2),
            )
        )
    # Halfway is labelled only where it is a whole number: counts have no halves.
    ticks = [top, bottom] if bottom < 0 else [top, *([top / 2] if top % 2 == 0 else [])]
    value_ticks = [Tick(round(zero - tick * scale, 2), number(tick)) for tick in [0.0, *ticks]]
    picked = sorted({0, len(labels) // 2, len(labels) - 1}) if labels else []
    category_ticks = [Tick(round(LEFT + (i + 0.5) * slot, 2), labels[i]) for i in picked]
    return Chart(WIDTH, HEIGHT, bars, round(zero, 2), value_ticks, category_ticks)


def rows(values: Sequence[int], number: Callable[[float], str]) -> Chart:
    """A bar a value (a channel, say), top to bottom, its name left of it (the template
    writes the names at ``category_ticks``' heights)."""
    plot_width = WIDTH - LABEL_WIDTH - RIGHT - 56  # room for the value after the bar
    top = nice_ceiling(max([0, *values]))
    scale = plot_width / top
    bars = [
        Bar(
            x=LABEL_WIDTH,
            y=TOP + index * ROW_HEIGHT + ROW_HEIGHT * BAR_GAP / 2,
            width=round(max(1.0 if value else 0.0, value * scale), 2),
            height=ROW_HEIGHT * (1 - BAR_GAP),
        )
        for index, value in enumerate(values)
    ]
    height = TOP * 2 + ROW_HEIGHT * len(values)
    category_ticks = [
        Tick(round(TOP + (index + 0.5) * ROW_HEIGHT, 2), number(value))
        for index, value in enumerate(values)
    ]
    return Chart(WIDTH, height, bars, LABEL_WIDTH, [], category_ticks)
