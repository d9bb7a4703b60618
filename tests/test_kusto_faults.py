"""What a flow does when the network between it and Kusto fails, through the real
azure-kusto-data client, `tests.fault_proxy` and `duckdb-kql serve`.

A control command is not idempotent: a `.set-or-append` that ran and whose answer
was lost appends its rows again if it is re-sent. So a command is re-sent only when
it provably never reached the service (connection refused, or a 429 the service
gives before running anything); a query is retried on 5xx, throttling and broken
connections. A client read time-out means the server is past its own
`servertimeout`: it ends the step with `RequestTimeout` after one send, for queries
and commands alike, instead of being re-sent until the retries run out.

The module has its own server (the writes stay out of the session's sample
database) and one proxy in front of it; each test writes to a table of its own and
counts that table's rows straight on the server, past the proxy.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.kusto.data import KustoClient, KustoConnectionStringBuilder

from shared.results import RunStatus, StepStatus
from tests.fault_proxy import FaultProxy
from tests.fixtures_kusto import start_kusto_server, stop_kusto_server
from tests.helpers import run_flow_file, settings_for, write_flow

DB = "Samples"
#: servertimeout 2 s + 1 s of client grace: the SDK's read time-out is 3 s.
GRACE = 1.0
#: Before the fix, a 2 s request_timeout behind a silent server took 15.5 s (four
#: sends and the backoff between them); one send is about 3 s.
ONE_SEND_BOUND = 10.0


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    process, url = start_kusto_server()
    try:
        yield url
    finally:
        stop_kusto_server(process)


@pytest.fixture(scope="module")
def direct(server_url: str) -> Iterator[KustoClient]:
    """A client on the server itself, past the proxy: what really happened."""
    client = KustoClient(KustoConnectionStringBuilder.with_no_authentication(server_url))
    yield client
    client.close()


@pytest.fixture(scope="module")
def module_proxy(server_url: str) -> Iterator[FaultProxy]:
    with FaultProxy(server_url, lifetime=300) as started:
        yield started


@pytest.fixture
def proxy(module_proxy: FaultProxy) -> Iterator[FaultProxy]:
    module_proxy.reset()
    yield module_proxy
    module_proxy.reset()


def rows_in(direct: KustoClient, table: str) -> int:
    tables = direct.execute_mgmt(DB, ".show tables").primary_results[0]
    if table not in [row["TableName"] for row in tables]:
        return 0
    return int(direct.execute_query(DB, f"{table} | count").primary_results[0][0][0])


def flow_through(tmp_path: Path, url: str, step: str) -> Path:
    return write_flow(tmp_path, "f", f"limits: {{request_timeout: 2s}}\nsteps:\n{step}",
                      connections=f'faulty: {{cluster: "{url}", database: {DB}}}\n')


def run_command(tmp_path: Path, url: str, table: str) -> tuple[Any, float]:
    path = flow_through(tmp_path, url, f"""\
  - id: append
    action: kusto.command
    connection: faulty
    command: ".set-or-append {table} <| print Job = 'faults', RowCount = 1"
""")
    started = time.monotonic()
    run = run_flow_file(path, settings_for(tmp_path, kusto_client_grace_seconds=GRACE))
    return run, time.monotonic() - started


def run_query(tmp_path: Path, url: str,
              query: str = "StormEvents | where State == 'TEXAS' | count") -> tuple[Any, float]:
    path = flow_through(tmp_path, url, f"""\
  - id: q
    action: kusto.query
    connection: faulty
    query: "{query}"
""")
    started = time.monotonic()
    run = run_flow_file(path, settings_for(tmp_path, kusto_client_grace_seconds=GRACE))
    return run, time.monotonic() - started


def texas(direct: KustoClient) -> int:
    return int(direct.execute_query(
        DB, "StormEvents | where State == 'TEXAS' | count").primary_results[0][0][0])


def assert_may_have_run(error: Any) -> None:
    assert "may have run" in error.message
    assert "it was not re-sent" in error.message
    assert "check" in error.hint and "before running it again" in error.hint


# -- commands ---------------------------------------------------------------------


def test_a_command_answered_503_after_it_ran_appends_once_and_says_to_check_first(
        tmp_path: Path, proxy: FaultProxy, direct: KustoClient) -> None:
    proxy.inject("503-after")  # only the first send: a re-send would pass and append
    run, _ = run_command(tmp_path, proxy.url, "After503")
    step = run.steps[0]
    assert run.status == RunStatus.FAILED
    assert step.error is not None and step.error.code == "KustoUnavailable"
    assert "HTTP 503" in step.error.message
    assert_may_have_run(step.error)
    assert proxy.forwarded == 1
    assert rows_in(direct, "After503") == 1


def test_a_command_answered_late_times_out_after_one_send(
        tmp_path: Path, proxy: FaultProxy, direct: KustoClient) -> None:
    proxy.inject("late", times=5, hold=30)
    run, took = run_command(tmp_path, proxy.url, "Late")
    step = run.steps[0]
    assert step.status == StepStatus.TIMED_OUT
    assert step.error is not None and step.error.code == "RequestTimeout"
    assert "2 s time-out" in step.error.message
    assert_may_have_run(step.error)
    assert "chunks" in step.error.hint  # the connector's advice
    assert (proxy.connections, proxy.forwarded) == (1, 1)
    assert rows_in(direct, "Late") == 1
    assert took < ONE_SEND_BOUND


def test_a_command_cut_off_mid_answer_is_not_resent(
        tmp_path: Path, proxy: FaultProxy, direct: KustoClient) -> None:
    proxy.inject("drop")
    run, _ = run_command(tmp_path, proxy.url, "Dropped")
    error = run.steps[0].error
    assert error is not None and error.code == "KustoUnavailable"
    assert_may_have_run(error)
    assert proxy.forwarded == 1
    assert rows_in(direct, "Dropped") == 1


def test_a_command_whose_connection_closes_unread_is_not_resent_as_it_cannot_know(
        tmp_path: Path, proxy: FaultProxy, direct: KustoClient) -> None:
    # The proxy closed before reading; the client only sees a connection aborted
    # after it sent, which is what a server that ran it and crashed looks like too.
    proxy.inject("refuse")
    run, _ = run_command(tmp_path, proxy.url, "Refused")
    error = run.steps[0].error
    assert error is not None and error.code == "KustoUnavailable"
    assert_may_have_run(error)
    assert (proxy.connections, proxy.forwarded) == (1, 0)
    assert rows_in(direct, "Refused") == 0


def test_a_throttled_command_is_retried_and_appends_once(
        tmp_path: Path, proxy: FaultProxy, direct: KustoClient) -> None:
    proxy.inject("throttle")
    run, _ = run_command(tmp_path, proxy.url, "Throttled")
    assert run.status == RunStatus.SUCCEEDED, run.to_dict()
    assert (proxy.connections, proxy.forwarded) == (2, 1)
    assert rows_in(direct, "Throttled") == 1


def test_a_command_to_a_server_that_is_down_is_retried_then_reported_unavailable(
        tmp_path: Path, stopped_kusto_url: str) -> None:
    run, _ = run_command(tmp_path, stopped_kusto_url, "Down")
    error = run.steps[0].error
    assert error is not None and error.code == "KustoUnavailable"
    assert "did not answer after 4 attempts" in error.message


def test_a_command_that_passes_the_proxy_appends_once(
        tmp_path: Path, proxy: FaultProxy, direct: KustoClient) -> None:
    run, _ = run_command(tmp_path, proxy.url, "Passed")
    assert run.status == RunStatus.SUCCEEDED, run.to_dict()
    assert (proxy.connections, proxy.forwarded) == (1, 1)
    assert rows_in(direct, "Passed") == 1


# -- queries ----------------------------------------------------------------------


def test_a_query_answered_503_once_is_retried_and_succeeds(
        tmp_path: Path, proxy: FaultProxy, direct: KustoClient) -> None:
    proxy.inject("503-after")
    run, _ = run_query(tmp_path, proxy.url)
    assert run.status == RunStatus.SUCCEEDED, run.to_dict()
    assert run.steps[0].outputs["rows"] == [{"Count": texas(direct)}]
    assert proxy.forwarded == 2


def test_a_query_answered_late_times_out_after_one_send_in_seconds(
        tmp_path: Path, proxy: FaultProxy) -> None:
    proxy.inject("late", times=5, hold=30)
    run, took = run_query(tmp_path, proxy.url)
    step = run.steps[0]
    assert step.status == StepStatus.TIMED_OUT
    assert step.error is not None and step.error.code == "RequestTimeout"
    assert "2 s time-out" in step.error.message
    assert "chunks" in step.error.hint
    assert (proxy.connections, proxy.forwarded) == (1, 1)
    assert took < ONE_SEND_BOUND


def test_a_query_cut_off_before_any_row_arrived_is_retried_and_read_once(
        tmp_path: Path, proxy: FaultProxy, direct: KustoClient) -> None:
    proxy.inject("drop", keep=20)  # inside the first frame: no row reached the step
    run, _ = run_query(tmp_path, proxy.url)
    assert run.status == RunStatus.SUCCEEDED, run.to_dict()
    assert run.steps[0].outputs["rows"] == [{"Count": texas(direct)}]
    assert proxy.forwarded == 2


def test_a_query_cut_off_after_its_rows_arrived_is_not_retried_so_no_row_is_read_twice(
        tmp_path: Path, proxy: FaultProxy) -> None:
    # Rows reach the step 5,000 at a time, and the reader reads 64 KB at a time
    # (urllib3 reports the short body on the read that reaches its end): 20,000
    # rows are ~200 KB, so some batches are in before the cut shows.
    proxy.inject("drop", keep=-10)
    run, _ = run_query(tmp_path, proxy.url, "range x from 1 to 20000 step 1")
    error = run.steps[0].error
    assert error is not None and error.code == "KustoUnavailable"
    assert "rows from" in error.message and "had been read; not retried" in error.message
    assert proxy.forwarded == 1


def test_a_query_whose_connection_closes_unread_is_retried(
        tmp_path: Path, proxy: FaultProxy, direct: KustoClient) -> None:
    proxy.inject("refuse", times=2)
    run, _ = run_query(tmp_path, proxy.url)
    assert run.status == RunStatus.SUCCEEDED, run.to_dict()
    assert run.steps[0].outputs["rows"] == [{"Count": texas(direct)}]
    assert (proxy.connections, proxy.forwarded) == (3, 1)


def test_a_query_that_keeps_failing_with_503_is_reported_unavailable_after_four_sends(
        tmp_path: Path, proxy: FaultProxy) -> None:
    proxy.inject("503-after", times=10)
    run, _ = run_query(tmp_path, proxy.url)
    error = run.steps[0].error
    assert error is not None and error.code == "KustoUnavailable"
    assert "did not answer after 4 attempts" in error.message
    assert proxy.forwarded == 4
