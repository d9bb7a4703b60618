"""Run every `benchmarks/bench_*.py`, print what each prints, then one table (`make bench`).

Each script runs in its own interpreter, one after the other, so one script's
imports, caches and peak RSS never count against another (the benches that
measure memory start their own worker processes on top of that). The output of
each is streamed as it comes, under a header with the script's name, followed by
its wall time.

At the end comes the combined table (what, ours, reference, ratio, with each target
and whether it is met), built from the numbers just measured: every script is run
with `--summary FILE` (a temporary file of its own) and writes its rows there (see
`benchmarks/summary.py`). It is a markdown table: paste it into the README's
"Benchmarks" section. A script that failed, or wrote no rows, gets a row saying so.

A missed target is a number to read, not a failure: the exit status is 0 when
every script ran to the end, and 1 only when one of them crashed (its traceback is
in the output above the summary).

    .venv/bin/python benchmarks/run_all.py [name-substring ...]

With arguments, only the scripts whose file name contains one of them run.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:  # run as a script: make `benchmarks.summary` importable
    sys.path.insert(0, str(ROOT))

from benchmarks.summary import OPTION, Row, markdown_table, read_rows  # noqa: E402

#: The table's order (the README's); a script not named here comes after these.
TABLE_ORDER = ("bench_client_cost", "bench_kusto_flow", "bench_import", "bench_queue",
               "bench_sql_write", "bench_growth", "bench_charts", "bench_load",
               "bench_run_store")


def scripts(filters: list[str], folder: Path = HERE) -> list[Path]:
    found = sorted(folder.glob("bench_*.py"))
    if filters:
        found = [path for path in found if any(f in path.name for f in filters)]
    return found


def run(path: Path, summary: Path) -> tuple[int, float]:
    print(f"== {path.name} ==", flush=True)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, str(path), OPTION, str(summary)], cwd=ROOT,
                          check=False)
    seconds = time.perf_counter() - started
    status = "" if done.returncode == 0 else f", FAILED with exit code {done.returncode}"
    print(f"-- {path.name}: {seconds:.0f} s{status}\n", flush=True)
    return done.returncode, seconds


def rows_of(path: Path, code: int, summary: Path) -> list[Row]:
    """The rows *path* wrote, or one row saying why there are none."""
    if code != 0:
        return [Row(f"`{path.stem}`", f"no numbers: it failed with exit code {code}")]
    if not summary.exists():
        return [Row(f"`{path.stem}`", "no numbers: it wrote no summary rows")]
    return read_rows(summary)


def table_key(path: Path) -> tuple[int, str]:
    order = TABLE_ORDER.index(path.stem) if path.stem in TABLE_ORDER else len(TABLE_ORDER)
    return order, path.name


def main(argv: list[str], folder: Path = HERE) -> int:
    found = scripts(argv, folder)
    if not found:
        print(f"no {folder.name}/bench_*.py matches {argv}", file=sys.stderr)
        return 1
    failed = []
    total = 0.0
    rows: dict[Path, list[Row]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-summary-") as scratch:
        for path in found:
            summary = Path(scratch) / f"{path.stem}.json"
            code, seconds = run(path, summary)
            total += seconds
            if code != 0:
                failed.append(path.name)
            rows[path] = rows_of(path, code, summary)
    print("== summary ==", flush=True)
    print(markdown_table(row for path in sorted(rows, key=table_key) for row in rows[path]))
    print(f"\n{len(found)} benchmarks in {total:.0f} s"
          + (f"; FAILED: {', '.join(failed)}" if failed else ""), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
