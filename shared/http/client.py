"""One HTTP client per process for the actions that call out, over urllib3's pool
(already installed with the Azure SDKs): connections are kept alive across runs of
a warm instance. It sends exactly once per call (urllib3's own retries and
redirects are off: `shared.http.delivery` decides what is sent again) and reads at
most `max_bytes` of an answer.

urllib3 logs each request line, path and query included, at DEBUG; a webhook's
query is its credential. `HttpSender` puts a filter on that logger that blanks the
path and query of those lines, so no log level shows them.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import urllib3

__all__ = ["Answer", "HttpSender"]

_URLLIB3_LOGGER = "urllib3.connectionpool"
_filter_lock = threading.Lock()


@dataclass(frozen=True)
class Answer:
    status: int
    reason: str
    #: Lower-case names; repeated headers joined with ", ".
    headers: dict[str, str]
    body: bytes = field(repr=False)
    #: True when the body was longer than the cap and was cut there.
    truncated: bool = False


class _HidePaths(logging.Filter):
    """Blanks the request target (path and query) in urllib3's log lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                "[path redacted]" if isinstance(arg, str) and (
                    arg.startswith("/") or "://" in arg) else arg
                for arg in record.args)
        return True


def _hide_paths_in_urllib3_logs() -> None:
    logger = logging.getLogger(_URLLIB3_LOGGER)
    with _filter_lock:
        if not any(isinstance(f, _HidePaths) for f in logger.filters):
            logger.addFilter(_HidePaths())


class HttpSender:
    """Sends one request at a time per call; safe to share across threads."""

    def __init__(self, *, max_connections_per_host: int = 10) -> None:
        import urllib3

        _hide_paths_in_urllib3_logs()
        self._pool = urllib3.PoolManager(maxsize=max_connections_per_host, retries=False,
                                         block=False)

    def send(self, method: str, url: str, *, body: bytes | None, headers: dict[str, str],
             timeout: float, max_bytes: int) -> Answer:
        """Send once and read the answer (at most *max_bytes* of its body). Raises
        what urllib3 raises when no whole answer came (`shared.http.retries.classify`
        says which failure it was)."""
        import urllib3

        response: Any = self._pool.request(
            method, url, body=body, headers=headers, redirect=False, retries=False,
            preload_content=False,
            timeout=urllib3.Timeout(connect=min(timeout, 10.0), read=timeout))
        try:
            data = b"" if method == "HEAD" else _read(response, max_bytes + 1)
            truncated = len(data) > max_bytes
            if truncated:
                response.close()  # the rest is unread: this connection is not reused
            found: dict[str, str] = {}
            for name, value in response.headers.items():
                key = name.lower()
                found[key] = f"{found[key]}, {value}" if key in found else value
            return Answer(response.status, response.reason or "", found, data[:max_bytes],
                          truncated)
        finally:
            response.release_conn()

    def close(self) -> None:
        self._pool.clear()


def _read(response: urllib3.BaseHTTPResponse, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = response.read(min(65536, limit - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)
