"""The run store: the history people read to find out why a report did not arrive.

One contract suite runs against both stores, Azure Table Storage (through Azurite,
each test with its own table prefix) and the local SQLite file, because the app
swaps one for the other by configuration and both must answer the same way:
newest first, paging by continuation token, status filters, Running replaced by
the final status, steps in execution order with their errors, long texts cut
rather than failing the write, stale Running shown as Abandoned, retention cleanup
removing old runs with their steps and nothing else. And the latest-run index the
flow list reads in one query (`last_runs`): always each flow's newest run, as
`last_run` says, whatever order writes arrive in, from one process or two, replayed
from the spool, or for a history written before the index existed.

Then the resilience promise: a store that goes down mid-run (Azurite stopped) never
fails the run; its writes wait in the spool and arrive once the store is back.
And the key layout: no key ever holds a character Table Storage forbids.
"""

from __future__ import annotations

import logging
import random
import re
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared.errors import InvalidQuery
from shared.results import RunResult, RunStatus, StepError, StepResult, StepStatus, utc_now
from shared.runs import (
    LocalRunStore,
    ResilientStore,
    RunStore,
    RunStoreUnavailable,
    TableRunStore,
    TriggerBodyUnavailable,
    cleanup_old_runs,
    open_run_store,
)
from shared.runs.keys import (
    escape_key,
    flow_partition_key,
    index_partition_key,
    run_row_key,
    step_partition_key,
    step_row_key,
    unescape_key,
)
from shared.runs.records import MAX_TRIGGER_BODY_CHARS
from shared.runs.table_entities import run_entity as _run_entity
from shared.settings import Settings

ABANDON_AFTER = timedelta(minutes=30)
TRUNCATED = re.compile(r"… \[truncated \d+ chars\]$")
FORBIDDEN_IN_KEYS = re.compile(r"[/\\#?\x00-\x1f\x7f-\x9f]")


# -- helpers -------------------------------------------------------------------

def make_run(flow: str = "storm-daily-report", *, started_at: datetime | None = None,
             status: RunStatus = RunStatus.RUNNING, body: object = None) -> RunResult:
    return RunResult(run_id=uuid.uuid4().hex, flow=flow, trigger_kind="schedule",
                     started_at=started_at or utc_now() - timedelta(minutes=1),
                     status=status, trigger_body=body)


def finish(run: RunResult, status: RunStatus = RunStatus.SUCCEEDED) -> RunResult:
    run.status = status
    run.ended_at = run.started_at + timedelta(seconds=2)
    return run


def make_step(path: str, run: RunResult, *, status: StepStatus = StepStatus.SUCCEEDED,
              error: StepError | None = None, summary: str = "ok") -> StepResult:
    return StepResult(path=path, action="kusto_query", status=status,
                      started_at=run.started_at + timedelta(milliseconds=len(run.steps)),
                      duration_ms=12.5, summary=summary, error=error)


def record_finished(store: RunStore, run: RunResult, status: RunStatus) -> RunResult:
    store.start_run(run)
    store.finish_run(finish(run, status))
    return run


def all_pages(store: RunStore, flow: str, **kwargs: object) -> list[list[str]]:
    pages, token = [], None
    while True:
        page = store.list_runs(flow, continuation=token, **kwargs)  # type: ignore[arg-type]
        pages.append([r.run_id for r in page.items])
        token = page.continuation
        if token is None:
            return pages


def step_rows(store: RunStore, run_id: str) -> int:
    """How many step rows the store still holds for *run_id* (read underneath)."""
    if isinstance(store, TableRunStore):
        return len(list(store._steps.query_entities(
            "PartitionKey eq @pk", parameters={"pk": step_partition_key(run_id)})))
    assert isinstance(store, LocalRunStore)
    with sqlite3.connect(store.path) as conn:
        count = conn.execute("SELECT count(*) FROM steps WHERE run_id = ?", (run_id,))
        result = int(count.fetchone()[0])
    conn.close()
    return result


# -- the two stores ------------------------------------------------------------

@pytest.fixture(params=["table", "local"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunStore]:
    """Each store, empty: Azurite tables under a prefix of their own, or a new file."""
    if request.param == "table":
        azurite = request.getfixturevalue("azurite")
        opened: RunStore = TableRunStore.from_connection_string(
            azurite.connection_string, table_prefix=f"t{uuid.uuid4().hex[:12]}",
            abandon_after=ABANDON_AFTER, retry_total=0)
    else:
        opened = LocalRunStore(tmp_path / "runs.sqlite", abandon_after=ABANDON_AFTER)
    yield opened
    opened.close()  # type: ignore[attr-defined]


# -- the contract ----------------------------------------------------------------

def test_runs_are_listed_newest_first(store: RunStore) -> None:
    base = utc_now() - timedelta(minutes=10)
    runs = [record_finished(store, make_run(started_at=base + timedelta(seconds=i)),
                            RunStatus.SUCCEEDED) for i in (3, 1, 4, 0, 2)]
    record_finished(store, make_run("another-flow"), RunStatus.FAILED)

    page = store.list_runs("storm-daily-report")

    newest_first = sorted(runs, key=lambda r: r.started_at, reverse=True)
    assert [r.run_id for r in page.items] == [r.run_id for r in newest_first]
    assert page.continuation is None
    assert store.last_run("storm-daily-report").run_id == newest_first[0].run_id


def test_paging_follows_the_continuation_token_to_the_end_without_duplicates(
        store: RunStore) -> None:
    base = utc_now() - timedelta(minutes=30)
    runs = [record_finished(store, make_run(started_at=base + timedelta(seconds=i)),
                            RunStatus.SUCCEEDED) for i in range(23)]

    pages = all_pages(store, "storm-daily-report", top=10)

    assert [len(p) for p in pages] == [10, 10, 3]
    listed = [run_id for page in pages for run_id in page]
    assert listed == [r.run_id for r in reversed(runs)]  # newest first, once each


def test_a_continuation_token_is_url_safe_and_refused_for_another_flow(
        store: RunStore) -> None:
    base = utc_now() - timedelta(minutes=5)
    for i in range(3):
        record_finished(store, make_run(started_at=base + timedelta(seconds=i)),
                        RunStatus.SUCCEEDED)
    token = store.list_runs("storm-daily-report", top=2).continuation
    assert token and re.fullmatch(r"[A-Za-z0-9_-]+", token)

    with pytest.raises(InvalidQuery, match="another flow"):
        store.list_runs("another-flow", top=2, continuation=token)
    with pytest.raises(InvalidQuery, match="invalid continuation token"):
        store.list_runs("storm-daily-report", continuation="not a token!")


def test_a_status_filter_keeps_only_runs_with_that_status_in_any_spelling(
        store: RunStore) -> None:
    base = utc_now() - timedelta(minutes=20)
    outcomes = [RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.TIMED_OUT] * 4
    runs = [record_finished(store, make_run(started_at=base + timedelta(seconds=i)), s)
            for i, s in enumerate(outcomes)]
    failed = [r.run_id for r in reversed(runs) if r.status == RunStatus.FAILED]

    for spelling in ("failed", "FAILED", "Failed"):
        page = store.list_runs("storm-daily-report", status=spelling)
        assert [r.run_id for r in page.items] == failed
        assert {r.status for r in page.items} == {RunStatus.FAILED}
    assert len(store.list_runs("storm-daily-report", status="timed_out").items) == 4
    assert len(store.list_runs("storm-daily-report", status="TimedOut").items) == 4
    assert store.list_runs("storm-daily-report", status="running").items == []
    assert all_pages(store, "storm-daily-report", top=3, status="failed") == [
        failed[:3], failed[3:]]


def test_an_unknown_status_filter_is_refused_with_the_valid_names(store: RunStore) -> None:
    with pytest.raises(InvalidQuery,
                       match="use one of queued, running, waiting, succeeded, failed"):
        store.list_runs("storm-daily-report", status="exploded")


def test_finishing_a_run_replaces_running_with_the_final_status(store: RunStore) -> None:
    run = make_run(body={"city": "Oslo"})
    run.resubmitted_from = "abc123"
    store.start_run(run)
    assert store.last_run(run.flow).status == RunStatus.RUNNING
    record, steps = store.get_run(run.flow, run.run_id)
    assert (record.status, record.ended_at, steps) == (RunStatus.RUNNING, None, [])

    step = make_step("query", run)
    run.steps.append(step)
    store.record_step(run, step)
    store.finish_run(finish(run, RunStatus.SUCCEEDED))

    record, steps = store.get_run(run.flow, run.run_id)
    assert record.status == RunStatus.SUCCEEDED
    assert record.ended_at == run.ended_at
    assert record.duration_ms == pytest.approx(2000.0)
    assert record.started_at == run.started_at
    assert (record.trigger, record.step_count, record.resubmitted_from) == (
        "schedule", 1, "abc123")
    assert record.resubmit_body() == {"city": "Oslo"}
    assert [s.path for s in steps] == ["query"]
    listed = store.list_runs(run.flow).items
    assert [(r.run_id, r.status) for r in listed] == [(run.run_id, RunStatus.SUCCEEDED)]


def test_steps_come_back_in_execution_order_with_their_errors(store: RunStore) -> None:
    run = make_run()
    store.start_run(run)
    paths = ["query", "each_row", "each_row[0].mail", "each_row[1].mail",
             "each_row[10].mail", "odd/path#with?chars\\and\ttab", "report"]
    for path in paths:
        run.steps.append(make_step(path, run))
    error = StepError(code="KustoQueryFailed", step="report", message="Semantic error: "
                      "'StormEvent' could not be resolved", hint="Check the table name")
    run.steps[-1] = make_step("report", run, status=StepStatus.FAILED, error=error,
                              summary="")
    for step in random.Random(7).sample(run.steps, len(run.steps)):  # arrival order
        store.record_step(run, step)                                  # does not matter
    store.finish_run(finish(run, RunStatus.FAILED))

    record, steps = store.get_run(run.flow, run.run_id)

    assert [s.path for s in steps] == paths
    assert steps[0].action == "kusto_query" and steps[0].summary == "ok"
    assert steps[0].duration_ms == pytest.approx(12.5)
    assert steps[0].started_at == run.steps[0].started_at
    failed = steps[-1]
    assert (failed.status, failed.error_code, failed.error_message, failed.error_hint) == (
        StepStatus.FAILED, error.code, error.message, error.hint)
    assert (record.status, record.failing_step, record.error_code, record.error_hint) == (
        RunStatus.FAILED, "report", "KustoQueryFailed", "Check the table name")
    assert record.step_count == len(paths)


def test_long_errors_and_summaries_are_cut_with_a_marker_and_the_write_succeeds(
        store: RunStore) -> None:
    run = make_run()
    huge = "row " * 250_000                        # 1,000,000 characters
    astral = "\U0001d11e" * 40_000                 # 80,000 UTF-16 units
    error = StepError(code="E", step="query", message=huge, hint=astral)
    run.steps.append(make_step("query", run, status=StepStatus.FAILED, error=error,
                               summary=huge))
    store.start_run(run)
    store.record_step(run, run.steps[0])
    store.finish_run(finish(run, RunStatus.FAILED))

    record, steps = store.get_run(run.flow, run.run_id)

    for text in (record.error_message, record.error_hint, steps[0].error_message,
                 steps[0].summary, steps[0].error_hint):
        assert TRUNCATED.search(text), text[-60:]
        assert len(text.encode("utf-16-le")) // 2 <= 32_000  # a property's limit
    assert record.error_message.startswith("row row ")
    kept = record.error_message[: TRUNCATED.search(record.error_message).start()]
    assert record.error_message.endswith(f"[truncated {len(huge) - len(kept)} chars]")


def test_a_large_trigger_body_round_trips_for_resubmit(store: RunStore) -> None:
    body = {"text": "é" * 20_000, "rows": list(range(5_000)), "nested": {"ok": True}}
    run = record_finished(store, make_run(body=body), RunStatus.SUCCEEDED)

    record, _ = store.get_run(run.flow, run.run_id)

    assert record.resubmit_body() == body and not record.trigger_body_truncated
    assert store.list_runs(run.flow).items[0].trigger_body is None  # lists stay small


def test_a_trigger_body_too_large_to_keep_is_flagged_and_resubmit_is_refused(
        store: RunStore) -> None:
    body = {"blob": "x" * (MAX_TRIGGER_BODY_CHARS + 1)}
    run = record_finished(store, make_run(body=body), RunStatus.SUCCEEDED)

    record, _ = store.get_run(run.flow, run.run_id)

    assert record.trigger_body_truncated and record.trigger_body is None
    assert store.list_runs(run.flow).items[0].trigger_body_truncated
    with pytest.raises(TriggerBodyUnavailable, match="too large to keep"):
        record.resubmit_body()


def test_a_run_still_running_past_the_deadline_reads_as_abandoned(store: RunStore) -> None:
    stale = make_run(started_at=utc_now() - ABANDON_AFTER - timedelta(minutes=5))
    fresh = make_run(started_at=utc_now() - timedelta(minutes=1))
    store.start_run(stale)
    store.start_run(fresh)

    assert store.get_run(stale.flow, stale.run_id)[0].status == RunStatus.ABANDONED
    assert store.get_run(fresh.flow, fresh.run_id)[0].status == RunStatus.RUNNING
    statuses = {r.run_id: r.status for r in store.list_runs(stale.flow).items}
    assert statuses == {stale.run_id: RunStatus.ABANDONED, fresh.run_id: RunStatus.RUNNING}
    assert [r.run_id for r in store.list_runs(stale.flow, status="abandoned").items] == [
        stale.run_id]
    assert [r.run_id for r in store.list_runs(stale.flow, status="running").items] == [
        fresh.run_id]

    store.finish_run(finish(stale, RunStatus.TIMED_OUT))  # a late finish still counts
    assert store.get_run(stale.flow, stale.run_id)[0].status == RunStatus.TIMED_OUT


def test_retention_cleanup_deletes_old_runs_and_their_steps_only(store: RunStore) -> None:
    now = utc_now()
    old, recent = [], []
    for i, flow in enumerate(["alpha", "alpha", "alpha", "beta", "beta"]):
        old.append(make_run(flow, started_at=now - timedelta(days=40, minutes=i)))
    for i, flow in enumerate(["alpha", "alpha", "beta"]):
        recent.append(make_run(flow, started_at=now - timedelta(days=29, minutes=i)))
    for run in old + recent:
        store.start_run(run)
        for path in ("query", "mail"):
            step = make_step(path, run)
            run.steps.append(step)
            store.record_step(run, step)
        store.finish_run(finish(run))

    deleted = store.delete_older_than(now - timedelta(days=30), page_size=2)

    assert deleted == len(old)
    for run in old:
        assert store.get_run(run.flow, run.run_id) is None
        assert step_rows(store, run.run_id) == 0
    for run in recent:
        record, steps = store.get_run(run.flow, run.run_id)
        assert [s.path for s in steps] == ["query", "mail"]
    assert {r.run_id for r in store.list_runs("alpha").items} == {
        r.run_id for r in recent if r.flow == "alpha"}
    assert store.delete_older_than(now - timedelta(days=30)) == 0


def test_an_unknown_run_or_an_empty_flow_reads_as_nothing(store: RunStore) -> None:
    assert store.get_run("storm-daily-report", "no-such-run") is None
    assert store.last_run("never-ran") is None
    assert store.list_runs("never-ran").items == []
    assert store.last_runs(["never-ran"]) == {}
    assert store.last_runs([]) == {}


# -- the latest-run index (last_runs) --------------------------------------------

def twin(store: RunStore, request: pytest.FixtureRequest) -> RunStore:
    """A second store on the same storage, as another process (instance) opens it."""
    if isinstance(store, TableRunStore):
        return TableRunStore.from_connection_string(
            request.getfixturevalue("azurite").connection_string,
            table_prefix=store.runs_table.removesuffix("FlowRuns"),
            abandon_after=ABANDON_AFTER, retry_total=0)
    assert isinstance(store, LocalRunStore)
    return LocalRunStore(store.path, abandon_after=ABANDON_AFTER)


def assert_index_matches_last_run(store: RunStore, flows: list[str]) -> None:
    latest = store.last_runs(flows)
    for flow in flows:
        assert latest.get(flow) == store.last_run(flow), flow


def test_last_runs_reads_each_flows_newest_run_and_leaves_out_flows_without_runs(
        store: RunStore) -> None:
    base = utc_now() - timedelta(hours=1)
    flows = ["alpha", "beta", "gamma", "reports/daily #1?", "x" * 600]
    newest = {}
    for i, flow in enumerate(flows):
        for minute in (5, 30, 10):  # written out of start order
            run = record_finished(store, make_run(flow, started_at=base + timedelta(
                minutes=minute, seconds=i)), RunStatus.FAILED if minute == 30 else
                RunStatus.SUCCEEDED)
            if minute == 30:
                newest[flow] = run

    latest = store.last_runs([*flows, "never-ran"])

    assert set(latest) == set(flows)             # a flow without runs is left out
    for flow in flows:
        record = latest[flow]
        assert (record.flow, record.run_id, record.status) == (
            flow, newest[flow].run_id, RunStatus.FAILED)
        assert record.trigger_body is None       # like lists: no trigger body
    assert_index_matches_last_run(store, flows)
    assert set(store.last_runs()) == set(flows)  # None: every flow with runs
    assert set(store.last_runs(["beta", "beta", "gamma"])) == {"beta", "gamma"}


def test_a_flows_only_run_shows_running_in_last_runs_then_its_final_status(
        store: RunStore) -> None:
    run = make_run("only-once")
    store.start_run(run)
    assert store.last_runs(["only-once"])["only-once"].status == RunStatus.RUNNING

    step = make_step("query", run)
    run.steps.append(step)
    store.record_step(run, step)
    store.finish_run(finish(run, RunStatus.TIMED_OUT))

    record = store.last_runs(["only-once"])["only-once"]
    assert (record.run_id, record.status, record.step_count) == (
        run.run_id, RunStatus.TIMED_OUT, 1)
    assert record.ended_at == run.ended_at
    assert_index_matches_last_run(store, ["only-once"])


def test_an_older_run_finishing_late_never_hides_the_newer_one_in_last_runs(
        store: RunStore) -> None:
    older = make_run(started_at=utc_now() - timedelta(minutes=10))
    newer = make_run(started_at=utc_now() - timedelta(minutes=2))
    store.start_run(older)
    store.start_run(newer)
    store.finish_run(finish(older, RunStatus.FAILED))   # ends after the newer started

    assert store.last_runs([older.flow])[older.flow].run_id == newer.run_id
    assert_index_matches_last_run(store, [older.flow])
    store.finish_run(finish(newer))
    assert store.last_runs([older.flow])[older.flow].status == RunStatus.SUCCEEDED


def test_two_instances_writing_one_flow_keep_its_newest_run_in_last_runs(
        store: RunStore, request: pytest.FixtureRequest) -> None:
    other = twin(store, request)
    base = utc_now() - timedelta(minutes=30)
    runs = [make_run(started_at=base + timedelta(minutes=m)) for m in (5, 9, 12, 10, 15, 1)]
    try:
        for index, run in enumerate(runs):  # each instance's view of the row goes stale
            record_finished(store if index % 2 else other, run, RunStatus.SUCCEEDED)
            assert store.last_runs([run.flow])[run.flow].run_id == max(
                runs[:index + 1], key=lambda r: r.started_at).run_id
        assert other.last_runs([run.flow]) == store.last_runs([run.flow])
    finally:
        other.close()  # type: ignore[attr-defined]


def test_last_runs_shows_a_stale_running_run_as_abandoned(store: RunStore) -> None:
    stale = make_run("stuck", started_at=utc_now() - ABANDON_AFTER - timedelta(minutes=5))
    store.start_run(stale)
    assert store.last_runs(["stuck"])["stuck"].status == RunStatus.ABANDONED


def test_retention_cleanup_removes_a_flow_from_last_runs_once_all_its_runs_are_gone(
        store: RunStore) -> None:
    now = utc_now()
    record_finished(store, make_run("gone", started_at=now - timedelta(days=40)),
                    RunStatus.SUCCEEDED)
    record_finished(store, make_run("kept", started_at=now - timedelta(days=41)),
                    RunStatus.SUCCEEDED)
    kept = record_finished(store, make_run("kept", started_at=now - timedelta(days=1)),
                           RunStatus.FAILED)

    assert store.delete_older_than(now - timedelta(days=30)) == 2

    latest = store.last_runs(["gone", "kept"])
    assert set(latest) == {"kept"} and latest["kept"].run_id == kept.run_id
    again = record_finished(store, make_run("gone", started_at=now), RunStatus.SUCCEEDED)
    assert store.last_runs(["gone"])["gone"].run_id == again.run_id


def test_a_history_written_before_the_index_existed_gets_it_filled_once(
        store: RunStore, request: pytest.FixtureRequest) -> None:
    base = utc_now() - timedelta(hours=2)
    runs = {flow: [record_finished(store, make_run(flow, started_at=base + timedelta(
        minutes=m)), RunStatus.SUCCEEDED) for m in (3, 8, 1)] for flow in ("one", "two/2")}
    forget_the_index(store)

    reopened = twin(store, request)  # as the new version opens the old history
    try:
        latest = reopened.last_runs(["one", "two/2", "three"])
        assert {flow: record.run_id for flow, record in latest.items()} == {
            flow: max(made, key=lambda r: r.started_at).run_id for flow, made in runs.items()}
        assert_index_matches_last_run(reopened, ["one", "two/2"])
    finally:
        reopened.close()  # type: ignore[attr-defined]


def forget_the_index(store: RunStore) -> None:
    """Remove the latest-run index underneath, as in a history from before it."""
    if isinstance(store, TableRunStore):
        rows = list(store._runs.query_entities(
            "PartitionKey eq @pk", parameters={"pk": "latest:"}))
        for row in rows:
            store._runs.delete_entity(row["PartitionKey"], row["RowKey"])
        assert rows  # the index rows and the mark that it is complete
        return
    assert isinstance(store, LocalRunStore)
    with sqlite3.connect(store.path) as conn:
        conn.execute("DROP TABLE latest")
    conn.close()


# -- a store that is down --------------------------------------------------------

def test_a_store_that_goes_down_mid_run_keeps_the_run_and_delivers_it_when_back(
        fresh_azurite, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    inner = TableRunStore.from_connection_string(
        fresh_azurite.connection_string, table_prefix="down", abandon_after=ABANDON_AFTER,
        retry_total=0)
    store = ResilientStore(inner, tmp_path / "spool", retries=2, backoff=0.01)
    run = make_run()
    store.start_run(run)
    assert store.pending == 0

    fresh_azurite.stop()
    with caplog.at_level(logging.WARNING, logger="shared.runs"):
        for path in ("query", "render", "mail"):
            step = make_step(path, run)
            run.steps.append(step)
            store.record_step(run, step)                # must not raise
        store.finish_run(finish(run, RunStatus.SUCCEEDED))
    assert store.pending == 4
    assert "kept in the spool" in caplog.text
    with pytest.raises(RunStoreUnavailable, match="unavailable right now"):
        store.get_run(run.flow, run.run_id)

    fresh_azurite.start()                                 # empty again: in-memory data
    later = make_run(started_at=utc_now())
    store.start_run(later)                                # the next write delivers first

    assert store.pending == 0
    record, steps = store.get_run(run.flow, run.run_id)
    assert record.status == RunStatus.SUCCEEDED and record.step_count == 3
    assert [s.path for s in steps] == ["query", "render", "mail"]
    assert [r.run_id for r in store.list_runs(run.flow).items] == [later.run_id, run.run_id]
    store.close()


class FlakyStore:
    """A local store that can be taken down (connection refused) or made to reject
    writes as invalid, to test the spool without a network."""

    def __init__(self, path: Path) -> None:
        self.inner = LocalRunStore(path, abandon_after=ABANDON_AFTER)
        self.down = False
        self.reject: set[str] = set()

    def _check(self, op: str) -> None:
        if self.down:
            raise ConnectionRefusedError("connection refused")
        if op in self.reject:
            raise ValueError(f"{op} rejected as invalid")

    def start_run(self, run: RunResult) -> None:
        self._check("start_run")
        self.inner.start_run(run)

    def record_step(self, run: RunResult, step: StepResult) -> None:
        self._check("record_step")
        self.inner.record_step(run, step)

    def finish_run(self, run: RunResult) -> None:
        self._check("finish_run")
        self.inner.finish_run(run)

    def list_runs(self, flow: str, **kwargs: object):  # type: ignore[no-untyped-def]
        self._check("read")
        return self.inner.list_runs(flow, **kwargs)  # type: ignore[arg-type]

    def get_run(self, flow: str, run_id: str):  # type: ignore[no-untyped-def]
        self._check("read")
        return self.inner.get_run(flow, run_id)

    def last_run(self, flow: str):  # type: ignore[no-untyped-def]
        self._check("read")
        return self.inner.last_run(flow)

    def last_runs(self, flows=None):  # type: ignore[no-untyped-def]
        self._check("read")
        return self.inner.last_runs(flows)

    def delete_older_than(self, cutoff: datetime, *, page_size: int = 100) -> int:
        self._check("read")
        return self.inner.delete_older_than(cutoff, page_size=page_size)


def test_spooled_writes_replay_in_order_so_a_late_start_never_hides_the_finish(
        tmp_path: Path) -> None:
    flaky = FlakyStore(tmp_path / "runs.sqlite")
    sleeps: list[float] = []
    store = ResilientStore(flaky, tmp_path / "spool", retries=3, backoff=0.2,
                           sleep=sleeps.append)
    run = make_run()
    flaky.down = True
    store.start_run(run)
    assert sleeps == [0.2, 0.4, 0.8]          # retried with backoff, then spooled
    step = make_step("query", run)
    run.steps.append(step)
    store.record_step(run, step)
    store.finish_run(finish(run))
    assert sleeps == [0.2, 0.4, 0.8]          # cooling down: straight to the spool
    assert store.pending == 3
    assert store.flush() == 0                 # still down: all stay, in order

    flaky.down = False
    assert store.flush() == 3
    record, steps = store.get_run(run.flow, run.run_id)
    assert record.status == RunStatus.SUCCEEDED
    assert [s.path for s in steps] == ["query"]
    assert store.pending == 0


def test_spooled_writes_replayed_later_keep_last_runs_on_each_flows_newest_run(
        tmp_path: Path) -> None:
    flaky = FlakyStore(tmp_path / "runs.sqlite")
    store = ResilientStore(flaky, tmp_path / "spool", retries=0, backoff=0)
    older = make_run(started_at=utc_now() - timedelta(minutes=20))
    only = make_run("spooled-only", started_at=utc_now() - timedelta(minutes=15))
    flaky.down = True
    for run in (older, only):
        store.start_run(run)
        store.finish_run(finish(run, RunStatus.FAILED))
    assert store.pending == 4
    flaky.down = False
    newer = record_finished(flaky.inner, make_run(started_at=utc_now() - timedelta(
        minutes=5)), RunStatus.SUCCEEDED)  # reached the store first, started later

    latest = store.last_runs([older.flow, "spooled-only"])  # a read replays the spool first

    assert store.pending == 0
    assert latest[older.flow].run_id == newer.run_id    # the replay did not hide it
    assert (latest["spooled-only"].run_id, latest["spooled-only"].status) == (
        only.run_id, RunStatus.FAILED)
    flaky.down = True
    with pytest.raises(RunStoreUnavailable, match="run history is unavailable"):
        store.last_runs([older.flow])


def test_a_write_the_store_rejects_as_invalid_is_parked_and_blocks_nothing(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    flaky = FlakyStore(tmp_path / "runs.sqlite")
    flaky.reject = {"record_step"}
    sleeps: list[float] = []
    store = ResilientStore(flaky, tmp_path / "spool", sleep=sleeps.append)
    run = make_run()
    store.start_run(run)
    step = make_step("query", run)
    run.steps.append(step)
    with caplog.at_level(logging.ERROR, logger="shared.runs"):
        store.record_step(run, step)
    store.finish_run(finish(run))

    assert sleeps == [] and store.pending == 0
    parked = list((tmp_path / "spool" / "failed").glob("*.json"))
    assert len(parked) == 1 and "rejected as invalid" in parked[0].read_text()
    assert "parked" in caplog.text
    assert store.get_run(run.flow, run.run_id)[0].status == RunStatus.SUCCEEDED


def test_a_spool_left_by_an_earlier_process_is_delivered_by_the_next_write(
        tmp_path: Path) -> None:
    flaky = FlakyStore(tmp_path / "runs.sqlite")
    flaky.down = True
    first = ResilientStore(flaky, tmp_path / "spool", retries=0)
    run = make_run()
    first.start_run(run)
    first.finish_run(finish(run))
    flaky.down = False

    second = ResilientStore(flaky, tmp_path / "spool", retries=0)  # a new process
    second.start_run(make_run(started_at=utc_now()))

    assert second.pending == 0
    assert second.get_run(run.flow, run.run_id)[0].status == RunStatus.SUCCEEDED


def test_reads_say_clearly_that_the_store_is_down(tmp_path: Path) -> None:
    flaky = FlakyStore(tmp_path / "runs.sqlite")
    store = ResilientStore(flaky, tmp_path / "spool", retries=0)
    flaky.down = True
    with pytest.raises(RunStoreUnavailable, match="run history is unavailable"):
        store.list_runs("storm-daily-report")
    with pytest.raises(RunStoreUnavailable):
        store.last_run("storm-daily-report")


def test_the_local_store_takes_steps_from_many_threads_at_once(tmp_path: Path) -> None:
    store = LocalRunStore(tmp_path / "runs.sqlite")
    run = make_run()
    store.start_run(run)
    run.steps = [make_step(f"each_row[{i}].mail", run) for i in range(120)]
    chunks = [run.steps[i::6] for i in range(6)]
    threads = [threading.Thread(target=lambda c=c: [store.record_step(run, s) for s in c])
               for c in chunks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    _, steps = store.get_run(run.flow, run.run_id)
    assert [s.path for s in steps] == [s.path for s in run.steps]


# -- choosing a store, cleanup -------------------------------------------------------

def test_the_factory_picks_sqlite_by_default_and_table_storage_when_configured(
        tmp_path: Path) -> None:
    local = open_run_store(Settings(state_dir=tmp_path))
    assert isinstance(local.inner, LocalRunStore)
    assert local.inner.path == tmp_path / "runs.sqlite"
    assert local.spool.directory == tmp_path / "spool"
    local.close()

    keyed = open_run_store(Settings(state_dir=tmp_path, runs_table_connection_string=(
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
        "TableEndpoint=http://127.0.0.1:9/devstoreaccount1;")))
    assert isinstance(keyed.inner, TableRunStore)
    keyed.close()

    identity = open_run_store(Settings(state_dir=tmp_path, azure_client_id="0000-client",
                                       runs_table_endpoint="https://acct.table.core.windows.net"))
    assert isinstance(identity.inner, TableRunStore)
    assert type(identity.inner._credential).__name__ == "ManagedIdentityCredential"
    identity.close()


def test_cleanup_uses_the_retention_setting(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, runs_retention_days=7)
    store = open_run_store(settings)
    now = datetime(2024, 6, 1, tzinfo=UTC)
    old = record_finished(store, make_run(started_at=now - timedelta(days=8)),
                          RunStatus.SUCCEEDED)
    kept = record_finished(store, make_run(started_at=now - timedelta(days=6)),
                           RunStatus.SUCCEEDED)

    assert cleanup_old_runs(store, settings, now) == 1
    assert store.get_run(old.flow, old.run_id) is None
    assert store.get_run(kept.flow, kept.run_id) is not None


# -- keys -------------------------------------------------------------------------

def test_keys_never_contain_characters_table_storage_forbids() -> None:
    now = utc_now()
    samples = ["a/b", "a\\b", "a#b", "a?b", "tab\there", "line\nbreak", "\x00", "\x7f",
               "\x85", "%2F", "100%", "id:x", "each_row[2].mail", "ü/ß ✓", "x" * 5000,
               "y/" * 3000] + [chr(code) for code in range(0x00, 0x250)]
    keys: set[str] = set()
    for text in samples:
        for key in (flow_partition_key(text), run_row_key(now, text), step_row_key(3, text),
                    index_partition_key(text), step_partition_key(text)):
            assert not FORBIDDEN_IN_KEYS.search(key), (text, key)
            assert len(key.encode("utf-16-le")) <= 1024, text  # a key holds 1 KiB
        keys.add(flow_partition_key(text))
        if len(text) < 100:
            assert unescape_key(escape_key(text)) == text
    assert len(keys) == len(set(samples))                 # distinct names, distinct keys
    assert not flow_partition_key("id:run").startswith("id:")  # never an index partition


def test_a_run_row_stays_within_table_storage_entity_limits() -> None:
    run = make_run(body={"blob": "x" * (MAX_TRIGGER_BODY_CHARS - 20)})
    huge = "\U0001d11e" * 1_000_000
    run.steps.append(make_step(huge, run, status=StepStatus.FAILED,
                               error=StepError(code=huge, step=huge, message=huge, hint=huge)))
    finish(run, RunStatus.FAILED)
    run.trigger_kind = huge

    entity = _run_entity(run)

    size = 4 + 2 * (len(entity["PartitionKey"]) + len(entity["RowKey"]))
    for name, value in entity.items():
        if name in ("PartitionKey", "RowKey"):
            continue
        if isinstance(value, str):
            units = len(value.encode("utf-16-le")) // 2
            assert units <= 32_768, name
            size += 8 + 2 * len(name) + 4 + 2 * units
        else:
            size += 8 + 2 * len(name) + 8
    assert size < 1_048_576
    assert "TriggerBody0" in entity and not entity["TriggerBodyTruncated"]
