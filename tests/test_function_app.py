"""`function_app.py`, as the Functions host sees it: the functions it registers and what
its handlers answer.

Why: the func host cannot be installed here, so these tests use the azure-functions
library itself: `app.get_functions()` lists what the host would index (names, trigger
types, schedules, routes, auth levels), and the handlers are called with real
`azure.functions.HttpRequest` and `TimerRequest` objects. Each test builds a fresh app
(get_functions() may be called only once per app object).
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest

import function_app
from shared.settings import Settings
from shared.timers import timer_function_name
from tests.helpers import write_flow

ROOT = Path(__file__).resolve().parents[1]


def settings_for(tmp_path: Path, flows: Path, **env: str) -> Settings:
    return Settings.from_env({"FLOWS_DIR": str(flows), "STATE_DIR": str(tmp_path / "state"),
                              "OUTBOX_DIR": str(tmp_path / "outbox"), **env})


def example_flows(tmp_path: Path) -> Path:
    folder = tmp_path / "flows"
    shutil.copytree(ROOT / "flows", folder)
    return folder


def functions_of(app: func.FunctionApp) -> dict[str, Any]:
    return {f.get_function_name(): f for f in app.get_functions()}


def call(functions: dict[str, Any], name: str, method: str = "GET", body: bytes = b"",
         route_params: dict[str, str] | None = None, params: dict[str, str] | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, Any]:
    request = func.HttpRequest(method, "https://app.example/api/x", body=body,
                               route_params=route_params or {}, params=params or {},
                               headers=headers or {})
    response = functions[name].get_user_function()(request)
    text = response.get_body().decode()
    return response.status_code, json.loads(text) if text else None


def test_every_scheduled_example_flow_gets_its_own_timer_and_every_route_needs_a_key(
        tmp_path: Path) -> None:
    app = function_app.create_app(settings_for(tmp_path, example_flows(tmp_path)))
    functions = functions_of(app)
    timers = {name: f.get_trigger().schedule for name, f in functions.items()
              if f.get_trigger().get_binding_name() == "timerTrigger"}
    assert timers == {
        "flow_nightly_joblog": "0 30 2 * * *",
        "flow_storm_alert": "0 */5 * * * *",
        "flow_storm_daily_report": "0 0 7 * * *",
        "flow_storm_daily_to_sql": "0 15 3 * * *",
        "flow_storm_damage_alert": "0 0 0 * * *",
        "flow_storm_event_types_pie": "0 0 9 1 * *",
        # Mondays 08:00 Europe/Paris: 06:00 UTC in summer, 07:00 UTC in winter.
        "flow_storm_hourly_timechart": "0 0 6,7 * * 1",
        "flow_storm_weekly_csv_link": "0 0 8 * * 1",
        "cleanup_run_history": "0 30 3 * * *",
    }
    queues = {name: f.get_trigger().queue_name for name, f in functions.items()
              if f.get_trigger().get_binding_name() == "queueTrigger"}
    assert queues == {"run_queued_flow": "flow-runs", "record_poisoned_run": "flow-runs-poison"}
    for name, f in functions.items():
        trigger = f.get_trigger()
        if trigger.get_binding_name() == "timerTrigger":
            assert trigger.run_on_startup is False, name
            continue
        if trigger.get_binding_name() == "queueTrigger":
            assert trigger.connection == "AzureWebJobsStorage", name
            continue
        assert trigger.get_binding_name() == "httpTrigger"
        assert trigger.auth_level == func.AuthLevel.FUNCTION, name
    routes = {(f.get_trigger().route, tuple(f.get_trigger().methods))
              for f in functions.values() if f.get_trigger().get_binding_name() == "httpTrigger"}
    assert ("flows/{name}/run", (func.HttpMethod.POST,)) in routes
    assert ("flows/{name}/runs", (func.HttpMethod.GET,)) in routes
    assert {r for r, _ in routes} >= {"health", "flows", "flows/{name}/run", "flows/{name}/runs",
                                     "runs/{flow}/{run_id}", "runs/{flow}/{run_id}/resubmit",
                                     "pages/flows"}


def test_function_names_are_stable_and_valid_for_the_portal() -> None:
    assert timer_function_name("storm-daily-report") == "flow_storm_daily_report"
    assert timer_function_name("a1-b2") == "flow_a1_b2"


def test_a_disabled_flow_and_a_webhook_only_flow_get_no_timer(tmp_path: Path) -> None:
    folder = tmp_path / "flows"
    write_flow(folder, "off", """
        enabled: false
        trigger: {schedule: "0 0 7 * * *"}
        steps: [{id: q, action: kusto.query, connection: samples, query: StormEvents | count}]
    """)
    write_flow(folder, "hook", """
        trigger: {webhook: true}
        steps: [{id: q, action: kusto.query, connection: samples, query: StormEvents | count}]
    """)
    functions = functions_of(function_app.create_app(settings_for(tmp_path, folder)))
    assert "flow_off" not in functions and "flow_hook" not in functions
    assert "run_flow_webhook" in functions


def test_a_broken_flow_file_does_not_take_the_app_down(tmp_path: Path) -> None:
    folder = example_flows(tmp_path)
    (folder / "broken.yaml").write_text(
        "trigger: {schedule: 'every morning'}\n"
        "steps: [{id: q, action: kusto.query, connection: samples, query: StormEvents}]\n")
    functions = functions_of(function_app.create_app(settings_for(tmp_path, folder)))
    assert "flow_storm_daily_report" in functions
    status, body = call(functions, "list_flows")
    assert status == 200
    broken = next(f for f in body["flows"] if f["name"] == "broken")
    assert broken["valid"] is False
    assert any("schedule" in problem for problem in broken["problems"])
    daily = next(f for f in body["flows"] if f["name"] == "storm-daily-report")
    assert daily["valid"] is True
    assert daily["schedule"]["words"] == "every day at 07:00"
    assert len(daily["schedule"]["next"]) == 3
    assert daily["webhook_url"] == "https://app.example/api/flows/storm-daily-report/run"


def test_a_portal_schedule_override_replaces_the_file_schedule(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, example_flows(tmp_path),
                            FLOW_SCHEDULE__storm_daily_report="0 15 6 * * 1-5")
    functions = functions_of(function_app.create_app(settings))
    assert functions["flow_storm_daily_report"].get_trigger().schedule == "0 15 6 * * 1-5"


def test_an_invalid_override_is_logged_and_the_file_schedule_kept(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = settings_for(tmp_path, example_flows(tmp_path),
                            FLOW_SCHEDULE__storm_daily_report="at dawn")
    with caplog.at_level(logging.ERROR):
        functions = functions_of(function_app.create_app(settings))
    assert functions["flow_storm_daily_report"].get_trigger().schedule == "0 0 7 * * *"
    assert "FLOW_SCHEDULE__storm_daily_report" in caplog.text


def test_the_webhook_runs_the_flow_on_the_embedded_default_and_answers_its_run(
        tmp_path: Path) -> None:
    functions = functions_of(function_app.create_app(
        settings_for(tmp_path, example_flows(tmp_path))))
    status, body = call(functions, "run_flow_webhook", "POST",
                        json.dumps({"state": "TEXAS", "min_events": 2}).encode(),
                        route_params={"name": "storm-state-report"})
    assert status == 200
    assert body["status"] == "Succeeded"
    assert [s["path"] for s in body["steps"]] == ["events", "mail"]
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 1
    status, history = call(functions, "list_flow_runs", route_params={"name":
                                                                      "storm-state-report"})
    assert status == 200 and history["runs"][0]["run_id"] == body["run_id"]
    assert history["runs"][0]["trigger"] == "webhook"


def test_the_query_string_reaches_the_flow_but_the_function_key_does_not(
        tmp_path: Path) -> None:
    folder = tmp_path / "flows"
    write_flow(folder, "echo", """
        trigger: {webhook: true}
        steps:
          - id: mail
            action: email.send
            to: [ops@contoso.com]
            subject: "query {{ trigger.query | dictsort }}"
            body: x
    """)
    functions = functions_of(function_app.create_app(settings_for(tmp_path, folder)))
    status, body = call(functions, "run_flow_webhook", "POST", route_params={"name": "echo"},
                        params={"code": "the-function-key", "state": "TEXAS"})
    assert status == 200 and body["status"] == "Succeeded"
    [mail] = (tmp_path / "outbox").glob("*.eml")
    text = mail.read_text(encoding="utf-8")
    assert "TEXAS" in text
    assert "the-function-key" not in text


def test_webhook_errors_are_plain_http_answers(tmp_path: Path) -> None:
    functions = functions_of(function_app.create_app(settings_for(
        tmp_path, example_flows(tmp_path), WEBHOOK_MAX_BODY_BYTES="100")))
    status, body = call(functions, "run_flow_webhook", "POST", b"{}",
                        route_params={"name": "no-such-flow"})
    assert status == 404 and body["error"]["code"] == "FlowNotFound"
    status, body = call(functions, "run_flow_webhook", "POST", b"{}",
                        route_params={"name": "storm-alert"})
    assert status == 403 and body["error"]["code"] == "WebhookDisabled"
    assert "webhook: true" in body["error"]["hint"]
    status, body = call(functions, "run_flow_webhook", "POST", b"{not json",
                        route_params={"name": "storm-state-report"})
    assert status == 400 and body["error"]["message"].startswith("Invalid JSON in request body")
    status, body = call(functions, "run_flow_webhook", "POST", b'{"state": "' + b"x" * 200
                        + b'"}', route_params={"name": "storm-state-report"})
    assert status == 413 and body["error"]["code"] == "BodyTooLarge"


def test_malformed_webhook_bodies_are_400s_with_a_reason_never_500s(tmp_path: Path) -> None:
    functions = functions_of(function_app.create_app(settings_for(
        tmp_path, example_flows(tmp_path))))
    bodies = {b"[" * 100_000 + b"]" * 100_000: "nested too deeply",
              b'{"n": ' + b"9" * 5000 + b"}": "digits",
              b"\xff\xfe{}": "Invalid JSON",
              b'{"a": 1,}': "Invalid JSON"}
    for body, reason in bodies.items():
        status, answer = call(functions, "run_flow_webhook", "POST", body,
                              route_params={"name": "storm-state-report"})
        assert status == 400, body[:20]
        assert answer["error"]["code"] == "InvalidJson"
        assert reason in answer["error"]["message"]


def test_runs_started_over_http_end_before_azure_cuts_the_response(tmp_path: Path) -> None:
    """Azure answers an HTTP trigger at 230 s at the latest: a webhook run (and what is
    chained after it) gets at most HTTP_RUN_SECONDS, whatever RUN_DEADLINE_SECONDS says."""
    from shared.api.http import HTTP_RUN_SECONDS
    from shared.runner import Runner

    seen: list[float] = []
    original = Runner.run

    def spy(self: Runner, flow: Any, trigger: Any = None, **kwargs: Any) -> Any:
        import time

        seen.append(kwargs["deadline"] - time.monotonic())
        return original(self, flow, trigger, **kwargs)

    functions = functions_of(function_app.create_app(settings_for(
        tmp_path, example_flows(tmp_path), RUN_DEADLINE_SECONDS="540")))
    Runner.run = spy  # type: ignore[method-assign]
    try:
        status, _ = call(functions, "run_flow_webhook", "POST", b'{"state": "TEXAS"}',
                         route_params={"name": "storm-state-report"})
    finally:
        Runner.run = original  # type: ignore[method-assign]
    assert status == 200
    assert len(seen) == 1 and HTTP_RUN_SECONDS - 5 < seen[0] <= HTTP_RUN_SECONDS < 230


def test_settings_never_show_connection_strings_or_app_settings_in_repr() -> None:
    secret = "AccountKey=c2VjcmV0LXRoYXQtbXVzdC1ub3QtbGVhaw=="
    settings = Settings.from_env({"ACS_CONNECTION_STRING": f"endpoint=https://x/;{secret}",
                                  "RUNS_TABLE_CONNECTION_STRING": f"DefaultEndpoints;{secret}",
                                  "PARTNER_KUSTO_SECRET": secret})
    assert settings.secret("PARTNER_KUSTO_SECRET") == secret
    for text in (repr(settings), str(settings)):
        assert secret not in text and "c2VjcmV0" not in text


def test_relative_folders_are_read_against_the_apps_folder_not_the_working_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({"FLOWS_DIR": "flows"}, base_dir=ROOT)
    assert settings.flows_dir == ROOT / "flows" and settings.state_dir == ROOT / ".state"
    assert Settings.from_env({"FLOWS_DIR": str(tmp_path)}, base_dir=ROOT).flows_dir == tmp_path
    assert Settings.from_env({}).flows_dir == Path("flows")  # the CLI: the current folder


def test_a_failed_webhook_run_answers_the_failing_step_and_its_error(tmp_path: Path) -> None:
    folder = tmp_path / "flows"
    write_flow(folder, "needs-state", """
        trigger: {webhook: true}
        steps:
          - id: q
            action: kusto.query
            connection: samples
            query: |
              declare query_parameters(state:string);
              StormEvents | where State == state | count
            parameters: {state: "{{ trigger.body.state }}"}
    """)
    functions = functions_of(function_app.create_app(settings_for(tmp_path, folder)))
    status, body = call(functions, "run_flow_webhook", "POST", b"{}",
                        route_params={"name": "needs-state"})
    assert status == 200
    assert body["status"] == "Failed"
    assert body["failing_step"] == "q"
    assert body["error"]["code"] == "TemplateError"
    assert "state" in body["error"]["message"]
    status, detail = call(functions, "get_run",
                          route_params={"flow": "needs-state", "run_id": body["run_id"]})
    assert status == 200 and detail["status"] == "Failed"
    assert detail["steps"][0]["error"]["code"] == "TemplateError"


def test_an_injection_attempt_in_a_webhook_body_stays_a_value(tmp_path: Path) -> None:
    functions = functions_of(function_app.create_app(
        settings_for(tmp_path, example_flows(tmp_path))))
    hostile = {"state": 'x"; .drop table StormEvents', "min_events": 1}
    status, body = call(functions, "run_flow_webhook", "POST", json.dumps(hostile).encode(),
                        route_params={"name": "storm-state-report"})
    assert status == 200 and body["status"] == "Succeeded"
    assert body["steps"][0]["summary"].startswith("0 rows")
    status, again = call(functions, "run_flow_webhook", "POST",
                         json.dumps({"state": "TEXAS"}).encode(),
                         route_params={"name": "storm-state-report"})
    assert again["status"] == "Succeeded" and not again["steps"][0]["summary"].startswith("0 ")


def test_resubmit_runs_again_with_the_same_body_and_links_the_runs(tmp_path: Path) -> None:
    functions = functions_of(function_app.create_app(
        settings_for(tmp_path, example_flows(tmp_path))))
    _, first = call(functions, "run_flow_webhook", "POST", b'{"state": "KANSAS"}',
                    route_params={"name": "storm-state-report"})
    status, second = call(functions, "resubmit_run", "POST",
                          route_params={"flow": "storm-state-report",
                                        "run_id": first["run_id"]})
    assert status == 200 and second["status"] == "Succeeded"
    assert second["resubmitted_from"] == first["run_id"]
    assert second["run_id"] != first["run_id"]
    mails = sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(mails) == 2
    assert all(b"KANSAS" in m.read_bytes() for m in mails)
    status, _ = call(functions, "resubmit_run", "POST",
                     route_params={"flow": "storm-state-report", "run_id": "nope"})
    assert status == 404


def test_the_timer_handler_runs_its_flow_and_records_a_schedule_run(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    functions = functions_of(function_app.create_app(
        settings_for(tmp_path, example_flows(tmp_path))))
    with caplog.at_level(logging.WARNING):
        functions["flow_storm_daily_report"].get_user_function()(TimerRequest(past_due=True))
    assert "past due" in caplog.text
    _, history = call(functions, "list_flow_runs", route_params={"name": "storm-daily-report"})
    assert [(r["trigger"], r["status"]) for r in history["runs"]] == [("schedule", "Succeeded")]


def test_a_chained_flow_runs_after_its_parent_with_the_parent_outputs(tmp_path: Path) -> None:
    folder = tmp_path / "flows"
    write_flow(folder, "parent", """
        trigger: {webhook: true}
        steps: [{id: q, action: kusto.query, connection: samples,
                 query: "StormEvents | summarize N = count()"}]
    """)
    write_flow(folder, "child", """
        trigger: {after: parent}
        steps:
          - id: mail
            action: email.send
            to: [ops@contoso.com]
            subject: "parent counted {{ trigger.body.outputs.q.rows[0].N }}"
            body: "run {{ trigger.body.run_id }}"
    """)
    write_flow(folder, "on-failure", """
        trigger: {after: {flow: parent, status: [failed]}}
        steps: [{id: mail, action: email.send, to: [ops@contoso.com], subject: x, body: y}]
    """)
    functions = functions_of(function_app.create_app(settings_for(tmp_path, folder)))
    _, parent = call(functions, "run_flow_webhook", "POST", route_params={"name": "parent"})
    assert parent["status"] == "Succeeded"
    _, child_runs = call(functions, "list_flow_runs", route_params={"name": "child"})
    assert [r["trigger"] for r in child_runs["runs"]] == ["after"]
    _, failure_runs = call(functions, "list_flow_runs", route_params={"name": "on-failure"})
    assert failure_runs["runs"] == []
    [mail] = (tmp_path / "outbox").glob("*.eml")
    text = mail.read_text(encoding="utf-8")
    counted = re.search(r"parent counted (\d+)", text)
    assert counted and int(counted.group(1)) > 0
    assert f"run {parent['run_id']}" in text


def test_a_chain_that_loops_is_a_validation_error(tmp_path: Path) -> None:
    folder = tmp_path / "flows"
    step = "steps: [{id: q, action: kusto.query, connection: samples, query: StormEvents}]\n"
    write_flow(folder, "a", "trigger: {after: b}\n" + step)
    write_flow(folder, "b", "trigger: {after: a}\n" + step)
    functions = functions_of(function_app.create_app(settings_for(tmp_path, folder)))
    _, body = call(functions, "list_flows")
    problems = " ".join(p for f in body["flows"] for p in f["problems"])
    assert "cycle" in problems


def test_health_answers_with_the_flow_count(tmp_path: Path) -> None:
    functions = functions_of(function_app.create_app(
        settings_for(tmp_path, example_flows(tmp_path))))
    status, body = call(functions, "health")
    assert status == 200 and body["status"] == "ok"
    assert body["flows"] == len(list((ROOT / "flows").glob("*.yaml"))) - 1  # connections


#: Never imported by `import function_app`: a step that needs one imports it.
HEAVY = ("matplotlib", "pandas", "duckdb", "duckdb_kql", "numpy", "sqlalchemy",
         "azure.storage", "azure.kusto", "requests", "httpx")
#: Not imported either when the flows come from the flow cache (STATE_DIR/cache): no
#: flow is read again, so neither YAML, templates, body schemas nor any action.
READING_FLOWS = ("yaml", "jinja2", "jsonschema", "pydantic", "shared.expressions",
                 "shared.yaml_lines",
                 *(f"shared.steps.{p.stem}" for p in sorted((ROOT / "shared/steps").glob("*.py"))
                   if p.stem not in ("__init__", "base", "registry")))


def loaded_after_import(tmp_path: Path, names: tuple[str, ...]) -> list[str]:
    code = ("import json, sys, function_app; names = " + repr(names) + "; "
            "print(json.dumps(sorted(n for n in names if any(m == n or m.startswith(n + '.') "
            "for m in sys.modules))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True, env={"STATE_DIR": str(tmp_path / "state"),
                                                     "FLOWS_DIR": str(tmp_path / "flows"),
                                                     "PATH": ""})
    loaded: list[str] = json.loads(out.stdout.strip().splitlines()[-1])
    return loaded


def test_importing_function_app_loads_no_heavy_library(tmp_path: Path) -> None:
    example_flows(tmp_path)
    # The first start reads and checks every flow (and fills the flow cache) ...
    assert loaded_after_import(tmp_path, HEAVY) == []
    # ... a start from the cache reads none of them again.
    assert loaded_after_import(tmp_path, HEAVY + READING_FLOWS) == []


def test_time_zone_flows_run_only_on_their_local_slot(tmp_path: Path) -> None:
    folder = tmp_path / "flows"
    write_flow(folder, "paris", """
        trigger: {schedule: "0 0 7 * * *", timezone: Europe/Paris}
        steps: [{id: q, action: kusto.query, connection: samples, query: StormEvents | count}]
    """)
    from shared.service import FlowService
    from shared.timers import run_scheduled, scheduled_flows

    service = FlowService.load(settings_for(tmp_path, folder))
    [spec] = scheduled_flows(service)
    assert spec.utc_schedule == "0 0 5,6 * * *"
    summer_05, summer_06 = (datetime(2026, 7, 1, h, 0, 2, tzinfo=UTC) for h in (5, 6))
    winter_05, winter_06 = (datetime(2026, 1, 15, h, 0, 2, tzinfo=UTC) for h in (5, 6))
    assert run_scheduled(service, spec, fired_at=summer_05) is not None
    assert run_scheduled(service, spec, fired_at=summer_06) is None
    assert run_scheduled(service, spec, fired_at=winter_05) is None
    assert run_scheduled(service, spec, fired_at=winter_06) is not None
    # A cold start may make the timer minutes late: it still runs its own tick, once.
    late_summer_05, late_summer_06 = (datetime(2026, 7, 1, h, 4, 30, tzinfo=UTC) for h in (5, 6))
    assert run_scheduled(service, spec, fired_at=late_summer_05) is not None
    assert run_scheduled(service, spec, fired_at=late_summer_06) is None
