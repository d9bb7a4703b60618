"""`http.request` end to end: flows run on the embedded Kusto engine send to the
local receiver (`tests/webhook_receiver.py`) through the real urllib3 client.

Why: a webhook is a write to someone else's system. The body must be what the flow
asked (values from a webhook body or a query stay values, however many quotes or
braces they hold), the signature must verify on the receiver's side with nothing
but `hmac`, a failure must be sent again only when that cannot act twice (429 and
refused connections; 5xx, time-outs and broken connections only with
`idempotent: true`), and the URL, whose query is its credential, must never show
in run records, step summaries, outputs, logs or pages.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import pytest

from shared.errors import FlowInvalid, StepInputError
from shared.http import retries
from shared.http.target import target_from_setting
from shared.loader import load_folder
from shared.results import RunStatus, StepStatus
from shared.runner import Trigger
from shared.service import FlowService
from shared.settings import Settings
from tests.fixtures_azurite import free_port
from tests.helpers import run_flow_file, runner_for, settings_for, write_flow
from tests.http_host import HttpHost
from tests.webhook_receiver import Drop, Hook, Reply, Slow, WebhookReceiver

ROOT = Path(__file__).resolve().parents[1]
SECRET = "correct horse battery staple"
#: A webhook body written to break out of a JSON string or into a template.
TRICKY = 'x", "admin": true, "y": "{{ 7 * 7 }}" } {% raw %}\\u0000'

SIGNED_FLOW = """\
    trigger: {webhook: true}
    steps:
      - id: top
        action: kusto.query
        connection: samples
        query: StormEvents | summarize Events = count() by State | top 2 by Events
      - id: post
        action: http.request
        url_setting: HOOK_URL
        secret_setting: HOOK_SECRET
        headers: {X-Flow: "{{ run.flow }}", X-Count: "{{ steps.top.row_count }}"}
        json:
          name: "{{ trigger.body.name }}"
          said: "{{ trigger.body.name }} said hi"
          count: "{{ steps.top.row_count }}"
          states: "{{ steps.top.rows }}"
          fixed: {list: [1, "two", null, true], text: "{not: json}"}
"""


def run_with(tmp_path: Path, flow: str, hook: Hook | None = None, body: Any = None,
             **settings: str) -> Any:
    path = write_flow(tmp_path / "flows", "hook", flow)
    app_settings = {"HOOK_URL": hook.url, "HOOK_SECRET": SECRET} if hook else {}
    app_settings.update(settings)
    return run_flow_file(path, settings_for(tmp_path, app_settings=app_settings), body=body)


def step(run: Any, path: str) -> Any:
    return next(s for s in run.steps if s.path == path)


def simple_flow(**fields: Any) -> str:
    extra = "".join(f"        {k}: {json.dumps(v)}\n" for k, v in fields.items())
    return ("    trigger: {webhook: true}\n    steps:\n      - id: post\n"
            "        action: http.request\n        url_setting: HOOK_URL\n"
            '        json: {hello: "world"}\n' + extra)


# -- the body and its signature -----------------------------------------------------

def test_the_json_body_is_what_the_flow_asked_and_its_signature_verifies(
        tmp_path: Path, webhook_receiver: WebhookReceiver) -> None:
    hook = webhook_receiver.hook(secret=SECRET)

    run = run_with(tmp_path, SIGNED_FLOW, hook, body={"name": TRICKY})

    assert run.status == RunStatus.SUCCEEDED, run.to_dict()
    [received] = hook.requests
    assert received.signature_ok is True
    assert received.json == {
        "name": TRICKY,
        "said": f"{TRICKY} said hi",
        "count": 2,
        "states": step(run, "top").outputs["rows"],
        "fixed": {"list": [1, "two", None, True], "text": "{not: json}"},
    }
    assert received.headers["content-type"] == "application/json; charset=utf-8"
    assert received.headers["x-flow"] == "hook" and received.headers["x-count"] == "2"
    assert received.idempotency_key == f"{run.run_id}:post"
    outputs = step(run, "post").outputs
    assert outputs["status"] == 200 and outputs["attempts"] == 1
    assert outputs["body"] == {"ok": True, "delivery": 1}
    assert outputs["url_host"] == webhook_receiver.url


def test_a_body_signed_with_another_secret_is_refused_by_the_receiver_and_not_resent(
        tmp_path: Path, webhook_receiver: WebhookReceiver) -> None:
    hook = webhook_receiver.hook(secret=SECRET)

    run = run_with(tmp_path, SIGNED_FLOW, hook, body={"name": "a"}, HOOK_SECRET="guess")

    post = step(run, "post")
    assert post.status == StepStatus.FAILED
    assert post.error.code == "HttpRequestFailed"
    assert "answered 401" in post.error.message and "bad signature" in post.error.message
    assert [r.signature_ok for r in hook.requests] == [False]
    assert sum(hook.deliveries.values()) == 0


def test_a_text_body_goes_as_written_and_a_nan_is_refused_before_sending(
        tmp_path: Path, webhook_receiver: WebhookReceiver) -> None:
    hook = webhook_receiver.hook()
    flow = """\
        steps:
          - id: post
            action: http.request
            url_setting: HOOK_URL
            method: PUT
            headers: {Content-Type: text/csv}
            text: "a,b\\n{{ trigger.body.v }},2"
    """
    run = run_with(tmp_path, flow, hook, body={"v": '"x"'})
    assert run.status == RunStatus.SUCCEEDED, run.to_dict()
    [received] = hook.requests
    assert (received.method, received.body) == ("PUT", b'a,b\n"x",2')
    assert received.headers["content-type"] == "text/csv"

    nan_flow = """\
        steps:
          - id: q
            action: kusto.query
            connection: samples
            query: print x = real(nan)
          - id: post
            action: http.request
            url_setting: HOOK_URL
            json: {rows: "{{ steps.q.rows }}"}
    """
    run = run_with(tmp_path / "nan", nan_flow, hook)
    post = step(run, "post")
    assert post.error.code == "InvalidInput"
    assert "field 'json.rows[0].x'" in post.error.message
    assert len(hook.requests) == 1


def test_a_header_value_from_outside_cannot_add_a_header(
        tmp_path: Path, webhook_receiver: WebhookReceiver) -> None:
    hook = webhook_receiver.hook()
    flow = """\
        steps:
          - id: post
            action: http.request
            url_setting: HOOK_URL
            headers: {X-Name: "{{ trigger.body.name }}"}
    """
    run = run_with(tmp_path, flow, hook, body={"name": "a\r\nX-Admin: yes"})
    post = step(run, "post")
    assert post.error.code == "InvalidInput" and "headers.X-Name" in post.error.message
    assert hook.requests == []


# -- what is sent again -------------------------------------------------------------

def test_throttling_is_sent_again_after_retry_after_and_acted_on_once(
        tmp_path: Path, webhook_receiver: WebhookReceiver) -> None:
    hook = webhook_receiver.hook().plan(Reply(429, retry_after="0"),
                                        Reply(429, retry_after="0"))

    run = run_with(tmp_path, simple_flow(), hook)

    assert run.status == RunStatus.SUCCEEDED, run.to_dict()
    assert [r.answered for r in hook.requests] == [429, 429, 200]
    assert len({r.idempotency_key for r in hook.requests}) == 1
    assert list(hook.deliveries.values()) == [1]
    assert step(run, "post").outputs["attempts"] == 3
    assert step(run, "post").summary.endswith(": 200 after 3 attempts")


def test_a_503_is_not_sent_again_unless_the_step_is_idempotent(
        tmp_path: Path, webhook_receiver: WebhookReceiver) -> None:
    once = webhook_receiver.hook().plan(Reply(503, retry_after="0", acted=True))
    run = run_with(tmp_path / "once", simple_flow(), once)
    post = step(run, "post")
    assert post.error.code == "HttpRequestFailed"
    assert "answered 503" in post.error.message and "may have been processed" in post.error.message
    assert "idempotent: true" in post.error.hint
    assert len(once.requests) == 1

    again = webhook_receiver.hook().plan(Reply(503, retry_after="0"))
    run = run_with(tmp_path / "again", simple_flow(idempotent=True), again)
    assert run.status == RunStatus.SUCCEEDED, run.to_dict()
    assert [r.answered for r in again.requests] == [503, 200]
    assert list(again.deliveries.values()) == [1]


def test_a_request_with_no_answer_in_time_is_not_sent_again_unless_idempotent(
        tmp_path: Path, webhook_receiver: WebhookReceiver) -> None:
    slow = webhook_receiver.hook().plan(Slow(30))
    run = run_with(tmp_path / "once", simple_flow(timeout="1s"), slow)
    post = step(run, "post")
    assert post.error.code == "HttpRequestFailed"
    assert "no answer within 1 s" in post.error.message
    assert "was not sent again" in post.error.message
    assert len(slow.requests) == 1 and sum(slow.deliveries.values()) == 1

    again = webhook_receiver.hook().plan(Slow(30))
    run = run_with(tmp_path / "again", simple_flow(timeout="1s", idempotent=True), again)
    assert run.status == RunStatus.SUCCEEDED, run.to_dict()
    # Acted on twice, with one key: the receiver can tell the repeat and drop it.
    [(key, count)] = again.deliveries.items()
    assert count == 2 and key == f"{run.run_id}:post"


def test_a_connection_dropped_without_an_answer_is_not_sent_again(
        tmp_path: Path, webhook_receiver: WebhookReceiver) -> None:
    hook = webhook_receiver.hook().plan(Drop())
    run = run_with(tmp_path, simple_flow(), hook)
    post = step(run, "post")
    assert post.error.code == "HttpRequestFailed"
    assert "connection broke" in post.error.message
    assert len(hook.requests) == 1


def test_a_refused_connection_is_sent_again_then_fails_saying_so(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/hook?sig=abcdefghijkl"
    run = run_with(tmp_path, simple_flow(retries=2), HOOK_URL=url)
    post = step(run, "post")
    assert post.error.code == "HttpRequestFailed"
    assert "could not be made" in post.error.message
    assert "on each of 3 attempts" in post.error.message
    assert "abcdefghijkl" not in json.dumps(run.to_dict())


def test_a_retry_after_longer_than_the_run_has_left_fails_at_once(
        tmp_path: Path, webhook_receiver: WebhookReceiver) -> None:
    hook = webhook_receiver.hook().plan(Reply(429, retry_after="3600"))
    run = run_with(tmp_path, simple_flow(), hook)
    post = step(run, "post")
    assert "asked to wait 3600 s" in post.error.message
    assert len(hook.requests) == 1


def test_retry_after_is_read_as_seconds_or_an_http_date() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert retries.retry_after("7", now) == 7.0
    assert retries.retry_after(format_datetime(now + timedelta(seconds=90), usegmt=True),
                               now) == 90.0
    assert retries.retry_after("soon", now) is None and retries.retry_after(None) is None
    assert [retries.backoff(n) for n in (1, 2, 3, 4, 5, 6)] == [0.5, 1, 2, 4, 8, 8]


# -- answers ------------------------------------------------------------------------

def test_an_answer_is_parsed_when_json_and_cut_at_max_response_bytes(
        tmp_path: Path, webhook_receiver: WebhookReceiver) -> None:
    big = webhook_receiver.hook().respond_with(
        200, json.dumps({"x": "y" * 5000}).encode(), {"Content-Type": "application/json"})
    run = run_with(tmp_path / "big", simple_flow(max_response_bytes="1KB"), big)
    outputs = step(run, "post").outputs
    assert outputs["body_truncated"] is True
    assert isinstance(outputs["body"], str) and len(outputs["body"]) == 1024

    text = webhook_receiver.hook().respond_with(202, b"queued", {"Content-Type": "text/plain",
                                                                 "Set-Cookie": "s=1"})
    run = run_with(tmp_path / "text", simple_flow(), text)
    outputs = step(run, "post").outputs
    assert (outputs["status"], outputs["body"], outputs["body_truncated"]) == (202, "queued",
                                                                               False)
    assert outputs["headers"]["content-type"] == "text/plain"
    assert "set-cookie" not in outputs["headers"]


# -- the URL setting ------------------------------------------------------------------

def test_a_missing_url_setting_fails_naming_the_setting_and_sends_nothing(
        tmp_path: Path) -> None:
    run = run_with(tmp_path, simple_flow())
    post = step(run, "post")
    assert post.error.code == "InvalidInput"
    assert "app setting HOOK_URL is not set" in post.error.message
    assert "HOOK_URL" in post.error.hint


def test_a_url_setting_that_is_not_an_https_url_is_refused_without_showing_it() -> None:
    for value, said in [("not a url at all", "does not hold an http(s) URL"),
                        ("http://example.com/hook?sig=s3cr3tvalue", "allowed only to 127.0.0.1"),
                        ("https://user:s3cr3tvalue@example.com/", "user name or password"),
                        ("ftp://example.com/s3cr3tvalue", "does not hold an http(s) URL")]:
        settings = Settings(app_settings={"HOOK": value})
        with pytest.raises(StepInputError) as caught:
            target_from_setting(settings, "HOOK")
        assert said in str(caught.value) and "s3cr3tvalue" not in str(caught.value)
    target = target_from_setting(
        Settings(app_settings={"HOOK": "https://prod-01.westus.logic.azure.com:443/workflows/"
                                       "0a1b2c3d4e/triggers/manual/paths/invoke?sig=AbCdEf123"}),
        "HOOK")
    assert target.origin == "https://prod-01.westus.logic.azure.com:443"
    assert target.redact(f"see {target.url}, {target.url.split('?')[1]} or AbCdEf123") == \
        "see [redacted], [redacted] or [redacted]"


def test_a_flow_that_writes_a_url_where_a_setting_name_goes_is_refused_on_load(
        tmp_path: Path) -> None:
    path = write_flow(tmp_path / "flows", "bad", """\
        steps:
          - id: post
            action: http.request
            url_setting: "https://example.com/hook?sig=s3cr3tvalue"
    """)
    with pytest.raises(FlowInvalid) as caught:
        run_flow_file(path, settings_for(tmp_path))
    problems = " ".join(str(p) for p in caught.value.problems)
    assert "not an app setting name" in problems and "s3cr3tvalue" not in problems

    path = write_flow(tmp_path / "flows", "bad", """\
        steps:
          - id: post
            action: http.request
            url_setting: HOOK_URL
            json: {a: 1}
            text: "and a text body"
    """)
    with pytest.raises(FlowInvalid) as caught:
        run_flow_file(path, settings_for(tmp_path))
    assert "either json or text" in " ".join(str(p) for p in caught.value.problems)


# -- the URL is never shown -----------------------------------------------------------

def test_the_url_never_shows_in_records_summaries_outputs_logs_or_pages(
        tmp_path: Path, webhook_receiver: WebhookReceiver,
        caplog: pytest.LogCaptureFixture) -> None:
    ok = webhook_receiver.hook(secret=SECRET)
    # This receiver fails, saying the URL it was called on (as some do).
    failing = webhook_receiver.hook(secret=SECRET)
    failing.respond_with(400, f"bad request to {failing.url}".encode(),
                         {"Content-Type": "text/plain", "Location": failing.url})
    flows = tmp_path / "flows"
    write_flow(flows, "leaky", """\
        trigger: {webhook: true}
        steps:
          - id: ok
            action: http.request
            url_setting: OK_URL
            secret_setting: HOOK_SECRET
            json: {a: 1}
          - id: fails
            action: http.request
            url_setting: FAILING_URL
            secret_setting: HOOK_SECRET
            json: {a: 2}
    """)
    settings = Settings(state_dir=tmp_path / "state", flows_dir=flows,
                        outbox_dir=tmp_path / "outbox",
                        app_settings={"OK_URL": ok.url, "FAILING_URL": failing.url,
                                      "HOOK_SECRET": SECRET})
    service = FlowService.load(settings, flows)
    caplog.set_level(logging.DEBUG)
    try:
        run = service.run("leaky", Trigger(kind="webhook", body={}))
        assert [s.status for s in run.steps] == [StepStatus.SUCCEEDED, StepStatus.FAILED]
        assert "answered 400" in run.steps[1].error.message
        with HttpHost(service) as host:
            pages = [urlopen(host.url(path)).read().decode("utf-8") for path in (
                "pages/flows", "pages/flows/leaky/runs", f"pages/runs/leaky/{run.run_id}",
                "flows/leaky/runs", f"runs/leaky/{run.run_id}")]
    finally:
        service.close()
    shown = [json.dumps(run.to_dict()), *(s.summary for s in run.steps),
             json.dumps([s.outputs for s in run.steps], default=str), caplog.text, *pages]
    assert f"runs/leaky/{run.run_id}" in pages[2] or run.run_id in pages[2]
    for hook in (ok, failing):
        secret_parts = [hook.url, hook.sig, hook.path]
        for text in shown:
            for part in secret_parts:
                assert part not in text
    assert "[redacted]" in run.steps[1].error.message
    assert webhook_receiver.url in run.steps[0].summary  # the origin is what is shown


def test_the_signed_webhook_example_sends_signed_json_with_its_settings(
        tmp_path: Path, webhook_receiver: WebhookReceiver) -> None:
    hook = webhook_receiver.hook(secret="example-secret")
    folder = load_folder(ROOT / "flows")
    settings = settings_for(tmp_path, app_settings={
        "STORM_WEBHOOK_URL": hook.url, "STORM_WEBHOOK_SECRET": "example-secret"})
    run = runner_for(settings, folder.connections).run(
        folder.flows["storm-signed-webhook"].flow, Trigger(kind="webhook",
                                                           body={"since": "2007-06-01"}))
    assert run.status == RunStatus.SUCCEEDED, run.to_dict()
    [received] = hook.requests
    assert received.signature_ok is True
    body = received.json
    assert body["event"] == "storm.top_states" and body["since"] == "2007-06-01"
    assert body["run_id"] == run.run_id and len(body["states"]) == 5

    unset = runner_for(settings_for(tmp_path / "unset"), folder.connections).run(
        folder.flows["storm-signed-webhook"].flow, Trigger(kind="webhook"))
    assert unset.error is not None and "STORM_WEBHOOK_URL is not set" in unset.error.message
