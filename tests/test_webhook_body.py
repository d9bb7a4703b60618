"""A webhook flow may declare its body (`trigger.webhook.body`, a JSON Schema): a request
whose body does not match answers 422 naming the field before any run starts, and the
flow list shows the schema so callers can see what to send.

Why: without it a missing field surfaced as a TemplateError inside a run that answered
200, and `{"state": null}` read as "the step gives no value".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

import function_app
from shared.loader import FlowFileInvalid, load_flow
from shared.settings import Settings
from tests.helpers import write_flow

DECLARED = """\
    trigger:
      webhook:
        body:
          type: object
          required: [state]
          properties:
            state: {type: string, minLength: 2}
            min_events: {type: integer, minimum: 0}
    steps:
      - id: q
        action: kusto.query
        connection: samples
        query: |
          declare query_parameters(state:string);
          StormEvents | where State == state | count
        parameters: {state: "{{ trigger.body.state }}"}
    """


def app_for(tmp_path: Path) -> dict[str, Any]:
    write_flow(tmp_path / "flows", "declared", DECLARED)
    settings = Settings.from_env({"FLOWS_DIR": str(tmp_path / "flows"),
                                  "STATE_DIR": str(tmp_path / "state"),
                                  "OUTBOX_DIR": str(tmp_path / "outbox")})
    return {f.get_function_name(): f for f in function_app.create_app(settings).get_functions()}


def post(functions: dict[str, Any], body: bytes) -> tuple[int, Any]:
    request = func.HttpRequest("POST", "https://app.example/api/flows/declared/run",
                               body=body, route_params={"name": "declared"})
    response = functions["run_flow_webhook"].get_user_function()(request)
    return response.status_code, json.loads(response.get_body())


@pytest.mark.parametrize(("body", "message"), [
    (b"{}", "field 'state' is required"),
    (b'{"state": null}', "field 'state': None is not of type 'string'"),
    (b'{"state": "TX", "min_events": -1}', "field 'min_events': -1 is less than the minimum"),
    (b"", "the body: None is not of type 'object'"),
])
def test_a_body_that_does_not_match_is_a_422_naming_the_field_and_nothing_runs(
        tmp_path: Path, body: bytes, message: str) -> None:
    functions = app_for(tmp_path)
    status, answer = post(functions, body)
    assert status == 422 and answer["error"]["code"] == "BodyInvalid"
    assert answer["error"]["message"].startswith(message)
    assert "trigger.webhook.body" in answer["error"]["hint"]
    runs = functions["list_flow_runs"].get_user_function()(func.HttpRequest(
        "GET", "https://app.example/api/flows/declared/runs", body=b"",
        route_params={"name": "declared"}))
    assert json.loads(runs.get_body())["runs"] == []


def test_a_matching_body_runs_and_the_flow_list_shows_the_schema(tmp_path: Path) -> None:
    functions = app_for(tmp_path)
    status, answer = post(functions, b'{"state": "TEXAS", "min_events": 2}')
    assert status == 200 and answer["status"] == "Succeeded"
    listed = functions["list_flows"].get_user_function()(func.HttpRequest(
        "GET", "https://app.example/api/flows", body=b""))
    [flow] = json.loads(listed.get_body())["flows"]
    assert flow["webhook"] is True
    assert flow["body_schema"]["required"] == ["state"]


def test_a_body_schema_that_is_not_json_schema_is_refused_at_load(tmp_path: Path) -> None:
    path = write_flow(tmp_path, "bad", """\
        trigger:
          webhook:
            body: {type: nonsense}
        steps:
          - {id: q, action: kusto.query, connection: samples, query: print x = 1}
        """)
    with pytest.raises(FlowFileInvalid) as refused:
        load_flow(path)
    [problem] = refused.value.problems
    assert problem.field == "trigger.webhook" and problem.line == 2
    assert "not a valid JSON Schema at type" in problem.message
