"""A result as numpy arrays, ready to draw: x as date numbers, numbers or category
codes, each y column as floats, the series column as codes (`prepare_data`); the
lines, bars or areas to draw, with the smallest folded into "Other"
(`plan_series`); and the per-series points and per-category totals the drawing
reads, with long lines thinned to what the PNG can show (`decimate`).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeAlias, cast

import matplotlib.dates as mdates
import numpy as np
from numpy.typing import NDArray

from shared.kusto.types import NUMERIC_TYPES, Column

from .chart_format import category_label
from .chart_style import MAX_LEGEND_ENTRIES, OTHER_COLOUR, OTHER_LABEL, PALETTE, WIDTH_PX

__all__ = [
    "ChartData",
    "Codes",
    "Floats",
    "PlotSeries",
    "Points",
    "category_totals",
    "decimate",
    "plan_series",
    "prepare_data",
    "series_points",
    "weighted_bincount",
]

Floats: TypeAlias = NDArray[np.float64]
Codes: TypeAlias = NDArray[np.intp]
#: x values: date numbers and numbers as floats, categories as codes.
Points: TypeAlias = NDArray[np.number[Any]]


@dataclass
class PlotSeries:
    """One line, bar group or area to draw."""

    label: str
    y_index: int
    #: Series codes (values of the series column) this drawn series covers;
    #: None = every row (no series column).
    codes: tuple[int, ...] | None
    colour: str
    other: bool = False


@dataclass
class ChartData:
    """The result as arrays, once: x (date numbers, numbers or category codes), the
    y columns as floats, and series codes."""

    x_kind: str  # "time" | "number" | "category"
    x: Points
    x_labels: list[str]
    ys: list[Floats]
    series_codes: Codes | None
    series_labels: list[str]


def weighted_bincount(codes: Codes, weights: Floats, minlength: int) -> Floats:
    """`np.bincount` with weights: per code, the sum of its weights."""
    # numpy's stubs type every bincount as intp; with weights it is float64.
    return cast("Floats", np.bincount(codes, weights=weights, minlength=minlength))


# ---------------------------------------------------------------------------
# Columns to arrays


def _to_float(value: Any) -> float:
    if value is None or isinstance(value, bool):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return math.nan


def _floats(values: list[Any]) -> Floats:
    """Numbers as a float array; None, bools, non-numbers and infinities -> NaN."""
    try:
        array = np.array(values, dtype=float)  # None -> NaN, Decimal -> float, in C
    except (TypeError, ValueError, OverflowError):
        array = np.fromiter(map(_to_float, values), dtype=float, count=len(values))
    if array.ndim != 1:  # e.g. a dynamic column of lists slipped through
        array = np.fromiter(map(_to_float, values), dtype=float, count=len(values))
    array[~np.isfinite(array)] = np.nan
    return array


def _timestamp(value: object) -> float:
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


def _date_numbers(values: list[Any]) -> Floats:
    """Datetimes (aware, UTC) as matplotlib date numbers (days since its epoch)."""
    count = len(values)
    first = values[0] if values else None
    try:
        if not isinstance(first, datetime) or first.tzinfo is None:
            raise TypeError
        # Fast path: every value an aware datetime (how results are normalised).
        seconds = np.fromiter(map(datetime.timestamp, values), dtype=float, count=count)
    except (AttributeError, TypeError):
        seconds = np.fromiter(map(_timestamp, values), dtype=float, count=count)
    # matplotlib.dates has no type hints.
    offset = float(mdates.date2num(np.datetime64(0, "s")))  # type: ignore[no-untyped-call]
    return seconds / 86400.0 + offset


def _category_codes(values: list[Any]) -> tuple[Codes, list[str]]:
    """Distinct values in first-seen order: (code per value, label per code)."""
    index: dict[Any, int] = {}
    try:
        # Kusto has no null string: null and "" are the same (empty) category.
        codes = [index.setdefault("" if v is None else v, len(index)) for v in values]
        keys = list(index)
    except TypeError:  # unhashable (dynamic) values: group by their text
        index = {}
        codes = [index.setdefault(category_label(v), len(index)) for v in values]
        keys = list(index)
    labels: list[str] = []
    seen: dict[str, int] = {}
    for key in keys:  # 1 and "1" would print alike; keep labels distinct
        text = category_label(key)
        if text in seen:
            seen[text] += 1
            text = f"{text} ({seen[text]})"
        else:
            seen[text] = 1
        labels.append(text)
    return np.asarray(codes, dtype=np.intp), labels


def prepare_data(kind: str, columns: Sequence[Column], rows: Sequence[Sequence[Any]],
                 x: str, ys: tuple[str, ...], series: str | None) -> ChartData:
    """The chosen columns of `rows` as arrays; time and number axes in x order."""
    position = {c.name: i for i, c in enumerate(columns)}
    types = {c.name: c.type for c in columns}

    def values(name: str) -> list[Any]:
        return list(map(operator.itemgetter(position[name]), rows))

    x_values = values(x)
    x_labels: list[str] = []
    x_array: Points
    if kind in ("timechart", "line", "area", "scatter") and types[x] == "datetime":
        x_kind, x_array = "time", _date_numbers(x_values)
    elif kind in ("line", "area", "scatter") and types[x] in NUMERIC_TYPES:
        x_kind, x_array = "number", _floats(x_values)
    else:
        x_kind = "category"
        x_array, x_labels = _category_codes(x_values)
    y_arrays = [_floats(values(name)) for name in ys]
    series_codes: Codes | None = None
    series_labels: list[str] = []
    if series is not None:
        series_codes, series_labels = _category_codes(values(series))
    data = ChartData(x_kind, x_array, x_labels, y_arrays, series_codes, series_labels)

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


# ---------------------------------------------------------------------------
# What to draw


def plan_series(data: ChartData, ys: tuple[str, ...]) -> list[PlotSeries]:
    """The series to draw: one per (y column, series value), in result order; past
    MAX_LEGEND_ENTRIES the smallest (by total |y|) fold into "Other"."""
    multi_y = len(ys) > 1
    if data.series_codes is None:
        return [PlotSeries(name, j, None, PALETTE[j % len(PALETTE)])
                for j, name in enumerate(ys)]

    n_values = len(data.series_labels)
    candidates: list[tuple[int, int, float]] = []  # (y index, series code, total)
    for j, y in enumerate(data.ys):
        weights = np.abs(np.nan_to_num(y, nan=0.0))
        totals = weighted_bincount(data.series_codes, weights, n_values)
        present = np.bincount(data.series_codes[~np.isnan(y)], minlength=n_values)
        candidates.extend((j, k, float(totals[k])) for k in range(n_values) if present[k])

    def label(j: int, k: int) -> str:
        text = data.series_labels[k]
        return f"{text} · {ys[j]}" if multi_y else text

    folded: list[tuple[int, int, float]]
    if len(candidates) <= MAX_LEGEND_ENTRIES:
        kept, folded = candidates, []
    else:
        ranked = sorted(range(len(candidates)), key=lambda i: -candidates[i][2])
        keep_idx = set(ranked[: MAX_LEGEND_ENTRIES - 1])
        kept = [c for i, c in enumerate(candidates) if i in keep_idx]
        folded = [c for i, c in enumerate(candidates) if i not in keep_idx]

    planned = [PlotSeries(label(j, k), j, (k,), PALETTE[i % len(PALETTE)])
               for i, (j, k, _total) in enumerate(kept)]
    for j in sorted({c[0] for c in folded}):
        codes = tuple(k for jj, k, _total in folded if jj == j)
        name = f"{OTHER_LABEL} ({len(codes)})"
        if multi_y:
            name = f"{name} · {ys[j]}"
        planned.append(PlotSeries(name, j, codes, OTHER_COLOUR, other=True))
    return planned


#: Slivers of the x range when thinning long lines: two per pixel column of the PNG.
_DECIMATE_BINS = 2 * WIDTH_PX


def decimate(xs: Points, ys: Floats, lo: float, hi: float) -> tuple[Points, Floats]:
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


def series_points(data: ChartData, s: PlotSeries) -> tuple[Points, Floats]:
    """x, y of one drawn series, NaNs skipped; "Other" sums the folded series per x."""
    y = data.ys[s.y_index]
    if s.codes is None or data.series_codes is None:
        mask = ~np.isnan(y)
    elif len(s.codes) == 1:
        mask = (data.series_codes == s.codes[0]) & ~np.isnan(y)
    else:
        mask = np.isin(data.series_codes, s.codes) & ~np.isnan(y)
    xs, values = data.x[mask], y[mask]
    if s.other and len(xs):
        unique, inverse = np.unique(xs, return_inverse=True)
        return unique, weighted_bincount(inverse, values, len(unique))
    return xs, values


def category_totals(data: ChartData, s: PlotSeries, n_categories: int
                    ) -> tuple[Floats, NDArray[np.bool_]]:
    """Per category: summed y of one drawn series, and whether it had any value."""
    xs, values = series_points(data, s)
    codes = xs.astype(np.intp)
    inside = codes < n_categories
    codes, values = codes[inside], values[inside]
    totals = weighted_bincount(codes, values, n_categories)
    present = np.bincount(codes, minlength=n_categories) > 0
    return totals, present
