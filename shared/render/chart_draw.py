"""The data marks: lines and stacked areas (with "Other" as thin grey lines), scatter
points, bar and column groups with their value labels, and pie wedges with their
legend.
Each drawer returns how many series it drew; 0 means there was nothing to draw.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.transforms import offset_copy

from .chart_axes import category_ticks
from .chart_data import (
    ChartData,
    Floats,
    PlotSeries,
    Points,
    category_totals,
    decimate,
    series_points,
    weighted_bincount,
)
from .chart_format import format_value, plain, shorten
from .chart_style import (
    MAX_CATEGORIES,
    MAX_VALUE_LABELS,
    MUTED_COLOUR,
    OTHER_COLOUR,
    OTHER_LABEL,
    PALETTE,
    PIE_MAX_SLICES,
    PIE_MIN_SHARE,
    TEXT_COLOUR,
)

__all__ = ["draw_bars", "draw_lines", "draw_pie", "draw_scatter"]

#: Light wedge colours that get dark percentage text.
_LIGHT_WEDGES = ("#F0E442", "#56B4E9", OTHER_COLOUR, "#E69F00")


def draw_lines(ax: Axes, kind: str, data: ChartData, plan: list[PlotSeries]) -> int:
    """A line chart, or an area chart (stacked when it has several series)."""
    drawn: list[tuple[PlotSeries, Points, Floats]] = []
    for s in plan:
        xs, values = series_points(data, s)
        if len(xs):
            drawn.append((s, xs, values))
    if not drawn:
        return 0

    if kind == "area" and len(drawn) > 1:
        # Stacked areas need one x grid: the union of every series' x values.
        grid = np.unique(np.concatenate([xs for _s, xs, _v in drawn]))
        stacks = []
        for _s, xs, values in drawn:
            slots = np.searchsorted(grid, xs)
            stacks.append(weighted_bincount(slots, values, len(grid)))
        ax.stackplot(grid, *stacks, labels=[s.label for s, _x, _v in drawn],
                     colors=[s.colour for s, _x, _v in drawn], alpha=0.85,
                     edgecolor="white", linewidth=0.4)
        return len(drawn)

    lo, hi = (float(data.x[0]), float(data.x[-1])) if data.x_kind != "category" else (0, 0)
    for s, xs, values in drawn:
        if s.other and kind != "area":
            _draw_other_lines(ax, data, s, lo, hi)
            continue
        many = len(xs) > 2000
        if data.x_kind != "category":
            xs, values = decimate(xs, values, lo, hi)
        line_kwargs: dict[str, Any] = {
            "color": s.colour, "label": s.label, "linewidth": 1.0 if many else 1.6,
            "solid_joinstyle": "round", "zorder": 3,
        }
        if len(xs) <= 40:  # few points: mark them, a single point has no line
            line_kwargs.update(marker="o", markersize=3.5)
        ax.plot(xs, values, **line_kwargs)
        if kind == "area":
            ax.fill_between(xs, values, color=s.colour, alpha=0.3, linewidth=0, zorder=2)
    return len(drawn)


def _draw_other_lines(ax: Axes, data: ChartData, s: PlotSeries, lo: float, hi: float
                      ) -> None:
    """The folded series of a line chart, each its own thin grey line (one legend
    entry for all): a sum of, say, CPU percentages would be a made-up number."""
    all_codes, folded = data.series_codes, s.codes
    assert all_codes is not None and folded is not None  # "Other" folds series values
    y = data.ys[s.y_index]
    mask = np.isin(all_codes, folded) & ~np.isnan(y)
    codes, xs, values = all_codes[mask], data.x[mask], y[mask]
    order = np.argsort(codes, kind="stable")  # keeps x order within each series
    codes, xs, values = codes[order], xs[order], values[order]
    bounds = np.flatnonzero(codes[1:] != codes[:-1]) + 1
    segments = []
    for part_x, part_y in zip(np.split(xs, bounds), np.split(values, bounds), strict=True):
        if data.x_kind != "category":
            part_x, part_y = decimate(part_x, part_y, lo, hi)
        segments.append(np.column_stack((part_x, part_y)))
    lines = LineCollection(segments, colors=s.colour, linewidths=0.8, alpha=0.7,
                           label=s.label, zorder=2)
    ax.add_collection(lines, autolim=True)
    ax.autoscale_view()


def draw_scatter(ax: Axes, data: ChartData, plan: list[PlotSeries]) -> int:
    """One point per row, a colour per series; "Other" points in grey, behind."""
    drawn = 0
    crowded = len(data.x) > 2000
    for s in plan:
        y = data.ys[s.y_index]
        mask = ~np.isnan(y)
        if s.codes is not None and data.series_codes is not None:
            mask &= np.isin(data.series_codes, s.codes)
        if not mask.any():
            continue
        ax.scatter(data.x[mask], y[mask], s=6 if crowded else 22, color=s.colour,
                   alpha=0.5 if crowded or s.other else 0.85, linewidths=0, label=s.label,
                   zorder=2 if s.other else 3)
        drawn += 1
    return drawn


def draw_bars(ax: Axes, kind: str, data: ChartData, plan: list[PlotSeries]) -> int:
    """Grouped bars (`bar`: horizontal) or columns, one group per category."""
    horizontal = kind == "bar"
    n_categories = min(len(data.x_labels), MAX_CATEGORIES)
    positions = np.arange(n_categories, dtype=float)
    bars = [(s, *category_totals(data, s, n_categories)) for s in plan]
    bars = [b for b in bars if b[2].any()]
    if not bars:
        return 0

    group = 0.8
    width = group / len(bars)
    label_values = n_categories * len(bars) <= MAX_VALUE_LABELS
    for i, (s, totals, present) in enumerate(bars):
        offsets = positions - group / 2 + width * (i + 0.5)
        heights = np.where(present, totals, 0.0)
        if horizontal:
            ax.barh(offsets, heights, height=width * 0.95, color=s.colour, label=s.label,
                    zorder=3)
        else:
            ax.bar(offsets, heights, width=width * 0.95, color=s.colour, label=s.label,
                   zorder=3)
        if label_values:
            texts = [format_value(v) if p else "" for v, p in zip(heights, present,
                                                                    strict=True)]
            _value_labels(ax, offsets, heights, texts, horizontal)

    category_ticks(ax, data.x_labels[:n_categories], horizontal)
    if horizontal:
        ax.set_ylim(n_categories - 0.5, -0.5)  # first category on top, as Kusto draws it
        ax.margins(x=0.1 if label_values else 0.02)
    else:
        ax.set_xlim(-0.5, n_categories - 0.5)
        ax.margins(y=0.1 if label_values else 0.02)
    if len(data.x_labels) > n_categories:
        ax.annotate(f"Showing the first {n_categories:,} of {len(data.x_labels):,} "
                    "categories", xy=(1.0, 0.0), xycoords="figure fraction",
                    xytext=(-6, 4), textcoords="offset points", ha="right", va="bottom",
                    fontsize=8, color=MUTED_COLOUR)
    return len(bars)


def _value_labels(ax: Axes, positions: Floats, values: Floats, texts: list[str],
                  horizontal: bool) -> None:
    """Each bar's value just past its end (3 points out, below or left of a negative
    one): what `Axes.bar_label` writes, as plain texts (a third of its cost)."""
    figure = ax.get_figure(root=True)
    assert figure is not None  # the axes of a chart figure
    for sign in (1.0, -1.0):
        shift = 3.0 * sign
        offset = offset_copy(ax.transData, fig=figure, x=shift if horizontal else 0.0,
                             y=0.0 if horizontal else shift, units="points")
        ha = ("left" if sign > 0 else "right") if horizontal else "center"
        va = "center" if horizontal else ("bottom" if sign > 0 else "top")
        for position, value, text in zip(positions, values, texts, strict=True):
            if text and (value >= 0) == (sign > 0):
                xy = (value, position) if horizontal else (position, value)
                ax.text(*xy, text, transform=offset, fontsize=8, color=MUTED_COLOUR,
                        clip_on=False, ha=ha, va=va)


def draw_pie(ax: Axes, data: ChartData, y_name: str) -> int:
    """Named slices for the biggest categories, the rest as one "Other" slice."""
    n_categories = len(data.x_labels)
    values = data.ys[0]
    ok = ~np.isnan(values) & (values > 0)
    totals = weighted_bincount(data.x[ok].astype(np.intp), values[ok], n_categories)
    order = [int(i) for i in np.argsort(-totals, kind="stable") if totals[i] > 0]
    grand = float(totals.sum())
    if not order or grand <= 0:
        return 0

    named = [i for i in order[:PIE_MAX_SLICES] if totals[i] / grand >= PIE_MIN_SHARE]
    rest = [i for i in order if i not in set(named)]
    if len(rest) == 1:  # "Other (1)" would hide a name and show nothing more: name it
        named, rest = named + rest, []
    sizes = [float(totals[i]) for i in named]
    labels = [data.x_labels[i] for i in named]
    colours = [PALETTE[k % len(PALETTE)] for k in range(len(named))]
    if rest:
        sizes.append(float(totals[rest].sum()))
        labels.append(f"{OTHER_LABEL} ({len(rest)})")
        colours.append(OTHER_COLOUR)

    pie = ax.pie(
        sizes, colors=colours, startangle=90, counterclock=False,
        wedgeprops={"linewidth": 1.2, "edgecolor": "white"},
        autopct=lambda pct: f"{pct:.0f}%" if pct >= 5 else "", pctdistance=0.72,
        textprops={"fontsize": 9, "color": "white", "fontweight": "bold"},
    )
    percentages = pie.texts[-1]  # the autopct texts come last (`pie[2]` before 3.11)
    for text, colour in zip(percentages, colours, strict=True):
        if colour in _LIGHT_WEDGES:
            text.set_color(TEXT_COLOUR)  # dark text on light wedges
    ax.set_aspect("equal")
    legend_labels = [plain(f"{shorten(label, 24, middle=True)}  {format_value(size)} "
                           f"({size / grand:.0%})")
                     for label, size in zip(labels, sizes, strict=True)]
    ax.legend(pie.wedges, legend_labels, loc="center left", bbox_to_anchor=(1.0, 0.5),
              frameon=False, fontsize=9, labelcolor=TEXT_COLOUR, title=plain(y_name),
              title_fontsize=9)
    return 1
