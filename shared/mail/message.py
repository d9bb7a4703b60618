"""The message a flow sends, independent of how it is delivered, and the rules its
header values follow on every delivery path (outbox and ACS alike):

* a recipient is exactly one mailbox, `address` or `Name <address>`, parsed by
  `parse_mailbox` and written back by `format_mailbox`; the outbox and the ACS payload
  both read it with `parse_mailbox`, so both send to the same address with the same
  display name;
* no header value (subject, display name) holds a line break, another control
  character or an RFC 2047 encoded-word (`=?charset?q?...?=`, which mail readers and
  Python's `email` package decode into any text, CR/LF and a `Bcc:` line included):
  such values are refused, never rewritten (`unsafe_header_text`);
* a subject is at most `MAX_SUBJECT_CHARS` long and one header line: `check_subject`,
  which every delivery calls (`limits.fit_attachments` and `acs_payload` for ACS,
  `compose.to_mime` for the outbox), as does the email step on the subject it renders.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal

from markupsafe import Markup

from shared.errors import KustoFlowsError, StepInputError

__all__ = [
    "AddressError",
    "Attachment",
    "AttachmentGone",
    "EmailMessage",
    "HtmlWithParts",
    "Importance",
    "MAX_SUBJECT_CHARS",
    "check_subject",
    "format_mailbox",
    "parse_mailbox",
    "split_address_list",
    "unsafe_header_text",
]

Importance = Literal["low", "normal", "high"]

#: Longest subject accepted: RFC 5322's limit for one header line (998 characters).
MAX_SUBJECT_CHARS = 998

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


def check_subject(subject: str, *, max_chars: int = MAX_SUBJECT_CHARS) -> None:
    """Raise `StepInputError` naming the `subject` field when *subject* is over
    *max_chars* or cannot be one header line (`unsafe_header_text`)."""
    # Length first: header folding is slow on a huge value (a 1 MB subject took 19 s).
    if len(subject) > max_chars:
        raise StepInputError(
            f"field 'subject' is {len(subject):,} characters; at most {max_chars:,} are "
            f"accepted",
            hint="keep the subject short and put the details (lists, rows) in the body",
        )
    problem = unsafe_header_text(subject)
    if problem:
        shown = repr(subject if len(subject) <= 80 else subject[:77] + "...")
        raise StepInputError(
            f"field 'subject' holds {problem}: {shown}",
            hint="the subject is one line of plain text: take line breaks out of the values "
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


class AttachmentGone(KustoFlowsError, http_status=410):
    """The file behind a file-backed `Attachment` is no longer there: its run ended
    (run files are removed then), so its bytes cannot be read any more."""


class Attachment:
    """A file a step produced: the connector's AttachmentName/AttachmentContent.

    With `content_id` set it is an inline part, referenced from HTML as `cid:<id>`.
    Its bytes are in memory (`Attachment(name, type, data)`) or, for a large one, in a
    file of its run (`Attachment.from_file`, see `shared.run_files`), removed when the
    run ends. Read them with `open()` (a binary file: stream it) or `read_bytes()`
    (whole, where a protocol needs one value); `size` needs no reading. Immutable.
    """

    __slots__ = ("_data", "_file", "_size", "content_id", "content_type", "name")

    name: str
    content_type: str
    content_id: str
    _data: bytes
    _file: Path | None
    _size: int

    def __init__(self, name: str, content_type: str, data: bytes, content_id: str = "") -> None:
        for slot, value in (("name", name), ("content_type", content_type),
                            ("content_id", content_id), ("_data", bytes(data)),
                            ("_file", None), ("_size", len(data))):
            object.__setattr__(self, slot, value)

    @classmethod
    def from_file(cls, name: str, content_type: str, path: Path, *,
                  content_id: str = "") -> Attachment:
        """The file at *path*, read only when a consumer needs its bytes; whoever
        made the file removes it (a run's files: when the run ends)."""
        file = Path(path)
        made = cls(name, content_type, b"", content_id)
        object.__setattr__(made, "_file", file)
        object.__setattr__(made, "_size", file.stat().st_size)
        return made

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"an Attachment is immutable (setting {name!r})")

    @property
    def size(self) -> int:
        return self._size

    @property
    def file(self) -> Path | None:
        """The file holding the bytes; None when they are in memory."""
        return self._file

    def open(self) -> BinaryIO:
        """The bytes as a binary file, to read as a stream; close it after use."""
        if self._file is None:
            return io.BytesIO(self._data)
        try:
            return self._file.open("rb")
        except FileNotFoundError:
            raise AttachmentGone(
                f"the file of attachment {self.name} was removed when its run ended",
                hint="use a step's file outputs within the run that made them") from None

    def read_bytes(self) -> bytes:
        """The bytes, whole (read from the file for a file-backed attachment)."""
        if self._file is None:
            return self._data
        with self.open() as source:
            return source.read()

    @property
    def data(self) -> bytes:
        """`read_bytes()`: the bytes, whole."""
        return self.read_bytes()

    def _key(self) -> tuple[object, ...]:
        return (self.name, self.content_type, self.content_id, self._file, self._size)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Attachment):
            return NotImplemented
        return self._key() == other._key() and self._data == other._data

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        where = f", file={str(self._file)!r}" if self._file is not None else ""
        cid = f", content_id={self.content_id!r}" if self.content_id else ""
        return (f"Attachment(name={self.name!r}, content_type={self.content_type!r}, "
                f"size={self._size}{cid}{where})")

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
