"""Which way a message goes: the local outbox by default (or with EMAIL_DRY_RUN),
Azure Communication Services when it is configured. One sender per process (see
`shared.resources`): the ACS client and its credential are made once and reused, so
a foreach of 50 mails fetches one token, not 50."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..settings import Settings
from .message import EmailMessage

if TYPE_CHECKING:
    from .acs import AcsSender

__all__ = ["AcsMailSender", "MailSender", "OutboxSender", "mail_sender_for"]


class MailSender(Protocol):
    def send(self, message: EmailMessage, label: str) -> dict[str, Any]:
        """Deliver *message*; the step's outputs (delivery, status, message id ...)."""
        ...

    def close(self) -> None: ...


class OutboxSender:
    """Writes each message to the local outbox as `.eml` plus an `.html` preview."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, message: EmailMessage, label: str) -> dict[str, Any]:
        from .outbox import Outbox

        sent = Outbox(self.folder).send(message, label)
        return {"delivery": "outbox", "status": "Written to outbox",
                "delivery_status": "Written to outbox",
                "message_id": sent.message_id, "recipients": message.recipients,
                "eml": str(sent.eml_path), "preview": str(sent.preview_path)}

    def close(self) -> None:
        return None


class AcsMailSender:
    """Azure Communication Services, through one client kept for the process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._acs: AcsSender | None = None

    def send(self, message: EmailMessage, label: str) -> dict[str, Any]:
        if self._acs is None:
            from .acs import AcsSender

            self._acs = AcsSender(self.settings)
        result = self._acs.send(message)  # checks ACS limits (size, recipients) first
        return {"delivery": "acs", "status": result.status, "delivery_status": result.status,
                "operation_ids": result.operation_ids,
                "message_id": ",".join(result.operation_ids),
                "recipients": result.recipients, "messages": result.messages}

    def close(self) -> None:
        if self._acs is not None:
            self._acs.close()
            self._acs = None


def mail_sender_for(settings: Settings) -> MailSender:
    if settings.acs_configured and not settings.email_dry_run:
        return AcsMailSender(settings)
    return OutboxSender(settings.outbox_dir)
