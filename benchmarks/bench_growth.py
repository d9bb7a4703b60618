"""Growth (issue 14, target 4): run history and the flow list as they grow.

(1) The newest page of one flow's runs when it has 100,000 runs, in the Table store on
    Azurite: requests and time, against the same page of a flow with 1,000 runs (the
    reference: a page must cost the same however long the history is); also the next
    page (continuation) and a status-filtered page.
(2) The flow list with 1,000 flows: store requests and time of one "My flows" page
    (100 flows) and of GET /api/flows (all 1,000), on Table storage (Azurite) and
    SQLite, against the list as it was read before the latest-run index (the
    reference: one `last_run` per flow, over the whole list).
    Also pages 1 and 2 of the history of every flow (25 runs a page, one run a flow),
    against a page of every flow (how it was read before `shared/runs/merged.py`).
(3) What the index costs on writes: Table requests to record one run (start and
    finish), against the same writes without the latest row.

Starts its own Azurite (the tests' helper). The 100,000 runs go in as run rows in
entity-group transactions of 100 (one partition: they batch), with their flows'
latest rows; the 1,000 flows' runs go through the store's own write path. Prints
a table (what, ours, reference, ratio) and returns it; `summary_rows` picks the
rows of `make bench`'s table from it (`--summary FILE`: benchmarks/summary.py).

    .venv/bin/python benchmarks/bench_growth.py [--runs 100000] [--flows 1000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make the project importable
    sys.path.insert(0, str(ROOT))

import azure.functions as func  # noqa: E402

from benchmarks.summary import Row as SummaryRow  # noqa: E402
from benchmarks.summary import at_most, run_bench, times  # noqa: E402
from shared.api.flows_view import describe_flows  # noqa: E402
from shared.api.http import json_response, list_flows  # noqa: E402
from shared.api.pages import flows_page  # noqa: E402
from shared.api.pages_layout import Links, html_page  # noqa: E402
from shared.api.pages_views import flows_body  # noqa: E402
from shared.history import RunQuery, page_runs  # noqa: E402
from shared.loader import FolderResult  # noqa: E402
from shared.resources import Resources  # noqa: E402
from shared.results import RunResult, RunStatus, utc_now  # noqa: E402
from shared.runs import RunStore, TableRunStore  # noqa: E402
from shared.runs.table_entities import latest_entity, run_entity  # noqa: E402
from shared.service import FlowService  # noqa: E402
from shared.settings import Settings  # noqa: E402
from tests.counting_stores import Counter as RequestCounter  # noqa: E402
from tests.counting_stores import CountingLocalStore, many_flows  # noqa: E402
from tests.fixtures_azurite import Azurite  # noqa: E402

__all__ = ["main", "summary_rows"]

TOP = 50
HISTORY_TOP = 25
BATCH = 100
BIG, SMALL = "bench-100k", "bench-1k"
REPEATS = 5

Row = tuple[str, float, float, str]  # what, ours, reference, reference note


class Counter(RequestCounter):
    """`tests.counting_stores.Counter`, also counting (`latest`) the requests that touch
    the latest-run partition."""

    def __init__(self) -> None:
        super().__init__()
        self.latest = 0

    def __call__(self, request: Any) -> None:
        super().__call__(request)
        http = request.http_request
        body = http.body if isinstance(http.body, bytes | str) else b""
        body = body.encode() if isinstance(body, str) else body
        if "latest%3A" in http.url or "latest:" in http.url or b'"latest:"' in body:
            self.latest += 1


def _measure(call: Callable[[], Any], counter: Counter, repeats: int) -> tuple[int, float, Any]:
    """(most requests, median ms, last answer) of *repeats* calls."""
    counts, timings, answer = [], [], None
    for _ in range(repeats):
        counter.count = 0
        started = time.perf_counter()
        answer = call()
        timings.append((time.perf_counter() - started) * 1000)
        counts.append(counter.count)
    return max(counts), statistics.median(timings), answer


# -- (1) run history at 100,000 runs -------------------------------------------------

def _history(flow: str, count: int) -> list[RunResult]:
    start = utc_now() - timedelta(days=400)
    statuses = [RunStatus.SUCCEEDED] * 8 + [RunStatus.FAILED, RunStatus.TIMED_OUT]
    runs = []
    for i in range(count):
        run = RunResult(run_id=uuid.uuid4().hex, flow=flow, trigger_kind="schedule",
                        started_at=start + timedelta(minutes=5 * i),
                        status=statuses[i % len(statuses)])
        run.ended_at = run.started_at + timedelta(seconds=3)
        runs.append(run)
    return runs


def _fill_history(store: TableRunStore, histories: list[list[RunResult]]) -> float:
    store._ensure_tables()
    started = time.perf_counter()
    for runs in histories:
        for offset in range(0, len(runs), BATCH):
            store._runs.submit_transaction(
                [("upsert", run_entity(run)) for run in runs[offset:offset + BATCH]])
    store._runs.submit_transaction(  # each flow's newest run, as the writes leave it
        [("upsert", latest_entity(run_entity(runs[-1]))) for runs in histories])
    return time.perf_counter() - started


def history_rows(connection_string: str, runs: int, repeats: int) -> list[Row]:
    counter = Counter()
    store = TableRunStore.from_connection_string(connection_string, table_prefix="history",
                                                 raw_request_hook=counter)
    try:
        big, small = _history(BIG, runs), _history(SMALL, 1000)
        seconds = _fill_history(store, [big, small])
        print(f"(fill: {runs:,} + 1,000 runs in {(runs + 1000) // BATCH:,} transactions, "
              f"{seconds:.0f} s)", flush=True)
        newest = [r.run_id for r in reversed(big[-TOP:])]
        rows: list[Row] = []
        measured = {}
        for flow in (BIG, SMALL):
            requests, ms, page = _measure(partial(store.list_runs, flow, top=TOP),
                                          counter, repeats)
            following = _measure(partial(store.list_runs, flow, top=TOP,
                                         continuation=page.continuation), counter, repeats)
            failed = _measure(partial(store.list_runs, flow, top=TOP, status="failed"),
                              counter, repeats)
            measured[flow] = (requests, ms, following, failed, page)
        assert [r.run_id for r in measured[BIG][4].items] == newest, "not the newest page"
        (b_req, b_ms, b_next, b_failed, _), (s_req, s_ms, s_next, s_failed, _) = (
            measured[BIG], measured[SMALL])
        what = f"newest {TOP} of {runs:,} runs (Table)"
        ref = "same, of 1,000 runs"
        rows += [(f"{what}: requests", b_req, s_req, ref),
                 (f"{what}: ms", b_ms, s_ms, ref),
                 (f"next {TOP} (continuation): requests", b_next[0], s_next[0], ref),
                 (f"next {TOP} (continuation): ms", b_next[1], s_next[1], ref),
                 (f"newest {TOP} failed (status filter): requests", b_failed[0],
                  s_failed[0], ref),
                 (f"newest {TOP} failed (status filter): ms", b_failed[1], s_failed[1], ref)]
        return rows
    finally:
        store.close()


# -- (2) the flow list with 1,000 flows ----------------------------------------------

def _record_one_run_each(store: RunStore, names: list[str]) -> float:
    statuses = [RunStatus.SUCCEEDED] * 9 + [RunStatus.FAILED]

    def record(index: int) -> None:
        run = RunResult(run_id=uuid.uuid4().hex, flow=names[index], trigger_kind="schedule",
                        started_at=utc_now() - timedelta(minutes=index),
                        status=statuses[index % len(statuses)])
        run.ended_at = run.started_at + timedelta(seconds=2)
        store.finish_run(run)  # a finish may be a run's only write

    started = time.perf_counter()
    threads = 8 if isinstance(store, TableRunStore) else 1  # SQLite writes take turns
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(record, range(len(names))))
    return time.perf_counter() - started


def _request(path: str) -> func.HttpRequest:
    return func.HttpRequest("GET", f"http://localhost/api/{path}", body=b"", params={},
                            route_params={})


def old_flows_page(service: FlowService, req: func.HttpRequest) -> func.HttpResponse:
    """"My flows" as it was before the latest-run index: every flow, one `last_run`
    each (the reference)."""
    links, now = Links(req), service.now()
    flows = describe_flows(service, now, with_last_run=False)
    assert service.store is not None
    last = {f["name"]: service.store.last_run(f["name"]) for f in flows if f["valid"]}
    return html_page("My flows", flows_body(flows, last, links, now, ""), links=links)


def old_list_flows(service: FlowService, req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/flows as it was before the latest-run index (the reference)."""
    flows = describe_flows(service, datetime.now(UTC), "http://localhost",
                           with_last_run=False)
    assert service.store is not None
    for flow in flows:
        if flow["valid"]:
            last = service.store.last_run(flow["name"])
            flow["last_run"] = last.to_dict() if last else None
    return json_response({"flows": flows})


def flow_list_rows(label: str, store: RunStore, counter: Counter, catalog: FolderResult,
                   workdir: Path, repeats: int) -> list[Row]:
    seconds = _record_one_run_each(store, sorted(catalog.flows))
    print(f"(fill {label}: one run for each of {len(catalog.flows):,} flows through the "
          f"store, {seconds:.1f} s)", flush=True)
    settings = Settings(state_dir=workdir / "state", outbox_dir=workdir / "outbox")
    service = FlowService(catalog, Resources(settings, catalog.connections, store))
    count = len(catalog.flows)
    unit = "requests" if label == "Table" else "SELECTs"
    ref = f"one last_run per flow, all {count:,} (before)"
    rows: list[Row] = []
    req = _request("pages/flows")
    for what, ours, before in (
            (f"My flows page (100 of {count:,} flows), {label}", flows_page, old_flows_page),
            (f"GET /api/flows ({count:,} flows), {label}", list_flows, old_list_flows)):
        o_req, o_ms, answer = _measure(partial(ours, service, req), counter, repeats)
        assert answer.status_code == 200
        r_req, r_ms, answer = _measure(partial(before, service, req), counter,
                                       max(1, repeats // 2))
        assert answer.status_code == 200
        rows += [(f"{what}: store {unit}", o_req, r_req, ref),
                 (f"{what}: ms", o_ms, r_ms, ref)]
    return rows + all_history_rows(label, unit, store, counter, sorted(catalog.flows),
                                   repeats)


def all_history_rows(label: str, unit: str, store: RunStore, counter: Counter,
                     names: list[str], repeats: int) -> list[Row]:
    """Pages 1 and 2 of the history of every flow (25 runs a page), against what a page
    cost before: a page of every flow (the reference)."""
    count = len(names)
    ref = f"a page of each of the {count:,} flows (before)"

    def old_page() -> None:
        for name in names:
            store.list_runs(name, top=HISTORY_TOP)

    first = page_runs(store, RunQuery(top=HISTORY_TOP), names)
    assert len(first.items) == HISTORY_TOP and first.continuation is not None
    rows: list[Row] = []
    r_req, r_ms, _ = _measure(old_page, counter, max(1, repeats // 2))
    for number, token in ((1, None), (2, first.continuation)):
        query = RunQuery(top=HISTORY_TOP, continuation=token)
        o_req, o_ms, page = _measure(partial(page_runs, store, query, names), counter,
                                     repeats)
        assert len(page.items) == HISTORY_TOP
        what = f"history of every flow ({count:,} flows), page {number} of {HISTORY_TOP}, {label}"
        rows += [(f"{what}: store {unit}", o_req, r_req, ref), (f"{what}: ms", o_ms, r_ms, ref)]
    return rows


# -- (3) what the index costs on writes ----------------------------------------------

def write_rows(connection_string: str, runs: int = 50) -> list[Row]:
    counter = Counter()
    store = TableRunStore.from_connection_string(connection_string, table_prefix="writes",
                                                 raw_request_hook=counter)
    try:
        store._ensure_tables()
        counter.count = counter.latest = 0
        for index in range(runs):
            run = RunResult(run_id=uuid.uuid4().hex, flow="bench-writes", trigger_kind="x",
                            started_at=utc_now() - timedelta(seconds=runs - index))
            store.start_run(run)
            run.status, run.ended_at = RunStatus.SUCCEEDED, utc_now()
            store.finish_run(run)
        total, latest = counter.count / runs, counter.latest / runs
    finally:
        store.close()
    return [("record one run (start + finish), Table: requests", total, total - latest,
             "the same without the latest row")]


# ------------------------------------------------------------------------------------

def _fmt(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 or float(value).is_integer() else f"{value:.1f}"


def print_table(rows: list[Row]) -> None:
    width = max(len(r[0]) for r in rows)
    print(f"{'what':<{width}}  {'ours':>9}  {'reference':>9}  {'ratio':>7}  reference is")
    for what, ours, reference, note in rows:
        ratio = f"{ours / reference:.3f}" if reference else "-"
        print(f"{what:<{width}}  {_fmt(ours):>9}  {_fmt(reference):>9}  {ratio:>7}  {note}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100_000, help="runs of the long history")
    parser.add_argument("--flows", type=int, default=1000, help="flows in the flow list")
    parser.add_argument("--repeats", type=int, default=REPEATS)
    args = parser.parse_args(argv)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp, Azurite(Path(tmp) / "azurite") as azurite:
        workdir = Path(tmp)
        rows += history_rows(azurite.connection_string, args.runs, args.repeats)
        catalog = many_flows(workdir / "flows", args.flows)
        counter = Counter()
        table = TableRunStore.from_connection_string(
            azurite.connection_string, table_prefix="flows", raw_request_hook=counter)
        try:
            rows += flow_list_rows("Table", table, counter, catalog, workdir, args.repeats)
        finally:
            table.close()
        counter = Counter()
        local = CountingLocalStore(workdir / "runs.sqlite", counter)
        rows += flow_list_rows("SQLite", local, counter, catalog, workdir, args.repeats)
        rows += write_rows(azurite.connection_string)
    print_table(rows)
    return {"runs": args.runs, "flows": args.flows,
            "rows": [{"what": what, "ours": round(ours, 3), "reference": round(ref, 3),
                      "ratio": round(ours / ref, 4) if ref else None, "reference_is": note}
                     for what, ours, ref, note in rows]}


def summary_rows(result: dict[str, Any]) -> list[SummaryRow]:
    """The newest page at the long history, "My flows" and the history of every flow on
    Table storage."""
    measured = {row["what"]: row for row in result["rows"]}
    runs, flows = result["runs"], result["flows"]

    def pair(what: str, unit: str) -> tuple[dict[str, Any], dict[str, Any]]:
        return measured[f"{what}: {unit}"], measured[f"{what}: ms"]

    def cost(requests: float, ms: float) -> str:
        ms_text = f"{ms / 1000:.1f} s" if ms >= 1000 else f"{ms:.0f} ms"
        return f"{requests:,.0f} request{'' if requests == 1 else 's'}, {ms_text}"

    history, history_ms = pair(
        f"history of every flow ({flows:,} flows), page 2 of {HISTORY_TOP}, Table",
        "store requests")
    page, page_ms = pair(f"newest {TOP} of {runs:,} runs (Table)", "requests")
    listed, listed_ms = pair(f"My flows page (100 of {flows:,} flows), Table", "store requests")
    return [
        SummaryRow(f"newest page of a flow with {runs:,} runs, Table (`bench_growth`)",
                   cost(page["ours"], page_ms["ours"]),
                   f"1,000 runs: {cost(page['reference'], page_ms['reference'])}",
                   times(page["ratio"]), at_most(page["ratio"], 1.0)),
        SummaryRow(f'"My flows" page of {flows:,} flows, Table',
                   cost(listed["ours"], listed_ms["ours"]),
                   f"one `last_run` a flow: {cost(listed['reference'], listed_ms['reference'])}",
                   times(listed["ratio"], 3)),
        SummaryRow(f"history of every flow, {flows:,} flows, page 2 of {HISTORY_TOP}, Table",
                   cost(history["ours"], history_ms["ours"]),
                   f"a page of every flow: "
                   f"{cost(history['reference'], history_ms['reference'])}",
                   times(history["ratio"], 3)),
    ]


if __name__ == "__main__":
    run_bench(main, summary_rows)
