"""Which state store the app uses: Table Storage in the run history's account when a
run-history table setting is given, else SQLite in STATE_DIR."""

from __future__ import annotations

from shared.settings import Settings
from shared.state.local import LocalStateStore
from shared.state.store import StateStore

__all__ = ["open_state_store"]


def open_state_store(settings: Settings) -> StateStore:
    if settings.runs_table_connection_string:
        from shared.state.table import TableStateStore

        return TableStateStore.from_connection_string(settings.runs_table_connection_string)
    if settings.runs_table_endpoint:
        from shared.state.table import TableStateStore

        return TableStateStore.from_endpoint(settings.runs_table_endpoint,
                                             client_id=settings.azure_client_id)
    return LocalStateStore(settings.state_dir / "state.sqlite")
