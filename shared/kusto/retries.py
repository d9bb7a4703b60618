"""What a failed Kusto request ran into, and whether sending it again is safe.

A control command is not idempotent: a `.set-or-append` whose answer was lost
appends its rows again when re-sent. So a command is re-sent only when it provably
never reached the service: the connection was never made (refused, no DNS, connect
time-out) or the service throttled it (a 429 comes before anything runs). A query
is also re-sent after a 5xx answer or a broken connection. A client read time-out
is re-sent for neither: the server is already past its own `servertimeout`, and
another send would wait as long again.

| failure          | query       | command     |
|------------------|-------------|-------------|
| NOT_SENT         | re-sent     | re-sent     |
| THROTTLED (429)  | re-sent     | re-sent     |
| SERVER_ERROR 5xx | re-sent     | not re-sent |
| BROKEN           | re-sent     | not re-sent |
| CLIENT_TIMEOUT   | not re-sent | not re-sent |

(A query is also not re-sent once rows of it reached the step: they would be read
twice. That is the backend's count, not decided here.)
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import Enum

__all__ = ["Failure", "answer_status", "classify", "exception_chain", "may_resend"]

_SERVER_ERROR_STATUS = frozenset((500, 502, 503, 504))


class Failure(Enum):
    NOT_SENT = "the connection was never made"
    THROTTLED = "throttled"
    SERVER_ERROR = "a server error"
    BROKEN = "the connection broke"
    CLIENT_TIMEOUT = "no answer in time"


def may_resend(failure: Failure, *, is_command: bool) -> bool:
    if failure in (Failure.NOT_SENT, Failure.THROTTLED):
        return True
    if failure is Failure.CLIENT_TIMEOUT:
        return False
    return not is_command


def classify(exc: BaseException) -> Failure | None:
    """The transport failure behind *exc* (the SDK wraps what `requests`, urllib3
    and the socket raised), or None when it is the service's answer to the request
    itself (a query error, auth, a server-side time-out): for the caller to map."""
    import http.client

    import requests
    import urllib3.exceptions as u3
    from azure.kusto.data.exceptions import (
        KustoAuthenticationError,
        KustoNetworkError,
        KustoThrottlingError,
    )

    if isinstance(exc, KustoAuthenticationError):
        return None  # no token, so nothing was sent; not a failure a retry mends
    chain = list(exception_chain(exc))
    status = answer_status(exc)
    if status == 429 or any(isinstance(e, KustoThrottlingError) for e in chain):
        return Failure.THROTTLED
    if status in _SERVER_ERROR_STATUS:
        return Failure.SERVER_ERROR
    if status is not None:
        return None
    # NewConnectionError and NameResolutionError are ConnectTimeoutErrors in urllib3 2.
    if any(isinstance(e, u3.ConnectTimeoutError | requests.exceptions.ConnectTimeout
                      | ConnectionRefusedError) for e in chain):
        return Failure.NOT_SENT
    if any(isinstance(e, u3.ReadTimeoutError | requests.exceptions.ReadTimeout | TimeoutError)
           for e in chain):
        return Failure.CLIENT_TIMEOUT
    if any(isinstance(e, KustoNetworkError | requests.exceptions.ConnectionError
                      | requests.exceptions.ChunkedEncodingError | u3.ProtocolError
                      | http.client.HTTPException | ConnectionError) for e in chain):
        return Failure.BROKEN
    return None


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """*exc*, what it was raised from or during, and urllib3's `reason`s and the
    exceptions `requests` carries in its args; each once. (Also used by http.request.)"""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked = [current.__cause__, current.__context__, getattr(current, "reason", None),
                  *current.args]
        todo += [e for e in linked if isinstance(e, BaseException)]


def answer_status(exc: BaseException) -> int | None:
    """The HTTP status of the answer behind *exc*, if there was one: the SDK's
    `http_response`, or `requests`' `response` (for a streamed query the SDK's error
    can be one raised while reading the answer's body)."""
    for linked in exception_chain(exc):
        for name in ("http_response", "response"):
            status = getattr(getattr(linked, name, None), "status_code", None)
            if isinstance(status, int):
                return status
    return None
