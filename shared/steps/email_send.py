"""email.send: compose the message and hand it to the mail sender of the run's
resources (the local outbox by default, Azure Communication Services when
configured). Charts are embedded when the body shows a report that carries them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from email.utils import parseaddr
from typing import Annotated, Any, Literal, cast

from markupsafe import Markup, escape
from pydantic import Field

from ..errors import StepInputError
from ..mail.compose import html_to_text
from ..mail.message import Attachment, EmailMessage, HtmlWithParts, Importance
from ..model import Html, StepModel
from .base import StepContext, StepOutcome
from .registry import Action

__all__ = ["ACTION", "EmailStep", "parse_addresses"]

_ADDRESS = re.compile(r"^[^@\s<>,;\"]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")


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


def parse_addresses(value: Any, field: str) -> list[str]:
    """An address or a list of them (or a `,`/`;` separated string) as a list."""
    if value is None:
        return []
    items = re.split(r"[;,]", value) if isinstance(value, str) else list(value)
    result = []
    for item in items:
        if isinstance(item, list):
            result += parse_addresses(item, field)
            continue
        text = str(item).strip()
        if not text:
            continue
        _, address = parseaddr(text)
        if not _ADDRESS.match(address or ""):
            raise StepInputError(f"field '{field}': '{text}' is not a valid e-mail address",
                                 hint="use name@domain.com, or 'Name <name@domain.com>'")
        result.append(text)
    return result


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
    if not to and not cc and not bcc:
        raise StepInputError("field 'to': the recipient list is empty",
                             hint="give at least one address in to, cc or bcc")
    importance = str(inputs.get("importance") or "normal").lower()
    if importance not in ("low", "normal", "high"):
        raise StepInputError(f"field 'importance': '{importance}' is not low, normal or high")
    body = inputs.get("body")
    html = str(body if isinstance(body, Markup) else escape("" if body is None else body))
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
        reply_to=parse_addresses(inputs.get("reply_to"), "reply_to"),
        subject=str(inputs.get("subject") or ""),
        html=html,
        text=str(text) if text else html_to_text(html),
        attachments=attachments,
        inline=inline,
        importance=cast(Importance, importance),
    )
    outputs = ctx.resources.mail_sender().send(message, label=f"{ctx.flow.name}_{step.id}")
    recipients = message.recipients
    listed = ", ".join(recipients[:3]) + (f" +{len(recipients) - 3}" if len(recipients) > 3
                                          else "")
    return StepOutcome(outputs, f"{outputs.get('status', 'sent')} to {listed}")


ACTION = Action(
    EmailStep, send_email, title="Send an email (V2)", writes=True,
    fields_doc="`to`, `cc`, `bcc`, `reply_to` (an address or a list), `subject`, `body` "
               "(HTML), `text` (plain text; derived from the HTML if absent), `attachments` "
               "(step outputs such as `csv`, `chart`, `attachment`), `importance` (`low`, "
               "`normal`, `high`)",
    outputs_doc="`delivery` (`acs` or `outbox`), `status`, `message_id`, `recipients`; ACS: "
                "`operation_ids`; outbox: `eml`, `preview`",
)
