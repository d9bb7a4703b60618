"""Runaway work ends as a step error, never as a killed host: the embedded Kusto
engine's request time-out, memory limit and early stop at `max_records`, and the
mail subject cap.

Why: a fault review found `range x from 1 to 3000000000 step 1` with a 2 s request
time-out OOM-killed at 23 GB (the run left `Running`), `range 1e8` taking 17.7 s
against a 5 s time-out with 7 GB, and a 1 MB subject taking 19 s in header folding.
Bounds here are generous (seconds, GB) and far from the expected values.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import duckdb
import duckdb_kql
import pytest

from shared.errors import LimitExceeded, RequestTimeout, StepInputError
from shared.kusto.backend import KustoRequest
from shared.kusto.embedded import EmbeddedBackend
from shared.kusto.embedded_limits import EngineLimits, streaming_ranges
from shared.kusto.reader import CollectSink, GuardedSink
from shared.mail.limits import fit_attachments
from shared.mail.message import MAX_SUBJECT_CHARS, EmailMessage
from shared.results import RunStatus, StepStatus
from shared.runs.local_store import LocalRunStore
from shared.service import StoreObserver
from tests.helpers import run_flow_file, settings_for, write_flow

ROOT = Path(__file__).resolve().parent.parent


def peak_rss_gb() -> float:
    """This process's peak resident memory so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def query(backend: EmbeddedBackend, text: str, timeout: float = 30.0,
          max_records: int = 500_000) -> GuardedSink:
    sink = GuardedSink(CollectSink(), max_records, 64 * 1024**2)
    backend.execute(KustoRequest("Samples", text, timeout=timeout), sink)
    return sink


def rows(backend: EmbeddedBackend, text: str) -> list[dict[str, Any]]:
    sink = query(backend, text)
    inner = sink.inner
    assert isinstance(inner, CollectSink) and inner.primary is not None
    return inner.primary.rows


@pytest.fixture(scope="module")
def backend() -> EmbeddedBackend:
    return EmbeddedBackend()


# ------------------------------------------------------------------ request time-out


def test_a_huge_range_with_a_2_s_request_timeout_times_out_and_the_run_is_recorded_ended(
        tmp_path: Path) -> None:
    path = write_flow(tmp_path / "flows", "huge", """\
        limits: {request_timeout: 2s}
        steps:
          - id: q
            action: kusto.query
            connection: samples
            query: range x from 1 to 1000000000000 step 1 | summarize total = sum(x % 7)
        """)
    store = LocalRunStore(tmp_path / "runs.sqlite")
    try:
        started = time.monotonic()
        run = run_flow_file(path, settings_for(tmp_path), observers=[StoreObserver(store)])
        elapsed = time.monotonic() - started
        recorded = store.get_run(run.flow, run.run_id)
    finally:
        store.close()
    assert elapsed < 30
    step = run.steps[0]
    assert step.status == StepStatus.TIMED_OUT
    assert step.error is not None and step.error.code == "RequestTimeout"
    assert "2 s time-out" in step.error.message and "chunks" in step.error.hint
    assert recorded is not None
    record, _ = recorded
    assert record.status == RunStatus.FAILED
    assert record.ended_at is not None
    assert peak_rss_gb() < 4


def test_the_fault_reviews_range_stops_at_max_records_without_building_the_sequence(
        tmp_path: Path) -> None:
    path = write_flow(tmp_path, "huge", """\
        limits: {request_timeout: 2s}
        steps:
          - {id: q, action: kusto.query, connection: samples,
             query: range x from 1 to 3000000000 step 1}
        """)
    started = time.monotonic()
    run = run_flow_file(path, settings_for(tmp_path))
    assert time.monotonic() - started < 30
    error = run.steps[0].error
    assert error is not None and error.code in ("LimitExceeded", "RequestTimeout")
    assert run.status == RunStatus.FAILED and run.ended_at is not None
    assert peak_rss_gb() < 4


def test_a_timed_out_query_leaves_the_connection_ready_for_the_next_one(
        backend: EmbeddedBackend) -> None:
    with pytest.raises(RequestTimeout):
        query(backend, "range x from 1 to 3000000000 step 1 | summarize sum(x % 7)",
              timeout=0.5)
    assert rows(backend, "print x = 1") == [{"x": 1}]


def test_waiting_for_the_busy_connection_counts_against_the_time_out(
        backend: EmbeddedBackend) -> None:
    timed_out: list[RequestTimeout] = []

    def ask() -> None:
        try:
            query(backend, "print x = 1", timeout=0.3)
        except RequestTimeout as exc:
            timed_out.append(exc)

    # One query at a time per connection: hold it as a running query would.
    with backend._lock:
        asker = threading.Thread(target=ask, daemon=True)
        asker.start()
        asker.join(10)
        still_waiting = asker.is_alive()
    asker.join()
    assert not still_waiting and len(timed_out) == 1


# ---------------------------------------------------------------- records and memory


def test_max_records_stops_a_10_million_row_range_early(backend: EmbeddedBackend) -> None:
    sink = GuardedSink(CollectSink(), 1_000, 64 * 1024**2)
    started = time.monotonic()
    with pytest.raises(LimitExceeded, match="more than 1,000 records") as raised:
        backend.execute(KustoRequest("Samples", "range x from 1 to 10000000 step 1",
                                     timeout=30), sink)
    assert time.monotonic() - started < 10
    assert "summarize" in raised.value.hint
    # Read batch by batch: the first batch (10,000 rows) is over, not the 10 million.
    assert sink.records <= 10_000


def test_a_memory_heavy_query_is_refused_with_limit_exceeded() -> None:
    small = EmbeddedBackend(limits=EngineLimits(memory_limit=64 * 1024**2, threads=1))
    with pytest.raises((LimitExceeded, RequestTimeout)) as raised:
        query(small, "range x from 1 to 30000000 step 1 | summarize n = count() by x | count",
              timeout=20)
    if isinstance(raised.value, LimitExceeded):
        assert "64 MB of memory" in raised.value.message
        assert "summarize" in raised.value.hint and "filter" in raised.value.hint
    assert peak_rss_gb() < 4
    assert rows(small, "print x = 1") == [{"x": 1}]  # the engine is still usable


def test_the_default_limits_fit_a_serverless_instance() -> None:
    limits = EngineLimits.default()
    assert 64 * 1024**2 <= limits.memory_limit <= 1024**3
    assert 1 <= limits.threads <= 2
    con = duckdb.connect()
    try:
        limits.apply(con)
        settings = dict(con.execute(
            "SELECT name, value FROM duckdb_settings() WHERE name IN "
            "('threads', 'temp_directory', 'enable_progress_bar')").fetchall())
    finally:
        con.close()
    assert settings == {"threads": str(limits.threads), "temp_directory": "",
                        "enable_progress_bar": "false"}


# ---------------------------------------------------------------- range as a stream


@pytest.mark.parametrize("kql", [
    "range x from 1 to 10 step 1",
    "range x from 10 to 1 step -3",
    "range x from 1 to 10 step -1",
    "range x from 1 to 10 step 0",
    "range t from datetime(2020-01-01) to datetime(2020-01-02) step 5h",
    "range x from 1 to 10 step 2 | extend y = x * 2 | where y > 4",
    "let r = range x from 1 to 10 step 2; r | join kind=inner (range x from 1 to 5 step 1) on x",
])
def test_a_range_read_as_a_stream_gives_the_same_rows_as_the_list_it_replaces(
        kql: str) -> None:
    sql = str(duckdb_kql.to_sql(kql))
    rewritten = streaming_ranges(sql)
    assert "UNNEST(generate_series" not in rewritten
    con = duckdb_kql.connect()
    try:
        assert con.execute(rewritten).fetchall() == con.execute(sql).fetchall()
    finally:
        con.close()


def test_a_range_with_a_parameter_is_read_as_a_stream(backend: EmbeddedBackend) -> None:
    sink = CollectSink()
    backend.execute(KustoRequest("Samples", "declare query_parameters(n:long); "
                                            "range x from 1 to n step 2",
                                 {"n": ("long", 7)}, timeout=30), sink)
    assert sink.primary is not None
    assert [row["x"] for row in sink.primary.rows] == [1, 3, 5, 7]


def test_sql_of_any_other_shape_is_left_exactly_as_it_was() -> None:
    for sql in ['SELECT UNNEST(generate_series(1, 5, 1)) AS "x", 2 AS "y"',
                "SELECT UNNEST(generate_series(1, 5)) AS \"x\"",
                "SELECT UNNEST(generate_series(1, ')', 1)) FROM t",
                'SELECT "generate_series" FROM generate_series(1, 5, 1)']:
        assert streaming_ranges(sql) == sql


def test_an_embedded_query_then_exit_does_not_abort_the_interpreter() -> None:
    # The deadline's watcher thread used to hold the last reference to the duckdb
    # connection; destroyed by that thread during interpreter exit it aborted the
    # process ("FATAL: exception not rethrown"), in about half the runs.
    script = (
        "from shared.kusto.backend import KustoRequest\n"
        "from shared.kusto.embedded import EmbeddedBackend\n"
        "from shared.kusto.reader import CollectSink\n"
        "EmbeddedBackend().execute(KustoRequest('Samples', 'print x = 1', timeout=5),"
        " CollectSink())\n")
    runs = [subprocess.Popen([sys.executable, "-c", script], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for _ in range(4)]
    for process in runs:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err.decode(errors="replace")


# ---------------------------------------------------------------------- mail subject


def test_a_1_mb_subject_fails_the_mail_step_quickly_naming_the_field(tmp_path: Path) -> None:
    path = write_flow(tmp_path, "mail", """\
        steps:
          - {id: mail, action: email.send, to: a@contoso.com,
             subject: "{{ trigger.body.subject }}", body: hello}
        """)
    started = time.monotonic()
    run = run_flow_file(path, settings_for(tmp_path), body={"subject": "é" * 1_000_000})
    assert time.monotonic() - started < 10
    step = run.steps[0]
    assert step.status == StepStatus.FAILED
    assert step.error is not None and step.error.code == "InvalidInput"
    assert step.error.message == ("field 'subject' is 1,000,000 characters; at most 998 are "
                                  "accepted")
    assert "body" in step.error.hint
    assert not (tmp_path / "outbox").exists() or not any((tmp_path / "outbox").iterdir())


def test_a_subject_of_998_characters_is_still_sent(tmp_path: Path) -> None:
    path = write_flow(tmp_path, "mail", """\
        steps:
          - {id: mail, action: email.send, to: a@contoso.com,
             subject: "{{ trigger.body.subject }}", body: hello}
        """)
    run = run_flow_file(path, settings_for(tmp_path), body={"subject": "s" * MAX_SUBJECT_CHARS})
    assert run.status == RunStatus.SUCCEEDED


def test_acs_delivery_refuses_a_long_subject_before_sending() -> None:
    message = EmailMessage("from@contoso.com", ["a@contoso.com"], "s" * 5_000, "<p>x</p>", "x")
    with pytest.raises(StepInputError, match="field 'subject' is 5,000 characters"):
        fit_attachments(message)
