"""The local outbox: each message as a real `.eml` plus an `.html` preview to open in
a browser. The preview shows the envelope (subject, sender, recipients, attached
files) above the body, and its inline images are files beside it: the `cid:`
references of the mail become those file names in the preview only; the `.eml`
keeps `cid:` and carries the images as inline MIME parts, as a real mail does.
Files are written atomically (temp + rename), so a reader never sees half a
message."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from pathlib import Path

from ..errors import EmailFailed
from .compose import to_mime
from .message import EmailMessage

__all__ = ["Outbox", "OutboxResult", "preview_html"]

_FONT = "font-family:Segoe UI,Helvetica,Arial,sans-serif"
_BODY_TAG = re.compile(r"<body\b[^>]*>", re.IGNORECASE)
_DOCUMENT = re.compile(r"^\s*(?:<!doctype\b|<html\b)", re.IGNORECASE)


@dataclass(frozen=True)
class OutboxResult:
    message_id: str
    eml_path: Path
    preview_path: Path


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _size(size: int) -> str:
    return f"{size / 1024:,.0f} KB" if size >= 1024 else f"{size} bytes"


def _envelope(message: EmailMessage) -> str:
    rows = [("Subject", message.subject), ("From", message.sender),
            ("To", ", ".join(message.to)), ("Cc", ", ".join(message.cc)),
            ("Bcc", ", ".join(message.bcc)), ("Reply-To", ", ".join(message.reply_to)),
            ("Attached", ", ".join(f"{a.name} ({_size(a.size)})"
                                   for a in message.attachments))]
    if message.importance != "normal":
        rows.append(("Importance", message.importance))
    cells = "".join(
        f'<tr><td style="color:#605e5c;padding:1px 12px 1px 0;vertical-align:top">{name}</td>'
        f'<td style="padding:1px 0">{escape(value)}</td></tr>'
        for name, value in rows if value)
    return (f'<div style="{_FONT};font-size:12px;color:#1b1b1b;background:#f3f2f1;'
            'border-bottom:1px solid #d2d0ce;padding:8px 16px;margin:0">'
            '<table role="presentation" cellspacing="0" cellpadding="0" '
            f'style="{_FONT};font-size:12px;border-collapse:collapse">{cells}</table></div>')


def preview_html(message: EmailMessage, images: dict[str, str]) -> str:
    """The preview page: the envelope above the body, `cid:<id>` replaced by the file
    name `images[id]`. A body that is a bare fragment gets a UTF-8 page around it."""
    html = message.html
    for content_id, name in images.items():
        html = html.replace(f"cid:{content_id}", escape(name))
    if not _DOCUMENT.match(html):
        html = ('<!DOCTYPE html><html><head><meta charset="utf-8">'
                f"<title>{escape(message.subject)}</title></head>"
                f'<body style="margin:0;padding:16px;{_FONT}">{html}</body></html>')
    body = _BODY_TAG.search(html)
    if body is None:
        return _envelope(message) + html
    # The body's own padding stays for the mail; the envelope spans the page above it.
    page = html[:body.start()] + '<body style="margin:0;padding:0">' + _envelope(message)
    return page + f"<div{body.group(0)[5:-1]}>" + html[body.end():].replace(
        "</body>", "</div></body>", 1)


class Outbox:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, message: EmailMessage, label: str = "message") -> OutboxResult:
        """Write *message*; `EmailFailed` naming the folder when it cannot be written
        (read-only, full, not creatable), with nothing of the message left behind."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", label)[:60]
        message_id = uuid.uuid4().hex[:12]
        stem = f"{stamp}_{slug}_{message_id}"
        mime = to_mime(message)
        written: list[Path] = []
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            eml = self.folder / f"{stem}.eml"
            _write_atomic(eml, mime.as_bytes())
            written.append(eml)
            images: dict[str, str] = {}
            for image in message.inline:
                image_path = self.folder / f"{stem}_{image.name}"
                _write_atomic(image_path, image.read_bytes())
                written.append(image_path)
                images[image.content_id] = image_path.name
            preview = self.folder / f"{stem}.html"
            _write_atomic(preview, preview_html(message, images).encode("utf-8"))
        except OSError as exc:
            for path in written:
                with contextlib.suppress(OSError):
                    path.unlink()
            raise EmailFailed(
                f"the mail could not be written to the outbox folder {self.folder}: "
                f"{exc.strerror or exc}",
                hint="set OUTBOX_DIR to a writable folder with free space") from exc
        return OutboxResult(message_id, eml, preview)
