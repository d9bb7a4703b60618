"""What a chart is to show, before anything is drawn: the `ChartSpec` a flow or a
query's `| render` asks for, the columns it plots (`choose_columns`, as Kusto's
`render` chooses them), and the `Chart` that rendering gives back.

No numpy or matplotlib here: a step builds a spec (and may decide on a table)
without paying for the plotting libraries.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import cast

from shared.errors import KustoFlowsError
from shared.kusto.types import Column

__all__ = [
    "CHART_KINDS",
    "Chart",
    "ChartError",
    "ChartSpec",
    "DRAWN_RENDERS",
    "chart_from_render_hint",
    "choose_columns",
    "unsupported_render",
]

#: What a flow may ask for. `table` is listed so a spec can carry it, but it is not
#: drawn here (`render_chart` refuses it; the caller renders an HTML table).
CHART_KINDS = ("table", "pie", "timechart", "bar", "column", "line", "area", "scatter")

_KIND_NAMES = {
    "pie": "pie chart",
    "timechart": "time chart",
    "bar": "bar chart",
    "column": "column chart",
    "line": "line chart",
    "area": "area chart",
    "scatter": "scatter chart",
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
    "scatterchart": "scatter",
    "table": "table",
    **{kind: kind for kind in CHART_KINDS},
}


class ChartError(KustoFlowsError, code="InvalidInput", http_status=422):
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
        y: object = self.y
        if isinstance(y, str):
            object.__setattr__(self, "y", (y,) if y else ())
        elif not isinstance(y, tuple):
            object.__setattr__(self, "y", tuple(cast("Iterable[str]", y)))


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
# Column choice


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
    def first(pred: Callable[[Column], bool]) -> Column | None:
        return next((c for c in columns if pred(c)), None)

    def is_time(c: Column) -> bool:
        return c.type == "datetime"

    def is_category(c: Column) -> bool:
        return c.type in _CATEGORY_TYPES

    def is_other(c: Column) -> bool:
        return not c.is_numeric and c.type not in _CATEGORY_TYPES

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
    if kind == "scatter":
        found = first(is_time) or first_numeric
        if found is None:
            raise ChartError(
                "a scatter chart needs a numeric or datetime column for the x axis and "
                f"another numeric column for y; the result has {_describe(columns)}")
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


def _repeats(values: Sequence[object]) -> bool:
    """Some value occurs more than once (null and "" are one empty value)."""
    keys = ["" if v is None else v for v in values]
    try:
        return len(set(keys)) < len(keys)
    except TypeError:  # dynamic values: compare their text
        return len({repr(v) for v in keys}) < len(keys)


def _splits(kind: str, columns: Sequence[Column], rows: Sequence[Sequence[object]],
            x: Column, series: Column) -> bool:
    """Whether a guessed series column has series to split: some x value has several
    rows (each row its own x, as after `arg_max(...) by x`, leaves nothing to split:
    every bar would be a series of one); for a scatter chart, some series value has
    several points."""
    position = {c.name: i for i, c in enumerate(columns)}
    at = position[series.name if kind == "scatter" else x.name]
    return _repeats([row[at] for row in rows])


def choose_columns(
    spec: ChartSpec, columns: Sequence[Column],
    rows: Sequence[Sequence[object]] | None = None,
) -> tuple[str, tuple[str, ...], str | None]:
    """(x, y columns, series column) for `spec` over a result with `columns`.

    With `rows`, a string column is guessed as the series only when it splits them
    (see `_splits`); a series named by the spec is always taken.

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
        if kind == "scatter" and not (x.is_numeric or x.type == "datetime"):
            raise ChartError(
                f"a scatter chart needs a numeric or datetime x column, and {x.name} is "
                f"{x.type}; the result has {_describe(columns)}")
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
        if series is not None and rows and not _splits(kind, columns, rows, x, series):
            series = None

    return x.name, tuple(c.name for c in ys), series.name if series else None


# ---------------------------------------------------------------------------
# Render hints (the Visualization annotation of a query's `| render`)


def _hint_columns(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        parts: Sequence[object] = value.split(",")
    elif isinstance(value, list | tuple):
        parts = value
    else:
        return ()
    return tuple(str(p).strip() for p in parts if p is not None and str(p).strip())


def _hint_text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _render_name(visualization: object) -> str:
    """The visualization a render hint names, lower-case ("" for none)."""
    if isinstance(visualization, str):
        text = visualization.strip()
        if text.startswith("{"):
            try:
                visualization = json.loads(text)
            except ValueError:
                return ""
        else:
            return text.lower()
    if isinstance(visualization, dict):
        props = {str(k).lower(): v for k, v in visualization.items()}
        name = props.get("visualization")
        return name.strip().lower() if isinstance(name, str) else ""
    return ""


#: Kusto's `render` visualizations a report draws, for messages.
DRAWN_RENDERS = ("piechart", "timechart", "barchart", "columnchart", "linechart",
                 "areachart", "stackedareachart", "scatterchart", "anomalychart")


def unsupported_render(visualization: object) -> str:
    """The name of the visualization a render hint asks for when no chart kind draws
    it (`ladderchart`, `card`, `treemap`, ...); "" for a kind we draw, a table, or no
    hint at all."""
    name = _render_name(visualization)
    return name if name and name not in _RENDER_KINDS else ""


def chart_from_render_hint(visualization: object) -> ChartSpec | None:
    """The ChartSpec a query's own `| render` asks for, or None.

    `visualization` is either the kind (`"piechart"`, `"timechart"`, ...), or the
    Visualization JSON Kusto puts in `@ExtendedProperties` (as a dict or its JSON
    text) with `Visualization`, `Title`, `XColumn`, `YColumns`, `Series`, `XTitle`
    and `YTitle`. Kinds we cannot draw (ladder, card, map, ...) give None, so the
    caller falls back to a table (`unsupported_render` names them); so does
    anything else (None, a number, a list). `Series` naming several columns keeps the first: a spec
    splits series on one column.
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
