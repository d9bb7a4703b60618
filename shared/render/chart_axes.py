"""The frame around the data: axis styling, number and date tick labels, category
tick labels (thinned and rotated, measured on the laid-out figure, so that no two
overlap), titles, axis labels and the legend. Every text from a result or a flow
goes through `chart_format.plain`, so a `$` is printed, never read as mathtext.
"""

from __future__ import annotations

import math
from datetime import UTC
from typing import Literal

import matplotlib.dates as mdates
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.ticker import Formatter, MaxNLocator
from matplotlib.transforms import Bbox

from .chart_data import ChartData
from .chart_format import SCALES, plain, shorten, title_text
from .chart_style import GRID_COLOUR, MUTED_COLOUR, SPINE_COLOUR, TEXT_COLOUR

__all__ = [
    "NumberFormatter",
    "CategoryFit",
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
    # y given: where matplotlib would put it (no tick labels above the axes), without
    # measuring the axes' decorations again at every draw to find that out.
    # Out of the axes' measure: `chart_layout` gives it room above and keeps it inside.
    ax.set_title(plain(title_text(title)), loc="left", fontsize=13, fontweight="bold",
                 color=TEXT_COLOUR, pad=10, y=1.0).set_in_layout(False)


def set_labels(ax: Axes, x_label: str, y_label: str) -> None:
    ax.set_xlabel(plain(shorten(x_label, 80)), fontsize=10, color=MUTED_COLOUR)
    ax.set_ylabel(plain(shorten(y_label, 50)), fontsize=10, color=MUTED_COLOUR)


def legend(ax: Axes) -> None:
    """The legend of what `ax` drew, right of the plot, names shortened."""
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(handles, [plain(shorten(t, 28, middle=True)) for t in labels], loc="upper left",
              bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=9, handlelength=1.6,
              borderaxespad=0.0, labelcolor=TEXT_COLOUR)


#: Rotation of crowded category labels on the x axis, in degrees.
ROTATION = 45.0
#: Room kept between neighbouring category labels, in pixels.
_GAP = 4.0
#: Characters a category label keeps: across the axis, turned, and down a bar chart.
_FLAT_WIDTH, _FEW_WIDTH, _TURNED_WIDTH, _BAR_WIDTH = 24, 30, 20, 30


def _label_size(count: int, horizontal: bool) -> int:
    if horizontal:
        return 9 if count <= 20 else 8 if count <= 30 else 7
    return 9 if count <= 12 else 8


def _label_width(count: int, horizontal: bool) -> int:
    """Characters a category label keeps when not turned: down a bar chart, or across
    the axis (more when there are few labels)."""
    if horizontal:
        return _BAR_WIDTH
    return _FLAT_WIDTH if count > 6 else _FEW_WIDTH


def _label_texts(labels: list[str], width: int) -> list[str]:
    return [plain(shorten(label, width, middle=True)) for label in labels]


def category_ticks(ax: Axes, labels: list[str], horizontal: bool) -> None:
    """Every category name on the category axis, shortened; `CategoryFit` thins and
    turns them once the figure is laid out."""
    count = len(labels)
    axis = ax.yaxis if horizontal else ax.xaxis
    axis.set_ticks(np.arange(count), _label_texts(labels, _label_width(count, horizontal)),
                   fontsize=_label_size(count, horizontal))


#: Widths already measured, by (font size, DPI): charts of one process share them (a
#: report's categories come back run after run). Emptied when it grows past this.
_WIDTHS: dict[tuple[int, float], dict[str, float]] = {}
_MAX_WIDTHS = 20_000
#: The height of a line, by (font size, DPI).
_HEIGHTS: dict[tuple[int, float], float] = {}


class _Measure:
    """Sizes in pixels of texts at one font size, each measured once a process."""

    def __init__(self, fig: Figure, size: int) -> None:
        self._fig = fig
        self._renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
        self._size = size
        if sum(map(len, _WIDTHS.values())) > _MAX_WIDTHS:
            _WIDTHS.clear()
        key = (size, float(fig.dpi))
        self._widths = _WIDTHS.setdefault(key, {})
        if key not in _HEIGHTS:
            _HEIGHTS[key] = float(self._box("Ag").height)
        self.height = _HEIGHTS[key]

    def _box(self, text: str) -> Bbox:
        probe = Text(0, 0, text, fontsize=self._size)
        probe.set_figure(self._fig)
        return probe.get_window_extent(self._renderer)

    def width(self, text: str) -> float:
        found = self._widths.get(text)
        if found is None:
            found = self._widths[text] = float(self._box(text).width)
        return found


def _flat_step(texts: list[str], measure: _Measure, pitch: float, start: int) -> int:
    """The smallest step from `start` at which every shown label, written across the
    axis, keeps `_GAP` from its neighbours (centred on ticks `pitch` apart)."""
    count = len(texts)
    for step in range(max(1, start), count + 1):
        shown = range(0, count, step)
        if all((measure.width(texts[i]) + measure.width(texts[i + step])) / 2 + _GAP
               <= step * pitch for i in shown if i + step < count):
            return step
    return max(1, count)


def _pitch(ax: Axes, horizontal: bool) -> float:
    """Pixels between two neighbouring categories, as laid out now."""
    ax.get_xlim(), ax.get_ylim()  # settle autoscaled limits
    (x0, y0), (x1, y1) = ax.transData.transform([(0.0, 0.0), (1.0, 1.0)])
    return float(abs(y1 - y0) if horizontal else abs(x1 - x0))


class CategoryFit:
    """Category labels that must not overlap, fitted to the figure as laid out.

    `refit` runs after each layout (see `chart_layout`): across the axis when every
    label fits beside its neighbours; else turned by `ROTATION` when that shows more
    of them (turned labels only need a line's height between them); else every n-th
    label. Down a bar chart, every n-th label that keeps a line's height between
    them. Each refit of one layout pass only thins further, so a few passes settle.
    """

    def __init__(self, ax: Axes, labels: list[str], horizontal: bool) -> None:
        count = len(labels)
        self.ax, self.count, self.horizontal = ax, count, horizontal
        self.size = _label_size(count, horizontal)
        unturned = _label_texts(labels, _label_width(count, horizontal))
        self._down = unturned if horizontal else []
        self._flat = [] if horizontal else unturned
        self._turned = [] if horizontal else _label_texts(labels, _TURNED_WIDTH)
        self._measure: _Measure | None = None
        #: (step, turned) as the ticks are set now; None: every label, across.
        self.chosen: tuple[int, bool] | None = None

    def refit(self, fig: Figure, settle: bool) -> bool:
        """Set the labels for the layout just made; True when they changed (lay out
        again). `settle`: a later pass of one layout, which only thins further."""
        if self.count < 2:
            return False
        if self._measure is None:
            self._measure = _Measure(fig, self.size)
        measure = self._measure
        line = measure.height + _GAP
        pitch = max(_pitch(self.ax, self.horizontal), 1e-6)
        step_turned = max(1, math.ceil(line / (pitch * math.sin(math.radians(ROTATION)))))
        chosen = self.chosen
        if self.horizontal:
            wanted = (max(math.ceil(line / pitch), chosen[0] if settle and chosen else 1),
                      False)
        elif settle and chosen is not None:
            wanted = ((max(chosen[0], step_turned), True) if chosen[1]
                      else (_flat_step(self._flat, measure, pitch, chosen[0]), False))
        else:
            step_flat = _flat_step(self._flat, measure, pitch, 1)
            wanted = ((step_flat, False) if step_flat <= step_turned
                      else (step_turned, True))
        if wanted == (chosen or (1, False)):
            self.chosen = wanted
            return False
        self.chosen = wanted
        self._apply(*wanted)
        return True

    def _apply(self, step: int, turn: bool) -> None:
        axis = self.ax.yaxis if self.horizontal else self.ax.xaxis
        positions = np.arange(0, self.count, step)
        texts = self._down if self.horizontal else self._turned if turn else self._flat
        axis.set_ticks(positions, [texts[i] for i in positions], fontsize=self.size)
        for text in axis.get_ticklabels():
            text.set_rotation(ROTATION if turn else 0.0)
            text.set_horizontalalignment("right" if turn else "center")
            text.set_rotation_mode("anchor" if turn else "default")


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
