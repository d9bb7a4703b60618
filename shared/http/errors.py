"""The error an outgoing HTTP request ends with (`http.request`, `teams.post`)."""

from __future__ import annotations

from ..errors import KustoFlowsError

__all__ = ["HttpRequestFailed"]


class HttpRequestFailed(KustoFlowsError, http_status=502):
    """An outgoing request got no usable answer: a status other than 2xx (`status`),
    or none at all (`status` 0: refused, timed out, connection broken), after the
    retries that were safe. The message names the method, the scheme and the host,
    never the path or the query (webhook URLs carry their signature there), and a
    short excerpt of the answer's body with the URL's secret parts blanked out."""

    def __init__(self, message: str, *, hint: str = "", step: str = "", status: int = 0,
                 attempts: int = 1) -> None:
        super().__init__(message, hint=hint, step=step)
        self.status = status
        self.attempts = attempts
