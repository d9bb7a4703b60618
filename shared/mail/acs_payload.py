"""From an `EmailMessage` to the JSON that ACS Email's `POST /emails:send` (and the
SDK's `begin_send`) takes: addresses, content, attachments, importance headers.

Addresses are checked here, before anything is sent: a malformed one raises
`StepInputError`, and a sender left at the placeholder default raises `EmailFailed`
(ACS sends only from a MailFrom address of a domain connected to the resource).
Recipients are read with `parse_mailbox`, as the outbox reads them, and the subject
and display names must be one line of plain text (no CR/LF, control characters or
encoded-words): ACS writes the headers itself from these JSON values, so what the
outbox shows is what ACS sends. No I/O and no Azure SDK here.
"""

from __future__ import annotations

import base64
from email.utils import parseaddr
from typing import Any

from shared.errors import EmailFailed, StepInputError
from shared.mail.message import (
    AddressError,
    Attachment,
    EmailMessage,
    check_subject,
    parse_mailbox,
)

__all__ = [
    "IMPORTANCE_HEADERS",
    "PLACEHOLDER_SENDER_DOMAIN",
    "check_sender",
    "message_payload",
]

#: Headers ACS passes into the mail for `importance`; normal needs none.
IMPORTANCE_HEADERS: dict[str, dict[str, str]] = {
    "high": {"x-priority": "1", "importance": "high"},
    "normal": {},
    "low": {"x-priority": "5", "importance": "low"},
}

#: The domain of the default EMAIL_SENDER: fine for the outbox, refused by ACS.
PLACEHOLDER_SENDER_DOMAIN = "kusto-flows.local"

#: Bytes read and base64-encoded at a time: a multiple of 3, so the pieces join
#: into the base64 of the whole.
_BASE64_CHUNK = 3 << 18


def _address(text: str, field: str) -> dict[str, str]:
    """A recipient as ACS's `{address, displayName}`: exactly one mailbox."""
    try:
        name, address = parse_mailbox(text)
    except AddressError as exc:
        why = f": it holds {exc.reason}" if exc.reason else ""
        raise StepInputError(f"not an email address: {text!r} (field '{field}'{why})",
                             hint="write addresses as name@domain or 'Name <name@domain>'"
                             ) from None
    return {"address": address, "displayName": name} if name else {"address": address}


def _sender_address(text: str) -> str:
    address = parseaddr(text)[1]
    if not address or "@" not in address:
        raise StepInputError(f"not an email address: {text!r}",
                             hint="write addresses as name@domain or 'Name <name@domain>'")
    return address


def _base64(part: Attachment) -> str:
    """*part*'s bytes in base64, encoded a chunk at a time from its file (the JSON
    needs the text whole; the raw bytes are never held whole beside it)."""
    encoded = bytearray()
    with part.open() as source:
        while chunk := source.read(_BASE64_CHUNK):
            encoded += base64.b64encode(chunk)
    return encoded.decode("ascii")


def _attachment(part: Attachment) -> dict[str, str]:
    payload = {
        "name": part.name,
        "contentType": part.content_type,
        "contentInBase64": _base64(part),
    }
    if part.content_id:
        payload["contentId"] = part.content_id
    return payload


def message_payload(message: EmailMessage, *, sender: str = "") -> dict[str, Any]:
    """The SDK's / REST API's message JSON for *message*.

    Inline parts are attachments with `contentId` (referenced as `cid:<id>` in html).
    """
    check_subject(message.subject)
    recipients: dict[str, list[dict[str, str]]] = {
        "to": [_address(a, "to") for a in message.to]}
    if message.cc:
        recipients["cc"] = [_address(a, "cc") for a in message.cc]
    if message.bcc:
        recipients["bcc"] = [_address(a, "bcc") for a in message.bcc]
    content: dict[str, str] = {"subject": message.subject}
    if message.html:
        content["html"] = message.html
    if message.text or not message.html:
        content["plainText"] = message.text
    payload: dict[str, Any] = {
        "senderAddress": _sender_address(message.sender or sender),
        "recipients": recipients,
        "content": content,
    }
    if message.reply_to:
        payload["replyTo"] = [_address(a, "reply_to") for a in message.reply_to]
    parts = [*message.attachments, *message.inline]
    if parts:
        payload["attachments"] = [_attachment(part) for part in parts]
    headers = IMPORTANCE_HEADERS.get(message.importance, {})
    if headers:
        payload["headers"] = dict(headers)
    return payload


def check_sender(sender: str) -> None:
    """Refuse a missing sender, or the placeholder default, before anything is sent."""
    address = parseaddr(sender)[1]
    if not address or address.lower().endswith("@" + PLACEHOLDER_SENDER_DOMAIN):
        raise EmailFailed(
            f"EMAIL_SENDER is not set (the sender would be {sender!r}); ACS sends only from "
            "a MailFrom address of a domain connected to the ACS resource",
            hint="set the EMAIL_SENDER app setting, e.g. DoNotReply@<your verified domain>; "
                 "the email was not sent",
        )
