"""What reading a large result costs the client alone, against the floor of that work.

Run from the repository root: `.venv/bin/python benchmarks/bench_client_cost.py`.

The local Kusto server (`tests.kusto_server`, as in `bench_kusto_flow.py`) takes
most of the time of a 500,000-row answer to build it; a real cluster answers the
same query in a second or two, so there the client side is what users wait for.
This bench takes the server out:

1. it starts the server once with a `Bench` table of 500,000 rows x 8 columns
   (datetime, 2 strings, 2 longs, 2 reals, bool), saves its v2 answer to `Bench`
   (and to a 1,000-row warm-up query) to a temporary folder, and stops it;
2. a small loopback HTTP server in this process answers the SDK's query POST with
   those saved bytes (streamed from the file, Content-Length set, keep-alive);
3. three sides read that answer, each run in a fresh subprocess (so its peak RSS,
   VmHWM, is its own) after the imports and one warm-up query; rounds interleave
   the sides (flow, raw, floor; three rounds) and each side's median is reported:

   * flow: a one-step `kusto.visualize` flow, `chart: table` (the e-mail body capped
     at 100 rows, the full result as CSV), through `Runner.run` and the real
     azure-kusto-data client, default limits;
   * raw: `KustoClient.execute` and iterating every row of the primary result (the
     SDK's own non-streaming read, rows typed as its callers get them);
   * floor: the least any client can do with these bytes: a plain `requests` POST
     reading the body, `json.loads` of it, and `csv.writer` of every row of the
     primary table, as JSON gave it, into an `io.StringIO`, encoded to UTF-8 bytes
     at the end (the CSV the step attaches is bytes too).

Each side's time is wall time; its CPU time (user + system of the process during
the read) is printed beside it, as it is less disturbed by other work on the
machine. The flow's peak is also given above its RSS before the read, next to the
size of the CSV it keeps. Targets (issue 14): flow time <= 1.5x the floor's; flow
peak RSS <= 0.25x raw's. `main()` returns the numbers as a dict for a runner;
`summary_rows` turns it into `make bench`'s table rows (`--summary FILE`:
benchmarks/summary.py).
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _path in (str(ROOT), str(HERE)):  # run as a script: the project and the sibling bench
    if _path not in sys.path:
        sys.path.insert(0, _path)

from benchmarks.summary import Row, at_most, run_bench, times  # noqa: E402
from tests.local_http import Handler  # noqa: E402

__all__ = ["main", "summary_rows"]

ROWS = 500_000
COLUMNS = 8
DATABASE = "Samples"
QUERY = "Bench"
WARMUP_QUERY = "Bench | take 1000"
ROUNDS = 3
SIDES = ("flow", "raw", "floor")
TARGET_TIME = 1.5
TARGET_RSS = 0.25
_CHUNK = 1 << 16


# ---------------------------------------------------------------- capture and replay

def capture(folder: Path) -> dict[str, Path]:
    """The server's v2 answers to both queries, saved once: {query: file}."""
    import requests

    from tests.fixtures_kusto import start_kusto_server, stop_kusto_server

    process, url = start_kusto_server(ROWS)
    saved: dict[str, Path] = {}
    try:
        with requests.Session() as session:
            for index, query in enumerate((QUERY, WARMUP_QUERY)):
                path = folder / f"answer{index}.json"
                with session.post(f"{url}/v2/rest/query", json={"db": DATABASE, "csl": query},
                                  stream=True, timeout=600) as answer:
                    answer.raise_for_status()
                    with path.open("wb") as out:
                        for chunk in answer.iter_content(_CHUNK):
                            out.write(chunk)
                saved[query] = path
    finally:
        stop_kusto_server(process)
    return saved


class _Replay(Handler):
    """Answers a v2 query POST with the saved answer to its `csl`, streamed (HTTP/1.1
    keep-alive, as a cluster: the SDK reuses its connection)."""

    answers: dict[str, Path] = {}

    def do_POST(self) -> None:
        body, _ = self.read_request()
        try:
            query = str(json.loads(body).get("csl", "")).strip()
        except ValueError:
            query = ""
        path = self.answers.get(query)
        if path is None:
            payload = json.dumps({"error": {"code": "BadRequest",
                                            "message": f"not replayed: {query!r}"}}).encode()
            self.write(400, {"Content-Type": "application/json"}, payload)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(path.stat().st_size))
        self.end_headers()
        with path.open("rb") as source:
            shutil.copyfileobj(source, self.wfile, _CHUNK)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve(answers: dict[str, Path]) -> tuple[ThreadingHTTPServer, str]:
    handler = type("Replay", (_Replay,), {"answers": answers})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


# ---------------------------------------------------------------- the three sides

def _floor_read(session: Any, url: str, query: str) -> dict[str, Any]:
    import csv
    import io

    answer = session.post(f"{url}/v2/rest/query", json={"db": DATABASE, "csl": query},
                          timeout=600)
    answer.raise_for_status()
    frames = json.loads(answer.content)
    rows = next(f for f in frames if f.get("TableKind") == "PrimaryResult")["Rows"]
    text = io.StringIO(newline="")
    csv.writer(text).writerows(rows)
    data = text.getvalue().encode("utf-8")
    return {"rows": len(rows), "csv_bytes": len(data)}


def worker(side: str, url: str) -> dict[str, Any]:
    """In a fresh process: imports and a warm-up query, then one timed read."""
    from bench_kusto_flow import (
        flow_of,
        flow_read,
        flow_runner,
        peak_rss_mb,
        raw_client,
        raw_read,
        rss_mb,
    )

    with tempfile.TemporaryDirectory() as workdir:
        if side == "flow":
            runner = flow_runner(url, Path(workdir))
            flow_read(runner, flow_of("kusto.visualize", WARMUP_QUERY))
            big = flow_of("kusto.visualize", QUERY)

            def once() -> dict[str, Any]:
                outputs = flow_read(runner, big)
                return {"rows": outputs["row_count"], "csv_bytes": outputs["csv"].size,
                        "body_rows": len(outputs["rows"])}
        elif side == "raw":
            client = raw_client(url)
            raw_read(client, WARMUP_QUERY)

            def once() -> dict[str, Any]:
                return {"rows": raw_read(client, QUERY)}
        else:
            import requests

            session = requests.Session()
            _floor_read(session, url, WARMUP_QUERY)

            def once() -> dict[str, Any]:
                return _floor_read(session, url, QUERY)

        baseline = rss_mb()
        started, cpu = time.perf_counter(), time.process_time()
        read = once()
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        return {"seconds": seconds, "cpu_s": cpu, "peak_mb": peak_rss_mb(),
                "baseline_mb": baseline, "read": read}


def _run_worker(side: str, url: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", side, url],
                          cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{side} worker failed ({done.returncode}):\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# ---------------------------------------------------------------- the bench

def _verdict(ratio: float, target: float) -> str:
    return "ok" if ratio <= target else "MISSED"


def main() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        answers = capture(Path(folder))
        size = answers[QUERY].stat().st_size
        server, url = serve(answers)
        try:
            samples: dict[str, list[dict[str, Any]]] = {side: [] for side in SIDES}
            for _ in range(ROUNDS):
                for side in SIDES:
                    sample = _run_worker(side, url)
                    if sample["read"]["rows"] != ROWS:
                        raise RuntimeError(f"{side} read {sample['read']} rows, not {ROWS:,}")
                    samples[side].append(sample)
        finally:
            server.shutdown()
            server.server_close()
    seconds = {side: statistics.median(s["seconds"] for s in samples[side]) for side in SIDES}
    cpu = {side: statistics.median(s["cpu_s"] for s in samples[side]) for side in SIDES}
    peaks = {side: statistics.median(s["peak_mb"] for s in samples[side]) for side in SIDES}
    grown = statistics.median(s["peak_mb"] - s["baseline_mb"] for s in samples["flow"])
    time_ratio = seconds["flow"] / seconds["floor"]
    rss_ratio = peaks["flow"] / peaks["raw"]
    flow_read = samples["flow"][0]["read"]
    print(f"client cost: {ROWS:,} rows x {COLUMNS} columns, the server's v2 answer "
          f"({size / 1024**2:.1f} MB) replayed from loopback; median of {ROUNDS} "
          f"interleaved runs, each in a fresh process", flush=True)
    labels = {"flow": "flow (kusto.visualize, chart: table, body "
                      f"{flow_read['body_rows']} rows + CSV "
                      f"{flow_read['csv_bytes'] / 1024**2:.1f} MB)",
              "raw": "raw KustoClient.execute + every row",
              "floor": "floor (requests + json.loads + csv.writer)"}
    for side in SIDES:
        runs = ", ".join(f"{s['seconds']:.2f}" for s in samples[side])
        print(f"  {labels[side]:<66} {seconds[side]:6.2f} s (cpu {cpu[side]:5.2f} s)  "
              f"peak {peaks[side]:4.0f} MB  (runs {runs} s)", flush=True)
    print(f"  flow / floor time: {time_ratio:.2f}x (target <= {TARGET_TIME}x) "
          f"{_verdict(time_ratio, TARGET_TIME)}; cpu {cpu['flow'] / cpu['floor']:.2f}x",
          flush=True)
    print(f"  flow / raw peak RSS: {rss_ratio:.2f}x (target <= {TARGET_RSS}x) "
          f"{_verdict(rss_ratio, TARGET_RSS)}; the flow's peak is {grown:.0f} MB above its "
          f"RSS before the read, with a CSV of {flow_read['csv_bytes'] / 1024**2:.0f} MB "
          f"kept", flush=True)
    return {"rows": ROWS, "columns": COLUMNS, "answer_bytes": size,
            "seconds": {k: round(v, 3) for k, v in seconds.items()},
            "cpu_s": {k: round(v, 3) for k, v in cpu.items()},
            "flow_growth_mb": round(grown, 1),
            "peak_mb": {k: round(v, 1) for k, v in peaks.items()},
            "runs_s": {side: [round(s["seconds"], 3) for s in samples[side]] for side in SIDES},
            "time_ratio": round(time_ratio, 3), "time_target": TARGET_TIME,
            "rss_ratio": round(rss_ratio, 3), "rss_target": TARGET_RSS}


def summary_rows(result: dict[str, Any]) -> list[Row]:
    seconds, peaks = result["seconds"], result["peak_mb"]
    return [
        Row(f"client cost: `kusto.visualize` table + full CSV of a replayed "
            f"{result['rows']:,} x {result['columns']} answer (`bench_client_cost`)",
            f"{seconds['flow']:.2f} s", f"floor: `json.loads` + `csv.writer` "
            f"{seconds['floor']:.2f} s", times(result["time_ratio"]),
            at_most(result["time_ratio"], result["time_target"])),
        Row("peak RSS of the same", f"{peaks['flow']:.0f} MB",
            f"raw `execute` {peaks['raw']:.0f} MB", times(result["rss_ratio"]),
            at_most(result["rss_ratio"], result["rss_target"])),
    ]


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        print(json.dumps(worker(sys.argv[2], sys.argv[3])))
    else:
        run_bench(main, summary_rows)
