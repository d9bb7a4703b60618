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

The adapter also adds Kusto's async control commands (`tests.kusto_async`): an
async command answers one OperationId at once, `.show operations <id>` reports it
InProgress for N polls and then Completed / Failed (the engine's error text in
Status) / a state a test forced, and `.show operation <id> details` returns the
result; the tests at the end drive that through the real client.
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
from tests.kusto_async import DEFAULT_POLLS
from tests.kusto_server import AdaptedServer, build, literal_value

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


# -- async control commands (tests.kusto_async) -----------------------------------
#
# duckdb-kql refuses `async`; the adapter adds Kusto's documented behaviour: the
# submit answers one OperationId, `.show operations <id>` is InProgress for the
# first N polls and then final, `.show operation <id> details` is the result.

#: `.show operations`, in Kusto's order: show-operations.md plus the full declaration
#: in Kusto.Language's EngineCommands.cs (see tests/kusto_async.py).
SHOW_OPERATIONS = [
    ("OperationId", "guid"),
    ("Operation", "string"),
    ("NodeId", "string"),
    ("StartedOn", "datetime"),
    ("LastUpdatedOn", "datetime"),
    ("Duration", "timespan"),
    ("State", "string"),
    ("Status", "string"),
    ("RootActivityId", "guid"),
    ("ShouldRetry", "bool"),
    ("Database", "string"),
    ("Principal", "string"),
    ("User", "string"),
    ("AdminEpochStartTime", "datetime"),
    ("VirtualCluster", "string"),
]
#: The session server's InProgress polls (its default).
POLLS = DEFAULT_POLLS


def _new_table() -> str:
    return f"Async_{uuid.uuid4().hex[:12]}"


def _columns(table: Any) -> list[tuple[str, str]]:
    return [(c.column_name, c.column_type) for c in table.columns]


def _submit(client: KustoClient, csl: str, properties: Any = None) -> str:
    """Run an async command; its answer must be one guid OperationId, one row."""
    table = client.execute_mgmt(DB, csl, properties).primary_results[0]
    assert _columns(table) == [("OperationId", "guid")]
    [[operation_id]] = [list(row) for row in table]
    return str(uuid.UUID(operation_id))


def _poll(client: KustoClient, operation_id: str) -> dict[str, Any]:
    table = client.execute_mgmt(DB, f".show operations {operation_id}").primary_results[0]
    assert _columns(table) == SHOW_OPERATIONS
    [row] = [row.to_dict() for row in table]
    return row


def _poll_to_the_end(client: KustoClient, operation_id: str, polls: int = POLLS) -> dict[str, Any]:
    """Poll *polls* times (each InProgress), then once more for the final row."""
    for _ in range(polls):
        row = _poll(client, operation_id)
        assert (row["State"], row["Status"]) == ("InProgress", "")
    final = _poll(client, operation_id)
    assert final["State"] != "InProgress"
    return final


def _table_exists(client: KustoClient, table: str) -> bool:
    shown = client.execute_mgmt(DB, f".show tables | where TableName == '{table}'")
    return len(shown.primary_results[0]) == 1


def test_an_async_set_or_append_answers_one_operation_id_at_once(client):
    table = _new_table()
    operation_id = _submit(client, f".set-or-append async {table} <| print Job = 'a', N = 1")
    first = _poll(client, operation_id)
    assert first["OperationId"] == operation_id
    assert first["State"] == "InProgress"  # answered before any poll saw it finish


def test_show_operations_is_in_progress_for_n_polls_then_completed_and_rows_land_once(client):
    table = _new_table()
    operation_id = _submit(
        client, f'.set-or-append async {table} <| datatable(Job:string, N:long) ["a", 1, "b", 2]'
    )
    states = [_poll(client, operation_id)["State"] for _ in range(POLLS + 2)]
    assert states == ["InProgress"] * POLLS + ["Completed", "Completed"]

    row = _poll(client, operation_id)
    assert row["OperationId"] == operation_id
    assert row["Operation"] == "TableSetOrAppend"
    assert (row["Status"], row["NodeId"], row["ShouldRetry"]) == ("", "", False)
    assert row["Database"] == DB
    assert row["StartedOn"] <= row["LastUpdatedOn"]
    assert row["Duration"] == row["LastUpdatedOn"] - row["StartedOn"]
    assert str(uuid.UUID(row["RootActivityId"])) == row["RootActivityId"]
    assert isinstance(row["AdminEpochStartTime"], dt.datetime)

    # Written exactly once, by the submit; polling and details write nothing.
    client.execute_mgmt(DB, f".show operation {operation_id} details")
    assert _rows(client, f"{table} | order by N asc") == [["a", 1], ["b", 2]]


def test_show_operation_details_returns_the_wrapped_commands_result(client):
    table = _new_table()
    operation_id = _submit(client, f".set-or-append async {table} <| range N from 1 to 3 step 1")
    _poll_to_the_end(client, operation_id)
    details = client.execute_mgmt(DB, f".show operation {operation_id} details").primary_results[0]
    # The synchronous `.set-or-append`'s own result: one row per extent written.
    assert [c.column_name for c in details.columns] == [
        "ExtentId",
        "OriginalSize",
        "ExtentSize",
        "CompressedSize",
        "IndexSize",
        "RowCount",
    ]
    [extent] = [row.to_dict() for row in details]
    assert extent["RowCount"] == 3


def test_details_before_completion_are_refused(client):
    operation_id = _submit(client, f".set-or-append async {_new_table()} <| print N = 1")
    with pytest.raises(KustoApiError, match="has not completed"):
        client.execute_mgmt(DB, f".show operation {operation_id} details")


def test_a_failing_async_command_ends_failed_with_the_engines_error_text(client):
    table = _new_table()
    client.execute_mgmt(DB, f".set-or-append {table} <| print N = 1, Job = 'kept'")
    wrong = f".append {table} <| print N = 'not a long'"
    synchronous = _api_error(client, wrong, mgmt=True)  # the same command, not async

    operation_id = _submit(client, wrong.replace(".append", ".append async", 1))
    final = _poll_to_the_end(client, operation_id)

    assert final["State"] == "Failed"
    assert final["Status"] == str(synchronous)
    assert "Query schema does not match table schema" in final["Status"]
    assert final["Operation"] == "TableAppend"
    assert _rows(client, table) == [[1, "kept"]]  # untouched
    with pytest.raises(KustoApiError, match="ended Failed"):
        client.execute_mgmt(DB, f".show operation {operation_id} details")


def test_an_unknown_operation_id_answers_an_empty_table(client):
    unknown = str(uuid.uuid4())
    table = client.execute_mgmt(DB, f".show operations {unknown}").primary_results[0]
    assert _columns(table) == SHOW_OPERATIONS
    assert len(table) == 0

    known = _submit(client, f".set-or-append async {_new_table()} <| print N = 1")
    listed = client.execute_mgmt(DB, f".show operations ({unknown}, {known})")
    assert [row["OperationId"] for row in listed.primary_results[0]] == [known]

    with pytest.raises(KustoApiError, match="was not found"):
        client.execute_mgmt(DB, f".show operation {unknown} details")


@pytest.mark.parametrize("state", ["Failed", "Abandoned", "Cancelled"])
def test_a_forced_outcome_ends_in_that_state_and_writes_nothing(client, state):
    table = _new_table()
    operation_id = _submit(
        client,
        f".set-or-append async {table} <| print N = 1 // async-outcome: {state}: forced by {state}",
    )
    final = _poll_to_the_end(client, operation_id)
    assert (final["State"], final["Status"]) == (state, f"forced by {state}")
    assert not _table_exists(client, table)  # the command never ran


def test_an_unknown_forced_outcome_is_refused_at_once(client):
    table = _new_table()
    with pytest.raises(KustoApiError, match="not a state a test can force"):
        client.execute_mgmt(
            DB, f".set-or-append async {table} <| print N = 1 // async-outcome: Sideways"
        )
    assert not _table_exists(client, table)


def test_an_async_export_runs_its_query_and_its_details_name_one_artifact(client):
    operation_id = _submit(
        client,
        ".export async compressed to csv ("
        ' h@"https://account.blob.core.windows.net/exports;secretKey"'
        ' ) with (namePrefix="storms", includeHeaders="all")'
        " <| StormEvents | where State == 'IOWA'",
    )
    final = _poll_to_the_end(client, operation_id)
    assert (final["State"], final["Operation"]) == ("Completed", "DataExportToFile")
    details = client.execute_mgmt(DB, f".show operation {operation_id} details").primary_results[0]
    assert _columns(details) == [("Path", "string"), ("NumRecords", "long")]
    [[path, records]] = [list(row) for row in details]
    assert path.startswith("https://account.blob.core.windows.net/exports/storms_1_")
    assert path.endswith(".csv.gz") and "secretKey" not in path
    assert records == _count(client, "StormEvents | where State == 'IOWA'") > 0


def test_an_async_export_of_a_bad_query_ends_failed(client):
    operation_id = _submit(client, ".export async to csv ('https://a/b') <| NoSuchTable")
    final = _poll_to_the_end(client, operation_id)
    assert final["State"] == "Failed"
    assert "Table with name NoSuchTable does not exist" in final["Status"]


def test_an_async_ingest_ends_failed_with_the_librarys_refusal(client):
    operation_id = _submit(
        client, ".ingest async into table JobLog (h'https://a/b.csv') with (format='csv')"
    )
    final = _poll_to_the_end(client, operation_id)
    assert (final["State"], final["Operation"]) == ("Failed", "DataIngestPull")
    assert "unsupported KQL construct" in final["Status"]


def test_operators_piped_on_show_operations_run_over_its_rows_and_poll(client):
    operation_id = _submit(client, f".set-or-append async {_new_table()} <| print N = 1")
    piped = f".show operations | where OperationId == guid({operation_id}) | project State, Status"
    states = [
        [list(row) for row in client.execute_mgmt(DB, piped).primary_results[0]]
        for _ in range(POLLS + 1)
    ]
    assert states == [[["InProgress", ""]]] * POLLS + [[["Completed", ""]]]


def test_a_read_only_request_refuses_an_async_write_at_once(client):
    table = _new_table()
    read_only = _properties(options={"request_readonly": True})
    with pytest.raises(KustoApiError, match="read-only"):
        client.execute_mgmt(DB, f".set-or-append async {table} <| print N = 1", read_only)
    assert not _table_exists(client, table)


def test_async_polls_is_a_server_flag():
    process, url = start_kusto_server(async_polls=0)
    kusto = KustoClient(KustoConnectionStringBuilder.with_no_authentication(url))
    try:
        operation_id = _submit(kusto, f".set-or-append async {_new_table()} <| print N = 1")
        assert _poll(kusto, operation_id)["State"] == "Completed"  # no InProgress poll
    finally:
        kusto.close()
        stop_kusto_server(process)


@pytest.fixture
def in_process() -> Iterator[AdaptedServer]:
    """An adapted server in this process, so a test can turn its knobs."""
    server = build(async_polls=1)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_an_in_process_server_forces_the_next_outcome_from_its_knob(in_process):
    kusto = KustoClient(KustoConnectionStringBuilder.with_no_authentication(in_process.url))
    try:
        in_process.operations.force_next("Throttled", "too many requests")
        throttled_table, next_table = _new_table(), _new_table()
        throttled = _submit(kusto, f".set-or-append async {throttled_table} <| print N = 1")
        following = _submit(kusto, f".set-or-append async {next_table} <| print N = 2")

        final = _poll_to_the_end(kusto, throttled, polls=1)
        assert (final["State"], final["Status"]) == ("Throttled", "too many requests")
        assert not _table_exists(kusto, throttled_table)
        # Used once: the next command runs and completes as usual.
        assert _poll_to_the_end(kusto, following, polls=1)["State"] == "Completed"
        assert _rows(kusto, next_table) == [[2]]
    finally:
        kusto.close()
