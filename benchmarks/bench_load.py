"""Runs per instance: 200 webhook runs of the state report (query + column chart +
mail), 20 at once, on the embedded engine, against the floor: the same parts done
directly. Numbers for issue 14, target 3 (runs/s >= 0.8x the floor's).

    .venv/bin/python benchmarks/bench_load.py [--runs 200] [--concurrency 20]
        [--rounds 1] [--modes floor,styled,inline,queued] [--profile]
        [--profile-threads 1]

The same 200 runs done four ways, each in its own interpreter (its own peak RSS, no
caches shared), one after the other, `--rounds` times (the table shows each mode's
median round):

- floor: the parts of a run done directly, by 20 threads, as the issue measured
  them. One duckdb-kql database with the sample data (loaded once), a cursor per
  thread; per run the flow's KQL with the same parameters (`duckdb_kql.execute`),
  one matplotlib column chart of the result (Figure + Agg canvas, 800x450 px,
  matplotlib's defaults: at 10 bars the event type names overlap) saved as PNG, and
  one MIME message (`email.message`: HTML table, the PNG inline, the rows as a CSV
  attachment) written to a file. The target is against this one.
- styled: the floor with a chart as readable as the product's (constrained layout,
  names turned 45 degrees, value labels, title and axis names): how much of the
  gap is the chart being readable rather than the product's own work. Reference.
- inline: `flows/storm-state-report.yaml` (and `flows/connections.yaml`'s embedded
  `samples`) in a temporary flows folder, the app from `function_app.create_app`
  with STATE_DIR/OUTBOX_DIR in a temporary folder and no storage, so a webhook run
  happens inside the request. 20 threads call the app's own `run_flow_webhook`
  function with an `azure.functions.HttpRequest` ({"state": ..., "min_events": 1},
  ten states in turn); every answer must be 200 with the run Succeeded and a chart
  of at least one row.
- queued: the same app with AzureWebJobsStorage = an Azurite queue service. 20
  clients each post a webhook (202: enqueued) and post the next once its run has
  ended, so at most 20 runs are in flight, as inline; the host's queue listener runs
  in a process of its own, as the Functions host does (`host_listener`: receives up
  to as many messages as there are free workers, one poll every 10 ms while the
  queue is empty, deletes each message once its invocation ended) and hands the
  messages to this interpreter, where a pool of 20 workers calls the app's
  `run_queued_flow` with the `QueueMessage` the Python worker builds. A run's
  latency is from its request to the end of its invocation; the rate counts from
  the first request to the last run's end. Every run is read back (`get_run`) and
  checked as inline. The flow's copy says `trigger.overlap: allow` (see
  `flows_folder`). The enqueue (the webhook's request) counts in this interpreter's
  CPU; the listener's receive and delete requests, and Azurite's own CPU, do not.

Each mode first does one warm-up run per thread (imports, the engine's start, font
caches), not counted. Printed per mode: runs/s (runs / wall time), ms/run (its
inverse), p50 and p95 latency (a run's own time with 20 in flight), CPU ms/run (the
interpreter's user + system time over the runs: on a busy machine it moves less
than wall time), peak RSS (ru_maxrss, warm-up included), RSS after the warm-up and
at the end (whether memory stays bounded), and runs/s as a ratio of the floor's.

--profile: the inline runs once more under pyinstrument, on --profile-threads
threads (default 1: with 20, most of every thread's samples are waits for
matplotlib's figure lock and the interpreter, which hide where the work is),
printing the top entries by own time, by total time, and the product's own
functions (shared/) by total time. pyinstrument is not a project dependency:
`.venv/bin/pip install pyinstrument`.

No timing is asserted; `main()` returns the numbers as a dict, and `summary_rows`
turns it into `make bench`'s table rows (`--summary FILE`: benchmarks/summary.py).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make the project importable
    sys.path.insert(0, str(ROOT))

from benchmarks.summary import Row, at_least, run_bench, times  # noqa: E402

__all__ = ["main", "summary_rows"]

RUNS = 200
CONCURRENCY = 20
TARGET = 0.8
FLOW = "storm-state-report"
MODES = ("floor", "styled", "inline", "queued")
#: The bodies' states, in turn: from a few events to the most.
STATES = ("TEXAS", "KANSAS", "IOWA", "OHIO", "FLORIDA", "VERMONT", "IDAHO", "UTAH",
          "MAINE", "OREGON")


def body_for(i: int) -> dict[str, Any]:
    return {"state": STATES[i % len(STATES)], "min_events": 1}


def pct(values: list[float], p: float) -> float:
    """The p-th percentile, nearest rank."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), -(-len(ordered) * p // 100)))
    return ordered[int(rank) - 1]


def rss_mb() -> float:
    """The current resident set (MB)."""
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def flow_query() -> str:
    """The state report's KQL, read from the flow file."""
    import yaml

    flow = yaml.safe_load((ROOT / "flows" / f"{FLOW}.yaml").read_text("utf-8"))
    return str(flow["steps"][0]["query"])


# ------------------------------------------------------------------ the floor

class Floor:
    """The parts of a run, done directly. *styled*: the chart with what makes the
    product's readable (laid out, names turned 45 degrees, value labels, title and
    axis names) rather than matplotlib's defaults (names overlap at 10 bars)."""

    def __init__(self, workdir: Path, styled: bool = False) -> None:
        import duckdb_kql

        from shared.kusto.sample_data import load_into

        self.query = flow_query()
        self.styled = styled
        self.con = duckdb_kql.connect()
        load_into(self.con)
        self.local = threading.local()
        self.outbox = workdir / "floor-outbox"
        self.outbox.mkdir(parents=True)
        self.count = 0
        self.lock = threading.Lock()

    def cursor(self) -> Any:
        cursor = getattr(self.local, "cursor", None)
        if cursor is None:
            cursor = self.local.cursor = self.con.cursor()
        return cursor

    def run(self, i: int) -> None:
        import duckdb_kql

        body = body_for(i)
        result = duckdb_kql.execute(self.cursor(), self.query, parameters=body)
        names = [d[0] for d in result.description or []]
        rows = result.fetchall()
        if not rows:
            raise RuntimeError(f"no rows for {body}")
        png = self.styled_chart(rows) if self.styled else self.chart(rows)
        self.mail(body["state"], names, rows, png)

    @staticmethod
    def chart(rows: list[tuple[Any, ...]]) -> bytes:
        """Events by event type as columns, 800x450 px, matplotlib's defaults."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=(8, 4.5), dpi=100)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        ax.bar([str(row[1]) for row in rows], [row[2] for row in rows])
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        return buffer.getvalue()

    @staticmethod
    def styled_chart(rows: list[tuple[Any, ...]]) -> bytes:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=(8, 4.5), dpi=100, facecolor="white", layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        bars = ax.bar(range(len(rows)), [row[2] for row in rows], color="#0072B2")
        ax.bar_label(bars, padding=3, fontsize=8)
        ax.set_xticks(range(len(rows)), [str(row[1]) for row in rows], rotation=45,
                      ha="right", rotation_mode="anchor")
        ax.set_xlabel("EventType")
        ax.set_ylabel("Events")
        ax.set_title("Storm events by type")
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        return buffer.getvalue()

    def mail(self, state: str, names: list[str], rows: list[tuple[Any, ...]],
             png: bytes) -> None:
        from email.message import EmailMessage
        from html import escape

        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerow(names)
        writer.writerows(rows)
        cells = "".join("<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in row)
                        + "</tr>" for row in rows)
        message = EmailMessage()
        message["Subject"] = f"Storm report for {state}"
        message["From"] = "DoNotReply@kusto-flows.local"
        message["To"] = "analysts@contoso.com"
        message.set_content("Storm events by type")
        message.add_alternative(f'<h2>Storm events by type</h2><img src="cid:chart">'
                                f"<table>{cells}</table>", subtype="html")
        message.get_payload()[1].add_related(png, "image", "png", cid="<chart>")
        message.add_attachment(text.getvalue().encode(), maintype="text", subtype="csv",
                               filename="events.csv")
        with self.lock:
            self.count += 1
            path = self.outbox / f"{self.count:05d}.eml"
        path.write_bytes(message.as_bytes())


# ------------------------------------------------------------------ the app

def flows_folder(workdir: Path) -> Path:
    """The example flow and connections; the flow with `trigger.overlap: allow`, the
    only change: queued, a webhook flow's default (`queue`) runs one run of the flow
    at a time (a lease per flow; the others wait BUSY_RETRY_SECONDS and look again),
    and this load is 200 independent reports. Inline runs do not read it."""
    folder = workdir / "flows"
    folder.mkdir(parents=True)
    text = (ROOT / "flows" / f"{FLOW}.yaml").read_text("utf-8")
    marker = "trigger:\n  webhook: true\n"
    if marker not in text:
        raise RuntimeError(f"flows/{FLOW}.yaml has no '{marker!r}' to add overlap to")
    (folder / f"{FLOW}.yaml").write_text(
        text.replace(marker, marker + "  overlap: allow\n"), encoding="utf-8")
    shutil.copy(ROOT / "flows" / "connections.yaml", folder)
    return folder


def build_app(workdir: Path, storage: str = "") -> dict[str, Any]:
    import function_app
    from shared.settings import Settings

    env = {"FLOWS_DIR": str(flows_folder(workdir)), "STATE_DIR": str(workdir / "state"),
           "OUTBOX_DIR": str(workdir / "outbox")}
    if storage:
        env["AzureWebJobsStorage"] = storage
    app = function_app.create_app(Settings.from_env(env))
    return {str(f.get_function_name()): f for f in app.get_functions()}


def call(functions: dict[str, Any], name: str, method: str = "GET", body: bytes = b"",
         route: dict[str, str] | None = None) -> tuple[int, Any]:
    import azure.functions as func

    request = func.HttpRequest(method, "https://app.example/api/x", body=body,
                               route_params=route or {}, params={})
    response = functions[name].get_user_function()(request)
    text = response.get_body().decode()
    return response.status_code, json.loads(text) if text else None


def webhook(functions: dict[str, Any], i: int) -> tuple[int, Any]:
    return call(functions, "run_flow_webhook", "POST", json.dumps(body_for(i)).encode(),
                {"name": FLOW})


def check_run(run: dict[str, Any]) -> None:
    """A run (its JSON) that Succeeded and drew a chart of at least one row."""
    steps = run.get("steps") or [{}]
    summary = str(steps[0].get("summary", ""))
    count = summary.split(" ", 1)[0].replace(",", "")
    if (run.get("status") != "Succeeded" or not count.isdigit() or int(count) < 1
            or not summary.endswith(", column")):
        raise RuntimeError(f"not a run with a chart: {json.dumps(run)[:2000]}")


class Inline:
    def __init__(self, workdir: Path) -> None:
        self.functions = build_app(workdir)

    def run(self, i: int) -> None:
        status, body = webhook(self.functions, i)
        if status != 200:
            raise RuntimeError(f"webhook answered {status}: {json.dumps(body)[:2000]}")
        check_run(body)


# ------------------------------------------------------------------ measuring

def timed_pool(action: Callable[[int], None], runs: int, concurrency: int,
               first: int = 0) -> tuple[float, list[float]]:
    """*runs* calls of *action* on *concurrency* threads: (wall seconds, latencies)."""
    latencies: list[float] = [0.0] * runs

    def one(i: int) -> None:
        started = time.perf_counter()
        action(first + i)
        latencies[i] = time.perf_counter() - started

    with ThreadPoolExecutor(concurrency) as pool:
        started = time.perf_counter()
        for future in [pool.submit(one, i) for i in range(runs)]:
            future.result()
        wall = time.perf_counter() - started
    return wall, latencies


def tree_cpu_seconds(pid: int) -> float:
    """The CPU time (user + system) of process *pid* and its descendants so far
    (Linux /proc; 0 where it cannot be read)."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    family, total = {pid}, 0.0
    while True:
        more = {p for p, (parent, _) in stats.items() if parent in family} - family
        if not more:
            break
        family |= more
    for member in family:
        total += stats.get(member, (0, 0.0))[1]
    return total


def cpu_seconds() -> float:
    """This interpreter's CPU time so far (user + system, every thread)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def summary(mode: str, wall: float, latencies: list[float], runs: int,
            warm_rss: float, cpu: float) -> dict[str, Any]:
    return {"mode": mode, "runs": runs, "wall_s": round(wall, 3),
            "cpu_ms_per_run": round(cpu * 1000 / runs, 1),
            "runs_per_s": round(runs / wall, 3),
            "p50_ms": round(statistics.median(latencies) * 1000, 1),
            "p95_ms": round(pct(latencies, 95) * 1000, 1),
            "warm_rss_mb": round(warm_rss, 1), "end_rss_mb": round(rss_mb(), 1),
            "peak_rss_mb": round(peak_rss_mb(), 1)}


def measure_direct(mode: str, workdir: Path, runs: int, concurrency: int) -> dict[str, Any]:
    styled = mode == "styled"
    subject: Floor | Inline = (Floor(workdir, styled=styled) if mode in ("floor", "styled")
                               else Inline(workdir))
    timed_pool(subject.run, concurrency, concurrency, first=runs)  # warm-up
    warm, cpu = rss_mb(), cpu_seconds()
    wall, latencies = timed_pool(subject.run, runs, concurrency)
    return summary(mode, wall, latencies, runs, warm, cpu_seconds() - cpu)


def host_listener(connection_string: str, concurrency: int, deliveries: Any, ended: Any,
                  stop: Any) -> None:
    """The host's queue listener, in a process of its own (in Azure it is the host's,
    not the Python worker's): take messages while a worker is free (up to 32 a
    request, as many as there are free workers), one poll every 10 ms while the queue
    is empty; hand each to the worker (`deliveries`) and delete it once the worker
    says its invocation ended (`ended`: message id, error or "")."""
    from queue import Empty

    from shared.queue import RUN_QUEUE
    from tests.queue_pump import queue_client

    client = queue_client(connection_string, RUN_QUEUE)
    in_flight: dict[str, Any] = {}

    def settle(message_id: str, error: str) -> None:
        received = in_flight.pop(message_id)
        if error:  # visible again at once, as the test pump does
            client.update_message(received, visibility_timeout=0)
        else:
            client.delete_message(received)

    while not stop.is_set():
        while True:
            try:
                settle(*ended.get_nowait())
            except Empty:
                break
        free = min(32, concurrency - len(in_flight))
        if free <= 0:
            try:
                settle(*ended.get(timeout=0.1))
            except Empty:
                pass
            continue
        got = list(client.receive_messages(messages_per_page=free, max_messages=free,
                                           visibility_timeout=60))
        for received in got:
            in_flight[received.id] = received
            deliveries.put((received.id, received.content, received.dequeue_count,
                            received.pop_receipt))
        if not got:
            time.sleep(0.01)


def measure_queued(workdir: Path, runs: int, concurrency: int) -> dict[str, Any]:
    import multiprocessing
    from queue import Empty

    from azure.functions.queue import QueueMessage

    from shared.queue.message import RunMessage
    from tests.fixtures_azurite import AzuriteQueue
    from tests.queue_pump import Pump

    with AzuriteQueue(workdir / "azurite") as azurite:
        storage = azurite.connection_string
        functions = build_app(workdir, storage)
        Pump(storage, functions)  # the queues made, and empty
        finished: dict[str, float] = {}
        done: dict[str, threading.Event] = {}
        done_lock = threading.Lock()
        runner = functions["run_queued_flow"].get_user_function()
        failures: list[str] = []
        context = multiprocessing.get_context("spawn")
        deliveries, ended, stop = context.Queue(), context.Queue(), context.Event()
        pool = ThreadPoolExecutor(concurrency, thread_name_prefix="worker")

        def invoke(message_id: str, content: str, dequeue_count: int, receipt: str) -> None:
            """`run_queued_flow`, as the worker calls it; when its run ended, noted."""
            error = ""
            try:
                runner(QueueMessage(id=message_id, body=content.encode("utf-8"),
                                    dequeue_count=dequeue_count, pop_receipt=receipt))
            except Exception as exc:
                error = repr(exc)
                failures.append(error)
            run_id = RunMessage.from_json(content).run_id
            finished[run_id] = time.perf_counter()
            with done_lock:
                done.setdefault(run_id, threading.Event()).set()
            ended.put((message_id, error))

        def dispatch() -> None:
            while not stop.is_set():
                try:
                    item = deliveries.get(timeout=0.1)
                except Empty:
                    continue
                pool.submit(invoke, *item)

        def batch(count: int, first: int) -> tuple[float, float, list[float]]:
            """*count* runs, each of *concurrency* clients posting its next webhook when
            its last run has ended (so at most *concurrency* runs are in flight, as
            inline): (first request, last end, latencies)."""
            requested: dict[str, float] = {}
            lock = threading.Lock()

            def post(i: int) -> None:
                started = time.perf_counter()
                status, body = webhook(functions, i)
                if status != 202:
                    raise RuntimeError(f"webhook answered {status}: {body}")
                run_id = body["run_id"]
                with lock:
                    requested[run_id] = started
                with done_lock:
                    ended_run = done.setdefault(run_id, threading.Event())
                waited = 0.0
                while not ended_run.wait(0.5):
                    waited += 0.5
                    if failures or waited > 600 or not host.is_alive():
                        raise RuntimeError(f"run {run_id} did not end: {failures}")

            started = time.perf_counter()
            with ThreadPoolExecutor(concurrency) as clients:
                for future in [clients.submit(post, first + i) for i in range(count)]:
                    future.result()
            ends = [finished[run_id] for run_id in requested]
            latencies = [finished[run_id] - t for run_id, t in requested.items()]
            for run_id in requested:  # every run read back: all must have Succeeded
                status, record = call(functions, "get_run",
                                      route={"flow": FLOW, "run_id": run_id})
                if status != 200:
                    raise RuntimeError(f"run {run_id}: {status} {json.dumps(record)[:2000]}")
                check_run(record)
            return started, max(ends), latencies

        host = context.Process(target=host_listener, name="host-listener", daemon=True,
                               args=(storage, concurrency, deliveries, ended, stop))
        host.start()
        dispatcher = threading.Thread(target=dispatch, name="worker-dispatch", daemon=True)
        dispatcher.start()
        try:
            batch(concurrency, runs)  # warm-up
            warm, cpu = rss_mb(), cpu_seconds()
            others = {"azurite": azurite.pid or 0, "host": host.pid or 0}
            others_cpu = {name: tree_cpu_seconds(pid) for name, pid in others.items()}
            started, ended_at, latencies = batch(runs, 0)
            cpu = cpu_seconds() - cpu
            others_cpu = {name: tree_cpu_seconds(pid) - others_cpu[name]
                          for name, pid in others.items()}
        finally:
            stop.set()
            host.join(10)
            dispatcher.join()
            pool.shutdown()
        if failures:
            raise RuntimeError(f"invocations that raised: {failures[:5]}")
        result = summary("queued", ended_at - started, latencies, runs, warm, cpu)
        # On the same cores here; in Azure the storage is elsewhere.
        result["others_cpu_ms_per_run"] = {name: round(seconds * 1000 / runs, 1)
                                           for name, seconds in others_cpu.items()}
        return result


def profile_inline(workdir: Path, runs: int, concurrency: int, top: int = 15) -> None:
    """The inline runs under pyinstrument (every thread sampled), top entries."""
    try:
        from pyinstrument import Profiler
    except ImportError:
        print("profile: pyinstrument is not installed (pip install pyinstrument into the "
              "venv; it is not a project dependency)")
        return
    subject = Inline(workdir)
    timed_pool(subject.run, concurrency, concurrency, first=runs)  # warm-up
    # pyinstrument samples the thread that started it: one profiler per worker thread,
    # started and stopped on it.
    sessions: list[Any] = []
    lock = threading.Lock()
    next_run = iter(range(runs))

    def work() -> None:
        profiler = Profiler(interval=0.001, async_mode="disabled")
        profiler.start()
        while True:
            with lock:
                i = next(next_run, None)
            if i is None:
                break
            subject.run(i)
        session = profiler.stop()
        with lock:
            sessions.append(session)

    threads = [threading.Thread(target=work) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    own: dict[str, float] = {}
    total: dict[str, float] = {}
    sampled = 0.0
    for session in sessions:
        root = session.root_frame()
        if root is None:
            continue
        sampled += root.time
        _walk(root, own, total, set())
    print(f"profile (pyinstrument, wall-clock samples of each worker thread): {runs} "
          f"inline runs, {concurrency} thread(s), {wall:.1f} s wall, "
          f"{sampled:.1f} thread-seconds sampled")
    chain = {where for where, seconds in total.items() if seconds >= 0.99 * sampled}
    tables = (("own time", own),
              ("total time, callees included (the call chain every run goes through "
               "left out)", {k: v for k, v in total.items() if k not in chain}),
              ("total time, the product's own functions (shared/)",
               {k: v for k, v in total.items() if "(shared/" in k and k not in chain}))
    for title, table in tables:
        print(f"  top {top} by {title}:")
        for where, seconds in sorted(table.items(), key=lambda kv: -kv[1])[:top]:
            print(f"    {seconds:8.2f} s {100 * seconds / sampled:5.1f}%  {where}")


def _walk(frame: Any, own: dict[str, float], total: dict[str, float],
          active: set[str]) -> None:
    if frame.is_synthetic:  # "[self]": counted in its parent's own time
        return
    where = f"{frame.function} ({_short(frame.file_path or '')}:{frame.line_no})"
    own[where] = own.get(where, 0.0) + frame.total_self_time
    if where not in active:  # recursion counted once
        total[where] = total.get(where, 0.0) + frame.time
    for child in frame.children:
        _walk(child, own, total, active | {where})


def _short(path: str) -> str:
    marker = "site-packages/"
    return path.split(marker, 1)[1] if marker in path else path.replace(str(ROOT) + "/", "")


# ------------------------------------------------------------------ the driver

def worker(mode: str, runs: int, concurrency: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        # function_app builds its default app at import, from the environment: keep
        # its state out of the repository.
        os.environ.setdefault("STATE_DIR", str(workdir / "default" / "state"))
        os.environ.setdefault("OUTBOX_DIR", str(workdir / "default" / "outbox"))
        if mode == "profile":
            profile_inline(workdir, runs, concurrency)
            return {}
        if mode == "queued":
            return measure_queued(workdir, runs, concurrency)
        return measure_direct(mode, workdir, runs, concurrency)


def spawn(mode: str, runs: int, concurrency: int) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", mode,
               "--runs", str(runs), "--concurrency", str(concurrency)]
    done = subprocess.run(command, cwd=ROOT, check=False, stdout=subprocess.PIPE, text=True)
    lines = done.stdout.splitlines()
    if done.returncode != 0 or not lines:
        print(done.stdout, end="")
        raise RuntimeError(f"the {mode} worker failed (exit code {done.returncode})")
    if mode == "profile":
        print(done.stdout, end="", flush=True)
        return {}
    return dict(json.loads(lines[-1]))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--profile-threads", type=int, default=1)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        result = worker(args.worker, args.runs, args.concurrency)
        if args.worker != "profile":  # the parent reads the last line
            print(json.dumps(result), flush=True)
        return result

    modes = [m for m in args.modes.split(",") if m]
    rounds: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
    for _ in range(args.rounds):
        for mode in modes:
            rounds[mode].append(spawn(mode, args.runs, args.concurrency))
    results = {mode: sorted(rs, key=lambda r: r["runs_per_s"])[len(rs) // 2]
               for mode, rs in rounds.items()}
    for result in results.values():
        result["concurrency"] = args.concurrency

    print(f"{args.runs} webhook runs of flows/{FLOW}.yaml (query + column chart + mail), "
          f"{args.concurrency} at once, embedded engine, {os.cpu_count()} CPUs; "
          f"median of {args.rounds} round(s), each mode in its own interpreter after "
          f"{args.concurrency} warm-up runs")
    print(f"  {'mode':<8} {'runs/s':>7} {'ms/run':>7} {'p50 ms':>8} {'p95 ms':>8} "
          f"{'CPU ms/run':>10} {'peak RSS':>9} {'RSS warm->end':>14}  vs floor")
    floor = results.get("floor")
    for mode, r in results.items():
        ratio = ""
        if floor and mode != "floor":
            value = r["runs_per_s"] / floor["runs_per_s"]
            r["ratio"] = round(value, 3)
            ratio = f"{value:.2f}x"
            if mode != "styled":
                ratio += f" (target >= {TARGET}x: {'met' if value >= TARGET else 'missed'})"
        print(f"  {mode:<8} {r['runs_per_s']:7.2f} {1000 / r['runs_per_s']:7.1f} "
              f"{r['p50_ms']:8.0f} {r['p95_ms']:8.0f} {r['cpu_ms_per_run']:10.0f} "
              f"{r['peak_rss_mb']:7.0f}MB "
              f"{r['warm_rss_mb']:6.0f}->{r['end_rss_mb']:.0f}MB  {ratio}", flush=True)
        others = r.get("others_cpu_ms_per_run")
        if others:
            print(f"  {'':<8} besides: CPU ms/run of Azurite {others['azurite']:.0f}, of the "
                  f"host's listener {others['host']:.0f} (on the same {os.cpu_count()} CPUs)",
                  flush=True)
    if args.profile:
        spawn("profile", args.runs, args.profile_threads)
    return results


def summary_rows(result: dict[str, Any]) -> list[Row]:
    """Inline and queued runs/s against the floor's (the modes that ran)."""
    def rate(r: dict[str, Any]) -> str:
        return f"{r['runs_per_s']:.2f} runs/s, p95 {r['p95_ms']:,.0f} ms"

    floor = result.get("floor")
    rows: list[Row] = []
    for index, mode in enumerate(m for m in ("inline", "queued") if m in result):
        r = result[mode]
        what = (f"runs per instance: {mode} webhook runs of `{FLOW}`, "
                f"{r['concurrency']} at once" + ("" if index else " (`bench_load`)"))
        if floor is None:
            rows.append(Row(what, rate(r)))
            continue
        ratio = r["runs_per_s"] / floor["runs_per_s"]
        rows.append(Row(what, rate(r), f"floor: {rate(floor)}", times(ratio),
                        at_least(ratio, TARGET)))
    return rows


if __name__ == "__main__":
    run_bench(main, summary_rows)
