"""The frame around the data: axis styling, number and date tick labels, category
tick labels, titles, axis labels and the legend.
"""

from __future__ import annotations

import math
from datetime import UTC
from typing import Literal

import matplotlib.dates as mdates
import numpy as np
from matplotlib.axes import Axes
from matplotlib.ticker import Formatter, MaxNLocator

from .chart_data import ChartData
from .chart_format import SCALES, shorten, title_text
from .chart_style import GRID_COLOUR, MUTED_COLOUR, SPINE_COLOUR, TEXT_COLOUR

__all__ = [
    "NumberFormatter",
    "category_ticks",
    "legend",
    "set_labels",
    "set_title",
    "style_axes",
    "time_axis",
    "whole_number_ticks",
]

#: Tick labels of a time axis, by tick level (years, months, days, hours, minutes,
#: seconds): "Jun 02" rather than a bare "02", and the day a run of hour ticks
#: belongs to written at its midnight ("Jun 02" among "06:00", "12:00").
_DATE_FORMATS = ["%Y", "%b", "%b %d", "%H:%M", "%H:%M", "%H:%M:%S.%f"]
_DATE_ZERO_FORMATS = ["", "%Y", "%b %d", "%b %d", "%H:%M", "%H:%M"]
#: The context under the axis's right end: the year ("2007"), or the day for ticks
#: within one day ("Jun 02, 2007").
_DATE_OFFSET_FORMATS = ["", "%Y", "%Y", "%Y", "%b %d, %Y", "%b %d, %Y %H:%M"]


class NumberFormatter(Formatter):
    """Tick labels with thousands separators (12,500), K-less up to a million,
    then M/B/T; as many decimals as the tick step needs."""

    def __init__(self) -> None:
        self._scale, self._suffix, self._decimals = 1.0, "", 0

    def set_locs(self, locs: list[float]) -> None:
        super().set_locs(locs)
        finite = [float(v) for v in locs if math.isfinite(v)]
        biggest = max((abs(v) for v in finite), default=0.0)
        self._scale, self._suffix = next(
            ((scale, suffix) for scale, suffix in SCALES if biggest >= scale), (1.0, ""))
        scaled = [v / self._scale for v in finite]
        self._decimals = next(
            (d for d in range(7)
             if all(abs(round(v, d) - v) <= 1e-9 * max(1.0, abs(v)) for v in scaled)), 6)

    def __call__(self, x: float, pos: int | None = None) -> str:
        text = f"{x / self._scale:,.{self._decimals}f}"
        if not text.strip("-0.,"):
            return "0"  # not "-0", not "0bn"
        return text + self._suffix


def style_axes(ax: Axes, value_axis: Literal["x", "y"]) -> None:
    """Light frame, grid lines across the value axis, numbers as `NumberFormatter`."""
    ax.set_facecolor("white")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color(SPINE_COLOUR)
    ax.tick_params(colors=MUTED_COLOUR, labelsize=9, length=3)
    ax.grid(True, axis=value_axis, color=GRID_COLOUR, linewidth=0.8)
    ax.set_axisbelow(True)
    (ax.yaxis if value_axis == "y" else ax.xaxis).set_major_formatter(NumberFormatter())


def set_title(ax: Axes, title: str) -> None:
    ax.set_title(title_text(title), loc="left", fontsize=13, fontweight="bold",
                 color=TEXT_COLOUR, pad=10)


def set_labels(ax: Axes, x_label: str, y_label: str) -> None:
    ax.set_xlabel(shorten(x_label, 80), fontsize=10, color=MUTED_COLOUR)
    ax.set_ylabel(shorten(y_label, 50), fontsize=10, color=MUTED_COLOUR)


def legend(ax: Axes) -> None:
    """The legend of what `ax` drew, right of the plot, names shortened."""
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(handles, [shorten(t, 28, middle=True) for t in labels], loc="upper left",
              bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=9, handlelength=1.6,
              borderaxespad=0.0, labelcolor=TEXT_COLOUR)


def category_ticks(ax: Axes, labels: list[str], horizontal: bool) -> None:
    """Category names on the category axis, thinned and shrunk to stay readable."""
    count = len(labels)
    if horizontal:
        size = 9 if count <= 20 else 8 if count <= 30 else 7
        fit = {9: 22, 8: 30, 7: 34}[size]
        width = 30
    else:
        size = 9 if count <= 12 else 8
        fit = 40
        width = 24 if count > 6 else 30
    step = max(1, math.ceil(count / fit))
    positions = np.arange(0, count, step)
    texts = [shorten(labels[i], width, middle=True) for i in positions]
    axis = ax.yaxis if horizontal else ax.xaxis
    axis.set_ticks(positions, texts, fontsize=size)
    if not horizontal:
        longest = max((len(t) for t in texts), default=0)
        # Rotate when the labels would not fit side by side (~6.5 px a character).
        if len(texts) * (longest * 6.5 + 8) > 680:
            for text in axis.get_ticklabels():
                text.set_rotation(40)
                text.set_horizontalalignment("right")
                text.set_rotation_mode("anchor")


def time_axis(ax: Axes) -> None:
    """Date ticks in UTC, labelled by `_DATE_FORMATS` and friends."""
    # matplotlib.dates has no type hints.
    locator = mdates.AutoDateLocator(tz=UTC, minticks=3, maxticks=8)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(  # type: ignore[no-untyped-call]
        locator, tz=UTC, formats=_DATE_FORMATS, zero_formats=_DATE_ZERO_FORMATS,
        offset_formats=_DATE_OFFSET_FORMATS))


def whole_number_ticks(ax: Axes, data: ChartData, value_axis: Literal["x", "y"]) -> None:
    """Counts get whole-number ticks (0, 1, 2, 3), never 0.5 or 2.5 events."""
    values = [y[~np.isnan(y)] for y in data.ys]
    if all(np.array_equal(v, np.round(v)) for v in values):
        axis = ax.xaxis if value_axis == "x" else ax.yaxis
        axis.set_major_locator(MaxNLocator(nbins="auto", steps=[1, 2, 2.5, 5, 10],
                                           integer=True, min_n_ticks=3))
