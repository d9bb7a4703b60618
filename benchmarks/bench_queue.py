"""Queued runs: what the queue costs a run at its start, and what it saves on a long
async wait. Numbers for the closing note of the "queued runs" issue.

    .venv/bin/python benchmarks/bench_queue.py

It starts its own Azurite queue service and Kusto test server (the tests' helpers),
builds the app with `function_app.create_app` (STATE_DIR/OUTBOX_DIR in a temporary
folder) and drives it through the app's own functions, with `tests/queue_pump.py`
playing the Functions host's queue listener.

1. Enqueue -> start. N webhook runs of a one-query flow on the embedded engine, with
   `AzureWebJobsStorage` = Azurite (queued: 202, then the pump delivers the message at
   once) and, as the reference, the same app without storage (inline: the run happens
   inside the request). Measured per run:
   - answer: the webhook function's own time (queued: the enqueue cost; inline: the
     whole run);
   - 202 -> first step: the first step's recorded `started_at` minus the wall-clock
     moment the 202 came back (the pump's receive from Azurite, message parse, run
     record read, lease, journal, runner set-up);
   - request -> first step: the same `started_at` minus the moment the request was
     made, for both modes (the comparable "start latency").
   The pump asks for the message right after the 202: no polling delay. The Functions
   host adds up to host.json `maxPollingInterval` (its idle back-off between polls of
   an empty queue) plus, on a scaled-in plan, the instance's wake-up (cold start);
   neither is in these numbers.

2. A 30-minute async wait. From the product's own back-off (the first look right after
   the command starts, then OPERATION_POLL_SECONDS, default 5 s, doubling, capped at
   `MAX_POLL_SECONDS` in shared/steps/async_command.py) the bench computes how many
   looks a 30-minute operation needs; each look is one invocation of
   `run_queued_flow`. Then it runs that: a flow whose `kusto.command` is
   `.set-or-append async T <| print x = 1` against the Kusto test server started with
   `async_polls` = looks - 1 (InProgress until the last look, which sees Completed).
   To compress the wall-clock wait, the back-off is scaled down whole by SCALE: both
   OPERATION_POLL_SECONDS (the app setting) and MAX_POLL_SECONDS (patched in this
   process) -- scaling only the first would let the doubling reach the 60 s cap in
   real seconds. Every delay the run asks for is recorded (`StorageRunQueue.send`,
   wrapped) and divided by SCALE, which must give back the computed schedule.
   Each invocation of `run_queued_flow` is timed (the function alone, not the pump's
   receive/delete); their sum is the busy time, compared with the naive alternative:
   one invocation held for the whole 1,800 s.

No timing is asserted; `main()` returns the numbers as a dict, and `summary_rows`
turns it into `make bench`'s table rows (`--summary FILE`: benchmarks/summary.py).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make the project importable
    sys.path.insert(0, str(ROOT))

from benchmarks.summary import Row, run_bench  # noqa: E402

__all__ = ["main", "summary_rows"]

RUNS = 30
WARMUPS = 2
OPERATION_SECONDS = 30 * 60
#: The back-off is run this much faster than real time (5 s -> 0.5 ms, 60 s -> 6 ms;
#: every delay rounds to a visibility delay of 0 s, so the next look is at once).
SCALE = 1e-4

SMALL_FLOW = """\
trigger: {webhook: true}
steps:
  - {id: q, action: kusto.query, connection: samples, query: "StormEvents | take 5"}
"""
ASYNC_FLOW = """\
trigger: {webhook: true}
steps:
  - id: append
    action: kusto.command
    connection: local
    command: ".set-or-append async BenchQueued <| print x = 1"
"""


def host_json() -> dict[str, Any]:
    return dict(json.loads((ROOT / "host.json").read_text("utf-8")))


def timespan_seconds(text: str) -> float:
    """host.json's "hh:mm:ss" as seconds."""
    hours, minutes, seconds = text.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def look_schedule(operation_seconds: float, first: float, cap: float) -> list[float]:
    """When each look happens (seconds after the command started) for an operation
    that ends at *operation_seconds*, with async_command.py's back-off: a look at once,
    then min(cap, first * 2 ** n) after the n-th (0-based) InProgress look."""
    looks = [0.0]
    while looks[-1] < operation_seconds:
        looks.append(looks[-1] + min(cap, first * 2 ** (len(looks) - 1)))
    return looks


def pct(values: list[float], p: float) -> float:
    """The p-th percentile, nearest rank (of 30 values, p95 is the 29th)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), -(-len(ordered) * p // 100)))
    return ordered[int(rank) - 1]


def ms(values: list[float]) -> str:
    return (f"median {statistics.median(values) * 1000:6.1f} ms, "
            f"p95 {pct(values, 95) * 1000:6.1f} ms")


def summary(values: list[float]) -> dict[str, float]:
    return {"median_ms": round(statistics.median(values) * 1000, 2),
            "p95_ms": round(pct(values, 95) * 1000, 2)}


# ------------------------------------------------------------------ the app

class TimedFunction:
    """Stands in for an app function in the pump's table: calls the real one and
    records when it was entered and how long it took."""

    def __init__(self, function: Any) -> None:
        self.function = function
        self.calls: list[tuple[float, float]] = []  # (perf_counter at entry, seconds)

    def get_user_function(self) -> Callable[[Any], Any]:
        user = self.function.get_user_function()

        def timed(message: Any) -> Any:
            entered = time.perf_counter()
            try:
                return user(message)
            finally:
                self.calls.append((entered, time.perf_counter() - entered))

        return timed


class App:
    """The app's functions over one flows folder, queued (with *storage*) or inline."""

    def __init__(self, workdir: Path, name: str, flow: str, connections: str,
                 storage: str = "", extra: dict[str, str] | None = None) -> None:
        import function_app
        from shared.settings import Settings

        folder = workdir / name / "flows"
        folder.mkdir(parents=True)
        (folder / "connections.yaml").write_text(connections, encoding="utf-8")
        (folder / f"{name}.yaml").write_text(flow, encoding="utf-8")
        self.flow = name
        env = {"FLOWS_DIR": str(folder), "STATE_DIR": str(workdir / name / "state"),
               "OUTBOX_DIR": str(workdir / name / "outbox"), **(extra or {})}
        if storage:
            env["AzureWebJobsStorage"] = storage
        app = function_app.create_app(Settings.from_env(env))
        self.functions: dict[str, Any] = {str(f.get_function_name()): f
                                          for f in app.get_functions()}
        self.pump: Any = None
        self.runner: TimedFunction | None = None
        if storage:
            from tests.queue_pump import Pump

            self.runner = TimedFunction(self.functions["run_queued_flow"])
            self.pump = Pump(storage, {**self.functions, "run_queued_flow": self.runner})

    def call(self, name: str, method: str = "GET", body: bytes = b"",
             route: dict[str, str] | None = None) -> tuple[int, Any]:
        import azure.functions as func

        request = func.HttpRequest(method, "https://app.example/api/x", body=body,
                                   route_params=route or {}, params={})
        response = self.functions[name].get_user_function()(request)
        text = response.get_body().decode()
        return response.status_code, json.loads(text) if text else None

    def webhook(self) -> tuple[int, Any]:
        return self.call("run_flow_webhook", "POST", b"{}", {"name": self.flow})

    def run(self, run_id: str) -> dict[str, Any]:
        status, body = self.call("get_run", route={"flow": self.flow, "run_id": run_id})
        if status != 200:
            raise RuntimeError(f"get_run answered {status}: {body}")
        return dict(body)


def first_step_start(run: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(run["steps"][0]["started_at"])


# ------------------------------------------------------------ 1. start latency

def one_run(app: App) -> dict[str, float]:
    """One webhook run (and, queued, its delivery); its timings in seconds."""
    requested = datetime.now(UTC)
    started = time.perf_counter()
    status, body = app.webhook()
    answered_at = time.perf_counter()
    answered = datetime.now(UTC)
    expected = 202 if app.pump is not None else 200
    if status != expected:
        raise RuntimeError(f"webhook answered {status}, not {expected}: {body}")
    timings = {"answer": answered_at - started}
    if app.pump is not None:
        assert app.runner is not None
        calls = len(app.runner.calls)
        if not app.pump.step():
            raise RuntimeError("the run's message was not on the queue")
        timings["to_invocation"] = app.runner.calls[calls][0] - answered_at
    run = app.run(body["run_id"])
    if run["status"] != "Succeeded":
        raise RuntimeError(f"the bench run ended {run['status']}: {run.get('error')}")
    step = first_step_start(run)
    timings["to_step"] = (step - answered).total_seconds()
    timings["request_to_step"] = (step - requested).total_seconds()
    return timings


def start_latency(workdir: Path, storage: str) -> dict[str, Any]:
    embedded = "samples: {cluster: embedded, database: Samples}\n"
    queued = App(workdir, "queued-ping", SMALL_FLOW, embedded, storage)
    inline = App(workdir, "inline-ping", SMALL_FLOW, embedded)
    for _ in range(WARMUPS):  # engine start-up, first queue requests, imports
        one_run(queued)
        one_run(inline)
    q: list[dict[str, float]] = []
    i: list[dict[str, float]] = []
    for _ in range(RUNS):  # interleaved, so a slow moment of the machine hits both
        q.append(one_run(queued))
        i.append(one_run(inline))

    def col(rows: list[dict[str, float]], key: str) -> list[float]:
        return [row[key] for row in rows]

    queues = host_json()["extensions"]["queues"]
    polling = timespan_seconds(queues["maxPollingInterval"])
    print(f"1. enqueue -> start: {RUNS} webhook runs of a one-query flow on the embedded "
          f"engine (after {WARMUPS} warm-ups; queued and inline interleaved; run records "
          "in the local store under STATE_DIR, Azurite on loopback)")
    print(f"   queued  webhook answer (202, enqueue cost)    {ms(col(q, 'answer'))}")
    print(f"   queued  202 -> pump's invocation entered      {ms(col(q, 'to_invocation'))}")
    print(f"   queued  202 -> first step started (recorded)  {ms(col(q, 'to_step'))}")
    print(f"   queued  request -> first step started         {ms(col(q, 'request_to_step'))}")
    print(f"   inline  webhook answer (200, the whole run)   {ms(col(i, 'answer'))}")
    print(f"   inline  request -> first step started         {ms(col(i, 'request_to_step'))}")
    extra = (statistics.median(col(q, "request_to_step"))
             - statistics.median(col(i, "request_to_step")))
    print(f"   the queue adds {extra * 1000:.1f} ms (median) before the first step here; the "
          f"pump asks for the message right after the 202. The Functions host adds up to "
          f"maxPollingInterval = {queues['maxPollingInterval']} ({polling:g} s, host.json) "
          "when the queue was idle, plus the instance's wake-up on a scaled-in plan; "
          "neither is in these numbers.", flush=True)
    return {
        "runs": RUNS,
        "queued": {key: summary(col(q, key))
                   for key in ("answer", "to_invocation", "to_step", "request_to_step")},
        "inline": {key: summary(col(i, key)) for key in ("answer", "request_to_step")},
        "queue_adds_ms": round(extra * 1000, 2),
        "max_polling_interval_s": polling,
    }


# ------------------------------------------------------------ 2. a long wait

def long_wait(workdir: Path, storage: str) -> dict[str, Any]:
    from shared.queue.client import StorageRunQueue
    from shared.settings import Settings
    from shared.steps import async_command
    from tests.fixtures_kusto import start_kusto_server, stop_kusto_server

    first, cap = Settings().operation_poll_seconds, async_command.MAX_POLL_SECONDS
    looks = look_schedule(OPERATION_SECONDS, first, cap)
    host = host_json()
    function_timeout = timespan_seconds(host["functionTimeout"])

    delays: list[float] = []
    send = StorageRunQueue.send

    def recording_send(self: Any, message: Any, *, delay_seconds: float = 0) -> None:
        if message.reason == "resume":
            delays.append(delay_seconds)
        send(self, message, delay_seconds=delay_seconds)

    process, url = start_kusto_server(async_polls=len(looks) - 1)
    StorageRunQueue.send = recording_send  # type: ignore[method-assign]
    async_command.MAX_POLL_SECONDS = cap * SCALE
    try:
        app = App(workdir, "async-append", ASYNC_FLOW,
                  f'local: {{cluster: "{url}", database: Samples}}\n', storage,
                  {"OPERATION_POLL_SECONDS": repr(first * SCALE)})
        status, body = app.webhook()
        if status != 202:
            raise RuntimeError(f"webhook answered {status}: {body}")
        assert app.runner is not None
        drain_started = time.perf_counter()
        delivered = app.pump.drain(limit=len(looks) + 10)
        drain_seconds = time.perf_counter() - drain_started
        run = app.run(body["run_id"])
    finally:
        async_command.MAX_POLL_SECONDS = cap
        StorageRunQueue.send = send  # type: ignore[method-assign]
        stop_kusto_server(process)

    step = run["steps"][0]
    if run["status"] != "Succeeded" or "Completed" not in step["summary"]:
        raise RuntimeError(f"the async run ended {run['status']}: {run.get('error')}")
    errors = [error for _, _, error in app.pump.invocations if error]
    if errors or delivered != len(app.runner.calls):
        raise RuntimeError(f"unexpected invocations: {app.pump.invocations}")
    times = [seconds for _, seconds in app.runner.calls]
    busy = sum(times)
    asked = [d / SCALE for d in delays]  # the product's delays, back in real seconds
    expected = [b - a for a, b in zip(looks, looks[1:], strict=False)]
    same = len(asked) == len(expected) and all(
        abs(a - e) < 1e-6 * max(1.0, e) for a, e in zip(asked, expected, strict=True))
    naive = float(OPERATION_SECONDS)

    print(f"2. a {OPERATION_SECONDS // 60}-minute async operation (.set-or-append async), "
          f"back-off {first:g} s doubling, capped at {cap:g} s:")
    print(f"   computed: {len(looks)} looks (at 0, "
          f"{', '.join(f'{t:g}' for t in looks[1:6])}, ... {looks[-1]:g} s), so "
          f"{len(looks)} invocations of run_queued_flow (one per look; the first also "
          f"starts the command)")
    print(f"   run: Kusto test server with async_polls={len(looks) - 1}, back-off scaled "
          f"x{SCALE:g} (OPERATION_POLL_SECONDS={first * SCALE:g}, MAX_POLL_SECONDS="
          f"{cap * SCALE:g}); the run asked for {len(asked)} waits totalling "
          f"{sum(asked):,.0f} s at real scale "
          f"({'the computed schedule' if same else 'NOT the computed schedule'})")
    print(f"   {len(times)} invocations, run {run['status']}, step: {step['summary']}")
    print(f"   busy {busy:.3f} s in all: mean {statistics.mean(times) * 1000:.1f} ms, "
          f"median {statistics.median(times) * 1000:.1f} ms, max {max(times) * 1000:.1f} ms "
          f"per invocation (first {times[0] * 1000:.1f} ms, last {times[-1] * 1000:.1f} ms;"
          f" drain {drain_seconds:.1f} s wall with the pump's receive/delete)")
    print(f"   vs one invocation held {naive:,.0f} s: {naive / busy:,.0f}x less busy time "
          f"(and {naive:,.0f} s would not fit host.json functionTimeout "
          f"{host['functionTimeout']} = {function_timeout:g} s). Local test server and "
          "Azurite: each look's Kusto and Storage round trips cost more in Azure.",
          flush=True)
    return {
        "operation_s": OPERATION_SECONDS,
        "first_poll_s": first,
        "max_poll_s": cap,
        "looks": len(looks),
        "last_look_s": looks[-1],
        "invocations": len(times),
        "schedule_matches": same,
        "asked_wait_s": round(sum(asked), 3),
        "busy_s": round(busy, 4),
        "mean_ms": round(statistics.mean(times) * 1000, 2),
        "median_ms": round(statistics.median(times) * 1000, 2),
        "max_ms": round(max(times) * 1000, 2),
        "naive_busy_s": naive,
        "ratio": round(naive / busy, 1),
        "function_timeout_s": function_timeout,
    }


def main() -> dict[str, Any]:
    from tests.fixtures_azurite import AzuriteQueue

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        # function_app builds its default app at import, from the environment: keep
        # its state out of the repository.
        os.environ.setdefault("STATE_DIR", str(workdir / "default" / "state"))
        os.environ.setdefault("OUTBOX_DIR", str(workdir / "default" / "outbox"))
        with AzuriteQueue(workdir / "azurite") as azurite:
            results = {"start": start_latency(workdir, azurite.connection_string),
                       "wait": long_wait(workdir, azurite.connection_string)}
    return results


def summary_rows(result: dict[str, Any]) -> list[Row]:
    start, wait = result["start"], result["wait"]
    inline = start["inline"]["request_to_step"]["median_ms"]
    return [
        Row("queued run: request -> first step (`bench_queue`)",
            f"+{start['queue_adds_ms']:.1f} ms median",
            f"inline ({inline:.1f} ms median)",
            f"the host adds <= {start['max_polling_interval_s']:g} s polling"),
        Row(f"{wait['operation_s'] // 60:.0f}-minute async command wait",
            f"{wait['invocations']} invocations, {wait['busy_s']:.1f} s busy",
            f"one invocation held {wait['naive_busy_s']:,.0f} s",
            f"{wait['ratio']:,.0f}x less"),
    ]


if __name__ == "__main__":
    run_bench(main, summary_rows)
