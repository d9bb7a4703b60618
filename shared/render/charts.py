"""Charts for reports: Kusto's `render` kinds drawn as email-sized PNGs.

This is the "Run query and visualize results" half of the ADX connector: a result
(columns + normalised rows, see `shared.kusto.types`) and a `ChartSpec` become an
800x450 PNG to attach or inline in a mail. Tables are not drawn here; the caller
renders those as HTML.

Columns are chosen the way Kusto's `render` chooses them (`choose_columns`): the x
axis is the first datetime column for a time chart, else the first string column;
the y values are the numeric columns other than x; a remaining string column splits
the rows into series (long format, pivoted: one line or bar group per distinct
value). `ChartSpec.x`, `.y` and `.series` override the guesses, as `render ... with
(xcolumn=..., ycolumns=..., series=...)` does; `chart_from_render_hint` reads the
Visualization annotation a query's own `| render` leaves in the result.

matplotlib, numpy and friends load only when something is drawn, so importing
this module stays cheap for the Functions host. Figures are built on
`matplotlib.figure.Figure` with an Agg canvas, never through pyplot, so no global
figure state is touched and renders can run on several threads.
"""

from __future__ import annotations

import functools
import io
import json
import math
import operator
import struct
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from shared.kusto.types import NUMERIC_TYPES, Column

if TYPE_CHECKING:  # pragma: no cover - typing only, never imported at run time
    import numpy as np
    from matplotlib.axes import Axes
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
]

#: What a flow may ask for. `table` is listed so a spec can carry it, but it is not
#: drawn here (`render_chart` refuses it; the caller renders an HTML table).
CHART_KINDS = ("table", "pie", "timechart", "bar", "column", "line", "area")

#: Output size: fits a mail body on a laptop without scaling, small to attach.
WIDTH_PX, HEIGHT_PX, DPI = 800, 450, 100

#: Most legend entries drawn; beyond that the smallest series fold into "Other".
MAX_LEGEND_ENTRIES = 12
#: Pie slices: at most this many named slices, each at least this share of the total.
PIE_MAX_SLICES = 9
PIE_MIN_SHARE = 0.03
#: Bar and column charts draw at most this many categories (the first ones, in
#: result order); a note under the chart says how many were left out.
MAX_CATEGORIES = 100
#: Up to this many bars get their value written next to them.
MAX_VALUE_LABELS = 24

#: Okabe & Ito's colour-blind-safe palette (yellow and black last: weakest on
#: white, heaviest), then three of Paul Tol's muted colours for series 9 to 11.
PALETTE = (
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7",
    "#F0E442", "#000000", "#882255", "#44AA99", "#999933",
)
OTHER_COLOUR = "#B0B0B0"
OTHER_LABEL = "Other"

_TEXT = "#222222"
_MUTED = "#555555"
_GRID = "#E6E6E6"
_SPINE = "#9A9A9A"

_KIND_NAMES = {
    "pie": "pie chart",
    "timechart": "time chart",
    "bar": "bar chart",
    "column": "column chart",
    "line": "line chart",
    "area": "area chart",
}
#: Column types read as categories (string-like). Kusto's `render` splits series
#: on string columns; guid is a string to a reader.
_CATEGORY_TYPES = frozenset({"string", "guid"})

#: Kusto's `render` visualizations (and our own kind names) -> ChartSpec.kind.
_RENDER_KINDS = {
    "piechart": "pie",
    "timechart": "timechart",
    "anomalychart": "timechart",
    "barchart": "bar",
    "columnchart": "column",
    "linechart": "line",
    "areachart": "area",
    "stackedareachart": "area",
    "table": "table",
    **{kind: kind for kind in CHART_KINDS},
}


class ChartError(ValueError):
    """The spec and the result do not make a chart; the message says why, naming
    the columns (and their types) it saw."""


@dataclass(frozen=True)
class ChartSpec:
    """What to draw. Empty `x`/`y`/`series` mean "choose as Kusto's render does"."""

    kind: str
    x: str | None = None
    y: tuple[str, ...] = ()
    series: str | None = None
    title: str = ""
    x_title: str = ""
    y_title: str = ""

    def __post_init__(self) -> None:
        if self.kind not in CHART_KINDS:
            raise ChartError(
                f"unknown chart kind {self.kind!r}; use one of {', '.join(CHART_KINDS)}")
        # Be forgiving with hand-written flows: y may come as a list or a single name.
        if isinstance(self.y, str):
            object.__setattr__(self, "y", (self.y,) if self.y else ())
        elif not isinstance(self.y, tuple):
            object.__setattr__(self, "y", tuple(self.y))


@dataclass(frozen=True)
class Chart:
    """A rendered chart. `empty` is true when there was nothing to draw (no rows,
    or no non-null values) and `png` shows a "No rows" notice instead.
    `series_count` is the number of lines/bar groups/areas drawn (after folding
    into "Other"); a pie counts as one series."""

    png: bytes = field(repr=False)
    width_px: int
    height_px: int
    series_count: int
    x_column: str
    y_columns: tuple[str, ...]
    series_column: str | None
    empty: bool


# ---------------------------------------------------------------------------
# Column choice (no matplotlib, no numpy)


def _describe(columns: Sequence[Column]) -> str:
    if not columns:
        return "no columns"
    return ", ".join(f"{c.name} ({c.type})" for c in columns)


def _kind_name(kind: str) -> str:
    return _KIND_NAMES.get(kind, f"{kind} chart")


def _check_chart_kind(kind: str) -> None:
    if kind == "table":
        raise ChartError("table is not a chart; render the result as an HTML table instead")
    if kind not in _KIND_NAMES:
        raise ChartError(
            f"unknown chart kind {kind!r}; use one of {', '.join(CHART_KINDS)}")


def _default_x(kind: str, columns: Sequence[Column]) -> Column:
    def first(pred: Any) -> Column | None:
        return next((c for c in columns if pred(c)), None)

    is_time = lambda c: c.type == "datetime"  # noqa: E731
    is_category = lambda c: c.type in _CATEGORY_TYPES  # noqa: E731
    is_other = lambda c: not c.is_numeric and c.type not in _CATEGORY_TYPES  # noqa: E731
    numeric = [c for c in columns if c.is_numeric]
    # A numeric x only when another numeric column is left for y.
    first_numeric = numeric[0] if len(numeric) > 1 else None

    if kind == "timechart":
        found = first(is_time)
        if found is None:
            raise ChartError(
                "a time chart needs a datetime column for the x axis; "
                f"the result has {_describe(columns)}")
        return found
    if kind in ("line", "area"):
        found = first(is_time) or first(is_category) or first_numeric or first(is_other)
    else:  # bar, column, pie: categories first
        found = first(is_category) or first(is_time) or first(is_other) or first_numeric
    if found is None:
        raise ChartError(
            f"a {_kind_name(kind)} needs a column for the x axis and a numeric column; "
            f"the result has {_describe(columns)}")
    return found


def choose_columns(
    spec: ChartSpec, columns: Sequence[Column]
) -> tuple[str, tuple[str, ...], str | None]:
    """(x, y columns, series column) for `spec` over a result with `columns`.

    Raises `ChartError` (naming the columns it saw) for a table kind, an override
    naming a column the result does not have, or no numeric column to plot.
    """
    kind = spec.kind
    _check_chart_kind(kind)
    by_name = {c.name: c for c in columns}

    def lookup(name: str, role: str) -> Column:
        found = by_name.get(name)
        if found is None:
            raise ChartError(
                f"the {role} column {name!r} is not in the result; "
                f"the result has {_describe(columns)}")
        return found

    if spec.x:
        x = lookup(spec.x, "x")
        if kind == "timechart" and x.type != "datetime":
            raise ChartError(
                f"a time chart needs a datetime x column, and {x.name} is {x.type}; "
                f"the result has {_describe(columns)}")
    else:
        x = _default_x(kind, columns)

    series: Column | None = None
    if spec.series:
        if kind == "pie":
            raise ChartError("a pie chart has no series; drop `series` or use a bar chart")
        series = lookup(spec.series, "series")
        if series.name == x.name:
            raise ChartError(f"{x.name} cannot be both the x axis and the series column")

    if spec.y:
        ys: list[Column] = []
        for name in spec.y:
            col = lookup(name, "y")
            if not col.is_numeric:
                raise ChartError(
                    f"the y column {name!r} is {col.type}, not numeric; "
                    f"the result has {_describe(columns)}")
            if col.name == x.name or (series is not None and col.name == series.name):
                raise ChartError(f"{col.name} cannot be both a y column and the x/series column")
            if col not in ys:
                ys.append(col)
    else:
        ys = [c for c in columns
              if c.is_numeric and c.name != x.name
              and (series is None or c.name != series.name)]
    if not ys:
        raise ChartError(
            f"a {_kind_name(kind)} needs a numeric column; the result has {_describe(columns)}")
    if kind == "pie":
        ys = ys[:1]

    if series is None and kind != "pie" and not spec.series:
        taken = {x.name, *(c.name for c in ys)}
        series = next((c for c in columns
                       if c.type in _CATEGORY_TYPES and c.name not in taken), None)

    return x.name, tuple(c.name for c in ys), series.name if series else None


# ---------------------------------------------------------------------------
# Render hints (the Visualization annotation of a query's `| render`)


def _hint_columns(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        parts: Sequence[Any] = value.split(",")
    elif isinstance(value, list | tuple):
        parts = value
    else:
        return ()
    return tuple(str(p).strip() for p in parts if p is not None and str(p).strip())


def _hint_text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def chart_from_render_hint(visualization: str | dict | None) -> ChartSpec | None:
    """The ChartSpec a query's own `| render` asks for, or None.

    `visualization` is either the kind (`"piechart"`, `"timechart"`, ...), or the
    Visualization JSON Kusto puts in `@ExtendedProperties` (as a dict or its JSON
    text) with `Visualization`, `Title`, `XColumn`, `YColumns`, `Series`, `XTitle`
    and `YTitle`. Kinds we cannot draw (scatter, ladder, card, map, ...) give
    None, so the caller falls back to a table. `Series` naming several columns
    keeps the first: a spec splits series on one column.
    """
    if visualization is None:
        return None
    if isinstance(visualization, str):
        text = visualization.strip()
        if text.startswith("{"):
            try:
                parsed = json.loads(text)
            except ValueError:
                return None
            return chart_from_render_hint(parsed) if isinstance(parsed, dict) else None
        kind = _RENDER_KINDS.get(text.lower())
        return ChartSpec(kind=kind) if kind else None
    if not isinstance(visualization, dict):
        return None

    props = {str(k).lower(): v for k, v in visualization.items()}
    name = props.get("visualization")
    if not isinstance(name, str):
        return None
    kind = _RENDER_KINDS.get(name.strip().lower())
    if kind is None:
        return None
    x = _hint_text(props.get("xcolumn")) or None
    series_cols = _hint_columns(props.get("series"))
    return ChartSpec(
        kind=kind,
        x=x,
        y=_hint_columns(props.get("ycolumns")),
        series=series_cols[0] if series_cols and kind != "pie" else None,
        title=_hint_text(props.get("title")),
        x_title=_hint_text(props.get("xtitle")),
        y_title=_hint_text(props.get("ytitle")),
    )


# ---------------------------------------------------------------------------
# Value helpers (numpy is passed in: it is imported only when drawing)


def _join_names(names: Sequence[str]) -> str:
    if len(names) <= 3:
        return ", ".join(names)
    return f"{names[0]}, {names[1]} and {len(names) - 2} more"


def _shorten(text: str, width: int, middle: bool = False) -> str:
    """At most `width` characters; `middle` keeps the end too ("eastus-…-node-12"),
    where names tend to differ."""
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    if middle:
        head = (width - 1) // 2 + (width - 1) % 2
        return text[:head].rstrip() + "…" + text[len(text) - (width - 1 - head):].lstrip()
    return text[: width - 1].rstrip() + "…"


def _format_value(value: float) -> str:
    """A bar's or slice's value for people: 1,234 / 12.5 / 3.4M."""
    if not math.isfinite(value):
        return ""
    magnitude = abs(value)
    for scale, suffix in _SCALES:
        if magnitude >= scale:
            return f"{value / scale:.3g}{suffix}"
    if float(value).is_integer():
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:,.1f}"
    return f"{value:.3g}"


#: Suffixes from a million up, as Power BI writes them (1.2M, 3.4bn, 5T).
_SCALES = ((1e12, "T"), (1e9, "bn"), (1e6, "M"))


def _label(value: Any) -> str:
    """A category (x value or series value) as text."""
    if value is None or value == "":
        return "(empty)"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        if (value.hour, value.minute, value.second, value.microsecond) == (0, 0, 0, 0):
            return value.strftime("%Y-%m-%d")
        return value.strftime("%Y-%m-%d %H:%M" if value.second == 0 else "%Y-%m-%d %H:%M:%S")
    if isinstance(value, date | timedelta):
        return str(value)
    if isinstance(value, int | float | Decimal):
        number = float(value)
        return f"{value:,}" if isinstance(value, int) else _format_value(number)
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    return str(value)


def _to_float(value: Any) -> float:
    if value is None or isinstance(value, bool):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return math.nan


def _floats(np: Any, values: list[Any]) -> np.ndarray:
    """Numbers as a float array; None, bools, non-numbers and infinities -> NaN."""
    try:
        array = np.array(values, dtype=float)  # None -> NaN, Decimal -> float, in C
    except (TypeError, ValueError, OverflowError):
        array = np.fromiter(map(_to_float, values), dtype=float, count=len(values))
    if array.ndim != 1:  # e.g. a dynamic column of lists slipped through
        array = np.fromiter(map(_to_float, values), dtype=float, count=len(values))
    array[~np.isfinite(array)] = np.nan
    return array


def _timestamp(value: Any) -> float:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.timestamp()
    if isinstance(value, str):
        try:
            return _timestamp(datetime.fromisoformat(value))
        except ValueError:
            return math.nan
    return math.nan


def _date_numbers(np: Any, values: list[Any]) -> np.ndarray:
    """Datetimes (aware, UTC) as matplotlib date numbers (days since its epoch)."""
    import matplotlib.dates as mdates

    count = len(values)
    first = values[0] if values else None
    try:
        if not isinstance(first, datetime) or first.tzinfo is None:
            raise TypeError
        # Fast path: every value an aware datetime (how results are normalised).
        seconds = np.fromiter(map(datetime.timestamp, values), dtype=float, count=count)
    except (AttributeError, TypeError):
        seconds = np.fromiter(map(_timestamp, values), dtype=float, count=count)
    offset = float(mdates.date2num(np.datetime64(0, "s")))
    return seconds / 86400.0 + offset


def _category_codes(np: Any, values: list[Any]) -> tuple[np.ndarray, list[str]]:
    """Distinct values in first-seen order: (code per value, label per code)."""
    index: dict[Any, int] = {}
    try:
        # Kusto has no null string: null and "" are the same (empty) category.
        codes = [index.setdefault("" if v is None else v, len(index)) for v in values]
        keys = list(index)
    except TypeError:  # unhashable (dynamic) values: group by their text
        index = {}
        codes = [index.setdefault(_label(v), len(index)) for v in values]
        keys = list(index)
    labels: list[str] = []
    seen: dict[str, int] = {}
    for key in keys:  # 1 and "1" would print alike; keep labels distinct
        text = _label(key)
        if text in seen:
            seen[text] += 1
            text = f"{text} ({seen[text]})"
        else:
            seen[text] = 1
        labels.append(text)
    return np.asarray(codes, dtype=np.intp), labels


# ---------------------------------------------------------------------------
# Drawing


@dataclass
class _Series:
    label: str
    y_index: int
    #: Series codes (values of the series column) this drawn series covers;
    #: None = every row (no series column).
    codes: tuple[int, ...] | None
    colour: str
    other: bool = False


@dataclass
class _Data:
    """The result as arrays, once: x (date numbers, numbers or category codes), the
    y columns as floats, and series codes."""

    x_kind: str  # "time" | "number" | "category"
    x: np.ndarray
    x_labels: list[str]
    ys: list[np.ndarray]
    series_codes: np.ndarray | None
    series_labels: list[str]


@dataclass
class _Meta:
    series_count: int = 0
    empty: bool = False


def _prepare(np: Any, kind: str, columns: Sequence[Column], rows: Sequence[Sequence[Any]],
             x: str, ys: tuple[str, ...], series: str | None) -> _Data:
    position = {c.name: i for i, c in enumerate(columns)}
    types = {c.name: c.type for c in columns}

    def values(name: str) -> list[Any]:
        return list(map(operator.itemgetter(position[name]), rows))

    x_values = values(x)
    x_labels: list[str] = []
    if kind in ("timechart", "line", "area") and types[x] == "datetime":
        x_kind, x_array = "time", _date_numbers(np, x_values)
    elif kind in ("line", "area") and types[x] in NUMERIC_TYPES:
        x_kind, x_array = "number", _floats(np, x_values)
    else:
        x_kind = "category"
        x_array, x_labels = _category_codes(np, x_values)
    y_arrays = [_floats(np, values(name)) for name in ys]
    series_codes, series_labels = None, []
    if series is not None:
        series_codes, series_labels = _category_codes(np, values(series))
    data = _Data(x_kind, x_array, x_labels, y_arrays, series_codes, series_labels)

    if x_kind != "category":
        # Time and number axes: drop rows without an x, and draw in x order.
        keep = ~np.isnan(data.x)
        order = np.argsort(data.x, kind="stable")
        if not keep.all():
            order = order[keep[order]]
        if not (len(order) == len(data.x) and np.all(order[1:] > order[:-1])):
            data.x = data.x[order]
            data.ys = [y[order] for y in data.ys]
            if data.series_codes is not None:
                data.series_codes = data.series_codes[order]
    return data


def _plan_series(np: Any, data: _Data, ys: tuple[str, ...]) -> list[_Series]:
    """The series to draw: one per (y column, series value), in result order; past
    MAX_LEGEND_ENTRIES the smallest (by total |y|) fold into "Other"."""
    multi_y = len(ys) > 1
    if data.series_codes is None:
        return [_Series(name, j, None, PALETTE[j % len(PALETTE)]) for j, name in enumerate(ys)]

    n_values = len(data.series_labels)
    candidates: list[tuple[int, int, float]] = []  # (y index, series code, total)
    for j, y in enumerate(data.ys):
        weights = np.abs(np.nan_to_num(y, nan=0.0))
        totals = np.bincount(data.series_codes, weights=weights, minlength=n_values)
        present = np.bincount(data.series_codes[~np.isnan(y)], minlength=n_values)
        candidates.extend((j, k, float(totals[k])) for k in range(n_values) if present[k])

    def label(j: int, k: int) -> str:
        text = data.series_labels[k]
        return f"{text} · {ys[j]}" if multi_y else text

    if len(candidates) <= MAX_LEGEND_ENTRIES:
        kept, folded = candidates, []
    else:
        ranked = sorted(range(len(candidates)), key=lambda i: -candidates[i][2])
        keep_idx = set(ranked[: MAX_LEGEND_ENTRIES - 1])
        kept = [c for i, c in enumerate(candidates) if i in keep_idx]
        folded = [c for i, c in enumerate(candidates) if i not in keep_idx]

    planned = [_Series(label(j, k), j, (k,), PALETTE[i % len(PALETTE)])
               for i, (j, k, _total) in enumerate(kept)]
    for j in sorted({c[0] for c in folded}):
        codes = tuple(k for jj, k, _total in folded if jj == j)
        name = f"{OTHER_LABEL} ({len(codes)})"
        if multi_y:
            name = f"{name} · {ys[j]}"
        planned.append(_Series(name, j, codes, OTHER_COLOUR, other=True))
    return planned


def _decimate(np: Any, xs: np.ndarray, ys: np.ndarray, lo: float, hi: float
              ) -> tuple[np.ndarray, np.ndarray]:
    """Thin a long sorted line to what the PNG can show: per sliver of the x range
    (a few per pixel column) keep the first, lowest, highest and last point. The
    drawn line covers the same pixels; Agg draws thousands of points, not 100,000."""
    bins = _DECIMATE_BINS
    if len(xs) <= 4 * bins or not hi > lo:
        return xs, ys
    slot = ((xs - lo) * (bins / (hi - lo))).astype(np.intp)
    starts = np.flatnonzero(slot[1:] != slot[:-1]) + 1
    starts = np.concatenate(([0], starts))
    ends = np.concatenate((starts[1:], [len(xs)])) - 1
    out_x = np.empty(4 * len(starts))
    out_y = np.empty(4 * len(starts))
    out_x[0::4], out_y[0::4] = xs[starts], ys[starts]
    out_x[1::4], out_y[1::4] = xs[starts], np.minimum.reduceat(ys, starts)
    out_x[2::4], out_y[2::4] = xs[ends], np.maximum.reduceat(ys, starts)
    out_x[3::4], out_y[3::4] = xs[ends], ys[ends]
    return out_x, out_y


#: Slivers of the x range when thinning long lines: two per pixel column of the PNG.
_DECIMATE_BINS = 2 * WIDTH_PX


def _series_points(np: Any, data: _Data, s: _Series) -> tuple[np.ndarray, np.ndarray]:
    """x, y of one drawn series, NaNs skipped; "Other" sums the folded series per x."""
    y = data.ys[s.y_index]
    if s.codes is None:
        mask = ~np.isnan(y)
    elif len(s.codes) == 1:
        mask = (data.series_codes == s.codes[0]) & ~np.isnan(y)
    else:
        mask = np.isin(data.series_codes, s.codes) & ~np.isnan(y)
    xs, values = data.x[mask], y[mask]
    if s.other and len(xs):
        unique, inverse = np.unique(xs, return_inverse=True)
        return unique, np.bincount(inverse, weights=values, minlength=len(unique))
    return xs, values


def _category_totals(np: Any, data: _Data, s: _Series, n_categories: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Per category: summed y of one drawn series, and whether it had any value."""
    xs, values = _series_points(np, data, s)
    codes = xs.astype(np.intp)
    inside = codes < n_categories
    codes, values = codes[inside], values[inside]
    totals = np.bincount(codes, weights=values, minlength=n_categories)
    present = np.bincount(codes, minlength=n_categories) > 0
    return totals, present


@functools.cache
def _number_formatter_class() -> type:
    from matplotlib.ticker import Formatter

    class NumberFormatter(Formatter):
        """Tick labels with thousands separators (12,500), K-less up to a million,
        then M/B/T; as many decimals as the tick step needs."""

        def __init__(self) -> None:
            self._scale, self._suffix, self._decimals = 1.0, "", 0

        def set_locs(self, locs: Sequence[float]) -> None:
            super().set_locs(locs)
            finite = [float(v) for v in locs if math.isfinite(v)]
            biggest = max((abs(v) for v in finite), default=0.0)
            self._scale, self._suffix = next(
                ((scale, suffix) for scale, suffix in _SCALES if biggest >= scale), (1.0, ""))
            scaled = [v / self._scale for v in finite]
            self._decimals = next(
                (d for d in range(7)
                 if all(abs(round(v, d) - v) <= 1e-9 * max(1.0, abs(v)) for v in scaled)), 6)

        def __call__(self, x: float, pos: int | None = None) -> str:
            text = f"{x / self._scale:,.{self._decimals}f}"
            if not text.strip("-0.,"):
                return "0"  # not "-0", not "0bn"
            return text + self._suffix

    return NumberFormatter


def _style_axes(ax: Axes, value_axis: str) -> None:
    ax.set_facecolor("white")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color(_SPINE)
    ax.tick_params(colors=_MUTED, labelsize=9, length=3)
    ax.grid(True, axis=value_axis, color=_GRID, linewidth=0.8)
    ax.set_axisbelow(True)
    (ax.yaxis if value_axis == "y" else ax.xaxis).set_major_formatter(
        _number_formatter_class()())


def _title_text(title: str) -> str:
    """At most two lines of about 70 characters (what 13pt bold fits in 800 px)."""
    lines = textwrap.wrap(" ".join(title.split()), width=70)
    if len(lines) > 2:
        lines = [lines[0], _shorten(" ".join(lines[1:]), 70)]
    return "\n".join(lines)


def _set_title(ax: Axes, title: str) -> None:
    ax.set_title(_title_text(title), loc="left", fontsize=13, fontweight="bold",
                 color=_TEXT, pad=10)


def _set_labels(ax: Axes, x_label: str, y_label: str) -> None:
    ax.set_xlabel(_shorten(x_label, 80), fontsize=10, color=_MUTED)
    ax.set_ylabel(_shorten(y_label, 50), fontsize=10, color=_MUTED)


def _legend(ax: Axes, handles: list[Any] | None = None, labels: list[str] | None = None
            ) -> None:
    kwargs = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0), "frameon": False,
              "fontsize": 9, "handlelength": 1.6, "borderaxespad": 0.0,
              "labelcolor": _TEXT}
    if handles is not None:
        ax.legend(handles, [_shorten(t, 28, middle=True) for t in labels or []], **kwargs)
    else:
        handles, labels = ax.get_legend_handles_labels()
        ax.legend(handles, [_shorten(t, 28, middle=True) for t in labels], **kwargs)


def _category_ticks(np: Any, ax: Axes, labels: list[str], horizontal: bool) -> None:
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
    texts = [_shorten(labels[i], width, middle=True) for i in positions]
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


#: Tick labels of a time axis, by tick level (years, months, days, hours, minutes,
#: seconds): "Jun 02" rather than a bare "02", and the day a run of hour ticks
#: belongs to written at its midnight ("Jun 02" among "06:00", "12:00").
_DATE_FORMATS = ["%Y", "%b", "%b %d", "%H:%M", "%H:%M", "%H:%M:%S.%f"]
_DATE_ZERO_FORMATS = ["", "%Y", "%b %d", "%b %d", "%H:%M", "%H:%M"]
#: The context under the axis's right end: the year ("2007"), or the day for ticks
#: within one day ("Jun 02, 2007").
_DATE_OFFSET_FORMATS = ["", "%Y", "%Y", "%Y", "%b %d, %Y", "%b %d, %Y %H:%M"]


def _time_axis(ax: Axes) -> None:
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator(tz=UTC, minticks=3, maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(
        locator, tz=UTC, formats=_DATE_FORMATS, zero_formats=_DATE_ZERO_FORMATS,
        offset_formats=_DATE_OFFSET_FORMATS))


def _whole_number_ticks(np: Any, ax: Axes, data: _Data, value_axis: str) -> None:
    """Counts get whole-number ticks (0, 1, 2, 3), never 0.5 or 2.5 events."""
    from matplotlib.ticker import MaxNLocator

    values = [y[~np.isnan(y)] for y in data.ys]
    if all(np.array_equal(v, np.round(v)) for v in values):
        axis = ax.xaxis if value_axis == "x" else ax.yaxis
        axis.set_major_locator(MaxNLocator(nbins="auto", steps=[1, 2, 2.5, 5, 10],
                                            integer=True, min_n_ticks=3))


def _default_title(kind: str, x: str, ys: tuple[str, ...], series: str | None,
                   x_kind: str) -> str:
    what = _join_names(ys)
    if kind == "pie":
        return f"{what} by {x}"
    base = f"{what} over time" if x_kind == "time" else f"{what} by {x}"
    return f"{base} per {series}" if series else base


def _draw_lines(np: Any, ax: Axes, kind: str, data: _Data, plan: list[_Series]) -> int:
    drawn: list[tuple[_Series, np.ndarray, np.ndarray]] = []
    for s in plan:
        xs, values = _series_points(np, data, s)
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
            stacks.append(np.bincount(slots, weights=values, minlength=len(grid)))
        ax.stackplot(grid, *stacks, labels=[s.label for s, _x, _v in drawn],
                     colors=[s.colour for s, _x, _v in drawn], alpha=0.85,
                     edgecolor="white", linewidth=0.4)
        return len(drawn)

    lo, hi = (float(data.x[0]), float(data.x[-1])) if data.x_kind != "category" else (0, 0)
    for s, xs, values in drawn:
        if s.other and kind != "area":
            _draw_other_lines(np, ax, data, s, lo, hi)
            continue
        many = len(xs) > 2000
        if data.x_kind != "category":
            xs, values = _decimate(np, xs, values, lo, hi)
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


def _draw_other_lines(np: Any, ax: Axes, data: _Data, s: _Series, lo: float, hi: float
                      ) -> None:
    """The folded series of a line chart, each its own thin grey line (one legend
    entry for all): a sum of, say, CPU percentages would be a made-up number."""
    from matplotlib.collections import LineCollection

    y = data.ys[s.y_index]
    mask = np.isin(data.series_codes, s.codes) & ~np.isnan(y)
    codes, xs, values = data.series_codes[mask], data.x[mask], y[mask]
    order = np.argsort(codes, kind="stable")  # keeps x order within each series
    codes, xs, values = codes[order], xs[order], values[order]
    bounds = np.flatnonzero(codes[1:] != codes[:-1]) + 1
    segments = []
    for part_x, part_y in zip(np.split(xs, bounds), np.split(values, bounds), strict=True):
        if data.x_kind != "category":
            part_x, part_y = _decimate(np, part_x, part_y, lo, hi)
        segments.append(np.column_stack((part_x, part_y)))
    lines = LineCollection(segments, colors=s.colour, linewidths=0.8, alpha=0.7,
                           label=s.label, zorder=2)
    ax.add_collection(lines, autolim=True)
    ax.autoscale_view()


def _draw_bars(np: Any, ax: Axes, kind: str, data: _Data, plan: list[_Series]) -> int:
    horizontal = kind == "bar"
    n_categories = min(len(data.x_labels), MAX_CATEGORIES)
    positions = np.arange(n_categories, dtype=float)
    bars = [(s, *_category_totals(np, data, s, n_categories)) for s in plan]
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
            container = ax.barh(offsets, heights, height=width * 0.95, color=s.colour,
                                label=s.label, zorder=3)
        else:
            container = ax.bar(offsets, heights, width=width * 0.95, color=s.colour,
                               label=s.label, zorder=3)
        if label_values:
            texts = [_format_value(v) if p else "" for v, p in zip(heights, present,
                                                                     strict=True)]
            ax.bar_label(container, labels=texts, padding=3, fontsize=8, color=_MUTED)

    _category_ticks(np, ax, data.x_labels[:n_categories], horizontal)
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
                    fontsize=8, color=_MUTED)
    return len(bars)


def _draw_pie(np: Any, ax: Axes, data: _Data, y_name: str) -> int:
    n_categories = len(data.x_labels)
    values = data.ys[0]
    ok = ~np.isnan(values) & (values > 0)
    totals = np.bincount(data.x[ok].astype(np.intp), weights=values[ok],
                         minlength=n_categories)
    order = [int(i) for i in np.argsort(-totals, kind="stable") if totals[i] > 0]
    grand = float(totals.sum())
    if not order or grand <= 0:
        return 0

    named = [i for i in order[:PIE_MAX_SLICES] if totals[i] / grand >= PIE_MIN_SHARE]
    rest = [i for i in order if i not in set(named)]
    sizes = [float(totals[i]) for i in named]
    labels = [data.x_labels[i] for i in named]
    colours = [PALETTE[k % len(PALETTE)] for k in range(len(named))]
    if rest:
        sizes.append(float(totals[rest].sum()))
        labels.append(f"{OTHER_LABEL} ({len(rest)})")
        colours.append(OTHER_COLOUR)

    wedges, _texts, autotexts = ax.pie(
        sizes, colors=colours, startangle=90, counterclock=False,
        wedgeprops={"linewidth": 1.2, "edgecolor": "white"},
        autopct=lambda pct: f"{pct:.0f}%" if pct >= 5 else "", pctdistance=0.72,
        textprops={"fontsize": 9, "color": "white", "fontweight": "bold"},
    )
    for text, colour in zip(autotexts, colours, strict=True):
        if colour in ("#F0E442", "#56B4E9", OTHER_COLOUR, "#E69F00"):
            text.set_color(_TEXT)  # dark text on light wedges
    ax.set_aspect("equal")
    legend_labels = [f"{_shorten(label, 24, middle=True)}  {_format_value(size)} "
                     f"({size / grand:.0%})" for label, size in zip(labels, sizes, strict=True)]
    ax.legend(wedges, legend_labels, loc="center left", bbox_to_anchor=(1.0, 0.5),
              frameon=False, fontsize=9, labelcolor=_TEXT, title=y_name,
              title_fontsize=9)
    return 1


def _new_figure() -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI, facecolor="white",
                 layout="constrained")
    FigureCanvasAgg(fig)
    fig.get_layout_engine().set(w_pad=0.12, h_pad=0.1)
    return fig


def _draw_empty(fig: Figure, title: str, message: str, detail: str) -> None:
    ax = fig.add_subplot()
    ax.set_axis_off()
    _set_title(ax, title)
    ax.text(0.5, 0.55, message, transform=ax.transAxes, ha="center", va="center",
            fontsize=22, color="#777777")
    ax.text(0.5, 0.42, detail, transform=ax.transAxes, ha="center", va="center",
            fontsize=10, color="#999999")


def _build(spec: ChartSpec, columns: Sequence[Column], rows: Sequence[Sequence[Any]]
           ) -> tuple[Figure, _Meta, tuple[str, tuple[str, ...], str | None]]:
    chosen = choose_columns(spec, columns)
    x, ys, series = chosen
    kind = spec.kind
    fig = _new_figure()
    x_type = next(c.type for c in columns if c.name == x)
    x_kind_guess = "time" if x_type == "datetime" and kind in ("timechart", "line",
                                                                "area") else "other"
    title = spec.title or _default_title(kind, x, ys, series, x_kind_guess)
    if not rows:
        _draw_empty(fig, title, "No rows", "The query returned no rows to chart.")
        return fig, _Meta(0, True), chosen

    import numpy as np

    data = _prepare(np, kind, columns, rows, x, ys, series)
    ax = fig.add_subplot()
    if kind == "pie":
        count = _draw_pie(np, ax, data, ys[0])
        if count:  # a pie's axes are narrow: title the figure, left-aligned
            fig.suptitle(_title_text(title), x=0.015, ha="left", fontsize=13,
                         fontweight="bold", color=_TEXT)
    else:
        plan = _plan_series(np, data, ys)
        horizontal = kind == "bar"
        _style_axes(ax, "x" if horizontal else "y")
        if kind in ("bar", "column"):
            count = _draw_bars(np, ax, kind, data, plan)
        else:
            count = _draw_lines(np, ax, kind, data, plan)
            if data.x_kind == "time":
                _time_axis(ax)
                ax.margins(x=0.01)
                if count and data.x[0] == data.x[-1]:  # one instant: show its day
                    ax.set_xlim(data.x[0] - 0.5, data.x[0] + 0.5)
            elif data.x_kind == "number":
                ax.xaxis.set_major_formatter(_number_formatter_class()())
                ax.margins(x=0.01)
            else:
                _category_ticks(np, ax, data.x_labels, horizontal=False)
        if count:
            _whole_number_ticks(np, ax, data, "x" if horizontal else "y")
            x_label = spec.x_title or (f"{x} (UTC)" if data.x_kind == "time" else x)
            y_label = spec.y_title or _join_names(ys)
            if horizontal:
                _set_labels(ax, y_label, x_label)
            else:
                _set_labels(ax, x_label, y_label)
            _set_title(ax, title)
            if count > 1:
                _legend(ax)
    if not count:
        fig.clear()
        _draw_empty(fig, title, "No values",
                    f"Every value of {_join_names(ys)} is empty"
                    + (" or not positive." if kind == "pie" else "."))
        return fig, _Meta(0, True), chosen
    return fig, _Meta(count, False), chosen


def build_figure(spec: ChartSpec, columns: Sequence[Column],
                 rows: Sequence[Sequence[Any]]) -> Figure:
    """The matplotlib Figure `render_chart` would save (for tests and callers that
    want another format). Not tied to pyplot: drop it when done."""
    return _build(spec, columns, rows)[0]


def _png_size(png: bytes) -> tuple[int, int]:
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def render_chart(spec: ChartSpec, columns: Sequence[Column],
                 rows: Sequence[Sequence[Any]]) -> Chart:
    """Draw `rows` as `spec` says, as an 800x450 PNG.

    No rows gives a "No rows" image with `empty=True`, not an error. Raises
    `ChartError` for a table kind and for columns that do not fit the kind.
    """
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
