"""Attachments too large to mail become links (`email.send`).

A message over Azure Communication Services' size limit (`shared.mail.limits`) that
zipping its CSVs does not bring under it fails the step, unless blob storage is
configured: then its attachments, largest first, are uploaded and replaced by links
until the rest fits, and the links are listed at the end of the body (HTML and
text). The outbox gets the same message, so a dry run shows what would be sent.
Nothing changes for a message that fits, or when blob storage is not configured.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING

from markupsafe import Markup

from ..errors import StepInputError
from ..mail.limits import MAX_MESSAGE_BYTES, encoded_size, fit_attachments
from ..mail.message import EmailMessage
from .upload import BlobLink, blob_target, link_list_html, upload_attachment

if TYPE_CHECKING:
    from ..steps.base import StepContext

__all__ = ["link_oversized_attachments"]

_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)
_INTRO = "Too large to attach; download"


def _fits(message: EmailMessage, max_bytes: int) -> bool:
    try:
        fit_attachments(message, max_bytes=max_bytes)
    except StepInputError:
        return False
    return True


def _with_links(message: EmailMessage, links: list[BlobLink]) -> EmailMessage:
    block = Markup("<p>{}:</p>{}").format(_INTRO, link_list_html(links))
    found = list(_BODY_END.finditer(message.html))
    if found:
        at = found[-1].start()
        html = message.html[:at] + str(block) + message.html[at:]
    else:
        html = message.html + str(block)
    text = message.text.rstrip() + f"\n\n{_INTRO}:\n" + "\n".join(
        f"- {link.text()}" for link in links) + "\n"
    return replace(message, html=html, text=text)


def link_oversized_attachments(message: EmailMessage, ctx: StepContext, *,
                               max_bytes: int = MAX_MESSAGE_BYTES) -> EmailMessage:
    """*message*, or with its largest attachments uploaded and linked so that it fits
    in *max_bytes* (see the module docstring)."""
    if (not message.attachments or encoded_size(message) <= max_bytes
            or blob_target(ctx.settings) is None or _fits(message, max_bytes)):
        return message
    kept = list(message.attachments)
    links: list[BlobLink] = []
    used: set[str] = set()
    for part in sorted(message.attachments, key=lambda a: a.size, reverse=True):
        kept.remove(part)
        # Two attachments of one name would be one blob: number the second.
        name = part.name if part.name not in used else f"{len(used) + 1}-{part.name}"
        used.add(name)
        links.append(upload_attachment(ctx, part, name=name))
        candidate = _with_links(replace(message, attachments=list(kept)), links)
        if _fits(candidate, max_bytes):
            return candidate
    # Still too big without any attachment (the body or inline charts): the sender
    # refuses it with the sizes.
    return _with_links(replace(message, attachments=kept), links)
