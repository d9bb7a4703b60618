"""The local outbox writes real MIME messages: parsed back with the standard
library they have the HTML and plain-text parts, the attachments byte for byte,
inline images whose cid: the HTML references, and the importance headers. The
`.html` preview beside each shows the envelope and the chart (a file next to it,
never a data: URI in the mail). EMAIL_DRY_RUN keeps mail in the outbox even with
ACS configured, and ACS is never tried with the placeholder sender."""

from __future__ import annotations

import email
from email import policy
from pathlib import Path

import pytest

from shared.errors import EmailFailed, StepInputError
from shared.mail.compose import html_to_text
from shared.mail.message import Attachment, EmailMessage
from shared.mail.outbox import Outbox
from shared.mail.sender import mail_sender_for
from shared.settings import Settings
from shared.steps.email_send import parse_addresses

PNG = b"\x89PNG\r\n\x1a\n" + b"0" * 100


def test_an_eml_parses_back_with_every_part(tmp_path: Path) -> None:
    message = EmailMessage(
        sender="DoNotReply@contoso.com", to=["a@contoso.com"], cc=["b@contoso.com"],
        bcc=["c@contoso.com"], reply_to=["team@contoso.com"], subject="Storm report",
        html='<p>Hi</p><img src="cid:chart-1@kf">', text="Hi\n",
        attachments=[Attachment("r.csv", "text/csv", b"State,Events\r\nTEXAS,5\r\n")],
        inline=[Attachment("chart.png", "image/png", PNG, "chart-1@kf")], importance="high")
    result = Outbox(tmp_path).send(message, "flow_step")
    parsed = email.message_from_bytes(result.eml_path.read_bytes(), policy=policy.default)
    assert parsed["Subject"] == "Storm report"
    assert parsed["To"] == "a@contoso.com" and parsed["Cc"] == "b@contoso.com"
    assert parsed["Reply-To"] == "team@contoso.com"
    assert parsed["Importance"] == "High" and parsed["X-Priority"].startswith("1")
    assert parsed.get_body(("plain",)).get_content() == "Hi\n"
    html = parsed.get_body(("html",)).get_content()
    assert "cid:chart-1@kf" in html
    inline = [p for p in parsed.walk() if p["Content-ID"] == "<chart-1@kf>"]
    assert len(inline) == 1 and inline[0].get_content() == PNG
    attachments = list(parsed.iter_attachments())
    assert [a.get_filename() for a in attachments] == ["r.csv"]
    assert attachments[0].get_content() == "State,Events\r\nTEXAS,5\r\n"
    preview = result.preview_path.read_text()
    assert "cid:" not in preview and (tmp_path / preview.split('src="')[1].split('"')[0]).exists()


def test_a_subject_cannot_inject_headers(tmp_path: Path) -> None:
    # Refused, not rewritten: the ACS path refuses it too (tests/test_mail_injection.py).
    message = EmailMessage(sender="s@contoso.com", to=["a@contoso.com"],
                           subject="hi\r\nBcc: evil@example.com", html="x", text="x")
    with pytest.raises(StepInputError, match="field 'subject' holds a line break"):
        Outbox(tmp_path).send(message)
    assert not list(tmp_path.glob("*.eml"))


def test_the_outbox_leaves_no_temporary_files(tmp_path: Path) -> None:
    message = EmailMessage(sender="s@contoso.com", to=["a@contoso.com"], subject="s",
                           html="x", text="x")
    Outbox(tmp_path).send(message)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_addresses_are_validated_and_split() -> None:
    assert parse_addresses("a@contoso.com; Bob <b@contoso.com>", "to") == [
        "a@contoso.com", "Bob <b@contoso.com>"]
    with pytest.raises(StepInputError, match="field 'cc': 'not-an-address'"):
        parse_addresses(["not-an-address"], "cc")


def test_the_plain_text_alternative_is_derived_from_html() -> None:
    text = html_to_text("<h2>Title</h2><table><tr><td>A</td><td>1</td></tr></table>"
                        "<style>p{}</style>")
    assert "Title" in text and "A\t1" in text and "p{}" not in text


def test_plain_text_has_one_line_per_row_and_spells_out_links() -> None:
    text = html_to_text(
        "<p>Storms\n   today</p><table><tr><th>State</th><th>Events</th></tr>"
        "<tr><td>TEXAS</td><td>5</td></tr><tr><td>IOWA</td><td>3</td></tr></table>"
        '<p><a href="https://dataexplorer.azure.com/q">Open the query</a></p>')
    assert text == ("Storms today\n\nState\tEvents\nTEXAS\t5\nIOWA\t3\n\n"
                    "Open the query <https://dataexplorer.azure.com/q>\n")


def _report(**changes) -> EmailMessage:
    base = EmailMessage(
        sender="DoNotReply@kusto-flows.local", to=["a@contoso.com"], subject="Storms",
        html='<!DOCTYPE html><html><head><meta charset="utf-8"></head>'
             '<body style="padding:16px"><img src="cid:c1@kf"></body></html>',
        text="Storms\n", attachments=[Attachment("r.csv", "text/csv", b"a\r\n1\r\n")],
        inline=[Attachment("chart.png", "image/png", PNG, "c1@kf")])
    for name, value in changes.items():
        setattr(base, name, value)
    return base


def test_the_preview_shows_the_envelope_and_the_chart_from_a_file_beside_it(
        tmp_path: Path) -> None:
    result = Outbox(tmp_path).send(_report(), "daily_mail")
    preview = result.preview_path.read_text(encoding="utf-8")
    image = result.preview_path.name.removesuffix(".html") + "_chart.png"
    assert f'<img src="{image}">' in preview
    assert (tmp_path / image).read_bytes() == PNG
    assert "cid:" not in preview and "data:" not in preview
    for shown in ("Storms", "a@contoso.com", "r.csv (6 bytes)"):
        assert shown in preview
    assert preview.count("<body") == 1 and '<div style="padding:16px">' in preview
    eml = result.eml_path.read_bytes()
    assert b"cid:c1@kf" in eml and b"data:" not in eml  # the mail itself keeps cid:


def test_a_fragment_body_gets_a_utf8_page_in_the_preview(tmp_path: Path) -> None:
    message = _report(html="<p>Orage à Zürich</p>", inline=[], attachments=[])
    preview = Outbox(tmp_path).send(message).preview_path.read_text(encoding="utf-8")
    assert preview.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in preview
    assert "<p>Orage à Zürich</p>" in preview


def test_email_dry_run_writes_to_the_outbox_even_with_acs_configured(tmp_path: Path) -> None:
    settings = Settings(outbox_dir=tmp_path, acs_endpoint="https://acs.invalid",
                        email_dry_run=True)
    outputs = mail_sender_for(settings).send(_report(), "flow_mail")
    assert outputs["delivery"] == "outbox" and outputs["recipients"] == ["a@contoso.com"]
    assert Path(outputs["eml"]).exists()


def test_acs_is_not_tried_while_email_sender_is_the_placeholder(tmp_path: Path) -> None:
    settings = Settings(outbox_dir=tmp_path, acs_endpoint="https://acs.invalid")
    with pytest.raises(EmailFailed, match="EMAIL_SENDER is not set") as caught:
        mail_sender_for(settings).send(_report(sender=""), "flow_mail")
    assert "EMAIL_SENDER" in caught.value.hint
    assert not list(tmp_path.iterdir())
