"""Delivery through Azure Communication Services Email (`shared.mail.acs`) and the ACS
limits checked before sending (`shared.mail.limits`).

What: the real `azure-communication-email` SDK talks to `tests.acs_fake.AcsFake`, a
local HTTP endpoint that speaks the ACS Email REST protocol (POST /emails:send -> 202
+ Operation-Location, GET the operation -> status) and checks every request's HMAC
signature against the test's access key. The tests read back the JSON the SDK sent.

Why: a report mailed twice to a distribution list, or a flow that spends 30 s of
function time per mail waiting on the SDK's default poll interval, are the failures
that matter here. So besides the payload, the tests pin down: which failures are
retried (429, 5xx, connection errors before the request left) and which are not
(anything after ACS may have accepted the mail), that time-outs report the operation
id instead of sending again, and that polling follows EMAIL_POLL_SECONDS and the
service's Retry-After. The main fake is plain http (`EmailClient(url, key)`); the
connection-string and managed-identity paths run against a second fake serving TLS
with a throw-away self-signed certificate, because the SDK forces https there.
"""

from __future__ import annotations

import base64
import io
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
from azure.communication.email import EmailClient
from azure.core.credentials import AccessToken, AzureKeyCredential

from shared.errors import EmailFailed, StepInputError
from shared.mail.acs import (
    RETRY_TOTAL,
    AcsSender,
    EmailOutcomeUnknown,
    build_client,
    client_options,
)
from shared.mail.limits import (
    MAX_MESSAGE_BYTES,
    MAX_RECIPIENTS,
    encoded_size,
    fit_attachments,
    split_recipients,
)
from shared.mail.message import Attachment, EmailMessage
from shared.settings import Settings
from tests.acs_fake import AcsFake, Script, self_signed_cert, server_tls_context

KEY = base64.b64encode(b"kusto-flows test access key - not a secret").decode()
WRONG_KEY = base64.b64encode(b"some other key").decode()
TOKEN = "managed-identity-test-token"

SETTINGS = Settings(email_poll_seconds=0.05, email_send_timeout_seconds=10.0,
                    email_sender="reports@example.com")


def _join_pollers(seconds: float = 10.0) -> None:
    """Wait for the SDK's background poller threads (left running by time-out tests),
    so a late status GET never lands in the next test's records."""
    for thread in threading.enumerate():
        if thread.name.startswith("LROPoller"):
            thread.join(seconds)


@pytest.fixture(scope="module")
def acs_server():
    with AcsFake(KEY) as fake:
        yield fake


@pytest.fixture
def acs(acs_server):
    acs_server.reset()
    yield acs_server
    acs_server.release()
    _join_pollers()


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    return self_signed_cert(tmp_path_factory.mktemp("acs-tls"))


@pytest.fixture(scope="module")
def acs_tls(tls_files):
    with AcsFake(KEY, tls=server_tls_context(*tls_files), bearer_token=TOKEN) as fake:
        yield fake


@pytest.fixture
def sender(acs):
    """`sender(settings=..., key=..., **client_kwargs)`: an AcsSender on the http fake,
    its client built with the production `client_options`."""
    clients: list[EmailClient] = []

    def make(settings: Settings = SETTINGS, *, key: str = KEY, url: str = "",
             **kwargs) -> AcsSender:
        client = EmailClient(url or acs.url, AzureKeyCredential(key),
                             **{**client_options(settings), **kwargs})
        clients.append(client)
        return AcsSender(settings, client=client)

    yield make
    acs.release()
    _join_pollers()
    for client in clients:
        client.close()


def mail(**changes) -> EmailMessage:
    base = EmailMessage(sender="reports@example.com", to=["ana@example.com"],
                        subject="Storm report", html="<p>3 storms</p>", text="3 storms")
    return replace(base, **changes)


def _addresses(entries: list[dict] | None) -> list[str]:
    return [entry["address"] for entry in entries or []]


# -- what the SDK sends ---------------------------------------------------------------

def test_the_sdk_posts_recipients_content_reply_to_attachments_and_inline_parts(acs, sender):
    csv = Attachment("storms.csv", "text/csv", b"State,Count\nTEXAS,3\n")
    chart = Attachment("chart.png", "image/png", b"\x89PNG\r\n\x1a\nfake-png", content_id="chart1")
    message = mail(
        to=["Ana Lima <ana@example.com>", "bo@example.com"], cc=["cy@example.com"],
        bcc=["di@example.org"], reply_to=["Ops Team <ops@example.com>"],
        subject="Storms: 3 today", html='<p>3</p><img src="cid:chart1">', text="3 storms",
        attachments=[csv], inline=[chart], importance="high",
    )

    result = sender().send(message)

    [post] = acs.posts
    assert post.path.startswith("/emails:send?api-version=")
    body = post.json
    assert body["senderAddress"] == "reports@example.com"
    assert body["recipients"]["to"] == [
        {"address": "ana@example.com", "displayName": "Ana Lima"},
        {"address": "bo@example.com"},
    ]
    assert _addresses(body["recipients"]["cc"]) == ["cy@example.com"]
    assert _addresses(body["recipients"]["bcc"]) == ["di@example.org"]
    assert body["replyTo"] == [{"address": "ops@example.com", "displayName": "Ops Team"}]
    assert body["content"] == {"subject": "Storms: 3 today",
                               "html": '<p>3</p><img src="cid:chart1">',
                               "plainText": "3 storms"}
    attachments = {a["name"]: a for a in body["attachments"]}
    assert base64.b64decode(attachments["storms.csv"]["contentInBase64"]) == csv.data
    assert attachments["storms.csv"]["contentType"] == "text/csv"
    assert "contentId" not in attachments["storms.csv"]
    assert base64.b64decode(attachments["chart.png"]["contentInBase64"]) == chart.data
    assert attachments["chart.png"]["contentId"] == "chart1"
    assert attachments["chart.png"]["contentType"] == "image/png"
    assert body["headers"] == {"x-priority": "1", "importance": "high"}

    assert result.status == "Succeeded"
    assert result.messages == 1
    assert result.operation_ids == [post.headers["operation-id"]]
    assert list(acs.accepted) == result.operation_ids
    assert result.recipients == message.recipients


def test_low_importance_sets_x_priority_5_and_normal_importance_sets_no_headers(acs, sender):
    mailer = sender()
    mailer.send(mail(importance="low"))
    mailer.send(mail(importance="normal"))

    low, normal = (post.json for post in acs.posts)
    assert low["headers"] == {"x-priority": "5", "importance": "low"}
    assert "headers" not in normal


def test_the_flow_sender_falls_back_to_the_email_sender_setting(acs, sender):
    sender().send(mail(sender=""))

    assert acs.posts[0].json["senderAddress"] == "reports@example.com"


def test_the_mail_sender_sends_through_acs_with_one_client_for_many_mails_and_closes_it(
        acs, monkeypatch, tmp_path):
    """The process's mail sender (what email.send uses) with ACS configured: the mail
    goes to ACS, not the outbox, the outputs name the operation and recipients, every
    mail goes through the one client (one credential, one token) made on first use,
    and closing the sender closes it."""
    import shared.mail.acs as acs_module
    from shared.mail.sender import mail_sender_for

    built: list[EmailClient] = []
    closed: list[bool] = []

    def fake_build(settings, **kwargs):
        client = EmailClient(acs.url, AzureKeyCredential(KEY),
                             **{**client_options(settings), **kwargs})
        close = client.close
        client.close = lambda: (closed.append(True), close())  # type: ignore[method-assign]
        built.append(client)
        return client

    monkeypatch.setattr(acs_module, "build_client", fake_build)
    settings = replace(SETTINGS, acs_endpoint="https://acs.invalid", outbox_dir=tmp_path)
    mail_sender = mail_sender_for(settings)

    outputs = mail_sender.send(mail(cc=["cy@example.com"]), "flow_mail")
    again = mail_sender.send(mail(), "flow_mail")

    assert outputs["delivery"] == "acs" and outputs["status"] == "Succeeded"
    assert outputs["operation_ids"] + again["operation_ids"] == list(acs.accepted)
    assert len(acs.accepted) == 2
    assert outputs["message_id"] == outputs["operation_ids"][0]
    assert outputs["recipients"] == ["ana@example.com", "cy@example.com"]
    assert not list(tmp_path.iterdir())  # nothing in the outbox
    assert len(built) == 1 and closed == []
    mail_sender.close()
    assert closed == [True]


# -- authentication ----------------------------------------------------------------------

def test_every_request_carries_an_hmac_signature_the_fake_verifies(acs, sender):
    sender().send(mail())

    assert [r.method for r in acs.requests] == ["POST", "GET"]
    for request in acs.requests:
        assert request.status in (200, 202)
        assert request.headers["authorization"].startswith(
            "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=")
        assert acs.auth_error(request.method, request.path, request.headers, request.body) == ""
    # The check is real: the same request with another body or path is refused.
    post = acs.posts[0]
    assert acs.auth_error("POST", post.path, post.headers, post.body + b" ") != ""
    assert acs.auth_error("POST", post.path + "x", post.headers, post.body) != ""


def test_a_wrong_access_key_is_refused_with_a_clear_email_failed(acs, sender):
    with pytest.raises(EmailFailed) as caught:
        sender(key=WRONG_KEY).send(mail())

    error = caught.value
    assert not isinstance(error, EmailOutcomeUnknown)
    assert "HTTP 401 Denied" in error.message
    assert "signature does not match" in error.message
    assert "ACS_CONNECTION_STRING" in error.hint
    assert len(acs.posts) == 1  # a 401 is not retried
    assert acs.accepted == {}


# -- retries of the POST -----------------------------------------------------------------

def test_a_503_on_the_post_is_retried_and_the_mail_is_accepted_once(acs, sender):
    acs.fail_posts(503, times=2)

    result = sender().send(mail())

    assert [p.status for p in acs.posts] == [503, 503, 202]
    assert len(acs.accepted) == 1
    # One message, one id: every attempt carries the same Operation-Id.
    assert {p.headers["operation-id"] for p in acs.posts} == set(result.operation_ids)


def test_a_429_is_retried_after_the_wait_its_retry_after_asks_for(acs, sender):
    acs.fail_posts(429, retry_after="1", code="TooManyRequests", message="slow down")

    sender().send(mail())

    first, second = acs.posts
    assert (first.status, second.status) == (429, 202)
    assert second.at - first.at >= 0.9
    assert len(acs.accepted) == 1


def test_a_429_without_retry_after_and_a_502_are_retried_although_azure_core_would_not(
        acs, sender):
    # azure-core's default RetryPolicy retries a POST only on 500, 503 and 504.
    acs.fail_posts(429, code="TooManyRequests")
    acs.fail_posts(502, code="BadGateway")

    sender().send(mail())

    assert [p.status for p in acs.posts] == [429, 502, 202]
    assert len(acs.accepted) == 1


def test_a_429_asking_for_a_long_wait_fails_at_once_and_says_how_long(acs, sender):
    acs.fail_posts(429, retry_after="3600", code="TooManyRequests", message="quota exceeded")
    started = time.monotonic()

    with pytest.raises(EmailFailed) as caught:
        sender().send(mail())

    assert time.monotonic() - started < 5
    assert "HTTP 429 TooManyRequests: quota exceeded" in caught.value.message
    assert "3600" in caught.value.hint
    assert len(acs.posts) == 1
    assert acs.accepted == {}


def test_a_post_that_keeps_failing_gives_up_after_a_bounded_number_of_retries(acs, sender):
    acs.fail_posts(503, times=RETRY_TOTAL + 5)

    with pytest.raises(EmailFailed) as caught:
        sender().send(mail())

    assert len(acs.posts) == RETRY_TOTAL + 1
    assert "HTTP 503" in caught.value.message
    assert "not accepted" in caught.value.hint
    assert not isinstance(caught.value, EmailOutcomeUnknown)


def test_a_5xx_that_hid_an_accepted_post_is_retried_under_the_same_id_and_mailed_once(
        acs, sender):
    acs.script_posts(Script("accept-then-status", 503, {"error": {"code": "Oops",
                                                                   "message": "lost"}}))

    result = sender().send(mail())

    assert [p.status for p in acs.posts] == [503, 202]
    assert len({p.headers["operation-id"] for p in acs.posts}) == 1
    assert list(acs.accepted) == result.operation_ids  # the fake dropped the repeat


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_connection_errors_before_the_post_reaches_acs_are_retried(sender):
    attempts: list[str] = []
    dead = f"http://127.0.0.1:{_free_port()}"  # nothing listens there any more

    with pytest.raises(EmailFailed) as caught:
        sender(url=dead, raw_request_hook=lambda request: attempts.append(
            request.http_request.method)).send(mail())

    assert attempts == ["POST"] * (RETRY_TOTAL + 1)
    assert "could not reach ACS" in caught.value.message
    assert "not sent" in caught.value.hint
    assert not isinstance(caught.value, EmailOutcomeUnknown)


# -- no duplicate mail -------------------------------------------------------------------

def test_a_connection_lost_after_the_post_is_not_retried_and_reports_the_operation_id(
        acs, sender):
    acs.script_posts(Script("drop"))

    with pytest.raises(EmailOutcomeUnknown) as caught:
        sender().send(mail())

    [post] = acs.posts
    assert caught.value.operation_id == post.headers["operation-id"]
    assert list(acs.accepted) == [caught.value.operation_id]
    assert "ACS logs" in caught.value.hint
    assert caught.value.code == "EmailFailed"


def test_a_status_poll_that_hangs_past_the_send_timeout_fails_with_the_operation_id(
        acs, sender):
    acs.script_gets(Script("hang", seconds=20))
    settings = replace(SETTINGS, email_send_timeout_seconds=0.5)
    started = time.monotonic()

    with pytest.raises(EmailOutcomeUnknown) as caught:
        sender(settings).send(mail())

    assert time.monotonic() - started < 5
    error = caught.value
    assert error.operation_id == acs.posts[0].headers["operation-id"]
    assert error.operation_id in error.message
    assert "EMAIL_SEND_TIMEOUT_SECONDS" in error.message
    assert "before sending it again" in error.hint
    assert len(acs.posts) == 1
    assert list(acs.accepted) == [error.operation_id]


def test_a_failed_final_status_raises_email_failed_with_the_services_error(acs, sender):
    acs.script_gets(Script("failed", body={"error": {
        "code": "EmailDroppedAllRecipientsSuppressed",
        "message": "Message dropped because all recipients were suppressed"}}))

    with pytest.raises(EmailFailed) as caught:
        sender().send(mail())

    error = caught.value
    assert not isinstance(error, EmailOutcomeUnknown)
    assert "Failed EmailDroppedAllRecipientsSuppressed" in error.message
    assert "all recipients were suppressed" in error.message
    assert error.operation_id == acs.posts[0].headers["operation-id"]
    assert len(acs.posts) == 1


def test_a_400_from_acs_is_reported_with_its_error_code_and_message(acs, sender):
    acs.fail_posts(400, code="InvalidSenderUserName",
                   message="The sender username is not valid for this domain.")

    with pytest.raises(EmailFailed) as caught:
        sender().send(mail())

    error = caught.value
    assert "HTTP 400 InvalidSenderUserName" in error.message
    assert "sender username is not valid" in error.message
    assert "EMAIL_SENDER" in error.hint
    assert len(acs.posts) == 1
    assert acs.accepted == {}


# -- polling ---------------------------------------------------------------------------

class _SpyClient(EmailClient):
    """The real client, remembering how `begin_send` was called and its poller."""

    def begin_send(self, message, **kwargs):  # type: ignore[override]
        self.calls = [*getattr(self, "calls", []), kwargs]
        self.poller = super().begin_send(message, **kwargs)
        return self.poller


def test_status_is_polled_every_email_poll_seconds_not_the_sdks_30_s(acs):
    acs.script_gets(Script("running"), Script("running"))
    client = _SpyClient(acs.url, AzureKeyCredential(KEY), **client_options(SETTINGS))
    try:
        AcsSender(SETTINGS, client=client).send(mail())
    finally:
        client.close()

    assert client.calls[0]["polling_interval"] == SETTINGS.email_poll_seconds == 0.05
    assert client.poller.polling_method()._timeout == 0.05  # what the SDK sleeps between
    gets = acs.gets
    assert len(gets) == 3  # Running, Running, Succeeded
    gaps = [b.at - a.at for a, b in zip(gets, gets[1:], strict=False)]
    assert all(0.04 <= gap < 2 for gap in gaps), gaps


def test_a_retry_after_on_the_status_is_honoured_over_the_polling_interval(acs, sender):
    acs.script_gets(Script("running", retry_after="1"))

    sender().send(mail())

    first, second = acs.gets
    assert second.at - first.at >= 0.9  # not the 0.05 s polling interval


# -- recipients ------------------------------------------------------------------------

def test_120_to_recipients_go_out_as_3_messages_and_each_recipient_gets_one_copy(
        acs, sender):
    everyone = [f"user{i:03}@example.com" for i in range(120)]

    result = sender().send(mail(to=everyone, cc=["boss@example.com"]))

    bodies = [post.json for post in acs.posts]
    assert len(bodies) == 3 == result.messages == len(set(result.operation_ids))
    counts = [sum(len(b["recipients"].get(k, [])) for k in ("to", "cc", "bcc")) for b in bodies]
    assert all(count <= MAX_RECIPIENTS for count in counts), counts
    sent_to = [a for b in bodies for k in ("to", "cc", "bcc") for a in
               _addresses(b["recipients"].get(k))]
    assert sorted(sent_to) == sorted([*everyone, "boss@example.com"])
    assert _addresses(bodies[0]["recipients"]["cc"]) == ["boss@example.com"]
    assert all("cc" not in b["recipients"] for b in bodies[1:])
    assert len(acs.accepted) == 3


def test_split_keeps_cc_on_the_first_message_spreads_bcc_and_drops_duplicates():
    to = [f"t{i}@example.com" for i in range(70)]
    bcc = [f"b{i}@example.com" for i in range(40)] + ["T0@example.com"]
    message = mail(to=to, cc=["c1@example.com", "c2@example.com"], bcc=bcc)

    parts = split_recipients(message)

    assert len(parts) == 3
    assert [len(p.recipients) for p in parts] == [50, 50, 12]
    assert parts[0].cc == ["c1@example.com", "c2@example.com"]
    assert all(p.cc == [] and p.to for p in parts[1:])
    everyone = [a.lower() for p in parts for a in p.recipients]
    assert len(everyone) == len(set(everyone)) == 70 + 2 + 40
    assert split_recipients(mail(to=to[:50])) == [mail(to=to[:50])]


def test_split_refuses_more_cc_than_one_message_holds():
    with pytest.raises(StepInputError, match="cc cannot be split"):
        split_recipients(mail(cc=[f"c{i}@example.com" for i in range(60)]))


def test_when_one_of_several_messages_fails_the_error_names_who_got_it_and_who_did_not(
        acs, sender):
    everyone = [f"user{i:03}@example.com" for i in range(120)]
    acs.script_posts(Script("accept"))  # the first message goes through
    acs.fail_posts(400, code="BadRequest", message="bad recipient")

    with pytest.raises(EmailFailed) as caught:
        sender().send(mail(to=everyone))

    text = caught.value.message
    assert "message 2 failed" in text and "bad recipient" in text
    assert "Sent to (50): user000@example.com" in text
    assert "Did not get it (50): user050@example.com" in text
    assert "Not sent (20): user100@example.com" in text
    assert "twice" in caught.value.hint
    assert len(acs.accepted) == 1
    assert len(acs.posts) == 2  # stops at the first failure


def test_a_bad_address_in_a_later_message_fails_before_any_message_is_sent(acs, sender):
    everyone = [f"user{i:03}@example.com" for i in range(120)] + ["not-an-address"]

    with pytest.raises(StepInputError, match="not an email address: 'not-an-address'"):
        sender().send(mail(to=everyone))

    assert acs.requests == []


# -- size ---------------------------------------------------------------------------------

def _csv(rows: int) -> bytes:
    lines = ["Timestamp,State,EventType,Damage"]
    lines += [f"2024-01-{1 + i % 28:02}T00:00:00Z,TEXAS,Thunderstorm Wind,{i * 100}"
              for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def test_encoded_size_counts_attachments_as_base64():
    message = mail(attachments=[Attachment("a.bin", "application/octet-stream", b"x" * 300)])

    assert encoded_size(message) >= 400  # 300 bytes -> 400 base64 characters
    assert encoded_size(message) - encoded_size(mail()) < 450


def test_a_csv_too_big_for_acs_is_replaced_by_a_zip_of_the_same_csv():
    data = _csv(20_000)
    chart = Attachment("chart.png", "image/png", b"png", content_id="c1")
    message = mail(attachments=[Attachment("storms.csv", "text/csv", data)], inline=[chart])
    limit = encoded_size(message) // 2

    fitted = fit_attachments(message, max_bytes=limit)

    [zipped] = fitted.attachments
    assert (zipped.name, zipped.content_type) == ("storms.csv.zip", "application/zip")
    with zipfile.ZipFile(io.BytesIO(zipped.data)) as archive:
        [info] = archive.infolist()
        assert info.filename == "storms.csv"
        assert info.compress_type == zipfile.ZIP_DEFLATED
        assert archive.read("storms.csv") == data
    assert fitted.inline == [chart]
    assert encoded_size(fitted) <= limit
    assert fit_attachments(message) is message  # fits ACS's real limit as is


def test_a_message_still_too_big_after_zipping_fails_with_sizes_and_how_to_narrow_the_query():
    noise = random.Random(7).randbytes(300_000)  # does not compress
    message = mail(attachments=[Attachment("raw.csv", "text/csv", noise)])

    with pytest.raises(StepInputError) as caught:
        fit_attachments(message, max_bytes=200_000)

    error = caught.value
    assert "0.4 MB after base64 encoding even with raw.csv.zip zipped" in error.message
    assert "at most 0.2 MB" in error.message
    for advice in ("fewer columns", "summarize", "time filter", "max_table_rows"):
        assert advice in error.hint


def test_send_refuses_a_message_over_the_acs_limit_before_any_request(acs, sender):
    picture = Attachment("map.png", "image/png", b"\0" * (MAX_MESSAGE_BYTES * 3 // 4 + 10))

    with pytest.raises(StepInputError, match="ACS accepts at most 10.0 MB"):
        sender().send(mail(attachments=[picture]))

    assert acs.requests == []


# -- building the client from settings ----------------------------------------------------

def test_the_connection_string_path_sends_over_tls_with_the_access_key(acs_tls, tls_files):
    acs_tls.reset()
    settings = replace(SETTINGS, acs_connection_string=acs_tls.connection_string)
    client = build_client(settings, connection_verify=str(tls_files[0]))
    try:
        result = AcsSender(settings, client=client).send(mail())
    finally:
        client.close()

    assert acs_tls.url.startswith("https://127.0.0.1:")
    assert list(acs_tls.accepted) == result.operation_ids
    assert acs_tls.posts[0].headers["authorization"].startswith("HMAC-SHA256 ")


class _StubCredential:
    made: list[dict] = []

    def __init__(self, **kwargs) -> None:
        _StubCredential.made.append(kwargs)

    def get_token(self, *scopes, **kwargs) -> AccessToken:
        assert scopes == ("https://communication.azure.com//.default",)
        return AccessToken(TOKEN, int(time.time()) + 3600)

    def close(self) -> None:
        pass


def test_acs_endpoint_uses_the_user_assigned_managed_identity(acs_tls, tls_files, monkeypatch):
    import azure.identity

    acs_tls.reset()
    _StubCredential.made = []
    monkeypatch.setattr(azure.identity, "ManagedIdentityCredential", _StubCredential)
    settings = replace(SETTINGS, acs_endpoint=acs_tls.url,
                       azure_client_id="00000000-0000-0000-0000-000000000001")
    client = build_client(settings, connection_verify=str(tls_files[0]))
    try:
        AcsSender(settings, client=client).send(mail())
    finally:
        client.close()

    assert _StubCredential.made == [{"client_id": "00000000-0000-0000-0000-000000000001"}]
    assert acs_tls.posts[0].headers["authorization"] == f"Bearer {TOKEN}"
    assert len(acs_tls.accepted) == 1


def test_acs_endpoint_without_a_client_id_uses_default_azure_credential(monkeypatch):
    import azure.identity

    made: list[str] = []
    monkeypatch.setattr(azure.identity, "DefaultAzureCredential",
                        lambda: made.append("default") or _StubCredential())
    monkeypatch.setattr(azure.identity, "ManagedIdentityCredential",
                        lambda **kw: pytest.fail("no client id: no ManagedIdentityCredential"))

    client = build_client(replace(SETTINGS, acs_endpoint="https://127.0.0.1:9"))
    client.close()

    assert made == ["default"]


def test_missing_or_malformed_acs_settings_fail_clearly_without_leaking_the_key():
    with pytest.raises(EmailFailed, match="not configured"):
        AcsSender(Settings()).send(mail())
    with pytest.raises(EmailFailed, match="not a valid connection string") as caught:
        build_client(replace(SETTINGS, acs_connection_string="accesskey=c2VjcmV0"))
    assert "c2VjcmV0" not in str(caught.value)


def test_importing_the_acs_module_does_not_import_the_azure_sdks():
    code = ("import sys, shared.mail.acs, shared.mail.limits; "
            "print(sorted(m for m in sys.modules if m.startswith('azure')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[1],
                         env={**os.environ, "PYTHONWARNINGS": "error"})

    assert json.loads(out.stdout.replace("'", '"')) == []
