"""kusto.ingest puts the rows of an earlier step into a Kusto table, once, with their
types, and a value is only ever data.

Why: ingestion is the import half of "export and import between Azure Data Explorer
and other databases". Rows ingested twice, a datetime that arrives as text, or a
webhook value that ends a KQL string literal would all corrupt a table silently.

How: each flow creates its table, makes rows (a typed `datatable` query, or a webhook
body), ingests them and reads the table back, on both paths the product has without
Azure: the embedded engine (`.set-or-append` commands reading the rows from one JSON
literal) and a local cluster, `tests.kusto_server`, reached through the real
`azure-kusto-ingest` streaming client; the endpoint there
(`tests.kusto_ingest_endpoint`) writes the rows with DuckDB bound parameters, a second
implementation the product's encoding is checked against. The queued path's pieces
that need no cluster are checked against Azurite's table service (the status table)
and the SDK's own message class.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.errors import StepInputError
from shared.kusto.ingest_client import (
    REPORT_METHOD_TABLE,
    STREAMING_MAX_BYTES,
    queue_message,
    read_status,
)
from shared.kusto.ingest_rows import json_lines
from shared.results import RunStatus
from shared.steps.kusto_ingest import choose_method
from tests.helpers import run_flow_file, settings_for, write_flow
from tests.kusto_server import AdaptedServer, build

COLUMNS = ("When:datetime, Count:long, Ratio:real, Name:string, Flag:bool, Bag:dynamic, "
           "Span:timespan, Id:guid")
SOURCE = f"""datatable({COLUMNS}) [
    datetime(2024-02-29T23:59:59.123456Z), 9007199254740993, 0.1, "plain", true,
        dynamic({{"a": [1, 2, {{"b": null}}], "s": "x'y"}}), time(1.02:03:04.5),
        guid(0f8fad5b-d9cb-469f-a165-70867728950e),
    datetime(1970-01-01), -1, -2.5e300, "", false, dynamic([]), time(-00:00:01),
        guid(00000000-0000-0000-0000-000000000000),
    datetime(null), long(null), real(null), "third", bool(null), dynamic(null),
        timespan(null), guid(null)
]"""

#: Values a webhook could send, each of which would end or extend a KQL literal or
#: command if it were spliced into KQL text.
TRICKY = [
    'x"; .drop table StormEvents',
    "it's",
    "a | take 1",
    "''",
    "@'",
    "\\",
    "back\\slash\"quote'",
    "line\nbreak\r\n",
    "tab\t",
    "unicode é ✓ 𝄞 \u2028",
    "]); .set-or-replace StormEvents <| print 1 //",
    "{{ 7 * 7 }}",
    "<b>bold</b>",
]


def _connections(path_kind: str, url: str) -> str:
    cluster = "embedded" if path_kind == "embedded" else f'"{url}"'
    return f"target: {{cluster: {cluster}, database: Samples}}\n"


@pytest.fixture(params=["embedded", "server"])
def path_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _table() -> str:
    return f"Ingested_{uuid.uuid4().hex[:10]}"


def _round_trip(tmp_path: Path, connections: str, table: str, columns: str, source: str,
                rows: str = "{{ steps.source.rows }}", body: Any = None,
                extra: str = "") -> Any:
    path = write_flow(tmp_path / "flows", "ingest", f"""
        steps:
          - id: make_table
            action: kusto.command
            connection: target
            command: ".set-or-append {table} <| datatable({columns})[]"
          - id: source
            action: kusto.query
            connection: target
            query: |
              {source}
          - id: load
            action: kusto.ingest
            connection: target
            table: {table}
            rows: "{rows}"
          - id: back
            action: kusto.query
            connection: target
            query: "{table}"
        {extra}""", connections)
    return run_flow_file(path, settings_for(tmp_path), body=body)


def _indented(text: str) -> str:
    return text.replace("\n", "\n              ")


def test_rows_of_a_query_arrive_once_with_their_types(tmp_path: Path, path_kind: str,
                                                      kusto_server: Any) -> None:
    table = _table()
    run = _round_trip(tmp_path, _connections(path_kind, kusto_server.url), table, COLUMNS,
                      _indented(SOURCE))
    assert run.status == RunStatus.SUCCEEDED, [s.error for s in run.steps if s.error]
    source, load, back = (run.steps[i].outputs for i in (1, 2, 3))
    assert load["rows_ingested"] == 3
    assert load["method"] == ("embedded" if path_kind == "embedded" else "streaming")
    assert load["table"] == table
    expected = {row["Name"]: row for row in source["rows"]}
    got = {row["Name"]: row for row in back["rows"]}
    assert len(back["rows"]) == 3, "each row once"
    assert got == expected
    first = got["plain"]
    assert first["When"] == datetime(2024, 2, 29, 23, 59, 59, 123456, tzinfo=UTC)
    assert first["Count"] == 9007199254740993 and isinstance(first["Count"], int)
    assert first["Ratio"] == 0.1 and first["Flag"] is True
    assert first["Bag"] == {"a": [1, 2, {"b": None}], "s": "x'y"}
    assert first["Span"] == timedelta(days=1, hours=2, minutes=3, seconds=4.5)
    assert first["Id"] == "0f8fad5b-d9cb-469f-a165-70867728950e"
    assert [c["type"] for c in back["columns"]] == [
        "datetime", "long", "real", "string", "bool", "dynamic", "timespan", "guid"]


def test_webhook_values_with_quotes_and_pipes_stay_values(tmp_path: Path, path_kind: str,
                                                          kusto_server: Any) -> None:
    table = _table()
    rows = [{"N": index, "Name": text, "Bag": {"text": text, "list": [text]}}
            for index, text in enumerate(TRICKY)]
    rows.append({"N": len(TRICKY), "Name": "no bag", "Extra": "not a column"})
    run = _round_trip(tmp_path, _connections(path_kind, kusto_server.url), table,
                      "N:long, Name:string, Bag:dynamic", "StormEvents | count",
                      rows="{{ trigger.body.rows }}", body={"rows": rows}, extra="""
          - id: storms
            action: kusto.query
            connection: target
            query: "StormEvents | count"
        """)
    assert run.status == RunStatus.SUCCEEDED, [s.error for s in run.steps if s.error]
    back = sorted(run.steps[3].outputs["rows"], key=lambda row: row["N"])
    assert [row["Name"] for row in back] == [*TRICKY, "no bag"]
    assert [row["Bag"] for row in back[:-1]] == [{"text": t, "list": [t]} for t in TRICKY]
    assert back[-1]["Bag"] is None
    assert run.steps[4].outputs["rows"] == [{"Count": 5000}], "StormEvents untouched"


@pytest.fixture
def own_server() -> Iterator[AdaptedServer]:
    """An in-process test endpoint, whose ingestion requests the test can count."""
    server = build()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_step_sends_its_rows_in_one_streaming_request(tmp_path: Path,
                                                        own_server: AdaptedServer) -> None:
    table = _table()
    run = _round_trip(tmp_path, _connections("server", own_server.url), table,
                      "I:long, Label:string",
                      "range I from 1 to 2500 step 1 | extend Label = strcat('row ', I)")
    assert run.status == RunStatus.SUCCEEDED, [s.error for s in run.steps if s.error]
    assert own_server.ingest.requests == [("Samples", table, 2500)]
    assert len(run.steps[3].outputs["rows"]) == 2500


def test_the_embedded_engine_takes_more_rows_than_one_command_holds(tmp_path: Path) -> None:
    table = _table()
    run = _round_trip(tmp_path, _connections("embedded", ""), table, "I:long, Label:string",
                      "range I from 1 to 21000 step 1 | extend Label = strcat('row ', I)",
                      extra="""
          - id: counts
            action: kusto.query
            connection: target
            query: "TABLE | summarize Rows = count(), Distinct = dcount(I)"
        """.replace("TABLE", table))
    assert run.status == RunStatus.SUCCEEDED, [s.error for s in run.steps if s.error]
    assert run.steps[2].outputs["rows_ingested"] == 21000
    assert run.steps[4].outputs["rows"] == [{"Rows": 21000, "Distinct": 21000}]


def test_a_missing_table_fails_the_step_naming_it(tmp_path: Path, path_kind: str,
                                                  kusto_server: Any) -> None:
    path = write_flow(tmp_path / "flows", "missing", """
        steps:
          - id: load
            action: kusto.ingest
            connection: target
            table: NoSuchTable
            rows: "{{ trigger.body }}"
        """, _connections(path_kind, kusto_server.url))
    run = run_flow_file(path, settings_for(tmp_path), body=[{"A": 1}])
    assert run.status == RunStatus.FAILED
    error = run.steps[0].error
    assert error.code == "KustoQueryError", error
    assert "NoSuchTable" in error.message


@pytest.mark.parametrize("rows, words", [
    ("text", "not a list of rows"),
    (["text"], "rows[0]' is str"),
])
def test_rows_that_are_not_a_list_of_rows_are_refused(tmp_path: Path, rows: Any,
                                                      words: str) -> None:
    path = write_flow(tmp_path / "flows", "bad", """
        steps:
          - id: load
            action: kusto.ingest
            connection: samples
            table: JobLog
            rows: "{{ trigger.body.rows }}"
        """)
    run = run_flow_file(path, settings_for(tmp_path), body={"rows": rows})
    assert run.status == RunStatus.FAILED
    assert run.steps[0].error.code == "InvalidInput"
    assert words in run.steps[0].error.message


def test_no_rows_ingest_nothing_and_succeed(tmp_path: Path) -> None:
    path = write_flow(tmp_path / "flows", "none", """
        steps:
          - id: load
            action: kusto.ingest
            connection: samples
            table: JobLog
            rows: "{{ trigger.body.rows }}"
        """)
    run = run_flow_file(path, settings_for(tmp_path), body={"rows": []})
    assert run.status == RunStatus.SUCCEEDED
    assert run.steps[0].outputs["rows_ingested"] == 0


def test_a_table_name_is_an_identifier(tmp_path: Path) -> None:
    from shared.loader import FlowFileInvalid, load_flow

    path = write_flow(tmp_path / "flows", "name", """
        steps:
          - id: load
            action: kusto.ingest
            connection: samples
            table: "T; .drop table StormEvents"
            rows: []
        """)
    with pytest.raises(FlowFileInvalid, match="field 'table'"):
        load_flow(path)


# --------------------------------------------------------------- the method

def test_small_batches_stream_and_large_ones_are_queued() -> None:
    small, large = STREAMING_MAX_BYTES, STREAMING_MAX_BYTES + 1
    assert choose_method("auto", "azure", small) == "streaming"
    assert choose_method("auto", "azure", large) == "queued"
    assert choose_method("auto", "local", large) == "streaming", "no queue on a local cluster"
    assert choose_method("queued", "azure", 10) == "queued"
    with pytest.raises(StepInputError, match="at most 4 MB"):
        choose_method("streaming", "azure", large)


def test_json_lines_are_what_kusto_reads() -> None:
    rows = [{"When": datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC), "Span": timedelta(-1),
             "Nan": float("nan"), "Inf": float("-inf"), "Text": "é\n", "Bag": {"k": [1]}}]
    (line,) = json_lines(rows).decode("utf-8").splitlines()
    assert json.loads(line) == {"When": "2024-01-02T03:04:05.0000060Z",
                                "Span": "-1.00:00:00.0000000", "Nan": "NaN",
                                "Inf": "-Infinity", "Text": "é\n", "Bag": {"k": [1]}}


# --------------------------------------------------------------- queued ingestion

def test_the_queue_message_asks_for_the_status_in_the_status_table() -> None:
    from azure.kusto.data.data_format import DataFormat
    from azure.kusto.ingest import BlobDescriptor, IngestionProperties, ReportLevel

    source_id = str(uuid.uuid4())
    properties = IngestionProperties("Db", "T", data_format=DataFormat.JSON,
                                     report_level=ReportLevel.FailuresAndSuccesses)
    blob = BlobDescriptor("https://account.blob.core.windows.net/temp/x.json.gz?sig=s", 10,
                          uuid.UUID(source_id))
    status_url = "https://account.table.core.windows.net/ingestionsstatus?sig=t"
    message = json.loads(queue_message(blob, properties, "token", status_url, source_id))
    assert message["Id"] == source_id
    assert message["DatabaseName"] == "Db" and message["TableName"] == "T"
    assert message["ReportLevel"] == int(ReportLevel.FailuresAndSuccesses)
    assert message["ReportMethod"] == REPORT_METHOD_TABLE
    assert message["IngestionStatusInTable"] == {
        "TableConnectionString": status_url, "PartitionKey": source_id, "RowKey": source_id}
    assert message["AdditionalProperties"]["format"] == "json"
    assert message["AdditionalProperties"]["authorizationContext"] == "token"


def test_the_status_is_read_from_the_row_the_service_updates(azurite: Any) -> None:
    from azure.core.credentials import AzureNamedKeyCredential
    from azure.data.tables import TableSasPermissions, TableServiceClient, generate_table_sas

    from tests.fixtures_azurite import ACCOUNT, ACCOUNT_KEY

    name = f"status{uuid.uuid4().hex[:8]}"
    service = TableServiceClient.from_connection_string(azurite.connection_string)
    table = service.create_table(name)
    sas = generate_table_sas(AzureNamedKeyCredential(ACCOUNT, ACCOUNT_KEY), name,
                             permission=TableSasPermissions(read=True, add=True, update=True),
                             expiry=datetime.now(UTC) + timedelta(hours=1))
    url = f"{azurite.url}/{name}?{sas}"
    source_id = str(uuid.uuid4())
    assert read_status(url, source_id).state == "Pending", "no row yet"
    table.create_entity({"PartitionKey": source_id, "RowKey": source_id, "Status": "Pending"})
    assert not read_status(url, source_id).final
    table.update_entity({"PartitionKey": source_id, "RowKey": source_id, "Status": "Failed",
                         "ErrorCode": "BadRequest_NoRecords", "Details": "no records"})
    failed = read_status(url, source_id)
    assert failed.final and failed.state == "Failed"
    assert "BadRequest_NoRecords" in failed.details and "no records" in failed.details
    table.update_entity({"PartitionKey": source_id, "RowKey": source_id,
                         "Status": "Succeeded", "ErrorCode": "", "Details": ""})
    assert read_status(url, source_id).state == "Succeeded"
    service.close()
