"""What the two run stores (`TableRunStore`, `LocalRunStore`) do alike, written once:
the clock and the Abandoned-on-read rule, `last_run` and `last_runs` (each store reads
its own latest-run index), the context manager, and checking a `list_runs` call (page
size, status filter, continuation token) before each store turns it into its own
query.

No I/O here; the stores subclass `RunStoreBase`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, ClassVar, Self

from shared.errors import InvalidQuery
from shared.runs.keys import at_or_before_row_key, decode_token
from shared.runs.records import StatusFilter, as_utc, parse_status, shown, status_filter
from shared.runs.store import RunPage, RunRecord

__all__ = ["MAX_PAGE", "ListRequest", "RunStoreBase"]

#: The most runs one `list_runs` page holds (the Table service's largest $top).
MAX_PAGE = 1000


@dataclass(frozen=True)
class ListRequest:
    """A `list_runs` call, checked and put in stored terms."""

    #: Runs wanted on the page, at most `MAX_PAGE`.
    top: int
    #: The status filter as the continuation token records it (None: no filter).
    token_status: str | None
    #: The moment the call was made (for Abandoned).
    now: datetime
    plan: StatusFilter
    #: Where the previous page ended, as the store put it in the token; None for the
    #: first page (and when the plan matches nothing: the token is not read then).
    position: Any = None


class RunStoreBase(ABC):
    """The shared half of a `RunStore`: subclasses write and read their own storage
    (`start_run`, `record_step`, `finish_run`, `_list_page`, `_latest`, `get_run`,
    `delete_older_than`) and release it in `close`."""

    #: What the store keeps in a continuation token as the position to go on from.
    _position_type: ClassVar[type]

    def __init__(self, *, abandon_after: timedelta | None = None,
                 clock: Callable[[], datetime]) -> None:
        self._abandon_after = abandon_after
        self._clock = clock

    @abstractmethod
    def close(self) -> None:
        """Release connections and files; the store is not used after."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _now(self) -> datetime:
        return as_utc(self._clock())

    def _shown(self, record: RunRecord, now: datetime) -> RunRecord:
        """*record* as readers see it at *now* (Running past the deadline: Abandoned)."""
        return shown(record, now, self._abandon_after)

    def _list_request(self, flow: str, top: int, status: str | None,
                      continuation: str | None,
                      not_after: datetime | None = None) -> ListRequest:
        """Check a `list_runs` call: `InvalidQuery` for a page size below 1, an unknown
        status, or a continuation token that is not *flow*'s, not for this status or
        whose position is not this store's kind. *not_after* narrows the plan's row-key
        range to runs started then or earlier."""
        if top < 1:
            raise InvalidQuery("top must be at least 1")
        top = min(top, MAX_PAGE)
        wanted = parse_status(status)
        token_status = str(wanted) if wanted else None
        now = self._now()
        plan = status_filter(wanted, now, self._abandon_after)
        if not_after is not None:
            bound = at_or_before_row_key(as_utc(not_after))
            if plan.key_at_least is None or bound > plan.key_at_least:
                plan = replace(plan, key_at_least=bound)
        position = None
        if continuation and not plan.matches_nothing:
            position = decode_token(continuation, flow, token_status)
            if position is not None and not isinstance(position, self._position_type):
                raise InvalidQuery("invalid continuation token")
        return ListRequest(top, token_status, now, plan, position)

    def list_runs(self, flow: str, *, top: int = 50, status: str | None = None,
                  continuation: str | None = None,
                  not_after: datetime | None = None) -> RunPage:
        """A page of *flow*'s runs, newest first; *status* is a RunStatus name or value,
        any case ("failed", "timed_out", "TimedOut", "abandoned"); *not_after*: only
        runs started then or earlier."""
        request = self._list_request(flow, top, status, continuation, not_after)
        if request.plan.matches_nothing:
            return RunPage([], None)
        return self._list_page(flow, request)

    @abstractmethod
    def _list_page(self, flow: str, request: ListRequest) -> RunPage:
        """The page of *flow*'s runs that *request* asks for (its plan matches runs)."""

    def last_run(self, flow: str) -> RunRecord | None:
        page = self.list_runs(flow, top=1)
        return page.items[0] if page.items else None

    def last_runs(self, flows: Sequence[str] | None = None) -> dict[str, RunRecord]:
        wanted = None if flows is None else list(dict.fromkeys(flows))
        if wanted is not None and not wanted:
            return {}
        now = self._now()
        keep = None if wanted is None else set(wanted)
        return {record.flow: self._shown(record, now) for record in self._latest(wanted)
                if keep is None or record.flow in keep}

    @abstractmethod
    def _latest(self, flows: list[str] | None) -> list[RunRecord]:
        """The latest-run index's records of *flows* (a non-empty list without
        duplicates; None: all), in one query; it may also return other flows'."""
