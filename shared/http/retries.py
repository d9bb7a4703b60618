"""What a failed outgoing request ran into, and whether sending it again is safe.

A webhook is not idempotent unless its receiver says so: a POST whose answer was
lost may have posted the card or started the job already. So a request is sent
again on its own only when it provably was not acted on: the connection was never
made (refused, no DNS, connect time-out), or the server answered 429 (throttled:
turned away before anything ran). After the request went out and no complete
answer came back (a read time-out, a broken connection) or a 5xx answer came, it may
have been processed: it is sent again only when the step says `idempotent: true`.
Every send carries the same `Idempotency-Key`, so a receiver can drop a repeat.

| failure            | sent again                 |
|--------------------|----------------------------|
| NOT_SENT           | yes                        |
| THROTTLED (429)    | yes, after its Retry-After |
| SERVER_ERROR (5xx) | with `idempotent: true`    |
| BROKEN             | with `idempotent: true`    |
| NO_ANSWER          | with `idempotent: true`    |

Waits: the answer's `Retry-After` (seconds or an HTTP date) when it gives one,
else 0.5 s doubling up to 8 s; never past the run's deadline (the caller checks).
"""

from __future__ import annotations

import http.client
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import Enum

from ..kusto.retries import exception_chain

__all__ = ["Failure", "backoff", "classify", "failure_for_status", "may_resend",
           "retry_after"]

_FIRST_WAIT = 0.5
_LONGEST_WAIT = 8.0


class Failure(Enum):
    NOT_SENT = "the connection could not be made"
    THROTTLED = "throttled (429)"
    SERVER_ERROR = "a server error"
    BROKEN = "the connection broke before a whole answer came"
    NO_ANSWER = "no answer in time"


def may_resend(failure: Failure, *, idempotent: bool) -> bool:
    return failure in (Failure.NOT_SENT, Failure.THROTTLED) or idempotent


def failure_for_status(status: int) -> Failure | None:
    """429 and 5xx are failures a later send may mend; any other status is the
    answer (None)."""
    if status == 429:
        return Failure.THROTTLED
    if 500 <= status <= 599:
        return Failure.SERVER_ERROR
    return None


def classify(exc: BaseException) -> Failure | None:
    """The transport failure behind *exc* (raised by urllib3 or the socket), or None
    for one no retry mends (TLS, a malformed request)."""
    import urllib3.exceptions as u3

    chain = list(exception_chain(exc))
    if any(isinstance(e, u3.SSLError | u3.LocationParseError) for e in chain):
        return None
    # NewConnectionError and NameResolutionError are ConnectTimeoutErrors in urllib3 2.
    if any(isinstance(e, u3.ConnectTimeoutError | ConnectionRefusedError) for e in chain):
        return Failure.NOT_SENT
    if any(isinstance(e, u3.ReadTimeoutError | TimeoutError) for e in chain):
        return Failure.NO_ANSWER
    if any(isinstance(e, u3.ProtocolError | u3.HTTPError | http.client.HTTPException
                      | ConnectionError) for e in chain):
        return Failure.BROKEN
    return None


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header: delay-seconds or an HTTP date
    (RFC 9110 §10.2.3); None when absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def backoff(attempt: int) -> float:
    """The wait after failed attempt number *attempt* (1-based) without Retry-After."""
    return float(min(_LONGEST_WAIT, _FIRST_WAIT * 2.0 ** (attempt - 1)))
