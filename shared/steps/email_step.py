"""email.send: compose the message and hand it to the configured sender (the local
outbox by default, Azure Communication Services when configured)."""

from __future__ import annotations

import re
from email.utils import parseaddr
from typing import Any

from markupsafe import Markup, escape

from ..errors import StepInputError
from ..mail.compose import html_to_text
from ..mail.message import Attachment, EmailMessage
from ..mail.sender import send_message
from .base import StepContext, StepOutcome

__all__ = ["send_email"]

_ADDRESS = re.compile(r"^[^@\s<>,;\"]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")


def _addresses(value: Any, field: str) -> list[str]:
    if value is None:
        return []
    items = re.split(r"[;,]", value) if isinstance(value, str) else list(value)
    result = []
    for item in items:
        if isinstance(item, list):
            result += _addresses(item, field)
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


def send_email(step: Any, inputs: dict[str, Any], ctx: StepContext) -> StepOutcome:
    to = _addresses(inputs.get("to"), "to")
    cc = _addresses(inputs.get("cc"), "cc")
    bcc = _addresses(inputs.get("bcc"), "bcc")
    if not to and not cc and not bcc:
        raise StepInputError("field 'to': the recipient list is empty",
                             hint="give at least one address in to, cc or bcc")
    importance = str(inputs.get("importance") or "normal").lower()
    if importance not in ("low", "normal", "high"):
        raise StepInputError(f"field 'importance': '{importance}' is not low, normal or high")
    body = inputs.get("body")
    html = str(body if isinstance(body, Markup) else escape("" if body is None else body))
    text = inputs.get("text")
    attachments = _attachments(inputs.get("attachments") or [])
    inline = [part for cid, part in ctx.inline_parts.items() if f"cid:{cid}" in html]
    # A chart shown inline need not be attached a second time.
    inline_ids = {part.content_id for part in inline}
    attachments = [a for a in attachments if not (a.content_id and a.content_id in inline_ids)]
    message = EmailMessage(
        sender=ctx.settings.email_sender,
        to=to, cc=cc, bcc=bcc,
        reply_to=_addresses(inputs.get("reply_to"), "reply_to"),
        subject=str(inputs.get("subject") or ""),
        html=html,
        text=str(text) if text else html_to_text(html),
        attachments=attachments,
        inline=inline,
        importance=importance,  # type: ignore[arg-type]
    )
    outputs = send_message(message, ctx.settings, label=f"{ctx.flow.name}_{step.id}")
    recipients = message.recipients
    shown = ", ".join(recipients[:3]) + (f" +{len(recipients) - 3}" if len(recipients) > 3
                                         else "")
    return StepOutcome(outputs, f"{outputs.get('status', 'sent')} to {shown}")
