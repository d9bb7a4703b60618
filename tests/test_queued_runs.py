"""Queued runs, end to end through the Functions app's own functions, Azurite's queue
service and the real azure-storage-queue SDK (`tests/queue_pump.py` plays the host's
queue listener): webhooks answer 202 with a status URL, a message delivered twice
never mails or appends twice, a message that keeps failing ends its run
`RunPoisoned`, a busy flow skips or queues a run, and async control commands wait
between polls without holding an invocation.

Why: in Azure a webhook response is cut at 230 s, a host restart redelivers a message
mid-run, and `.export async` can run for hours; each of these must neither lose a run
nor repeat what it did.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.functions.timer import TimerRequest
from azure.kusto.data import KustoClient, KustoConnectionStringBuilder

from shared.queued import RunJournal
from shared.service import FlowService
from shared.settings import Settings
from shared.state import JournalEntry, open_state_store
from tests.helpers import write_flow
from tests.queue_pump import Pump, queue_client
from tests.queued_app import build, call, get_run, mails

# ------------------------------------------------------------------ webhooks

def test_a_webhook_answers_202_with_a_status_url_that_follows_the_run_to_its_end(
        app_env: dict[str, Any]) -> None:
    functions, pump = build(app_env)
    status, body, response = call(functions, "run_flow_webhook", "POST", b"{}",
                                  route={"name": "mailer"})
    assert status == 202
    run_id = body["run_id"]
    assert body["status"] == "Queued"
    assert response.headers["Location"] == f"/api/runs/mailer/{run_id}"
    assert body["status_url"] == f"https://app.example/api/runs/mailer/{run_id}"
    assert get_run(functions, "mailer", run_id)["status"] == "Queued"
    assert not mails(app_env)  # nothing ran in the request
    assert pump.drain() == 1
    run = get_run(functions, "mailer", run_id)
    assert run["status"] == "Succeeded"
    assert [s["path"] for s in run["steps"]] == ["q", "mail", "after"]
    assert run["trigger"] == "webhook"
    assert len(mails(app_env)) == 1


def test_wait_answers_200_with_the_run_when_it_ends_in_time_else_202(
        app_env: dict[str, Any]) -> None:
    functions, pump = build(app_env)
    status, body, _ = call(functions, "run_flow_webhook", "POST", b"{}",
                           route={"name": "mailer"}, params={"wait": "1"})
    assert status == 202 and body["status"] == "Queued"  # nobody executes the queue
    pump.drain()
    stop = threading.Event()

    def host() -> None:
        while not stop.is_set():
            if not pump.step():
                stop.wait(0.05)

    listener = threading.Thread(target=host, daemon=True)
    listener.start()
    try:
        status, body, _ = call(functions, "run_flow_webhook", "POST", b"{}",
                               route={"name": "mailer"}, params={"wait": "30"})
    finally:
        stop.set()
        listener.join(10)
    assert status == 200
    assert body["status"] == "Succeeded" and len(body["steps"]) == 3
    status, body, _ = call(functions, "run_flow_webhook", "POST", b"{}",
                           route={"name": "mailer"}, params={"wait": "201"})
    assert status == 400 and body["error"]["code"] == "InvalidQuery"


# ---------------------------------------------------------------- redelivery

def _crash_after(env: dict[str, str], text: str, path: str, status: str) -> None:
    """In a child process: run the message, and die (no cleanup, no finally) right
    after the journal records *status* for step *path*, as a host restart would."""
    original = RunJournal.record

    def record(self: RunJournal, step: str, entry: JournalEntry) -> None:
        original(self, step, entry)
        if step == path and entry.status == status:
            os._exit(3)

    RunJournal.record = record  # type: ignore[method-assign]
    from shared.queue import queue_for

    settings = Settings.from_env(env)
    FlowService.load(settings, queue=queue_for(settings)).run_message(text)
    os._exit(0)


def deliver_and_crash(app_env: dict[str, Any], path: str, status: str) -> None:
    """Take the next run message off the queue and run it in a process that dies at
    the given point; the message reappears a second later, as after a restart."""
    runs = queue_client(app_env["env"]["AzureWebJobsStorage"], "flow-runs")
    [received] = list(runs.receive_messages(messages_per_page=1, visibility_timeout=1,
                                            max_messages=1))
    child = multiprocessing.get_context("fork").Process(
        target=_crash_after, args=(app_env["env"], received.content, path, status))
    child.start()
    child.join(60)
    assert child.exitcode == 3, "the run never reached the point to crash at"


def wait_visible(pump: Pump) -> None:
    deadline = datetime.now(UTC) + timedelta(seconds=10)
    while pump.pending() == 0 or not pump.step():
        assert datetime.now(UTC) < deadline, "the message did not come back"


def test_a_run_redelivered_after_its_mail_was_sent_mails_once_and_succeeds(
        app_env: dict[str, Any]) -> None:
    functions, pump = build(app_env)
    _, body, _ = call(functions, "run_flow_webhook", "POST", b"{}", route={"name": "mailer"})
    deliver_and_crash(app_env, "mail", "Succeeded")
    assert len(mails(app_env)) == 1
    assert get_run(functions, "mailer", body["run_id"])["status"] == "Running"
    wait_visible(pump)  # the same message, delivered a second time
    run = get_run(functions, "mailer", body["run_id"])
    assert run["status"] == "Succeeded"
    assert len(mails(app_env)) == 1
    mail_step = next(s for s in run["steps"] if s["path"] == "mail")
    assert "not repeated" in mail_step["summary"]
    assert pump.invocations[-1][1] == 2  # dequeue count of the redelivery


def test_a_mail_interrupted_before_its_outcome_was_recorded_is_not_sent_again_blindly(
        app_env: dict[str, Any]) -> None:
    functions, pump = build(app_env)
    _, body, _ = call(functions, "run_flow_webhook", "POST", b"{}", route={"name": "mailer"})
    deliver_and_crash(app_env, "mail", "Running")
    wait_visible(pump)
    run = get_run(functions, "mailer", body["run_id"])
    assert run["status"] == "Failed"
    assert run["error"]["code"] == "SideEffectUncertain"
    assert "resubmit" in run["error"]["hint"]
    assert not mails(app_env)


def _rows(kusto: Any, table: str) -> int:
    client = KustoClient(KustoConnectionStringBuilder.with_no_authentication(kusto.url))
    try:
        result = client.execute("Samples", f"{table} | count")
        return int(result.primary_results[0][0][0])
    finally:
        client.close()


def test_a_set_or_append_redelivered_after_it_ran_appends_its_rows_once(
        app_env: dict[str, Any]) -> None:
    table = f"Queued{uuid.uuid4().hex[:8]}"
    write_flow(app_env["folder"], "appender", f"""\
        trigger: {{webhook: true}}
        steps:
          - id: append
            action: kusto.command
            connection: local
            command: ".set-or-append {table} <| print x = 1"
          - {{id: mail, action: email.send, to: a@contoso.com, subject: done, body: ok}}
        """, app_env["connections"])
    functions, pump = build(app_env)
    _, body, _ = call(functions, "run_flow_webhook", "POST", b"{}",
                      route={"name": "appender"})
    deliver_and_crash(app_env, "append", "Succeeded")
    assert _rows(app_env["kusto"], table) == 1
    wait_visible(pump)
    assert get_run(functions, "appender", body["run_id"])["status"] == "Succeeded"
    assert _rows(app_env["kusto"], table) == 1
    assert len(mails(app_env)) == 1


def test_a_message_that_keeps_failing_ends_its_run_failed_run_poisoned(
        app_env: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    functions, pump = build(app_env)
    _, body, _ = call(functions, "run_flow_webhook", "POST", b"{}", route={"name": "mailer"})

    def broken(self: FlowService, text: str | bytes) -> None:
        raise ConnectionError("the cluster's network is down (test)")

    monkeypatch.setattr(FlowService, "run_message", broken)
    pump.drain()
    attempts = [count for name, count, error in pump.invocations if name == "run_queued_flow"]
    assert attempts == [1, 2, 3, 4, 5]
    assert pump.invocations[-1][0] == "record_poisoned_run"
    run = get_run(functions, "mailer", body["run_id"])
    assert run["status"] == "Failed" and run["error"]["code"] == "RunPoisoned"
    assert "failed" in run["error"]["message"] and not mails(app_env)


# ------------------------------------------------------------------- overlap

def test_a_timer_tick_while_the_previous_run_still_runs_is_recorded_skipped(
        app_env: dict[str, Any]) -> None:
    write_flow(app_env["folder"], "ticker", """\
        trigger: {schedule: "0 */5 * * * *"}
        steps:
          - {id: q, action: kusto.query, connection: samples, query: "print x = 1"}
        """, app_env["connections"])
    functions, pump = build(app_env)
    settings = Settings.from_env(app_env["env"])
    state = open_state_store(settings)
    # The previous tick's run holds the flow's lease while it runs.
    assert state.try_lease("ticker", "first-run", datetime.now(UTC) + timedelta(minutes=5))
    functions["flow_ticker"].get_user_function()(TimerRequest(past_due=False))
    pump.drain()
    status, body, _ = call(functions, "list_flow_runs", route={"name": "ticker"})
    [run] = body["runs"]
    assert run["status"] == "Skipped" and run["trigger"] == "schedule"
    assert run["error"]["message"] == "previous run still running (first-run)"
    state.release_lease("ticker", "first-run")
    # The same tick fired again is a duplicate; the next tick runs.
    functions["flow_ticker"].get_user_function()(TimerRequest(past_due=False))
    from shared.queue import queue_for
    from shared.timers import run_scheduled, scheduled_flows

    with FlowService.load(settings, queue=queue_for(settings)) as service:
        [spec] = [s for s in scheduled_flows(service) if s.flow == "ticker"]
        run_scheduled(service, spec, fired_at=datetime.now(UTC) + timedelta(minutes=5))
    pump.drain()
    _, body, _ = call(functions, "list_flow_runs", route={"name": "ticker"})
    assert [(r["status"], (r["error"] or {}).get("code")) for r in body["runs"]] == [
        ("Succeeded", None), ("Skipped", "DuplicateTick"), ("Skipped", "OverlapSkipped")]


def test_a_webhook_run_of_a_busy_flow_waits_its_turn_instead(
        app_env: dict[str, Any]) -> None:
    functions, pump = build(app_env)
    state = open_state_store(Settings.from_env(app_env["env"]))
    assert state.try_lease("mailer", "earlier", datetime.now(UTC) + timedelta(minutes=5))
    _, body, _ = call(functions, "run_flow_webhook", "POST", b"{}", route={"name": "mailer"})
    pump.drain()
    assert get_run(functions, "mailer", body["run_id"])["status"] == "Queued"
    assert pump.pending() == 1  # queued again, visible a little later
    state.release_lease("mailer", "earlier")
    runs = queue_client(app_env["env"]["AzureWebJobsStorage"], "flow-runs")
    [again] = list(runs.peek_messages()) or [None]
    assert again is None  # not visible yet: it waits BUSY_RETRY_SECONDS
