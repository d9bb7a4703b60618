"""What `sql.write` costs in memory on top of the rows it writes.

Run from the repository root: `.venv/bin/python benchmarks/bench_sql_write.py`.

One flow, as a user writes it: a `kusto.query` step on the embedded engine makes
500,000 rows of six columns (long, datetime, string, real, bool, timespan) with
`range`, and a `sql.write` step appends them (`create: true`, batches of 5,000, one
transaction) into PostgreSQL, started for the bench from Debian's packages like the
tests do (`tests/fixtures_postgres.py`), or into a SQLite file when PostgreSQL is not
installed.

Target: while the write runs, Python's memory stays within 1.5x of holding the rows
once. Measured with tracemalloc: "rows held" is what the process holds when the
write step starts over what it held before the run (after a warm-up run, so imports
and the engine's caches are not counted), "peak" the highest it reached from there
until the run ended; the ratio is peak / rows held. The process's RSS is printed
too (its high-water mark reset through /proc/self/clear_refs when the write step
starts), though it also counts the embedded engine's and the driver's C memory,
which tracemalloc does not see.

A missed target is printed, not raised (`benchmarks/run_all.py`). `main()` returns
the numbers as a dict, and `summary_rows` turns it into `make bench`'s table row
(`--summary FILE`: benchmarks/summary.py).
"""

from __future__ import annotations

import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make the project importable
    sys.path.insert(0, str(ROOT))

from benchmarks.summary import Row, at_most, run_bench, times  # noqa: E402

__all__ = ["main", "summary_rows"]

ROWS = 500_000
TARGET = 1.5
FLOW = """\
name: bench-sql-write
limits: {max_bytes: 1GB, request_timeout: 30m, run_timeout: 1h}
steps:
  - id: rows
    action: kusto.query
    connection: samples
    query: |
      range Id from 1 to ROWS step 1
      | extend At = datetime(2024-01-01) + Id * 1s, Name = strcat("row-", tostring(Id)),
               Value = Id * 0.5, Even = Id % 2 == 0, Span = Id * 1ms
  - id: write
    action: sql.write
    connection: warehouse
    table: bench_rows
    rows: "{{ steps.rows.rows }}"
    columns: "{{ steps.rows.columns }}"
    create: true
"""


def _status_kb(field: str) -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


class _AtWrite:
    """A run observer: when the write step starts, note the memory held and reset the
    peaks (tracemalloc's and the RSS high-water mark)."""

    def __init__(self) -> None:
        self.held = 0
        self.rss_kb = 0
        self.rss_reset = False
        self.started = 0.0
        self.ended = 0.0

    def run_started(self, run: Any) -> None:
        pass

    def step_started(self, run: Any, path: str, action: str) -> None:
        if path == "write":
            self.held = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            self.rss_reset = _reset_peak_rss()
            self.rss_kb = _status_kb("VmRSS")
            self.started = time.perf_counter()

    def step_finished(self, run: Any, step: Any) -> None:
        if step.path == "write":
            self.ended = time.perf_counter()

    def run_finished(self, run: Any) -> None:
        pass


def _run(folder: Path, rows: int, connections: str, observer: Any) -> Any:
    from shared.loader import load_connections, load_flow
    from shared.resources import Resources
    from shared.runner import Runner
    from shared.settings import Settings

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "connections.yaml").write_text(connections)
    path = folder / "bench-sql-write.yaml"
    path.write_text(FLOW.replace("ROWS", str(rows)))
    loaded_connections, problems = load_connections(folder / "connections.yaml")
    assert not problems, problems
    flow = load_flow(path, loaded_connections).flow
    settings = Settings(outbox_dir=folder / "outbox", state_dir=folder / "state",
                        run_deadline_seconds=3600)
    resources = Resources(settings, loaded_connections)
    try:
        run = Runner(resources, [observer] if observer else []).run(flow)
    finally:
        resources.close()
    if run.status != "Succeeded":
        raise RuntimeError(f"the bench flow failed: {run.to_dict()}")
    return run


def main() -> dict[str, Any]:
    from tests.fixtures_postgres import find_postgres_bin, start_postgres

    server = None
    with tempfile.TemporaryDirectory(prefix="bench-sql-") as tmp:
        work = Path(tmp)
        if find_postgres_bin() is not None:
            server = start_postgres()
            server.execute("CREATE DATABASE bench")
            target = "PostgreSQL"
            connections = ("samples: {cluster: embedded, database: Samples}\n"
                           f"warehouse: {{kind: postgresql, server: 127.0.0.1, port: "
                           f"{server.port}, database: bench, user: postgres, auth: none}}\n")
        else:
            target = "SQLite (PostgreSQL is not installed: make postgres)"
            connections = ("samples: {cluster: embedded, database: Samples}\n"
                           "warehouse: {kind: sqlite, path: bench.db}\n")
        try:
            print(f"sql.write of {ROWS:,} rows x 6 columns from a kusto.query step into "
                  f"{target}", flush=True)
            _run(work / "warmup", 1_000, connections.replace("bench.db", "warmup.db"), None)
            if server is not None:
                server.execute("DROP DATABASE bench")
                server.execute("CREATE DATABASE bench")
            tracemalloc.start()
            baseline = tracemalloc.get_traced_memory()[0]
            at_write = _AtWrite()
            run = _run(work / "bench", ROWS, connections, at_write)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            peak_rss_kb = _status_kb("VmHWM")
        finally:
            if server is not None:
                server.stop()
    written = run.steps[1].outputs["rows_written"]
    held = at_write.held - baseline
    top = max(peak, at_write.held) - baseline
    ratio = top / held
    seconds = at_write.ended - at_write.started
    print(f"rows written:          {written:,} in {run.steps[1].outputs['batches']} batches, "
          f"{seconds:.1f} s under tracemalloc ({written / seconds:,.0f} rows/s)")
    print(f"rows held (tracemalloc): {held / 1024**2:,.1f} MB when the write step started")
    print(f"peak while writing:      {top / 1024**2:,.1f} MB "
          f"(+{(top - held) / 1024**2:,.1f} MB for the write)")
    print(f"ratio peak / rows held:  {ratio:.3f} (target <= {TARGET}: "
          f"{'met' if ratio <= TARGET else 'MISSED'})")
    if at_write.rss_reset:
        print(f"process RSS:             {at_write.rss_kb / 1024:,.0f} MB when the write "
              f"started, peak {peak_rss_kb / 1024:,.0f} MB during it "
              f"(+{(peak_rss_kb - at_write.rss_kb) / 1024:,.0f} MB; counts C memory too)")
    return {"rows": written, "held_mb": held / 1024**2, "peak_mb": top / 1024**2,
            "ratio": ratio, "target": TARGET, "seconds": seconds, "database": target,
            "rss_at_write_mb": at_write.rss_kb / 1024, "peak_rss_mb": peak_rss_kb / 1024}


def summary_rows(result: dict[str, Any]) -> list[Row]:
    database = str(result["database"]).split(" (", 1)[0]  # "SQLite (... not installed ...)"
    return [Row(f"`sql.write` of {result['rows']:,} rows into {database}, peak memory "
                "(`bench_sql_write`)", f"{result['peak_mb']:.1f} MB",
                f"rows held once {result['held_mb']:.1f} MB", times(result["ratio"]),
                at_most(result["ratio"], result["target"]))]


if __name__ == "__main__":
    run_bench(main, summary_rows)
