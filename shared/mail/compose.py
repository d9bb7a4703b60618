"""EmailMessage -> a real MIME message (what the outbox writes as .eml):

multipart/mixed
  multipart/alternative
    text/plain
    multipart/related
      text/html
      inline images (Content-ID, referenced as cid: from the HTML)
  attachments
"""

from __future__ import annotations

import re
from email.headerregistry import Address
from email.message import EmailMessage as MimeMessage
from email.utils import formatdate, make_msgid
from html.parser import HTMLParser

from ..errors import StepInputError
from .message import AddressError, EmailMessage, check_subject, parse_mailbox

__all__ = ["IMPORTANCE_HEADERS", "html_to_text", "to_mime"]

#: The standard headers mail clients read for importance (normal sets none).
IMPORTANCE_HEADERS = {
    "high": {"Importance": "High", "X-Priority": "1 (Highest)", "Priority": "urgent"},
    "low": {"Importance": "Low", "X-Priority": "5 (Lowest)", "Priority": "non-urgent"},
    "normal": {},
}


class _TextExtractor(HTMLParser):
    """Text of an HTML body: blocks on their own lines, one line per table row (cells
    tab-separated), images as their [alt text], links followed by their <address>."""

    _BLOCKS = {"p", "div", "h1", "h2", "h3", "h4", "li", "table", "ul", "ol"}

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0
        self._links: list[tuple[str, int]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "script", "head"):
            self._skip += 1
        elif tag in self._BLOCKS:
            self.parts.append("\n\n")
        elif tag in ("br", "tr"):
            self.parts.append("\n")
        elif tag in ("td", "th"):
            self.parts.append("\t")
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self.parts.append(f"[{alt}]")
        elif tag == "a":
            self._links.append((dict(attrs).get("href") or "", len(self.parts)))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script", "head"):
            self._skip = max(0, self._skip - 1)
        elif tag in self._BLOCKS:
            self.parts.append("\n\n")
        elif tag == "a" and self._links:
            href, start = self._links.pop()
            label = "".join(self.parts[start:]).strip()
            if href.startswith(("http://", "https://", "mailto:")) and href != label:
                self.parts.append(f" <{href}>")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(re.sub(r"\s+", " ", data))  # as a browser shows it


def html_to_text(html: str) -> str:
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    text = "".join(parser.parts)
    text = re.sub(r"[ \t]*\n[ \t]*", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return re.sub(r"^\t", "", text, flags=re.MULTILINE).strip() + "\n"


def _header(value: str) -> str:
    """No header injection: a value from a template never gets a line break in."""
    return re.sub(r"[\r\n]+", " ", value).strip()


def _mailboxes(addresses: list[str], field: str) -> list[Address]:
    """Each recipient as the one mailbox `parse_mailbox` reads (the ACS payload reads it
    the same way): the header is written from the parsed name and address, never from
    the text, so a value cannot add a recipient or a header line."""
    found = []
    for text in addresses:
        try:
            name, address = parse_mailbox(text)
        except AddressError as exc:
            raise StepInputError(f"field '{field}': {text!r} is not one valid e-mail "
                                 f"address ({exc})",
                                 hint="use name@domain.com, or 'Name <name@domain.com>'"
                                 ) from None
        found.append(Address(display_name=name, addr_spec=address))
    return found


def to_mime(message: EmailMessage) -> MimeMessage:
    """*message* as MIME. Raises `StepInputError` for a subject or recipient that is
    not one line of plain text (see `shared.mail.message`): refused, not rewritten,
    as the ACS path refuses it, so the outbox shows what ACS would send."""
    check_subject(message.subject)  # before header folding, slow on a huge value
    mime = MimeMessage()
    mime["From"] = _header(message.sender)
    mime["To"] = _mailboxes(message.to, "to")
    if message.cc:
        mime["Cc"] = _mailboxes(message.cc, "cc")
    if message.bcc:
        # Kept in the outbox copy so a reviewer sees who would get it; a real
        # transport never shows Bcc to recipients.
        mime["Bcc"] = _mailboxes(message.bcc, "bcc")
    if message.reply_to:
        mime["Reply-To"] = _mailboxes(message.reply_to, "reply_to")
    mime["Subject"] = message.subject
    mime["Date"] = formatdate(usegmt=True)
    mime["Message-ID"] = make_msgid(domain="kusto-flows.local")
    for name, value in IMPORTANCE_HEADERS[message.importance].items():
        mime[name] = value
    mime.set_content(message.text)
    mime.add_alternative(message.html, subtype="html")
    if message.inline:
        html_part = list(mime.iter_parts())[1]  # multipart/alternative: text, html
        for image in message.inline:
            maintype, _, subtype = image.content_type.partition("/")
            html_part.add_related(image.read_bytes(), maintype=maintype, subtype=subtype,
                                  cid=f"<{image.content_id}>", filename=image.name,
                                  disposition="inline")
    for attachment in message.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        # Bytes (base64) even for text: a CSV keeps its exact line endings. MIME holds
        # each part whole, so a file-backed attachment is read here.
        mime.add_attachment(attachment.read_bytes(), maintype=maintype, subtype=subtype,
                            filename=attachment.name)
    return mime
