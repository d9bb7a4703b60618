"""Reading run history, one way for every front end (CLI, JSON API, pages):

- `RunQuery`: which runs (one flow or all, a status filter), how many a page (one
  rule: 1 to 1000, default 25) and where to continue; `RunQuery.parse` turns request
  text into one, or `InvalidQuery` saying what is wrong.
- `page_runs`: a page of one flow's runs, or of every flow merged newest first.
- `run_json`: the one JSON shape of a run and its steps (webhook answers, the API,
  `runs show --json`).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .errors import InvalidQuery
from .results import RunResult
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
    return _merged_page(store, list(flow_names), query)


def _merged_page(store: RunStore, names: list[str], query: RunQuery) -> RunPage:
    """The newest *top* runs of all *names* merged. The token keeps each flow's own
    position: for a flow whose page was shown only in part, one more read of just the
    shown runs gives the position after them."""
    top, status = query.top, query.status
    positions = (dict.fromkeys(names) if query.continuation is None
                 else _decode_all_token(query.continuation, status))
    pages = {name: store.list_runs(name, top=top, status=status, continuation=position)
             for name, position in positions.items()}
    # Each page is newest first and the sort is stable, so what is shown of each
    # flow is always the start of its page.
    merged = sorted(((name, record) for name, page in pages.items() for record in page.items),
                    key=lambda item: item[1].started_at, reverse=True)[:top]
    shown: dict[str, int] = {}
    for name, _ in merged:
        shown[name] = shown.get(name, 0) + 1
    following: dict[str, str | None] = {}
    for name, page in pages.items():
        count = shown.get(name, 0)
        if count == len(page.items):
            if page.continuation is not None:
                following[name] = page.continuation
        elif count == 0:
            following[name] = positions[name]
        else:
            following[name] = store.list_runs(name, top=count, status=status,
                                              continuation=positions[name]).continuation
    token = _encode_all_token(status, following) if following else None
    return RunPage([record for _, record in merged], token)


def _encode_all_token(status: str | None, positions: dict[str, str | None]) -> str:
    raw = json.dumps({"all": positions, "s": status}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode("utf-8")).decode("ascii").rstrip("=")


def _decode_all_token(token: str, status: str | None) -> dict[str, str | None]:
    try:
        data = json.loads(base64.urlsafe_b64decode((token + "=" * (-len(token) % 4))
                                                   .encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error) as exc:
        raise InvalidQuery("invalid continuation token") from exc
    if isinstance(data, dict) and isinstance(data.get("f"), str) and "all" not in data:
        raise InvalidQuery(f"this continuation token pages the runs of one flow, "
                           f"'{data['f']}': ask for that flow's runs with it")
    positions = data.get("all") if isinstance(data, dict) else None
    if not isinstance(positions, dict) or not all(
            isinstance(k, str) and (v is None or isinstance(v, str))
            for k, v in positions.items()):
        raise InvalidQuery("invalid continuation token")
    if data.get("s") != status:
        raise InvalidQuery("continuation token was issued for another status filter")
    return positions


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


def runs_with_prefix(store: RunStore, flow_names: Sequence[str], prefix: str,
                     newest: int = 1000) -> list[RunRecord]:
    """The runs among each flow's *newest* whose id starts with *prefix*."""
    if len(prefix) < MIN_PREFIX:
        raise InvalidQuery(f"give at least {MIN_PREFIX} characters of the run id")
    return [record for name in flow_names
            for record in store.list_runs(name, top=newest).items
            if record.run_id.startswith(prefix)]
