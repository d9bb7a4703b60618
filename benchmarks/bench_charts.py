"""How long `shared.render.charts.render_chart` takes, against bare matplotlib.

Run from the repository root: `python benchmarks/bench_charts.py`. Each case renders
the same rows several times (after one warm-up) and reports the median. Two
baselines draw the same data as a minimal 800x450 PNG with no styling:

* "bare matplotlib": `ax.plot(xs, ys)` on the columns as Python lists, straight
  from the rows (what a first implementation would write);
* "bare on arrays": the same with the columns already converted to numpy arrays,
  conversion not timed: the floor for matplotlib itself.

`main()` returns the numbers as a dict (milliseconds) for a runner to record;
`summary_rows` turns it into the row of `make bench`'s table (`--summary FILE`:
benchmarks/summary.py).
"""

from __future__ import annotations

import io
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make the project importable
    sys.path.insert(0, str(ROOT))

from benchmarks.summary import Row, run_bench, times  # noqa: E402

RUNS = 7
#: The case `make bench`'s table shows.
TABLE_CASE = "timechart 100k points"


def _median_ms(action: Callable[[], Any], runs: int = RUNS) -> float:
    action()  # warm-up: imports, font cache
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def _bare_figure() -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _cases() -> list[dict[str, Any]]:
    """Each case: name, spec, columns, rows, and the two bare-matplotlib drawers."""
    import numpy as np

    from shared.kusto.types import Column
    from shared.render.charts import ChartSpec

    rng = random.Random(42)
    start = datetime(2024, 5, 1, tzinfo=UTC)

    # One series, 100,000 points: a daily cycle plus noise, every 30 s.
    one = [[start + timedelta(seconds=30 * i),
            100 + 40 * np.sin(i / 2880 * 2 * np.pi) + rng.gauss(0, 8)] for i in range(100_000)]
    one_cols = [Column("Timestamp", "datetime"), Column("LatencyMs", "real")]

    # Three series in long format (as `summarize ... by bin(Timestamp, 1m), Region`).
    regions = ["westeurope", "eastus", "southeastasia"]
    three = [[start + timedelta(minutes=i // 3), regions[i % 3],
              1000 * (1 + i % 3) + rng.randint(0, 400)] for i in range(100_000)]
    three_cols = [Column("Timestamp", "datetime"), Column("Region", "string"),
                  Column("Requests", "long")]

    bars = [[f"cluster-{i:02d}", rng.randint(1_000, 250_000)] for i in range(50)]
    bar_cols = [Column("Cluster", "string"), Column("Queries", "long")]

    slices = [[f"Source {i}", rng.randint(10, 5_000)] for i in range(20)]
    pie_cols = [Column("Source", "string"), Column("Events", "long")]

    def bare_lines(rows: list[list[Any]]) -> Callable[[], bytes]:
        def draw() -> bytes:
            fig = _bare_figure()
            ax = fig.add_subplot()
            ax.plot([r[0] for r in rows], [r[1] for r in rows])
            return _save(fig)
        return draw

    def bare_lines_arrays(rows: list[list[Any]]) -> Callable[[], bytes]:
        xs = np.array([r[0].replace(tzinfo=None) for r in rows], dtype="datetime64[us]")
        ys = np.array([r[1] for r in rows], dtype=float)

        def draw() -> bytes:
            fig = _bare_figure()
            fig.add_subplot().plot(xs, ys)
            return _save(fig)
        return draw

    def bare_series(rows: list[list[Any]]) -> Callable[[], bytes]:
        def draw() -> bytes:
            grouped: dict[str, tuple[list[Any], list[Any]]] = {}
            for t, region, value in rows:
                xs, ys = grouped.setdefault(region, ([], []))
                xs.append(t)
                ys.append(value)
            fig = _bare_figure()
            ax = fig.add_subplot()
            for xs, ys in grouped.values():
                ax.plot(xs, ys)
            return _save(fig)
        return draw

    def bare_series_arrays(rows: list[list[Any]]) -> Callable[[], bytes]:
        parts: dict[str, tuple[list[Any], list[Any]]] = {}
        for t, region, value in rows:
            xs, ys = parts.setdefault(region, ([], []))
            xs.append(t.replace(tzinfo=None))
            ys.append(value)
        arrays = [(np.array(xs, dtype="datetime64[us]"), np.array(ys, dtype=float))
                  for xs, ys in parts.values()]

        def draw() -> bytes:
            fig = _bare_figure()
            ax = fig.add_subplot()
            for xs, ys in arrays:
                ax.plot(xs, ys)
            return _save(fig)
        return draw

    def bare_barh(rows: list[list[Any]]) -> Callable[[], bytes]:
        def draw() -> bytes:
            fig = _bare_figure()
            fig.add_subplot().barh([r[0] for r in rows], [r[1] for r in rows])
            return _save(fig)
        return draw

    def bare_pie(rows: list[list[Any]]) -> Callable[[], bytes]:
        def draw() -> bytes:
            fig = _bare_figure()
            fig.add_subplot().pie([r[1] for r in rows], labels=[r[0] for r in rows])
            return _save(fig)
        return draw

    return [
        {"name": "timechart 100k points", "spec": ChartSpec("timechart"),
         "columns": one_cols, "rows": one,
         "bare": bare_lines(one), "bare_arrays": bare_lines_arrays(one)},
        {"name": "timechart 3 series x 33k points", "spec": ChartSpec("timechart"),
         "columns": three_cols, "rows": three,
         "bare": bare_series(three), "bare_arrays": bare_series_arrays(three)},
        {"name": "bar chart 50 bars", "spec": ChartSpec("bar"),
         "columns": bar_cols, "rows": bars, "bare": bare_barh(bars), "bare_arrays": None},
        {"name": "pie chart 20 slices", "spec": ChartSpec("pie"),
         "columns": pie_cols, "rows": slices, "bare": bare_pie(slices), "bare_arrays": None},
    ]


def main() -> dict[str, dict[str, float]]:
    """Run every case; print one line each; return {case: {"ms", "bare_ms", ...}}."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from shared.render.charts import render_chart

    results: dict[str, dict[str, float]] = {}
    for case in _cases():
        spec, columns, rows = case["spec"], case["columns"], case["rows"]
        ms = _median_ms(lambda spec=spec, columns=columns, rows=rows:
                        render_chart(spec, columns, rows))
        bare_ms = _median_ms(case["bare"])
        entry = {"ms": round(ms, 1), "bare_ms": round(bare_ms, 1),
                 "ratio": round(ms / bare_ms, 2)}
        line = f"{case['name']}: {ms:.0f} ms ({ms / bare_ms:.2f}x bare matplotlib"
        if case["bare_arrays"] is not None:
            arrays_ms = _median_ms(case["bare_arrays"])
            entry.update(bare_arrays_ms=round(arrays_ms, 1),
                         ratio_arrays=round(ms / arrays_ms, 2))
            line += f", {ms / arrays_ms:.2f}x bare on numpy arrays"
        print(line + ")", flush=True)
        results[case["name"]] = entry
    return results


def summary_rows(result: dict[str, dict[str, float]]) -> list[Row]:
    case = result[TABLE_CASE]
    return [Row("100,000-point timechart (`bench_charts`)", f"{case['ms']:.0f} ms",
                f"bare matplotlib {case['bare_ms']:.0f} ms", times(case["ratio"]))]


if __name__ == "__main__":
    run_bench(main, summary_rows)
