"""blob.upload: a file a step produced (a CSV, a chart, an HTML table) uploaded to
Blob Storage and shared as a time-limited, read-only link (see `shared.blob`).

    - id: upload
      action: blob.upload
      file: "{{ steps.report.csv }}"
      expires: 7d
    - id: mail
      action: email.send
      body: "<p>The full result:</p>{{ steps.upload.link_html }}"

Without blob storage (the embedded default) the file is written under the outbox
folder and the link is a `file://` URL, labelled as a local file.

An upload done again (a queued run delivered twice) replaces the same blob, named by
flow, run and step, so the step does not need the write journal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from ..blob import DEFAULT_EXPIRES_SECONDS, parse_expiry, upload_attachment
from ..errors import StepInputError
from ..mail.message import Attachment
from ..model import Static, StepModel
from .base import StepContext, StepOutcome
from .registry import Action

__all__ = ["ACTION", "BlobUploadStep"]


class BlobUploadStep(StepModel):
    """Upload a file to Blob Storage and share it as a link."""

    action: Literal["blob.upload"]
    file: Any = Field(description="a file output of an earlier step: {{ steps.report.csv }}")
    name: str | None = Field(None, description="the file name in the link (default: the "
                                               "file's own)")
    expires: Annotated[float, Static, Field(
        description="how long the link stays valid: 7d (the default and the most), 12h, "
                    "30m")] = DEFAULT_EXPIRES_SECONDS

    @field_validator("expires", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float:
        return parse_expiry(value)


def run_upload(step: BlobUploadStep, inputs: Mapping[str, Any], ctx: StepContext
               ) -> StepOutcome:
    file = inputs.get("file")
    if isinstance(file, list) and len(file) == 1:
        file = file[0]
    if not isinstance(file, Attachment):
        shown = str(file)[:60]
        raise StepInputError(
            f"field 'file' is {type(file).__name__} '{shown}', not a file",
            hint="use a file output of an earlier step, such as {{ steps.report.csv }}, "
                 "{{ steps.report.chart }} or {{ steps.report.attachment }}")
    name = str(inputs.get("name") or "").strip() or None
    link = upload_attachment(ctx, file, expires_seconds=step.expires, name=name)
    where = (f"link valid until {link.expires_at:%Y-%m-%d %H:%M} UTC"
             if link.expires_at else "written locally (no blob storage configured)")
    return StepOutcome(link.to_outputs(), f"{link.name} ({link.size_text}): {where}")


ACTION = Action(
    BlobUploadStep, run_upload, title="Upload a file and share a link",
    fields_doc="`file` (a file output such as `csv`, `chart`, `attachment`), `name`, "
               "`expires` (`7d`, the default and the most; `12h`, `30m`)",
    outputs_doc="`url` (read-only, time-limited: a SAS link; a `file://` URL without blob "
                "storage), `link_html`, `expires_at`, `name`, `size`, `content_type`, "
                "`storage` (`blob` or `local`), `location` (container/blob, no signature)",
)
