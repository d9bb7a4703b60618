"""Where a chart's axes goes (`shared/render/chart_layout.py`, `FittedLayout`).

What: every text of a drawn chart (ticks, turned category labels, title, axis names,
legend, value labels, notes) lies inside the 800x450 image; the axes takes all the
room the texts leave (the decorations reach the figure's padding); a column chart
whose labels fit is measured once, and a chart whose labels must be turned at most
three times; the PNG is RGB with the title in its metadata; a bar's value label sits
3 points past its end, on the side of its sign (written as plain texts now, not by
`Axes.bar_label`).

Why: the layout replaced matplotlib's constrained layout, which measured every text
four times per chart (most of a run's time under load, issue 14); what it must keep
is that nothing is cut off at the edge of an e-mailed image and no room is wasted.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from matplotlib.axes import Axes
from matplotlib.axis import Axis, Tick
from matplotlib.text import Text
from PIL import Image

from shared.kusto.types import Column
from shared.render.charts import ChartSpec, build_figure, render_chart

T0 = datetime(2024, 5, 1, tzinfo=UTC)
NAMES = ["Thunderstorm Wind", "Hail", "Flash Flood", "Drought", "Winter Weather",
         "Winter Storm", "Heavy Snow", "High Wind", "Frost/Freeze", "Flood"]
STATES = ["NORTH CAROLINA", "SOUTH CAROLINA", "NEW HAMPSHIRE", "MASSACHUSETTS",
          "PENNSYLVANIA", "WEST VIRGINIA", "MISSISSIPPI", "CONNECTICUT", "NORTH DAKOTA"]
NAMED = [Column("Name", "string"), Column("Events", "long")]
TIMED = [Column("Time", "datetime"), Column("Series", "string"), Column("Value", "real")]


def named(labels: list[str], top: int = 1000) -> list[list]:
    return [[name, top - i * (top // (len(labels) + 1))] for i, name in enumerate(labels)]


def timed(series: list[str]) -> list[list]:
    return [[T0 + timedelta(hours=h), s, 1_234_567.5 * (1 + (h * 7 + k) % 5)]
            for h in range(48) for k, s in enumerate(series)]


CHARTS = {
    "column, short labels": (ChartSpec("column", title="Storm events by type"), NAMED,
                             named(NAMES)),
    "column, labels that fit": (ChartSpec("column"), NAMED,
                                named(["TEXAS", "IOWA", "OHIO", "UTAH"])),
    "column, turned labels": (ChartSpec("column"), NAMED, named(STATES, 123_456)),
    "column, thinned labels": (ChartSpec("column"), NAMED,
                               named([f"aks-nodepool1-{31415926 + i}-vmss{i:06d}"
                                      for i in range(60)])),
    "column, past the category limit": (ChartSpec("column"), NAMED,
                                        named([f"C{i}" for i in range(130)], 10**9)),
    "bar, many states": (ChartSpec("bar"), NAMED, named(STATES * 4)),
    "pie with a legend": (ChartSpec("pie", title="Share of events"), NAMED, named(NAMES)),
    "timechart, long series names": (ChartSpec("timechart"), TIMED,
                                     timed(["alpha", "a-very-long-series-name-here",
                                            "gamma"])),
    "line, long axis names": (ChartSpec("line", title="Storm events by type and state " * 5,
                                        x_title="Time of the event, as the sensor wrote it " * 3,
                                        y_title="Damage to property in dollars " * 3),
                              TIMED, timed(["one"])),
    "no rows": (ChartSpec("column"), NAMED, []),
}


def drawn(spec: ChartSpec, columns: list[Column], rows: list[list]):
    fig = build_figure(spec, columns, rows)
    fig.canvas.draw()
    return fig


def visible_texts(fig) -> list[Text]:
    """Every text a draw puts on the image: the walk skips hidden artists, and the
    axis lines and ticks of an axes drawn without them (the "No rows" notice)."""
    found: list[Text] = []

    def walk(artist) -> None:
        if not artist.get_visible():
            return
        if isinstance(artist, Text) and artist.get_text():
            found.append(artist)
        hidden: tuple = ()
        if isinstance(artist, Axes) and not artist.axison:
            hidden = (artist.xaxis, artist.yaxis, *artist.spines.values())
        children = artist.get_children()
        if isinstance(artist, Axis):  # only the ticks in view are drawn
            ticks = artist._update_ticks()
            children = [c for c in children if not isinstance(c, Tick) or c in ticks]
        for child in children:
            if child not in hidden:
                walk(child)

    walk(fig)
    return found


@pytest.mark.parametrize("case", list(CHARTS))
def test_every_text_of_a_chart_is_inside_the_image(case):
    fig = drawn(*CHARTS[case])
    renderer = fig.canvas.get_renderer()
    width, height = fig.bbox.width, fig.bbox.height
    texts = visible_texts(fig)
    assert len(texts) >= 2
    for text in texts:
        box = text.get_window_extent(renderer)
        assert box.x0 >= -0.5 and box.y0 >= -0.5, (case, text.get_text(), box)
        assert box.x1 <= width + 0.5 and box.y1 <= height + 0.5, (case, text.get_text(), box)


@pytest.mark.parametrize("case", ["column, short labels", "column, turned labels",
                                  "bar, many states", "line, long axis names"])
def test_the_axes_takes_all_the_room_its_texts_leave(case):
    fig = drawn(*CHARTS[case])
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    tight = ax.get_tightbbox(renderer, for_layout_only=True)
    # The padding is 0.12 in (12 px) left and right, 0.1 in (10 px) top and bottom.
    assert tight.x0 == pytest.approx(12, abs=2)
    assert tight.y0 == pytest.approx(10, abs=2)
    assert tight.y1 == pytest.approx(fig.bbox.height - 10, abs=2)
    assert tight.x1 <= fig.bbox.width - 12 + 1


def count_measures(monkeypatch) -> list[int]:
    calls = [0]
    measure = Axes.get_tightbbox

    def counted(self, *args, **kwargs):
        calls[0] += 1
        return measure(self, *args, **kwargs)

    monkeypatch.setattr(Axes, "get_tightbbox", counted)
    return calls


def test_a_column_chart_whose_labels_fit_is_measured_once(monkeypatch):
    spec, columns, rows = CHARTS["column, labels that fit"]
    fig = build_figure(spec, columns, rows)
    calls = count_measures(monkeypatch)
    fig.canvas.draw()
    assert calls[0] == 1
    assert all(t.get_rotation() == 0 for t in fig.axes[0].get_xticklabels())


def test_turned_or_thinned_labels_take_at_most_three_measures(monkeypatch):
    for case in ("column, turned labels", "column, thinned labels"):
        spec, columns, rows = CHARTS[case]
        fig = build_figure(spec, columns, rows)
        calls = count_measures(monkeypatch)
        fig.canvas.draw()
        assert 1 <= calls[0] <= 3, case
        assert any(t.get_rotation() == 45 for t in fig.axes[0].get_xticklabels()), case


def test_the_png_is_rgb_with_its_title_in_the_metadata():
    chart = render_chart(*CHARTS["column, short labels"])
    image = Image.open(io.BytesIO(chart.png))
    assert image.mode == "RGB"
    assert image.size == (800, 450)
    assert image.info["Title"] == "Storm events by type"
    assert image.info["Software"] == "Kusto Flows"
    assert image.info["dpi"] == pytest.approx((100, 100), abs=0.1)


@pytest.mark.parametrize("kind", ["column", "bar"])
def test_each_value_label_sits_just_past_its_bar_end_on_the_side_of_its_sign(kind):
    rows = [["gain", 120], ["loss", -80], ["flat", 0], ["big gain", 1500]]
    fig = drawn(ChartSpec(kind), NAMED, rows)
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    bars = sorted(ax.patches, key=lambda p: p.get_y() if kind == "bar" else p.get_x())
    labels = {t.get_text(): t.get_window_extent(renderer) for t in ax.texts}
    assert set(labels) == {"120", "-80", "0", "1,500"}
    for bar, (name, value) in zip(bars, rows, strict=True):
        end = bar.get_window_extent(renderer)
        box = labels[f"{value:,}"]
        if kind == "column":
            assert box.x0 < (end.x0 + end.x1) / 2 < box.x1, name
            if value >= 0:
                assert 0 < box.y0 - end.y1 < 8, name  # 3 points above the top
            else:
                assert 0 < end.y0 - box.y1 < 8, name  # 3 points below the bottom
        else:
            assert box.y0 < (end.y0 + end.y1) / 2 < box.y1, name
            if value >= 0:
                assert 0 < box.x0 - end.x1 < 8, name
            else:
                assert 0 < end.x0 - box.x1 < 8, name
