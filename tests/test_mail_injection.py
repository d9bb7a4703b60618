"""Values a flow's templates fill in (a webhook body, a query's rows) cannot add
recipients or header lines to a mail, on either delivery path.

What: each trick from the security review runs through a real flow (`email.send`
fed from `trigger.body`) twice, once into the local outbox and once through the real
`azure-communication-email` SDK into `tests.acs_fake.AcsFake` (the ACS REST protocol,
HMAC-checked). The `.eml` is parsed back with `policy.default` and the fake's received
JSON is read, and both must hold exactly the recipients and subject the flow asked for;
a trick is refused with `InvalidInput` naming the field, and then nothing is written to
the outbox and nothing is posted to the fake. The composers (`to_mime`, the ACS
payload) refuse the same values when called directly, and `EMAIL_ALLOWED_DOMAINS`
refuses recipients outside the listed domains before anything is sent. The example
webhook flow `storm-state-report` mails only its own `vars` recipient.

Why: a list item `"a@x, victim@y"` used to become two recipients; a CR/LF in a
display name made ACS mail another address than the outbox showed; an encoded-word
subject (`=?utf-8?q?x=0D=0ABcc:...?=`) made Python 3.11.7's `email` package write a real
`Bcc:` header (CVE-2024-6923); and the webhook example let its caller pick `to`.
"""

from __future__ import annotations

import base64
import email
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from pathlib import Path
from typing import Any

import pytest
from azure.communication.email import EmailClient
from azure.core.credentials import AzureKeyCredential

from shared.errors import StepInputError
from shared.loader import load_flow, load_folder
from shared.mail.acs import AcsSender, client_options
from shared.mail.message import EmailMessage, format_mailbox, parse_mailbox
from shared.mail.outbox import Outbox
from shared.resources import Resources
from shared.results import RunResult, RunStatus
from shared.runner import Runner, Trigger
from shared.settings import Settings
from shared.steps.email_send import parse_addresses
from tests.acs_fake import AcsFake
from tests.helpers import write_flow

KEY = base64.b64encode(b"kusto-flows injection test key - not a secret").decode()
SENDER = "reports@contoso.com"

#: Every recipient field and the subject come from the webhook body; `to` is a list
#: (each item must be one address), `cc` a plain string (may hold several).
FLOW = """\
    trigger: {webhook: true}
    steps:
      - id: mail
        action: email.send
        to: ["{{ trigger.body.to }}"]
        cc: "{{ trigger.body.cc | default('') }}"
        bcc: "{{ trigger.body.bcc | default('') }}"
        reply_to: "{{ trigger.body.reply_to | default('') }}"
        subject: "{{ trigger.body.subject | default('Storm report') }}"
        body: "<p>{{ trigger.body.note | default('3 storms') }}</p>"
    """


@dataclass
class Sent:
    """One delivered mail, as its recipient fields and subject: (display name,
    address) pairs, read back from the .eml or from the JSON ACS received."""

    to: list[tuple[str, str]] = field(default_factory=list)
    cc: list[tuple[str, str]] = field(default_factory=list)
    bcc: list[tuple[str, str]] = field(default_factory=list)
    reply_to: list[tuple[str, str]] = field(default_factory=list)
    subject: str = ""
    headers: list[str] = field(default_factory=list)


def _join_pollers(seconds: float = 10.0) -> None:
    for thread in threading.enumerate():
        if thread.name.startswith("LROPoller"):
            thread.join(seconds)


@pytest.fixture(scope="module")
def acs_server() -> Iterator[AcsFake]:
    with AcsFake(KEY) as fake:
        yield fake


@pytest.fixture
def acs(acs_server: AcsFake) -> Iterator[AcsFake]:
    acs_server.reset()
    yield acs_server
    acs_server.release()
    _join_pollers()


@pytest.fixture
def acs_client(acs: AcsFake, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The production ACS sender, its client pointed at the fake (the SDK's
    connection-string path forces https; the http fake takes the endpoint + key)."""
    import shared.mail.acs as acs_module

    def build(settings: Settings, **kwargs: Any) -> EmailClient:
        return EmailClient(acs.url, AzureKeyCredential(KEY),
                           **{**client_options(settings), **kwargs})

    monkeypatch.setattr(acs_module, "build_client", build)
    yield


class Delivery:
    """Runs flows with mail going one way (`outbox` or `acs`) and reads back what was
    delivered."""

    def __init__(self, kind: str, tmp_path: Path, acs: AcsFake | None) -> None:
        self.kind = kind
        self.tmp_path = tmp_path
        self.acs = acs
        self.outbox = tmp_path / "outbox"

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {"outbox_dir": self.outbox, "state_dir": self.tmp_path / "state",
                                  "email_sender": SENDER, "email_poll_seconds": 0.05,
                                  "email_send_timeout_seconds": 10.0}
        if self.kind == "acs":
            values["acs_endpoint"] = "https://acs.invalid"  # build_client is the fake's
        values.update(overrides)
        return Settings(**values)

    def run(self, body: dict[str, Any], flow_text: str = FLOW, **settings: Any) -> RunResult:
        path = write_flow(self.tmp_path / "flows", "mail", flow_text)
        loaded = load_flow(path, {})
        return self.run_flow(loaded.flow, body, **settings)

    def run_flow(self, flow: Any, body: dict[str, Any], connections: Any = None,
                 **settings: Any) -> RunResult:
        resources = Resources(self.settings(**settings), connections or {})
        try:
            return Runner(resources).run(flow, Trigger(kind="webhook", body=body))
        finally:
            resources.close()

    def sent(self) -> list[Sent]:
        if self.kind == "outbox":
            return [_from_eml(path) for path in sorted(self.outbox.glob("*.eml"))]
        assert self.acs is not None
        return [_from_acs(post.json) for post in self.acs.posts]

    def nothing_sent(self) -> bool:
        if self.kind == "outbox":
            return not self.outbox.exists() or not any(self.outbox.iterdir())
        assert self.acs is not None
        return self.acs.requests == []


def _pairs(header: Any) -> list[tuple[str, str]]:
    return [(a.display_name, a.addr_spec) for a in header.addresses] if header else []


def _from_eml(path: Path) -> Sent:
    parsed = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    return Sent(to=_pairs(parsed["To"]), cc=_pairs(parsed["Cc"]), bcc=_pairs(parsed["Bcc"]),
                reply_to=_pairs(parsed["Reply-To"]), subject=str(parsed["Subject"]),
                headers=[name.lower() for name in parsed.keys()])


def _acs_pairs(entries: list[dict[str, str]] | None) -> list[tuple[str, str]]:
    return [(entry.get("displayName", ""), entry["address"]) for entry in entries or []]


def _from_acs(payload: dict[str, Any]) -> Sent:
    recipients = payload["recipients"]
    return Sent(to=_acs_pairs(recipients.get("to")), cc=_acs_pairs(recipients.get("cc")),
                bcc=_acs_pairs(recipients.get("bcc")),
                reply_to=_acs_pairs(payload.get("replyTo")),
                subject=payload["content"]["subject"],
                headers=sorted(payload.get("headers", {})))


@pytest.fixture(params=["outbox", "acs"])
def delivery(request: pytest.FixtureRequest, tmp_path: Path) -> Delivery:
    if request.param == "acs":
        request.getfixturevalue("acs_client")
        return Delivery("acs", tmp_path, request.getfixturevalue("acs"))
    return Delivery("outbox", tmp_path, None)


def _refused(run: RunResult, *fragments: str) -> str:
    assert run.status == RunStatus.FAILED, run.to_dict()
    error = run.error
    assert error is not None and error.code == "InvalidInput", run.to_dict()
    for fragment in fragments:
        assert fragment in error.message, error.message
    return error.message


# -- what a legitimate flow asks for is exactly what goes out ----------------------------

def test_recipients_and_subject_arrive_exactly_as_the_flow_asked_on_both_paths(
        delivery: Delivery) -> None:
    run = delivery.run({
        "to": "Zoë Lima <zoe@contoso.com>",
        "cc": '"Lima, Ana" <ana@contoso.com>; bo@contoso.com',
        "bcc": "audit@contoso.com",
        "reply_to": '"Ops \\"Night\\" Desk" <ops@contoso.com>',
        "subject": "Orage à Zürich: 3 storms, 2 states",
    })

    assert run.status == RunStatus.SUCCEEDED, run.to_dict()
    [sent] = delivery.sent()
    assert sent.to == [("Zoë Lima", "zoe@contoso.com")]
    # One string with a comma inside a quoted display name is two recipients, not three.
    assert sent.cc == [("Lima, Ana", "ana@contoso.com"), ("", "bo@contoso.com")]
    assert sent.bcc == [("", "audit@contoso.com")]
    assert sent.reply_to == [('Ops "Night" Desk', "ops@contoso.com")]
    assert sent.subject == "Orage à Zürich: 3 storms, 2 states"


# -- the tricks ---------------------------------------------------------------------------

def test_a_list_item_holding_two_addresses_is_refused_and_nothing_is_sent(
        delivery: Delivery) -> None:
    run = delivery.run({"to": "ana@contoso.com, victim@evil.example"})

    message = _refused(run, "field 'to'", "holds more than one address")
    assert "'ana@contoso.com, victim@evil.example'" in message
    assert delivery.nothing_sent()


def test_a_list_item_with_two_addresses_separated_by_a_semicolon_is_refused_too() -> None:
    with pytest.raises(StepInputError, match="field 'bcc'.*more than one address"):
        parse_addresses(["Ana <ana@contoso.com>; victim@evil.example"], "bcc")


@pytest.mark.parametrize("name", [
    "Ana\r\nBcc: victim@evil.example",
    "Ana\nvictim@evil.example",
    "Ana\x00",
    "Ana\u2028Bcc: victim@evil.example",
])
def test_a_display_name_with_a_line_break_or_control_character_is_refused(
        delivery: Delivery, name: str) -> None:
    run = delivery.run({"to": f"{name} <ana@contoso.com>"})

    _refused(run, "field 'to'", "line break or control character")
    assert delivery.nothing_sent()


def test_a_display_name_holding_an_encoded_word_is_refused(delivery: Delivery) -> None:
    run = delivery.run({"to": "ana@contoso.com",
                        "cc": "=?utf-8?q?Ana=0D=0ABcc:_victim@evil.example?= <bo@contoso.com>"})

    _refused(run, "field 'cc'", "encoded-word")
    assert delivery.nothing_sent()


def test_an_encoded_word_subject_that_decodes_to_a_bcc_line_is_refused(
        delivery: Delivery) -> None:
    run = delivery.run({"to": "ana@contoso.com",
                        "subject": "=?utf-8?q?x=0D=0ABcc:_victim@evil.example?="})

    _refused(run, "field 'subject'", "encoded-word")
    assert delivery.nothing_sent()


@pytest.mark.parametrize("subject", [
    "Storms\r\nBcc: victim@evil.example",
    "Storms\nBcc: victim@evil.example",
    "Storms\rBcc: victim@evil.example",
    "Storms\tin\x0bTexas",
])
def test_a_subject_with_a_raw_line_break_or_control_character_is_refused(
        delivery: Delivery, subject: str) -> None:
    run = delivery.run({"to": "ana@contoso.com", "subject": subject})

    _refused(run, "field 'subject'", "line break or control character")
    assert delivery.nothing_sent()


def test_the_outbox_composer_refuses_an_injected_subject_or_recipient_when_called_directly(
        tmp_path: Path) -> None:
    tricks: list[dict[str, Any]] = [
        {"subject": "=?utf-8?q?x=0D=0ABcc:_victim@evil.example?="},
        {"subject": "x\r\nBcc: victim@evil.example"},
        {"to": ["ana@contoso.com, victim@evil.example"]},
        {"cc": ["Ana\r\nBcc: victim@evil.example <ana@contoso.com>"]},
        {"bcc": ["=?utf-8?q?A=0D=0ABcc:_v@evil.example?= <ana@contoso.com>"]},
    ]
    for trick in tricks:
        message = EmailMessage(**{"sender": SENDER, "to": ["ana@contoso.com"],
                                  "subject": "s", "html": "x", "text": "x", **trick})
        with pytest.raises(StepInputError, match="field '(subject|to|cc|bcc)'"):
            Outbox(tmp_path).send(message)
    assert not list(tmp_path.iterdir())


def test_the_acs_payload_refuses_an_injected_subject_or_recipient_when_called_directly(
        acs: AcsFake) -> None:
    tricks: list[dict[str, Any]] = [
        {"subject": "=?utf-8?q?x=0D=0ABcc:_victim@evil.example?="},
        {"subject": "x\r\nBcc: victim@evil.example"},
        {"to": ["ana@contoso.com, victim@evil.example"]},
        {"cc": ["Ana\r\nBcc: victim@evil.example <ana@contoso.com>"]},
        {"reply_to": ["=?utf-8?q?A?= <ana@contoso.com>"]},
    ]
    settings = Settings(email_sender=SENDER, email_poll_seconds=0.05)
    client = EmailClient(acs.url, AzureKeyCredential(KEY), **client_options(settings))
    try:
        mailer = AcsSender(settings, client=client)
        for trick in tricks:
            message = EmailMessage(**{"sender": SENDER, "to": ["ana@contoso.com"],
                                      "subject": "s", "html": "x", "text": "x", **trick})
            with pytest.raises(StepInputError, match="subject|not an email address"):
                mailer.send(message)
    finally:
        client.close()
    assert acs.requests == []


# -- EMAIL_ALLOWED_DOMAINS -------------------------------------------------------------------

def test_a_recipient_outside_the_allowed_domains_is_refused_before_anything_is_sent(
        delivery: Delivery) -> None:
    run = delivery.run({"to": "ana@contoso.com", "bcc": "victim@evil.example",
                        "reply_to": "Phish <reply@evil.example>"},
                       email_allowed_domains=("contoso.com", "fabrikam.com"))

    message = _refused(run, "EMAIL_ALLOWED_DOMAINS", "bcc: victim@evil.example",
                       "reply_to: reply@evil.example")
    assert "ana@contoso.com" not in message
    assert delivery.nothing_sent()


def test_allowed_domains_match_exactly_ignoring_case_and_a_subdomain_must_be_listed(
        delivery: Delivery) -> None:
    refused = delivery.run({"to": "ana@eu.contoso.com"}, email_allowed_domains=("contoso.com",))
    _refused(refused, "to: ana@eu.contoso.com")
    lookalike = delivery.run({"to": "ana@evilcontoso.com"}, email_allowed_domains=("contoso.com",))
    _refused(lookalike, "to: ana@evilcontoso.com")
    assert delivery.nothing_sent()

    run = delivery.run({"to": "Ana <Ana@CONTOSO.com>", "cc": "bo@eu.contoso.com"},
                       email_allowed_domains=("contoso.com", "eu.contoso.com"))
    assert run.status == RunStatus.SUCCEEDED, run.to_dict()
    [sent] = delivery.sent()
    assert sent.to == [("Ana", "Ana@CONTOSO.com")]
    assert sent.cc == [("", "bo@eu.contoso.com")]


# -- the example webhook flow --------------------------------------------------------------

def test_the_state_report_webhook_mails_only_its_own_recipient_whatever_the_body_says(
        delivery: Delivery) -> None:
    loaded = load_folder(Path(__file__).resolve().parents[1] / "flows")
    flow = loaded.flows["storm-state-report"].flow
    body = {"state": "TEXAS", "min_events": 2, "to": "victim@evil.example",
            "reply_to": "victim@evil.example", "cc": "victim@evil.example"}

    run = delivery.run_flow(flow, body, loaded.connections,
                            email_allowed_domains=("contoso.com",))

    assert run.status == RunStatus.SUCCEEDED, run.to_dict()
    [sent] = delivery.sent()
    assert sent.to == [("", "analysts@contoso.com")]
    assert sent.cc == [] and sent.bcc == [] and sent.reply_to == []
    assert sent.subject == "Storm report for TEXAS"


def test_the_state_report_subject_never_shows_a_state_the_query_did_not_find(
        delivery: Delivery) -> None:
    loaded = load_folder(Path(__file__).resolve().parents[1] / "flows")
    flow = loaded.flows["storm-state-report"].flow
    body = {"state": "=?utf-8?q?TEXAS=0D=0ABcc:_victim@evil.example?="}

    run = delivery.run_flow(flow, body, loaded.connections)

    assert run.status == RunStatus.SUCCEEDED, run.to_dict()
    [sent] = delivery.sent()
    assert sent.to == [("", "analysts@contoso.com")] and sent.bcc == []
    assert sent.subject == "Storm report for no state with matching events"


# -- the parser ---------------------------------------------------------------------------

@pytest.mark.parametrize("text, pair", [
    ("ana@contoso.com", ("", "ana@contoso.com")),
    ("<ana@contoso.com>", ("", "ana@contoso.com")),
    ("Ana   Lima <ana@contoso.com>", ("Ana Lima", "ana@contoso.com")),
    ('"Lima, Ana" <ana@contoso.com>', ("Lima, Ana", "ana@contoso.com")),
    ('"a \\"b\\" \\\\ c" <ana@contoso.com>', ('a "b" \\ c', "ana@contoso.com")),
    ("J. Smith <j.smith+storms@contoso.com>", ("J. Smith", "j.smith+storms@contoso.com")),
])
def test_a_mailbox_is_rebuilt_from_its_parts_and_reads_back_the_same(
        text: str, pair: tuple[str, str]) -> None:
    assert parse_mailbox(text) == pair
    [rebuilt] = parse_addresses([text], "to")
    assert rebuilt == format_mailbox(*pair)
    assert parse_mailbox(rebuilt) == pair


@pytest.mark.parametrize("text", [
    "not-an-address", "ana@contoso", "ana@contoso.com (Ana)", "team: ana@contoso.com;",
    "Ana <ana@contoso.com> <bo@contoso.com>", "a..b@contoso.com", "zoë@contoso.com",
    "=?utf-8?q?a?=@contoso.com", '"unterminated <ana@contoso.com>',
])
def test_anything_but_one_plain_mailbox_is_refused_naming_the_field(text: str) -> None:
    with pytest.raises(StepInputError, match="field 'reply_to'"):
        parse_addresses([text], "reply_to")


def test_a_recipient_string_still_splits_on_commas_and_semicolons_outside_quotes() -> None:
    assert parse_addresses("a@contoso.com; Bob <b@contoso.com>, ,c@contoso.com", "to") == [
        "a@contoso.com", "Bob <b@contoso.com>", "c@contoso.com"]
    assert parse_addresses('"Lima; Ana" <ana@contoso.com>', "to") == [
        '"Lima; Ana" <ana@contoso.com>']
