"""The state store on Azure Table Storage: one table, `FlowState`.

    PartitionKey `journal|<run id>`, RowKey the step path   -> Entry (JSON)
    PartitionKey `lease`,            RowKey the lease name  -> Holder, Until
    PartitionKey `item|<scope>`,     RowKey the key         -> Value (JSON)
    PartitionKey `alert|<flow>`,     RowKey `<step>|<hash of the key>`
                                                            -> Step, KeyId, State (JSON)

A lease is taken with the service's optimistic concurrency: create it if absent,
else replace it only if its ETag is unchanged since it was read (free or expired or
ours), so two instances that race for it cannot both win.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from shared.alerts.machine import AlertState
from shared.runs.keys import escape_key, prefix_end, unescape_key
from shared.state.store import JournalEntry, StateStoreUnavailable, Versioned

__all__ = ["STATE_TABLE", "TableStateStore"]

STATE_TABLE = "FlowState"
_LEASES = "lease"
#: What every alert partition key starts with: all flows' alert states are the
#: PartitionKey range [_ALERTS, prefix_end(_ALERTS)), no other row kind is in it.
_ALERTS = "alert|"


def _journal_partition(run_id: str) -> str:
    return f"journal|{escape_key(run_id)}"


def _alert_partition(flow: str) -> str:
    return f"{_ALERTS}{escape_key(flow)}"


def _alert_row(step: str, key_id: str) -> str:
    """A key's values may be long or hold anything: the row key holds their hash."""
    return f"{escape_key(step)}|{hashlib.sha256(key_id.encode()).hexdigest()[:32]}"


class TableStateStore:
    def __init__(self, service: Any, *, table_prefix: str = "") -> None:
        self._service = service
        self.table_name = f"{table_prefix}{STATE_TABLE}"
        self._table = service.get_table_client(self.table_name)
        self._ready = False

    @classmethod
    def from_connection_string(cls, connection_string: str, *,
                               table_prefix: str = "") -> TableStateStore:
        from azure.data.tables import TableServiceClient

        return cls(TableServiceClient.from_connection_string(connection_string),
                   table_prefix=table_prefix)

    @classmethod
    def from_endpoint(cls, endpoint: str, *, client_id: str = "") -> TableStateStore:
        from azure.data.tables import TableServiceClient
        from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

        credential = (ManagedIdentityCredential(client_id=client_id) if client_id
                      else DefaultAzureCredential())
        return cls(TableServiceClient(endpoint=endpoint, credential=credential))

    def __repr__(self) -> str:
        return f"TableStateStore({self.table_name!r})"

    def _call(self, operation: str, call: Any) -> Any:
        from azure.core.exceptions import AzureError

        try:
            if not self._ready:
                self._service.create_table_if_not_exists(self.table_name)
                self._ready = True
            return call()
        except AzureError as exc:
            raise StateStoreUnavailable(f"the state store could not {operation}: {exc}",
                                        hint="check the Table Storage account and the "
                                             "identity's Storage Table Data Contributor role"
                                        ) from exc

    # -- small values ----------------------------------------------------------

    def read(self, scope: str, key: str) -> Versioned | None:
        from azure.core.exceptions import ResourceNotFoundError

        def get() -> Versioned | None:
            try:
                entity = self._table.get_entity(f"item|{escape_key(scope)}", escape_key(key))
            except ResourceNotFoundError:
                return None
            return Versioned(json.loads(str(entity["Value"])), str(entity.metadata["etag"]))
        found: Versioned | None = self._call("read a value", get)
        return found

    def write(self, scope: str, key: str, value: Any, *, version: str | None) -> bool:
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError
        from azure.data.tables import UpdateMode

        entity = {"PartitionKey": f"item|{escape_key(scope)}", "RowKey": escape_key(key),
                  "Value": json.dumps(value, separators=(",", ":"), default=str)}

        def put() -> bool:
            try:
                if version is None:
                    self._table.create_entity(entity)
                else:
                    self._table.update_entity(entity, mode=UpdateMode.REPLACE, etag=version,
                                              match_condition=MatchConditions.IfNotModified)
            except (ResourceExistsError, ResourceModifiedError):
                return False
            return True
        done: bool = self._call("write a value", put)
        return done

    # -- journal ---------------------------------------------------------------

    def journal(self, run_id: str) -> dict[str, JournalEntry]:
        def read() -> dict[str, JournalEntry]:
            rows = self._table.query_entities(
                "PartitionKey eq @pk", parameters={"pk": _journal_partition(run_id)})
            return {str(row["Path"]): JournalEntry.from_json(str(row["Entry"]))
                    for row in rows}
        result: dict[str, JournalEntry] = self._call("read a run's journal", read)
        return result

    def record(self, run_id: str, path: str, entry: JournalEntry) -> None:
        from azure.data.tables import UpdateMode

        entity = {"PartitionKey": _journal_partition(run_id), "RowKey": escape_key(path),
                  "Path": path, "Entry": entry.to_json()}
        self._call("write a journal entry",
                   lambda: self._table.upsert_entity(entity, mode=UpdateMode.REPLACE))

    def forget_run(self, run_id: str) -> None:
        def delete() -> None:
            rows = list(self._table.query_entities(
                "PartitionKey eq @pk", parameters={"pk": _journal_partition(run_id)},
                select=["PartitionKey", "RowKey"]))
            for row in rows:
                self._table.delete_entity(row["PartitionKey"], row["RowKey"])
        self._call("delete a run's journal", delete)

    # -- leases ----------------------------------------------------------------

    def try_lease(self, name: str, holder: str, until: datetime) -> bool:
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError
        from azure.data.tables import UpdateMode

        key = escape_key(name)
        entity = {"PartitionKey": _LEASES, "RowKey": key, "Holder": holder, "Until": until}

        def take() -> bool:
            current = self._current(key)
            try:
                if current is None:
                    self._table.create_entity(entity)
                    return True
                now = datetime.now(until.tzinfo)
                if current["Holder"] != holder and current["Until"] > now:
                    return False
                self._table.update_entity(entity, mode=UpdateMode.REPLACE,
                                          etag=current.metadata["etag"],
                                          match_condition=MatchConditions.IfNotModified)
                return True
            except (ResourceExistsError, ResourceModifiedError):
                return False  # another instance took it between our read and write
        taken: bool = self._call("take a lease", take)
        return taken

    def _current(self, key: str) -> Any:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self._table.get_entity(_LEASES, key)
        except ResourceNotFoundError:
            return None

    def release_lease(self, name: str, holder: str) -> None:
        from azure.core import MatchConditions

        def release() -> None:
            current = self._current(escape_key(name))
            if current is not None and current["Holder"] == holder:
                self._table.delete_entity(_LEASES, escape_key(name),
                                          etag=current.metadata["etag"],
                                          match_condition=MatchConditions.IfNotModified)
        self._call("release a lease", release)

    def lease_holder(self, name: str, now: datetime) -> str | None:
        current = self._call("read a lease", lambda: self._current(escape_key(name)))
        if current is None or current["Until"] <= now:
            return None
        return str(current["Holder"])

    # -- alert states ------------------------------------------------------------

    def alert_states(self, flow: str, step: str | None = None,
                     ) -> list[tuple[str, AlertState]]:
        def read() -> list[tuple[str, str, AlertState]]:
            query, parameters = "PartitionKey eq @pk", {"pk": _alert_partition(flow)}
            if step is not None:
                query += " and Step eq @step"
                parameters["step"] = step
            return [(str(row["Step"]), str(row["KeyId"]), AlertState.from_json(str(row["State"])))
                    for row in self._table.query_entities(query, parameters=parameters)]
        found: list[tuple[str, str, AlertState]] = self._call("read alert states", read)
        return [(name, state) for name, _, state in sorted(found, key=lambda f: f[:2])]

    def all_alert_states(self) -> list[tuple[str, str, AlertState]]:
        """One PartitionKey range query over the alert partitions (the service pages
        it by 1,000 rows); the flow is the partition key's unescaped tail."""
        def read() -> list[tuple[str, str, str, AlertState]]:
            rows = self._table.query_entities(
                "PartitionKey ge @low and PartitionKey lt @high",
                parameters={"low": _ALERTS, "high": prefix_end(_ALERTS)},
                select=["PartitionKey", "Step", "KeyId", "State"])
            return [(unescape_key(str(row["PartitionKey"])[len(_ALERTS):]), str(row["Step"]),
                     str(row["KeyId"]), AlertState.from_json(str(row["State"])))
                    for row in rows]
        found: list[tuple[str, str, str, AlertState]] = self._call("read alert states", read)
        return [(flow, name, state) for flow, name, _, state
                in sorted(found, key=lambda f: f[:3])]

    def save_alert_states(self, flow: str, step: str, states: Sequence[AlertState],
                          removed: Sequence[str] = ()) -> None:
        from azure.core.exceptions import ResourceNotFoundError
        from azure.data.tables import UpdateMode

        partition = _alert_partition(flow)
        operations = [("upsert", {"PartitionKey": partition,
                                  "RowKey": _alert_row(step, s.key_id), "Step": step,
                                  "KeyId": s.key_id, "State": s.to_json()},
                       {"mode": UpdateMode.REPLACE}) for s in states]

        def write() -> None:
            for start in range(0, len(operations), 100):  # a transaction holds 100 at most
                self._table.submit_transaction(operations[start:start + 100])
            for kid in removed:
                try:
                    self._table.delete_entity(partition, _alert_row(step, kid))
                except ResourceNotFoundError:
                    pass
        self._call("write alert states", write)

    def close(self) -> None:
        self._table.close()
        self._service.close()
