"""`make bench`'s combined table: the rows each bench hands over, and how they are printed.

Why: the table at the end of `make bench` is what goes into the README, so it must be
built from the numbers just measured, with every target's verdict, and no bench may
drop out of it silently. The benches themselves take minutes and start services, so
these tests never run one: they import each `benchmarks/bench_*.py` (imports only),
feed its `summary_rows` a result shaped like its `main()`'s, and run the runner on a
folder of tiny stand-in benches.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks import run_all
from benchmarks.summary import (
    Row,
    Target,
    at_least,
    at_most,
    markdown_table,
    read_rows,
    run_bench,
    take_option,
    write_rows,
)

ROOT = Path(__file__).resolve().parents[1]
BENCHES = sorted(path.stem for path in (ROOT / "benchmarks").glob("bench_*.py"))

#: A result shaped like each bench's `main()`'s (the keys its `summary_rows` reads).
RESULTS: dict[str, dict[str, Any]] = {
    "bench_charts": {"timechart 100k points": {"ms": 249.0, "bare_ms": 610.0, "ratio": 0.41}},
    "bench_client_cost": {"rows": 500_000, "columns": 8,
                          "seconds": {"flow": 1.47, "raw": 3.1, "floor": 1.86},
                          "peak_mb": {"flow": 98.0, "raw": 359.0, "floor": 300.0},
                          "time_ratio": 0.79, "time_target": 1.5,
                          "rss_ratio": 0.273, "rss_target": 0.25},
    "bench_growth": {"runs": 100_000, "flows": 1000, "rows": [
        {"what": "newest 50 of 100,000 runs (Table): requests", "ours": 1, "reference": 1,
         "ratio": 1.0},
        {"what": "newest 50 of 100,000 runs (Table): ms", "ours": 20.5, "reference": 19.0,
         "ratio": 1.08},
        {"what": "My flows page (100 of 1,000 flows), Table: store requests", "ours": 1,
         "reference": 1000, "ratio": 0.001},
        {"what": "My flows page (100 of 1,000 flows), Table: ms", "ours": 56.0,
         "reference": 5900.0, "ratio": 0.0095},
        {"what": "history of every flow (1,000 flows), page 2 of 25, Table: store requests",
         "ours": 27, "reference": 1000, "ratio": 0.027},
        {"what": "history of every flow (1,000 flows), page 2 of 25, Table: ms",
         "ours": 500.0, "reference": 8900.0, "ratio": 0.056}]},
    "bench_import": {"statement": "import function_app", "app_ms": 300.0, "app_cpu_ms": 240.0,
                     "app_cold_ms": 700.0, "app_cold_cpu_ms": 650.0,
                     "app_new_ms": 170.0, "app_new_cpu_ms": 160.0,
                     "functions_only_ms": 115.0, "functions_only_cpu_ms": 102.0,
                     "cpu_ratio": 2.353, "ratio_target": 2.0, "bulk_files": 1000,
                     "bulk_ms": 400.0, "bulk_cpu_ms": 356.0, "bulk_cold_ms": 3000.0,
                     "bulk_cold_cpu_ms": 2900.0, "bulk_target_ms": 1000.0,
                     "bulk_new_ms": 260.0, "bulk_new_cpu_ms": 250.0},
    "bench_kusto_flow": {"a": {"rows": 10_000, "flow_ms": 95.0, "raw_ms": 120.0,
                               "ratio": 0.79, "target": 1.25}},
    "bench_load": {mode: {"runs_per_s": rate, "p95_ms": 1500.0, "concurrency": 20}
                   for mode, rate in (("floor", 10.0), ("inline", 9.0), ("queued", 7.0))},
    "bench_queue": {"start": {"queue_adds_ms": 12.8, "max_polling_interval_s": 2.0,
                              "inline": {"request_to_step": {"median_ms": 3.1}}},
                    "wait": {"operation_s": 1800, "invocations": 34, "busy_s": 2.54,
                             "naive_busy_s": 1800.0, "ratio": 709.0}},
    "bench_run_store": {"runs": 10_000, "top": 50, "list_requests": 1, "list_ms": 30.2,
                        "next_page_requests": 1, "next_page_ms": 28.0},
    "bench_sql_write": {"rows": 500_000, "database": "PostgreSQL", "peak_mb": 236.8,
                        "held_mb": 230.6, "ratio": 1.027, "target": 1.5},
}


@pytest.fixture
def bench_modules() -> Iterator[dict[str, Any]]:
    """Every bench imported as `benchmarks.<name>`, sys.path as it was afterwards (a
    bench puts its own folder on it, for its sibling imports)."""
    saved = list(sys.path)
    try:
        yield {name: importlib.import_module(f"benchmarks.{name}") for name in BENCHES}
    finally:
        sys.path[:] = saved


def test_rows_print_as_one_aligned_markdown_table_with_each_target_s_verdict() -> None:
    rows = [Row("client cost", "1.47 s", "floor 1.86 s", "0.79x", at_most(0.79, 1.5)),
            Row("peak RSS", "98 MB", "raw 359 MB", "0.27x", at_most(0.27, 0.25)),
            Row("runs", "9 runs/s", "floor", "0.90x", at_least(0.9, 0.8)),
            Row("page", "1 request", target=Target("1 request", True)),
            Row("a | b", "x")]
    assert markdown_table(rows) == textwrap.dedent("""\
        | what        | ours      | reference    | ratio                           |
        |-------------|-----------|--------------|---------------------------------|
        | client cost | 1.47 s    | floor 1.86 s | 0.79x (target <= 1.5x: met)     |
        | peak RSS    | 98 MB     | raw 359 MB   | 0.27x (target <= 0.25x: MISSED) |
        | runs        | 9 runs/s  | floor        | 0.90x (target >= 0.8x: met)     |
        | page        | 1 request |              | (target 1 request: met)         |
        | a \\| b      | x         |              |                                 |""")


def test_an_absolute_target_carries_its_unit() -> None:
    assert at_most(356.0, 1000.0, " ms") == Target("<= 1,000 ms", True)


def test_rows_come_back_from_the_file_a_bench_writes_as_they_went_in(tmp_path: Path) -> None:
    rows = [Row("what", "ours", "ref", "1.00x", Target("<= 1x", False)), Row("only", "this")]
    write_rows(tmp_path / "rows.json", rows)
    assert read_rows(tmp_path / "rows.json") == rows


def test_the_summary_option_is_taken_out_before_the_bench_reads_its_arguments() -> None:
    assert take_option(["--runs", "5", "--summary", "out.json"]) == (["--runs", "5"],
                                                                    Path("out.json"))
    assert take_option(["--summary=out.json"]) == ([], Path("out.json"))
    assert take_option(["--runs", "5"]) == (["--runs", "5"], None)


def test_a_bench_writes_its_rows_only_when_asked(tmp_path: Path) -> None:
    calls: list[tuple[Any, ...]] = []

    def main(*argv: Any) -> dict[str, Any]:
        calls.append(argv)
        return {"ms": 5}

    def rows(result: dict[str, Any]) -> list[Row]:
        return [Row("thing", f"{result['ms']} ms")]

    run_bench(main, rows, ["--quick"])
    run_bench(main, rows, ["--summary", str(tmp_path / "rows.json")])
    assert calls == [(["--quick"],), ([],)]
    assert read_rows(tmp_path / "rows.json") == [Row("thing", "5 ms")]
    assert [p.name for p in tmp_path.iterdir()] == ["rows.json"]


def test_a_bench_that_parses_its_own_arguments_never_sees_the_summary_option(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def main(argv: list[str] | None = None) -> dict[str, Any]:
        parser = argparse.ArgumentParser()
        parser.add_argument("--runs", type=int, default=3)
        return {"runs": parser.parse_args(argv).runs}

    def rows(result: dict[str, Any]) -> list[Row]:
        return [Row("runs", str(result["runs"]))]

    out = tmp_path / "rows.json"
    monkeypatch.setattr(sys, "argv", ["bench_x.py", "--summary", str(out)])
    run_bench(main, rows)
    assert read_rows(out) == [Row("runs", "3")]
    monkeypatch.setattr(sys, "argv", ["bench_x.py", "--runs", "7", "--summary", str(out)])
    run_bench(main, rows)
    assert read_rows(out) == [Row("runs", "7")]


def test_every_bench_has_a_sample_result_here_and_the_runner_places_it_in_the_table() -> None:
    assert sorted(RESULTS) == BENCHES
    assert sorted(run_all.TABLE_ORDER) == BENCHES


@pytest.mark.parametrize("name", BENCHES)
def test_every_bench_turns_its_result_into_rows_and_hands_them_over_at_its_entry_point(
        name: str, bench_modules: dict[str, Any]) -> None:
    module = bench_modules[name]
    rows = module.summary_rows(RESULTS[name])
    assert rows and all(isinstance(row, Row) and row.what and row.ours for row in rows)
    source = Path(module.__file__).read_text(encoding="utf-8")
    assert "run_bench(main, summary_rows)" in source.split('if __name__ == "__main__":')[1]


def test_the_table_rows_of_the_sample_results_read_as_the_readme_s(
        bench_modules: dict[str, Any]) -> None:
    rows = {row.what: row for name in BENCHES
            for row in bench_modules[name].summary_rows(RESULTS[name])}
    client = rows["client cost: `kusto.visualize` table + full CSV of a replayed "
                  "500,000 x 8 answer (`bench_client_cost`)"]
    assert (client.ours, client.reference, client.ratio_cell()) == (
        "1.47 s", "floor: `json.loads` + `csv.writer` 1.86 s", "0.79x (target <= 1.5x: met)")
    assert rows["peak RSS of the same"].ratio_cell() == "0.27x (target <= 0.25x: MISSED)"
    bulk = rows["`import function_app`, 1,000 flow files, flow cache warm"]
    assert (bulk.ours, bulk.ratio_cell()) == ("356 ms CPU (400 wall)",
                                              "(target <= 1,000 ms: met)")
    new = rows["`import function_app`, 1,000 flow files, new instance (shipped flow cache)"]
    assert (new.ours, new.ratio_cell()) == ("250 ms CPU (260 wall)",
                                            "(target <= 1,000 ms: met)")
    growth = rows['"My flows" page of 1,000 flows, Table']
    assert (growth.ours, growth.reference, growth.ratio) == (
        "1 request, 56 ms", "one `last_run` a flow: 1,000 requests, 5.9 s", "0.001x")
    history = rows["history of every flow, 1,000 flows, page 2 of 25, Table"]
    assert (history.ours, history.reference, history.ratio) == (
        "27 requests, 500 ms", "a page of every flow: 1,000 requests, 8.9 s", "0.027x")
    queued = rows["runs per instance: queued webhook runs of `storm-state-report`, 20 at once"]
    assert queued.ratio_cell() == "0.70x (target >= 0.8x: MISSED)"


def _stand_in(folder: Path, name: str, statement: str = "pass") -> None:
    """A bench that prints a line, runs *statement*, and hands over one row."""
    lines = ["import sys", f"sys.path.insert(0, {str(ROOT)!r})",
             "from benchmarks.summary import Row, run_bench",
             "def main():", f"    print('report of {name}')", f"    {statement}",
             "    return {}",
             "def summary_rows(result):",
             f"    return [Row('{name}', '1 ms', '2 ms', '0.50x')]",
             "if __name__ == '__main__':", "    run_bench(main, summary_rows)"]
    (folder / f"{name}.py").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_the_runner_prints_every_report_then_one_table_with_a_row_for_a_failed_bench(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    _stand_in(tmp_path, "bench_good")
    _stand_in(tmp_path, "bench_broken", "raise SystemExit(3)")
    (tmp_path / "bench_silent.py").write_text("print('no rows')\n", encoding="utf-8")
    _stand_in(tmp_path, "bench_skipped")
    assert run_all.main(["good", "broken", "silent"], tmp_path) == 1
    out = capfd.readouterr().out
    assert out.index("report of bench_good") < out.index("== summary ==")
    assert "bench_skipped" not in out
    table = out.split("== summary ==\n", 1)[1].split("\n\n", 1)[0]
    assert table.splitlines()[2:] == [
        "| `bench_broken` | no numbers: it failed with exit code 3 |           |       |",
        "| bench_good     | 1 ms                                   | 2 ms      | 0.50x |",
        "| `bench_silent` | no numbers: it wrote no summary rows   |           |       |",
    ]
    assert out.rstrip().endswith("; FAILED: bench_broken.py")
