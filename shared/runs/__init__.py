"""The run store: every run of every flow, as Power Automate's run history shows it.

    store = open_run_store(Settings.from_env())
    store.start_run(run); store.record_step(run, step); store.finish_run(run)
    page = store.list_runs("storm-daily-report", top=50, status="failed")
    found = store.get_run("storm-daily-report", run_id)   # (RunRecord, [StepRecord])

Modules: `store` (interface and records), `store_base` (what both stores share:
the Abandoned-on-read rule, checking a `list_runs` call), `keys` (key layout,
continuation tokens), `records` (run to record, size limits), `table_entities`
(records as Table Storage entities and back), `table_store` (Azure Table Storage),
`local_store` (SQLite), `spool` and `resilient` (writes that never fail a run:
retried, spooled on local disk, and logged whole as JSON when even the disk
fails), `factory` (choosing a store from the settings; retention cleanup).
"""

from shared.runs.factory import cleanup_old_runs, open_run_store
from shared.runs.local_store import LocalRunStore
from shared.runs.resilient import ResilientStore
from shared.runs.store import (
    RunPage,
    RunRecord,
    RunStore,
    RunStoreUnavailable,
    StepRecord,
    TriggerBodyUnavailable,
)
from shared.runs.table_store import TableRunStore

__all__ = [
    "LocalRunStore",
    "ResilientStore",
    "RunPage",
    "RunRecord",
    "RunStore",
    "RunStoreUnavailable",
    "StepRecord",
    "TableRunStore",
    "TriggerBodyUnavailable",
    "cleanup_old_runs",
    "open_run_store",
]
