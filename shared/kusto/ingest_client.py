"""Ingestion into a cluster through `azure-kusto-ingest`: streaming for small
batches, queued for large ones with the ingestion status followed.

**Streaming** (`KustoStreamingIngestClient`): one `POST
/v1/rest/ingest/{database}/{table}?streamFormat=json` to the engine, rows in the
table when it answers. Kusto takes at most 4 MB of data a request
(`STREAMING_MAX_BYTES`, the SDK's own threshold in `ManagedStreamingIngestClient`),
and the cluster and the table must have streaming ingestion enabled. The request is
sent again only when it cannot have reached the cluster (refused, throttled: see
`shared.kusto.retries`): a write whose answer was lost is never re-sent, so rows
arrive once. (The SDK's `ManagedStreamingIngestClient` retries transient errors and
falls back to queued ingestion of the same data, which can ingest it twice; it is
not used for that reason.)

**Queued** (`QueuedIngestClient`): the data is uploaded to one of the cluster's
temporary containers, then a message on its ingestion queue asks the data
management service to ingest it; it lands minutes later, after batching. Its status
is reported to the cluster's ingestion status table (`ReportMethod` Table, as the
.NET, Java and Node SDKs do; the Python SDK only reports to the shared status
queues, which every client of the cluster reads): the client writes a `Pending` row
keyed by the ingestion's source id, names it in the message
(`IngestionStatusInTable`), and the service updates it to `Succeeded`, `Failed`,
`PartiallySucceeded` or `Skipped`. `status` reads that row. The upload and the
queue message use the SDK's own resource manager (`.get ingestion resources`,
`.get kusto identity token`) and its `IngestionBlobInfo`, so the message is the
SDK's with two properties added.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..errors import AuthFailed, KustoFlowsError, KustoQueryError, KustoUnavailable
from .retries import Failure, answer_status, classify, may_resend

__all__ = ["FINAL_STATES", "REPORT_METHOD_TABLE", "STREAMING_MAX_BYTES", "ClusterIngest",
           "IngestStatus", "queue_message", "read_status"]

log = logging.getLogger(__name__)

#: Largest payload sent by streaming ingestion (Kusto's limit: 4 MB of data).
STREAMING_MAX_BYTES = 4 * 1024 * 1024
#: `IngestionReportMethod.Table` (Queue = 0, Table = 1, QueueAndTable = 2).
REPORT_METHOD_TABLE = 1
#: Ingestion states the data management service reports last.
FINAL_STATES = frozenset({"Succeeded", "Failed", "PartiallySucceeded", "Skipped"})
_ATTEMPTS = 3
_UPLOAD_TIMEOUT_SECONDS = 600


@dataclass(frozen=True)
class IngestStatus:
    state: str
    details: str = ""

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES


def _short(text: object, limit: int = 400) -> str:
    value = " ".join(str(text).split())
    return value if len(value) <= limit else value[: limit - 3] + "..."


class ClusterIngest:
    """The ingest clients of one connection (made on first use, closed with it)."""

    def __init__(self, cluster: str, credential_factory: Callable[[], Any] | None = None,
                 backoff_seconds: float = 0.5) -> None:
        self.cluster = cluster.rstrip("/")
        self._credential_factory = credential_factory
        self.backoff_seconds = backoff_seconds
        self._lock = threading.Lock()
        self._streaming: Any = None
        self._queued: Any = None
        self._credential: Any = None

    # ----------------------------------------------------------------- clients

    def _kcsb(self) -> Any:
        from azure.kusto.data import KustoConnectionStringBuilder

        if self._credential_factory is None:
            return KustoConnectionStringBuilder.with_no_authentication(self.cluster)
        if self._credential is None:
            self._credential = self._credential_factory()
        return KustoConnectionStringBuilder.with_azure_token_credential(
            self.cluster, self._credential)

    def _streaming_client(self) -> Any:
        with self._lock:
            if self._streaming is None:
                from azure.kusto.ingest import KustoStreamingIngestClient

                self._streaming = KustoStreamingIngestClient(self._kcsb())
            return self._streaming

    def _queued_client(self) -> Any:
        with self._lock:
            if self._queued is None:
                from azure.kusto.ingest import QueuedIngestClient

                # https://x.kusto.windows.net -> https://ingest-x... (the SDK's rule).
                self._queued = QueuedIngestClient(self._kcsb())
            return self._queued

    def close(self) -> None:
        with self._lock:
            clients = [self._streaming, self._queued]
            self._streaming = self._queued = None
        for client in clients:
            if client is not None:
                client.close()

    # ----------------------------------------------------------------- streaming

    def stream(self, database: str, table: str, payload: bytes, mapping: str | None) -> None:
        """Ingest *payload* (`json` lines) into *table* with one streaming request."""
        from azure.kusto.data.data_format import DataFormat
        from azure.kusto.ingest import IngestionProperties, StreamDescriptor

        properties = IngestionProperties(database, table, data_format=DataFormat.JSON,
                                         ingestion_mapping_reference=mapping)
        attempt = 0
        while True:
            attempt += 1
            descriptor = StreamDescriptor(io.BytesIO(payload), source_id=uuid.uuid4(),
                                          size=len(payload))
            try:
                self._streaming_client().ingest_from_stream(descriptor, properties)
                return
            except Exception as exc:
                failure = classify(exc)
                if failure is None:
                    raise _refused(exc, table, streaming=True) from exc
                if not may_resend(failure, is_command=True):
                    raise KustoUnavailable(
                        f"streaming ingestion into {table} on {self.cluster}: {failure.value} "
                        f"({_short(exc)}); the rows may have been ingested, so they were not "
                        f"sent again",
                        hint=f"count the rows in {table} before running the flow again") from exc
                if attempt >= _ATTEMPTS:
                    raise KustoUnavailable(
                        f"streaming ingestion into {table}: {self.cluster} did not take the "
                        f"rows after {attempt} attempts ({failure.value})",
                        hint="check the cluster URL and that it is running") from exc
                delay = self.backoff_seconds * 2 ** (attempt - 1)
                log.warning("streaming ingestion not sent (%s); retry %d in %.1f s",
                            failure.value, attempt, delay)
                time.sleep(delay)

    # ----------------------------------------------------------------- queued

    def enqueue(self, database: str, table: str, payload: bytes, mapping: str | None,
                source_id: str) -> str:
        """Upload *payload* and queue its ingestion; returns the name of the status
        table its status is reported to (the table's URL carries a SAS and is
        fetched again from the cluster when the status is read)."""
        from azure.kusto.data.data_format import DataFormat
        from azure.kusto.ingest import (
            BaseIngestClient,
            IngestionProperties,
            ReportLevel,
            StreamDescriptor,
        )

        client = self._queued_client()
        try:
            resources = client._resource_manager
            properties = IngestionProperties(
                database, table, data_format=DataFormat.JSON,
                ingestion_mapping_reference=mapping,
                report_level=ReportLevel.FailuresAndSuccesses)
            descriptor = BaseIngestClient._prepare_stream(  # gzip, as the SDK does
                StreamDescriptor(io.BytesIO(payload), source_id=uuid.UUID(source_id),
                                 size=len(payload)), properties)
            blob = client.upload_blob(resources.get_containers(), descriptor, database, table,
                                      descriptor.stream, None, _UPLOAD_TIMEOUT_SECONDS,
                                      _ATTEMPTS)
            status_table = resources.get_ingestions_status_tables()[0]
            _table_client(status_table.url).create_entity(_pending_row(
                source_id, blob.path, database, table))
            message = queue_message(blob, properties, resources.get_authorization_context(),
                                    status_table.url, source_id,
                                    application=client.application_for_tracing,
                                    version=client.client_version_for_tracing)
        except KustoFlowsError:
            raise
        except Exception as exc:
            raise _unavailable_or_refused(exc, table, "queueing the ingestion") from exc
        self._send(resources, message, table)
        return str(status_table.object_name)

    def _send(self, resources: Any, message: str, table: str) -> None:
        from azure.storage.queue import QueueServiceClient, TextBase64EncodePolicy

        last: Exception | None = None
        for queue in resources.get_ingestion_queues()[:_ATTEMPTS]:
            try:
                with QueueServiceClient(queue.account_uri) as service, \
                        service.get_queue_client(
                            queue.object_name,
                            message_encode_policy=TextBase64EncodePolicy()) as queue_client:
                    queue_client.send_message(message)
                return
            except Exception as exc:
                last = exc
                log.warning("ingestion queue %s refused the message: %s", queue.object_name,
                            _short(exc))
        raise KustoUnavailable(
            f"queueing the ingestion into {table}: no ingestion queue of {self.cluster} "
            f"took the message ({_short(last)})", hint="run the flow again later")

    def status(self, source_id: str, status_table: str) -> IngestStatus:
        """The status the data management service reported for *source_id*."""
        try:
            tables = self._queued_client()._resource_manager.get_ingestions_status_tables()
            found = [t for t in tables if t.object_name == status_table] or tables[:1]
            url = found[0].url
        except Exception as exc:
            raise _unavailable_or_refused(exc, "", "reading the ingestion status") from exc
        return read_status(url, source_id)


def read_status(table_url: str, source_id: str) -> IngestStatus:
    """The row the data management service keeps for *source_id* in the status table
    at *table_url* (a URL with a SAS, from `.get ingestion resources`)."""
    from azure.core.exceptions import ResourceNotFoundError

    try:
        entity = _table_client(table_url).get_entity(source_id, source_id)
    except ResourceNotFoundError:
        return IngestStatus("Pending", "no status row yet")
    except Exception as exc:
        raise _unavailable_or_refused(exc, "", "reading the ingestion status") from exc
    details = " ".join(str(entity.get(key) or "") for key in
                       ("ErrorCode", "FailureStatus", "Details")).strip()
    return IngestStatus(str(entity.get("Status") or "Pending"), details)


def _table_client(url: str) -> Any:
    from azure.data.tables import TableClient

    return TableClient.from_table_url(url)


def _pending_row(source_id: str, blob_path: str, database: str, table: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {"PartitionKey": source_id, "RowKey": source_id, "Status": "Pending",
            "IngestionSourceId": source_id,
            "IngestionSourcePath": blob_path.split("?")[0].split(";")[0],
            "Database": database, "Table": table, "UpdatedOn": now, "Details": ""}


def queue_message(blob: Any, properties: Any, auth_context: Any, status_url: str,
                  source_id: str, *, application: Any = None, version: Any = None) -> str:
    """The ingestion queue message: the SDK's `IngestionBlobInfo` for *blob* with
    *properties*, its status reported to the table at *status_url* under *source_id*."""
    from azure.kusto.ingest.ingestion_blob_info import IngestionBlobInfo

    info = IngestionBlobInfo(blob, properties, auth_context=auth_context,
                             application_for_tracing=application,
                             client_version_for_tracing=version)
    message: dict[str, Any] = info.properties
    message["ReportMethod"] = REPORT_METHOD_TABLE
    message["IngestionStatusInTable"] = {
        "TableConnectionString": status_url, "PartitionKey": source_id, "RowKey": source_id}
    return json.dumps(message, separators=(",", ":"), allow_nan=False)


def _unavailable_or_refused(exc: Exception, table: str, doing: str) -> Exception:
    failure = classify(exc)
    if failure is not None:
        return KustoUnavailable(f"{doing}: {failure.value} ({_short(exc)})",
                                hint="run the flow again later; nothing was ingested yet"
                                if failure is Failure.NOT_SENT else
                                "check the cluster's health before running the flow again")
    return _refused(exc, table, streaming=False)


def _refused(exc: Exception, table: str, *, streaming: bool) -> Exception:
    """The cluster's answer to the ingestion, as the product's error."""
    from azure.kusto.data.exceptions import KustoAuthenticationError

    status = answer_status(exc)
    text = _short(_service_message(exc))
    if isinstance(exc, KustoAuthenticationError) or status in (401, 403):
        return AuthFailed(f"the cluster refused the ingestion: {text}",
                          hint="grant the identity ingestor on the table or database "
                               "(`.add table T ingestors ('aadapp=...')`)")
    if streaming and (status == 404 or "streaming" in text.lower()):
        return KustoQueryError(
            f"streaming ingestion into {table} was refused: {text}",
            hint=f"enable streaming ingestion on the cluster and the table (`.alter table "
                 f"{table} policy streamingingestion enable`), or set `method: queued`")
    return KustoQueryError(f"ingestion into {table or 'the table'} was refused: {text}",
                           hint="check the table name and that its columns take the rows' "
                                "values")


def _service_message(exc: Exception) -> str:
    """What the cluster said (the `@message` of Kusto's error), else the exception."""
    get_error = getattr(exc, "get_api_error", None)
    if callable(get_error):
        try:
            error = get_error()
            description = getattr(error, "description", "") or getattr(error, "message", "")
            if description:
                return str(description)
        except Exception:  # an answer the SDK cannot read: keep its own words
            pass
    return str(getattr(exc, "message_text", "") or exc)
