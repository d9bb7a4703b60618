"""The local outbox: each message as a real `.eml` plus an `.html` preview whose
inline images are files beside it. Files are written atomically (temp + rename),
so a reader never sees half a message."""

from __future__ import annotations

import os
import re
import tempfile
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from .compose import to_mime
from .message import EmailMessage

__all__ = ["Outbox", "OutboxResult"]


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


class Outbox:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, message: EmailMessage, label: str = "message") -> OutboxResult:
        self.folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", label)[:60]
        message_id = uuid.uuid4().hex[:12]
        stem = f"{stamp}_{slug}_{message_id}"
        mime = to_mime(message)
        eml = self.folder / f"{stem}.eml"
        _write_atomic(eml, mime.as_bytes())
        html = message.html
        for image in message.inline:
            image_path = self.folder / f"{stem}_{image.name}"
            _write_atomic(image_path, image.data)
            html = html.replace(f"cid:{image.content_id}", image_path.name)
        preview = self.folder / f"{stem}.html"
        _write_atomic(preview, html.encode("utf-8"))
        return OutboxResult(message_id, eml, preview)
