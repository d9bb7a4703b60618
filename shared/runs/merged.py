"""The run history of many flows merged newest first, reading only the flows that can
reach the page (`merged_page`: the history of every flow, in the CLI, API and pages).

A store keeps each flow's runs apart (a Table partition per flow), so the history of
every flow is a merge. Reading a page of every flow for each page cost a request per
flow (1,000 flows: over 1,000 requests a page). Instead:

- The latest-run index (`RunStore.last_runs`, one query) gives each flow's newest run.
  Nothing of a flow can come before its newest run, so a flow whose newest run is older
  than the last run of a full page is never read.
- Flows are read lazily in the merge: a flow is read (one `list_runs` from where it can
  next contribute, `not_after`) only when its next run may be the newest one not yet
  shown. A page of 25 reads at most about 25 flows (each flow that has runs on it, and
  the one after), whatever the number of flows, plus the index query.
- With a status filter the index's newest run (of any status) only bounds a flow's
  newest matching run: still enough to leave out the flows whose newest run is older
  than the page's last match, but every flow that ran since then is read (there is no
  index by status): page 1 of the failed runs of 1,000 busy flows where few fail may
  read hundreds. What a read finds goes in the token, so later pages cost less.

Order: newest start first, then flow name, then the run's row key (newest first within
a flow, as the stores keep it): the order the history had before, page for page.

The continuation token says where the page ended: the last run shown (every run before
it in that order has been shown), plus what reads taught about the flows read so far:
where each one's next run is, at the earliest ("ahead"), or that it has none ("done").
A flow the token does not name is found again from the index: from its newest run when
that is older than the last run shown (it has never been read), else from the last run
shown. So the token never names a flow that was not read, and names the ones read by
their place in the sorted flow list, about two bytes each (a hash of the list says when
it changed: then the token names none). Past `max_token_chars` the flows ahead
furthest are left out and read again on the next page, which is then dearer, never
wrong: 1,000 flows fit in the 4,096 characters a request may bring back.

Runs that start while someone pages are not shown on the later pages (they come before
the last run shown): a page never repeats a run and never skips one that the store held
when page 1 was read, except a run whose status changed to match the filter after its
flow was read (the per-flow tokens behave the same). A run written late with an older
start (a replayed spool write) may or may not appear.

No I/O of its own: everything goes through `RunStore.last_runs` and `list_runs`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import heapq
import json
import re
import zlib
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.errors import InvalidQuery
from shared.runs.keys import MAX_TICKS, from_ticks, run_row_key
from shared.runs.store import RunPage, RunRecord, RunStore

__all__ = ["merged_page"]

#: Where a run stands in the merged order: (age, flow, row key), smallest first. The
#: age is the row key's inverted-ticks part (larger: older). As a bound, (age, flow, "")
#: comes before every run of the flow that started at that moment.
Position = tuple[int, str, str]

_SECOND = 10_000_000  # ticks
_ROW_KEY = re.compile(r"\d{19}_.+", re.DOTALL)
#: The most bytes a token unpacks to (a token is at most a few KB packed).
_MAX_UNPACKED = 1 << 20


def _position(record: RunRecord) -> Position:
    key = run_row_key(record.started_at, record.run_id)
    return int(key[:19]), record.flow, key


@dataclass(eq=False)
class _Flow:
    """One flow in the merge: what is known of its runs not shown yet."""

    name: str
    #: Every run of the flow not shown yet comes after this position.
    after: Position
    #: Whether a run after `after` is known to exist (reading the flow finds one).
    sure: bool
    #: Whether the token named this flow, or a read taught something (name it again).
    known: bool = False
    #: Runs read and not shown yet, in order.
    runs: deque[RunRecord] = field(default_factory=deque)
    #: Where the last read stopped, and the moment it read from (its runs go on there).
    continuation: str | None = None
    read_from: datetime | None = None
    done: bool = False

    def head(self) -> Position:
        return _position(self.runs[0]) if self.runs else self.after


@dataclass(frozen=True)
class _Token:
    last: Position
    hints: dict[str, int]  # flow -> age of its next run, at the earliest
    done: frozenset[str]
    quantum: int  # ticks: the grid of the hints' ages


class _Merge:
    """The flows of a page in a heap by where their next run may be (`head`)."""

    def __init__(self, store: RunStore, status: str | None) -> None:
        self.store = store
        self.status = status
        self.heap: list[tuple[Position, int, _Flow]] = []
        self.count = 0
        #: Every flow in the merge, in the heap or not (done).
        self.flows: list[_Flow] = []

    def add(self, flow: _Flow) -> None:
        self.flows.append(flow)
        self.push(flow)

    def push(self, flow: _Flow) -> None:
        self.count += 1
        heapq.heappush(self.heap, (flow.head(), self.count, flow))

    def read(self, flow: _Flow, wanted: int) -> None:
        """Read *flow* on from where it stands until it has a run to show, or has none."""
        while not flow.runs and not flow.done:
            if flow.continuation is None:
                flow.read_from = from_ticks(MAX_TICKS - flow.after[0])  # the moment of its age
            page = self.store.list_runs(flow.name, top=wanted, status=self.status,
                                        continuation=flow.continuation,
                                        not_after=flow.read_from)
            flow.runs.extend(r for r in page.items if _position(r) > flow.after)
            flow.continuation = page.continuation
            flow.done = not flow.runs and page.continuation is None
            flow.known = True
        flow.sure = bool(flow.runs)

    def take(self, top: int) -> list[RunRecord]:
        """The next *top* runs in order (fewer at the end of the history)."""
        shown: list[RunRecord] = []
        while self.heap and len(shown) < top:
            _, _, flow = heapq.heappop(self.heap)
            if not flow.runs:  # only a bound: read the flow, and put it back
                self.read(flow, top - len(shown) + 1)
                if flow.runs:
                    self.push(flow)
                continue
            record = flow.runs.popleft()
            shown.append(record)
            flow.after = _position(record)
            if flow.runs or flow.continuation is not None:
                self.push(flow)
            else:  # read to its end: nothing left of it
                flow.done = flow.known = True
        return shown

    def settle(self) -> None:
        """Read until the next run is sure (or none is left), so a page says there is
        a next page only when there is a run on it."""
        while self.heap and not (self.heap[0][2].runs or self.heap[0][2].sure):
            _, _, flow = heapq.heappop(self.heap)
            self.read(flow, 1)
            if flow.runs:
                self.push(flow)


def merged_page(store: RunStore, flows: Sequence[str], *, top: int, status: str | None,
                continuation: str | None, max_token_chars: int) -> RunPage:
    """A page of the runs of *flows* merged newest first (*top* runs; *status* a
    RunStatus value as `RunQuery.parse` gives it, or None), and the token of the next
    page (None at the end, of at most *max_token_chars*). `InvalidQuery` for a token
    that is not one of these, or was issued for another status filter."""
    if top < 1:
        raise InvalidQuery("top must be at least 1")
    names = sorted(set(flows))
    token = _decode(continuation, status, names) if continuation else None
    merge = _Merge(store, status)
    newest = store.last_runs(names)
    for name, record in sorted(newest.items()):
        flow = _start(name, record, token, status)
        if flow is not None:
            merge.add(flow)
    shown = merge.take(top)
    merge.settle()
    if not merge.heap:
        return RunPage(shown, None)
    # What the next page cannot find again in the index: the flows known to be done
    # (named by the token, or read to their end now) and where each flow read is.
    done = sorted({f.name for f in merge.flows if f.done}
                  | {name for name in (token.done if token else ()) if name in newest})
    hints = sorted((f.head()[0], f.name) for f in merge.flows if f.known and not f.done)
    # Hints are ages rounded down to a grid fixed on page 1 (an eighth of its time
    # span), so a hint carried from page to page never drifts earlier.
    quantum = token.quantum if token else max(
        _SECOND, (_position(shown[-1])[0] - _position(shown[0])[0]) // 8)
    return RunPage(shown, _encode(status, _position(shown[-1]), quantum, names, done, hints,
                                  max_token_chars))


def _start(name: str, newest: RunRecord, token: _Token | None,
           status: str | None) -> _Flow | None:
    """Where flow *name* stands when a page starts (None: nothing of it is left)."""
    top = _position(newest)
    sure = status is None or newest.status == status
    from_newest: Position = (top[0], name, "")
    if token is None:
        return _Flow(name, from_newest, sure)
    if name in token.done:
        return None
    last = token.last
    if name in token.hints:
        return _Flow(name, max((token.hints[name], name, ""), last), True, known=True)
    if top > last:  # never read: all of it is still to come
        return _Flow(name, max(from_newest, last), sure)
    # It had runs before the last one shown (or one started since): from there on.
    return _Flow(name, last, False)


# -- the token ---------------------------------------------------------------------
#
# base64url(zlib(header JSON, "\n", body)). The header: the status filter ("s"), the
# last run shown ("a": its row key and flow), a hash of the sorted flow list the body's
# numbers index ("l"), and the grid of the hints' ages ("q", ticks: an eighth of page
# 1's time span, at least a second). The body, LEB128 numbers: the flows done (a count,
# then each one's index as a gap from the previous), then the flows ahead (a count, then
# for each its index gap and its next run's age on the grid, rounded down, counted from
# the last run's: an earlier bound, so still a true one; the flow may be read a page
# early). About two bytes a flow: 1,000 flows fit in 4,096 characters.


def _list_hash(names: list[str]) -> str:
    return hashlib.sha256("\0".join(names).encode("utf-8")).hexdigest()[:12]


def _put(body: bytearray, number: int) -> None:
    while number >= 0x80:
        body.append(number & 0x7F | 0x80)
        number >>= 7
    body.append(number)


def _encode(status: str | None, last: Position, quantum: int, names: list[str],
            done: list[str], hints: list[tuple[int, str]], max_chars: int) -> str:
    """The token after the run at *last*: the flows done first, then the hints nearest
    first, as many as fit in *max_chars* (the rest are read again on the next page)."""
    index = {name: number for number, name in enumerate(names)}
    base = last[0] // quantum
    entries: list[tuple[int, int | None]] = [(index[name], None) for name in done]
    entries += [(index[name], age // quantum - base) for age, name in hints]
    header = json.dumps({"s": status, "a": [last[2], last[1]], "l": _list_hash(names),
                         "q": quantum}, separators=(",", ":")).encode("utf-8")

    def token(count: int) -> str:
        kept = sorted(entries[:count], key=lambda entry: entry[0])
        gone = [number for number, quanta in kept if quanta is None]
        ahead = [(number, quanta) for number, quanta in kept if quanta is not None]
        body = bytearray()
        _put(body, len(gone))
        previous = -1
        for number in gone:
            _put(body, number - previous - 1)
            previous = number
        _put(body, len(ahead))
        previous = -1
        for number, quanta in ahead:
            _put(body, number - previous - 1)
            _put(body, quanta)
            previous = number
        packed = zlib.compress(header + b"\n" + bytes(body), 9)
        return base64.urlsafe_b64encode(packed).decode("ascii").rstrip("=")

    if len(whole := token(len(entries))) <= max_chars:
        return whole
    low, high = 0, len(entries)  # token(low) fits (or nothing smaller would), high not
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if len(token(middle)) <= max_chars else (low, middle)
    return token(low)


def _decode(text: str, status: str | None, names: list[str]) -> _Token:
    try:
        packed = base64.urlsafe_b64decode((text + "=" * (-len(text) % 4)).encode("ascii"))
        if packed[:1] == b"{":  # a token of one flow's runs (plain JSON)
            data, body = json.loads(packed), b""
        else:
            unpack = zlib.decompressobj()
            raw = unpack.decompress(packed, _MAX_UNPACKED)
            if unpack.unconsumed_tail or not unpack.eof:
                raise ValueError("not one whole token")
            head, _, body = raw.partition(b"\n")
            data = json.loads(head)
    except (ValueError, UnicodeError, binascii.Error, zlib.error) as exc:
        raise InvalidQuery("invalid continuation token") from exc
    if isinstance(data, dict) and isinstance(data.get("f"), str) and "a" not in data:
        raise InvalidQuery(f"this continuation token pages the runs of one flow, "
                           f"'{data['f']}': ask for that flow's runs with it")
    token = _parse(data, body, names)
    if token is None:
        raise InvalidQuery("invalid continuation token")
    if data.get("s") != status:
        raise InvalidQuery("continuation token was issued for another status filter")
    return token


def _parse(data: Any, body: bytes, names: list[str]) -> _Token | None:
    if not isinstance(data, dict):
        return None
    last, quantum = data.get("a"), data.get("q")
    if not (isinstance(last, list) and len(last) == 2 and all(isinstance(v, str) for v in last)
            and _ROW_KEY.fullmatch(last[0]) and type(quantum) is int
            and 0 < quantum <= MAX_TICKS and int(last[0][:19]) <= MAX_TICKS):
        return None
    position: Position = (int(last[0][:19]), last[1], last[0])
    if data.get("l") != _list_hash(names):  # other flows since: start from the index
        return _Token(position, {}, frozenset(), quantum)
    base = position[0] // quantum
    numbers = _numbers(body)
    if numbers is None:
        return None
    done: set[str] = set()
    hints: dict[str, int] = {}
    try:
        previous = -1
        for _ in range(next(numbers)):
            previous += next(numbers) + 1
            done.add(names[previous])
        previous = -1
        for _ in range(next(numbers)):
            previous += next(numbers) + 1
            hints[names[previous]] = min((base + next(numbers)) * quantum, MAX_TICKS)
    except (StopIteration, IndexError):
        return None
    if next(numbers, None) is not None:
        return None
    return _Token(position, hints, frozenset(done), quantum)


def _numbers(body: bytes) -> Iterator[int] | None:
    """The LEB128 numbers of *body* (None when it ends inside one)."""
    values: list[int] = []
    number = shift = 0
    for byte in body:
        number |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            values.append(number)
            number = shift = 0
        elif shift > 70:
            return None
    return None if shift else iter(values)
