"""Growth: the flow list costs one run-store query per page, with 1,000 flows.

Why: "My flows" and GET /api/flows show each flow's last run. Read one flow at a time
that was 1,000 store requests (3 s on Azurite) for every view of a 1,000-flow folder;
the stores now keep a latest-run index that `last_runs` reads in one query, and the
page shows 100 flows at a time with a "More flows" link.

Each test builds a 1,000-flow catalog in memory (one tiny flow file loaded once and
copied under 1,000 names), records a few runs through the store's real write path
(a failed flow, a running one, one that never ran) and puts the other 997 flows'
index entries in bulk, exactly as the store's writes leave them (bulk, to keep the
test fast: the writes themselves are the contract tests' business). Then it counts
what pages cost: the HTTP requests the Table client sends (its request hook, after
retries) against Azurite, and the SELECTs the SQLite store runs (a trace callback).
"""

from __future__ import annotations

import html
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import azure.functions as func
import pytest

from shared.api.routes import ROUTES
from shared.loader import FolderResult
from shared.resources import Resources
from shared.results import RunResult, RunStatus, utc_now
from shared.runs import RunStore, TableRunStore
from shared.runs.table_entities import latest_entity, run_entity
from shared.service import FlowService
from tests.counting_stores import Counter, CountingLocalStore, many_flows
from tests.helpers import settings_for

FLOWS = 1000
#: The most store requests (or SELECTs) one page may cost: one query, which the
#: Table service may split into two pages (it returns at most 1,000 entities each).
MOST_REQUESTS = 2



# -- the catalog and the stores ----------------------------------------------------

@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> FolderResult:
    """1,000 valid flows (`flow-0000` ...), one file loaded once, copied in memory."""
    return many_flows(tmp_path_factory.mktemp("flows"), FLOWS)


@dataclass
class Site:
    service: FlowService
    store: RunStore
    counter: Counter
    runs: dict[str, RunResult]  # flow -> its only run (flows that ran)


def run_of(flow: str, status: RunStatus, minutes_ago: int) -> RunResult:
    run = RunResult(run_id=uuid.uuid4().hex, flow=flow, trigger_kind="schedule",
                    started_at=utc_now() - timedelta(minutes=minutes_ago), status=status)
    if status.final:
        run.ended_at = run.started_at + timedelta(seconds=3)
    return run


def fill_in_bulk(store: RunStore, runs: list[RunResult]) -> None:
    """Record *runs* (one per flow) as the store's writes leave them, in bulk."""
    if isinstance(store, TableRunStore):  # the index rows: one partition, batches of 100
        store._ensure_tables()
        rows = [latest_entity(run_entity(run)) for run in runs]
        for start in range(0, len(rows), 100):
            store._runs.submit_transaction([("upsert", row) for row in rows[start:start + 100]])
        return
    assert isinstance(store, CountingLocalStore)
    with store.bulk():
        for run in runs:
            store.finish_run(run)


@pytest.fixture(params=["table", "local"])
def site(request: pytest.FixtureRequest, catalog: FolderResult,
         tmp_path: Path) -> Iterator[Site]:
    counter = Counter()
    store: RunStore
    if request.param == "table":
        store = TableRunStore.from_connection_string(
            request.getfixturevalue("azurite").connection_string,
            table_prefix=f"g{uuid.uuid4().hex[:12]}", retry_total=0, raw_request_hook=counter)
    else:
        store = CountingLocalStore(tmp_path / "runs.sqlite", counter)
    runs = {"flow-0000": run_of("flow-0000", RunStatus.FAILED, 30),
            "flow-0001": run_of("flow-0001", RunStatus.RUNNING, 2)}
    store.start_run(runs["flow-0000"])  # the real write path; flow-0002 never ran
    store.finish_run(runs["flow-0000"])
    store.start_run(runs["flow-0001"])
    bulk = {name: run_of(name, RunStatus.SUCCEEDED, 60 + i)
            for i, name in enumerate(sorted(catalog.flows)[3:])}
    fill_in_bulk(store, list(bulk.values()))
    runs.update(bulk)
    service = FlowService(catalog, Resources(settings_for(tmp_path), catalog.connections, store))
    try:
        yield Site(service, store, counter, runs)
    finally:
        service.close()


def answer(route_name: str, site: Site, **params: str) -> tuple[func.HttpResponse, int]:
    """The app's answer to GET on *route_name* with *params*, and the store requests
    (or SELECTs) it cost."""
    [route] = [r for r in ROUTES if r.name == route_name]
    query = "&".join(f"{k}={v}" for k, v in params.items())
    req = func.HttpRequest("GET", f"http://localhost/api/{route.template}?{query}", body=b"",
                           params=params, route_params={})
    site.counter.count = 0
    response = route.call(site.service, req)
    return response, site.counter.count


def shown_flows(page: str) -> list[str]:
    return re.findall(r'<tr id="flow-([^"]+)" class="flow">', page)


def more_link(page: str) -> dict[str, str] | None:
    found = re.search(r'<a class="more" rel="next" href="([^"]+)"', page)
    if found is None:
        return None
    query = parse_qs(urlsplit(html.unescape(found.group(1))).query)
    return {key: values[0] for key, values in query.items()}


# -- the tests -----------------------------------------------------------------------

def test_each_page_of_a_1000_flow_list_costs_one_store_query(site: Site) -> None:
    seen: list[str] = []
    costs: list[int] = []
    params: dict[str, str] | None = {}
    while params is not None:
        response, requests = answer("page_flows", site, **params)
        assert response.status_code == 200
        page = response.get_body().decode("utf-8")
        seen += shown_flows(page)
        costs.append(requests)
        params = more_link(page)

    assert len(costs) == 10                          # 100 flows a page
    assert max(costs) <= MOST_REQUESTS, costs        # not one request per flow
    assert seen == sorted(site.service.catalog.flows)  # every flow once, in order


def test_a_page_shows_each_flows_last_run_from_the_index(site: Site) -> None:
    response, requests = answer("page_flows", site)
    page = response.get_body().decode("utf-8")

    assert requests <= MOST_REQUESTS
    assert "1,000 flows · 1–100 shown · 1 whose last run did not succeed on this page" in page

    def row(name: str) -> str:
        return page[page.index(f'id="flow-{name}"'):].split("</tr>")[0]

    assert site.runs["flow-0000"].run_id in row("flow-0000") and "Failed" in row("flow-0000")
    assert "Running" in row("flow-0001")
    assert "Never run" in row("flow-0002")
    assert site.runs["flow-0099"].run_id in row("flow-0099") and "Succeeded" in row("flow-0099")
    assert "More flows" in page and "First flows" not in page


def test_the_whole_list_on_one_page_and_the_json_api_still_cost_one_query(
        site: Site) -> None:
    response, requests = answer("page_flows", site, top="1000")
    assert requests <= MOST_REQUESTS
    assert len(shown_flows(response.get_body().decode("utf-8"))) == FLOWS

    response, requests = answer("list_flows", site)
    assert response.status_code == 200 and requests <= MOST_REQUESTS
    flows = json.loads(response.get_body())["flows"]
    assert len(flows) == FLOWS
    last = {f["name"]: f["last_run"] for f in flows}
    assert last["flow-0002"] is None
    assert last["flow-0000"]["status"] == "Failed"
    assert all(last[name]["run_id"] == run.run_id for name, run in site.runs.items())


def test_the_last_page_goes_back_to_the_first_and_bad_paging_answers_400(
        site: Site) -> None:
    params: dict[str, str] | None = {"top": "400"}
    pages_seen = 0
    while params is not None:
        response, _ = answer("page_flows", site, **params)
        page = response.get_body().decode("utf-8")
        pages_seen += 1
        last, params = page, more_link(page)
    assert pages_seen == 3
    assert len(shown_flows(last)) == 200 and "First flows" in last
    first = re.search(r'href="([^"]+)">« First flows', last)
    assert first is not None and "top=400" in html.unescape(first[1])

    for bad in ({"top": "0"}, {"top": "lots"}, {"top": "1001"}, {"continuation": "%%%"},
                {"continuation": "eyJmIjoieCIsInMiOm51bGwsInAiOiJ4In0"}):  # a runs token
        response, requests = answer("page_flows", site, **bad)
        assert response.status_code == 400, bad
        assert requests == 0
        assert "Start again from the first flows." in response.get_body().decode("utf-8")


def test_a_flow_list_page_reads_no_run_of_any_flow_one_by_one(
        site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the flow list must not read flows one at a time")

    for name in ("last_run", "list_runs"):
        monkeypatch.setattr(site.store, name, refuse)
    assert answer("page_flows", site)[0].status_code == 200
    assert answer("list_flows", site)[0].status_code == 200
