"""Charts for reports: Kusto's `render` kinds drawn as email-sized PNGs.

This is the "Run query and visualize results" half of the ADX connector: a result
(columns + normalised rows, see `shared.kusto.types`) and a `ChartSpec` become an
800x450 PNG to attach or inline in a mail. Tables are not drawn here; the caller
renders those as HTML.

Columns are chosen the way Kusto's `render` chooses them (`choose_columns`): the x
axis is the first datetime column for a time chart, else the first string column
(a scatter chart: the first datetime or numeric column); the y values are the
numeric columns other than x; a remaining string column splits the rows into
series (long format, pivoted: one line or bar group per distinct value) when it
has something to split: only when some x value has several rows (a scatter chart:
when some value of it repeats), so the extra column of an `arg_max(...) by State`
does not turn each bar into a series of its own. `ChartSpec.x`, `.y` and `.series`
override the guesses, as `render ... with (xcolumn=..., ycolumns=..., series=...)`
does; `chart_from_render_hint` reads the
Visualization annotation a query's own `| render` leaves in the result.

This module is the public face; the work is done in:

- `chart_spec`: ChartSpec, Chart, ChartError, column choice, render hints;
- `chart_style`: size, colours and limits;
- `chart_format`: values, labels and titles as text;
- `chart_data`: the result as numpy arrays, and the series to draw;
- `chart_axes` and `chart_draw`: the frame and the marks, in matplotlib;
- `chart_figure`: the figure and its PNG.

matplotlib, numpy and friends load only when something is drawn (the first call
of `render_chart` or `build_figure`), so importing this module stays cheap for the
Functions host.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from shared.kusto.types import Column

from .chart_spec import (
    CHART_KINDS,
    Chart,
    ChartError,
    ChartSpec,
    chart_from_render_hint,
    choose_columns,
    unsupported_render,
)
from .chart_style import DPI as DPI
from .chart_style import HEIGHT_PX as HEIGHT_PX
from .chart_style import MAX_CATEGORIES as MAX_CATEGORIES
from .chart_style import MAX_LEGEND_ENTRIES as MAX_LEGEND_ENTRIES
from .chart_style import MAX_VALUE_LABELS as MAX_VALUE_LABELS
from .chart_style import OTHER_COLOUR as OTHER_COLOUR
from .chart_style import OTHER_LABEL as OTHER_LABEL
from .chart_style import PALETTE as PALETTE
from .chart_style import PIE_MAX_SLICES as PIE_MAX_SLICES
from .chart_style import PIE_MIN_SHARE as PIE_MIN_SHARE
from .chart_style import WIDTH_PX as WIDTH_PX

if TYPE_CHECKING:  # pragma: no cover - typing only, never imported at run time
    from matplotlib.figure import Figure

__all__ = [
    "CHART_KINDS",
    "Chart",
    "ChartError",
    "ChartSpec",
    "build_figure",
    "chart_from_render_hint",
    "choose_columns",
    "render_chart",
    "unsupported_render",
]


def render_chart(spec: ChartSpec, columns: Sequence[Column],
                 rows: Sequence[Sequence[Any]], *, titled: bool = True) -> Chart:
    """Draw `rows` as `spec` says, as an 800x450 PNG.

    `titled=False` leaves the title out of the image (a report's heading carries it);
    it is in the PNG's metadata either way. No rows gives a "No rows" image with
    `empty=True`, not an error. Raises `ChartError` for a table kind and for columns
    that do not fit the kind.
    """
    from .chart_figure import render_chart as render

    return render(spec, columns, rows, titled=titled)


def build_figure(spec: ChartSpec, columns: Sequence[Column],
                 rows: Sequence[Sequence[Any]], *, titled: bool = True) -> Figure:
    """The matplotlib Figure `render_chart` would save (for tests and callers that
    want another format). Not tied to pyplot: drop it when done."""
    from .chart_figure import build_figure as build

    return build(spec, columns, rows, titled=titled)
