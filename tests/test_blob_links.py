"""Large results as links: blob.upload, and email.send with attachments too large to
mail, share a file as a time-limited, read-only link.

Why: a full result (a weekly CSV of thousands of rows) does not fit in a mail, and
failing or truncating it is what users of scheduled-report tools complain about
most after "send it to Teams". A link must work for whoever gets it, stop working
when it expires, and never depend on a secret in the flow.

How: Azurite's blob service (`azurite_blob`) with the real `azure-storage-blob` SDK:
the flow uploads, the link is fetched with plain HTTP (no SDK, no key), and a link
signed to expire in the past is refused by the service. Without blob storage the
file is written under the outbox and the link is a `file://` URL, so the embedded
default runs end to end. The user-delegation SAS of the managed-identity path needs
Entra ID, which Azurite's plain-HTTP mode does not offer: that path is built by the
same code but not run here.
"""

from __future__ import annotations

import email
import html
import os
import re
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from email import policy
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse
from urllib.request import url2pathname

import pytest

from shared.blob import BlobTarget, blob_target, parse_expiry
from shared.blob.upload import sign_link
from shared.loader import FlowFileInvalid, load_flow
from shared.mail.limits import MAX_MESSAGE_BYTES
from shared.mail.message import Attachment
from shared.model import StepModel
from shared.resources import Resources
from shared.results import RunStatus
from shared.settings import Settings
from shared.steps import REGISTRY, Action, StepContext, StepOutcome
from tests.helpers import run_flow_file, settings_for, write_flow


def _get(url: str) -> tuple[int, bytes, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read(), response.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers


def _blob_settings(tmp_path: Path, azurite_blob: Any, **more: Any) -> Settings:
    return settings_for(tmp_path, storage_connection_string=azurite_blob.connection_string,
                        results_container=f"results-{os.urandom(4).hex()}", **more)


REPORT = """
    steps:
      - id: report
        action: kusto.visualize
        connection: samples
        query: |
          StormEvents | where DamageProperty > 0
          | project StartTime, State, EventType, DamageProperty | order by StartTime asc
        chart: table
        max_table_rows: 5
      - id: link
        action: blob.upload
        file: "{{ steps.report.csv }}"
        name: "damage & more.csv"
        expires: 12h
      - id: mail
        action: email.send
        to: ["analysts@contoso.com"]
        subject: "Damage"
        body: "<p>Everything: {{ steps.link.link_html }}</p>{{ steps.report.table_html }}"
    """


def _mail_html(tmp_path: Path) -> str:
    (path,) = sorted((tmp_path / "outbox").glob("*.eml"))
    parsed = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    body = parsed.get_body(("html",))
    assert body is not None
    return str(body.get_content())


def _hrefs(markup: str) -> list[str]:
    return [html.unescape(href) for href in re.findall(r'href="([^"]+)"', markup)]


def test_an_uploaded_result_is_readable_through_its_link_and_only_with_it(
        tmp_path: Path, azurite_blob: Any) -> None:
    settings = _blob_settings(tmp_path, azurite_blob)
    run = run_flow_file(write_flow(tmp_path / "flows", "damage", REPORT), settings)
    assert run.status == RunStatus.SUCCEEDED, [s.error for s in run.steps if s.error]
    csv, link = run.steps[0].outputs["csv"], run.steps[1].outputs
    assert link["storage"] == "blob" and link["name"] == "damage & more.csv"
    assert link["size"] == csv.size
    expires = datetime.fromisoformat(link["expires_at"])
    assert timedelta(hours=11, minutes=59) < expires - datetime.now(UTC) <= timedelta(hours=12)
    assert link["location"].startswith(f"{settings.results_container}/damage/{run.run_id}/")
    assert "sig=" not in link["location"]

    status, data, headers = _get(link["url"])
    assert status == 200 and data == csv.data
    assert headers["Content-Type"] == "text/csv"
    assert "attachment" in headers["Content-Disposition"]
    assert urlparse(link["url"]).query, "a signed link"
    # The blob itself is private: without the signature, or with another one, no access.
    assert _get(link["url"].split("?")[0])[0] == 403
    assert _get(link["url"].replace("sig=", "sig=x"))[0] == 403
    # The mail carries the same link, escaped in HTML and whole once unescaped.
    assert link["url"] in _hrefs(_mail_html(tmp_path))
    assert "damage &amp; more.csv" in _mail_html(tmp_path)
    # The run record shows where, never the signature.
    assert "sig=" not in run.steps[1].summary


def test_a_link_is_refused_once_it_expired(tmp_path: Path, azurite_blob: Any) -> None:
    settings = _blob_settings(tmp_path, azurite_blob)
    run = run_flow_file(write_flow(tmp_path / "flows", "damage", REPORT), settings)
    assert run.status == RunStatus.SUCCEEDED
    location = run.steps[1].outputs["location"]
    resources = Resources(settings, {})
    try:
        expired = sign_link(resources, location, datetime.now(UTC) - timedelta(minutes=1))
        assert _get(expired)[0] == 403
        # A link valid for two seconds: read now, refused once the time has passed.
        short = sign_link(resources, location, datetime.now(UTC) + timedelta(seconds=2))
        assert _get(short)[0] == 200
        deadline = time.monotonic() + 30
        while _get(short)[0] == 200:
            assert time.monotonic() < deadline, "the link still works 30 s after it expired"
            time.sleep(0.5)
        assert _get(short)[0] == 403
    finally:
        resources.close()


def test_without_blob_storage_the_file_is_written_locally_and_labelled_so(
        tmp_path: Path) -> None:
    run = run_flow_file(write_flow(tmp_path / "flows", "damage", REPORT), settings_for(tmp_path))
    assert run.status == RunStatus.SUCCEEDED, [s.error for s in run.steps if s.error]
    link = run.steps[1].outputs
    assert link["storage"] == "local" and link["expires_at"] is None
    assert link["url"].startswith("file://")
    path = Path(url2pathname(urlparse(link["url"]).path))
    assert path.read_bytes() == run.steps[0].outputs["csv"].data
    assert path.is_relative_to((tmp_path / "outbox").resolve())
    mail = _mail_html(tmp_path)
    assert link["url"] in _hrefs(mail)
    assert "blob storage is not configured" in mail


# --------------------------------------------------------------- e-mail over the limit

class BigFileStep(StepModel):
    action: Literal["test.bigfile"]
    file_name: str
    size: int


def _big_file(step: BigFileStep, inputs: Any, ctx: StepContext) -> StepOutcome:
    # Random bytes: nothing compresses them, as with a real PNG or ZIP.
    return StepOutcome({"file": Attachment(step.file_name, "image/png", os.urandom(step.size))})


BIG = REGISTRY.with_actions(Action(BigFileStep, _big_file, title="a big file",
                                   fields_doc="", outputs_doc=""))
#: Over ACS's 10 MB once base64-encoded (4/3 of the bytes).
OVER_LIMIT = MAX_MESSAGE_BYTES * 3 // 4 + 100_000


def _mail_big(tmp_path: Path, settings: Settings, size: int) -> Any:
    path = write_flow(tmp_path / "flows", "big", f"""
        steps:
          - id: make
            action: test.bigfile
            file_name: big.png
            size: {size}
          - id: small
            action: test.bigfile
            file_name: small.png
            size: 1000
          - id: mail
            action: email.send
            to: ["analysts@contoso.com"]
            subject: "Big"
            body: "<html><body><p>Attached.</p></body></html>"
            attachments: ["{{{{ steps.make.file }}}}", "{{{{ steps.small.file }}}}"]
        """)
    return run_flow_file(path, settings, registry=BIG)


def _message(tmp_path: Path) -> Any:
    (path,) = sorted((tmp_path / "outbox").glob("*.eml"))
    return email.message_from_bytes(path.read_bytes(), policy=policy.default)


def _attachments(tmp_path: Path) -> dict[str, bytes]:
    return {str(part.get_filename()): part.get_content()
            for part in _message(tmp_path).iter_attachments()}


def test_an_attachment_over_the_mail_limit_goes_as_a_link(tmp_path: Path,
                                                          azurite_blob: Any) -> None:
    run = _mail_big(tmp_path, _blob_settings(tmp_path, azurite_blob), OVER_LIMIT)
    assert run.status == RunStatus.SUCCEEDED, [s.error for s in run.steps if s.error]
    big, small = run.steps[0].outputs["file"], run.steps[1].outputs["file"]
    assert _attachments(tmp_path) == {"small.png": small.data}, "the small one stays attached"
    message = _message(tmp_path)
    html_body = str(message.get_body(("html",)).get_content())
    text_body = str(message.get_body(("plain",)).get_content())
    (url,) = [href for href in _hrefs(html_body) if "big.png" in href]
    assert html_body.index("Attached.") < html_body.index("Too large to attach")
    assert "Too large to attach" in html_body and "Too large to attach" in text_body
    assert url in text_body
    status, data, _ = _get(url)
    assert status == 200 and data == big.data


def test_a_message_that_fits_keeps_its_attachments(tmp_path: Path, azurite_blob: Any) -> None:
    run = _mail_big(tmp_path, _blob_settings(tmp_path, azurite_blob), 100_000)
    assert run.status == RunStatus.SUCCEEDED
    assert set(_attachments(tmp_path)) == {"big.png", "small.png"}
    assert "Too large to attach" not in str(_message(tmp_path).get_body(("html",)).get_content())


def test_without_blob_storage_a_large_attachment_is_left_to_the_mail_limits(
        tmp_path: Path) -> None:
    # The outbox takes it as it is; Azure Communication Services would refuse it with
    # the sizes and how to narrow the query (tests/test_email_acs.py).
    run = _mail_big(tmp_path, settings_for(tmp_path), OVER_LIMIT)
    assert run.status == RunStatus.SUCCEEDED
    assert set(_attachments(tmp_path)) == {"big.png", "small.png"}


# --------------------------------------------------------------- settings and fields

def test_the_blob_storage_comes_from_the_host_storage_settings() -> None:
    assert blob_target(Settings()) is None
    azurite = blob_target(Settings(storage_connection_string="UseDevelopmentStorage=true"))
    assert azurite is not None and "BlobEndpoint=http://127.0.0.1:10000/" in \
        azurite.connection_string
    queue_only = ("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=k;"
                  "QueueEndpoint=http://127.0.0.1:1/devstoreaccount1;")
    assert blob_target(Settings(storage_connection_string=queue_only)) is None
    azure = ("DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=<key>;"
             "EndpointSuffix=core.windows.net")
    target = blob_target(Settings(storage_connection_string=azure, results_container="r"))
    assert target == BlobTarget("r", connection_string=azure)
    identity = blob_target(Settings(storage_blob_uri="https://acct.blob.core.windows.net/",
                                    azure_client_id="id"))
    assert identity == BlobTarget("flow-results", endpoint="https://acct.blob.core.windows.net/",
                                  client_id="id")
    env = Settings.from_env({"AzureWebJobsStorage__blobServiceUri": "https://a/",
                             "RESULTS_CONTAINER": "mine"})
    assert (env.storage_blob_uri, env.results_container) == ("https://a/", "mine")


@pytest.mark.parametrize("text, seconds", [("7d", 7 * 86400), ("12h", 43200), ("30m", 1800),
                                           (90, 90)])
def test_a_link_lives_up_to_seven_days(text: Any, seconds: float) -> None:
    assert parse_expiry(text) == seconds


@pytest.mark.parametrize("text", ["8d", "0s", "soon"])
def test_a_longer_or_unreadable_expiry_is_refused_when_the_flow_loads(
        tmp_path: Path, text: str) -> None:
    path = write_flow(tmp_path / "flows", "expiry", f"""
        steps:
          - id: link
            action: blob.upload
            file: "x"
            expires: "{text}"
        """)
    with pytest.raises(FlowFileInvalid, match="expires"):
        load_flow(path)


def test_a_value_that_is_not_a_file_is_refused(tmp_path: Path) -> None:
    path = write_flow(tmp_path / "flows", "notfile", """
        steps:
          - id: link
            action: blob.upload
            file: "{{ trigger.body.text }}"
        """)
    run = run_flow_file(path, settings_for(tmp_path), body={"text": "hello"})
    assert run.status == RunStatus.FAILED
    assert run.steps[0].error.code == "InvalidInput"
    assert "not a file" in run.steps[0].error.message


def test_the_weekly_example_mails_a_link_to_the_full_result(tmp_path: Path) -> None:
    run = run_flow_file(Path("flows/storm-weekly-csv-link.yaml"), settings_for(tmp_path))
    assert run.status == RunStatus.SUCCEEDED, [s.error for s in run.steps if s.error]
    report, link = run.steps[0].outputs, run.steps[1].outputs
    path = Path(url2pathname(urlparse(link["url"]).path))
    lines = path.read_bytes().decode("utf-8").splitlines()
    assert len(lines) == report["row_count"] + 1 > 1000, "every row, not the ten shown"
    assert link["url"] in _hrefs(_mail_html(tmp_path))
