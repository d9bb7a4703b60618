"""The message a flow sends, independent of how it is delivered."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from markupsafe import Markup

__all__ = ["Attachment", "EmailMessage", "HtmlWithParts", "Importance"]

Importance = Literal["low", "normal", "high"]


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
