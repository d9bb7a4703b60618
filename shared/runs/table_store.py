"""The run store on Azure Table Storage (azure-data-tables), the deployed default.

Key layout: see `keys.py`. Tables (`FlowRuns`, `FlowRunSteps`, optionally prefixed)
are created on first use, and again if they vanish (a test emulator restarted, a
table deleted by hand). Every write is an upsert that replaces the whole entity,
so replaying a write is harmless.

Reads never scan to build a page: `list_runs` is one partition range query with the
service's own `$top` and continuation (a status filter may need another request
when the service returns a short page), `get_run` is two point reads plus the run's
own step partition, `last_runs` is one query of the latest-run partition (a request
per 1,000 flows), `find_run_ids` one partition-key range of the run id index. Lists
leave out the trigger body (`$select`); `get_run` has it.

The latest-run index (one row per flow, see `keys.py`) is written after the run
row, replaced only by a run that started later (or the same run): the row's ETag
makes two writers take turns, so an older run finishing late, or replayed from the
spool, never hides a newer one. This process remembers the ETag it last wrote, so a
write usually costs one request more, not two. A table from before the index gets
it filled once, by the first `last_runs` (one pass over the runs).

Entities (what a run and its steps look like in the tables) are built and read in
`table_entities.py`; what both stores share is in `store_base.py`. The Azure SDKs
are imported inside functions: importing this module is cheap.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from shared.results import RunResult, StepResult, utc_now
from shared.runs.keys import (
    LATEST_COMPLETE,
    LATEST_PARTITION,
    encode_token,
    escape_key,
    flow_partition_key,
    index_partition_key,
    latest_row_key,
    newer_or_same,
    older_than_row_key,
    prefix_end,
    step_partition_key,
    unescape_key,
)
from shared.runs.records import as_utc
from shared.runs.store import RunPage, RunRecord, StepRecord
from shared.runs.store_base import MAX_PAGE, ListRequest, RunStoreBase
from shared.runs.table_entities import (
    LATEST_COLUMNS,
    LIST_COLUMNS,
    index_entity,
    latest_complete_entity,
    latest_entity,
    run_entity,
    run_from_entity,
    step_entity,
    step_from_entity,
)

__all__ = ["TableRunStore"]

log = logging.getLogger("shared.runs")

RUNS_TABLE = "FlowRuns"
STEPS_TABLE = "FlowRunSteps"
_BATCH = 100  # entities in one entity-group transaction
#: Turns a latest-row write takes when other writers keep changing the row; past
#: them it fails as transient (the resilient wrapper retries or spools it).
_LATEST_TRIES = 20

#: Client defaults: a few quick retries inside the SDK, bounded timeouts. The
#: resilient wrapper retries again and spools, so long SDK back-offs only hurt.
_CLIENT_DEFAULTS: dict[str, Any] = {
    "retry_total": 3,
    "retry_backoff_factor": 0.4,
    "retry_backoff_max": 5,
    "connection_timeout": 10,
    "read_timeout": 30,
}


def _table_missing(exc: Exception) -> bool:
    code = str(getattr(exc, "error_code", "") or "")
    return "TableNotFound" in code or code.endswith("TABLE_NOT_FOUND") or (
        "TableNotFound" in str(exc))


class TableRunStore(RunStoreBase):
    """`RunStore` on Azure Table Storage. Build it with `from_connection_string` or
    `from_endpoint` (managed identity); close it with `close()`."""

    #: A continuation token holds the service's own continuation (a dict of keys).
    _position_type = dict

    def __init__(self, service: Any, *, table_prefix: str = "",
                 abandon_after: timedelta | None = None,
                 clock: Callable[[], datetime] = utc_now,
                 credential: Any = None) -> None:
        if table_prefix and not re.fullmatch(r"[A-Za-z][A-Za-z0-9]{0,40}", table_prefix):
            raise ValueError(f"table prefix {table_prefix!r} must be letters and digits, "
                             "starting with a letter")
        super().__init__(abandon_after=abandon_after, clock=clock)
        self._service = service
        self._credential = credential
        self.runs_table = f"{table_prefix}{RUNS_TABLE}"
        self.steps_table = f"{table_prefix}{STEPS_TABLE}"
        self._ready = False
        self._lock = threading.Lock()
        #: Latest row key -> (run row key it holds, its ETag), as this process last
        #: wrote or read it (a hint: a stale ETag costs one refused write and a read).
        self._latest_seen: dict[str, tuple[str | None, str]] = {}
        self._latest_lock = threading.Lock()
        self._runs = service.get_table_client(self.runs_table)
        self._steps = service.get_table_client(self.steps_table)

    @classmethod
    def from_connection_string(cls, connection_string: str, *, table_prefix: str = "",
                               abandon_after: timedelta | None = None,
                               clock: Callable[[], datetime] = utc_now,
                               **client_kwargs: Any) -> TableRunStore:
        """A store from a Storage connection string (key or SAS). *client_kwargs* go
        to the SDK client (retry_total, per_call_policies, ...)."""
        from azure.data.tables import TableServiceClient

        service = TableServiceClient.from_connection_string(
            connection_string, **{**_CLIENT_DEFAULTS, **client_kwargs})
        return cls(service, table_prefix=table_prefix, abandon_after=abandon_after,
                   clock=clock)

    @classmethod
    def from_endpoint(cls, endpoint: str, *, client_id: str = "", table_prefix: str = "",
                      abandon_after: timedelta | None = None,
                      clock: Callable[[], datetime] = utc_now,
                      **client_kwargs: Any) -> TableRunStore:
        """A store from a table endpoint (https://<account>.table.core.windows.net) with
        Entra ID: the user-assigned managed identity *client_id* when given, else
        DefaultAzureCredential (developer sign-in, system-assigned identity, ...)."""
        from azure.data.tables import TableServiceClient
        from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

        credential = (ManagedIdentityCredential(client_id=client_id) if client_id
                      else DefaultAzureCredential())
        service = TableServiceClient(endpoint=endpoint, credential=credential,
                                     **{**_CLIENT_DEFAULTS, **client_kwargs})
        return cls(service, table_prefix=table_prefix, abandon_after=abandon_after,
                   clock=clock, credential=credential)

    def __repr__(self) -> str:
        return f"TableRunStore({self._service.url!r}, {self.runs_table!r})"

    def close(self) -> None:
        self._runs.close()
        self._steps.close()
        self._service.close()
        if self._credential is not None:
            self._credential.close()

    # -- plumbing --------------------------------------------------------------

    def _ensure_tables(self, force: bool = False) -> None:
        if self._ready and not force:
            return
        with self._lock:
            if self._ready and not force:
                return
            from azure.core.exceptions import ResourceExistsError

            try:
                self._service.create_table(self.runs_table)
            except ResourceExistsError:
                pass
            else:  # a new table: every run it will hold goes through the index
                self._runs.upsert_entity(latest_complete_entity())
            self._service.create_table_if_not_exists(self.steps_table)
            with self._latest_lock:
                self._latest_seen.clear()
            self._ready = True

    def _call(self, operation: Callable[[], Any]) -> Any:
        """*operation* with the tables in place (created again if they vanished)."""
        from azure.core.exceptions import ResourceNotFoundError

        self._ensure_tables()
        try:
            return operation()
        except ResourceNotFoundError as exc:
            if not _table_missing(exc):
                raise
            self._ensure_tables(force=True)
            return operation()

    def _upsert(self, table: Any, entity: dict[str, Any]) -> None:
        from azure.data.tables import UpdateMode

        self._call(lambda: table.upsert_entity(entity, mode=UpdateMode.REPLACE))

    # -- writes ----------------------------------------------------------------

    def start_run(self, run: RunResult) -> None:
        entity = run_entity(run)
        self._upsert(self._runs, index_entity(entity))  # index first: no orphan run
        self._upsert(self._runs, entity)
        self._call(lambda: self._put_latest(entity))

    def record_step(self, run: RunResult, step: StepResult) -> None:
        self._upsert(self._steps, step_entity(run, step))

    def finish_run(self, run: RunResult) -> None:
        # The whole row again, index included: a finish replayed after the start
        # was lost (or the store restarted) still leaves a complete record.
        entity = run_entity(run)
        self._upsert(self._runs, index_entity(entity))
        self._upsert(self._runs, entity)
        self._call(lambda: self._put_latest(entity))

    def _put_latest(self, run_row: dict[str, Any]) -> None:
        """Make *run_row* (a run row) its flow's latest row, unless a run that started
        later holds it. The row is replaced only if unchanged since it was read (or
        since this process wrote it), so concurrent writers never lose the newest."""
        from azure.core import MatchConditions
        from azure.core.exceptions import (
            ResourceExistsError,
            ResourceModifiedError,
            ResourceNotFoundError,
        )
        from azure.data.tables import UpdateMode

        entity = latest_entity(run_row)
        key, run_key = entity["RowKey"], str(entity["RunRowKey"])
        with self._latest_lock:
            known = self._latest_seen.get(key)
        for _ in range(_LATEST_TRIES):
            if known is None:
                try:
                    current = self._runs.get_entity(LATEST_PARTITION, key, select=["RunRowKey"])
                except ResourceNotFoundError as exc:
                    if _table_missing(exc):
                        raise
                    try:
                        written = self._runs.create_entity(entity)
                    except ResourceExistsError:
                        continue  # another writer created it first: read theirs
                    self._remember_latest(key, run_key, written.get("etag"))
                    return
                held = current.get("RunRowKey")
                known = (str(held) if held else None, str(current.metadata["etag"]))
                self._remember_latest(key, known[0], known[1])
            if not newer_or_same(run_key, known[0]):
                return  # a run that started later holds the row
            try:
                written = self._runs.update_entity(
                    entity, mode=UpdateMode.REPLACE, etag=known[1],
                    match_condition=MatchConditions.IfNotModified)
            except (ResourceModifiedError, ResourceNotFoundError) as exc:
                if _table_missing(exc):
                    raise
                known = None  # changed (or deleted) since: read it again
                continue
            self._remember_latest(key, run_key, written.get("etag"))
            return
        raise TimeoutError(f"the latest run of flow {run_row.get('Flow')!r} kept changing "
                           f"under {_LATEST_TRIES} tries to record run {run_row.get('RunId')}")

    def _remember_latest(self, key: str, run_key: str | None, etag: Any) -> None:
        with self._latest_lock:
            if etag:
                self._latest_seen[key] = (run_key, str(etag))
            else:
                self._latest_seen.pop(key, None)

    # -- reads -----------------------------------------------------------------

    def _list_page(self, flow: str, request: ListRequest) -> RunPage:
        plan, top = request.plan, request.top
        clauses = ["PartitionKey eq @pk"]
        parameters: dict[str, Any] = {"pk": flow_partition_key(flow)}
        if plan.stored:
            clauses.append("Status eq @status")
            parameters["status"] = plan.stored
        if plan.key_at_least:
            clauses.append("RowKey ge @low")
            parameters["low"] = plan.key_at_least
        if plan.key_below:
            clauses.append("RowKey lt @high")
            parameters["high"] = plan.key_below
        query = " and ".join(clauses)

        def fetch() -> tuple[list[dict[str, Any]], Any]:
            entities: list[dict[str, Any]] = []
            token = request.position
            while True:
                # Ask only for what is still missing, so the service's token points
                # exactly after the last entity returned (a filtered query may come
                # back short, with a token: then ask again).
                pages = self._runs.query_entities(
                    query, parameters=parameters, select=LIST_COLUMNS,
                    results_per_page=top - len(entities),
                ).by_page(continuation_token=token)
                entities.extend(next(pages, []))
                token = pages.continuation_token
                if token is None or len(entities) >= top:
                    return entities, token

        entities, token = self._call(fetch)
        items = [self._shown(run_from_entity(e), request.now) for e in entities]
        return RunPage(items, encode_token(flow, request.token_status, token))

    def _latest(self, flows: list[str] | None) -> list[RunRecord]:
        query = "PartitionKey eq @pk"
        parameters: dict[str, Any] = {"pk": LATEST_PARTITION}
        if flows is not None:  # the rows from the first flow's to the last's
            keys = sorted(latest_row_key(flow) for flow in flows)
            # (The SDK finds @names between spaces: keep them off the brackets.)
            query += " and (RowKey eq @done or (RowKey ge @low and RowKey le @high ) )"
            parameters.update(done=LATEST_COMPLETE, low=keys[0], high=keys[-1])

        def fetch() -> list[dict[str, Any]]:
            return list(self._runs.query_entities(
                query, parameters=parameters, select=LATEST_COLUMNS,
                results_per_page=MAX_PAGE))

        entities = self._call(fetch)
        if not any(e.get("RowKey") == LATEST_COMPLETE for e in entities):
            self._call(self._fill_latest)
            entities = self._call(fetch)
        return [run_from_entity(e) for e in entities if e.get("Kind") == "latest"]

    def _fill_latest(self) -> None:
        """Put each flow's newest run in the latest-run index, then mark it complete:
        once, for a table written before the index existed (one pass over its runs)."""
        from azure.data.tables import UpdateMode

        started = time.monotonic()
        newest: dict[str, dict[str, Any]] = {}
        runs = 0
        for entity in self._runs.query_entities(
                "Kind eq @kind", parameters={"kind": "run"}, select=LIST_COLUMNS,
                results_per_page=MAX_PAGE):
            runs += 1
            held = newest.get(entity["PartitionKey"])
            if held is None or str(entity["RowKey"]) < str(held["RowKey"]):
                newest[entity["PartitionKey"]] = dict(entity)
        for entity in newest.values():
            self._put_latest(entity)
        self._runs.upsert_entity(latest_complete_entity(), mode=UpdateMode.REPLACE)
        log.info("run store: latest-run index of %s filled with %d flows from %d runs in "
                 "%.1f s", self.runs_table, len(newest), runs, time.monotonic() - started)

    def find_run_ids(self, prefix: str) -> list[tuple[str, str]]:
        # The run id index has a partition per run id ("id:<escaped id>"): the ids that
        # start with the prefix are one partition-key range, read in key order. (Keys
        # are escaped one character at a time, so the prefix's escape is theirs.)
        low = f"id:{escape_key(prefix)}"
        parameters = {"low": low, "high": prefix_end(low) or "id;"}
        query = "PartitionKey ge @low and PartitionKey lt @high"

        def fetch() -> list[dict[str, Any]]:
            return list(self._runs.query_entities(
                query, parameters=parameters, select=["PartitionKey", "RowKey"],
                results_per_page=MAX_PAGE))

        found = ((unescape_key(str(e["RowKey"])), unescape_key(str(e["PartitionKey"])[3:]))
                 for e in self._call(fetch))
        return sorted(((flow, run_id) for flow, run_id in found if run_id.startswith(prefix)),
                      key=lambda pair: (pair[1], pair[0]))

    def get_run(self, flow: str, run_id: str) -> tuple[RunRecord, list[StepRecord]] | None:
        from azure.core.exceptions import ResourceNotFoundError

        def fetch() -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
            try:
                index = self._runs.get_entity(index_partition_key(run_id),
                                              flow_partition_key(flow))
                entity = self._runs.get_entity(flow_partition_key(flow),
                                               str(index["RunRowKey"]))
            except ResourceNotFoundError as exc:
                if _table_missing(exc):
                    raise
                return None
            steps = list(self._steps.query_entities(
                "PartitionKey eq @pk", parameters={"pk": step_partition_key(run_id)}))
            return entity, steps

        found = self._call(fetch)
        if found is None:
            return None
        entity, steps = found
        steps.sort(key=lambda e: str(e["RowKey"]))
        record = self._shown(run_from_entity(entity), self._now())
        return record, [step_from_entity(e) for e in steps]

    # -- retention -------------------------------------------------------------

    def delete_older_than(self, cutoff: datetime, *, page_size: int = 100) -> int:
        """Delete runs started before *cutoff*, across flows, one page at a time:
        each run's steps first, then its index row, then the run row (so a cleanup
        cut short leaves runs that the next one finds again)."""
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        page_size = min(page_size, MAX_PAGE)
        self._ensure_tables()
        pages = self._runs.query_entities(
            "Kind eq @kind and RowKey ge @bound",
            parameters={"kind": "run", "bound": older_than_row_key(as_utc(cutoff))},
            select=["PartitionKey", "RowKey", "RunId"],
            results_per_page=page_size,
        ).by_page()
        deleted = 0
        # The service's continuation is a key position, so deleting the rows of a
        # page already read does not disturb the pages after it.
        for page in pages:
            for entity in list(page):
                run_id = str(entity["RunId"])
                self._delete_steps(run_id)
                self._runs.delete_entity(index_partition_key(run_id), entity["PartitionKey"])
                self._runs.delete_entity(entity["PartitionKey"], entity["RowKey"])
                deleted += 1
        self._delete_latest_older_than(older_than_row_key(as_utc(cutoff)))
        return deleted

    def _delete_latest_older_than(self, bound: str) -> None:
        """Latest rows of runs the cleanup deleted (a flow's newest run went, so all its
        runs did); a row a newer run replaced meanwhile stays (its ETag changed)."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError

        for entity in list(self._runs.query_entities(
                "PartitionKey eq @pk and Kind eq @kind and RunRowKey ge @bound",
                parameters={"pk": LATEST_PARTITION, "kind": "latest", "bound": bound},
                select=["PartitionKey", "RowKey"])):
            try:
                self._runs.delete_entity(entity["PartitionKey"], entity["RowKey"],
                                         etag=entity.metadata["etag"],
                                         match_condition=MatchConditions.IfNotModified)
            except (ResourceModifiedError, ResourceNotFoundError):
                pass
            with self._latest_lock:
                self._latest_seen.pop(str(entity["RowKey"]), None)

    def _delete_steps(self, run_id: str) -> None:
        keys = [{"PartitionKey": e["PartitionKey"], "RowKey": e["RowKey"]}
                for e in self._steps.query_entities(
                    "PartitionKey eq @pk", parameters={"pk": step_partition_key(run_id)},
                    select=["PartitionKey", "RowKey"])]
        for batch in _batches(keys, _BATCH):
            self._steps.submit_transaction([("delete", key) for key in batch])


def _batches(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
