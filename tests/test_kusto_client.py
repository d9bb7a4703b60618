"""The Kusto path through the real azure-kusto-data client against `duckdb-kql
serve` on 127.0.0.1: time-outs, syntax errors, a server that is down, the record
and byte limits, and an injection attempt that reaches Kusto only as a parameter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shared.results import RunStatus, StepStatus
from tests.helpers import run_flow_file, settings_for, write_flow


def server_flow(tmp_path: Path, url: str, text: str) -> Path:
    return write_flow(tmp_path, "f", text,
                      connections=f'local: {{cluster: "{url}", database: Samples}}\n')


def test_a_slow_query_times_out_with_the_connectors_advice(tmp_path: Path,
                                                           kusto_server: Any) -> None:
    path = server_flow(tmp_path, kusto_server.url, """\
        limits: {request_timeout: 1s}
        steps:
          - id: slow
            action: kusto.query
            connection: local
            query: |
              range a from 1 to 100000 step 1
              | extend k = 1
              | join kind=inner (range b from 1 to 100000 step 1 | extend k = 1) on k
              | summarize count()
        """)
    run = run_flow_file(path, settings_for(tmp_path))
    step = run.steps[0]
    assert step.status == StepStatus.TIMED_OUT
    assert step.error is not None and step.error.code == "RequestTimeout"
    assert "1 s time-out" in step.error.message
    assert "chunks" in step.error.hint


def test_a_syntax_error_is_a_query_error(tmp_path: Path, kusto_server: Any) -> None:
    path = server_flow(tmp_path, kusto_server.url, """\
        steps:
          - {id: q, action: kusto.query, connection: local, query: "StormEvents | | count"}
        """)
    run = run_flow_file(path, settings_for(tmp_path))
    error = run.steps[0].error
    assert error is not None and error.code == "KustoQueryError"
    assert "could not parse KQL" in error.message


def test_a_server_that_is_down_is_retried_then_reported_unavailable(
        tmp_path: Path, stopped_kusto_url: str) -> None:
    path = server_flow(tmp_path, stopped_kusto_url, """\
        steps:
          - {id: q, action: kusto.query, connection: local, query: "StormEvents | count"}
        """)
    run = run_flow_file(path, settings_for(tmp_path))
    error = run.steps[0].error
    assert run.status == RunStatus.FAILED
    assert error is not None and error.code == "KustoUnavailable"
    assert "did not answer after 4 attempts" in error.message


def test_the_record_limit_stops_reading_and_fails_the_step(tmp_path: Path,
                                                           kusto_server: Any) -> None:
    path = server_flow(tmp_path, kusto_server.url, """\
        limits: {max_records: 1000}
        steps:
          - {id: q, action: kusto.visualize, connection: local, query: "StormEvents"}
        """)
    run = run_flow_file(path, settings_for(tmp_path))
    error = run.steps[0].error
    assert error is not None and error.code == "LimitExceeded"
    assert "more than 1,000 records" in error.message


def test_the_byte_limit_stops_reading_and_fails_the_step(tmp_path: Path,
                                                         kusto_server: Any) -> None:
    path = server_flow(tmp_path, kusto_server.url, """\
        limits: {max_bytes: 10KB}
        steps:
          - {id: q, action: kusto.query, connection: local, query: "StormEvents"}
        """)
    run = run_flow_file(path, settings_for(tmp_path))
    error = run.steps[0].error
    assert error is not None and error.code == "LimitExceeded"
    assert "larger than" in error.message


def test_an_injection_attempt_reaches_kusto_only_as_a_parameter(tmp_path: Path,
                                                                kusto_server: Any) -> None:
    path = server_flow(tmp_path, kusto_server.url, """\
        trigger: {webhook: true}
        steps:
          - id: q
            action: kusto.query
            connection: local
            query: |
              declare query_parameters(state:string);
              StormEvents | where State == state | count
            parameters: {state: "{{ trigger.body.state }}"}
          - {id: still_there, action: kusto.query, connection: local,
             query: "StormEvents | count"}
        """)
    attack = 'x"; .drop table StormEvents; StormEvents | where State == "'
    run = run_flow_file(path, settings_for(tmp_path), body={"state": attack})
    assert run.status == RunStatus.SUCCEEDED, run.to_dict()
    assert run.steps[0].outputs["rows"] == [{"Count": 0}]
    assert run.steps[1].outputs["rows"] == [{"Count": 5000}]


def test_typed_parameters_filter_on_the_server(tmp_path: Path, kusto_server: Any) -> None:
    path = server_flow(tmp_path, kusto_server.url, """\
        steps:
          - id: q
            action: kusto.query
            connection: local
            query: |
              declare query_parameters(since:datetime, span:timespan, min_lat:real,
                                       states:dynamic, severe:bool);
              StormEvents
              | where StartTime between (since .. (since + span)) and BeginLat > min_lat
              | where State in (states) and (DeathsDirect > 0) == severe
              | count
            parameters:
              since: "2007-06-01T00:00:00Z"
              span: 30d
              min_lat: 30.5
              states: ["TEXAS", "KANSAS"]
              severe: false
          - id: same_literal
            action: kusto.query
            connection: local
            query: |
              StormEvents
              | where StartTime between (datetime(2007-06-01) .. (datetime(2007-06-01) + 30d))
                and BeginLat > 30.5
              | where State in ("TEXAS", "KANSAS") and (DeathsDirect > 0) == false
              | count
        """)
    run = run_flow_file(path, settings_for(tmp_path))
    assert run.status == RunStatus.SUCCEEDED, run.to_dict()
    count = run.steps[0].outputs["rows"][0]["Count"]
    assert count == run.steps[1].outputs["rows"][0]["Count"]
    assert 0 < count < 5000
