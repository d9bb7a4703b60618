"""Growth: the history of every flow costs store requests by the page, not by the flow.

Why: the run history without a flow (`runs` in the CLI, the API and the pages) merges
every flow's runs newest first. It read a page of every flow for each page: with 1,000
flows over 1,000 store requests a page, and a continuation token naming every flow
(tens of KB, over the 4,096 characters a request may bring back). Now the latest-run
index (one query) says which flows can reach the page, flows are read lazily in the
merge, and the token names only the flows read (`shared/runs/merged.py`). Finding a run
by the first characters of its id read the newest 1,000 runs of every flow; it is now
one range query of the run id index.

What is checked, on both stores (Table on Azurite, SQLite): the pages are those the
old merge gave (order across and within flows, ties, the status filters, the end of
the history with no empty page), whatever the page size and however small the token
must stay; runs that start, or finish, while someone pages are neither repeated nor
lost; with 1,000 flows a page costs at most about a request per run shown (Table
HTTP requests counted by the client's request hook, SQLite SELECTs by a trace
callback); a run id prefix is one query.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from shared.errors import InvalidQuery
from shared.history import RunQuery, page_runs, runs_with_prefix
from shared.results import RunResult, RunStatus, utc_now
from shared.runs import RunPage, RunRecord, RunStore, TableRunStore
from shared.runs.merged import merged_page
from shared.runs.store_base import MAX_PAGE
from shared.runs.table_entities import latest_entity, run_entity
from tests.counting_stores import Counter, CountingLocalStore

ABANDON_AFTER = timedelta(minutes=30)
NOW = utc_now().replace(microsecond=0)


@dataclass
class Site:
    store: RunStore
    counter: Counter


@pytest.fixture(params=["table", "local"])
def site(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Site]:
    counter = Counter()
    store: RunStore
    if request.param == "table":
        store = TableRunStore.from_connection_string(
            request.getfixturevalue("azurite").connection_string,
            table_prefix=f"h{uuid.uuid4().hex[:12]}", abandon_after=ABANDON_AFTER,
            retry_total=0, raw_request_hook=counter)
    else:
        store = CountingLocalStore(tmp_path / "runs.sqlite", counter,
                                   abandon_after=ABANDON_AFTER)
    try:
        yield Site(store, counter)
    finally:
        store.close()


def a_run(flow: str, minutes_ago: float, status: RunStatus = RunStatus.SUCCEEDED,
          run_id: str | None = None) -> RunResult:
    run = RunResult(run_id=run_id or uuid.uuid4().hex, flow=flow, trigger_kind="schedule",
                    started_at=NOW - timedelta(minutes=minutes_ago), status=status)
    if status.final:
        run.ended_at = run.started_at + timedelta(seconds=3)
    return run


def record(store: RunStore, run: RunResult) -> RunResult:
    store.start_run(run)
    if run.status.final:
        store.finish_run(run)
    return run


def mixed_history(store: RunStore) -> list[str]:
    """Twelve flows with 0 to 9 runs each, written through the store's own writes:
    several statuses, runs of two flows that start at the same moment, two runs of a
    flow that start together, runs still Running and Running past the deadline."""
    names = [f"f{i:02d}" for i in range(12)]
    statuses = [RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.SUCCEEDED,
                RunStatus.TIMED_OUT, RunStatus.SKIPPED]
    for i, name in enumerate(names[:-1]):  # the last flow never ran
        for j in range(i % 10):
            minutes = 7 * j + 3 * i + (0.5 if j % 3 else 0)
            record(store, a_run(name, minutes, statuses[(i + j) % len(statuses)]))
    record(store, a_run("f01", 33))                 # f01 and f03: the same start
    record(store, a_run("f03", 33))
    record(store, a_run("f05", 50, run_id="0" * 32))  # two runs of f05 at one moment
    record(store, a_run("f05", 50, run_id="f" * 32))
    record(store, a_run("f02", 1, RunStatus.RUNNING))
    record(store, a_run("f04", 45, RunStatus.RUNNING))  # past the deadline: Abandoned
    record(store, a_run("gone", 2))                  # a flow no longer in the folder
    record(store, a_run("gone", 60))
    return names


def old_merge_records(store: RunStore, names: list[str],
                      status: str | None = None) -> list[RunRecord]:
    """The whole history as the merge before gave it: every flow's runs in the store's
    order, then sorted newest first by start, ties in the order of the flow names."""
    runs: list[RunRecord] = []
    for name in sorted(names):
        token = None
        while True:
            page = store.list_runs(name, top=1000, status=status, continuation=token)
            runs += page.items
            if (token := page.continuation) is None:
                break
    return sorted(runs, key=lambda r: r.started_at, reverse=True)


def old_merge(store: RunStore, names: list[str], status: str | None = None) -> list[str]:
    return [r.run_id for r in old_merge_records(store, names, status)]


def every_page(store: RunStore, names: list[str], *, top: int, status: str | None = None,
               max_token_chars: int = 4096) -> list[list[str]]:
    """The run ids of each page, following the tokens to the end."""
    pages, token = [], None
    for _ in range(1000):
        page = merged_page(store, names, top=top, status=status, continuation=token,
                           max_token_chars=max_token_chars)
        pages.append([r.run_id for r in page.items])
        if (token := page.continuation) is None:
            return pages
        assert len(token) <= max(max_token_chars, 200)  # what never fits: the last run
    raise AssertionError("the pages never ended")


# -- the same pages ------------------------------------------------------------------

@pytest.mark.parametrize("top", [1, 4, 25])
def test_paging_every_flow_gives_the_old_merges_order_page_for_page(
        site: Site, top: int) -> None:
    names = mixed_history(site.store)
    expected = old_merge(site.store, names)

    pages = every_page(site.store, names, top=top)

    assert [run for page in pages for run in page] == expected
    assert [len(page) for page in pages[:-1]] == [top] * (len(pages) - 1)
    assert 0 < len(pages[-1]) <= top                   # no empty page at the end


@pytest.mark.parametrize("status", ["Failed", "Running", "Abandoned", "Skipped", "Queued"])
def test_a_status_filter_pages_the_same_runs_as_before(site: Site, status: str) -> None:
    names = mixed_history(site.store)
    expected = old_merge(site.store, names, status)

    pages = every_page(site.store, names, top=2, status=status)

    assert [run for page in pages for run in page] == expected
    assert pages[-1] or expected == []
    if status == "Abandoned":
        assert len(expected) == 1


def test_pages_stay_right_when_the_token_has_no_room_to_name_the_flows_read(
        site: Site) -> None:
    # A token names the flows read to spare the next page reading them again; with no
    # room for any, every flow with a run before the last one shown is read again.
    names = mixed_history(site.store)
    for status in (None, "Failed"):
        pages = every_page(site.store, names, top=3, status=status, max_token_chars=1)
        assert [run for page in pages for run in page] == old_merge(site.store, names, status)


def test_the_query_api_pages_every_flow_and_refuses_tokens_of_other_queries(
        site: Site) -> None:
    names = mixed_history(site.store)
    seen: list[str] = []
    token = None
    while True:
        page = page_runs(site.store, RunQuery.parse(top="5", continuation=token), names)
        seen += [r.run_id for r in page.items]
        if (token := page.continuation) is None:
            break
    assert seen == old_merge(site.store, names)

    first = page_runs(site.store, RunQuery.parse(top="1"), names)
    assert first.continuation is not None
    with pytest.raises(InvalidQuery, match="another status filter"):
        page_runs(site.store, RunQuery.parse(status="failed", continuation=first.continuation),
                  names)
    one_flow = site.store.list_runs("f05", top=1).continuation
    assert one_flow is not None
    with pytest.raises(InvalidQuery, match="pages the runs of one flow, 'f05'"):
        page_runs(site.store, RunQuery.parse(continuation=one_flow), names)
    for bad in ("not-a-token", "eyJhbGwiOnt9LCJzIjpudWxsfQ", first.continuation[:-4]):
        with pytest.raises(InvalidQuery, match="invalid continuation token"):
            page_runs(site.store, RunQuery.parse(continuation=bad), names)


def test_a_token_read_with_other_flows_goes_on_from_its_last_run_with_those(
        site: Site) -> None:
    names = mixed_history(site.store)
    page = merged_page(site.store, names, top=6, status=None, continuation=None,
                       max_token_chars=4096)
    others = [name for name in names if name != "f05"] + ["gone"]  # the folder changed
    everything = old_merge_records(site.store, [*names, "gone"])
    after = [r.run_id for r in everything[everything.index(page.items[-1]) + 1:]
             if r.flow in others]

    following = merged_page(site.store, others, top=1000, status=None,
                            continuation=page.continuation, max_token_chars=4096)

    assert [r.run_id for r in following.items] == after
    assert "gone" in {r.flow for r in following.items}
    assert following.continuation is None


# -- runs that start or end while someone pages ----------------------------------------

def test_runs_that_start_or_finish_between_pages_are_neither_repeated_nor_lost(
        site: Site) -> None:
    names = mixed_history(site.store)
    running = record(site.store, a_run("f07", 40, RunStatus.RUNNING))
    before = old_merge(site.store, names)

    page = merged_page(site.store, names, top=5, status=None, continuation=None,
                       max_token_chars=4096)
    seen = [r.run_id for r in page.items]
    started = [record(site.store, a_run(name, 0)) for name in   # newer than anything shown
               (page.items[0].flow, names[-1], "f09")]          # read, never ran, never read
    running.status = RunStatus.FAILED
    running.ended_at = running.started_at + timedelta(minutes=1)
    site.store.finish_run(running)                              # ends: stays where it was
    token = page.continuation
    while token is not None:
        page = merged_page(site.store, names, top=5, status=None, continuation=token,
                           max_token_chars=4096)
        seen += [r.run_id for r in page.items]
        token = page.continuation

    assert seen == before                                    # each once, in order
    assert not {run.run_id for run in started} & set(seen)  # the new ones: on a new page 1
    assert every_page(site.store, names, top=1000)[0][:3] == [
        r.run_id for r in sorted(started, key=lambda r: r.flow)]


def test_a_run_of_a_flow_not_read_yet_does_not_hide_its_older_runs(site: Site) -> None:
    # f09 is the flow whose newest run is older than page 1's last run: not read, not in
    # the token; its new run moves it to the top of the index, its old runs stay due.
    names = mixed_history(site.store)
    before = old_merge(site.store, names)
    page = merged_page(site.store, names, top=3, status=None, continuation=None,
                       max_token_chars=4096)
    assert "f09" not in {r.flow for r in page.items}
    newest_f09 = site.store.list_runs("f09", top=1).items[0]
    assert newest_f09.run_id in before[3:]
    record(site.store, a_run("f09", 0))

    following = merged_page(site.store, names, top=1000, status=None,
                            continuation=page.continuation, max_token_chars=4096)

    assert [r.run_id for r in following.items] == before[3:]
    assert following.continuation is None


# -- what a page costs with 1,000 flows ------------------------------------------------

FLOWS = 1000
RUNS_EACH = 5
TOP = 25


def most_requests(top: int, index: int) -> int:
    """The most requests a page of *top* runs costs (`cost`), *index* those the
    latest-run index costs: a read of each flow with a run on the page, one to know
    there is a next page, and the flows read a page early. The token keeps where a
    flow's next run is as an age rounded down to a grid of an eighth of page 1's span
    (to stay small), so a flow whose next run lies within one grid step after the
    page's last run is read on this page too (and again on the next); how many such
    flows a page has depends on where the grid falls (on the clock: NOW), from none to
    every run inside one step. The runs here are as evenly spread as page 1's, so a
    step holds at most top // 8 of them (top 100: a step of 24.75 minutes, runs 2
    minutes apart, 0 to 12 flows read early)."""
    return index + top + 1 + top // 8


@dataclass
class Crowd:
    site: Site
    names: list[str]
    runs: list[RunResult]
    #: Requests the latest-run index costs: Table answers 1,000 rows a response (the
    #: 1,000 flows' rows and the ':complete' row: two); SQLite, one SELECT.
    index_requests: int


@pytest.fixture(scope="module", params=["table", "local"])
def crowd(request: pytest.FixtureRequest,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crowd]:
    """1,000 flows with 5 runs each, their starts interleaved (every flow has a run near
    the top), written in bulk as the store's writes leave them; one per store, shared
    by the tests below (they only read)."""
    counter = Counter()
    store: RunStore
    names = [f"flow-{i:04d}" for i in range(FLOWS)]
    runs = [a_run(name, j * 2 * FLOWS + i * 2 + 1,
                  RunStatus.FAILED if (i + j) % 7 == 0 else RunStatus.SUCCEEDED)
            for i, name in enumerate(names) for j in range(RUNS_EACH)]
    if request.param == "table":
        store = TableRunStore.from_connection_string(
            request.getfixturevalue("azurite").connection_string,
            table_prefix=f"c{uuid.uuid4().hex[:12]}", abandon_after=ABANDON_AFTER,
            retry_total=0, raw_request_hook=counter)
        store._ensure_tables()
        rows = [run_entity(run) for run in runs]
        flows = [rows[start:start + RUNS_EACH] for start in range(0, len(rows), RUNS_EACH)]
        latest = [latest_entity(flow[0]) for flow in flows]  # each flow's newest
        batches = flows + [latest[start:start + 100] for start in range(0, len(latest), 100)]
        with ThreadPoolExecutor(8) as pool:  # one transaction per flow's runs
            list(pool.map(lambda batch: store._runs.submit_transaction(
                [("upsert", row) for row in batch]), batches))
    else:
        store = CountingLocalStore(tmp_path_factory.mktemp("crowd") / "runs.sqlite",
                                   counter, abandon_after=ABANDON_AFTER)
        with store.bulk():
            for run in runs:
                store.finish_run(run)
    index_requests = -(-(FLOWS + 1) // MAX_PAGE) if request.param == "table" else 1
    try:
        yield Crowd(Site(store, counter), names, runs, index_requests)
    finally:
        store.close()


def cost(site: Site, call: Any) -> tuple[Any, int]:
    """*call*'s answer and every request it made (Table: HTTP requests, a query's
    continuations included; Azurite splits an answer only past its $top, so the count
    does not vary with load. SQLite: SELECTs)."""
    site.counter.count = 0
    answer = call()
    return answer, site.counter.count


def test_a_page_of_every_flows_history_costs_requests_by_the_page_not_by_the_flow(
        crowd: Crowd) -> None:
    site, names = crowd.site, crowd.names
    everything = sorted(crowd.runs, key=lambda r: r.started_at, reverse=True)
    token = None
    for number in range(3):
        page, requests = cost(site, partial(merged_page, site.store, names, top=TOP,
                                            status=None, continuation=token,
                                            max_token_chars=4096))
        assert requests <= most_requests(TOP, crowd.index_requests), (number, requests)
        assert [r.run_id for r in page.items] == [
            r.run_id for r in everything[number * TOP:(number + 1) * TOP]]
        token = page.continuation
        assert token is not None and len(token) < 1000


def test_with_a_status_filter_only_flows_whose_newest_run_is_recent_enough_are_read(
        crowd: Crowd, monkeypatch: pytest.MonkeyPatch) -> None:
    site, names = crowd.site, crowd.names
    failed = sorted((r for r in crowd.runs if r.status is RunStatus.FAILED),
                    key=lambda r: r.started_at, reverse=True)
    read: list[str] = []
    list_runs = site.store.list_runs

    def spy(flow: str, **kwargs: Any) -> RunPage:
        read.append(flow)
        return list_runs(flow, **kwargs)

    monkeypatch.setattr(site.store, "list_runs", spy)
    page = merged_page(site.store, names, top=TOP, status="Failed", continuation=None,
                       max_token_chars=4096)

    assert [r.run_id for r in page.items] == [r.run_id for r in failed[:TOP]]
    # A flow's newest run (any status) bounds its newest failure: flows whose newest
    # run is older than the page's last failure are never read.
    # (Reading on to the next failure says there is a next page.)
    following = failed[TOP].started_at
    newest = {name: max(r.started_at for r in crowd.runs if r.flow == name) for name in names}
    assert set(read) <= {name for name, at in newest.items() if at >= following}
    assert len(read) < FLOWS / 4


def test_the_api_walks_deep_into_a_1000_flow_history_with_tokens_it_accepts(
        crowd: Crowd) -> None:
    site, names = crowd.site, crowd.names
    everything = [r.run_id for r in sorted(crowd.runs, key=lambda r: r.started_at,
                                           reverse=True)]
    seen: list[str] = []
    costs: list[int] = []
    token = None
    for _ in range(12):  # past page 10, every flow has been read: the token names 1,000
        query = RunQuery.parse(top="100", continuation=token)  # refuses over 4,096 chars
        page, requests = cost(site, partial(page_runs, site.store, query, names))
        seen += [r.run_id for r in page.items]
        costs.append(requests)
        token = page.continuation
    assert seen == everything[:1200]
    assert max(costs) <= most_requests(100, crowd.index_requests), costs


# -- a run by the first characters of its id -----------------------------------------

def test_a_run_id_prefix_is_one_index_query_whatever_the_number_of_flows(
        site: Site) -> None:
    record(site.store, a_run("flow-a", 3, run_id="abcd" + "0" * 28))
    record(site.store, a_run("flow-b", 2, run_id="abcd" + "1" * 28))
    record(site.store, a_run("flow-b", 1, run_id="abce" + "0" * 28))
    record(site.store, a_run("flow-c", 1, run_id="abc%/#?" + "0" * 25))  # escaped in keys

    found, requests = cost(site, lambda: site.store.find_run_ids("abcd"))
    assert found == [("flow-a", "abcd" + "0" * 28), ("flow-b", "abcd" + "1" * 28)]
    assert requests == 1
    assert site.store.find_run_ids("abcd1") == [("flow-b", "abcd" + "1" * 28)]
    assert site.store.find_run_ids("abce" + "0" * 28) == [("flow-b", "abce" + "0" * 28)]
    assert site.store.find_run_ids("abc%/") == [("flow-c", "abc%/#?" + "0" * 25)]
    assert site.store.find_run_ids("abcf") == []

    assert runs_with_prefix(site.store, ["flow-b", "flow-c"], "abcd") == [
        ("flow-b", "abcd" + "1" * 28)]
    with pytest.raises(InvalidQuery, match="at least 4 characters"):
        runs_with_prefix(site.store, ["flow-a"], "abc")


def test_not_after_lists_a_flows_runs_from_a_moment_on(site: Site) -> None:
    runs = [record(site.store, a_run("f", minutes)) for minutes in (1, 2, 3, 4)]
    at: datetime = runs[2].started_at

    page = site.store.list_runs("f", top=1, not_after=at)
    assert [r.run_id for r in page.items] == [runs[2].run_id]
    following = site.store.list_runs("f", top=5, not_after=at, continuation=page.continuation)
    assert [r.run_id for r in following.items] == [runs[3].run_id]
    assert site.store.list_runs("f", not_after=at - timedelta(minutes=5)).items == []
