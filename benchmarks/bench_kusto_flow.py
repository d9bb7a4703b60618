"""What a flow costs on top of the raw azure-kusto-data client, in time and memory.

Run from the repository root: `.venv/bin/python benchmarks/bench_kusto_flow.py`.
It starts the tests' Kusto endpoint (`tests.kusto_server`: `duckdb-kql serve`
behind the adapter for the SDK's string-form properties) in its own process with a
`Bench` table of 500,000 rows x 8 columns (datetime, 2 strings, 2 longs, 2 reals,
bool), so the server's memory is never counted, and compares the same work done
both ways against it:

(a) a one-step `kusto.query` flow over `Bench | take 10000` (a real `Runner.run`
    of a `Flow`, rows out as dicts), against `KustoClient.execute` of the same
    query plus iterating every row of the primary result. Both run in this
    process, interleaved, 2 warm-ups each, then the median of 15.
(b) a one-step `kusto.visualize` flow over all of `Bench`, `chart: table` (the
    e-mail body capped at the default 100 rows, the full result as CSV), with the
    flow's default limits (500,000 records, 64 MB by the reader's estimate; the
    result fits both: the record limit fails only *more* than 500,000, and the
    bench prints the byte estimate, about 29 MB), against
    `KustoClient.execute` plus iterating every row. Each side runs in its own
    subprocess, so its peak RSS (VmHWM) is its own: a small warm-up query first
    (imports, connection), then 2 full reads and their median (the mean of the
    two, both printed: the test server alone takes 14-17 s per answer of 500,000
    rows on 2 cores, so a third read would add about a minute per side). The peak is the whole
    process's; the line after it also gives it above the process's RSS after
    that warm-up, which is what reading the result itself cost.

The server builds each answer before it sends a byte, so its time is in both
sides alike; the bench times the server alone too (the same POST through a plain
`requests` session, body read, not parsed) and prints the client-side share.

`main()` returns the numbers as a dict for a runner to record; `summary_rows` turns
(a) into `make bench`'s table row (`--summary FILE`: benchmarks/summary.py; (b) is
measured without the server's time by bench_client_cost, whose rows the table shows).
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make the project importable
    sys.path.insert(0, str(ROOT))

from benchmarks.summary import Row, at_most, run_bench, times  # noqa: E402

__all__ = ["main", "summary_rows"]

DATABASE = "Samples"
BENCH_ROWS = 500_000
COLUMNS = 8
QUERY_A = "Bench | take 10000"
ROWS_A = 10_000
QUERY_B = "Bench"
WARMUP_QUERY_B = "Bench | take 1000"
A_WARMUPS = 2
A_REPEATS = 15
B_REPEATS = 2
TARGET_A = 1.25
TARGET_B_TIME = 1.5
TARGET_B_RSS = 0.5
#: `estimate_row_bytes` for a Bench row: strings by length, the 6 others 8 bytes each.
ESTIMATE_QUERY = "Bench | summarize Bytes = sum(strlen(Host) + strlen(Category) + 48)"


# ---------------------------------------------------------------- measuring

def _status_kb(field: str) -> int:
    """A `kB` line of /proc/self/status (VmHWM, VmRSS); 0 where there is none."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def peak_rss_mb() -> float:
    """This process's peak resident set so far, in MiB (Linux reports ru_maxrss in kB)."""
    kb = _status_kb("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024


def rss_mb() -> float:
    return (_status_kb("VmRSS") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024


# ---------------------------------------------------------------- the two sides

def raw_client(url: str) -> Any:
    from azure.kusto.data import KustoClient, KustoConnectionStringBuilder

    return KustoClient(KustoConnectionStringBuilder.with_no_authentication(url))


def raw_read(client: Any, query: str) -> int:
    """`execute`, then every row of the primary result (a `KustoResultRow` each,
    datetimes converted, as any caller reading the rows gets them)."""
    response = client.execute(DATABASE, query)
    count = 0
    for _row in response.primary_results[0]:
        count += 1
    return count


def flow_of(action: str, query: str) -> Any:
    from shared.steps import REGISTRY

    step: dict[str, Any] = {"id": "q", "action": action, "connection": "bench",
                            "query": query}
    if action == "kusto.visualize":
        step["chart"] = "table"
    return REGISTRY.flow_model.model_validate({"name": f"bench-{action.replace('.', '-')}",
                                "steps": [step]})


def flow_runner(url: str, workdir: Path) -> Any:
    from shared.model import Connection
    from shared.resources import Resources
    from shared.runner import Runner
    from shared.settings import Settings

    settings = Settings(outbox_dir=workdir / "outbox", state_dir=workdir / "state")
    connections = {"bench": Connection(cluster=url, database=DATABASE)}
    return Runner(Resources(settings, connections))


def flow_read(runner: Any, flow: Any) -> dict[str, Any]:
    """One run; the step's outputs (the run itself is dropped by the caller)."""
    from shared.results import RunStatus
    from shared.runner import Trigger

    run = runner.run(flow, Trigger(kind="manual"))
    if run.status != RunStatus.SUCCEEDED:
        error = run.steps[0].error
        raise RuntimeError(f"the bench flow did not succeed: {run.status}: {error}")
    return run.steps[0].outputs


def _timed(action: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    value = action()
    return time.perf_counter() - started, value


# ---------------------------------------------------------------- (b) workers

def worker(side: str, url: str, repeats: int) -> dict[str, Any]:
    """Runs in its own process: warm up small, then read all of Bench *repeats*
    times; returns times (s), peak RSS (MiB) and what was read."""
    with tempfile.TemporaryDirectory() as workdir:
        if side == "flow":
            runner = flow_runner(url, Path(workdir))
            small, big = (flow_of("kusto.visualize", q) for q in (WARMUP_QUERY_B, QUERY_B))
            flow_read(runner, small)

            def once() -> Any:
                outputs = flow_read(runner, big)
                return {"rows": outputs["row_count"], "csv_bytes": outputs["csv"].size,
                        "body_rows": len(outputs["rows"])}
        else:
            client = raw_client(url)
            raw_read(client, WARMUP_QUERY_B)

            def once() -> Any:
                return {"rows": raw_read(client, QUERY_B)}

        baseline = rss_mb()
        times, read = [], None
        for _ in range(repeats):
            read = None  # never hold the last result while the next one is read
            seconds, read = _timed(once)
            times.append(seconds)
        return {"times": times, "peak_mb": peak_rss_mb(), "baseline_mb": baseline,
                "read": read}


def _run_worker(side: str, url: str, repeats: int) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--worker", side, url, str(repeats)],
        cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{side} worker failed ({done.returncode}):\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- server only

def server_seconds(url: str, query: str) -> float:
    """The answer alone: POST the query, read the whole body, parse nothing."""
    import requests

    with requests.Session() as session:
        started = time.perf_counter()
        response = session.post(f"{url}/v2/rest/query", json={"db": DATABASE, "csl": query},
                                stream=True, timeout=300)
        for _chunk in response.iter_content(1 << 16):
            pass
        response.raise_for_status()
        return time.perf_counter() - started


def _verdict(ratio: float, target: float) -> str:
    return "ok" if ratio <= target else "MISSED"


def main() -> dict[str, Any]:
    from tests.fixtures_kusto import start_kusto_server, stop_kusto_server

    process, url = start_kusto_server(BENCH_ROWS)
    try:
        results = _bench(url)
    finally:
        stop_kusto_server(process)
    return results


def _bench(url: str) -> dict[str, Any]:
    # ---- (a) in this process, interleaved
    client = raw_client(url)
    with tempfile.TemporaryDirectory() as workdir:
        runner = flow_runner(url, Path(workdir))
        flow = flow_of("kusto.query", QUERY_A)
        flow_times, raw_times = [], []
        for index in range(A_WARMUPS + A_REPEATS):
            flow_s, outputs = _timed(lambda: flow_read(runner, flow))
            raw_s, count = _timed(lambda: raw_read(client, QUERY_A))
            assert outputs["row_count"] == ROWS_A and count == ROWS_A, (outputs["row_count"],
                                                                          count)
            outputs = None
            if index >= A_WARMUPS:
                flow_times.append(flow_s)
                raw_times.append(raw_s)
    server_a = statistics.median(server_seconds(url, QUERY_A) for _ in range(5))
    flow_a, raw_a = statistics.median(flow_times) * 1000, statistics.median(raw_times) * 1000
    ratio_a = flow_a / raw_a
    print(f"(a) one-step kusto.query flow, {ROWS_A:,} rows: flow {flow_a:.0f} ms vs raw "
          f"execute {raw_a:.0f} ms -> {ratio_a:.2f}x (target <= {TARGET_A}x) "
          f"{_verdict(ratio_a, TARGET_A)}", flush=True)
    print(f"    server answer alone {server_a * 1000:.0f} ms; client side: flow "
          f"{flow_a - server_a * 1000:.0f} ms vs raw {raw_a - server_a * 1000:.0f} ms "
          f"(median of {A_REPEATS} after {A_WARMUPS} warm-ups, interleaved)", flush=True)

    # ---- (b) one subprocess per side
    estimate = client.execute(DATABASE, ESTIMATE_QUERY).primary_results[0][0]["Bytes"]
    flow_b = _run_worker("flow", url, B_REPEATS)
    raw_b = _run_worker("raw", url, B_REPEATS)
    server_b = server_seconds(url, QUERY_B)
    assert flow_b["read"]["rows"] == BENCH_ROWS and raw_b["read"]["rows"] == BENCH_ROWS, (
        flow_b["read"], raw_b["read"])
    flow_s, raw_s = statistics.median(flow_b["times"]), statistics.median(raw_b["times"])
    time_ratio = flow_s / raw_s
    rss_ratio = flow_b["peak_mb"] / raw_b["peak_mb"]
    flow_grow = flow_b["peak_mb"] - flow_b["baseline_mb"]
    raw_grow = raw_b["peak_mb"] - raw_b["baseline_mb"]
    print(f"(b) kusto.visualize flow (chart: table, body {flow_b['read']['body_rows']} rows, "
          f"full CSV {flow_b['read']['csv_bytes'] / 1024**2:.1f} MB), {BENCH_ROWS:,} rows x "
          f"{COLUMNS} columns: flow {flow_s:.1f} s vs raw execute + iterate {raw_s:.1f} s -> "
          f"{time_ratio:.2f}x (target <= {TARGET_B_TIME}x) "
          f"{_verdict(time_ratio, TARGET_B_TIME)}", flush=True)
    print(f"    server answer alone {server_b:.1f} s; client side: flow "
          f"{flow_s - server_b:.1f} s vs raw {raw_s - server_b:.1f} s -> "
          f"{(flow_s - server_b) / (raw_s - server_b):.2f}x (median of {B_REPEATS}: flow "
          f"{', '.join(f'{t:.1f}' for t in flow_b['times'])} s, raw "
          f"{', '.join(f'{t:.1f}' for t in raw_b['times'])} s)", flush=True)
    print(f"(b) peak RSS: flow {flow_b['peak_mb']:.0f} MB vs raw {raw_b['peak_mb']:.0f} MB -> "
          f"{rss_ratio:.2f}x (target <= {TARGET_B_RSS}x) {_verdict(rss_ratio, TARGET_B_RSS)}",
          flush=True)
    print(f"    above the process after its warm-up: flow +{flow_grow:.0f} MB (from "
          f"{flow_b['baseline_mb']:.0f}) vs raw +{raw_grow:.0f} MB (from "
          f"{raw_b['baseline_mb']:.0f}); default limits 500,000 records / 64 MB, this "
          f"result {estimate / 1024**2:.1f} MB by the reader's estimate", flush=True)
    return {
        "a": {"rows": ROWS_A, "flow_ms": round(flow_a, 1), "raw_ms": round(raw_a, 1),
              "server_ms": round(server_a * 1000, 1), "ratio": round(ratio_a, 3),
              "target": TARGET_A},
        "b": {"rows": BENCH_ROWS, "columns": COLUMNS, "flow_s": round(flow_s, 2),
              "raw_s": round(raw_s, 2), "server_s": round(server_b, 2),
              "time_ratio": round(time_ratio, 3), "time_target": TARGET_B_TIME,
              "flow_peak_mb": round(flow_b["peak_mb"], 1),
              "raw_peak_mb": round(raw_b["peak_mb"], 1),
              "flow_baseline_mb": round(flow_b["baseline_mb"], 1),
              "raw_baseline_mb": round(raw_b["baseline_mb"], 1),
              "rss_ratio": round(rss_ratio, 3), "rss_target": TARGET_B_RSS,
              "estimated_bytes": estimate, "csv_bytes": flow_b["read"]["csv_bytes"],
              "flow_times_s": [round(t, 2) for t in flow_b["times"]],
              "raw_times_s": [round(t, 2) for t in raw_b["times"]]},
    }


def summary_rows(result: dict[str, Any]) -> list[Row]:
    a = result["a"]
    return [Row(f"one-step `kusto.query`, {a['rows']:,} rows (`bench_kusto_flow`)",
                f"{a['flow_ms']:.0f} ms", f"raw `execute` {a['raw_ms']:.0f} ms",
                times(a["ratio"]), at_most(a["ratio"], a["target"]))]


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--worker":
        print(json.dumps(worker(sys.argv[2], sys.argv[3], int(sys.argv[4]))))
    else:
        run_bench(main, summary_rows)
