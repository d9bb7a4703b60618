"""Charts for reports (`shared.render.charts`): Kusto's `render` kinds as 800x450 PNGs.

What: column choice as Kusto's `render` makes it (first datetime column for a time
chart, first string column for bars and pies, numeric columns as y, a remaining
string column as series) and its overrides; what ends up in the figure (one line
per series value, one wedge per slice with small slices folded into "Other", one
bar per row, at most 12 legend entries); the PNG itself (size read from its header,
not blank); empty results; errors that name the columns they saw; the mapping from
a query's own `| render` annotation; and that importing the module stays cheap.

Why: a chart that silently picks the wrong column, drops a series, or fails on an
empty result ends up in someone's inbox every morning. The figure is inspected
through `build_figure` rather than by comparing images, so the tests pin down what
is drawn without breaking on a matplotlib version's anti-aliasing. No timings here:
speed is measured by `benchmarks/bench_charts.py`.
"""

from __future__ import annotations

import io
import json
import random
import struct
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
from matplotlib.patches import Wedge

from shared.kusto.types import Column
from shared.render.charts import (
    CHART_KINDS,
    Chart,
    ChartError,
    ChartSpec,
    build_figure,
    chart_from_render_hint,
    choose_columns,
    render_chart,
)
from tests.chart_helpers import bars, legend_texts

REPO = Path(__file__).resolve().parent.parent
T0 = datetime(2024, 5, 1, tzinfo=UTC)

STORM_COLUMNS = [Column("State", "string"), Column("Source", "string"),
                 Column("Events", "long")]
STORM_ROWS = [
    ["TEXAS", "Public", 40], ["TEXAS", "Law Enforcement", 25], ["TEXAS", "Spotter", 10],
    ["KANSAS", "Public", 30], ["KANSAS", "Spotter", 5],
    ["IOWA", "Public", 20], ["IOWA", "Law Enforcement", 15],
    ["OHIO", "Spotter", 12],
]


def timeline(series: list[str], hours: int = 24) -> tuple[list[Column], list[list]]:
    columns = [Column("Timestamp", "datetime"), Column("Region", "string"),
               Column("Requests", "long")]
    rows = [[T0 + timedelta(hours=h), name, 1000 * (i + 1) + h]
            for h in range(hours) for i, name in enumerate(series)]
    return columns, rows


def png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert png[12:16] == b"IHDR"
    return struct.unpack(">II", png[16:24])


def pixels(png: bytes) -> np.ndarray:
    return matplotlib.image.imread(io.BytesIO(png), format="png")


def distinct_colours(png: bytes) -> int:
    image = pixels(png)
    return len(np.unique(image.reshape(-1, image.shape[-1]), axis=0))


def ink(png: bytes) -> float:
    """Share of pixels that are not (near) white."""
    image = pixels(png)
    return float((image[..., :3] < 0.95).any(axis=-1).mean())


# --- the PNG -----------------------------------------------------------------------


def test_a_chart_is_an_800_by_450_png_that_is_not_blank():
    columns, rows = timeline(["westeurope", "eastus", "southeastasia"])
    chart = render_chart(ChartSpec("timechart"), columns, rows)

    assert isinstance(chart, Chart)
    assert png_size(chart.png) == (800, 450)
    assert (chart.width_px, chart.height_px) == (800, 450)
    assert chart.empty is False
    assert chart.series_count == 3
    assert distinct_colours(chart.png) > 30  # lines, text, anti-aliasing
    assert 0.02 < ink(chart.png) < 0.6
    # The background is white (email clients in dark mode still get a light card).
    assert tuple(pixels(chart.png)[2, 2, :3]) == (1.0, 1.0, 1.0)


@pytest.mark.parametrize("kind", [k for k in CHART_KINDS if k != "table"])
def test_every_chart_kind_renders_the_same_size(kind):
    columns = [Column("Day", "datetime"), Column("State", "string"), Column("Events", "long")]
    rows = [[T0 + timedelta(days=d), s, d * 10 + i + 1]
            for d in range(10) for i, s in enumerate(["TEXAS", "IOWA"])]
    chart = render_chart(ChartSpec(kind), columns, rows)
    assert png_size(chart.png) == (800, 450)
    assert not chart.empty
    assert ink(chart.png) > 0.02


def test_the_chart_reports_the_columns_it_chose():
    chart = render_chart(ChartSpec("bar"), STORM_COLUMNS, STORM_ROWS)
    assert chart.x_column == "State"
    assert chart.y_columns == ("Events",)
    assert chart.series_column == "Source"
    assert chart.series_count == 3


# --- column choice -------------------------------------------------------------------


def test_a_timechart_takes_the_first_datetime_column_as_x():
    columns = [Column("Name", "string"), Column("Count", "long"),
               Column("Start", "datetime"), Column("End", "datetime")]
    assert choose_columns(ChartSpec("timechart"), columns) == ("Start", ("Count",), "Name")


def test_a_bar_chart_takes_the_first_string_column_as_x_and_splits_series_on_the_next():
    columns = [Column("Day", "datetime"), Column("State", "string"),
               Column("Source", "string"), Column("Events", "long"), Column("Damage", "real")]
    assert choose_columns(ChartSpec("bar"), columns) == (
        "State", ("Events", "Damage"), "Source")
    assert choose_columns(ChartSpec("column"), columns)[0] == "State"
    assert choose_columns(ChartSpec("pie"), columns) == ("State", ("Events",), None)


def test_a_line_chart_prefers_datetime_then_string_then_numeric_for_x():
    assert choose_columns(ChartSpec("line"), [
        Column("State", "string"), Column("Day", "datetime"), Column("N", "long"),
    ])[0] == "Day"
    assert choose_columns(ChartSpec("line"), [
        Column("N", "long"), Column("State", "string"),
    ]) == ("State", ("N",), None)
    assert choose_columns(ChartSpec("area"), [
        Column("Size", "long"), Column("N", "long"),
    ]) == ("Size", ("N",), None)


def test_overrides_choose_x_y_and_series():
    columns = [Column("State", "string"), Column("Source", "string"),
               Column("Events", "long"), Column("Damage", "real")]
    spec = ChartSpec("column", x="Source", y=("Damage",), series="State")
    assert choose_columns(spec, columns) == ("Source", ("Damage",), "State")


def test_an_override_naming_a_missing_column_is_an_error_listing_the_columns():
    for spec in (ChartSpec("bar", x="Country"), ChartSpec("bar", y=("Deaths",)),
                 ChartSpec("bar", series="Type")):
        with pytest.raises(ChartError) as caught:
            choose_columns(spec, STORM_COLUMNS)
        message = str(caught.value)
        assert "is not in the result" in message
        assert "State (string), Source (string), Events (long)" in message


def test_a_string_column_as_y_is_an_error_naming_its_type():
    with pytest.raises(ChartError, match=r"'Source' is string, not numeric"):
        choose_columns(ChartSpec("bar", y=("Source",)), STORM_COLUMNS)


def test_a_timechart_without_a_datetime_column_is_an_error_listing_the_columns():
    with pytest.raises(ChartError) as caught:
        render_chart(ChartSpec("timechart"), STORM_COLUMNS, STORM_ROWS)
    assert str(caught.value) == (
        "a time chart needs a datetime column for the x axis; "
        "the result has State (string), Source (string), Events (long)")


def test_a_chart_without_a_numeric_column_is_an_error_naming_columns_and_types():
    columns = [Column("State", "string"), Column("Source", "string")]
    with pytest.raises(ChartError) as caught:
        render_chart(ChartSpec("pie"), columns, [["TEXAS", "Public"]])
    assert str(caught.value) == (
        "a pie chart needs a numeric column; the result has State (string), Source (string)")


def test_bool_and_timespan_columns_are_not_numeric():
    columns = [Column("State", "string"), Column("Flooded", "bool"),
               Column("Duration", "timespan")]
    with pytest.raises(ChartError, match="needs a numeric column.*Flooded \\(bool\\)"):
        choose_columns(ChartSpec("bar"), columns)


def test_a_table_is_not_a_chart():
    with pytest.raises(ChartError, match="^table is not a chart"):
        render_chart(ChartSpec("table"), STORM_COLUMNS, STORM_ROWS)


def test_an_unknown_kind_is_rejected_when_the_spec_is_made():
    with pytest.raises(ChartError, match="unknown chart kind 'donut'"):
        ChartSpec("donut")


def test_a_spec_accepts_y_as_a_list_or_a_single_name():
    assert ChartSpec("bar", y=["a", "b"]).y == ("a", "b")  # type: ignore[arg-type]
    assert ChartSpec("bar", y="a").y == ("a",)  # type: ignore[arg-type]


# --- what is drawn ------------------------------------------------------------------


def test_a_timechart_draws_one_line_per_distinct_series_value_with_a_legend():
    columns, rows = timeline(["westeurope", "eastus", "southeastasia"])
    ax = build_figure(ChartSpec("timechart"), columns, rows).axes[0]
    assert len(ax.lines) == 3
    assert legend_texts(ax) == ["westeurope", "eastus", "southeastasia"]
    assert all(len(line.get_xdata()) == 24 for line in ax.lines)


def test_a_single_series_has_no_legend():
    columns, rows = timeline(["westeurope"])
    ax = build_figure(ChartSpec("timechart"), columns, rows).axes[0]
    assert len(ax.lines) == 1
    assert ax.get_legend() is None


def test_a_timechart_is_drawn_in_time_order():
    columns, rows = timeline(["westeurope"], hours=50)
    random.Random(7).shuffle(rows)
    ax = build_figure(ChartSpec("timechart"), columns, rows).axes[0]
    xs = np.asarray(ax.lines[0].get_xdata())
    assert np.all(np.diff(xs) > 0)


def test_several_y_columns_draw_one_line_each():
    columns = [Column("Day", "datetime"), Column("Min", "real"), Column("Max", "real")]
    rows = [[T0 + timedelta(days=d), d, d * 2] for d in range(5)]
    ax = build_figure(ChartSpec("line"), columns, rows).axes[0]
    assert legend_texts(ax) == ["Min", "Max"]


def test_null_and_nan_values_are_skipped_and_decimals_are_drawn_as_numbers():
    columns = [Column("Day", "datetime"), Column("Amount", "decimal")]
    rows = [[T0, Decimal("1.5")], [T0 + timedelta(days=1), None],
            [T0 + timedelta(days=2), float("nan")], [T0 + timedelta(days=3), Decimal("4.25")],
            [None, Decimal("9")]]
    ax = build_figure(ChartSpec("timechart"), columns, rows).axes[0]
    assert list(ax.lines[0].get_ydata()) == [1.5, 4.25]


def test_too_many_series_keep_the_11_largest_and_fold_the_rest_into_other():
    hosts = [f"host-{i:02d}" for i in range(20)]
    columns, rows = timeline(hosts, hours=6)  # host-19 has the biggest values
    ax = build_figure(ChartSpec("timechart"), columns, rows).axes[0]
    labels = legend_texts(ax)
    assert len(labels) == 12
    assert labels[-1] == "Other (9)"
    assert labels[:-1] == hosts[9:]  # the largest, still in result order
    assert len(ax.lines) == 11
    # The folded hosts stay visible as thin grey lines, one per host (not a sum).
    assert len(ax.collections[0].get_segments()) == 9


def test_bars_with_too_many_series_sum_the_rest_into_an_other_bar():
    columns = [Column("State", "string"), Column("Source", "string"), Column("N", "long")]
    rows = [["TEXAS", f"source {i:02d}", i + 1] for i in range(15)]
    ax = build_figure(ChartSpec("column"), columns, rows).axes[0]
    assert len(legend_texts(ax)) == 12
    heights = [bar.get_height() for bar in bars(ax)]
    assert heights[-1] == 1 + 2 + 3 + 4  # "Other (4)": the four smallest sources
    assert len(heights) == 12


def test_a_pie_draws_one_wedge_per_category():
    columns = [Column("State", "string"), Column("Events", "long")]
    rows = [["TEXAS", 40], ["KANSAS", 30], ["IOWA", 20], ["OHIO", 10]]
    ax = build_figure(ChartSpec("pie"), columns, rows).axes[0]
    assert len([p for p in ax.patches if isinstance(p, Wedge)]) == 4
    assert [t.split("  ")[0] for t in legend_texts(ax)] == ["TEXAS", "KANSAS", "IOWA", "OHIO"]


def test_a_pie_sums_repeated_categories():
    columns = [Column("State", "string"), Column("Events", "long")]
    rows = [["TEXAS", 40], ["IOWA", 20], ["TEXAS", 30]]
    ax = build_figure(ChartSpec("pie"), columns, rows).axes[0]
    assert legend_texts(ax) == ["TEXAS  70 (78%)", "IOWA  20 (22%)"]


def test_a_pie_folds_slices_under_3_percent_and_beyond_the_top_9_into_other():
    columns = [Column("State", "string"), Column("Events", "long")]
    big = [[f"state {i:02d}", 100] for i in range(12)]  # 12 slices of ~8%
    small = [["tiny", 1], ["small", 2]]  # well under 3%
    ax = build_figure(ChartSpec("pie"), columns, big + small).axes[0]
    wedges = [p for p in ax.patches if isinstance(p, Wedge)]
    labels = legend_texts(ax)
    assert len(wedges) == 10
    assert labels[-1].startswith("Other (5)  303 ")  # states 09-11 + tiny + small


def test_a_pie_leaves_out_negative_and_null_values():
    columns = [Column("State", "string"), Column("Events", "long")]
    rows = [["TEXAS", 40], ["IOWA", -5], ["OHIO", None], ["UTAH", 10]]
    ax = build_figure(ChartSpec("pie"), columns, rows).axes[0]
    assert len([p for p in ax.patches if isinstance(p, Wedge)]) == 2


def test_a_bar_chart_draws_horizontal_bars_top_to_bottom_in_result_order():
    columns = [Column("State", "string"), Column("Events", "long")]
    rows = [["TEXAS", 40], ["KANSAS", 30], ["IOWA", 20]]
    ax = build_figure(ChartSpec("bar"), columns, rows).axes[0]
    drawn = bars(ax)
    assert [b.get_width() for b in drawn] == [40, 30, 20]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["TEXAS", "KANSAS", "IOWA"]
    bottom, top = ax.get_ylim()
    assert bottom > top  # the first row is drawn at the top
    assert ax.get_ylabel() == "State" and ax.get_xlabel() == "Events"


def test_a_bar_chart_with_series_groups_the_bars():
    ax = build_figure(ChartSpec("bar"), STORM_COLUMNS, STORM_ROWS).axes[0]
    assert legend_texts(ax) == ["Public", "Law Enforcement", "Spotter"]
    assert len(bars(ax)) == 4 * 3  # a slot per (state, source), zero-length when missing
    assert sum(1 for b in bars(ax) if b.get_width() > 0) == len(STORM_ROWS)


def test_a_column_chart_draws_vertical_bars():
    columns = [Column("State", "string"), Column("Events", "long")]
    rows = [["TEXAS", 40], ["KANSAS", 30]]
    ax = build_figure(ChartSpec("column"), columns, rows).axes[0]
    assert [b.get_height() for b in bars(ax)] == [40, 30]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["TEXAS", "KANSAS"]


def test_a_stacked_area_has_one_layer_per_series_that_sum_up():
    columns, rows = timeline(["a", "b", "c"], hours=5)
    ax = build_figure(ChartSpec("area"), columns, rows).axes[0]
    assert len(ax.collections) == 3
    top = ax.collections[-1].get_paths()[0].vertices[:, 1].max()
    assert top == max(1000 + h + 2000 + h + 3000 + h for h in range(5))


def test_an_empty_category_is_labelled():
    columns = [Column("State", "string"), Column("Events", "long")]
    ax = build_figure(ChartSpec("column"), columns, [["", 3], [None, 4], ["IOWA", 5]]).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["(empty)", "IOWA"]
    assert [b.get_height() for b in bars(ax)] == [7, 5]


def test_numeric_axes_use_thousands_separators_and_suffixes_for_millions():
    columns = [Column("State", "string"), Column("Events", "long")]
    fig = build_figure(ChartSpec("column"), columns, [["TEXAS", 42_000], ["IOWA", 12_000]])
    fig.canvas.draw()
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert "40,000" in labels and "0" in labels

    fig = build_figure(ChartSpec("column"), columns, [["TEXAS", 4_200_000_000]])
    fig.canvas.draw()
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert "4bn" in labels and "0" in labels


def test_counts_get_whole_number_ticks_and_fractions_keep_theirs():
    columns = [Column("Hour", "datetime"), Column("Events", "long")]
    rows = [[T0 + timedelta(hours=h), h % 4] for h in range(48)]
    fig = build_figure(ChartSpec("timechart"), columns, rows)
    fig.canvas.draw()
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels and all("." not in text for text in labels)
    assert "1" in labels and "2" in labels

    rows = [[T0 + timedelta(hours=h), (h % 4) / 2] for h in range(48)]
    fig = build_figure(ChartSpec("timechart", y=("Events",)), columns, rows)
    fig.canvas.draw()
    assert any("." in t.get_text() for t in fig.axes[0].get_yticklabels())


def test_time_ticks_name_the_month_and_day_and_the_year_goes_under_the_axis():
    columns = [Column("Hour", "datetime"), Column("Events", "long")]
    rows = [[T0 + timedelta(hours=h), h % 5] for h in range(72)]
    fig = build_figure(ChartSpec("timechart"), columns, rows)
    fig.canvas.draw()
    axis = fig.axes[0].xaxis
    labels = [t.get_text() for t in axis.get_ticklabels() if t.get_text()]
    assert "May 02" in labels and all(len(text) > 2 for text in labels)
    assert axis.get_major_formatter().get_offset() == "2024"


def test_titles_and_axis_labels_come_from_the_spec_or_the_columns():
    columns, rows = timeline(["a", "b"])
    ax = build_figure(ChartSpec("timechart"), columns, rows).axes[0]
    assert ax.get_title(loc="left") == "Requests over time per Region"
    assert ax.get_xlabel() == "Timestamp (UTC)" and ax.get_ylabel() == "Requests"
    spec = ChartSpec("timechart", title="Traffic", x_title="Hour", y_title="Calls")
    ax = build_figure(spec, columns, rows).axes[0]
    assert (ax.get_title(loc="left"), ax.get_xlabel(), ax.get_ylabel()) == (
        "Traffic", "Hour", "Calls")


def test_a_long_timechart_is_thinned_but_keeps_its_extremes():
    columns = [Column("Timestamp", "datetime"), Column("Latency", "real")]
    values = np.random.default_rng(3).normal(100, 10, 100_000)
    values[54_321] = 999.0
    rows = [[T0 + timedelta(seconds=10 * i), float(v)] for i, v in enumerate(values)]
    ax = build_figure(ChartSpec("timechart"), columns, rows).axes[0]
    ys = np.asarray(ax.lines[0].get_ydata())
    assert len(ys) < 10_000
    assert ys.max() == 999.0 and ys.min() == values.min()


# --- nothing to draw ------------------------------------------------------------------


def test_an_empty_result_renders_a_no_rows_image_instead_of_failing():
    columns, _rows = timeline(["a"])
    chart = render_chart(ChartSpec("timechart"), columns, [])
    assert chart.empty is True
    assert chart.series_count == 0
    assert png_size(chart.png) == (800, 450)
    assert 0 < ink(chart.png) < 0.1  # a little text on white
    fig = build_figure(ChartSpec("timechart"), columns, [])
    assert "No rows" in [t.get_text() for t in fig.axes[0].texts]


def test_a_result_whose_values_are_all_null_renders_as_empty():
    columns = [Column("State", "string"), Column("Events", "long")]
    chart = render_chart(ChartSpec("bar"), columns, [["TEXAS", None], ["IOWA", None]])
    assert chart.empty is True
    assert png_size(chart.png) == (800, 450)


def test_an_empty_result_still_checks_the_columns():
    with pytest.raises(ChartError, match="needs a numeric column"):
        render_chart(ChartSpec("bar"), [Column("State", "string")], [])


# --- render hints ---------------------------------------------------------------------


@pytest.mark.parametrize(("hint", "kind"), [
    ("piechart", "pie"), ("timechart", "timechart"), ("barchart", "bar"),
    ("columnchart", "column"), ("linechart", "line"), ("areachart", "area"),
    ("stackedareachart", "area"), ("scatterchart", "scatter"), ("table", "table"),
    ("PieChart", "pie"),
])
def test_kusto_render_kinds_map_to_chart_kinds(hint, kind):
    assert chart_from_render_hint(hint) == ChartSpec(kind)


@pytest.mark.parametrize("hint", [None, "", "ladderchart", "card", "map",
                                  {"Visualization": None}, {"Visualization": "treemap"},
                                  "{not json", 42])
def test_hints_we_cannot_draw_give_none(hint):
    assert chart_from_render_hint(hint) is None


def test_the_visualization_annotation_becomes_a_full_spec():
    annotation = {
        "Visualization": "columnchart", "Title": "Storms", "XColumn": "State",
        "Series": "Source,EventType", "YColumns": "Events, Damage", "AnomalyColumns": None,
        "XTitle": "US state", "YTitle": None, "Legend": None, "Kind": "stacked",
        "Accumulate": False, "Ymin": "NaN",
    }
    expected = ChartSpec("column", x="State", y=("Events", "Damage"), series="Source",
                         title="Storms", x_title="US state")
    assert chart_from_render_hint(annotation) == expected
    assert chart_from_render_hint(json.dumps(annotation)) == expected


def test_a_bare_annotation_leaves_the_column_choice_to_the_chart():
    annotation = {"Visualization": "timechart", "Title": None, "XColumn": None,
                  "Series": None, "YColumns": None, "XTitle": None, "YTitle": None}
    assert chart_from_render_hint(annotation) == ChartSpec("timechart")
    assert chart_from_render_hint({"visualization": "piechart",
                                   "ycolumns": ["Events"]}) == ChartSpec("pie", y=("Events",))


# --- import cost ----------------------------------------------------------------------


# chart_spec too: a step builds its ChartSpec before it knows whether to draw.
@pytest.mark.parametrize("module", ["shared.render.charts", "shared.render.chart_spec"])
def test_importing_the_charts_module_loads_no_plotting_or_data_libraries(module):
    code = (
        f"import sys, {module}\n"
        "heavy = {'matplotlib', 'numpy', 'pandas', 'duckdb', 'PIL'} & set(sys.modules)\n"
        "print(','.join(sorted(heavy)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, timeout=60, check=True)
    assert done.stdout.strip() == ""
