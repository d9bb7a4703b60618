"""email.send: compose the message and hand it to the mail sender of the run's
resources (the local outbox by default, Azure Communication Services when
configured). Charts are embedded when the body shows a report that carries them.
The body, one fragment or several joined (`{{ steps.a.body_html }}{{ steps.b.body_html
}}`), is sent as one HTML document (`shared.mail.document.mail_document`).

Before anything is sent, every recipient is parsed to exactly one mailbox and
rebuilt from its parts, the subject is checked to be one line of plain text, and
with EMAIL_ALLOWED_DOMAINS set every recipient's domain must be one of those:
values a template filled in (a webhook body, a query's rows) cannot add recipients
or headers. Anything unsafe is refused with `StepInputError`, never rewritten."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Annotated, Any, Literal, cast

from markupsafe import Markup, escape
from pydantic import Field

from ..blob.mail_links import link_oversized_attachments
from ..errors import StepInputError
from ..mail.compose import html_to_text
from ..mail.document import mail_document
from ..mail.message import (
    AddressError,
    Attachment,
    EmailMessage,
    HtmlWithParts,
    Importance,
    check_subject,
    format_mailbox,
    parse_mailbox,
    split_address_list,
)
from ..model import Html, StepModel
from .base import StepContext, StepOutcome
from .registry import Action

__all__ = ["ACTION", "EmailStep", "check_allowed_domains", "parse_addresses"]


class EmailStep(StepModel):
    """Send an e-mail."""

    action: Literal["email.send"]
    to: list[str] | str
    cc: list[str] | str = Field(default_factory=list)
    bcc: list[str] | str = Field(default_factory=list)
    reply_to: list[str] | str = Field(default_factory=list)
    subject: str
    body: Annotated[str, Html, Field(
        description="HTML; values are escaped, step HTML outputs are not")]
    text: str | None = Field(None, description="plain-text body; derived from body if absent")
    attachments: list[Any] | str = Field(default_factory=list)
    importance: Literal["low", "normal", "high"] | str = "normal"


def _mailbox(text: str, field: str) -> str:
    """*text* as exactly one mailbox, rebuilt from its parsed name and address."""
    try:
        return format_mailbox(*parse_mailbox(text))
    except AddressError as exc:
        if exc.reason == "more than one address":
            raise StepInputError(
                f"field '{field}': {text!r} holds more than one address; a list item is "
                "one address",
                hint="give each address its own list item, or all of them as one string "
                     "separated by ',' or ';'") from None
        if exc.reason:
            raise StepInputError(
                f"field '{field}': {text!r} is not a valid e-mail address: it holds "
                f"{exc.reason}",
                hint="write the display name as plain text on one line: "
                     "'Name <name@domain.com>'") from None
        raise StepInputError(f"field '{field}': {text!r} is not a valid e-mail address",
                             hint="use name@domain.com, or 'Name <name@domain.com>'") from None


def parse_addresses(value: Any, field: str) -> list[str]:
    """The recipients of *field*: an address, a list of them, or one string of them
    separated by `,` or `;` (outside a quoted display name, so `"Lima, Ana" <a@x.com>`
    is one). Each comes back as exactly one mailbox written from its parsed parts
    (`name@domain` or `Name <name@domain>`); a list item holding two addresses, a
    display name with a line break, control character or encoded-word, and anything
    that is not an address raise `StepInputError` naming *field*."""
    if value is None:
        return []
    if isinstance(value, str):
        return [_mailbox(item, field) for item in split_address_list(value)]
    result: list[str] = []
    for item in value if isinstance(value, list | tuple) else [value]:
        if isinstance(item, list | tuple):
            result += parse_addresses(list(item), field)
            continue
        text = str(item).strip()
        if text:
            result.append(_mailbox(text, field))
    return result


def check_allowed_domains(recipients: Mapping[str, list[str]],
                          allowed: tuple[str, ...]) -> None:
    """Raise `StepInputError` naming every address (by field) whose domain is not one
    of *allowed* (lower-case; exact match, so `contoso.com` does not admit
    `eu.contoso.com`). Nothing is checked when *allowed* is empty."""
    domains = {domain.strip().lower().lstrip("@") for domain in allowed} - {""}
    if not domains:
        return
    refused = [f"{field}: {address}"
               for field, mailboxes in recipients.items() for mailbox in mailboxes
               for address in [parse_mailbox(mailbox)[1]]
               if address.rpartition("@")[2].lower() not in domains]
    if refused:
        raise StepInputError(
            f"recipients outside EMAIL_ALLOWED_DOMAINS ({', '.join(sorted(domains))}): "
            f"{'; '.join(refused)}; nothing was sent",
            hint="mail goes only to addresses in those domains (exact domain, a subdomain "
                 "must be listed itself): change the flow's recipients, or add the domain "
                 "to the EMAIL_ALLOWED_DOMAINS app setting")


def _attachments(value: Any) -> list[Attachment]:
    found: list[Attachment] = []
    items = value if isinstance(value, list) else [value]
    for index, item in enumerate(items):
        if item is None or item == "":
            continue
        if isinstance(item, list):
            found += _attachments(item)
        elif isinstance(item, Attachment):
            found.append(item)
        else:
            raise StepInputError(
                f"field 'attachments[{index}]' is {type(item).__name__} "
                f"'{str(item)[:60]}', not a file",
                hint="use a step output such as {{ steps.report.csv }} or "
                     "{{ steps.report.attachment }}")
    return found


def send_email(step: EmailStep, inputs: Mapping[str, Any], ctx: StepContext) -> StepOutcome:
    to = parse_addresses(inputs.get("to"), "to")
    cc = parse_addresses(inputs.get("cc"), "cc")
    bcc = parse_addresses(inputs.get("bcc"), "bcc")
    reply_to = parse_addresses(inputs.get("reply_to"), "reply_to")
    if not to and not cc and not bcc:
        raise StepInputError("field 'to': the recipient list is empty",
                             hint="give at least one address in to, cc or bcc")
    # Reply-To counts too: replies to the report would go there.
    check_allowed_domains({"to": to, "cc": cc, "bcc": bcc, "reply_to": reply_to},
                          ctx.settings.email_allowed_domains)
    subject = str(inputs.get("subject") or "")
    check_subject(subject)
    importance = str(inputs.get("importance") or "normal").lower()
    if importance not in ("low", "normal", "high"):
        raise StepInputError(f"field 'importance': '{importance}' is not low, normal or high")
    body = inputs.get("body")
    html = str(body if isinstance(body, Markup) else escape("" if body is None else body))
    # Reports are fragments: however many the body joins, the mail is one document.
    html = str(mail_document(html, title=subject))
    text = inputs.get("text")
    shown = body.parts if isinstance(body, HtmlWithParts) else ()
    inline = list({part.content_id: part for part in shown
                   if f"cid:{part.content_id}" in html}.values())
    # A chart shown inline need not be attached a second time.
    inline_ids = {part.content_id for part in inline}
    attachments = [a for a in _attachments(inputs.get("attachments") or [])
                   if not (a.content_id and a.content_id in inline_ids)]
    message = EmailMessage(
        sender=ctx.settings.email_sender,
        to=to, cc=cc, bcc=bcc,
        reply_to=reply_to,
        subject=subject,
        html=html,
        text=str(text) if text else html_to_text(html),
        attachments=attachments,
        inline=inline,
        importance=cast(Importance, importance),
    )
    # Attachments too large to mail go as links when blob storage is configured.
    message = link_oversized_attachments(message, ctx)
    outputs = ctx.resources.mail_sender().send(message, label=f"{ctx.flow.name}_{step.id}")
    recipients = message.recipients
    listed = ", ".join(recipients[:3]) + (f" +{len(recipients) - 3}" if len(recipients) > 3
                                          else "")
    return StepOutcome(outputs, f"{outputs.get('status', 'sent')} to {listed}")


def check_addresses(step: EmailStep) -> Iterator[tuple[str, str]]:
    """Addresses written in the file (no template) are checked before any run."""
    for field in ("to", "cc", "bcc", "reply_to"):
        value = getattr(step, field)
        items = [value] if isinstance(value, str) else list(value)
        if any("{{" in str(item) or "{%" in str(item) for item in items):
            continue
        try:
            parse_addresses(value, field)
        except StepInputError as exc:
            yield field, exc.message.removeprefix(f"field '{field}': ")


ACTION = Action(
    EmailStep, send_email, title="Send an email (V2)", writes=True, check=check_addresses,
    fields_doc="`to`, `cc`, `bcc`, `reply_to` (an address or a list), `subject`, `body` "
               "(HTML), `text` (plain text; derived from the HTML if absent), `attachments` "
               "(step outputs such as `csv`, `chart`, `attachment`), `importance` (`low`, "
               "`normal`, `high`)",
    outputs_doc="`delivery` (`acs` or `outbox`), `delivery_status`, `message_id`, "
                "`recipients`; ACS: `operation_ids`; outbox: `eml`, `preview`",
)
