"""The `alert` action end to end: the example `storm-damage-alert` run over a sequence
of daily windows on the embedded engine mails only when a state fires, repeats or
resolves (counted as `.eml` files), never while muted; a queued run delivered again
does not advance the alert's state twice; the state is visible in the CLI, the HTTP
API and the flow's page (escaped); bad inputs fail the step with a hint.

Why: an alert is judged by the mail it sends. One that mails every run, never says
the problem is over, or double-counts a redelivered run is noise on-call learns to
ignore.
"""

from __future__ import annotations

import email
import json
from datetime import UTC, datetime, timedelta
from email import policy
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

import function_app
from shared.cli import main
from shared.loader import load_folder
from shared.results import RunStatus, StepStatus
from shared.runner import Runner, Trigger
from shared.service import FlowService
from shared.settings import Settings
from shared.state import open_state_store
from shared.windows import Window
from tests.helpers import run_flow_file, runner_for, settings_for, write_flow
from tests.queued_app import build, call, get_run, mails
from tests.test_queued_runs import deliver_and_crash, wait_visible

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = "storm-damage-alert"
DAY = timedelta(days=1)


def day(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def run_window(runner: Runner, end: datetime) -> Any:
    """One scheduled run of the example: the day before *end* as its window."""
    flow = load_folder(ROOT / "flows").flows[EXAMPLE].flow
    window = Window(end - DAY, end).context("UTC")
    return runner.run(flow, Trigger(kind="schedule", time=end, window=window))


def subjects(outbox: Path, seen: set[Path]) -> list[str]:
    """The subjects of the mails written since the last call, sorted."""
    new = sorted(set(outbox.glob("*.eml")) - seen) if outbox.exists() else []
    seen.update(new)
    return sorted(str(email.message_from_bytes(p.read_bytes(), policy=policy.default)["Subject"])
                  for p in new)


#: What the example mails over 2007-01-10 .. 2007-02-01 (the end of each daily window):
#: the synthetic StormEvents, a state with $250,000 of damage on 3 of the last 5 days.
EXPECTED_MAIL = {
    "2007-01-15": ["FIRED: storm damage in TEXAS"],
    "2007-01-16": ["FIRED: storm damage in OKLAHOMA"],
    "2007-01-17": ["FIRED: storm damage in MISSOURI", "REPEATED: storm damage in TEXAS"],
    "2007-01-18": ["RESOLVED: storm damage in OKLAHOMA"],
    "2007-01-19": ["REPEATED: storm damage in MISSOURI", "RESOLVED: storm damage in TEXAS"],
    "2007-01-20": ["RESOLVED: storm damage in MISSOURI"],
}


def test_the_example_alert_mails_only_on_change_and_when_the_damage_clears(
        tmp_path: Path) -> None:
    flows = load_folder(ROOT / "flows")
    runner = runner_for(settings_for(tmp_path), flows.connections)
    outbox, seen = tmp_path / "outbox", set[Path]()
    mailed: dict[str, list[str]] = {}
    end = day("2007-01-10")
    while end <= day("2007-02-01"):
        run = run_window(runner, end)
        assert run.status == RunStatus.SUCCEEDED, run.to_dict()
        breach = next(s for s in run.steps if s.path == "breach")
        sent = subjects(outbox, seen)
        # One mail per change, none otherwise: muted days and quiet days send nothing.
        assert len(sent) == len(breach.outputs["changes"]), (end, sent)
        if sent:
            mailed[end.date().isoformat()] = sent
        end += DAY
    assert mailed == EXPECTED_MAIL
    # Muted: TEXAS fired on the 15th and kept firing; the 16th and 18th sent it nothing.
    resolved = next(p for p in outbox.glob("*.eml") if "RESOLVED: storm damage in OKLAHOMA"
                    in p.read_text(encoding="utf-8", errors="replace"))
    body = email.message_from_bytes(resolved.read_bytes(), policy=policy.default)
    html = body.get_body(("html",)).get_content()
    assert "back under" in html and "$250,000" in html
    assert body["Importance"] is None or body["Importance"] == "Normal"


def test_the_example_alert_keeps_its_state_between_runs_and_shows_it(tmp_path: Path,
                                                                    capsys: Any) -> None:
    settings = settings_for(tmp_path, flows_dir=ROOT / "flows")
    runner = runner_for(settings, load_folder(ROOT / "flows").connections)
    for date in range(12, 18):  # windows ending 2007-01-12 .. 2007-01-17
        run_window(runner, day(f"2007-01-{date}"))
    states = {s.label: (step, s) for step, s in open_state_store(settings).alert_states(EXAMPLE)}
    step, oklahoma = states["OKLAHOMA"]
    assert step == "breach" and oklahoma.status == "firing"
    assert oklahoma.fired_at == day("2007-01-16") and oklahoma.since == day("2007-01-13")
    # The CLI, as a table and as JSON.
    env = {"FLOWS_DIR": str(ROOT / "flows"), "STATE_DIR": str(tmp_path / "state"),
           "OUTBOX_DIR": str(tmp_path / "outbox")}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        assert main(["alerts", EXAMPLE]) == 0
        table = capsys.readouterr().out
        assert main(["alerts", "--json"]) == 0
        listed = json.loads(capsys.readouterr().out)["alerts"]
        assert main(["alerts", "no-such-flow"]) == 1
    line = next(row for row in table.splitlines() if "OKLAHOMA" in row)
    assert line.split()[:5] == [EXAMPLE, "breach", "OKLAHOMA", "firing", "2007-01-13"]
    assert "Damage=" in line
    entry = next(a for a in listed if a["label"] == "OKLAHOMA")
    assert entry["flow"] == EXAMPLE and entry["step"] == "breach"
    assert entry["status"] == "firing" and entry["key"] == {"State": "OKLAHOMA"}
    # The HTTP API and the flow's page.
    functions = {f.get_function_name(): f for f in
                 function_app.create_app(Settings.from_env(env)).get_functions()}
    request = func.HttpRequest("GET", "https://app.example/api/flows/x/alerts", body=b"",
                               route_params={"name": EXAMPLE})
    answer = functions["list_flow_alerts"].get_user_function()(request)
    assert answer.status_code == 200
    alerts = json.loads(answer.get_body())["alerts"]
    assert {a["label"]: a["status"] for a in alerts} == {s: state.status for s, (_, state)
                                                          in states.items()}
    missing = func.HttpRequest("GET", "https://app.example/api/flows/x/alerts", body=b"",
                               route_params={"name": "no-such-flow"})
    assert functions["list_flow_alerts"].get_user_function()(missing).status_code == 404
    page = functions["page_flow_runs"].get_user_function()(func.HttpRequest(
        "GET", "https://app.example/api/pages/flows/x/runs", body=b"",
        route_params={"name": EXAMPLE}))
    html = page.get_body().decode()
    assert page.status_code == 200 and "<h2>Alerts" in html
    assert "<b>OKLAHOMA</b>" in html and "firing" in html and "2007-01-13 00:00" in html


ESCAPING_FLOW = """\
    trigger: {webhook: true}
    steps:
      - id: q
        action: kusto.query
        connection: samples
        query: print Service = "<script>alert(1)</script>", Errors = 12, Note = "<img src=x>"
      - id: breach
        action: alert
        rows: "{{ steps.q.rows }}"
        key: [Service]
        when: row.Errors > 10
    """


def test_keys_and_values_on_the_page_are_escaped_text(tmp_path: Path) -> None:
    folder = tmp_path / "flows"
    write_flow(folder, "escaping", ESCAPING_FLOW)
    settings = settings_for(tmp_path, flows_dir=folder)
    with FlowService.load(settings) as service:
        run = service.run("escaping", Trigger(kind="webhook"))
        assert run.status == RunStatus.SUCCEEDED, run.to_dict()
        from shared.api.alerts import alerts_section

        html = str(alerts_section(service, "escaping"))
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;img src=x&gt;" in html


def test_a_flow_without_alert_steps_has_no_alerts_section(tmp_path: Path) -> None:
    folder = tmp_path / "flows"
    write_flow(folder, "plain", """\
        steps: [{id: q, action: kusto.query, connection: samples, query: print x = 1}]
        """)
    with FlowService.load(settings_for(tmp_path, flows_dir=folder)) as service:
        from shared.api.alerts import alerts_section

        assert str(alerts_section(service, "plain")) == ""


# ------------------------------------------------------------------ the action

def alert_flow(alert: str, query: str = 'print Service = "api", Errors = 12') -> str:
    return f"""\
        trigger: {{webhook: true}}
        steps:
          - id: q
            action: kusto.query
            connection: samples
            query: '{query}'
          - id: breach
            action: alert
            rows: "{{{{ steps.q.rows }}}}"
{alert}
        """


@pytest.mark.parametrize("fields, code, words", [
    ("            key: [Nope]\n            when: row.Errors > 10\n", "InvalidInput",
     "column 'Nope' is not in the rows (they have: Service, Errors)"),
    ("            when: row.Erors > 10\n", "TemplateError", "field 'when'"),
])
def test_a_key_column_or_name_the_rows_do_not_have_fails_the_step_with_a_hint(
        tmp_path: Path, fields: str, code: str, words: str) -> None:
    path = write_flow(tmp_path / "flows", "bad", alert_flow(fields))
    run = run_flow_file(path, settings_for(tmp_path))
    breach = next(s for s in run.steps if s.path == "breach")
    assert breach.status == StepStatus.FAILED and breach.error is not None
    assert breach.error.code == code and words in breach.error.message, breach.error
    assert breach.error.hint


def test_rows_that_are_not_a_list_of_rows_fail_the_step(tmp_path: Path) -> None:
    text = alert_flow("            when: row.Errors > 10\n").replace(
        '"{{ steps.q.rows }}"', '"{{ steps.q.row_count }}"')
    run = run_flow_file(write_flow(tmp_path / "flows", "bad", text), settings_for(tmp_path))
    breach = next(s for s in run.steps if s.path == "breach")
    assert breach.error is not None and "must give a list of rows" in breach.error.message


@pytest.mark.parametrize("fields, problem", [
    ("            when: x\n            for: 0\n", "for"),
    ("            when: x\n            for: {breaches: 4, of: 3}\n", "breaches (4) cannot be"),
    ("            when: x\n            repeat_every: soon\n", "repeat_every"),
    ("            when: x\n            no_data: maybe\n", "no_data"),
    ("            when: x\n            key: [a, a]\n", "named twice"),
    ("            when: 'row.Errors >'\n", "when"),
])
def test_the_loader_refuses_bad_alert_fields_with_the_field_named(tmp_path: Path,
                                                                  fields: str,
                                                                  problem: str) -> None:
    write_flow(tmp_path / "flows", "bad", alert_flow(fields))
    folder = load_folder(tmp_path / "flows")
    problems = [str(p) for p in folder.all_problems]
    assert problems and any(problem in p for p in problems), problems


def test_a_single_alert_over_the_row_count_fires_once_and_resolves_on_no_data(
        tmp_path: Path) -> None:
    """No key: one alert for the whole result; `row_count` judges the whole result and
    an empty result is no data (ok: resolved)."""
    folder = tmp_path / "flows"
    write_flow(folder, "count", """\
        trigger: {webhook: true}
        steps:
          - id: q
            action: kusto.query
            connection: samples
            query: |
              declare query_parameters(n:long = 3);
              range i from 1 to n step 1
            parameters: {n: "{{ trigger.body.n }}"}
          - id: breach
            action: alert
            rows: "{{ steps.q.rows }}"
            when: row_count >= 3
        """)
    with FlowService.load(settings_for(tmp_path, flows_dir=folder)) as service:
        outcomes = []
        for n in (3, 5, 0):
            run = service.run("count", Trigger(kind="webhook", body={"n": n}))
            outputs = next(s for s in run.steps if s.path == "breach").outputs
            outcomes.append([(c["change"], c["label"]) for c in outputs["changes"]])
    assert outcomes == [[("fired", "(all)")], [], [("resolved", "(all)")]]


# ------------------------------------------------------------------ redelivery

REDELIVERY_FLOW = """\
    trigger: {webhook: true}
    steps:
      - {id: q, action: kusto.query, connection: samples,
         query: 'print Service = "api", Errors = 12'}
      - id: breach
        action: alert
        rows: "{{ steps.q.rows }}"
        key: [Service]
        when: row.Errors > 10
        for: 2
      - id: notify
        action: foreach
        items: steps.breach.fired
        steps:
          - {id: mail, action: email.send, to: a@contoso.com,
             subject: "FIRED {{ item.label }}", body: "{{ item.evaluations }}"}
    """


def test_a_queued_run_delivered_again_does_not_advance_the_alert_state_twice(
        app_env: dict[str, Any]) -> None:
    write_flow(app_env["folder"], "alerter", REDELIVERY_FLOW, app_env["connections"])
    functions, pump = build(app_env)
    state = open_state_store(Settings.from_env(app_env["env"]))

    def evaluations() -> list[tuple[str, int, str]]:
        return [(s.status, s.evaluations, s.history) for _, s in state.alert_states("alerter")]

    call(functions, "run_flow_webhook", "POST", b"{}", route={"name": "alerter"})
    pump.drain()
    assert evaluations() == [("pending", 1, "1")]
    # The second run dies right after the alert step recorded its outcome (the state
    # is written), before the mail; the message comes back.
    _, body, _ = call(functions, "run_flow_webhook", "POST", b"{}", route={"name": "alerter"})
    deliver_and_crash(app_env, "breach", "Succeeded")
    assert evaluations() == [("firing", 2, "11")]
    assert not mails(app_env)
    wait_visible(pump)
    run = get_run(functions, "alerter", body["run_id"])
    assert run["status"] == "Succeeded"
    breach = next(s for s in run["steps"] if s["path"] == "breach")
    assert "not repeated" in breach["summary"]
    assert evaluations() == [("firing", 2, "11")]  # not 3, "11" advanced once
    [sent] = mails(app_env)  # the recorded outcome still says it fired: mailed once
    assert "FIRED api" in sent.read_text(encoding="utf-8")
