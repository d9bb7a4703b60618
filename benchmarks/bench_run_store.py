"""Run history at scale: list the newest 50 runs of a flow that has 10,000.

The page a person opens first must cost one request however long the history is:
the inverted-ticks row key makes "newest 50" the first 50 rows of the flow's
partition, read with the service's own `$top`. This starts its own Azurite (the
tests' helper), fills one flow with 10,000 runs in entity-group transactions of
100 (one partition, so they batch), then times `list_runs(top=50)` and counts the
HTTP requests it makes with a client-level request hook.

    .venv/bin/python benchmarks/bench_run_store.py

`main()` returns the numbers as a dict, and `summary_rows` turns it into `make bench`'s
table row (`--summary FILE`: benchmarks/summary.py).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make the project importable
    sys.path.insert(0, str(ROOT))

from benchmarks.summary import Row, Target, run_bench  # noqa: E402
from shared.results import RunResult, RunStatus, utc_now  # noqa: E402
from shared.runs.table_entities import run_entity  # noqa: E402
from shared.runs.table_store import TableRunStore  # noqa: E402
from tests.counting_stores import Counter  # noqa: E402
from tests.fixtures_azurite import Azurite  # noqa: E402

__all__ = ["main", "summary_rows"]

RUNS = 10_000
TOP = 50
BATCH = 100
FLOW = "bench-daily-report"
REPEATS = 5


def _runs(count: int) -> list[RunResult]:
    start = utc_now() - timedelta(days=30)
    statuses = [RunStatus.SUCCEEDED] * 8 + [RunStatus.FAILED, RunStatus.TIMED_OUT]
    runs = []
    for i in range(count):
        run = RunResult(run_id=uuid.uuid4().hex, flow=FLOW, trigger_kind="schedule",
                        started_at=start + timedelta(minutes=4 * i),
                        status=statuses[i % len(statuses)], trigger_body={"i": i})
        run.ended_at = run.started_at + timedelta(seconds=3)
        runs.append(run)
    return runs


def _fill(store: TableRunStore, runs: list[RunResult]) -> float:
    """Write *runs* as run rows, 100 per transaction; returns seconds taken.
    (The id-index rows live in one partition per run, so they cannot batch; the
    list does not read them, so the benchmark leaves them out.)"""
    store._ensure_tables()
    table = store._runs
    started = time.perf_counter()
    for offset in range(0, len(runs), BATCH):
        table.submit_transaction(
            [("upsert", run_entity(run)) for run in runs[offset:offset + BATCH]])
    return time.perf_counter() - started


def main() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as workdir, Azurite(Path(workdir)) as azurite:
        counter = Counter()
        store = TableRunStore.from_connection_string(
            azurite.connection_string, table_prefix="bench", raw_request_hook=counter)
        try:
            runs = _runs(RUNS)
            fill_seconds = _fill(store, runs)
            newest = [r.run_id for r in sorted(runs, key=lambda r: r.started_at,
                                               reverse=True)[:TOP]]

            timings, requests = [], []
            for _ in range(REPEATS):
                counter.count = 0
                started = time.perf_counter()
                page = store.list_runs(FLOW, top=TOP)
                timings.append((time.perf_counter() - started) * 1000)
                requests.append(counter.count)
                assert [r.run_id for r in page.items] == newest, "not the newest 50"
                assert page.continuation is not None

            counter.count = 0
            started = time.perf_counter()
            second = store.list_runs(FLOW, top=TOP, continuation=page.continuation)
            next_ms = (time.perf_counter() - started) * 1000
            next_requests = counter.count
            assert len(second.items) == TOP
        finally:
            store.close()

    first_ms, median_ms = timings[0], statistics.median(timings)
    worst_requests = max(requests)
    print(f"fill {RUNS:,} runs in {RUNS // BATCH} transactions: {fill_seconds:.1f} s")
    print(f"list newest {TOP} of {RUNS:,} runs: {worst_requests} request"
          f"{'' if worst_requests == 1 else 's'}, {median_ms:.1f} ms "
          f"(first {first_ms:.1f} ms, median of {REPEATS})")
    print(f"next page via continuation: {next_requests} request"
          f"{'' if next_requests == 1 else 's'}, {next_ms:.1f} ms")
    return {
        "runs": RUNS,
        "top": TOP,
        "fill_seconds": round(fill_seconds, 3),
        "list_requests": worst_requests,
        "list_ms": round(median_ms, 3),
        "list_first_ms": round(first_ms, 3),
        "next_page_requests": next_requests,
        "next_page_ms": round(next_ms, 3),
    }


def summary_rows(result: dict[str, Any]) -> list[Row]:
    def requests(count: int) -> str:
        return f"{count} request{'' if count == 1 else 's'}"

    return [Row(f"newest {result['top']} runs of a flow with {result['runs']:,}, Table "
                "(`bench_run_store`)",
                f"{requests(result['list_requests'])}, {result['list_ms']:.1f} ms",
                f"next page: {requests(result['next_page_requests'])}, "
                f"{result['next_page_ms']:.1f} ms",
                target=Target("1 request", result["list_requests"] == 1))]


if __name__ == "__main__":
    run_bench(main, summary_rows)
