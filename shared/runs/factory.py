"""Which run store the app uses, from the settings, and the retention cleanup.

Table Storage when RUNS_TABLE_CONNECTION_STRING (key) or RUNS_TABLE_ENDPOINT
(managed identity, AZURE_CLIENT_ID) is set, else the local SQLite file in
STATE_DIR: the embedded default. Either way wrapped in `ResilientStore`, spooling
to `<STATE_DIR>/spool`, so a store that is down never fails a run.

Opening touches no disk: a STATE_DIR that is read-only, full or cannot be created
shows only when a run is written (see `resilient.py` for where each write goes
then: straight to Table Storage, else one JSON log line per write).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from shared.results import utc_now
from shared.runs.local_store import LocalRunStore
from shared.runs.records import as_utc
from shared.runs.resilient import ResilientStore
from shared.runs.store import RunStore
from shared.runs.table_store import TableRunStore
from shared.settings import Settings

__all__ = ["ABANDON_GRACE", "cleanup_old_runs", "open_run_store"]

#: A run at its deadline still records TimedOut; only past this margin does a
#: Running record mean the host killed it, and read back as Abandoned.
ABANDON_GRACE = timedelta(seconds=60)


def open_run_store(settings: Settings, *,
                   clock: Callable[[], datetime] = utc_now) -> ResilientStore:
    """The run store for *settings* (close it with `close()` when done)."""
    abandon_after = timedelta(seconds=settings.run_deadline_seconds) + ABANDON_GRACE
    inner: RunStore
    if settings.runs_table_connection_string:
        inner = TableRunStore.from_connection_string(
            settings.runs_table_connection_string, abandon_after=abandon_after, clock=clock)
    elif settings.runs_table_endpoint:
        inner = TableRunStore.from_endpoint(
            settings.runs_table_endpoint, client_id=settings.azure_client_id,
            abandon_after=abandon_after, clock=clock)
    else:
        inner = LocalRunStore(settings.state_dir / "runs.sqlite",
                              abandon_after=abandon_after, clock=clock)
    return ResilientStore(inner, settings.state_dir / "spool")


def cleanup_old_runs(store: RunStore, settings: Settings,
                     now: datetime | None = None) -> int:
    """Delete runs older than RUNS_RETENTION_DAYS (0 or less keeps everything);
    returns how many runs went. Spooled writes are delivered first."""
    flush = getattr(store, "flush", None)
    if callable(flush):
        flush()
    if settings.runs_retention_days <= 0:
        return 0
    cutoff = as_utc(now or utc_now()) - timedelta(days=settings.runs_retention_days)
    return store.delete_older_than(cutoff)
