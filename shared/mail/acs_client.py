"""The ACS `EmailClient`: how it is built (connection string or Entra ID) and how its
pipeline retries, times out and polls.

`_SendRetryPolicy` (azure-core's `RetryPolicy`, bounded: `RETRY_TOTAL` retries,
backoff `RETRY_BACKOFF_FACTOR` * 2**n capped at `RETRY_BACKOFF_MAX`) retries the POST
only when the service cannot have accepted it: 408, 429, 500, 502, 503, 504, and
connection errors before the request was sent. A 429 asking for more than
`MAX_RETRY_AFTER_SECONDS` is not waited out: it fails at once. A POST whose
connection died after the request went out is *not* retried (ACS may have accepted
it). See `shared.mail.acs` for what a send does with the client.

Azure SDKs are imported inside functions: importing this module stays cheap for the
Functions cold start.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from shared.errors import EmailFailed
from shared.settings import Settings

if TYPE_CHECKING:
    from azure.communication.email import EmailClient
    from azure.core.pipeline.policies import RetryPolicy
    from azure.core.rest import HttpRequest, HttpResponse

__all__ = [
    "CONNECTION_TIMEOUT_SECONDS",
    "MAX_RETRY_AFTER_SECONDS",
    "READ_TIMEOUT_SECONDS",
    "RETRY_BACKOFF_FACTOR",
    "RETRY_BACKOFF_MAX",
    "RETRY_TOTAL",
    "build_client",
    "client_options",
]

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
