"""Deliver an `EmailMessage` through Azure Communication Services (ACS) Email, with the
`azure-communication-email` SDK.

ACS sends in two steps: `POST /emails:send` answers 202 with an `Operation-Location`;
the SDK's poller then GETs that location until the status is final (Succeeded,
Failed, Canceled). What this module adds around the SDK:

Limits first
    `shared.mail.limits` checks size and recipient count before any call; a CSV that
    makes the mail too big is zipped, more than 50 recipients become several messages.

Polling
    `begin_send(..., polling_interval=EMAIL_POLL_SECONDS)`. azure-core's poller
    (`LROBasePolling`) asks for the status once right after the 202, then sleeps
    between polls: the `Retry-After` (or `retry-after-ms`) of the last response when
    the service sent one, otherwise `polling_interval`. So the service's Retry-After is
    honoured as sent (longer or shorter than ours), and without it we poll every
    `EMAIL_POLL_SECONDS` (default 1 s) instead of the SDK's 30 s, which would cost half
    a minute of function time per mail. `EMAIL_SEND_TIMEOUT_SECONDS` bounds the whole
    wait for a final status, whatever Retry-After says.

Retries, without duplicate mail
    `_SendRetryPolicy` (in `acs_client`: azure-core's `RetryPolicy`, bounded: `RETRY_TOTAL` retries,
    backoff `RETRY_BACKOFF_FACTOR` * 2**n capped at `RETRY_BACKOFF_MAX`) retries the
    POST only when the service cannot have accepted it: 408, 429, 500, 502, 503, 504,
    and connection errors before the request was sent. A 429 asking for more than
    `MAX_RETRY_AFTER_SECONDS` is not waited out: it fails at once. A POST whose
    connection died after the request went out is *not* retried, and neither is a
    send whose status polling timed out or failed: ACS may have accepted it, so
    sending again could mail everyone twice. Those raise `EmailOutcomeUnknown` (an
    `EmailFailed`) with the operation id, to look up in the ACS logs first. Every
    POST also carries our own `Operation-Id` (a UUID, the same on each retry of one
    message), so the id is known even when no response arrived; a service that
    de-duplicates by it sees retries of one message as one operation (the test fake
    does; nothing here relies on it). After a status time-out the SDK's poller thread
    (a daemon) keeps polling in the background until the status is final; it never
    sends again.

Errors
    A 4xx (bad sender, bad signature, ...) and a final Failed/Canceled status raise
    `EmailFailed` with the service's error code and message.

This module sends and polls (`AcsSender`) and says what a failure means; the client
and its retry policy are built in `acs_client`, the message JSON in `acs_payload`
(both re-exported here). Azure SDKs are imported inside functions: importing these
modules stays cheap for the Functions cold start.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from shared.errors import EmailFailed, StepInputError
from shared.mail.acs_client import CONNECTION_TIMEOUT_SECONDS as CONNECTION_TIMEOUT_SECONDS
from shared.mail.acs_client import MAX_RETRY_AFTER_SECONDS as MAX_RETRY_AFTER_SECONDS
from shared.mail.acs_client import READ_TIMEOUT_SECONDS as READ_TIMEOUT_SECONDS
from shared.mail.acs_client import RETRY_BACKOFF_FACTOR as RETRY_BACKOFF_FACTOR
from shared.mail.acs_client import RETRY_BACKOFF_MAX as RETRY_BACKOFF_MAX
from shared.mail.acs_client import RETRY_TOTAL as RETRY_TOTAL
from shared.mail.acs_client import build_client, client_options
from shared.mail.acs_payload import IMPORTANCE_HEADERS as IMPORTANCE_HEADERS
from shared.mail.acs_payload import PLACEHOLDER_SENDER_DOMAIN as PLACEHOLDER_SENDER_DOMAIN
from shared.mail.acs_payload import check_sender, message_payload
from shared.mail.limits import fit_attachments, split_recipients
from shared.mail.message import EmailMessage
from shared.settings import Settings

if TYPE_CHECKING:
    from azure.communication.email import EmailClient
    from azure.core.exceptions import HttpResponseError

__all__ = [
    "AcsSender",
    "EmailOutcomeUnknown",
    "SendResult",
    "build_client",
    "client_options",
    "message_payload",
]

log = logging.getLogger(__name__)

_CHECK_LOGS = (
    "the email may have been sent: look the operation id up in the ACS logs "
    "(ACSEmailSendMailOperational / ACSEmailStatusUpdateOperational, CorrelationId) "
    "before sending it again, or recipients may get it twice"
)


class EmailOutcomeUnknown(EmailFailed, code="EmailFailed"):
    """ACS may have accepted the message, but its final status is not known (status
    polling timed out or failed, or the connection died after the POST went out).

    Never retried automatically: `operation_id` tells where to look first.
    """


@dataclass
class SendResult:
    #: One ACS operation id per message sent (several when recipients were split).
    operation_ids: list[str] = field(default_factory=list)
    #: Every recipient (to, cc, bcc) of the messages sent.
    recipients: list[str] = field(default_factory=list)
    #: Final ACS status: "Succeeded".
    status: str = "Succeeded"
    #: How many messages were sent for the one `EmailMessage`.
    messages: int = 0


def _outcome_unknown(text: str, operation_id: str) -> EmailOutcomeUnknown:
    """The error for a send ACS may have accepted: *text* says what happened, the hint
    says to look *operation_id* up in the ACS logs before sending again."""
    return EmailOutcomeUnknown(text, hint=_CHECK_LOGS, operation_id=operation_id)


def _id_from_location(location: str | None) -> str:
    if not location:
        return ""
    return urlparse(location).path.rstrip("/").rsplit("/", 1)[-1]


def _service_error(exc: HttpResponseError) -> tuple[str, str]:
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None) or ""
    message = getattr(error, "message", None) or getattr(exc, "reason", None) or str(exc)
    return str(code), str(message)


def _rejected(exc: HttpResponseError, recipients: list[str]) -> EmailFailed:
    """EmailFailed for a POST the service answered with an error (not accepted)."""
    status = exc.status_code
    code, text = _service_error(exc)
    what = f"ACS refused the email to {', '.join(recipients)}: HTTP {status}"
    if code:
        what += f" {code}"
    what += f": {text}"
    if status == 401:
        hint = ("the access key in ACS_CONNECTION_STRING is wrong or was rotated; copy the "
                "current connection string from the ACS resource's Keys page")
    elif status == 403:
        hint = ("the identity has no role on the ACS resource: assign it "
                "'Communication and Email Service Owner' (or a custom role with email send)")
    elif status == 429:
        # azure-core types `response` as a protocol without `headers`; every HTTP
        # response it puts there (rest or legacy transport) has them.
        retry_after = (exc.response.headers.get("Retry-After")  # type: ignore[attr-defined]
                       if exc.response else None)
        hint = ("ACS is throttling this resource"
                + (f" (it asks to retry after {retry_after} s)" if retry_after else "")
                + "; the email was not accepted, so sending later is safe; "
                  "ask Azure support for a higher sending quota if this repeats")
    elif status is not None and status >= 500:
        hint = "ACS kept failing after retries; the email was not accepted: retrying later is safe"
    else:
        hint = ("check the sender (EMAIL_SENDER: a MailFrom address of a domain connected "
                "to the ACS resource) and the recipient addresses")
    return EmailFailed(what, hint=hint)


class AcsSender:
    """Sends `EmailMessage`s through ACS. The client is built on first send (or given,
    for tests and reuse); `close()` closes a client this sender built."""

    def __init__(self, settings: Settings, *, client: EmailClient | None = None) -> None:
        self._settings = settings
        self._client = client
        self._owns_client = client is None

    def __enter__(self) -> AcsSender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_client and self._client is not None:
            self._client.close()
            self._client = None

    @property
    def client(self) -> EmailClient:
        if self._client is None:
            self._client = build_client(self._settings)
        return self._client

    def send(self, message: EmailMessage) -> SendResult:
        """Send *message* (split into several when it has more than 50 recipients) and
        wait for ACS to report each one Succeeded.

        Raises `StepInputError` for a message ACS would refuse (too big, too many cc),
        `EmailFailed` when ACS refuses or fails it, `EmailOutcomeUnknown` when it may
        have been accepted but no final status came in time.
        """
        if not message.to and not message.cc and not message.bcc:
            raise StepInputError("the email has no recipients", hint="set `to`")
        check_sender(message.sender or self._settings.email_sender)
        parts = split_recipients(fit_attachments(message))
        # Every address is checked before the first message goes out.
        payloads = [message_payload(part, sender=self._settings.email_sender) for part in parts]
        result = SendResult(messages=0)
        for index, (part, payload) in enumerate(zip(parts, payloads, strict=True)):
            try:
                operation_id = self._send_one(part, payload)
            except EmailFailed as exc:
                if len(parts) == 1:
                    raise
                raise self._partial_failure(parts, index, result, exc) from exc
            result.operation_ids.append(operation_id)
            result.recipients.extend(part.recipients)
            result.messages += 1
        return result

    def _partial_failure(self, parts: list[EmailMessage], index: int, sent: SendResult,
                         exc: EmailFailed) -> EmailFailed:
        failed = parts[index].recipients
        skipped = [address for part in parts[index + 1:] for address in part.recipients]
        state = "may or may not have got it" if isinstance(exc, EmailOutcomeUnknown) \
            else "did not get it"
        text = (f"email split into {len(parts)} messages (ACS: at most 50 recipients each); "
                f"message {index + 1} failed: {exc.message}. "
                f"Sent to ({len(sent.recipients)}): {', '.join(sent.recipients) or 'nobody'}. "
                f"{state.capitalize()} ({len(failed)}): {', '.join(failed)}. "
                f"Not sent ({len(skipped)}): {', '.join(skipped) or 'nobody'}")
        hint = ("do not re-run the flow as is: the recipients listed as sent would get the "
                "email twice; " + (exc.hint or ""))
        kind = EmailOutcomeUnknown if isinstance(exc, EmailOutcomeUnknown) else EmailFailed
        return kind(text, hint=hint.rstrip("; "), operation_id=exc.operation_id)

    def _send_one(self, message: EmailMessage, payload: dict[str, Any]) -> str:
        """Send one message (within limits; *payload* is its JSON); its operation id."""
        from azure.core.exceptions import (
            AzureError,
            ClientAuthenticationError,
            HttpResponseError,
            ServiceRequestError,
            ServiceResponseError,
        )
        from azure.core.polling.base_polling import OperationFailed

        settings = self._settings
        recipients = message.recipients
        to = ", ".join(recipients)
        # Ours, sent as Operation-Id: known even if no response arrives, and the same
        # on every retry of this message.
        operation_id = str(uuid.uuid4())
        accepted: dict[str, str] = {}

        def on_response(pipeline_response: Any) -> None:
            http = pipeline_response.http_response
            if http.request.method == "POST" and http.status_code == 202:
                accepted["id"] = (http.headers.get("operation-id")
                                  or _id_from_location(http.headers.get("Operation-Location"))
                                  or operation_id)

        try:
            poller = self.client.begin_send(
                payload,
                operation_id=operation_id,
                polling_interval=settings.email_poll_seconds,
                raw_response_hook=on_response,
            )
        except ClientAuthenticationError as exc:
            if exc.response is not None:
                raise _rejected(exc, recipients) from None
            raise EmailFailed(
                f"could not get a token for ACS: {exc.message}",
                hint="check the managed identity (AZURE_CLIENT_ID) and its role on the ACS "
                     "resource; the email was not sent",
            ) from None
        except HttpResponseError as exc:
            raise _rejected(exc, recipients) from None
        except ServiceRequestError as exc:
            raise EmailFailed(
                f"could not reach ACS to send the email to {to}: {exc}",
                hint="the email was not sent; check ACS_ENDPOINT / the connection string "
                     "and the network, then retry",
            ) from None
        except ServiceResponseError as exc:
            raise _outcome_unknown(f"the connection to ACS broke after the email to {to} was "
                                   f"sent (operation {operation_id}): {exc}",
                                   operation_id) from None
        except AzureError as exc:
            raise _outcome_unknown(f"sending the email to {to} failed "
                                   f"(operation {operation_id}): {exc}", operation_id) from None

        operation_id = accepted.get("id", operation_id)
        accepted_but = f"ACS accepted the email to {to} (operation {operation_id}) but"
        timeout = settings.email_send_timeout_seconds
        try:
            result = poller.result(timeout=timeout)
        except AzureError as exc:
            if (isinstance(exc, HttpResponseError)
                    and isinstance(exc.inner_exception, OperationFailed)):
                code, text = _service_error(exc)
                raise EmailFailed(
                    f"ACS could not send the email to {to} "
                    f"(operation {operation_id}): {poller.status()}"
                    + (f" {code}" if code else "") + f": {text}",
                    hint="ACS gave up on this email; fix the cause above before sending again",
                    operation_id=operation_id,
                ) from None
            raise _outcome_unknown(f"{accepted_but} asking for its status failed: {exc}",
                                   operation_id) from None
        if not poller.done():
            # The SDK's poller thread (a daemon) keeps polling in the background until
            # the status is final; nothing is sent again.
            raise _outcome_unknown(f"{accepted_but} reported no final status within "
                                   f"{timeout:g} s (EMAIL_SEND_TIMEOUT_SECONDS)", operation_id)
        status = str((result or {}).get("status") or poller.status())
        operation_id = str((result or {}).get("id") or operation_id)
        if status.lower() != "succeeded":
            raise EmailFailed(
                f"ACS ended the email to {to} (operation {operation_id}) "
                f"with status {status}",
                hint="look the operation id up in the ACS logs", operation_id=operation_id,
            )
        log.info("ACS sent email %r to %d recipients (operation %s)",
                 message.subject, len(recipients), operation_id)
        return operation_id
