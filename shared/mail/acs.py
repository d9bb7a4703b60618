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
    `_SendRetryPolicy` (azure-core's `RetryPolicy`, bounded: `RETRY_TOTAL` retries,
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

Azure SDKs are imported inside functions: importing this module stays cheap for the
Functions cold start.
"""

from __future__ import annotations

import base64
import functools
import logging
import uuid
from dataclasses import dataclass, field
from email.utils import parseaddr
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from shared.errors import EmailFailed, StepInputError
from shared.mail.limits import fit_attachments, split_recipients
from shared.mail.message import Attachment, EmailMessage
from shared.settings import Settings

if TYPE_CHECKING:
    from azure.communication.email import EmailClient
    from azure.core.exceptions import HttpResponseError
    from azure.core.pipeline.policies import RetryPolicy
    from azure.core.rest import HttpRequest, HttpResponse

__all__ = [
    "AcsSender",
    "EmailOutcomeUnknown",
    "SendResult",
    "build_client",
    "client_options",
    "message_payload",
]

log = logging.getLogger(__name__)

#: Retries of one request after the first attempt (POST: only when not accepted).
RETRY_TOTAL = 4
#: Backoff between retries: 0, then factor * 2**n seconds ...
RETRY_BACKOFF_FACTOR = 0.2
#: ... never more than this many seconds.
RETRY_BACKOFF_MAX = 5
#: A 429/503 asking to come back later than this is not waited for: fail now.
MAX_RETRY_AFTER_SECONDS = 10.0
#: Seconds to open a connection to ACS.
CONNECTION_TIMEOUT_SECONDS = 10.0
#: Seconds to wait for one HTTP response (the POST can carry 10 MB).
READ_TIMEOUT_SECONDS = 30.0

#: Headers ACS passes into the mail for `importance`; normal needs none.
IMPORTANCE_HEADERS: dict[str, dict[str, str]] = {
    "high": {"x-priority": "1", "importance": "high"},
    "normal": {},
    "low": {"x-priority": "5", "importance": "low"},
}

_CHECK_LOGS = (
    "the email may have been sent: look the operation id up in the ACS logs "
    "(ACSEmailSendMailOperational / ACSEmailStatusUpdateOperational, CorrelationId) "
    "before sending it again, or recipients may get it twice"
)


class EmailOutcomeUnknown(EmailFailed):
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


@functools.cache
def _send_retry_policy_type() -> type[RetryPolicy[HttpRequest, HttpResponse]]:
    """azure-core's RetryPolicy, with the POST rules above (class built on first use,
    so importing this module does not import azure-core)."""
    from azure.core.exceptions import ServiceResponseError
    from azure.core.pipeline.policies import RetryPolicy
    from azure.core.rest import HttpRequest, HttpResponse

    # The request/response types of the EmailClient's pipeline (azure.core.rest).
    class _SendRetryPolicy(RetryPolicy[HttpRequest, HttpResponse]):
        def __init__(self, *, max_retry_after: float = MAX_RETRY_AFTER_SECONDS,
                     **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.max_retry_after = max_retry_after

        def configure_retries(self, options: dict[str, Any]) -> dict[str, Any]:
            settings = super().configure_retries(options)
            # azure-core retries POST only on 500/503/504: add 408, 429, 502 and
            # connection errors. Read errors are refused in `increment`.
            settings["methods"] = frozenset(settings["methods"]) | {"POST"}
            return settings

        def is_retry(self, settings: dict[str, Any], response: Any) -> bool:
            retry_after = self.get_retry_after(response)
            if retry_after is not None and retry_after > self.max_retry_after:
                return False  # the caller reports the 429 with its Retry-After
            return super().is_retry(settings, response)

        def increment(self, settings: dict[str, Any], response: Any = None,
                      error: Exception | None = None) -> bool:
            request = getattr(response, "http_request", None)
            if (isinstance(error, ServiceResponseError) and request is not None
                    and request.method.upper() == "POST"):
                return False  # the request went out: ACS may have accepted it
            return super().increment(settings, response=response, error=error)

        def sleep(self, settings: dict[str, Any], transport: Any, response: Any = None) -> None:
            # The SDK streams the POST's response; azure-core drops a retried one
            # unread, which leaks its connection (ResourceWarning). Read it first.
            if response is not None:
                try:
                    response.http_response.read()
                except Exception:
                    response.http_response.close()
            super().sleep(settings, transport, response=response)

    return _SendRetryPolicy


def client_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for `EmailClient(...)`: retries, timeouts, polling interval."""
    policy = _send_retry_policy_type()(
        retry_total=RETRY_TOTAL,
        retry_connect=RETRY_TOTAL,
        retry_read=RETRY_TOTAL,  # GET (status) only; see increment()
        retry_status=RETRY_TOTAL,
        retry_backoff_factor=RETRY_BACKOFF_FACTOR,
        retry_backoff_max=RETRY_BACKOFF_MAX,
    )
    return {
        "retry_policy": policy,
        "connection_timeout": CONNECTION_TIMEOUT_SECONDS,
        "read_timeout": READ_TIMEOUT_SECONDS,
        "polling_interval": settings.email_poll_seconds,
    }


def build_client(settings: Settings, **kwargs: Any) -> EmailClient:
    """An `EmailClient` from `ACS_CONNECTION_STRING` (access key, HMAC) or, failing
    that, `ACS_ENDPOINT` with azure-identity: the user-assigned managed identity
    `AZURE_CLIENT_ID` when set, else `DefaultAzureCredential()`.

    *kwargs* go to the client after `client_options(settings)` (e.g.
    `connection_verify` for a test certificate).
    """
    from azure.communication.email import EmailClient

    options = {**client_options(settings), **kwargs}
    if settings.acs_connection_string:
        try:
            return EmailClient.from_connection_string(settings.acs_connection_string, **options)
        except ValueError:
            raise EmailFailed(
                "ACS_CONNECTION_STRING is not a valid connection string",
                hint="copy it from the ACS resource's Keys page: "
                     "endpoint=https://<resource>.communication.azure.com/;accesskey=<key>",
            ) from None
    if settings.acs_endpoint:
        from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

        credential: Any
        if settings.azure_client_id:
            credential = ManagedIdentityCredential(client_id=settings.azure_client_id)
        else:
            credential = DefaultAzureCredential()
        return EmailClient(settings.acs_endpoint, credential, **options)
    raise EmailFailed(
        "Azure Communication Services is not configured",
        hint="set ACS_CONNECTION_STRING or ACS_ENDPOINT, or deliver to the local outbox",
    )


def _address(text: str) -> dict[str, str]:
    name, address = parseaddr(text)
    if not address or "@" not in address:
        raise StepInputError(f"not an email address: {text!r}",
                             hint="write addresses as name@domain or 'Name <name@domain>'")
    return {"address": address, "displayName": name} if name else {"address": address}


def _attachment(part: Attachment) -> dict[str, str]:
    payload = {
        "name": part.name,
        "contentType": part.content_type,
        "contentInBase64": base64.b64encode(part.data).decode("ascii"),
    }
    if part.content_id:
        payload["contentId"] = part.content_id
    return payload


def message_payload(message: EmailMessage, *, sender: str = "") -> dict[str, Any]:
    """The SDK's / REST API's message JSON for *message*.

    Inline parts are attachments with `contentId` (referenced as `cid:<id>` in html).
    """
    recipients: dict[str, list[dict[str, str]]] = {"to": [_address(a) for a in message.to]}
    if message.cc:
        recipients["cc"] = [_address(a) for a in message.cc]
    if message.bcc:
        recipients["bcc"] = [_address(a) for a in message.bcc]
    content: dict[str, str] = {"subject": message.subject}
    if message.html:
        content["html"] = message.html
    if message.text or not message.html:
        content["plainText"] = message.text
    payload: dict[str, Any] = {
        "senderAddress": _address(message.sender or sender)["address"],
        "recipients": recipients,
        "content": content,
    }
    if message.reply_to:
        payload["replyTo"] = [_address(a) for a in message.reply_to]
    parts = [*message.attachments, *message.inline]
    if parts:
        payload["attachments"] = [_attachment(part) for part in parts]
    headers = IMPORTANCE_HEADERS.get(message.importance, {})
    if headers:
        payload["headers"] = dict(headers)
    return payload


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


#: The domain of the default EMAIL_SENDER: fine for the outbox, refused by ACS.
PLACEHOLDER_SENDER_DOMAIN = "kusto-flows.local"


def _check_sender(sender: str) -> None:
    address = parseaddr(sender)[1]
    if not address or address.lower().endswith("@" + PLACEHOLDER_SENDER_DOMAIN):
        raise EmailFailed(
            f"EMAIL_SENDER is not set (the sender would be {sender!r}); ACS sends only from "
            "a MailFrom address of a domain connected to the ACS resource",
            hint="set the EMAIL_SENDER app setting, e.g. DoNotReply@<your verified domain>; "
                 "the email was not sent",
        )


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
        _check_sender(message.sender or self._settings.email_sender)
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
                f"could not reach ACS to send the email to {', '.join(recipients)}: {exc}",
                hint="the email was not sent; check ACS_ENDPOINT / the connection string "
                     "and the network, then retry",
            ) from None
        except ServiceResponseError as exc:
            raise EmailOutcomeUnknown(
                f"the connection to ACS broke after the email to {', '.join(recipients)} was "
                f"sent (operation {operation_id}): {exc}",
                hint=_CHECK_LOGS, operation_id=operation_id,
            ) from None
        except AzureError as exc:
            raise EmailOutcomeUnknown(
                f"sending the email to {', '.join(recipients)} failed "
                f"(operation {operation_id}): {exc}",
                hint=_CHECK_LOGS, operation_id=operation_id,
            ) from None

        operation_id = accepted.get("id", operation_id)
        timeout = settings.email_send_timeout_seconds
        try:
            result = poller.result(timeout=timeout)
        except HttpResponseError as exc:
            if isinstance(exc.inner_exception, OperationFailed):
                code, text = _service_error(exc)
                raise EmailFailed(
                    f"ACS could not send the email to {', '.join(recipients)} "
                    f"(operation {operation_id}): {poller.status()}"
                    + (f" {code}" if code else "") + f": {text}",
                    hint="ACS gave up on this email; fix the cause above before sending again",
                    operation_id=operation_id,
                ) from None
            raise EmailOutcomeUnknown(
                f"ACS accepted the email to {', '.join(recipients)} (operation "
                f"{operation_id}) but asking for its status failed: {exc}",
                hint=_CHECK_LOGS, operation_id=operation_id,
            ) from None
        except AzureError as exc:
            raise EmailOutcomeUnknown(
                f"ACS accepted the email to {', '.join(recipients)} (operation "
                f"{operation_id}) but asking for its status failed: {exc}",
                hint=_CHECK_LOGS, operation_id=operation_id,
            ) from None
        if not poller.done():
            # The SDK's poller thread (a daemon) keeps polling in the background until
            # the status is final; nothing is sent again.
            raise EmailOutcomeUnknown(
                f"ACS accepted the email to {', '.join(recipients)} (operation "
                f"{operation_id}) but reported no final status within {timeout:g} s "
                f"(EMAIL_SEND_TIMEOUT_SECONDS)",
                hint=_CHECK_LOGS, operation_id=operation_id,
            )
        status = str((result or {}).get("status") or poller.status())
        operation_id = str((result or {}).get("id") or operation_id)
        if status.lower() != "succeeded":
            raise EmailFailed(
                f"ACS ended the email to {', '.join(recipients)} (operation {operation_id}) "
                f"with status {status}",
                hint="look the operation id up in the ACS logs", operation_id=operation_id,
            )
        log.info("ACS sent email %r to %d recipients (operation %s)",
                 message.subject, len(recipients), operation_id)
        return operation_id
