"""Clusters reached through the real azure-kusto-data client: a local emulator on
loopback http (no auth), or Azure Data Explorer over https with azure-identity.

One client per connection per process (see `connections.py`). Results are read
with `execute_streaming_query`, row by row, into the step's sink.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from typing import Any

from ..errors import (
    AuthFailed,
    FlowError,
    KustoQueryError,
    KustoUnavailable,
    LimitExceeded,
    RequestTimeout,
)
from .backend import ExecutionInfo, KustoRequest
from .params import to_literal
from .reader import ResultSink
from .types import Column

__all__ = ["AzureKustoBackend"]

log = logging.getLogger(__name__)

_BATCH = 5_000
_TRANSIENT_STATUS = {429, 500, 502, 503, 504}
_TIMEOUT_HINT = ("make the query more efficient so it runs faster, or separate it into "
                 "chunks, each over a different part of the data")


class AzureKustoBackend:
    def __init__(self, cluster: str, *, credential_factory: Any = None,
                 client_grace_seconds: float = 5.0, retries: int = 3,
                 backoff_seconds: float = 0.5) -> None:
        self.cluster = cluster.rstrip("/")
        self._credential_factory = credential_factory
        self._grace = client_grace_seconds
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        self._client: Any = None
        self._lock = threading.Lock()

    def _kusto_client(self) -> Any:
        with self._lock:
            if self._client is None:
                from azure.kusto.data import KustoClient, KustoConnectionStringBuilder

                if self._credential_factory is None:
                    kcsb = KustoConnectionStringBuilder.with_no_authentication(self.cluster)
                else:
                    kcsb = KustoConnectionStringBuilder.with_azure_token_credential(
                        self.cluster, self._credential_factory())
                client = KustoClient(kcsb)
                # The SDK waits servertimeout + 30 s before giving up on the socket; a
                # flow should learn of a dead request shortly after the server would.
                client._client_server_delta = timedelta(seconds=self._grace)
                self._client = client
            return self._client

    def execute(self, request: KustoRequest, sink: ResultSink) -> ExecutionInfo:
        attempt = 0
        while True:
            attempt += 1
            delivered = _CountingSink(sink)
            try:
                return self._execute_once(request, delivered)
            except _Transient as exc:
                # Retry only while nothing reached the step: a half-read result
                # retried would be read twice.
                if delivered.rows or attempt > self.retries:
                    raise KustoUnavailable(
                        f"{self.cluster} did not answer after {attempt} attempts: {exc}",
                        hint="check the cluster URL and that it is running; transient "
                             "errors were retried with backoff") from exc
                delay = self.backoff_seconds * 2 ** (attempt - 1)
                log.warning("Kusto request failed (%s); retry %d in %.1f s", exc, attempt, delay)
                time.sleep(delay)

    def _execute_once(self, request: KustoRequest, sink: _CountingSink) -> ExecutionInfo:
        from azure.kusto.data import ClientRequestProperties

        client = self._kusto_client()
        properties = ClientRequestProperties()
        # A timedelta: the SDK adds its client grace to it (and sends str(timedelta)).
        properties.set_option("servertimeout", timedelta(seconds=request.timeout))
        for name, (kind, value) in request.parameters.items():
            properties.set_parameter(name, to_literal(kind, value))
        info = ExecutionInfo()
        try:
            if request.is_command:
                response = client.execute_mgmt(request.database, request.text, properties)
                for table in response.primary_results:
                    _feed(table, table.raw_rows, sink)
            else:
                response = client.execute_streaming_query(
                    request.database, request.text, properties=properties)
                for table in response.iter_primary_results():
                    _feed(table, table.raw_rows, sink)
                info.visualization = _visualization(response)
        except FlowError:
            raise
        except Exception as exc:  # translated into the product's error codes
            raise _translate(exc, request) from exc
        return info


class _Transient(Exception):
    pass


class _CountingSink:
    def __init__(self, inner: ResultSink) -> None:
        self.inner = inner
        self.rows = 0

    def begin_table(self, name: str, columns: list[Column], primary: bool) -> None:
        self.inner.begin_table(name, columns, primary)

    def add_rows(self, rows: Any) -> None:
        self.rows += len(rows)
        self.inner.add_rows(rows)


def _feed(table: Any, raw_rows: Any, sink: _CountingSink) -> None:
    from azure.kusto.data._models import KustoResultRow

    columns = [Column(c.column_name, (c.column_type or "string").lower()) for c in table.columns]
    typed = [i for i, c in enumerate(columns)
             if c.type in KustoResultRow.conversion_funcs]
    convert = KustoResultRow.get_typed_value
    sink.begin_table(getattr(table, "table_name", "PrimaryResult") or "PrimaryResult",
                     columns, True)
    batch: list[list[Any]] = []
    for raw in raw_rows:
        if typed:
            raw = list(raw)
            for i in typed:
                raw[i] = convert(columns[i].type, raw[i])
        batch.append(raw)
        if len(batch) >= _BATCH:
            sink.add_rows(batch)
            batch = []
    if batch:
        sink.add_rows(batch)
    # Read through raw_rows (no per-row wrapper objects), so tell the streaming
    # dataset this table is done, as iterating the table itself would have.
    table.finished = True


def _visualization(response: Any) -> Any:
    """The `render` hint from the QueryProperties table, when the server sent one."""
    import json

    try:
        for table in getattr(response, "tables", []):
            if "QueryProperties" not in str(getattr(table, "table_kind", "")):
                continue
            for row in table:
                if row["Key"] == "Visualization":
                    value = row["Value"]
                    hint = json.loads(value) if isinstance(value, str) else value
                    if isinstance(hint, dict) and hint.get("Visualization"):
                        return hint
    except (KeyError, ValueError, TypeError):  # the hint is optional; a table is fine
        return None
    return None


def _translate(exc: Exception, request: KustoRequest) -> Exception:
    import requests
    from azure.kusto.data.exceptions import (
        KustoAuthenticationError,
        KustoServiceError,
        KustoThrottlingError,
    )

    if isinstance(exc, LimitExceeded):
        return exc
    if isinstance(exc, requests.exceptions.Timeout | TimeoutError):
        return RequestTimeout(f"no answer within the {request.timeout:g} s time-out",
                              hint=_TIMEOUT_HINT)
    if isinstance(exc, requests.exceptions.ConnectionError | ConnectionError):
        return _Transient(f"cannot connect: {_short(exc)}")
    if isinstance(exc, KustoThrottlingError):
        return _Transient(f"throttled: {_short(exc)}")
    if isinstance(exc, KustoAuthenticationError):
        return AuthFailed(f"cannot authenticate to the cluster: {_short(exc)}",
                          hint="check the connection's auth and the identity's access "
                               "(viewer on the database)")
    if isinstance(exc, KustoServiceError):
        status = getattr(getattr(exc, "http_response", None), "status_code", None)
        text = getattr(exc, "message_text", "") or str(exc)
        if status in _TRANSIENT_STATUS:
            return _Transient(f"HTTP {status}: {_short(text)}")
        if status in (401, 403):
            return AuthFailed(f"the cluster refused access (HTTP {status}): {_short(text)}",
                              hint="grant the identity viewer access on the database")
        if "timed out" in text.lower() or "timeout" in text.lower():
            return RequestTimeout(f"the request ran longer than its {request.timeout:g} s "
                                  f"time-out", hint=_TIMEOUT_HINT)
        if status is None and "network" in text.lower():
            return _Transient(_short(text))
        return KustoQueryError(f"query failed: {_short(text)}",
                               hint="fix the KQL; query errors are not retried")
    return KustoQueryError(f"query failed: {type(exc).__name__}: {_short(exc)}")


def _short(value: Any, limit: int = 600) -> str:
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "…"
