"""The state store's interface and its entries."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from shared.errors import KustoFlowsError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from shared.alerts.machine import AlertState

__all__ = ["JournalEntry", "StateStore", "StateStoreUnavailable", "Versioned"]

#: The largest journal entry kept (JSON characters): a Table Storage string property
#: holds 32K UTF-16 units.
MAX_ENTRY_CHARS = 30_000


class StateStoreUnavailable(KustoFlowsError, http_status=503, title="State store unavailable"):
    """The state store could not be read or written."""


@dataclass(frozen=True)
class JournalEntry:
    """What a step that writes did, as the next delivery of its run must know it."""

    #: A StepStatus value: Running (started, outcome unknown), Waiting, Succeeded,
    #: Failed or TimedOut.
    status: str
    summary: str = ""
    #: The step's outputs as JSON (files become their name, type and size).
    outputs: Any = field(default_factory=dict)
    error: dict[str, str] | None = None

    def to_json(self) -> str:
        text = json.dumps({"status": self.status, "summary": self.summary,
                           "outputs": self.outputs, "error": self.error},
                          separators=(",", ":"), default=str)
        if len(text) > MAX_ENTRY_CHARS:  # keep the outcome; drop outputs too big to keep
            text = json.dumps({"status": self.status, "summary": self.summary,
                               "outputs": {"outputs_dropped": len(text)},
                               "error": self.error}, separators=(",", ":"))
        return text

    @classmethod
    def from_json(cls, text: str) -> JournalEntry:
        data = json.loads(text)
        return cls(str(data.get("status", "")), str(data.get("summary", "")),
                   data.get("outputs") or {}, data.get("error"))


@dataclass(frozen=True)
class Versioned:
    """A small JSON value kept under (scope, key), with the version it was read at: a
    write given that version succeeds only if nobody wrote in between."""

    value: Any
    version: str


class StateStore(Protocol):
    def read(self, scope: str, key: str) -> Versioned | None:
        """The value under (*scope*, *key*), or None."""
        ...

    def write(self, scope: str, key: str, value: Any, *, version: str | None) -> bool:
        """Write *value* if the entry is still at *version* (None: only if there is no
        entry yet); False when someone else wrote first. Values are JSON, a few KB."""
        ...

    def journal(self, run_id: str) -> dict[str, JournalEntry]:
        """Every journal entry of *run_id*, by step path."""
        ...

    def record(self, run_id: str, path: str, entry: JournalEntry) -> None:
        """Write (or overwrite) the entry of step *path* of *run_id*."""

    def try_lease(self, name: str, holder: str, until: datetime) -> bool:
        """Take lease *name* for *holder* until *until*; True when it is now *holder*'s
        (it was free, expired, or already *holder*'s: then it is extended)."""
        ...

    def release_lease(self, name: str, holder: str) -> None:
        """Give lease *name* back if *holder* holds it."""

    def lease_holder(self, name: str, now: datetime) -> str | None:
        """Who holds lease *name* at *now*, or None."""
        ...

    def forget_run(self, run_id: str) -> None:
        """Delete the journal of *run_id* (its run has ended)."""

    def alert_states(self, flow: str, step: str | None = None,
                     ) -> list[tuple[str, AlertState]]:
        """The kept states of *flow*'s `alert` steps (only step *step*'s, if given), as
        (step id, state) ordered by step id then key id."""
        ...

    def all_alert_states(self) -> list[tuple[str, str, AlertState]]:
        """The kept states of every flow's `alert` steps, as (flow, step id, state)
        ordered by flow, step id then key id: one query (a page of rows at a time),
        however many flows there are."""
        ...

    def save_alert_states(self, flow: str, step: str, states: Sequence[AlertState],
                          removed: Sequence[str] = ()) -> None:
        """Write *states* of *flow*'s alert step *step* (each under its key) and delete
        the states of the key ids in *removed*."""

    def close(self) -> None: ...
