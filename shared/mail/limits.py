"""Azure Communication Services (ACS) Email limits, enforced before anything is sent.

ACS refuses a message that is too big or has too many recipients with a 400 after the
upload; checking here gives the flow's author a clear error (and a hint on how to fix
the flow) before any network call, and lets two limits be worked around:

* too many recipients: `split_recipients` sends the mail as several messages;
* too big: `fit_attachments` zips the CSV attachment (CSV usually shrinks 5-10x).

`fit_attachments` also refuses a subject that is too long or not one header line
(`message.check_subject`), before any zipping.

Pure functions on `EmailMessage`; no Azure SDK import.
"""

from __future__ import annotations

import io
import math
import shutil
import time
import zipfile
from dataclasses import replace

from shared.errors import StepInputError
from shared.mail.message import Attachment, EmailMessage, check_subject

__all__ = [
    "MAX_MESSAGE_BYTES",
    "MAX_RECIPIENTS",
    "encoded_size",
    "fit_attachments",
    "split_recipients",
]

#: Largest message ACS accepts by default: 10 MB for the whole request, counted
#: *after* base64 encoding of the attachments (so ~7.5 MB of raw attachment bytes).
#: Read as 10**6-byte megabytes to stay on the safe side of the service's check.
#: Azure support can raise the limit for a resource; pass `max_bytes` then.
MAX_MESSAGE_BYTES = 10 * 1000 * 1000

#: Most recipients ACS accepts in one message, counted across to + cc + bcc.
MAX_RECIPIENTS = 50

_MB = 1000 * 1000
_COPY_CHUNK = 1 << 20
_CSV_TYPES = ("text/csv", "application/csv")


def _b64_len(size: int) -> int:
    return 4 * math.ceil(size / 3)


def encoded_size(message: EmailMessage) -> int:
    """Estimated size in bytes of *message* as ACS counts it: attachments and inline
    parts base64-encoded, plus subject, bodies and addresses as UTF-8.

    The JSON wrapping adds a few hundred bytes, small against the 10 MB limit.
    """
    parts = [*message.attachments, *message.inline]
    size = sum(_b64_len(part.size) + len(part.name.encode()) for part in parts)
    size += sum(len(text.encode("utf-8")) for text in (message.subject, message.html, message.text))
    size += sum(len(address.encode("utf-8")) for address in
                [message.sender, *message.recipients, *message.reply_to])
    return size


def _mb(size: int) -> str:
    return f"{size / _MB:.1f} MB"


def _is_csv(part: Attachment) -> bool:
    return part.content_type.split(";")[0].strip().lower() in _CSV_TYPES


def _zipped(part: Attachment) -> Attachment:
    """*part* deflated in `<name>.zip`, streamed from its file (as `writestr` would
    write it: the time now, mode 0600)."""
    info = zipfile.ZipInfo(part.name, date_time=time.localtime(time.time())[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o600 << 16
    info.file_size = part.size  # zip64 records when a part needs them
    buffer = io.BytesIO()
    with (zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive,
          part.open() as source, archive.open(info, "w") as target):
        shutil.copyfileobj(source, target, _COPY_CHUNK)
    return Attachment(name=f"{part.name}.zip", content_type="application/zip",
                      data=buffer.getvalue())


def fit_attachments(message: EmailMessage, *, max_bytes: int = MAX_MESSAGE_BYTES) -> EmailMessage:
    """*message* unchanged when it fits in *max_bytes* (see `encoded_size`); otherwise
    with its CSV attachments replaced, largest first, by `<name>.zip` (deflate) holding
    the same CSV, until it fits. Other attachments and inline parts are left alone.

    Raises `StepInputError` when even that is too big, with the sizes and how to
    narrow the query, or for a subject `check_subject` refuses.
    """
    check_subject(message.subject)
    size = encoded_size(message)
    if size <= max_bytes:
        return message
    attachments = list(message.attachments)
    order = sorted((i for i, part in enumerate(attachments) if _is_csv(part)),
                   key=lambda i: attachments[i].size, reverse=True)
    zipped: list[str] = []
    for i in order:
        attachments[i] = _zipped(attachments[i])
        zipped.append(attachments[i].name)
        fitted = replace(message, attachments=list(attachments))
        size = encoded_size(fitted)
        if size <= max_bytes:
            return fitted
    parts = ", ".join(f"{part.name} {_mb(_b64_len(part.size))}"
                      for part in [*attachments, *message.inline]) or "no attachments"
    done = f" even with {', '.join(zipped)} zipped" if zipped else ""
    raise StepInputError(
        f"email is {_mb(size)} after base64 encoding{done}; ACS accepts at most "
        f"{_mb(max_bytes)} (attachments, encoded: {parts})",
        hint="make the query return less: project fewer columns, aggregate with "
             "`summarize`, add a time filter (`where Timestamp > ago(1d)`), or lower "
             "`max_table_rows`",
    )


def _unique(addresses: list[str], seen: set[str]) -> list[str]:
    kept = []
    for address in addresses:
        key = address.strip().lower()
        if key not in seen:
            seen.add(key)
            kept.append(address)
    return kept


def split_recipients(message: EmailMessage, *,
                     max_recipients: int = MAX_RECIPIENTS) -> list[EmailMessage]:
    """*message* as one or more messages, each with at most *max_recipients* across
    to + cc + bcc.

    A message within the limit comes back as `[message]`, unchanged. Otherwise:

    * each recipient gets exactly one copy: addresses are de-duplicated (ignoring case;
      an address in both `to` and `bcc` stays in `to`);
    * `to` is split in order over as few messages as possible; every message has at
      least one `to` recipient;
    * `cc` stays on the first message only (all cc recipients see each other, as they
      would in one mail) - so cc must leave room for one `to` there;
    * `bcc` recipients fill the room left in the messages, first message first.

    Recipients in different messages do not see each other in the headers, as they
    would in a single mail; a reply-all reaches only the recipients of that copy.
    """
    if len(message.recipients) <= max_recipients:
        return [message]
    seen: set[str] = set()
    to = _unique(message.to, seen)
    cc = _unique(message.cc, seen)
    bcc = _unique(message.bcc, seen)
    if len(to) + len(cc) + len(bcc) <= max_recipients:
        return [replace(message, to=to, cc=cc, bcc=bcc)]
    if len(cc) >= max_recipients:
        raise StepInputError(
            f"{len(cc)} cc recipients; ACS accepts at most {max_recipients} recipients per "
            f"message and cc cannot be split over several messages",
            hint="move most cc recipients to `to` or `bcc` (those are split automatically)",
        )
    if not to:
        raise StepInputError(
            f"{len(cc) + len(bcc)} cc/bcc recipients and no `to`; ACS accepts at most "
            f"{max_recipients} recipients per message",
            hint="put the recipients in `to` (split automatically) or use a distribution list",
        )
    # Fewest messages whose room holds every to and bcc recipient.
    room = max_recipients - len(cc)
    count = 1 + max(0, math.ceil((len(to) + len(bcc) - room) / max_recipients))
    if count > len(to):
        raise StepInputError(
            f"{len(bcc)} bcc recipients need {count} messages but there are only {len(to)} "
            f"`to` recipients (every message needs one); ACS accepts at most "
            f"{max_recipients} recipients per message",
            hint="move some bcc recipients to `to`, or use a distribution list",
        )
    capacity = [max_recipients - len(cc)] + [max_recipients] * (count - 1)
    to_parts: list[list[str]] = []
    rest = list(to)
    for index, cap in enumerate(capacity):
        later = count - index - 1  # keep one `to` for each later message
        take = min(cap, len(rest) - later)
        to_parts.append(rest[:take])
        rest = rest[take:]
    bcc_parts: list[list[str]] = []
    rest = list(bcc)
    for index, cap in enumerate(capacity):
        take = cap - len(to_parts[index])
        bcc_parts.append(rest[:take])
        rest = rest[take:]
    return [
        replace(message, to=to_parts[i], cc=cc if i == 0 else [], bcc=bcc_parts[i])
        for i in range(count)
    ]
