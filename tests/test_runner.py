"""The runner on the embedded default: conditions, foreach (sequential and
bounded-concurrent), run_after after a failure, the whole-run deadline, template
errors failing their step, and observers that never change a run's outcome."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from shared.results import RunStatus, StepStatus
from tests.helpers import registry_running, run_flow_file, settings_for, write_flow


def statuses(run: Any) -> dict[str, str]:
    return {s.path: str(s.status) for s in run.steps}


def test_a_condition_runs_the_branch_its_expression_chooses(tmp_path: Path) -> None:
    path = write_flow(tmp_path, "f", """\
        steps:
          - id: q
            action: kusto.query
            connection: samples
            query: StormEvents | where State == "TEXAS" | count
          - id: check
            action: condition
            if: steps.q.rows[0].Count > 100
            then:
              - id: big
                action: kusto.query
                connection: samples
                query: print x = 1
            else:
              - id: small
                action: kusto.query
                connection: samples
                query: print x = 2
        """)
    run = run_flow_file(path, settings_for(tmp_path))
    assert run.status == RunStatus.SUCCEEDED
    assert statuses(run) == {"q": "Succeeded", "check": "Succeeded",
                             "check.then.big": "Succeeded"}
    assert run.steps[1].outputs == {"result": True, "branch": "then"}


def test_foreach_gives_each_item_and_loop_index_to_its_steps(tmp_path: Path) -> None:
    path = write_flow(tmp_path, "f", """\
        steps:
          - id: q
            action: kusto.query
            connection: samples
            query: |
              StormEvents | summarize n = count() by State | order by n desc | take 3
          - id: each
            action: foreach
            items: steps.q.rows
            steps:
              - id: per_state
                action: kusto.query
                connection: samples
                query: |
                  declare query_parameters(state:string, i:long);
                  StormEvents | where State == state | summarize c = count() | extend i = i
                parameters: {state: "{{ item.State }}", i: "{{ loop.index }}"}
        """)
    run = run_flow_file(path, settings_for(tmp_path))
    assert run.status == RunStatus.SUCCEEDED, run.to_dict()
    states = [row["State"] for row in run.steps[0].outputs["rows"]]
    per_state = [s for s in run.steps if s.path.startswith("each[")]
    assert [s.path for s in per_state] == [f"each[{i}].per_state" for i in range(3)]
    counts = {r["State"]: r["n"] for r in run.steps[0].outputs["rows"]}
    for index, step in enumerate(per_state):
        assert step.outputs["rows"] == [{"c": counts[states[index]], "i": index + 1}]


def test_foreach_concurrency_runs_iterations_at_once_but_bounded(tmp_path: Path) -> None:
    from shared.steps import StepOutcome

    active, peak, lock = 0, 0, threading.Lock()

    def slow(step: Any, inputs: dict[str, Any], ctx: Any) -> StepOutcome:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.05)
        with lock:
            active -= 1
        return StepOutcome({"i": inputs["subject"]})

    path = write_flow(tmp_path, "f", """\
        vars: {items: [1, 2, 3, 4, 5, 6, 7, 8]}
        steps:
          - id: each
            action: foreach
            items: vars['items']
            concurrency: 3
            steps:
              - id: work
                action: email.send
                to: a@contoso.com
                subject: "{{ item }}"
                body: x
        """)
    run = run_flow_file(path, settings_for(tmp_path),
                        registry=registry_running("email.send", slow))
    assert run.status == RunStatus.SUCCEEDED
    assert peak == 3
    assert sorted(s.outputs["i"] for s in run.steps if s.path.endswith("work")) == \
        list(range(1, 9))


def test_after_a_failure_later_steps_are_skipped_unless_they_run_after_failed(
        tmp_path: Path) -> None:
    path = write_flow(tmp_path, "f", """\
        steps:
          - id: broken
            action: kusto.query
            connection: samples
            query: NoSuchTable | count
          - id: report
            action: kusto.query
            connection: samples
            query: print x = 1
          - id: tell_someone
            action: email.send
            run_after: [failed]
            to: ops@contoso.com
            subject: "failed"
            body: "<p>{{ run.flow }} failed</p>"
          - id: always
            action: kusto.query
            run_after: [succeeded, failed]
            connection: samples
            query: print x = 1
        """)
    run = run_flow_file(path, settings_for(tmp_path))
    assert statuses(run) == {"broken": "Failed", "report": "Skipped",
                             "tell_someone": "Succeeded", "always": "Succeeded"}
    assert run.status == RunStatus.FAILED
    assert run.error is not None
    assert run.error.code == "KustoQueryError"
    assert run.error.step == "broken"
    assert "NoSuchTable" in run.error.message
    assert list((tmp_path / "outbox").glob("*.eml"))


def test_a_template_error_fails_its_step_naming_the_field_and_name(tmp_path: Path) -> None:
    path = write_flow(tmp_path, "f", """\
        steps:
          - id: q
            action: kusto.query
            connection: samples
            query: print x = 1
          - id: mail
            action: email.send
            to: a@contoso.com
            subject: "{{ steps.q.rowcount }}"
            body: x
        """)
    run = run_flow_file(path, settings_for(tmp_path))
    failed = run.steps[1]
    assert failed.status == StepStatus.FAILED
    assert failed.error is not None and failed.error.code == "TemplateError"
    assert "field 'subject'" in failed.error.message
    assert "rowcount" in failed.error.message


def test_the_whole_run_deadline_stops_the_flow_cleanly(tmp_path: Path) -> None:
    from shared.steps import StepOutcome

    def sleepy(step: Any, inputs: dict[str, Any], ctx: Any) -> StepOutcome:
        time.sleep(0.3)
        return StepOutcome({})

    path = write_flow(tmp_path, "f", """\
        steps:
          - {id: one, action: email.send, to: a@contoso.com, subject: s, body: b}
          - {id: two, action: email.send, to: a@contoso.com, subject: s, body: b}
          - {id: three, action: email.send, to: a@contoso.com, subject: s, body: b}
        """)
    run = run_flow_file(path, settings_for(tmp_path, run_deadline_seconds=0.2),
                        registry=registry_running("email.send", sleepy))
    assert statuses(run) == {"one": "Succeeded", "two": "TimedOut", "three": "Skipped"}
    assert run.status == RunStatus.TIMED_OUT
    assert run.error is not None and run.error.code == "RunTimedOut"


def test_a_failing_observer_never_changes_the_runs_outcome(tmp_path: Path) -> None:
    class Broken:
        def __getattr__(self, name: str) -> Any:
            def fail(*args: Any) -> None:
                raise RuntimeError("store down")
            return fail

    path = write_flow(tmp_path, "f", """\
        steps:
          - {id: q, action: kusto.query, connection: samples, query: print x = 1}
        """)
    run = run_flow_file(path, settings_for(tmp_path), observers=[Broken()])
    assert run.status == RunStatus.SUCCEEDED


def test_a_parameter_of_the_wrong_type_fails_the_step_with_a_clear_message(
        tmp_path: Path) -> None:
    path = write_flow(tmp_path, "f", """\
        steps:
          - id: q
            action: kusto.query
            connection: samples
            query: |
              declare query_parameters(n:long);
              StormEvents | where InjuriesDirect > n | count
            parameters: {n: "{{ trigger.body.n }}"}
        """)
    run = run_flow_file(path, settings_for(tmp_path), body={"n": "lots"})
    error = run.steps[0].error
    assert error is not None and error.code == "InvalidInput"
    assert error.message == "parameter 'n' is declared long, but the value is 'lots'"


def test_the_record_limit_fails_the_step_instead_of_truncating(tmp_path: Path) -> None:
    path = write_flow(tmp_path, "f", """\
        limits: {max_records: 100}
        steps:
          - {id: q, action: kusto.query, connection: samples, query: StormEvents | take 500}
        """)
    run = run_flow_file(path, settings_for(tmp_path))
    error = run.steps[0].error
    assert error is not None and error.code == "LimitExceeded"
    assert "more than 100 records" in error.message
    assert "summarize" in error.hint
    assert run.steps[0].outputs == {}
