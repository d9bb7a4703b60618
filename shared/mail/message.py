"""The message a flow sends, independent of how it is delivered."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Attachment", "EmailMessage", "Importance"]

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
