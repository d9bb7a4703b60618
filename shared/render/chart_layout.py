"""Where a chart's one axes goes in its figure: as large as the figure allows once
its tick labels, axis names, title, legend and notes have room, fitted from their
measured extents.

This is what constrained layout gave the charts, for the one case they have (one
axes, maybe a figure title), at a fraction of its cost: constrained layout measures
every decoration twice per pass and needs a second pass once the category labels
are turned (four measures of every tick label); here a chart is measured once, and
once more only when that moved the axes enough to change its ticks or its category
labels (`benchmarks/bench_load.py`).
"""

from __future__ import annotations

from matplotlib.axes import Axes
from matplotlib.backend_bases import RendererBase
from matplotlib.figure import Figure
from matplotlib.layout_engine import LayoutEngine
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from .chart_axes import CategoryFit

__all__ = ["FittedLayout"]

#: Room kept between the decorations and the figure's edges, in inches (the pads
#: constrained layout was given).
_W_PAD, _H_PAD = 0.12, 0.1
#: Measures of one layout at most: the first, and one more for each change.
_MEASURES = 3


class FittedLayout(LayoutEngine):
    """The layout engine of every chart figure (`chart_figure`). `fits` are the
    category labels to fit to the room the layout leaves them."""

    _adjust_compatible = False
    _colorbar_gridspec = False

    def __init__(self) -> None:
        super().__init__()
        self.fits: list[CategoryFit] = []

    def execute(self, fig: Figure) -> None:
        if not fig.axes:
            return
        renderer = fig._get_renderer()  # type: ignore[attr-defined]
        ax = fig.axes[0]
        # Labels fitted to the axes as placed now: seldom turned or thinned again
        # once it is placed, so that one measure is usually the only one.
        for fit in self.fits:
            fit.refit(fig, settle=False)
        for attempt in range(_MEASURES):
            measured = _tick_texts(ax)
            moved = _fit(fig, ax, renderer)
            refitted = any([fit.refit(fig, settle=attempt > 0) for fit in self.fits])
            if not refitted and (not moved or _tick_texts(ax) == measured):
                return


def _room(fig: Figure, renderer: RendererBase) -> Bbox:
    """The part of the figure the axes and its decorations may fill, in pixels."""
    pad_x, pad_y = _W_PAD * fig.dpi, _H_PAD * fig.dpi
    top = fig.bbox.height - pad_y
    suptitle = fig._suptitle  # type: ignore[attr-defined]
    if suptitle is not None and suptitle.get_visible() and suptitle.get_text():
        top = suptitle.get_window_extent(renderer).y0 - pad_y
    return Bbox.from_extents(pad_x, pad_y, fig.bbox.width - pad_x, top)


def _fit(fig: Figure, ax: Axes, renderer: RendererBase) -> bool:
    """Place `ax` so its decorations, as measured now, just fit the room; whether it
    moved by a pixel or more."""
    frame = ax.get_position(original=True).transformed(fig.transFigure)
    active = ax.bbox  # the axes as drawn: smaller than the frame with a fixed aspect
    tight = ax.get_tightbbox(renderer, for_layout_only=True)
    if tight is None:
        return False
    room = _room(fig, renderer)
    title = _title(ax)
    above = tight.y1 if title is None else max(
        tight.y1, title.get_window_extent(renderer).y1)
    # What sticks out of the drawn axes on each side, carried over to its frame.
    left = room.x0 + max(0.0, active.x0 - tight.x0) - (active.x0 - frame.x0)
    right = room.x1 - max(0.0, tight.x1 - active.x1) + (frame.x1 - active.x1)
    bottom = room.y0 + max(0.0, active.y0 - tight.y0) - (active.y0 - frame.y0)
    top = room.y1 - max(0.0, above - active.y1) + (frame.y1 - active.y1)
    if right - left < 10 or top - bottom < 10:  # too much text: keep what there is
        return False
    placed = Bbox.from_extents(left, bottom, right, top)
    moved = max(abs(a - b) for a, b in zip(placed.extents, frame.extents, strict=True))
    ax._set_position(placed.transformed(fig.transFigure.inverted()),  # type: ignore[attr-defined]
                     which="original")
    ax.apply_aspect()
    if title is not None:
        _keep_inside(title, ax, room, renderer)
    return bool(moved >= 1.0)


def _title(ax: Axes) -> Text | None:
    """The axes' title (charts write it left-aligned), which the layout places
    itself: it is kept out of the axes' measure (`chart_axes.set_title`), so that a
    long title does not narrow the plot."""
    title: Text = ax._left_title  # type: ignore[attr-defined]
    return title if title.get_visible() and title.get_text() else None


def _keep_inside(title: Text, ax: Axes, room: Bbox, renderer: RendererBase) -> None:
    """Move a title that runs past the room's right edge left, up to the room's
    left edge (it starts at the axes' left edge, behind the y-axis labels)."""
    title.set_x(0.0)
    box = title.get_window_extent(renderer)
    overflow = box.x1 - room.x1
    if overflow > 0:
        shift = min(overflow, box.x0 - room.x0)
        title.set_x(-shift / ax.bbox.width)


def _tick_texts(ax: Axes) -> tuple[str, ...]:
    """The tick labels of both axes as their locators and formatters give them now
    (without making the ticks). Moving the axes changes its decorations only through
    these: a longer axis can get more ticks, and wider numbers or dates."""
    texts: list[str] = []
    for axis in (ax.xaxis, ax.yaxis):
        formatter = axis.get_major_formatter()
        texts.extend(formatter.format_ticks(list(axis.get_major_locator()())))
        texts.extend((formatter.get_offset(), "|"))
    return tuple(texts)
