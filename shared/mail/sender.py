"""Which way a message goes: the local outbox by default (or with EMAIL_DRY_RUN),
Azure Communication Services when it is configured."""

from __future__ import annotations

from typing import Any

from ..settings import Settings
from .message import EmailMessage

__all__ = ["send_message"]


def send_message(message: EmailMessage, settings: Settings, label: str) -> dict[str, Any]:
    if settings.acs_configured and not settings.email_dry_run:
        from .acs import AcsSender

        with AcsSender(settings) as sender:  # checks ACS limits (size, recipients) first
            result = sender.send(message)
        return {"delivery": "acs", "status": result.status,
                "operation_ids": result.operation_ids, "message_id": ",".join(
                    result.operation_ids), "recipients": result.recipients,
                "messages": result.messages}
    from .outbox import Outbox

    sent = Outbox(settings.outbox_dir).send(message, label)
    return {"delivery": "outbox", "status": "Written to outbox", "message_id": sent.message_id,
            "recipients": message.recipients, "eml": str(sent.eml_path),
            "preview": str(sent.preview_path)}
