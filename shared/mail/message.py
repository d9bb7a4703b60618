"""The message a flow sends, independent of how it is delivered, and the rules its
header values follow on every delivery path (outbox and ACS alike):

* a recipient is exactly one mailbox, `address` or `Name <address>`, parsed by
  `parse_mailbox` and written back by `format_mailbox`; the outbox and the ACS payload
  both read it with `parse_mailbox`, so both send to the same address with the same
  display name;
* no header value (subject, display name) holds a line break, another control
  character or an RFC 2047 encoded-word (`=?charset?q?...?=`, which mail readers and
  Python's `email` package decode into any text, CR/LF and a `Bcc:` line included):
  such values are refused, never rewritten (`unsafe_header_text`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from markupsafe import Markup

from shared.errors import StepInputError

__all__ = [
    "AddressError",
    "Attachment",
    "EmailMessage",
    "HtmlWithParts",
    "Importance",
    "check_header_text",
    "format_mailbox",
    "parse_mailbox",
    "split_address_list",
    "unsafe_header_text",
]

Importance = Literal["low", "normal", "high"]

#: C0 and C1 control characters (CR, LF, TAB, NUL, ...), DEL, and the Unicode line and
#: paragraph separators: none belongs in a header value.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
#: An RFC 2047 encoded-word, loosely: `=?` ... `?=`.
_ENCODED_WORD = re.compile(r"=\?.*?\?=", re.DOTALL)
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
#: `local@domain`: an ASCII dot-atom local part (what a MIME header can carry without
#: quoting) and a host name of at least two labels.
_ADDRESS = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*@{_LABEL}(?:\.{_LABEL})+")
#: `"Quoted, Name" <address>` or `Plain Name <address>` or `<address>`.
_NAMED = re.compile(r'(?:(?P<quoted>"(?:[^"\\]|\\.)*")|(?P<plain>[^"\\()<>\[\]:;@,]*?))'
                    r"\s*<(?P<address>[^<>]*)>", re.DOTALL)
#: Characters that make a display name need quotes (those of `email.utils.formataddr`).
_SPECIALS = re.compile(r'[][\\()<>@,:;".]')


class AddressError(StepInputError, code="InvalidInput"):
    """Text that is not exactly one mailbox; `reason` says why ("" when it is simply
    not an address). Callers catch it and raise a `StepInputError` naming the field."""

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason or "not a valid e-mail address",
                         hint="use name@domain.com, or 'Name <name@domain.com>'")
        self.reason = reason


def unsafe_header_text(value: str) -> str:
    """Why *value* may not go into a mail header, or "" when it may."""
    found = _CONTROL.search(value)
    if found:
        return f"a line break or control character (U+{ord(found.group()):04X})"
    if _ENCODED_WORD.search(value):
        return "an encoded-word ('=?...?='), which mail readers decode into other text"
    return ""


def check_header_text(value: str, field: str) -> None:
    """Raise `StepInputError` naming *field* when *value* cannot be one header line."""
    problem = unsafe_header_text(value)
    if problem:
        shown = repr(value if len(value) <= 80 else value[:77] + "...")
        raise StepInputError(
            f"field '{field}' holds {problem}: {shown}",
            hint=f"the {field} is one line of plain text: take line breaks out of the values "
                 "it shows (e.g. `| replace('\\n', ' ')`) and write non-ASCII text as it "
                 "is, not as =?...?= encoded-words")


def split_address_list(text: str) -> list[str]:
    """*text* split at the `,` and `;` outside double quotes: `"Smith, Ana" <a@x.com>,
    b@x.com` is two items. Blank items are dropped; each item is stripped."""
    items: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char in ",;" and not quoted:
            items.append("".join(current))
            current = []
            continue
        current.append(char)
    items.append("".join(current))
    return [item.strip() for item in items if item.strip()]


def parse_mailbox(text: str) -> tuple[str, str]:
    """`(display name, address)` of *text*, which must be exactly one mailbox:
    `ana@contoso.com`, `Ana Lima <ana@contoso.com>`, `"Lima, Ana" <ana@contoso.com>`
    or `<ana@contoso.com>`. Whitespace in the name is collapsed to single spaces.

    Raises `AddressError` for anything else: no address, two addresses, a line break or
    control character, an encoded-word, a comment or a group.
    """
    text = text.strip()
    problem = unsafe_header_text(text)
    if problem:
        raise AddressError(problem)
    if len(split_address_list(text)) > 1:
        raise AddressError("more than one address")
    if _ADDRESS.fullmatch(text):
        return "", text
    named = _NAMED.fullmatch(text)
    address = named["address"].strip() if named else ""
    if named is None or not _ADDRESS.fullmatch(address):
        raise AddressError()
    if named["quoted"]:
        name = re.sub(r"\\(.)", r"\1", named["quoted"][1:-1], flags=re.DOTALL)
    else:
        name = named["plain"] or ""
    return " ".join(name.split()), address


def format_mailbox(name: str, address: str) -> str:
    """*name* and *address* as one mailbox, the name quoted when it needs it; what
    `parse_mailbox` reads back as the same pair."""
    name = " ".join(name.split())
    if not name:
        return address
    if _SPECIALS.search(name):
        name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{name} <{address}>"


@dataclass(frozen=True)
class Attachment:
    """A file a step produced: the connector's AttachmentName/AttachmentContent.

    With `content_id` set it is an inline part, referenced from HTML as `cid:<id>`.
    """

    name: str
    content_type: str
    data: bytes = field(repr=False)
    content_id: str = ""

    @property
    def size(self) -> int:
        return len(self.data)

    def __str__(self) -> str:  # what `{{ steps.x.csv }}` shows inside a text template
        return f"{self.name} ({self.content_type}, {self.size} bytes)"


class HtmlWithParts(Markup):
    """Trusted HTML a step made, carrying the inline parts (charts) its `cid:` links
    name, so a mail that shows it embeds exactly these parts."""

    parts: tuple[Attachment, ...]

    def __new__(cls, html: str, parts: Iterable[Attachment] = ()) -> HtmlWithParts:
        made = super().__new__(cls, html)
        made.parts = tuple(parts)
        return made


@dataclass
class EmailMessage:
    sender: str
    to: list[str]
    subject: str
    html: str
    text: str
    cc: list[str] = field(default_factory=list)
    bcc: list[str] = field(default_factory=list)
    reply_to: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    #: Inline parts (charts) referenced from `html` by `cid:`.
    inline: list[Attachment] = field(default_factory=list)
    importance: Importance = "normal"

    @property
    def recipients(self) -> list[str]:
        return [*self.to, *self.cc, *self.bcc]
