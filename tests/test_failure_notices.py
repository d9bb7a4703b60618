"""Failure notices: a later step reads an earlier step's `status` and `error` (code,
message, hint), `run.url` links to the run's page, and a flow's `on_failure` block mails
once per grace period while the flow keeps failing, then once "recovered".

Why: a nightly job that fails every night should say so once, say what failed, and say
when it is fixed, not mail the same failure every five minutes or nothing at all.
"""

from __future__ import annotations

import email
from email import policy
from pathlib import Path

from shared.results import RunStatus
from tests.helpers import run_flow_file, settings_for, write_flow

BROKEN = "StormEvents | summarize n = count() by NoSuchColumn"
FIXED = "StormEvents | take 1"


def notice_flow(folder: Path, query: str, grace: str) -> Path:
    return write_flow(folder, "nightly", f"""\
        steps:
          - {{id: load, action: kusto.query, connection: samples, query: "{query}"}}
        on_failure:
          grace: {grace}
          steps:
            - id: notify
              action: email.send
              to: oncall@contoso.com
              subject: "{{{{ 'RECOVERED' if run.recovered else 'FAILED' }}}} {{{{ run.flow }}}}"
              body: >-
                <p>{{{{ run.status }}}} at {{{{ run.error.step if run.error else '-' }}}}:
                {{{{ run.error.code if run.error else '' }}}}</p>
        """)


def subjects(outbox: Path) -> list[str]:
    found = []
    for path in sorted(outbox.glob("*.eml")):
        found.append(str(email.message_from_bytes(path.read_bytes(),
                                                  policy=policy.default)["Subject"]))
    return found


def html_of(path: Path) -> str:
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    return str(message.get_body(("html",)).get_content())  # type: ignore[union-attr]


def test_a_later_step_reads_the_status_and_error_of_a_failed_one(tmp_path: Path) -> None:
    path = write_flow(tmp_path, "f", f"""\
        steps:
          - {{id: load, action: kusto.query, connection: samples, query: "{BROKEN}"}}
          - id: tell
            action: email.send
            run_after: [failed]
            to: oncall@contoso.com
            subject: "{{{{ steps.load.status }}}}: {{{{ steps.load.error.code }}}}"
            body: "{{{{ steps.load.error.message }}}} / {{{{ run.url or 'no url' }}}}"
        """)
    run = run_flow_file(path, settings_for(tmp_path))
    assert run.status == RunStatus.FAILED
    assert subjects(tmp_path / "outbox") == ["Failed: KustoQueryError"]
    body = html_of(next((tmp_path / "outbox").glob("*.eml")))
    assert "NoSuchColumn" in body and "no url" in body


def test_run_url_links_to_the_runs_page_in_the_deployed_app(tmp_path: Path) -> None:
    path = write_flow(tmp_path, "f", """\
        steps:
          - {id: tell, action: email.send, to: a@contoso.com, subject: s, body: "{{ run.url }}"}
        """)
    run = run_flow_file(path, settings_for(tmp_path, site_hostname="kf-app.azurewebsites.net"))
    body = html_of(next((tmp_path / "outbox").glob("*.eml")))
    assert f"https://kf-app.azurewebsites.net/api/pages/runs/f/{run.run_id}" in body


def test_failing_runs_inside_the_grace_send_one_notice_then_one_recovered(
        tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    path = notice_flow(tmp_path / "flows", BROKEN, "1h")
    runs = [run_flow_file(path, settings) for _ in range(5)]
    assert [r.status for r in runs] == [RunStatus.FAILED] * 5
    assert subjects(tmp_path / "outbox") == ["FAILED nightly"]
    first = runs[0]
    assert [s.path for s in first.steps] == ["load", "on_failure.notify"]
    assert [s.path for s in runs[1].steps] == ["load"]  # muted by the grace
    body = html_of(next((tmp_path / "outbox").glob("*.eml")))
    assert "Failed at load" in body and "KustoQueryError" in body
    notice_flow(tmp_path / "flows", FIXED, "1h")
    fixed = run_flow_file(path, settings)
    again = run_flow_file(path, settings)
    assert fixed.status == again.status == RunStatus.SUCCEEDED  # the notice never changes it
    assert subjects(tmp_path / "outbox") == ["FAILED nightly", "RECOVERED nightly"]
    assert [s.path for s in again.steps] == ["load"]


def test_after_the_grace_a_flow_still_failing_is_noticed_again(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    path = notice_flow(tmp_path / "flows", BROKEN, "1ms")
    for _ in range(3):
        run_flow_file(path, settings)
    assert subjects(tmp_path / "outbox") == ["FAILED nightly"] * 3


def test_a_run_cut_by_its_deadline_still_sends_its_notice(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    path = write_flow(tmp_path / "flows", "slow", """\
        limits: {run_timeout: 200ms}
        steps:
          - {id: load, action: kusto.query, connection: samples,
             query: "range x from 1 to 10000000000 step 1 | summarize count()"}
        on_failure:
          steps:
            - {id: notify, action: email.send, to: a@contoso.com,
               subject: "{{ run.status }} {{ run.error.code }}", body: x}
        """)
    run = run_flow_file(path, settings)
    # The query would count for minutes: the 200 ms deadline ends it (RequestTimeout), or
    # the run (RunTimedOut) if it passes before the query starts.
    assert run.error is not None and run.error.code in ("RequestTimeout", "RunTimedOut")
    assert run.status in (RunStatus.FAILED, RunStatus.TIMED_OUT)
    assert subjects(tmp_path / "outbox") == [f"{run.status} {run.error.code}"]


def test_the_notice_steps_are_checked_like_the_flows_own(tmp_path: Path) -> None:
    from shared.loader import FlowFileInvalid, load_flow

    path = write_flow(tmp_path, "bad", """\
        steps:
          - {id: load, action: kusto.query, connection: samples, query: "print x = 1"}
        on_failure:
          steps:
            - {id: load, action: email.send, to: a@contoso.com, subject: "{{ oops",
               body: "{{ steps.load.error.message }} {{ steps.later.x }}"}
            - {id: later, action: email.send, to: a@contoso.com, subject: s, body: b}
        """)
    try:
        load_flow(path)
    except FlowFileInvalid as exc:
        found = {(p.step, p.field, p.line) for p in exc.problems}
        messages = " | ".join(p.message for p in exc.problems)
    else:
        raise AssertionError("the flow loaded")
    assert ("load", "id", 5) in found and ("load", "subject", 5) in found
    assert "refers to steps.later, which comes later" in messages
    assert "refers to steps.load" not in messages  # a notice may read the flow's steps
