"""Rows read by the Azure backend are the very rows the raw azure-kusto-data client
gives, value for value and type for type, and the sinks that read them as JSON gave
them count and write exactly what they wrote from typed rows.

The backend reads the primary table's rows past the SDK's token reader: parsed with
orjson straight from the HTTP body (`v2_rows._fast_batches`), or from the ijson
event stream under the SDK's reader, and converts datetimes with
`datetime.fromisoformat` instead of the SDK's dateutil parser: all only to make
reading faster. The sinks convert only what they need (`json_rows.JsonRows`), and
the CSV is written from the raw values (`capture.csv_cells`). These tests pin that
nothing else changes: every Kusto type (7-digit fractions, NaN as Kusto sends it,
nulls, nested dynamic values, strings that look like the framing around them) comes
out as `KustoClient.execute` gives it, however the body is cut into reads; an error
in place of a row raises what the SDK raises; a value orjson refuses or a body cut
short is read by the SDK's parser; limits count the same; the CSV is byte for byte
what `cell_text` of the typed values writes; and the fast path is really taken with
the pinned SDK (a silent fallback to the slow reader would otherwise go unnoticed).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator
from datetime import UTC, timedelta
from decimal import Decimal
from typing import Any

import pytest
from azure.kusto.data import KustoClient, KustoConnectionStringBuilder
from azure.kusto.data._models import KustoResultRow
from azure.kusto.data.exceptions import KustoMultiApiError, KustoTokenParsingError
from azure.kusto.data.response import KustoResponseDataSetV2, KustoStreamingResponseDataSet
from azure.kusto.data.streaming_response import JsonTokenReader, StreamingDataSetEnumerator

from shared.errors import LimitExceeded
from shared.kusto import azure_backend, v2_rows
from shared.kusto.azure_backend import AzureKustoBackend, _feed
from shared.kusto.backend import KustoRequest
from shared.kusto.json_rows import JsonRows, converters, to_datetime
from shared.kusto.reader import CollectSink, GuardedSink, estimate_row_bytes
from shared.kusto.types import Column
from shared.render.capture import RenderCapture
from shared.render.cells import cell_text

COLUMNS = [("s", "string"), ("l", "long"), ("i", "int"), ("r", "real"), ("d", "decimal"),
           ("b", "bool"), ("dt", "datetime"), ("ts", "timespan"), ("dy", "dynamic"),
           ("g", "guid")]
ROWS: list[list[Any]] = [
    ["a \"quoted\" é", 9007199254740993, 3, 1.5, "1.0000000000000000001", True,
     "2007-01-01T00:00:00.1234567Z", "1.02:03:04.1234567",
     {"a": [1, 2.5, {"b": None, "c": [True, "x"]}], "e": {}},
     "74be27de-1e4e-49d9-b579-fe0b331d3642"],
    ["", -1, -2147483648, "NaN", "0.1", False, "2007-06-30T23:59:59.9999999Z",
     "-00:00:00.0000001", [], "00000000-0000-0000-0000-000000000000"],
    [None, None, None, "Infinity", None, None, None, None, None, None],
    ["b", 0, 0, "-Infinity", "-3", True, "2007-01-01T00:00:00Z", "00:00:00", "text", None],
    ["c", 1, 1, 1e300, "2", False, "1999-12-31T23:59:59.5Z", "10675199.02:48:05.4775807",
     [[1, [2, [3]]], {"k": 1.25}], None],
]
#: Values that look like the framing around them, escapes, and numbers at the edges.
TRICKY: list[list[Any]] = [
    ["],[", 9223372036854775807, 2147483647, 0.1, "1e5", True,
     "2007-01-01T00:00:00.0000000Z", "1.00:00:00", "],[\"Rows\"", "x"],
    ['"Rows": [[', -9223372036854775807, -1, 5e-324, "-0.5", False,
     "0999-01-01T00:00:00.1000000Z", "-1.00:00:00.5", {"Rows": [["]]"], [1]], "]": "],"},
     "ABCDEF00-0000-0000-0000-000000000000"],
    ["\\\"],\n[\t\u0001 ✓ 😀", 42, 7, 1.7976931348623157e308, "0.10", None,
     "2024-02-29T12:34:56.0000001Z", None, [[["]"]], [], [[[]]]], None],
    ["{\"FrameType\": \"DataTable\"}]", 0, 0, 2.2250738585072014e-308, None, True,
     "2007-01-01T00:00:00+02:00", "00:00:00.0001000", '"Rows"', "y"],
    ["", 1, 1, -0.0, "123456789012345678901234567890.5", False,
     "2007-01-01T00:00:00.5Z", "12:00:00", 0.30000000000000004, None],
]
#: What a cluster puts in place of a row when the query fails while it streams.
ERROR = {"OneApiErrors": [{"error": {
    "code": "LimitsExceeded", "message": "Request is invalid and cannot be executed.",
    "@type": "Kusto.DataNode.Exceptions.KustoQueryRunawayException",
    "@message": "query memory limit exceeded", "@permanent": True,
    "innererror": {"code": "x", "details": [1, {"y": None}]}}}]}


def frames(rows: list[Any], primaries: int = 1) -> list[dict[str, Any]]:
    """A v2 query response as a cluster streams it: header, properties, the
    primary table(s), completion information, completion."""
    primary = [{"FrameType": "DataTable", "TableId": 1 + n, "TableKind": "PrimaryResult",
                "TableName": "PrimaryResult" if n == 0 else f"PrimaryResult_{n}",
                "Columns": [{"ColumnName": c, "ColumnType": t} for c, t in COLUMNS],
                "Rows": rows} for n in range(primaries)]
    return [
        {"FrameType": "DataSetHeader", "IsProgressive": False, "Version": "v2.0"},
        {"FrameType": "DataTable", "TableId": 0, "TableKind": "QueryProperties",
         "TableName": "@ExtendedProperties",
         "Columns": [{"ColumnName": "TableId", "ColumnType": "int"},
                     {"ColumnName": "Key", "ColumnType": "string"},
                     {"ColumnName": "Value", "ColumnType": "dynamic"}],
         "Rows": [[1, "Visualization", "{\"Visualization\": null}"]]},
        *primary,
        {"FrameType": "DataTable", "TableId": 9, "TableKind": "QueryCompletionInformation",
         "TableName": "QueryCompletionInformation",
         "Columns": [{"ColumnName": "Level", "ColumnType": "int"},
                     {"ColumnName": "Payload", "ColumnType": "string"}],
         "Rows": [[4, "{}"], [4, "[\"],[\"]"]]},
        {"FrameType": "DataSetCompletion", "HasErrors": False, "Cancelled": False},
    ]


def payload(rows: list[Any], *, primaries: int = 1, framing: str = "spaced") -> bytes:
    """The response's bytes: `spaced` as json.dumps writes it (the local server),
    `compact` without a space, `lines` a frame and a row a line (as clusters do)."""
    if framing == "lines":
        def frame(f: dict[str, Any]) -> str:
            if f.get("TableKind") != "PrimaryResult":
                return json.dumps(f, separators=(",", ":"))
            text = json.dumps({k: v for k, v in f.items() if k != "Rows"},
                              separators=(",", ":"))
            lines = ",\r\n".join(json.dumps(r, separators=(",", ":")) for r in f["Rows"])
            return f'{text[:-1]},"Rows":[\r\n{lines}\r\n]}}'
        return ("[" + "\r\n,".join(frame(f) for f in frames(rows, primaries)) + "\r\n]"
                ).encode()
    separators = (",", ":") if framing == "compact" else (", ", ": ")
    return json.dumps(frames(rows, primaries), separators=separators).encode()


class Trickle(io.BytesIO):
    """A body that hands out at most *step* bytes a read, as a socket may."""

    def __init__(self, data: bytes, step: int) -> None:
        super().__init__(data)
        self.step = step

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            size = self.step
        return super().read(min(size, self.step))


def streaming(data: bytes, *, step: int = 0, tapped: bool = True
              ) -> tuple[KustoStreamingResponseDataSet, Any]:
    """What `execute_streaming_query` returns over these bytes, and the tap the
    backend puts between its parser and the body (None: untapped)."""
    body = Trickle(data, step) if step else io.BytesIO(data)
    response = KustoStreamingResponseDataSet(
        StreamingDataSetEnumerator(JsonTokenReader(body)))
    return response, (v2_rows.tap_body(response, body) if tapped else None)


def sdk_rows(data: bytes) -> list[list[Any]]:
    """The SDK's own streaming rows (its KustoResultRow values) of every primary table."""
    response, _ = streaming(data, tapped=False)
    return [list(row) for table in response.iter_primary_results() for row in table]


def reader_of(batches: Any) -> str:
    """Which reader `primary_rows` chose: fast, events or sdk."""
    if batches.gi_code is v2_rows._fast_batches.__code__:
        return "fast"
    inner = batches.gi_frame.f_locals["rows"]
    return "events" if getattr(inner, "gi_code", None) is v2_rows._event_rows.__code__ else "sdk"


class _ListSink(CollectSink):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[Any]] = []

    def add_rows(self, rows: Any) -> None:
        self.rows.extend(list(row) for row in rows)


def backend_rows(response: Any, tap: Any, sink: Any = None) -> tuple[list[list[Any]], list[str]]:
    """The rows the backend reads (typed, as a sink without `add_json_rows` gets
    them), and which reader read each primary table."""
    sink = sink if sink is not None else _ListSink()
    readers = []
    for table in response.iter_primary_results():
        batches = v2_rows.primary_rows(response, table, tap)
        readers.append(reader_of(batches))
        _feed(table, batches, sink)
    return getattr(sink, "rows", []), readers


def assert_same(ours: list[list[Any]], theirs: list[list[Any]]) -> None:
    assert len(ours) == len(theirs)
    for row, expected in zip(ours, theirs, strict=True):
        assert len(row) == len(expected)
        for value, want in zip(row, expected, strict=True):
            assert type(value) is type(want), (value, want)
            assert value == want, (value, want)
            if hasattr(want, "utcoffset") and want.tzinfo is not None:
                assert value.utcoffset() == want.utcoffset()


def test_every_kusto_type_reads_as_the_raw_clients_execute_reads_it() -> None:
    data = payload(ROWS)
    execute = KustoResponseDataSetV2(json.loads(data)).primary_results[0]
    expected = [list(row) for row in execute]
    ours, readers = backend_rows(*streaming(data))
    assert readers == ["fast"]
    assert_same(ours, expected)
    assert isinstance(ours[0][4], Decimal) and isinstance(ours[0][7], timedelta)
    assert ours[0][6].tzinfo is UTC and ours[0][6].microsecond == 123456
    events, readers = backend_rows(*streaming(data, tapped=False))
    assert readers == ["events"]
    assert_same(events, expected)


@pytest.mark.parametrize("framing", ["spaced", "compact", "lines"])
@pytest.mark.parametrize(("step", "read"), [(0, 1 << 16), (1, 40), (7, 100), (500, 1000)])
def test_the_fast_reader_reads_the_sdks_rows_however_the_body_is_cut(
        framing: str, step: int, read: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(v2_rows, "_READ", read)
    monkeypatch.setattr(v2_rows, "BATCH", 8)
    monkeypatch.setattr(v2_rows, "_event_rows", None)  # never handed over: all read fast
    rows = (ROWS + TRICKY) * 7
    data = payload(rows, primaries=2, framing=framing)
    response, tap = streaming(data, step=step)
    ours, readers = backend_rows(response, tap)
    monkeypatch.undo()
    assert readers == ["fast", "fast"]
    assert_same(ours, sdk_rows(data))
    # The frames after the rows are read by the SDK as before.
    assert [t.table_name for t in response.tables] == [
        "@ExtendedProperties", "PrimaryResult", "PrimaryResult_1",
        "QueryCompletionInformation"]
    assert response.finished and response.errors_count == 0
    assert list(response.tables[3])[1]["Payload"] == "[\"],[\"]"


@pytest.mark.parametrize("rows", [[], [ROWS[0]]])
def test_empty_and_one_row_tables_read_as_in_the_sdk(rows: list[Any]) -> None:
    data = payload(rows)
    response, tap = streaming(data)
    ours, readers = backend_rows(response, tap)
    assert readers == ["fast"]
    assert_same(ours, sdk_rows(data))
    assert response.tables[-1].table_name == "QueryCompletionInformation"


@pytest.mark.parametrize("bad", [[], ROWS[0][:3]])
def test_a_row_of_the_wrong_width_is_refused(bad: list[Any]) -> None:
    response, tap = streaming(payload([ROWS[0], bad]))
    with pytest.raises(ValueError, match="values for 10 columns"):
        backend_rows(response, tap)


def test_values_orjson_refuses_or_rows_too_large_are_read_by_the_sdks_parser(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(v2_rows, "_READ", 64)
    monkeypatch.setattr(v2_rows, "_GIVE_UP", 2048)
    handed: list[int] = []
    original = v2_rows._event_rows

    def spy(events: Any) -> Any:
        handed.append(1)
        return original(events)

    monkeypatch.setattr(v2_rows, "_event_rows", spy)
    lone = ["\ud800 lone", *ROWS[0][1:]]  # ijson reads a lone surrogate as "?"
    huge = ["x" * 5000, *ROWS[1][1:]]
    for rows in ([ROWS[0], lone, ROWS[1]], [ROWS[0], huge, ROWS[2]]):
        handed.clear()
        data = payload(rows)
        ours, readers = backend_rows(*streaming(data, step=64))
        assert readers == ["fast"] and handed == [1]
        assert_same(ours, sdk_rows(data))
    assert ours[1][0] == "x" * 5000


@pytest.mark.parametrize("read", [1 << 16, 50])
def test_an_error_in_place_of_a_row_raises_what_the_sdk_raises(
        read: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(v2_rows, "_READ", read)
    data = payload([ROWS[0], ROWS[1], ERROR, ROWS[2]])
    sdk, _ = streaming(data, tapped=False)
    with pytest.raises(KustoMultiApiError) as sdk_error:
        for table in sdk.iter_primary_results():
            list(table)
    sink = _ListSink()
    with pytest.raises(KustoMultiApiError) as our_error:
        backend_rows(*streaming(data), sink=sink)
    assert str(our_error.value) == str(sdk_error.value)
    assert [e.__dict__ for e in our_error.value.get_api_errors()] == [
        e.__dict__ for e in sdk_error.value.get_api_errors()]
    assert our_error.value.get_api_errors()[0].code == "LimitsExceeded"
    assert len(sink.rows) == 2  # the rows before it reached the sink, as in the SDK


_ROW = json.dumps(ROWS[3]).encode()


@pytest.mark.parametrize(("rows", "replace"), [
    (b'"Rows": null}', None), (b'"Rows": [' + _ROW + b', ]}', None), (b'"Rows": [1]}', None),
    (b'"Rows": [' + _ROW + b', 2]}', None), (b'"Rows"', b'"Rows" ')])
@pytest.mark.parametrize("read", [1 << 16, 3])
def test_a_malformed_rows_array_is_a_parsing_error_as_in_the_sdk(
        rows: bytes, replace: bytes | None, read: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(v2_rows, "_READ", read)
    data = payload([])
    at = data.index(b'"Rows": []}', data.index(b'"PrimaryResult"'))
    if replace is None:
        data = data[:at] + rows + data[at + len(b'"Rows": []}'):]
    else:  # a body that ends right after the key
        data = data[:at] + replace
    sdk, _ = streaming(data, tapped=False)
    with pytest.raises(KustoTokenParsingError):
        for table in sdk.iter_primary_results():
            list(table)
    response, tap = streaming(data, step=5)
    with pytest.raises(KustoTokenParsingError):
        backend_rows(response, tap)


@pytest.mark.parametrize("cut", [b"1999-12-31", b"QueryCompletionInformation", b"]]}, {"])
@pytest.mark.parametrize("tapped", [True, False])
def test_a_stream_cut_off_is_a_parsing_error_as_in_the_sdk(cut: bytes, tapped: bool) -> None:
    data = payload(ROWS)
    short = data[:data.index(cut)]
    sdk, _ = streaming(short, tapped=False)
    with pytest.raises(KustoTokenParsingError):
        for table in sdk.iter_primary_results():
            list(table)
    with pytest.raises(KustoTokenParsingError):
        backend_rows(*streaming(short, tapped=tapped))


def test_the_fast_reader_is_the_one_used_with_the_pinned_sdk() -> None:
    response, tap = streaming(payload(ROWS))
    assert tap is not None
    table = next(response.iter_primary_results())
    assert tap.at_key
    assert reader_of(v2_rows.primary_rows(response, table, tap)) == "fast"


def test_an_sdk_whose_internals_differ_falls_back_to_its_own_rows() -> None:
    response, tap = streaming(payload(ROWS))
    table = next(response.iter_primary_results())
    next(table.raw_rows)  # the SDK's row generator already started: not ours to take over
    batches = v2_rows.primary_rows(response, table, tap)
    assert reader_of(batches) == "sdk"
    assert sum(len(batch) for batch in batches) == len(ROWS) - 1
    # A body already read from, or a reader the SDK makes otherwise: no tap.
    body = io.BytesIO(payload(ROWS))
    body.read(1)
    response = KustoStreamingResponseDataSet(StreamingDataSetEnumerator(JsonTokenReader(body)))
    assert v2_rows.tap_body(response, body) is None
    assert v2_rows.tap_body(response, None) is None


@pytest.mark.parametrize("text", [
    "2007-01-01T00:00:00.1234567Z", "2007-01-01T00:00:00.9999999Z", "2007-01-01T00:00:00Z",
    "2007-01-01T00:00:00.5Z", "2007-01-01T00:00:00.123Z", "2007-01-01T00:00:00.0000000Z",
    "0001-01-01T00:00:00.0000000Z", "9999-12-31T23:59:59.9999999Z",
    "2007-01-01T00:00:00+02:00", "2007-01-01", "2007-01-01T00:00:00.12345678Z",
])
def test_datetimes_convert_as_the_sdk_converts_them(text: str) -> None:
    ours = to_datetime(text)
    theirs = KustoResultRow.get_typed_value("datetime", text)
    assert ours == theirs and ours.utcoffset() == theirs.utcoffset()
    if text.endswith("Z"):
        assert ours.tzinfo is UTC
    assert JsonRows.datetimes([text]) == [theirs]


# -- sinks reading rows as JSON gave them ------------------------------------------

#: Datetime columns the CSV cuts as text, and ones it converts and prints.
DATETIMES = [
    ["2007-01-01T00:00:00.1234567Z", "2007-01-01T00:00:00.0000000Z",
     "2024-02-29T23:59:59.9999999Z", "1000-01-01T00:00:00.1000000Z"],
    ["2007-01-01T00:00:00.123456Z", "2007-01-01T00:00:00.000000Z"],
    ["2007-01-01T00:00:00.1234567Z", None],
    ["2007-01-01T00:00:00.1234567Z", "0999-12-31T23:59:59.5000000Z"],
    ["2007-01-01T00:00:00Z", "2007-01-01T00:00:00.5Z", "2007-01-01T00:00:00+02:00"],
    ["2007-01-01 00:00:00.1234567Z", "2007-01-01T00:00:00.123456xZ"],
    ["2007-01-01T00:00:00.1234567Z", "2007-W01-1T00:00:00.1234567Z"],
    ["2007-01-01T00:00:00.1234567Z", "2007-01-01T00:00:00.123456xZ"],
    ["2007-01-01T00:00:00.1234567Z", "2007-01-01T00:00:00,1234567Z"],
]


def raw_rows(rows: list[list[Any]]) -> list[list[Any]]:
    """Rows as the fast reader hands them over: what orjson reads of their JSON."""
    import orjson

    return list(orjson.loads(json.dumps(rows)))


def batch_of(rows: list[list[Any]], columns: list[tuple[str, str]] = COLUMNS) -> JsonRows:
    cols = [Column(n, t) for n, t in columns]
    funcs = converters()
    return JsonRows(cols, raw_rows(rows), {i: funcs[c.type] for i, c in enumerate(cols)
                                           if c.type in funcs})


def typed_csv(columns: list[Column], rows: list[list[Any]]) -> bytes:
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow([c.name for c in columns])
    writer.writerows([cell_text(v) for v in row] for row in rows)
    return text.getvalue().encode("utf-8")


@pytest.mark.parametrize("keep_rows", [False, True])
def test_the_csv_from_raw_values_is_cell_text_of_the_typed_ones(keep_rows: bool) -> None:
    rows = (ROWS + TRICKY) * 3
    expected = [list(row) for row in KustoResponseDataSetV2(
        json.loads(payload(rows))).primary_results[0]]
    capture = RenderCapture(head_rows=7, keep_rows=keep_rows)
    batch = batch_of(rows)
    capture.begin_table("PrimaryResult", batch.columns, True)
    typed_first = batch_of(rows[:4])
    typed_first.typed()  # a batch a sink before it already converted
    capture.add_json_rows(typed_first)
    capture.add_json_rows(batch_of(rows[4:]))
    capture.begin_table("PrimaryResult_1", batch.columns, True)  # only the first is rendered
    capture.add_json_rows(batch_of(rows))
    assert capture.csv_bytes() == typed_csv(batch.columns, expected)
    assert capture.total == len(rows)
    assert_same([list(r) for r in capture.head], expected[:7])
    assert_same([list(r) for r in capture.rows], expected if keep_rows else [])


@pytest.mark.parametrize("values", DATETIMES)
def test_datetime_cells_are_cell_text_of_the_converted_value(values: list[Any]) -> None:
    columns = [("dt", "datetime"), ("n", "long")]
    rows = [[v, i] for i, v in enumerate(values)]
    capture = RenderCapture(head_rows=0, keep_rows=False)
    capture.begin_table("PrimaryResult", [Column(n, t) for n, t in columns], True)
    capture.add_json_rows(batch_of(rows, columns))
    typed = [[None if v is None else to_datetime(v), i] for i, v in enumerate(values)]
    assert capture.csv_bytes() == typed_csv([Column(n, t) for n, t in columns], typed)


def test_a_datetime_the_sdk_cannot_read_fails_the_csv_as_it_failed_the_rows() -> None:
    columns = [("dt", "datetime")]
    capture = RenderCapture(head_rows=0, keep_rows=False)
    capture.begin_table("PrimaryResult", [Column("dt", "datetime")], True)
    for bad in ("2007-02-30T00:00:00.0000000Z", "2007-01-01T00:00:00.12345a7Z"):
        with pytest.raises(ValueError):
            to_datetime(bad)
        with pytest.raises(ValueError):
            capture.add_json_rows(batch_of([["2007-01-01T00:00:00.0000000Z"], [bad]], columns))


def test_floats_the_json_module_read_print_as_kusto_prints_them() -> None:
    # A control command's result is read by the json module, which reads bare NaN.
    columns = [Column("r", "real"), Column("s", "string")]
    rows: list[list[Any]] = [[math.nan, "a"], [math.inf, None], [-math.inf, "b"], [1.5, ""]]
    capture = RenderCapture(head_rows=0, keep_rows=False)
    capture.begin_table("PrimaryResult", columns, True)
    capture.add_json_rows(JsonRows(columns, [list(r) for r in rows], {}, finite_floats=False))
    assert capture.csv_bytes() == typed_csv(columns, rows)
    assert b"NaN" in typed_csv(columns, rows)


def test_limits_count_raw_batches_as_they_counted_typed_rows() -> None:
    rows = (ROWS + TRICKY) * 3
    typed = batch_of(rows).typed()
    assert batch_of(rows).estimate_bytes() == sum(estimate_row_bytes(r) for r in typed)
    for max_records, max_bytes in ((10**6, 10**9), (len(rows) - 1, 10**9), (10**6, 900)):
        results = []
        for feed in ("typed", "raw"):
            guarded = GuardedSink(CollectSink(), max_records, max_bytes)
            guarded.begin_table("PrimaryResult", batch_of(rows).columns, True)
            try:
                for start in range(0, len(rows), 4):
                    part = rows[start:start + 4]
                    if feed == "raw":
                        guarded.add_json_rows(batch_of(part))
                    else:
                        guarded.add_rows(batch_of(part).typed())
                outcome = "read"
            except LimitExceeded as exc:
                outcome = str(exc)
            results.append((outcome, guarded.records, guarded.bytes))
        assert results[0] == results[1]


# -- against the local Kusto endpoint -------------------------------------------------

QUERY = ('print s="a", l=long(5), i=int(3), r=real(nan), ri=real(+inf), rn=real(-inf), '
         'rr=2.5, d=decimal(1.5), b=true, bn=bool(null), '
         'dt=datetime(2007-01-01T00:00:00.123456Z), dn=datetime(null), '
         'ts=time(1.02:03:04.123456), tn=-time(1.02:03:04.5), '
         'dy=dynamic({"a":[1,2.5,{"b":null}],"c":"x"}), '
         'g=guid(74be27de-1e4e-49d9-b579-fe0b331d3642)')


@pytest.fixture(scope="module")
def client(kusto_server: Any) -> Iterator[KustoClient]:
    kusto = KustoClient(KustoConnectionStringBuilder.with_no_authentication(kusto_server.url))
    yield kusto
    kusto.close()


@pytest.mark.parametrize("query", [QUERY, "StormEvents | take 300"])
def test_a_server_result_reads_as_the_raw_clients_execute_reads_it(
        client: KustoClient, kusto_server: Any, query: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    taken: list[str] = []
    original = azure_backend.primary_rows

    def spy(response: Any, table: Any, tap: Any) -> Any:
        batches = original(response, table, tap)
        taken.append(reader_of(batches))
        return batches

    monkeypatch.setattr(azure_backend, "primary_rows", spy)
    expected = [list(row) for row in client.execute("Samples", query).primary_results[0]]
    sink = CollectSink()
    AzureKustoBackend(kusto_server.url).execute(KustoRequest("Samples", query), sink)
    assert sink.primary is not None
    ours = [list(row.values()) for row in sink.primary.rows]
    assert_same(ours, expected)
    assert taken == ["fast"]


@pytest.mark.parametrize("query", [QUERY, "StormEvents | take 300"])
def test_a_server_result_writes_the_csv_of_the_raw_clients_rows(
        client: KustoClient, kusto_server: Any, query: str) -> None:
    expected = [list(row) for row in client.execute("Samples", query).primary_results[0]]
    capture = RenderCapture(head_rows=5, keep_rows=False)
    guarded = GuardedSink(capture, 10**6, 10**9)
    AzureKustoBackend(kusto_server.url).execute(KustoRequest("Samples", query), guarded)
    assert capture.csv_bytes() == typed_csv(capture.columns, expected)
    assert_same([list(r) for r in capture.head], expected[:5])
    assert guarded.records == len(expected)
    assert guarded.bytes == sum(estimate_row_bytes(r) for r in expected)
