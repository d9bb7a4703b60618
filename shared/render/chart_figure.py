"""From a spec and a result to a finished figure and its PNG: choose the columns,
prepare the arrays, draw the marks and the frame, or a "No rows"/"No values"
notice when there is nothing to draw.

Figures are built on `matplotlib.figure.Figure` with an Agg canvas, never through
pyplot, so no global figure state is touched and renders can run on several
threads.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine

from shared.kusto.types import Column

from .chart_axes import (
    NumberFormatter,
    category_ticks,
    legend,
    set_labels,
    set_title,
    style_axes,
    time_axis,
    whole_number_ticks,
)
from .chart_data import plan_series, prepare_data
from .chart_draw import draw_bars, draw_lines, draw_pie
from .chart_format import default_title, join_names, title_text
from .chart_spec import Chart, ChartSpec, choose_columns
from .chart_style import DPI, HEIGHT_PX, TEXT_COLOUR, WIDTH_PX

__all__ = ["build_figure", "render_chart"]

_Chosen = tuple[str, tuple[str, ...], str | None]


@dataclass
class _Meta:
    series_count: int = 0
    empty: bool = False


def _new_figure() -> Figure:
    fig = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI, facecolor="white",
                 layout=ConstrainedLayoutEngine(w_pad=0.12, h_pad=0.1))
    FigureCanvasAgg(fig)
    return fig


def _draw_empty(fig: Figure, title: str, message: str, detail: str) -> None:
    ax = fig.add_subplot()
    ax.set_axis_off()
    set_title(ax, title)
    ax.text(0.5, 0.55, message, transform=ax.transAxes, ha="center", va="center",
            fontsize=22, color="#777777")
    ax.text(0.5, 0.42, detail, transform=ax.transAxes, ha="center", va="center",
            fontsize=10, color="#999999")


def _build(spec: ChartSpec, columns: Sequence[Column], rows: Sequence[Sequence[Any]]
           ) -> tuple[Figure, _Meta, _Chosen]:
    chosen = choose_columns(spec, columns)
    x, ys, series = chosen
    kind = spec.kind
    fig = _new_figure()
    x_type = next(c.type for c in columns if c.name == x)
    x_kind_guess = "time" if x_type == "datetime" and kind in ("timechart", "line",
                                                                "area") else "other"
    title = spec.title or default_title(kind, x, ys, series, x_kind_guess)
    if not rows:
        _draw_empty(fig, title, "No rows", "The query returned no rows to chart.")
        return fig, _Meta(0, True), chosen

    data = prepare_data(kind, columns, rows, x, ys, series)
    ax = fig.add_subplot()
    if kind == "pie":
        count = draw_pie(ax, data, ys[0])
        if count:  # a pie's axes are narrow: title the figure, left-aligned
            fig.suptitle(title_text(title), x=0.015, ha="left", fontsize=13,
                         fontweight="bold", color=TEXT_COLOUR)
    else:
        plan = plan_series(data, ys)
        horizontal = kind == "bar"
        style_axes(ax, "x" if horizontal else "y")
        if kind in ("bar", "column"):
            count = draw_bars(ax, kind, data, plan)
        else:
            count = draw_lines(ax, kind, data, plan)
            if data.x_kind == "time":
                time_axis(ax)
                ax.margins(x=0.01)
                if count and data.x[0] == data.x[-1]:  # one instant: show its day
                    ax.set_xlim(data.x[0] - 0.5, data.x[0] + 0.5)
            elif data.x_kind == "number":
                ax.xaxis.set_major_formatter(NumberFormatter())
                ax.margins(x=0.01)
            else:
                category_ticks(ax, data.x_labels, horizontal=False)
        if count:
            whole_number_ticks(ax, data, "x" if horizontal else "y")
            x_label = spec.x_title or (f"{x} (UTC)" if data.x_kind == "time" else x)
            y_label = spec.y_title or join_names(ys)
            if horizontal:
                set_labels(ax, y_label, x_label)
            else:
                set_labels(ax, x_label, y_label)
            set_title(ax, title)
            if count > 1:
                legend(ax)
    if not count:
        fig.clear()
        _draw_empty(fig, title, "No values",
                    f"Every value of {join_names(ys)} is empty"
                    + (" or not positive." if kind == "pie" else "."))
        return fig, _Meta(0, True), chosen
    return fig, _Meta(count, False), chosen


def build_figure(spec: ChartSpec, columns: Sequence[Column],
                 rows: Sequence[Sequence[Any]]) -> Figure:
    """The Figure `render_chart` would save (`charts.build_figure`)."""
    return _build(spec, columns, rows)[0]


def _png_size(png: bytes) -> tuple[int, int]:
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def render_chart(spec: ChartSpec, columns: Sequence[Column],
                 rows: Sequence[Sequence[Any]]) -> Chart:
    """`rows` drawn as `spec` says, as a PNG (`charts.render_chart`)."""
    fig, meta, (x, ys, series) = _build(spec, columns, rows)
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=DPI, facecolor="white")
    finally:
        fig.clear()  # no pyplot: nothing else holds the figure; free its artists now
    png = buffer.getvalue()
    width, height = _png_size(png)
    return Chart(png=png, width_px=width, height_px=height, series_count=meta.series_count,
                 x_column=x, y_columns=ys, series_column=series, empty=meta.empty)
