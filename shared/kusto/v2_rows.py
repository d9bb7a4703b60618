"""The rows of a streamed v2 answer, read faster than the SDK's own reader does.

`execute_streaming_query` returns the SDK's reader over the HTTP body: an ijson (C
backend) event stream under a pure-Python token reader, which makes a few objects
per JSON value; that was most of the client-side time. The SDK keeps reading every
frame here (its checks and errors, the QueryProperties table, what follows the
rows), and only the primary table's `Rows` array is read otherwise, in one of two
ways:

* fast (`_fast_batches`): the body reaches the SDK's ijson parser through a `_Tap`
  that hands it out in pieces ending right after each `"Rows"` in it, so when the
  SDK has read a table's Rows key the parser has read nothing past it. The array
  is then read from the body here, 64 KB at a time: each time, the rows up to the
  last `]` followed by a comma are parsed in one `orjson.loads` of `[` + those
  bytes + `]` (that parse succeeds only when the cut is really between two rows of
  the array: a cut inside a string or a nested value leaves it unterminated), and
  where the array ends, orjson's "content after document" position says so. The
  parser is then given `:[]` and the rest of the body, and the SDK reads on. A value
  orjson refuses (a lone surrogate, which ijson reads as `?`), a row larger than
  16 MB, or a body cut short hands the rest of the array to the SDK's parser
  instead, read as below, so the values and errors stay the SDK's.
* events (`_event_rows`, from `v2_events`): from the ijson events under the SDK's reader, nested
  values built by ijson's ObjectBuilder, as before the fast reader existed.

Both give the values the SDK gives (tests/test_kusto_rows.py compares every Kusto
type), and an error object in place of a row raises `KustoMultiApiError` as the SDK
does. Each relies on SDK internals that are checked first (`tap_body`,
`_event_source`); when they differ, rows are read through the SDK's `raw_rows`.
The raw HTTP body is the `requests` response the SDK's session hands a response
hook (`BodyRecorder`).
"""

from __future__ import annotations

import functools
import inspect
import logging
import threading
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

from .v2_events import event_rows as _event_rows  # (the name tests patch)

__all__ = ["BATCH", "BodyRecorder", "batched", "primary_rows", "tap_body"]

log = logging.getLogger(__name__)

#: Rows handed to a sink at a time, at most.
BATCH = 1_000
_READ = 1 << 16
#: A row this large (no complete row in the buffer): read by the SDK's parser.
_GIVE_UP = 16 << 20
_KEY = b'"Rows"'
_WS = b" \t\r\n"
_COMMA = ord(",")
#: Cuts tried per buffer before reading more (a `],` inside a value fails one).
_TRIES = 4


class BodyRecorder:
    """The body of the last streamed answer of a KustoClient, per thread: a response
    hook on the client's `requests` session (the SDK does not hand it out)."""

    def __init__(self) -> None:
        self._local = threading.local()

    def install(self, client: Any) -> bool:
        import requests

        session = getattr(client, "_session", None)
        if not isinstance(session, requests.Session):
            return False
        session.hooks["response"].append(self._hook)
        return True

    def _hook(self, response: Any, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("stream"):
            self._local.body = getattr(response, "raw", None)

    def clear(self) -> None:
        self._local.body = None

    def take(self) -> Any:
        body = getattr(self._local, "body", None)
        self._local.body = None
        return body


class _Tap:
    """The body as the SDK's ijson parser reads it (see the module docstring)."""

    def __init__(self, body: Any) -> None:
        self._body = body
        self._pending = b""
        self._eof = False
        #: The last piece handed to the parser ended right after `"Rows"`.
        self.at_key = False
        self.parser: Any = None

    def read(self, size: int = -1) -> bytes:
        if size == 0:
            return b""
        if size < 0:
            size = _READ
        while True:
            data = self._pending
            found = data.find(_KEY)
            if found >= 0:
                available = found + len(_KEY)
            else:  # a key may straddle two reads: keep its possible start back
                available = len(data) if self._eof else len(data) - len(_KEY) + 1
            count = min(size, available)
            if count > 0:
                self._pending = data[count:]
                self.at_key = found >= 0 and count == available
                return data[:count]
            if self._eof:
                self.at_key = False
                return b""
            self._pending += self.read_body(max(size, _READ))

    def read_body(self, size: int) -> bytes:
        """Straight from the body, past the parser."""
        data: bytes = self._body.read(size)
        if not data:
            self._eof = True
        return data

    def take(self) -> bytes:
        data, self._pending = self._pending, b""
        return data

    def give_back(self, data: bytes) -> None:
        """What the parser reads next, before the rest of the body."""
        self._pending = data + self._pending
        self.at_key = False


@functools.cache
def _sdk_reader_as_expected() -> bool:
    """The SDK's JsonTokenReader makes its event stream as `tap_body` remakes it."""
    try:
        from azure.kusto.data.streaming_response import JsonTokenReader

        source = inspect.getsource(JsonTokenReader.__init__)
    except (ImportError, OSError, TypeError):
        return False
    return "self.json_iter = ijson.parse(stream, use_float=True)" in source


def tap_body(response: Any, body: Any) -> _Tap | None:
    """Puts a `_Tap` between the streamed *response*'s parser and its HTTP *body*
    (nothing of which is read yet); None, and nothing changed, when the SDK's
    reader is not as expected."""
    import ijson

    found = _sdk_reader(response)
    tell = getattr(body, "tell", None)
    if not (found is not None and _sdk_reader_as_expected()
            and callable(getattr(body, "read", None)) and callable(tell)
            and found[0].started is False):
        return None
    reader = found[1]
    try:
        if tell() != 0:  # already read from
            return None
    except (OSError, ValueError):
        return None
    tap = _Tap(body)
    tap.parser = reader.json_iter = ijson.parse(tap, use_float=True)
    return tap


def primary_rows(response: Any, table: Any, tap: _Tap | None) -> Iterator[list[list[Any]]]:
    """The table's rows in batches: fast when the SDK's parser has read just up to
    its Rows key through *tap*, else from the parser's events, else (the SDK's
    internals not as expected) through the SDK's `raw_rows`."""
    events = _event_source(response, table)
    if events is None:
        log.debug("reading rows through the SDK's token reader")
        return batched(table.raw_rows)
    table.raw_rows.close()  # never started: the rows are read here instead
    if tap is not None and tap.at_key and tap.parser is events:
        return _fast_batches(tap, events)
    return batched(_event_rows(events))


def batched(rows: Iterable[Any]) -> Iterator[list[list[Any]]]:
    iterator = iter(rows)
    while batch := [row if type(row) is list else list(row)
                    for row in islice(iterator, BATCH)]:
        yield batch


def _sdk_reader(response: Any) -> tuple[Any, Any] | None:
    """(the SDK's streaming enumerator, its JSON token reader) of *response*, when
    both are the SDK's own classes with the event stream we read; else None."""
    from azure.kusto.data.streaming_response import JsonTokenReader, StreamingDataSetEnumerator

    enumerator = getattr(response, "streamed_data", None)
    reader = getattr(enumerator, "reader", None)
    if (isinstance(enumerator, StreamingDataSetEnumerator)
            and isinstance(reader, JsonTokenReader) and hasattr(reader, "json_iter")):
        return enumerator, reader
    return None


def _event_source(response: Any, table: Any) -> Any:
    """The SDK parser's ijson event stream, when the table's row generator is the
    SDK's own, not started yet; else None."""
    from azure.kusto.data.streaming_response import StreamingDataSetEnumerator

    found = _sdk_reader(response)
    if found is None:
        return None
    enumerator, reader = found
    rows = getattr(table, "raw_rows", None)
    row_iterator = getattr(StreamingDataSetEnumerator, "row_iterator", None)
    if not (inspect.isgenerator(rows)
            and row_iterator is not None
            and rows.gi_code is getattr(row_iterator, "__code__", None)
            and inspect.getgeneratorstate(rows) == inspect.GEN_CREATED
            and rows.gi_frame is not None  # never None before the generator ends
            and rows.gi_frame.f_locals.get("self") is enumerator):
        return None
    return reader.json_iter


# ---------------------------------------------------------------- fast

class _Refused(Exception):
    """orjson refused a part of the array that must be whole: the SDK's parser reads it."""


def _fast_batches(tap: _Tap, events: Any) -> Iterator[list[list[Any]]]:
    """The Rows array from the body (see the module docstring), in batches."""
    from azure.kusto.data.exceptions import KustoMultiApiError, KustoTokenParsingError

    buffer = tap.take()
    for expected, before in ((ord(":"), b""), (ord("["), b":")):
        while not (buffer := buffer.lstrip(_WS)):
            if not (buffer := tap.read_body(_READ)):
                raise KustoTokenParsingError("Unexpected end of stream")
        if buffer[0] != expected:  # not the array the SDK expects: let it say so
            tap.give_back(before + buffer)
            yield from batched(_event_rows(events))
            return
        buffer = buffer[1:]
    batch: list[list[Any]] = []
    eof = after_comma = False
    while True:
        buffer = buffer.lstrip(_WS)
        if buffer[:1] == b"]":  # an empty array (a cut ends after a comma, or the array)
            if after_comma:
                raise KustoTokenParsingError("Unexpected end_array after a comma in the "
                                             "rows array")
            tap.give_back(b":[]" + buffer[1:])
            return
        try:
            found = _cut(buffer) if buffer else None
            refused = False
        except _Refused:
            found, refused = None, True
        if found is None:
            if eof or refused or len(buffer) >= _GIVE_UP:
                if batch:
                    yield batch
                tap.give_back(b":[" + buffer)
                yield from batched(_event_rows(events))
                return
            more = tap.read_body(max(_READ, len(buffer)))
            eof = not more
            buffer += more
            continue
        rows, buffer, ended = found
        if rows and set(map(type, rows)) != {list}:
            good = next(i for i, row in enumerate(rows) if type(row) is not list)
            batch += rows[:good]
            if batch:
                yield batch
            if type(rows[good]) is dict:  # an error in place of a row, as the SDK raises it
                raise KustoMultiApiError([rows[good]])
            raise KustoTokenParsingError(
                f"Expected a row (an array) in the rows array, got {type(rows[good]).__name__}")
        batch += rows
        if ended:
            tap.give_back(b":[]" + buffer)
            if batch:
                yield batch
            return
        after_comma = True
        if len(batch) >= BATCH:
            yield batch
            batch = []
        if not eof:  # what is left is less than a row: read on before cutting again
            more = tap.read_body(_READ)
            eof = not more
            buffer += more


def _cut(buffer: bytes) -> tuple[list[Any], bytes, bool] | None:
    """The rows that *buffer* (starting at a row) holds whole, what follows them
    (after the comma, or after the array's `]`), and whether the array ended;
    None when no row is whole yet."""
    import orjson

    end, tries, scans = len(buffer), 0, 0
    while tries < _TRIES and scans < 64:
        close = buffer.rfind(b"]", 0, end)
        if close < 0:
            break
        end, scans = close, scans + 1
        after = close + 1
        while after < len(buffer) and buffer[after] in _WS:
            after += 1
        if after >= len(buffer) or buffer[after] != _COMMA:
            continue
        tries += 1
        text = b"[" + buffer[:close + 1] + b"]"
        try:
            return orjson.loads(text), buffer[after + 1:], False
        except orjson.JSONDecodeError as exc:
            if exc.pos >= len(text) - 1:  # cut inside a value: the cut was wrong
                continue
            ended = _ended(text, exc.pos)
            if ended is None:
                raise _Refused from exc
            return ended[0], buffer[ended[1] - 1:], True
    # No whole row followed by a comma: maybe the array ends in this buffer.
    text = b"[" + buffer
    try:
        rows = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        ended = _ended(text, exc.pos)
        if ended is not None:
            return ended[0], buffer[ended[1] - 1:], True
        return None  # an incomplete row (or, at the end of the body, a bad one)
    return rows, b"", True  # the buffer ends with the array's `]`


def _ended(text: bytes, position: int) -> tuple[list[Any], int] | None:
    """The rows when *text* is a whole array followed by other content at
    *position* (orjson's "content after document"), and that position."""
    import orjson

    if not 0 < position < len(text):
        return None
    try:
        rows = orjson.loads(text[:position])
    except orjson.JSONDecodeError:
        return None
    return (rows, position) if type(rows) is list else None
