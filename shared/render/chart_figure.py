"""From a spec and a result to a finished figure and its PNG: choose the columns,
prepare the arrays, draw the marks and the frame, or a "No rows"/"No values"
notice when there is nothing to draw.

Figures are built on `matplotlib.figure.Figure` with an Agg canvas, never through
pyplot, so no global figure state is touched and renders can run on several
threads.

Cost (`benchmarks/bench_load.py`, many runs at once): `render_chart` builds its
figure on the caller's thread, then lays it out (`chart_layout.FittedLayout`: one
measure of the decorations for most charts) and draws it holding `_DRAWING`, one
chart at a time, with the one renderer kept for that (`_RENDERERS`, a
`chart_renderer.ChartRenderer`): text already measured, shaped or rasterised for an
earlier chart (tick numbers, axis names, categories) is not measured, shaped or
rasterised again, and the charts being drawn do not take turns on the interpreter.
(matplotlib draws one figure at a time anyway: `Figure.draw` holds a lock of its
own.) The layout is run once, before the draw, rather than by `savefig`'s first draw
of every artist; the pixels are copied out as RGB under the lock and encoded outside
it, at zlib level 3 (`_encode_png`).
"""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from shared.kusto.types import Column

from .chart_axes import (
    CategoryFit,
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
from .chart_draw import draw_bars, draw_lines, draw_pie, draw_scatter
from .chart_format import default_title, join_names, plain, title_text
from .chart_layout import FittedLayout
from .chart_renderer import ChartRenderer
from .chart_spec import Chart, ChartSpec, choose_columns
from .chart_style import (
    DPI,
    GRID_COLOUR,
    HEIGHT_PX,
    MAX_CATEGORIES,
    TEXT_COLOUR,
    WIDTH_PX,
)

__all__ = ["build_figure", "render_chart"]

_Chosen = tuple[str, tuple[str, ...], str | None]


@dataclass
class _Meta:
    series_count: int = 0
    empty: bool = False
    #: The chart's title, drawn or not (it goes in the PNG's metadata).
    title: str = ""


def _new_figure() -> Figure:
    fig = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI, facecolor="white",
                 layout=FittedLayout())
    FigureCanvasAgg(fig)
    return fig


def _draw_empty(fig: Figure, title: str, message: str, detail: str) -> None:
    ax = fig.add_subplot()
    ax.set_axis_off()
    if title:
        set_title(ax, title)
    ax.text(0.5, 0.55, message, transform=ax.transAxes, ha="center", va="center",
            fontsize=22, color="#777777")
    ax.text(0.5, 0.42, plain(detail), transform=ax.transAxes, ha="center", va="center",
            fontsize=10, color="#999999")


def _build(spec: ChartSpec, columns: Sequence[Column], rows: Sequence[Sequence[Any]],
           titled: bool = True) -> tuple[Figure, _Meta, _Chosen]:
    chosen = choose_columns(spec, columns, rows)
    x, ys, series = chosen
    kind = spec.kind
    fig = _new_figure()
    x_type = next(c.type for c in columns if c.name == x)
    x_kind_guess = "time" if x_type == "datetime" and kind in ("timechart", "line", "area",
                                                                "scatter") else "other"
    full_title = spec.title or default_title(kind, x, ys, series, x_kind_guess)
    title = full_title if titled else ""
    if not rows:
        _draw_empty(fig, title, "No rows", "The query returned no rows to chart.")
        return fig, _Meta(0, True, full_title), chosen

    data = prepare_data(kind, columns, rows, x, ys, series)
    ax = fig.add_subplot()
    categories: list[str] = []
    if kind == "pie":
        count = draw_pie(ax, data, ys[0])
        if count and title:  # a pie's axes are narrow: title the figure, left-aligned
            fig.suptitle(plain(title_text(title)), x=0.015, ha="left", fontsize=13,
                         fontweight="bold", color=TEXT_COLOUR)
    else:
        plan = plan_series(data, ys)
        horizontal = kind == "bar"
        style_axes(ax, "x" if horizontal else "y")
        if kind in ("bar", "column"):
            count = draw_bars(ax, kind, data, plan)
            categories = data.x_labels[:MAX_CATEGORIES]
        else:
            if kind == "scatter":
                count = draw_scatter(ax, data, plan)
                ax.grid(True, axis="x", color=GRID_COLOUR, linewidth=0.8)
            else:
                count = draw_lines(ax, kind, data, plan)
            if data.x_kind == "time":
                time_axis(ax)
                ax.margins(x=0.01)
                if count and data.x[0] == data.x[-1]:  # one instant: show its day
                    ax.set_xlim(data.x[0] - 0.5, data.x[0] + 0.5)
            elif data.x_kind == "number":
                ax.xaxis.set_major_formatter(NumberFormatter())
                ax.margins(x=0.01 if kind != "scatter" else 0.03)
            else:
                category_ticks(ax, data.x_labels, horizontal=False)
                categories = data.x_labels
        if count:
            whole_number_ticks(ax, data, "x" if horizontal else "y")
            x_label = spec.x_title or (f"{x} (UTC)" if data.x_kind == "time" else x)
            y_label = spec.y_title or join_names(ys)
            if horizontal:
                set_labels(ax, y_label, x_label)
            else:
                set_labels(ax, x_label, y_label)
            if title:
                set_title(ax, title)
            if count > 1:
                legend(ax)
            engine = fig.get_layout_engine()
            if categories and isinstance(engine, FittedLayout):
                engine.fits.append(CategoryFit(ax, categories, horizontal))
    if not count:
        fig.clear()
        _draw_empty(fig, title, "No values",
                    f"Every value of {join_names(ys)} is empty"
                    + (" or not positive." if kind == "pie" else "."))
        return fig, _Meta(0, True, full_title), chosen
    return fig, _Meta(count, False, full_title), chosen


def build_figure(spec: ChartSpec, columns: Sequence[Column],
                 rows: Sequence[Sequence[Any]], *, titled: bool = True) -> Figure:
    """The Figure `render_chart` would save (`charts.build_figure`)."""
    return _build(spec, columns, rows, titled)[0]


#: Held while `render_chart` lays out and draws a figure on the kept renderer.
_DRAWING = threading.Lock()
#: The renderer `render_chart` draws with, by (width, height, dpi) in pixels.
_RENDERERS: dict[tuple[int, int, float], ChartRenderer] = {}


def _draw(fig: Figure) -> Image.Image:
    """Lay *fig* out and draw it; its pixels as an RGB image (the face is opaque
    white, so alpha says nothing). Call holding `_DRAWING`.

    What `savefig` does before it encodes, less its first, unrendered draw of every
    artist (which is there to run the layout): the layout on the renderer that will
    draw, each axes' aspect applied first as `Figure.draw` does, then the layout
    engine switched off and the figure drawn once."""
    canvas = fig.canvas
    assert isinstance(canvas, FigureCanvasAgg)  # made by _new_figure
    width, height = canvas.get_width_height(physical=True)
    key = (width, height, float(fig.dpi))
    renderer = _RENDERERS.get(key)
    if renderer is None:
        renderer = _RENDERERS[key] = ChartRenderer(width, height, fig.dpi)
    # What FigureCanvasAgg.get_renderer() looks at before making a renderer of its own.
    canvas.renderer, canvas._lastKey = renderer, key
    engine = fig.get_layout_engine()
    if engine is not None and fig.axes:
        for ax in fig.axes:
            ax.apply_aspect()
        try:
            engine.execute(fig)
        except ValueError:  # as in Figure.draw: the draw goes on with the layout as is
            pass
        fig.set_layout_engine("none")
    canvas.draw()  # type: ignore[no-untyped-call]
    # A copy (convert makes a new image): the next chart draws on the same renderer.
    return Image.frombuffer("RGBA", (width, height), canvas.buffer_rgba(),  # type: ignore[no-untyped-call]
                            "raw", "RGBA", 0, 1).convert("RGB")


def _encode_png(image: Image.Image, title: str) -> bytes:
    """The figure's pixels as a PNG: zlib level 3 (a third of the time of level 6 on
    a chart, and as small), its DPI, and the title in its metadata, drawn or not."""
    info = PngInfo()
    info.add_text("Title", title)
    info.add_text("Software", "Kusto Flows")
    buffer = io.BytesIO()
    image.save(buffer, format="png", compress_level=3, dpi=(DPI, DPI), pnginfo=info)
    return buffer.getvalue()


def render_chart(spec: ChartSpec, columns: Sequence[Column],
                 rows: Sequence[Sequence[Any]], *, titled: bool = True) -> Chart:
    """`rows` drawn as `spec` says, as a PNG (`charts.render_chart`)."""
    fig, meta, (x, ys, series) = _build(spec, columns, rows, titled)
    with _DRAWING:
        image = _draw(fig)
    png = _encode_png(image, meta.title)
    width, height = image.size
    return Chart(png=png, width_px=width, height_px=height, series_count=meta.series_count,
                 x_column=x, y_columns=ys, series_column=series, empty=meta.empty)
