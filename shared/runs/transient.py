"""Which run-store errors are transient: trying again later may succeed (the store
unreachable, overloaded, failing on its side, refusing our credentials for now), as
opposed to a request it rejects as invalid or a bug. Used by `resilient.py` and
`spool_replay.py` to choose between retrying or spooling and parking a write.
"""

from __future__ import annotations

import sqlite3

__all__ = ["is_transient"]

_TRANSIENT_STATUS = {401, 403, 408, 429}  # auth may be fixed (RBAC propagating)
_TRANSIENT_NAMES = {"ServiceRequestError", "ServiceResponseError", "ServiceRequestTimeoutError",
                    "ServiceResponseTimeoutError", "IncompleteReadError"}


def is_transient(exc: BaseException) -> bool:
    """Whether trying again later may succeed: the store unreachable, overloaded,
    failing on its side or refusing our credentials for now. A request it rejects
    as invalid (other 4xx) or a bug (TypeError, ValueError, ...) is not."""
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        return status >= 500 or status in _TRANSIENT_STATUS
    if any(cls.__name__ in _TRANSIENT_NAMES for cls in type(exc).__mro__):
        return True
    if type(exc).__name__ == "HttpResponseError":  # no status: no response at all
        return True
    return isinstance(exc, OSError | TimeoutError | sqlite3.OperationalError)
