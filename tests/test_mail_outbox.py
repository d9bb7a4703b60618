"""The local outbox writes real MIME messages: parsed back with the standard
library they have the HTML and plain-text parts, the attachments byte for byte,
inline images whose cid: the HTML references, and the importance headers."""

from __future__ import annotations

import email
from email import policy
from pathlib import Path

import pytest

from shared.errors import StepInputError
from shared.mail.compose import html_to_text
from shared.mail.message import Attachment, EmailMessage
from shared.mail.outbox import Outbox
from shared.steps.email_step import _addresses

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
    message = EmailMessage(sender="s@contoso.com", to=["a@contoso.com"],
                           subject="hi\r\nBcc: evil@example.com", html="x", text="x")
    parsed = email.message_from_bytes(Outbox(tmp_path).send(message).eml_path.read_bytes(),
                                      policy=policy.default)
    assert parsed["Bcc"] is None
    assert parsed["Subject"] == "hi Bcc: evil@example.com"


def test_the_outbox_leaves_no_temporary_files(tmp_path: Path) -> None:
    message = EmailMessage(sender="s@contoso.com", to=["a@contoso.com"], subject="s",
                           html="x", text="x")
    Outbox(tmp_path).send(message)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_addresses_are_validated_and_split() -> None:
    assert _addresses("a@contoso.com; Bob <b@contoso.com>", "to") == [
        "a@contoso.com", "Bob <b@contoso.com>"]
    with pytest.raises(StepInputError, match="field 'cc': 'not-an-address'"):
        _addresses(["not-an-address"], "cc")


def test_the_plain_text_alternative_is_derived_from_html() -> None:
    text = html_to_text("<h2>Title</h2><table><tr><td>A</td><td>1</td></tr></table>"
                        "<style>p{}</style>")
    assert "Title" in text and "A\t1" in text and "p{}" not in text
