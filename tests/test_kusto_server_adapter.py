"""The local Kusto endpoint really behaves like a cluster for azure-kusto-data.

Production code talks to Kusto through the real `azure-kusto-data` client, and the
tests point that same client at `tests.kusto_server` (duckdb-kql's REST server plus
a small adapter). duckdb-kql 1.1.2's server silently dropped what the SDK sends in
`properties` (a JSON string, not an object), so query parameters and
`servertimeout` never arrived, and a test could pass against a server that ignored
them. These tests drive the real client and prove that parameters of every
declared type and the server time-out reach the engine; they also pin down the
errors the client sees (time-out, syntax error, unknown table, server down,
`.drop table`), which is what the production error mapping is written against.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import duckdb_kql
import pytest
from azure.kusto.data import ClientRequestProperties, KustoClient, KustoConnectionStringBuilder
from azure.kusto.data.exceptions import KustoApiError, KustoNetworkError, KustoServiceError
from duckdb_kql.server import KustoRestServer

from tests.fixtures_kusto import KustoServer, start_kusto_server, stop_kusto_server
from tests.kusto_server import literal_value

DB = "Samples"
GUID = uuid.UUID("74be27de-1e4e-49d9-b579-fe0b331d3642")

#: A cross join of 10^10 rows: ~5 s per 1.6 * 10^9 rows on the 2-core dev box
#: (measured), so minutes in full - far past any 1 s deadline on any machine.
SLOW_QUERY = (
    "range a from 1 to 100000 step 1 | extend k = 1"
    " | join kind=inner (range b from 1 to 100000 step 1 | extend k = 1) on k"
    " | summarize c = count()"
)


@pytest.fixture(scope="module")
def client(kusto_server: KustoServer) -> Iterator[KustoClient]:
    kusto = KustoClient(KustoConnectionStringBuilder.with_no_authentication(kusto_server.url))
    yield kusto
    kusto.close()


def _properties(
    parameters: dict[str, str] | None = None, options: dict[str, Any] | None = None
) -> ClientRequestProperties:
    properties = ClientRequestProperties()
    for name, value in (parameters or {}).items():
        properties.set_parameter(name, value)
    for name, value in (options or {}).items():
        properties.set_option(name, value)
    return properties


def _rows(client: KustoClient, csl: str, **parameters: str) -> list[list[Any]]:
    result = client.execute(DB, csl, _properties(parameters))
    return [list(row) for row in result.primary_results[0]]


def _count(client: KustoClient, csl: str, **parameters: str) -> int:
    return int(_rows(client, csl + " | count", **parameters)[0][0])


# -- query parameters reach the server --------------------------------------------


def test_string_and_long_parameters_filter_like_the_same_query_with_literals(client):
    total = _count(client, "StormEvents")
    literal = _count(client, "StormEvents | where State == 'TEXAS' and InjuriesDirect >= 1")
    parameterized = _count(
        client,
        "declare query_parameters(state:string, n:long);"
        " StormEvents | where State == state and InjuriesDirect >= n",
        state="TEXAS",
        n="1",
    )
    assert parameterized == literal
    assert 0 < literal < total  # the filter filtered: a dropped parameter could not pass


@pytest.mark.parametrize(
    ("declaration", "predicate", "value", "literal_predicate"),
    [
        (
            "t:datetime",
            "StartTime >= t",
            "datetime(2007-07-01T00:00:00.0000000Z)",
            "StartTime >= datetime(2007-07-01)",
        ),
        (
            "s:timespan",
            "EndTime - StartTime > s",
            "timespan(0.05:00:00.0000000)",
            "EndTime - StartTime > 5h",
        ),
        ("s:timespan", "EndTime - StartTime > s", "time(5h)", "EndTime - StartTime > 5h"),
        ("s:timespan", "EndTime - StartTime > s", "5h", "EndTime - StartTime > 5h"),
        ("s:timespan", "EndTime - StartTime > s", "05:00:00", "EndTime - StartTime > 5h"),
        ("b:bool", "(InjuriesDirect > 0) == b", "true", "InjuriesDirect > 0"),
        ("b:bool", "(InjuriesDirect > 0) == b", "false", "InjuriesDirect == 0"),
        ("r:real", "BeginLat > r", "40.5", "BeginLat > 40.5"),
        ("d:dynamic", "State in (d)", 'dynamic(["TEXAS", "IOWA"])', "State in ('TEXAS', 'IOWA')"),
    ],
    ids=[
        "datetime",
        "timespan",
        "time",
        "bare-1d-form",
        "clock-form",
        "bool-true",
        "bool-false",
        "real",
        "dynamic",
    ],
)
def test_a_typed_parameter_filters_like_the_same_literal(
    client, declaration, predicate, value, literal_predicate
):
    total = _count(client, "StormEvents")
    literal = _count(client, f"StormEvents | where {literal_predicate}")
    name = declaration.split(":")[0]
    parameterized = _count(
        client,
        f"declare query_parameters({declaration}); StormEvents | where {predicate}",
        **{name: value},
    )
    assert parameterized == literal
    assert 0 < literal < total


def test_guid_and_decimal_parameters_arrive_as_their_values(client):
    rows = _rows(
        client,
        "declare query_parameters(g:guid, m:decimal); print g = g, m = m",
        g=f"guid({GUID})",
        m="decimal(1.5)",
    )
    assert rows == [[str(GUID), Decimal("1.5")]]


def test_a_string_parameter_is_a_value_never_query_text(client):
    sneaky = "TEXAS' or 1 == 1 or State == '"
    assert _rows(client, "declare query_parameters(s:string); print s = s", s=sneaky) == [[sneaky]]


def test_a_value_that_is_not_its_declared_type_is_refused_by_the_server(client):
    with pytest.raises(KustoApiError, match="declared long"):
        _rows(client, "declare query_parameters(n:long); print n", n="abc")


@pytest.mark.parametrize(
    ("text", "kind", "expected"),
    [
        ("123", "long", 123),
        ("long(null)", "long", None),
        ("1.5", "real", 1.5),
        ("decimal(1.5)", "decimal", Decimal("1.5")),
        ("false", "bool", False),
        ("datetime(2024-01-01T00:00:00.0000000Z)", "datetime", dt.datetime(2024, 1, 1)),
        ("timespan(1.02:03:04.5000000)", "timespan", dt.timedelta(1, 7384.5)),
        ("1d", "timespan", dt.timedelta(days=1)),
        ('dynamic({"a": [1]})', "dynamic", '{"a": [1]}'),
        ("guid(74be27de-1e4e-49d9-b579-fe0b331d3642)", "guid", str(GUID)),
        ("dynamic(x)", "string", "dynamic(x)"),  # a string is sent raw: never unwrapped
        ("abc", "long", "abc"),  # unreadable: left for the binder to refuse
    ],
)
def test_the_adapter_reads_each_kql_literal_form_the_sdk_sends(text, kind, expected):
    assert literal_value(text, kind) == expected


# -- servertimeout reaches the server ---------------------------------------------


def test_servertimeout_stops_a_slow_query_with_a_timeout_error_from_the_server(client):
    started = time.monotonic()
    one_second = _properties(options={"servertimeout": dt.timedelta(seconds=1)})
    with pytest.raises(KustoApiError) as caught:
        client.execute(DB, SLOW_QUERY, one_second)
    elapsed = time.monotonic() - started

    assert elapsed < 5, f"the server ran past its deadline ({elapsed:.1f}s)"
    assert "timed out" in str(caught.value) and "servertimeout" in str(caught.value)
    assert caught.value.http_response.status_code == 400
    assert caught.value.get_api_error().code == "General_BadRequest"
    # The deadline was the request's, not the connection's: the next query runs.
    assert _rows(client, "print x = 1") == [[1]]


@pytest.fixture(scope="module")
def unadapted_url() -> Iterator[str]:
    """duckdb-kql's own server, as shipped: the contrast for the test below."""
    con = duckdb_kql.connect()
    server = KustoRestServer(con, port=0, quiet=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.url
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
        con.close()


def test_without_the_adapter_the_sdks_timeout_and_parameters_are_silently_dropped(
    client, unadapted_url
):
    # A deadline of 1 us passes during translation, so an honoured one always fires.
    instant = _properties({"n": "5"}, {"servertimeout": dt.timedelta(microseconds=1)})
    query = "declare query_parameters(n:long = 1); print n = n"

    plain = KustoClient(KustoConnectionStringBuilder.with_no_authentication(unadapted_url))
    try:
        answer = plain.execute_query("default", query, instant)
    finally:
        plain.close()
    assert [list(row) for row in answer.primary_results[0]] == [[1]]  # default n, no timeout

    with pytest.raises(KustoApiError, match="timed out"):
        client.execute_query(DB, query, instant)


# -- other ways in ----------------------------------------------------------------


def test_streaming_query_yields_the_primary_results_with_parameters(client):
    expected = _count(client, "StormEvents | where State == 'IOWA'")
    streamed = client.execute_streaming_query(
        DB,
        "declare query_parameters(state:string); StormEvents | where State == state"
        " | project EventId, State",
        properties=_properties({"state": "IOWA"}),
    )
    rows = [list(row) for table in streamed.iter_primary_results() for row in table]
    assert len(rows) == expected > 0
    assert {state for _, state in rows} == {"IOWA"}


def test_a_benchmark_server_has_bench_rows_and_accepts_writes():
    # Its own server, so the write cannot leak into the session's sample database.
    process, url = start_kusto_server(bench_rows=1000)
    kusto = KustoClient(KustoConnectionStringBuilder.with_no_authentication(url))
    try:
        bench = kusto.execute_query(DB, "Bench | where Id < 2").primary_results[0]
        assert [(c.column_name, c.column_type) for c in bench.columns] == [
            ("Timestamp", "datetime"),
            ("Host", "string"),
            ("Category", "string"),
            ("Id", "long"),
            ("Count", "long"),
            ("Latency", "real"),
            ("Ratio", "real"),
            ("Flag", "bool"),
        ]
        assert [row["Host"] for row in bench] == ["host-000", "host-001"]  # deterministic
        assert _count(kusto, "Bench") == 1000

        kusto.execute_mgmt(
            DB, ".set-or-append JobLog <| print Timestamp = now(), Job = 'bench', RowCount = 3"
        )  # what example flows run
        assert _rows(kusto, "JobLog | project Job, RowCount") == [["bench", 3]]
    finally:
        kusto.close()
        stop_kusto_server(process)


# -- the errors the client sees (the production error mapping relies on these) ----


def _api_error(client: KustoClient, csl: str, *, mgmt: bool = False) -> KustoApiError:
    run = client.execute_mgmt if mgmt else client.execute_query
    with pytest.raises(KustoApiError) as caught:
        run(DB, csl)
    assert caught.value.http_response.status_code == 400
    return caught.value


def test_a_syntax_error_is_a_400_api_error_naming_the_position(client):
    error = _api_error(client, "StormEvents | wher State == 'X'")
    assert error.get_api_error().code == "General_BadRequest"
    assert str(error).startswith("could not parse KQL at 1:12")


def test_an_unknown_table_is_a_400_api_error_from_the_catalog(client):
    error = _api_error(client, "NoSuchTable | take 1")
    assert error.get_api_error().code == "General_BadRequest"
    assert "Table with name NoSuchTable does not exist" in str(error)


def test_an_unknown_database_is_a_404_reported_as_a_missing_endpoint(client):
    with pytest.raises(KustoServiceError) as caught:
        client.execute_query("NoSuchDb", "print 1")
    assert type(caught.value) is KustoServiceError
    assert caught.value.http_response.status_code == 404
    assert "does not exist" in str(caught.value)


def test_a_server_that_is_down_is_a_network_error(stopped_kusto_url):
    down = KustoClient(KustoConnectionStringBuilder.with_no_authentication(stopped_kusto_url))
    try:
        with pytest.raises(KustoNetworkError, match="Failed to process network request"):
            down.execute_query(DB, "print 1")
    finally:
        down.close()


def test_drop_table_is_refused_as_unsupported_even_with_writes_allowed(client):
    error = _api_error(client, ".drop table JobLog", mgmt=True)
    assert error.get_api_error().code == "Forbidden"
    assert "unsupported KQL construct" in str(error)
    assert _count(client, "JobLog") >= 0  # still there


def test_the_v2_response_does_not_carry_the_render_hint(client):
    result = client.execute_query(
        DB, "StormEvents | summarize c = count() by State | render columnchart"
    )
    [properties] = [t for t in result.tables if t.table_name == "@ExtendedProperties"]
    [[_, key, value]] = [list(row) for row in properties]
    assert key == "Visualization"
    assert '"Visualization": null' in value  # the chart kind is not reported
