"""Clusters reached through the real azure-kusto-data client: a local emulator on
loopback http (no auth), or Azure Data Explorer over https with azure-identity.

One client per connection per process (see `connections.py`). Results are read
with `execute_streaming_query` into the step's sink, a batch of rows at a time.

The primary table's rows are read past the SDK's pure-Python token reader, which
was most of the client-side time (`v2_rows`: parsed with orjson straight from the
HTTP body, or from the ijson events under the SDK's reader; the SDK's own rows when
its internals differ from what those expect), and handed to the sink as JSON gave
them (`json_rows.JsonRows`): a sink converts only what it needs (datetimes,
timespans, decimals, as the SDK does) and writes the rest as it came. The values
are the SDK's; tests pin that, and that the fast path is taken with the pinned SDK.

A failed request is sent again only when `retries.may_resend` says so: a control
command only when it cannot have reached the cluster, and no request after the
client's own read time-out.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
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
from .json_rows import JsonRows, converters, deliver
from .params import to_literal
from .reader import ResultSink
from .retries import Failure, answer_status, classify, may_resend
from .types import Column
from .v2_rows import BodyRecorder, batched, primary_rows, tap_body

__all__ = ["AzureKustoBackend"]

log = logging.getLogger(__name__)

_TIMEOUT_HINT = ("make the query more efficient so it runs faster, or separate it into "
                 "chunks, each over a different part of the data")
_CHECK_HINT = ("check whether the command took effect (for example, count the rows it "
               "writes) before running it again")


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
        self._bodies = BodyRecorder()

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
                # A ClassVar in the SDK, set per client here on purpose.
                client._client_server_delta = timedelta(seconds=self._grace)  # type: ignore[misc]
                if not self._bodies.install(client):
                    log.debug("no response hook on the SDK's session: rows read from events")
                self._client = client
            return self._client

    def execute(self, request: KustoRequest, sink: ResultSink) -> ExecutionInfo:
        attempt = 0
        while True:
            attempt += 1
            delivered = _CountingSink(sink)
            try:
                return self._execute_once(request, delivered)
            except _Failed as exc:
                if exc.failure is Failure.CLIENT_TIMEOUT:
                    raise self._client_timeout(request) from exc
                if not may_resend(exc.failure, is_command=request.is_command):
                    # Only a command gets here (a time-out was handled above).
                    raise KustoUnavailable(
                        f"the control command may have run on {self.cluster} ({exc}); "
                        f"it was not re-sent", hint=_CHECK_HINT) from exc
                # A half-read result retried would be read twice.
                if delivered.rows:
                    raise KustoUnavailable(
                        f"{exc} after {delivered.rows:,} rows from {self.cluster} had been "
                        f"read; not retried, so that no row is read twice",
                        hint="run the flow again; if it keeps happening, check the "
                             "cluster's health") from exc
                if attempt > self.retries:
                    raise KustoUnavailable(
                        f"{self.cluster} did not answer after {attempt} attempts: {exc}",
                        hint="check the cluster URL and that it is running; transient "
                             "errors were retried with backoff") from exc
                delay = self.backoff_seconds * 2 ** (attempt - 1)
                log.warning("Kusto request failed (%s); retry %d in %.1f s", exc, attempt, delay)
                time.sleep(delay)

    def _client_timeout(self, request: KustoRequest) -> RequestTimeout:
        """The SDK's read time-out: servertimeout and the grace passed in silence."""
        message = (f"no answer within the {request.timeout:g} s time-out "
                   f"(and {self._grace:g} s of grace)")
        if request.is_command:
            return RequestTimeout(f"{message}; the control command may have run; it was "
                                  f"not re-sent", hint=f"{_TIMEOUT_HINT}; {_CHECK_HINT}")
        return RequestTimeout(message, hint=_TIMEOUT_HINT)

    def _execute_once(self, request: KustoRequest, sink: _CountingSink) -> ExecutionInfo:
        from azure.kusto.data import ClientRequestProperties

        client = self._kusto_client()
        # The SDK leaves ClientRequestProperties.__init__ unannotated.
        properties = ClientRequestProperties()  # type: ignore[no-untyped-call]
        # A timedelta: the SDK adds its client grace to it (and sends str(timedelta)).
        properties.set_option("servertimeout", timedelta(seconds=request.timeout))
        for name, (kind, value) in request.parameters.items():
            properties.set_parameter(name, to_literal(kind, value))
        info = ExecutionInfo()
        try:
            if request.is_command:
                response = client.execute_mgmt(request.database, request.text, properties)
                for table in response.primary_results:  # read by the json module
                    _feed(table, batched(table.raw_rows), sink, finite_floats=False)
            else:
                self._bodies.clear()
                try:
                    response = client.execute_streaming_query(
                        request.database, request.text, properties=properties)
                    tap = tap_body(response, self._bodies.take())
                finally:
                    self._bodies.clear()
                for table in response.iter_primary_results():
                    _feed(table, primary_rows(response, table, tap), sink)
                info.visualization = _visualization(response)
        except FlowError:
            raise
        except Exception as exc:  # translated into the product's error codes
            raise _translate(exc, request) from exc
        return info


class _Failed(Exception):
    """A transport failure (see `retries`), before it is reported or retried."""

    def __init__(self, failure: Failure, detail: str) -> None:
        super().__init__(detail)
        self.failure = failure


class _CountingSink:
    def __init__(self, inner: ResultSink) -> None:
        self.inner = inner
        self.rows = 0

    def begin_table(self, name: str, columns: list[Column], primary: bool) -> None:
        self.inner.begin_table(name, columns, primary)

    def add_rows(self, rows: Any) -> None:
        self.rows += len(rows)
        self.inner.add_rows(rows)

    def add_json_rows(self, batch: JsonRows) -> None:
        self.rows += len(batch)
        deliver(self.inner, batch)


def _feed(table: Any, batches: Iterable[list[list[Any]]], sink: _CountingSink, *,
          finite_floats: bool = True) -> None:
    columns = [Column(c.column_name, (c.column_type or "string").lower()) for c in table.columns]
    funcs = converters()
    convert = {i: funcs[c.type] for i, c in enumerate(columns) if c.type in funcs}
    sink.begin_table(getattr(table, "table_name", "PrimaryResult") or "PrimaryResult",
                     columns, True)
    for rows in batches:
        batch = JsonRows(columns, rows, convert, finite_floats=finite_floats)
        batch.check_width()
        deliver(sink, batch)
    # Read past the table's own iterator, so tell the streaming dataset this table
    # is done, as iterating the table itself would have.
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
    from azure.kusto.data.exceptions import KustoAuthenticationError, KustoServiceError

    if isinstance(exc, LimitExceeded):
        return exc
    failure = classify(exc)
    if failure is not None:
        return _Failed(failure, _failure_text(failure, exc))
    if isinstance(exc, KustoAuthenticationError):
        return AuthFailed(f"cannot authenticate to the cluster: {_short(exc)}",
                          hint="check the connection's auth and the identity's access "
                               "(viewer on the database)")
    if isinstance(exc, KustoServiceError):
        status = getattr(getattr(exc, "http_response", None), "status_code", None)
        text = getattr(exc, "message_text", "") or str(exc)
        if status in (401, 403):
            return AuthFailed(f"the cluster refused access (HTTP {status}): {_short(text)}",
                              hint="grant the identity viewer access on the database")
        if "timed out" in text.lower() or "timeout" in text.lower():
            return RequestTimeout(f"the request ran longer than its {request.timeout:g} s "
                                  f"time-out", hint=_TIMEOUT_HINT)
        return KustoQueryError(f"query failed: {_short(text)}",
                               hint="fix the KQL; query errors are not retried")
    return KustoQueryError(f"query failed: {type(exc).__name__}: {_short(exc)}")


def _failure_text(failure: Failure, exc: Exception) -> str:
    if failure is Failure.SERVER_ERROR:
        text = getattr(exc, "message_text", "") or str(exc)
        return f"HTTP {answer_status(exc)}: {_short(text)}"
    if failure is Failure.THROTTLED:
        return "throttled (HTTP 429)"
    if failure is Failure.NOT_SENT:
        return f"cannot connect: {_short(_innermost(exc))}"
    return f"{failure.value}: {_short(_innermost(exc))}"


def _innermost(exc: BaseException) -> BaseException:
    """What the SDK's "Failed to process network request" wraps, which says more."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return exc


def _short(value: Any, limit: int = 600) -> str:
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "…"
