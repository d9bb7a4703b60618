"""Async control commands (`.set-or-append async …`): started once, followed with
`.show operations <id>` until they end, against `duckdb-kql serve` through the test
adapter that adds Kusto's documented async behaviour (`tests/kusto_async.py`: an
OperationId at once, `InProgress` for two looks, then the final state).

A queued run stops between looks (`Waiting`, its message queued again with a delay),
so no invocation is held while the cluster works; an inline run (the CLI) waits in
its own process. Why: an export or a large append can take hours; the connector waits
at most an hour, and a worker held that long is paid for and cut by its time-out.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from azure.kusto.data import KustoClient, KustoConnectionStringBuilder

from shared.results import RunStatus
from tests.helpers import run_flow_file, settings_for, write_flow
from tests.queued_app import build, call, get_run


def rows_of(kusto: Any, table: str) -> int:
    client = KustoClient(KustoConnectionStringBuilder.with_no_authentication(kusto.url))
    try:
        return int(client.execute("Samples", f"{table} | count").primary_results[0][0][0])
    finally:
        client.close()


def async_flow(folder: Path, connections: str, command: str, limits: str = "") -> None:
    write_flow(folder, "exporter", f"""\
        trigger: {{webhook: true}}
        {limits}
        steps:
          - id: append
            action: kusto.command
            connection: local
            command: |
              {command}
          - id: mail
            action: email.send
            to: a@contoso.com
            subject: "operation {{{{ steps.append.operation_id }}}} {{{{ steps.append.state }}}}"
            body: "{{{{ steps.append.body_html }}}}"
        """, connections)


def test_a_queued_async_command_waits_between_looks_without_an_invocation_and_succeeds(
        app_env: dict[str, Any]) -> None:
    table = f"Async{uuid.uuid4().hex[:8]}"
    async_flow(app_env["folder"], app_env["connections"],
               f".set-or-append async {table} <| print x = 1")
    functions, pump = build(app_env)
    _, body, _ = call(functions, "run_flow_webhook", "POST", b"{}",
                      route={"name": "exporter"})
    run_id = body["run_id"]
    seen = []
    while pump.step():
        run = get_run(functions, "exporter", run_id)
        seen.append(run["status"])
    # Started once, looked at three times (InProgress, InProgress, Completed): three
    # short invocations, the run Waiting between them.
    assert seen == ["Waiting", "Waiting", "Succeeded"]
    assert [n for n, _, _ in pump.invocations] == ["run_queued_flow"] * 3
    assert rows_of(app_env["kusto"], table) == 1
    run = get_run(functions, "exporter", run_id)
    append = next(s for s in run["steps"] if s["path"] == "append")
    assert append["status"] == "Succeeded" and "Completed" in append["summary"]
    mail = next((app_env["tmp"] / "outbox").glob("*.eml")).read_text("utf-8")
    assert "Completed" in mail and "operation " in mail


def test_a_failed_async_operation_fails_its_step_with_the_operations_status_text(
        app_env: dict[str, Any]) -> None:
    async_flow(app_env["folder"], app_env["connections"],
               ".set-or-append async Nowhere <| print x = 1 "
               "// async-outcome: Failed: the disk is full (test)")
    functions, pump = build(app_env)
    _, body, _ = call(functions, "run_flow_webhook", "POST", b"{}",
                      route={"name": "exporter"})
    pump.drain()
    run = get_run(functions, "exporter", body["run_id"])
    assert run["status"] == "Failed" and run["failing_step"] == "append"
    assert run["error"]["code"] == "KustoOperationFailed"
    assert "ended Failed: the disk is full (test)" in run["error"]["message"]


def test_operation_timeout_ends_the_wait_and_keeps_the_operation_id(
        app_env: dict[str, Any]) -> None:
    table = f"Slow{uuid.uuid4().hex[:8]}"
    async_flow(app_env["folder"], app_env["connections"],
               f".set-or-append async {table} <| print x = 1",
               limits="limits: {operation_timeout: 1ms}")
    functions, pump = build(app_env)
    _, body, _ = call(functions, "run_flow_webhook", "POST", b"{}",
                      route={"name": "exporter"})
    pump.drain()
    run = get_run(functions, "exporter", body["run_id"])
    assert run["status"] == "Failed" and run["error"]["code"] == "OperationTimedOut"
    assert "still InProgress" in run["error"]["message"]
    assert ".show operations " in run["error"]["hint"]


def test_an_inline_run_polls_in_its_own_process(tmp_path: Path, kusto_server: Any) -> None:
    table = f"Inline{uuid.uuid4().hex[:8]}"
    connections = f"local: {{cluster: \"{kusto_server.url}\", database: Samples}}\n"
    async_flow(tmp_path, connections, f".set-or-append async {table} <| print x = 1")
    run = run_flow_file(tmp_path / "exporter.yaml",
                        settings_for(tmp_path, operation_poll_seconds=0.05))
    assert run.status == RunStatus.SUCCEEDED, run.to_dict()
    assert run.steps[0].outputs["state"] == "Completed"
    assert len(run.steps[0].outputs["operation_id"]) == 36
    assert rows_of(kusto_server, table) == 1
