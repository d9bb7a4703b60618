"""Reading run history, one way for every front end (CLI, JSON API, pages):

- `RunQuery`: which runs (one flow or all, a status filter), how many a page (one
  rule: 1 to 1000, default 25) and where to continue; `RunQuery.parse` turns request
  text into one, or `InvalidQuery` saying what is wrong.
- `page_runs`: a page of one flow's runs, or of every flow merged newest first
  (`runs/merged.py`: it reads only the flows that can reach the page).
- `run_json`: the one JSON shape of a run and its steps (webhook answers, the API,
  `runs show --json`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .errors import InvalidQuery
from .results import RunResult
from .runs.merged import merged_page
from .runs.records import parse_status, run_record, step_record
from .runs.store import RunPage, RunRecord, RunStore, StepRecord

__all__ = ["DEFAULT_TOP", "MAX_TOP", "MIN_PREFIX", "RunQuery", "page_runs", "result_json",
           "run_json", "runs_with_prefix"]

DEFAULT_TOP = 25
MAX_TOP = 1000
_MAX_CONTINUATION_CHARS = 4096


@dataclass(frozen=True)
class RunQuery:
    #: One flow's runs, or None for every flow merged newest first.
    flow: str | None = None
    #: A RunStatus value ("Failed", "TimedOut", ...), or None for every status.
    status: str | None = None
    top: int = DEFAULT_TOP
    continuation: str | None = None

    @classmethod
    def parse(cls, flow: str | None = None, *, status: str | None = None,
              top: str | int | None = None, continuation: str | None = None) -> RunQuery:
        """A query from request text (any may be None or empty for the default)."""
        wanted = parse_status(status)
        text = str(top).strip() if top is not None else ""
        if text and not (text.isdigit() and 1 <= int(text) <= MAX_TOP):
            raise InvalidQuery(f"top must be a number from 1 to {MAX_TOP}")
        if continuation and len(continuation) > _MAX_CONTINUATION_CHARS:
            raise InvalidQuery("invalid continuation token")
        return cls(flow or None, str(wanted) if wanted else None,
                   int(text) if text else DEFAULT_TOP, continuation or None)


def page_runs(store: RunStore, query: RunQuery, flow_names: Sequence[str]) -> RunPage:
    """A page of runs, newest first, and the token of the next page (None at the end)."""
    if query.flow is not None:
        return store.list_runs(query.flow, top=query.top, status=query.status,
                               continuation=query.continuation)
    return merged_page(store, flow_names, top=query.top, status=query.status,
                       continuation=query.continuation,
                       max_token_chars=_MAX_CONTINUATION_CHARS)


def run_json(record: RunRecord, steps: Sequence[StepRecord]) -> dict[str, Any]:
    """A run and its steps as JSON: the one shape every front end answers with (with the
    trigger body, as kept: None in lists, which leave it out to stay small)."""
    return {**record.to_dict(), "trigger_body": record.trigger_body,
            "steps": [step.to_dict() for step in steps]}


def result_json(run: RunResult) -> dict[str, Any]:
    """A run that just ended (or is running), in the same shape as `run_json`."""
    return run_json(run_record(run), [step_record(step) for step in run.steps])


#: The shortest run id prefix looked up (shorter ones match too much to be useful).
MIN_PREFIX = 4


def runs_with_prefix(store: RunStore, flow_names: Sequence[str],
                     prefix: str) -> list[tuple[str, str]]:
    """(flow, run id) of the runs of *flow_names* whose id starts with *prefix* (or is
    it), by run id: one query of the store's run id index, however many flows."""
    if len(prefix) < MIN_PREFIX:
        raise InvalidQuery(f"give at least {MIN_PREFIX} characters of the run id")
    names = set(flow_names)
    return [(flow, run_id) for flow, run_id in store.find_run_ids(prefix) if flow in names]
