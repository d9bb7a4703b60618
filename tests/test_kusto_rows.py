"""Rows read by the Azure backend are the very rows the raw azure-kusto-data client
gives, value for value and type for type.

The backend reads the primary table's rows straight from the ijson event stream
under the SDK's streaming reader, and converts datetimes with
`datetime.fromisoformat` instead of the SDK's dateutil parser: both only to make
reading faster (the SDK's pure-Python token reader was most of the client-side
time). These tests pin that nothing else changes: every Kusto type (7-digit
fractions, NaN as Kusto sends it, nulls, nested dynamic values) comes out as
`KustoClient.execute` gives it, an error in place of a row raises what the SDK
raises, and the fast path is really taken with the pinned SDK (a silent fallback to
the slow reader would otherwise go unnoticed).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, timedelta
from decimal import Decimal
from typing import Any

import pytest
from azure.kusto.data import KustoClient, KustoConnectionStringBuilder
from azure.kusto.data._models import KustoResultRow
from azure.kusto.data.exceptions import KustoMultiApiError
from azure.kusto.data.response import KustoResponseDataSetV2, KustoStreamingResponseDataSet
from azure.kusto.data.streaming_response import JsonTokenReader, StreamingDataSetEnumerator

from shared.kusto import azure_backend
from shared.kusto.azure_backend import AzureKustoBackend, _feed, _primary_rows, _to_datetime
from shared.kusto.backend import KustoRequest
from shared.kusto.reader import CollectSink

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
#: What a cluster puts in place of a row when the query fails while it streams.
ERROR = {"OneApiErrors": [{"error": {
    "code": "LimitsExceeded", "message": "Request is invalid and cannot be executed.",
    "@type": "Kusto.DataNode.Exceptions.KustoQueryRunawayException",
    "@message": "query memory limit exceeded", "@permanent": True,
    "innererror": {"code": "x", "details": [1, {"y": None}]}}}]}


def payload(rows: list[Any]) -> bytes:
    """A v2 query response as a cluster streams it: header, properties, the
    primary table, completion information, completion."""
    frames = [
        {"FrameType": "DataSetHeader", "IsProgressive": False, "Version": "v2.0"},
        {"FrameType": "DataTable", "TableId": 0, "TableKind": "QueryProperties",
         "TableName": "@ExtendedProperties",
         "Columns": [{"ColumnName": "TableId", "ColumnType": "int"},
                     {"ColumnName": "Key", "ColumnType": "string"},
                     {"ColumnName": "Value", "ColumnType": "dynamic"}],
         "Rows": [[1, "Visualization", "{\"Visualization\": null}"]]},
        {"FrameType": "DataTable", "TableId": 1, "TableKind": "PrimaryResult",
         "TableName": "PrimaryResult",
         "Columns": [{"ColumnName": n, "ColumnType": t} for n, t in COLUMNS], "Rows": rows},
        {"FrameType": "DataTable", "TableId": 2, "TableKind": "QueryCompletionInformation",
         "TableName": "QueryCompletionInformation",
         "Columns": [{"ColumnName": "Level", "ColumnType": "int"},
                     {"ColumnName": "Payload", "ColumnType": "string"}],
         "Rows": [[4, "{}"]]},
        {"FrameType": "DataSetCompletion", "HasErrors": False, "Cancelled": False},
    ]
    return json.dumps(frames).encode()


def streaming(data: bytes) -> KustoStreamingResponseDataSet:
    """What `execute_streaming_query` returns, over these bytes."""
    return KustoStreamingResponseDataSet(
        StreamingDataSetEnumerator(JsonTokenReader(io.BytesIO(data))))


def backend_rows(response: Any) -> tuple[CollectSink, list[list[Any]]]:
    sink = _ListSink()
    for table in response.iter_primary_results():
        _feed(table, _primary_rows(response, table), sink)
    return sink, sink.rows


class _ListSink(CollectSink):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[Any]] = []

    def add_rows(self, rows: Any) -> None:
        self.rows.extend(list(row) for row in rows)


def assert_same(ours: list[list[Any]], theirs: list[list[Any]]) -> None:
    assert len(ours) == len(theirs)
    for row, expected in zip(ours, theirs, strict=True):
        assert len(row) == len(expected)
        for value, want in zip(row, expected, strict=True):
            assert type(value) is type(want), (value, want)
            assert value == want, (value, want)
            if hasattr(want, "utcoffset") and want.tzinfo is not None:
                assert value.utcoffset() == want.utcoffset() == timedelta(0)


def test_every_kusto_type_reads_as_the_raw_clients_execute_reads_it() -> None:
    data = payload(ROWS)
    execute = KustoResponseDataSetV2(json.loads(data)).primary_results[0]
    expected = [list(row) for row in execute]
    _, ours = backend_rows(streaming(data))
    assert_same(ours, expected)
    assert isinstance(ours[0][4], Decimal) and isinstance(ours[0][7], timedelta)
    assert ours[0][6].tzinfo is UTC and ours[0][6].microsecond == 123456


def test_the_sdks_own_streaming_rows_match_too_and_the_rest_of_the_stream_still_reads() -> None:
    sdk = streaming(payload(ROWS))
    expected = [list(row) for table in sdk.iter_primary_results() for row in table]
    response = streaming(payload(ROWS))
    _, ours = backend_rows(response)
    assert_same(ours, expected)
    # The frames after the rows are read by the SDK as before.
    assert [t.table_name for t in response.tables] == [
        "@ExtendedProperties", "PrimaryResult", "QueryCompletionInformation"]
    assert response.finished and response.errors_count == 0


def test_the_fast_reader_is_the_one_used_with_the_pinned_sdk() -> None:
    response = streaming(payload(ROWS))
    table = next(response.iter_primary_results())
    rows = _primary_rows(response, table)
    assert getattr(rows, "gi_code", None) is azure_backend._event_rows.__code__


def test_an_sdk_whose_internals_differ_falls_back_to_its_own_rows() -> None:
    response = streaming(payload(ROWS))
    table = next(response.iter_primary_results())
    next(table.raw_rows)  # the SDK's row generator already started: not ours to take over
    rows = _primary_rows(response, table)
    assert rows is table.raw_rows
    assert len(list(rows)) == len(ROWS) - 1


def test_an_error_in_place_of_a_row_raises_what_the_sdk_raises() -> None:
    data = payload([ROWS[0], ROWS[1], ERROR, ROWS[2]])
    with pytest.raises(KustoMultiApiError) as sdk_error:
        for table in streaming(data).iter_primary_results():
            list(table)
    sink = _ListSink()
    response = streaming(data)
    with pytest.raises(KustoMultiApiError) as our_error:
        for table in response.iter_primary_results():
            _feed(table, _primary_rows(response, table), sink)
    assert str(our_error.value) == str(sdk_error.value)
    assert [e.__dict__ for e in our_error.value.get_api_errors()] == [
        e.__dict__ for e in sdk_error.value.get_api_errors()]
    assert our_error.value.get_api_errors()[0].code == "LimitsExceeded"


def test_a_stream_cut_off_mid_row_is_a_parsing_error_as_in_the_sdk() -> None:
    data = payload(ROWS)
    cut = data[:data.index(b"1999-12-31")]
    response = streaming(cut)
    with pytest.raises(Exception) as error:
        backend_rows(response)
    assert type(error.value).__name__ == "KustoTokenParsingError"


@pytest.mark.parametrize("text", [
    "2007-01-01T00:00:00.1234567Z", "2007-01-01T00:00:00.9999999Z", "2007-01-01T00:00:00Z",
    "2007-01-01T00:00:00.5Z", "2007-01-01T00:00:00.123Z", "2007-01-01T00:00:00.0000000Z",
    "0001-01-01T00:00:00.0000000Z", "9999-12-31T23:59:59.9999999Z",
    "2007-01-01T00:00:00+02:00", "2007-01-01", "2007-01-01T00:00:00.12345678Z",
])
def test_datetimes_convert_as_the_sdk_converts_them(text: str) -> None:
    ours = _to_datetime(text)
    theirs = KustoResultRow.get_typed_value("datetime", text)
    assert ours == theirs and ours.utcoffset() == theirs.utcoffset()
    if text.endswith("Z"):
        assert ours.tzinfo is UTC


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
    taken: list[Any] = []
    original = azure_backend._primary_rows

    def spy(response: Any, table: Any) -> Any:
        rows = original(response, table)
        taken.append(getattr(rows, "gi_code", None) is azure_backend._event_rows.__code__)
        return rows

    monkeypatch.setattr(azure_backend, "_primary_rows", spy)
    expected = [list(row) for row in client.execute("Samples", query).primary_results[0]]
    sink = CollectSink()
    AzureKustoBackend(kusto_server.url).execute(KustoRequest("Samples", query), sink)
    assert sink.primary is not None
    ours = [list(row.values()) for row in sink.primary.rows]
    assert_same(ours, expected)
    assert taken == [True]
