"""The state store: what runs must remember beyond their records, with conditional
writes so two instances never both win.

- The step journal: a step that changes something outside the run (mail, control
  commands) writes its outcome under (run id, step path) before the run moves on,
  so a queue message delivered twice never acts twice.
- Leases: one per flow, held by its running run until an expiry, for the overlap
  policy (`trigger.overlap`).

Table Storage (`FlowState`) when a run-history table setting is given, else SQLite in
STATE_DIR. Modules: `store` (interface, entries), `local` (SQLite), `table` (Azure
Table Storage), `factory` (choosing one from the settings).
"""

from shared.state.factory import open_state_store
from shared.state.store import JournalEntry, StateStore, StateStoreUnavailable

__all__ = ["JournalEntry", "StateStore", "StateStoreUnavailable", "open_state_store"]
