"""The Functions app with queued runs, for tests: a flows folder (a mail flow on the
embedded engine, a `local` connection to the session's Kusto server), settings with
Azurite's queue as the host storage, the app's functions and a queue pump."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

import function_app
from shared.settings import Settings
from tests.helpers import write_flow
from tests.queue_pump import Pump

__all__ = ["MAIL_FLOW", "app_env", "build", "call", "get_run", "mails"]

MAIL_FLOW = """\
    trigger: {webhook: true}
    steps:
      - {id: q, action: kusto.query, connection: samples, query: "StormEvents | take 2"}
      - id: mail
        action: email.send
        to: a@contoso.com
        subject: "rows: {{ steps.q.row_count }}"
        body: hello
      - {id: after, action: kusto.query, connection: samples, query: "print done = 1"}
    """


@pytest.fixture
def app_env(tmp_path: Path, azurite_queue: Any, kusto_server: Any) -> Iterator[dict[str, Any]]:
    folder = tmp_path / "flows"
    connections = ("samples: {cluster: embedded, database: Samples}\n"
                   f"local: {{cluster: \"{kusto_server.url}\", database: Samples}}\n")
    write_flow(folder, "mailer", MAIL_FLOW, connections)
    env = {"FLOWS_DIR": str(folder), "STATE_DIR": str(tmp_path / "state"),
           "OUTBOX_DIR": str(tmp_path / "outbox"),
           "AzureWebJobsStorage": azurite_queue.connection_string,
           "OPERATION_POLL_SECONDS": "0.2"}
    yield {"folder": folder, "env": env, "tmp": tmp_path, "kusto": kusto_server,
           "connections": connections}


def build(app_env: dict[str, Any]) -> tuple[dict[str, Any], Pump]:
    settings = Settings.from_env(app_env["env"])
    app = function_app.create_app(settings)
    functions = {f.get_function_name(): f for f in app.get_functions()}
    return functions, Pump(app_env["env"]["AzureWebJobsStorage"], functions)


def call(functions: dict[str, Any], name: str, method: str = "GET", body: bytes = b"",
         route: dict[str, str] | None = None, params: dict[str, str] | None = None
         ) -> tuple[int, Any, func.HttpResponse]:
    request = func.HttpRequest(method, "https://app.example/api/x", body=body,
                               route_params=route or {}, params=params or {})
    response = functions[name].get_user_function()(request)
    text = response.get_body().decode()
    return response.status_code, json.loads(text) if text else None, response


def get_run(functions: dict[str, Any], flow: str, run_id: str) -> dict[str, Any]:
    status, body, _ = call(functions, "get_run", route={"flow": flow, "run_id": run_id})
    assert status == 200, body
    return dict(body)


def mails(app_env: dict[str, Any]) -> list[Path]:
    return sorted((app_env["tmp"] / "outbox").glob("*.eml"))


