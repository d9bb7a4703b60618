"""Chart fixes from a newcomer's first hour (issue 13), each pinned on the figure.

What: a pie never folds a single slice into "Other (1)"; a string column becomes
the series only when it splits something (not the extra column of an `arg_max(...)
by State`, which made every bar a hairline); category labels never overlap
(measured on the drawn figure: across the axis their boxes are disjoint, turned
labels are disjoint as the rotated rectangles they are); `scatter` is a chart kind
(numeric or datetime x, numeric y) and `render scatterchart` draws it; a `$` in any
text (title, axis label, legend, category) is printed as written, never read as
mathtext (`$\\frac{$` used to crash the render).

Why: each of these put a wrong or unreadable chart in someone's inbox: a hidden
slice, bars too thin to see, labels printed on top of each other, a scatter silently
mailed as a table, a report that failed on a state called "$".
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from matplotlib import cbook
from matplotlib.patches import Wedge

from shared.kusto.types import Column
from shared.render.charts import (
    ChartError,
    ChartSpec,
    build_figure,
    chart_from_render_hint,
    choose_columns,
    render_chart,
)
from tests.chart_helpers import bars, legend_texts

T0 = datetime(2024, 5, 1, tzinfo=UTC)


# --- (a) a pie never hides a single slice in "Other" ---------------------------------


def test_a_single_small_slice_keeps_its_name():
    columns = [Column("EventType", "string"), Column("Events", "long")]
    rows = [["Hail", 400], ["Wind", 350], ["Flood", 150], ["Tornado", 90], ["Heat", 10]]
    ax = build_figure(ChartSpec("pie"), columns, rows).axes[0]
    labels = legend_texts(ax)
    assert [t.split("  ")[0] for t in labels] == ["Hail", "Wind", "Flood", "Tornado", "Heat"]
    assert not any(t.startswith("Other") for t in labels)
    assert len([p for p in ax.patches if isinstance(p, Wedge)]) == 5


def test_a_single_slice_beyond_the_top_9_keeps_its_name_too():
    columns = [Column("State", "string"), Column("Events", "long")]
    rows = [[f"state {i:02d}", 100] for i in range(10)]
    labels = legend_texts(build_figure(ChartSpec("pie"), columns, rows).axes[0])
    assert len(labels) == 10 and labels[-1].startswith("state 09")


def test_two_small_slices_still_fold_into_other():
    columns = [Column("EventType", "string"), Column("Events", "long")]
    rows = [["Hail", 500], ["Wind", 480], ["Heat", 10], ["Dust", 10]]
    labels = legend_texts(build_figure(ChartSpec("pie"), columns, rows).axes[0])
    assert labels[-1].startswith("Other (2)  20 ")
    assert len(labels) == 3


# --- (b) a series only when it splits something -------------------------------------

#: `StormEvents | summarize arg_max(Deaths, EventType) by State`: one row per state.
ARG_MAX_COLUMNS = [Column("State", "string"), Column("Deaths", "long"),
                   Column("EventType", "string")]
ARG_MAX_ROWS = [["TEXAS", 42, "Flash Flood"], ["KANSAS", 30, "Tornado"],
                ["IOWA", 21, "Tornado"], ["MISSOURI", 18, "Heat"],
                ["OKLAHOMA", 15, "Tornado"], ["FLORIDA", 11, "Rip Current"]]


def test_the_extra_column_of_an_arg_max_is_not_a_series():
    assert choose_columns(ChartSpec("bar"), ARG_MAX_COLUMNS, ARG_MAX_ROWS) == (
        "State", ("Deaths",), None)
    chart = render_chart(ChartSpec("bar"), ARG_MAX_COLUMNS, ARG_MAX_ROWS)
    assert chart.series_column is None and chart.series_count == 1


def test_each_bar_of_an_arg_max_is_a_full_bar_not_a_hairline():
    ax = build_figure(ChartSpec("bar"), ARG_MAX_COLUMNS, ARG_MAX_ROWS).axes[0]
    drawn = bars(ax)
    assert [b.get_width() for b in drawn] == [42, 30, 21, 18, 15, 11]
    assert all(b.get_height() > 0.7 for b in drawn)  # 0.76 of a category's slot
    assert ax.get_legend() is None


def test_a_column_that_splits_repeated_x_values_is_still_the_series():
    columns = [Column("State", "string"), Column("Source", "string"), Column("N", "long")]
    rows = [["TEXAS", "Public", 4], ["TEXAS", "Spotter", 2], ["IOWA", "Public", 1]]
    assert choose_columns(ChartSpec("column"), columns, rows) == ("State", ("N",), "Source")


def test_a_series_the_flow_names_is_kept_even_with_one_row_per_x():
    spec = ChartSpec("bar", series="EventType")
    assert choose_columns(spec, ARG_MAX_COLUMNS, ARG_MAX_ROWS)[2] == "EventType"


def test_a_timechart_with_one_row_per_instant_has_no_series():
    columns = [Column("Hour", "datetime"), Column("Top", "string"), Column("N", "long")]
    rows = [[T0 + timedelta(hours=h), f"host-{h}", h] for h in range(24)]
    chart = render_chart(ChartSpec("timechart"), columns, rows)
    assert chart.series_column is None and chart.series_count == 1


# --- (c) category labels never overlap ----------------------------------------------


def label_quads(fig, labels) -> list[np.ndarray]:
    """Each shown label as the rectangle its glyphs fill, in pixels: its window
    extent when it is not turned; turned (rotation_mode "anchor": laid out, then
    turned about its anchor), its unturned extent turned about the anchor."""
    renderer = fig.canvas.get_renderer()
    quads = []
    for text in labels:
        if not text.get_visible() or not text.get_text():
            continue
        angle = text.get_rotation()
        if angle:
            assert text.get_rotation_mode() == "anchor"
        anchor = text.get_transform().transform(text.get_position())
        text.set_rotation(0)
        box = text.get_window_extent(renderer)
        text.set_rotation(angle)
        corners = np.array([[box.x0, box.y0], [box.x1, box.y0],
                            [box.x1, box.y1], [box.x0, box.y1]]) - anchor
        c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
        quads.append(corners @ np.array([[c, s], [-s, c]]) + anchor)
    return quads


def overlap(a: np.ndarray, b: np.ndarray) -> bool:
    """Convex quadrilaterals overlap unless an edge normal separates them."""
    for poly in (a, b):
        for i in range(4):
            edge = poly[(i + 1) % 4] - poly[i]
            normal = np.array([-edge[1], edge[0]])
            pa, pb = a @ normal, b @ normal
            if pa.max() <= pb.min() or pb.max() <= pa.min():
                return False
    return True


def assert_no_overlap(fig, labels) -> None:
    quads = label_quads(fig, labels)
    for i, a in enumerate(quads):
        for b in quads[i + 1:]:
            assert not overlap(a, b)


def drawn(kind: str, labels: list[str], titled: bool = True):
    columns = [Column("Name", "string"), Column("N", "long")]
    rows = [[name, 1000 - i] for i, name in enumerate(labels)]
    fig = build_figure(ChartSpec(kind), columns, rows, titled=titled)
    fig.canvas.draw()
    return fig, fig.axes[0]


NODES = [f"aks-nodepool{i % 3 + 1}-{31415926 + i * 7919}-vmss{i:06d}" for i in range(40)]
STATES = ["NORTH CAROLINA", "SOUTH CAROLINA", "NEW HAMPSHIRE", "MASSACHUSETTS",
          "PENNSYLVANIA", "WEST VIRGINIA", "MISSISSIPPI", "CONNECTICUT", "NORTH DAKOTA",
          "SOUTH DAKOTA", "NEW MEXICO", "RHODE ISLAND", "WASHINGTON", "CALIFORNIA",
          "MINNESOTA", "LOUISIANA", "TENNESSEE", "WISCONSIN", "NEW JERSEY", "KENTUCKY"]


def test_a_few_short_labels_stay_flat_and_all_shown():
    fig, ax = drawn("column", ["TEXAS", "IOWA", "OHIO", "UTAH"])
    labels = ax.get_xticklabels()
    assert [t.get_text() for t in labels] == ["TEXAS", "IOWA", "OHIO", "UTAH"]
    assert all(t.get_rotation() == 0 for t in labels)
    boxes = [t.get_window_extent() for t in labels]
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])


def test_long_labels_that_do_not_fit_flat_are_turned_and_all_shown():
    fig, ax = drawn("column", STATES)
    labels = ax.get_xticklabels()
    assert len(labels) == len(STATES)
    assert all(t.get_rotation() == 45 for t in labels)
    assert_no_overlap(fig, labels)


def test_too_many_labels_are_thinned_until_none_overlaps():
    fig, ax = drawn("column", NODES)
    labels = ax.get_xticklabels()
    assert 5 < len(labels) < len(NODES)
    assert_no_overlap(fig, labels)


@pytest.mark.parametrize("count", [8, 15, 30, 60, 100])
@pytest.mark.parametrize("kind", ["column", "bar", "line"])
def test_no_two_category_labels_overlap(kind, count):
    names = [f"{STATES[i % len(STATES)]} {i}" for i in range(count)]
    for titled in (True, False):
        fig, ax = drawn(kind, names, titled)
        labels = ax.get_yticklabels() if kind == "bar" else ax.get_xticklabels()
        assert labels, "some labels are shown"
        assert_no_overlap(fig, labels)
        if kind == "bar" or all(t.get_rotation() == 0 for t in labels):
            boxes = [t.get_window_extent() for t in labels if t.get_text()]
            assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])


def test_a_bar_chart_thins_its_labels_down_the_axis():
    fig, ax = drawn("bar", [f"STATE NUMBER {i}" for i in range(60)])
    labels = ax.get_yticklabels()
    assert 10 < len(labels) < 60
    assert labels[0].get_text() == "STATE NUMBER 0"
    boxes = [t.get_window_extent() for t in labels]
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])


# --- (d) scatter ---------------------------------------------------------------------


def test_a_scatter_chart_draws_one_point_per_row():
    columns = [Column("Injuries", "long"), Column("Damage", "real")]
    rows = [[i, 1000.0 * i * i] for i in range(50)]
    chart = render_chart(ChartSpec("scatter"), columns, rows)
    assert (chart.x_column, chart.y_columns, chart.series_column) == (
        "Injuries", ("Damage",), None)
    assert not chart.empty and chart.series_count == 1
    ax = build_figure(ChartSpec("scatter"), columns, rows).axes[0]
    [points] = ax.collections
    assert len(points.get_offsets()) == 50
    assert ax.get_xlabel() == "Injuries" and ax.get_ylabel() == "Damage"


def test_a_scatter_chart_over_time_colours_points_by_a_repeated_category():
    columns = [Column("StartTime", "datetime"), Column("Damage", "long"),
               Column("EventType", "string"), Column("Narrative", "string")]
    rows = [[T0 + timedelta(hours=i), i * 10, ["Hail", "Flood"][i % 2], f"story {i}"]
            for i in range(30)]
    assert choose_columns(ChartSpec("scatter"), columns, rows) == (
        "StartTime", ("Damage",), "EventType")
    ax = build_figure(ChartSpec("scatter"), columns, rows).axes[0]
    assert legend_texts(ax) == ["Hail", "Flood"]
    assert sum(len(c.get_offsets()) for c in ax.collections) == 30
    # A column of distinct values (a narrative per row) is not a series.
    only = [columns[0], columns[1], columns[3]]
    assert choose_columns(ChartSpec("scatter"), only, [[r[0], r[1], r[3]] for r in rows]
                          )[2] is None


def test_a_scatter_chart_refuses_a_string_x_naming_what_it_needs():
    columns = [Column("State", "string"), Column("Events", "long")]
    with pytest.raises(ChartError, match="scatter chart needs a numeric or datetime"):
        choose_columns(ChartSpec("scatter"), columns)
    with pytest.raises(ChartError, match="State is string"):
        choose_columns(ChartSpec("scatter", x="State"), columns)


def test_render_scatterchart_is_a_scatter_spec_and_the_step_accepts_it():
    from shared.steps.kusto_visualize import KustoVisualizeStep

    assert chart_from_render_hint("scatterchart") == ChartSpec("scatter")
    step = KustoVisualizeStep(id="s", action="kusto.visualize", connection="c",
                              query="T", chart="scatter")
    assert step.chart == "scatter"


# --- mathtext: a `$` is printed as written --------------------------------------------


def test_dollar_signs_in_every_text_are_printed_not_typeset():
    columns = [Column("Price $", "string"), Column("Cost $", "string"),
               Column("$Amount", "long")]
    rows = [["$\\frac{$", "$a$", 3], ["$5 and $6", "$b$", 4], ["$5 and $6", "$a$", 1]]
    spec = ChartSpec("column", title="Cost in $ and $")
    chart = render_chart(spec, columns, rows)  # used to raise on "$\frac{$"
    assert not chart.empty and chart.series_column == "Cost $"
    fig = build_figure(spec, columns, rows)
    fig.canvas.draw()
    ax = fig.axes[0]
    texts = [ax.title, ax._left_title, ax.xaxis.label, ax.yaxis.label,
             *ax.get_xticklabels(), *ax.get_legend().get_texts()]
    shown = [t.get_text() for t in texts if t.get_text()]
    assert shown and not any(cbook.is_math_text(text) for text in shown)
    assert "$\\frac{$" in [t.replace("\\$", "$") for t in shown]
    pie = build_figure(ChartSpec("pie", title="$x$"), [columns[0], columns[2]],
                       [[r[0], r[2]] for r in rows])
    pie.canvas.draw()
    legend = pie.axes[0].get_legend()
    for text in [*legend.get_texts(), legend.get_title(), pie._suptitle]:
        assert not cbook.is_math_text(text.get_text())
