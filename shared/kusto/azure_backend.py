"""Clusters reached through the real azure-kusto-data client: a local emulator on
loopback http (no auth), or Azure Data Explorer over https with azure-identity.

One client per connection per process (see `connections.py`). Results are read
with `execute_streaming_query`, row by row, into the step's sink.

The primary table's rows are read straight from the ijson (C backend) event stream
under the SDK's streaming reader (`_event_rows`): the SDK's pure-Python token reader
makes an object per JSON value, which was most of the client-side time. The values
are the same as the SDK's (same events; nested values built by ijson's
ObjectBuilder; an error object in place of a row raises `KustoMultiApiError` as the
SDK does). Should the SDK's internals ever differ from what that expects, rows are
read through the SDK (`table.raw_rows`) as before; a test pins that the fast path
is taken with the pinned SDK version.

A failed request is sent again only when `retries.may_resend` says so: a control
command only when it cannot have reached the cluster, and no request after the
client's own read time-out.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
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
from .retries import Failure, answer_status, classify, may_resend
from .types import Column

__all__ = ["AzureKustoBackend"]

log = logging.getLogger(__name__)

_BATCH = 5_000
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
                for table in response.primary_results:
                    _feed(table, table.raw_rows, sink)
            else:
                response = client.execute_streaming_query(
                    request.database, request.text, properties=properties)
                for table in response.iter_primary_results():
                    _feed(table, _primary_rows(response, table), sink)
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


def _to_datetime(value: Any) -> Any:
    """What the SDK's converter gives (dateutil's isoparse, ~11 us a value), in about
    a tenth of the time: Kusto's `2007-01-01T00:00:00.1234567Z` through
    `datetime.fromisoformat` (Python 3.11 reads the `Z` as UTC and truncates a 7th
    fractional digit as isoparse does), aware in UTC. Anything else, or what
    fromisoformat refuses, goes to the SDK's converter."""
    if type(value) is str and value.endswith("Z"):
        if len(value) > 27 and value[19] == ".":  # more than 6 fractional digits
            value = value[:26] + "Z" if value[20:-1].isdigit() else value
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    return _sdk_converter("datetime")(value)


def _sdk_converter(kind: str) -> Callable[[Any], Any]:
    from azure.kusto.data._models import KustoResultRow

    return KustoResultRow.conversion_funcs[kind]


def _converters() -> dict[str, Callable[[Any], Any]]:
    """Per Kusto type, the function a non-null value goes through (the SDK's, but
    datetime's own); types not in it are kept as JSON gave them, as the SDK does."""
    from azure.kusto.data._models import KustoResultRow

    funcs = dict(KustoResultRow.conversion_funcs)
    if "datetime" in funcs:
        funcs["datetime"] = _to_datetime
    return funcs


def _feed(table: Any, raw_rows: Any, sink: _CountingSink) -> None:
    columns = [Column(c.column_name, (c.column_type or "string").lower()) for c in table.columns]
    funcs = _converters()
    typed = [(i, funcs[c.type]) for i, c in enumerate(columns) if c.type in funcs]
    sink.begin_table(getattr(table, "table_name", "PrimaryResult") or "PrimaryResult",
                     columns, True)
    batch: list[list[Any]] = []
    for raw in raw_rows:
        if typed:
            if type(raw) is not list:
                raw = list(raw)
            for i, convert in typed:
                value = raw[i]
                if value is not None:
                    raw[i] = convert(value)
        batch.append(raw)
        if len(batch) >= _BATCH:
            sink.add_rows(batch)
            batch = []
    if batch:
        sink.add_rows(batch)
    # Read through raw_rows (no per-row wrapper objects), so tell the streaming
    # dataset this table is done, as iterating the table itself would have.
    table.finished = True


def _primary_rows(response: Any, table: Any) -> Any:
    """The table's rows from the ijson events under the SDK's reader when its
    internals are as expected (its row generator not started yet), else the SDK's
    own `raw_rows`."""
    events = _event_source(response, table)
    if events is None:
        log.debug("reading rows through the SDK's token reader")
        return table.raw_rows
    table.raw_rows.close()  # never started: the events are read here instead
    return _event_rows(events)


def _event_source(response: Any, table: Any) -> Any:
    try:
        from azure.kusto.data.streaming_response import (
            JsonTokenReader,
            StreamingDataSetEnumerator,
        )
    except ImportError:
        return None
    enumerator = getattr(response, "streamed_data", None)
    reader = getattr(enumerator, "reader", None)
    rows = getattr(table, "raw_rows", None)
    row_iterator = getattr(StreamingDataSetEnumerator, "row_iterator", None)
    if not (isinstance(enumerator, StreamingDataSetEnumerator)
            and isinstance(reader, JsonTokenReader)
            and hasattr(reader, "json_iter")
            and inspect.isgenerator(rows)
            and row_iterator is not None
            and rows.gi_code is getattr(row_iterator, "__code__", None)
            and inspect.getgeneratorstate(rows) == inspect.GEN_CREATED
            and rows.gi_frame is not None  # never None before the generator ends
            and rows.gi_frame.f_locals.get("self") is enumerator):
        return None
    return reader.json_iter


_SCALARS = frozenset(("string", "number", "integer", "double", "boolean", "null"))


def _event_rows(events: Iterator[tuple[str, str, Any]]) -> Iterator[list[Any]]:
    """Each row of a `Rows` array, from the ijson `parse` events that follow its
    key; stops right after the array's end, where the SDK's row iterator stops."""
    from azure.kusto.data.exceptions import KustoMultiApiError, KustoTokenParsingError
    from ijson import IncompleteJSONError

    scalars = _SCALARS
    try:
        _, event, _ = next(events, (None, None, None))
        if event != "start_array":
            raise KustoTokenParsingError(f"Expected the rows array, got {event}")
        for _, event, value in events:
            if event == "start_array":
                row: list[Any] = []
                append = row.append
                for _, event, value in events:
                    if event in scalars:
                        append(value)
                    elif event == "end_array":
                        break
                    else:
                        append(_nested(events, event))
                else:
                    break
                yield row
            elif event == "end_array":
                return
            elif event == "start_map":  # an error in place of a row, as the SDK raises it
                raise KustoMultiApiError([_nested(events, event)])
            else:
                raise KustoTokenParsingError(f"Unexpected {event} in the rows array")
    except IncompleteJSONError:
        pass
    raise KustoTokenParsingError("Unexpected end of stream")


def _nested(events: Iterator[tuple[str, str, Any]], first: str) -> Any:
    """The object or array whose start event was `first`, as plain dicts and lists."""
    from azure.kusto.data.exceptions import KustoTokenParsingError
    from ijson.common import ObjectBuilder

    builder = ObjectBuilder()
    builder.event(first, None)
    depth = 1
    for _, event, value in events:
        builder.event(event, value)
        if event == "start_map" or event == "start_array":
            depth += 1
        elif event == "end_map" or event == "end_array":
            depth -= 1
            if depth == 0:
                return builder.value
    raise KustoTokenParsingError("Unexpected end of stream")


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
