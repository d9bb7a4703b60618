"""The renderer charts are drawn with (`shared/render/chart_renderer.py`).

What: charts of every kind, drawn by `ChartRenderer` (its text shaping and glyph
bitmaps kept from earlier charts) have exactly the pixels matplotlib's own
`RendererAgg` gives them, the first time and again from its caches, also when the
same glyphs come back at other fractions of a pixel (other data, turned labels,
bold titles, a glyph no chart font has); and the caches stay within their bounds.

Why: drawing text was a third of a chart's cost under load (issue 14), and a chart
must not change by a pixel for being drawn faster.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from matplotlib.backends.backend_agg import RendererAgg
from PIL import Image

from shared.kusto.types import Column
from shared.render import chart_figure, chart_renderer
from shared.render.chart_style import DPI, HEIGHT_PX, WIDTH_PX
from shared.render.charts import ChartSpec, render_chart

T0 = datetime(2024, 5, 1, tzinfo=UTC)
NAMED = [Column("Name", "string"), Column("Events", "long")]
TIMED = [Column("Time", "datetime"), Column("Series", "string"), Column("Value", "real")]
LONG_NAMES = [f"Thunderstorm Wind over region {i}" for i in range(18)]
SHORT_NAMES = ["Hail", "Flash Flood", "Drought", "Zürich – Genève", "Heavy Snow"]

Case = tuple[str, ChartSpec, list[Column], list[list[object]]]
GALLERY: list[Case] = [
    ("column", ChartSpec("column", title="Storm events by type"), NAMED,
     [[n, 900 - 41 * i] for i, n in enumerate(SHORT_NAMES)]),
    ("column, turned labels", ChartSpec("column", title="Long names, turned"), NAMED,
     [[n, 5000 - 97 * i] for i, n in enumerate(LONG_NAMES)]),
    ("bar", ChartSpec("bar", title="Costs $ by state"), NAMED,
     [[n, 12.5 * (i + 1)] for i, n in enumerate(SHORT_NAMES)]),
    ("pie", ChartSpec("pie", title="Share"), NAMED,
     [[n, 10 + 7 * i] for i, n in enumerate(SHORT_NAMES)]),
    ("timechart", ChartSpec("timechart", title="Over time"), TIMED,
     [[T0 + timedelta(hours=h), s, float((h * 7 + len(s)) % 23)]
      for h in range(48) for s in ("east", "west")]),
    ("a glyph no font has", ChartSpec("column", title="Tōkyō 東京"), NAMED,
     [["東京", 3], ["大阪", 2]]),
]
#: matplotlib warns of each glyph its fonts lack (drawn as an empty box).
NO_GLYPH = pytest.mark.filterwarnings("ignore:Glyph .* missing from font")


def case(c: Case) -> object:
    return pytest.param(*c, id=c[0], marks=[NO_GLYPH] if "no font" in c[0] else [])


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


@pytest.fixture
def renderers() -> Iterator[dict[str, type[RendererAgg]]]:
    """Swap the renderer charts are drawn with; the kept one and the caches are
    restored after the test."""
    kept = dict(chart_figure._RENDERERS)
    yield {"matplotlib": RendererAgg, "ours": chart_renderer.ChartRenderer}
    chart_figure._RENDERERS.clear()
    chart_figure._RENDERERS.update(kept)


def draw_with(renderer: type[RendererAgg], spec: ChartSpec, columns: list[Column],
              rows: list[list[object]]) -> np.ndarray:
    chart_figure._RENDERERS[(WIDTH_PX, HEIGHT_PX, float(DPI))] = renderer(
        WIDTH_PX, HEIGHT_PX, DPI)
    return pixels(render_chart(spec, columns, rows).png)


def test_this_matplotlib_is_one_whose_text_drawing_the_renderer_keeps() -> None:
    assert chart_renderer.caches_text()


@pytest.mark.parametrize(("name", "spec", "columns", "rows"), [case(c) for c in GALLERY])
def test_a_chart_drawn_by_the_kept_renderer_has_matplotlibs_own_pixels(
        renderers: dict[str, type[RendererAgg]], name: str, spec: ChartSpec,
        columns: list[Column], rows: list[list[object]]) -> None:
    chart_renderer._SHAPED.clear()
    chart_renderer._BITMAPS.clear()
    expected = draw_with(renderers["matplotlib"], spec, columns, rows)
    first = draw_with(renderers["ours"], spec, columns, rows)
    assert chart_renderer._BITMAPS, "the text went through the kept renderer"
    kept = len(chart_renderer._BITMAPS)
    again = draw_with(renderers["ours"], spec, columns, rows)
    assert len(chart_renderer._BITMAPS) == kept, "the second draw took every glyph kept"
    assert np.array_equal(first, expected)
    assert np.array_equal(again, expected)


@NO_GLYPH
def test_glyphs_kept_from_one_chart_draw_another_at_other_positions_exactly(
        renderers: dict[str, type[RendererAgg]]) -> None:
    """Every chart of the gallery drawn after the others (the caches full of the
    same glyphs at other places), then each value changed so the texts move."""
    for _, spec, columns, rows in GALLERY:
        draw_with(renderers["ours"], spec, columns, rows)
    for _, spec, columns, rows in GALLERY:
        moved = [[*row[:-1], row[-1] * 3 + 1 if isinstance(row[-1], int | float) else row[-1]]
                 for row in rows]
        for variant in (rows, moved):
            assert np.array_equal(draw_with(renderers["ours"], spec, columns, variant),
                                  draw_with(renderers["matplotlib"], spec, columns, variant))


def test_the_caches_are_emptied_when_they_reach_their_bounds(
        renderers: dict[str, type[RendererAgg]], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chart_renderer, "MAX_GLYPHS", 40)
    monkeypatch.setattr(chart_renderer, "MAX_TEXTS", 5)
    chart_renderer._SHAPED.clear()
    chart_renderer._BITMAPS.clear()
    _, spec, columns, rows = GALLERY[1]
    expected = draw_with(renderers["matplotlib"], spec, columns, rows)
    assert np.array_equal(draw_with(renderers["ours"], spec, columns, rows), expected)
    assert 0 < len(chart_renderer._BITMAPS) <= 40
    assert 0 < len(chart_renderer._SHAPED) <= 5
