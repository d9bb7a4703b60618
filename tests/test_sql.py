"""SQL: `kind: postgresql | sqlserver | sqlite` connections, `sql.query` and
`sql.write`, against a real PostgreSQL (Debian's server, started by
`tests/fixtures_postgres.py`) and SQLite; Azure SQL up to the driver boundary.

Why: "export and import data between Azure Data Explorer and other databases" is
one of the connector's four jobs. What must hold: rows arrive once and whole (one
transaction per step), every Kusto type lands in a column of the matching SQL type
and reads back equal, values (a webhook's, a query's) stay values however they look,
table and column names are checked and quoted, and the sign-in is the one the
connection asks for: an Entra token as PostgreSQL's password or as SQL Server's
access-token attribute, or a password from an app setting.

Entra ID is stood in for by a local managed-identity endpoint (the App Service
protocol azure-identity's ManagedIdentityCredential speaks); SQL Server by a TCP
listener that reads the driver's first TDS packet (PRELOGIN), as no SQL Server runs
here: the README says Azure SQL was not run against a real server.
"""

from __future__ import annotations

import hashlib
import json
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import psycopg
import pytest

from shared.loader import FlowFileInvalid, load_connections, load_flow
from shared.model import AnyConnection, Connection, SqlConnection, parse_connection
from shared.resources import Resources
from shared.results import RunResult, RunStatus, StepStatus
from shared.runner import Runner
from shared.settings import Settings
from shared.sql.engines import (
    POSTGRES_SCOPE,
    SQL_COPT_SS_ACCESS_TOKEN,
    SQL_SERVER_SCOPE,
    access_token_struct,
    engine_spec,
)
from shared.sql.writer import mssql_merge_sql
from tests import sql_helpers
from tests.fixtures_postgres import PostgresDatabase
from tests.helpers import settings_for, write_flow
from tests.sql_helpers import export_upsert_read_steps, pg_query

ROOT = Path(__file__).resolve().parents[1]
SQLITE = ("samples: {cluster: embedded, database: Samples}\n"
          "warehouse: {kind: sqlite, path: warehouse.db}\n")
INJECTION = "'); DROP TABLE storm_events; --"

#: 5,000 StormEvents rows with a column of every Kusto type.
TYPED_EVENTS = """\
StormEvents
| extend k = EventId % 3
| lookup (datatable(k:long, Cost:decimal)[0, decimal(0.10), 1, decimal(12345678901234.5678),
                                          2, decimal(-3.3)]) on k
| extend Id = toguid(strcat("00000000-0000-0000-0000-",
                            substring(strcat("000000000000", tostring(EventId)),
                                      strlen(tostring(EventId)), 12)))
| extend Duration = EndTime - StartTime, Details = bag_pack("source", Source, "lat", BeginLat),
         Deadly = DeathsDirect > 0, Injuries = toint(InjuriesDirect)
| project EventId = tolong(EventId), StartTime, State, Source, BeginLat, Cost, Id, Duration,
          Details, Deadly, Injuries
"""


def run_flow(tmp_path: Path, text: str, connections: str = SQLITE, *,
             settings: Settings | None = None, body: Any = None) -> RunResult:
    """Load and run a flow with resources of its own, closed after (engines, tokens)."""
    return sql_helpers.run_flow(tmp_path, text, connections, settings=settings, body=body)


def outputs(run: RunResult) -> dict[str, dict[str, Any]]:
    assert run.status == RunStatus.SUCCEEDED, run.to_dict()
    return {step.path: step.outputs for step in run.steps}


def checksum(rows: list[dict[str, Any]]) -> str:
    ordered = sorted(rows, key=lambda r: r["EventId"])
    text = json.dumps(ordered, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


# --------------------------------------------------------------------- connections

def test_the_connections_file_takes_kusto_and_sql_entries_side_by_side(tmp_path: Path) -> None:
    path = tmp_path / "connections.yaml"
    path.write_text("""\
samples: {cluster: embedded, database: Samples}
typed: {kind: kusto, cluster: embedded}
pg: {kind: postgresql, server: x.postgres.database.azure.com, database: reports,
     user: flows-identity, auth: managed_identity}
azsql: {kind: sqlserver, server: x.database.windows.net, database: reports}
pw: {kind: postgresql, server: db.contoso.com, database: r, user: flows,
     password_setting: PG_PASSWORD}
lite: {kind: sqlite, path: warehouse.db}
""")
    connections, problems = load_connections(path)
    assert problems == []
    kinds = {name: (c.family, c.kind) for name, c in connections.items()}
    assert kinds == {"samples": ("kusto", "embedded"), "typed": ("kusto", "embedded"),
                     "pg": ("sql", "postgresql"), "azsql": ("sql", "sqlserver"),
                     "pw": ("sql", "postgresql"), "lite": ("sql", "sqlite")}
    azsql = connections["azsql"]
    pw = connections["pw"]
    assert isinstance(azsql, SqlConnection) and azsql.effective_auth == "default"
    assert isinstance(pw, SqlConnection) and pw.effective_auth == "password"


def test_the_shipped_connections_file_is_still_valid_and_has_the_examples_warehouse() -> None:
    connections, problems = load_connections(ROOT / "flows" / "connections.yaml")
    assert problems == []
    assert isinstance(connections["samples"], Connection)
    warehouse = connections["warehouse"]
    assert isinstance(warehouse, SqlConnection) and warehouse.kind == "sqlite"


@pytest.mark.parametrize(("entry", "says"), [
    ("{kind: mysql, server: h, database: d}", "kind is kusto (the default"),
    ("{kind: sqlite}", "needs path"),
    ("{kind: sqlite, path: a.db, server: h}", "takes only path; remove server"),
    ("{kind: postgresql, server: db.contoso.com, database: d, user: u, auth: none}",
     "auth: none is allowed only for a local server"),
    ("{kind: postgresql, server: h, database: d, user: u, auth: password}",
     "needs user and password_setting"),
    ("{kind: postgresql, server: h, database: d}", "needs user"),
    ("{kind: sqlserver, server: h, database: d, user: u}", "remove user"),
    ("{kind: sqlserver, database: d}", "needs server and database"),
    ("{kind: postgresql, server: h, database: d, user: u, password: hunter2}",
     "unknown key"),
])
def test_a_bad_sql_connection_is_reported_with_its_line(tmp_path: Path, entry: str,
                                                        says: str) -> None:
    path = tmp_path / "connections.yaml"
    path.write_text(f"samples: {{cluster: embedded}}\n\nbad: {entry}\n")
    connections, problems = load_connections(path)
    assert "samples" in connections and "bad" not in connections
    assert len(problems) == 1 and problems[0].line == 3, problems
    assert says in problems[0].message, problems[0].message


def test_a_kusto_step_refuses_a_sql_connection_and_a_sql_step_a_kusto_one(
        tmp_path: Path) -> None:
    text = """\
        steps:
          - {id: k, action: kusto.query, connection: warehouse, query: "print 1"}
          - {id: s, action: sql.query, connection: samples, query: "SELECT 1"}
        """
    path = write_flow(tmp_path, "f", text, SQLITE)
    connections, _ = load_connections(tmp_path / "connections.yaml")
    with pytest.raises(FlowFileInvalid) as refused:
        load_flow(path, connections)
    found = {(p.step, p.field): p.message for p in refused.value.problems}
    assert set(found) == {("k", "connection"), ("s", "connection")}
    assert "'warehouse' is a SQL database (kind: sqlite), not a Kusto cluster" in found[
        ("k", "connection")]
    assert "'samples' is a Kusto cluster, not a SQL database" in found[("s", "connection")]
    # Run anyway (loaded without the connections): each step refuses at run time too.
    flow = load_flow(path).flow
    resources = Resources(settings_for(tmp_path), connections)
    try:
        run = Runner(resources).run(flow)
        first = run.steps[0]
        assert first.error is not None and first.error.code == "FlowInvalid"
        assert "not a Kusto cluster" in first.error.message
        flow.steps[1].run_after = ["failed"]
        run = Runner(resources).run(flow)
        second = run.steps[1]
        assert second.error is not None and "not a SQL database" in second.error.message
    finally:
        resources.close()


def test_a_relative_sqlite_path_is_a_file_under_the_state_folder(tmp_path: Path) -> None:
    run = run_flow(tmp_path, """\
        steps:
          - id: w
            action: sql.write
            connection: warehouse
            table: notes
            rows: [{n: 1, text: one}]
            create: true
        """)
    assert outputs(run)["w"]["rows_written"] == 1
    assert (tmp_path / "state" / "warehouse.db").is_file()


def test_importing_the_function_app_loads_no_sql_library() -> None:
    code = ("import sys, function_app; print(sorted(m for m in ('sqlalchemy', 'psycopg', "
            "'mssql_python') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True, env={"STATE_DIR": "/nonexistent-unused",
                                                     "PATH": ""})
    assert out.stdout.strip() == "[]", out.stderr


# ------------------------------------------------------------ the round trip

ROUND_TRIP = export_upsert_read_steps(TYPED_EVENTS, f"""\
{TYPED_EVENTS}| where EventId % 10 == 0
| extend State = strcat(State, " (revised)"), Source = evil, Injuries = Injuries + 1000,
         Details = bag_pack("note", evil)""")


def expected_after_upsert(out: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    rows = {r["EventId"]: r for r in out["events"]["rows"]}
    rows.update({r["EventId"]: r for r in out["revised"]["rows"]})
    return list(rows.values())


def test_5000_kusto_rows_go_to_postgresql_and_back_equal_with_every_type_mapped(
        tmp_path: Path, postgres_db: PostgresDatabase) -> None:
    run = run_flow(tmp_path, ROUND_TRIP, postgres_db.connections_yaml(),
                   body={"evil": INJECTION})
    out = outputs(run)
    assert out["events"]["row_count"] == 5000
    assert out["export"] == {**out["export"], "rows_written": 5000, "batches": 5,
                             "created": True}
    assert out["upsert"]["rows_written"] == out["revised"]["row_count"] == 500
    back = out["back"]["rows"]
    expected = expected_after_upsert(out)
    assert len(back) == 5000
    assert checksum(back) == checksum(expected)
    revised = [r for r in back if r["EventId"] % 10 == 0]
    assert {r["Source"] for r in revised} == {INJECTION}
    assert all(r["State"].endswith(" (revised)") and r["Injuries"] >= 1000 for r in revised)
    assert {r["Details"]["note"] for r in revised} == {INJECTION}
    types = dict(pg_query(postgres_db, "SELECT column_name, data_type FROM "
                                       "information_schema.columns WHERE table_name = "
                                       "'storm_events'"))
    assert types == {
        "EventId": "bigint", "StartTime": "timestamp with time zone", "State": "text",
        "Source": "text", "BeginLat": "double precision", "Cost": "numeric", "Id": "uuid",
        "Duration": "interval", "Details": "jsonb", "Deadly": "boolean", "Injuries": "integer"}
    assert pg_query(postgres_db, "SELECT count(*), count(DISTINCT \"EventId\") FROM "
                                 "storm_events") == [(5000, 5000)]
    read_types = {c["name"]: c["type"] for c in out["back"]["columns"]}
    assert read_types == {**{c["name"]: c["type"] for c in out["events"]["columns"]},
                          "Injuries": "long"}  # a Python int reads back as long
    key = pg_query(postgres_db, "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON "
                                "a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) WHERE "
                                "i.indrelid = 'storm_events'::regclass AND i.indisprimary")
    assert key == [("EventId",)]


def test_the_round_trip_through_sqlite_keeps_counts_values_and_documented_forms(
        tmp_path: Path) -> None:
    run = run_flow(tmp_path, ROUND_TRIP, body={"evil": INJECTION})
    out = outputs(run)
    back = {r["EventId"]: r for r in out["back"]["rows"]}
    expected = {r["EventId"]: r for r in expected_after_upsert(out)}
    assert len(back) == 5000 and back.keys() == expected.keys()
    for event_id in (10000, 10010, 14999):
        got, want = back[event_id], expected[event_id]
        assert got["StartTime"] == want["StartTime"].strftime("%Y-%m-%d %H:%M:%S.%f")
        assert got["Duration"] == int(want["Duration"].total_seconds()) * 10_000_000  # ticks
        assert json.loads(got["Details"]) == want["Details"]
        assert got["Deadly"] == int(want["Deadly"])
        assert Decimal(str(got["Cost"])) == want["Cost"].normalize() or \
            abs(Decimal(str(got["Cost"])) - want["Cost"]) < Decimal("0.01")
        assert (got["Id"], got["State"], got["Source"], got["Injuries"], got["BeginLat"]) == (
            want["Id"], want["State"], want["Source"], want["Injuries"], want["BeginLat"])
    assert back[10010]["Source"] == INJECTION


# ------------------------------------------------------------- sql.write

def test_replace_empties_the_table_first_and_append_adds(tmp_path: Path) -> None:
    flow = """\
        steps:
          - id: w
            action: sql.write
            connection: warehouse
            table: counts
            rows: "{{ trigger.body.rows }}"
            mode: "MODE"
            create: true
          - {id: r, action: sql.query, connection: warehouse,
             query: "SELECT n FROM counts ORDER BY n"}
        """
    first = outputs(run_flow(tmp_path, flow.replace("MODE", "append"),
                             body={"rows": [{"n": 1}, {"n": 2}]}))
    assert first["w"]["created"] is True
    again = outputs(run_flow(tmp_path, flow.replace("MODE", "append"), body={"rows": [{"n": 3}]}))
    assert [r["n"] for r in again["r"]["rows"]] == [1, 2, 3]
    replaced = outputs(run_flow(tmp_path, flow.replace("MODE", "replace"),
                                body={"rows": [{"n": 7}]}))
    assert replaced["w"]["rows_deleted"] == 3 and replaced["w"]["created"] is False
    assert [r["n"] for r in replaced["r"]["rows"]] == [7]


def test_a_failure_in_a_later_batch_leaves_nothing_behind_not_even_the_new_table(
        tmp_path: Path, postgres_db: PostgresDatabase) -> None:
    rows = [{"n": i, "at": "2024-01-01T00:00:00Z"} for i in range(25)]
    rows[17]["at"] = "not a time"
    run = run_flow(tmp_path, """\
        steps:
          - id: w
            action: sql.write
            connection: warehouse
            table: partial
            rows: "{{ trigger.body }}"
            columns: [{name: n, type: long}, {name: at, type: datetime}]
            create: true
            batch_size: 10
        """, postgres_db.connections_yaml(), body=rows)
    step = run.steps[0]
    assert step.status == StepStatus.FAILED and step.error is not None
    assert step.error.code == "InvalidInput"
    assert "rows[17].at: 'not a time' is not a datetime" in step.error.message
    assert pg_query(postgres_db, "SELECT to_regclass('partial')") == [(None,)]


def test_a_database_error_rolls_back_and_its_message_carries_no_row_values(
        tmp_path: Path, postgres_db: PostgresDatabase) -> None:
    postgres_db.server.execute(f'ALTER DATABASE "{postgres_db.name}" SET search_path = public')
    with psycopg.connect(host="127.0.0.1", port=postgres_db.port, user="postgres",
                         dbname=postgres_db.name, autocommit=True) as con:
        con.execute("CREATE TABLE plain (id bigint, note text)")
        con.execute("INSERT INTO plain VALUES (1, 'kept')")
    run = run_flow(tmp_path, """\
        steps:
          - id: w
            action: sql.write
            connection: warehouse
            table: plain
            rows: [{id: 1, note: "secret-value-1"}, {id: 2, note: "secret-value-2"}]
            mode: upsert
            keys: [id]
        """, postgres_db.connections_yaml())
    error = run.steps[0].error
    assert error is not None and error.code == "SqlQueryError"
    assert "no unique or exclusion constraint" in error.message
    assert "secret-value" not in error.message + error.hint
    assert pg_query(postgres_db, "SELECT * FROM plain") == [(1, "kept")]


def test_a_missing_table_without_create_is_refused_clearly(tmp_path: Path) -> None:
    run = run_flow(tmp_path, """\
        steps:
          - {id: w, action: sql.write, connection: warehouse, table: nowhere, rows: [{a: 1}]}
        """)
    error = run.steps[0].error
    assert error is not None and error.code == "InvalidInput"
    assert "table nowhere does not exist" in error.message and "create: true" in error.hint


def test_column_names_from_the_data_are_quoted_and_injection_in_them_stays_a_name(
        tmp_path: Path, postgres_db: PostgresDatabase) -> None:
    evil = 'x"); DROP TABLE victim; --'
    with psycopg.connect(host="127.0.0.1", port=postgres_db.port, user="postgres",
                         dbname=postgres_db.name, autocommit=True) as con:
        con.execute("CREATE TABLE victim (id int)")
    rows = [{"id": 1, evil: INJECTION, "select": "reserved word", "Mixed Case": True}]
    run = run_flow(tmp_path, """\
        steps:
          - id: w
            action: sql.write
            connection: warehouse
            table: odd_names
            rows: "{{ trigger.body }}"
            create: true
            keys: id
          - id: again
            action: sql.write
            connection: warehouse
            table: odd_names
            rows: "{{ trigger.body }}"
            mode: upsert
            keys: id
        """, postgres_db.connections_yaml(), body=rows)
    outputs(run)
    assert pg_query(postgres_db, "SELECT to_regclass('victim') IS NOT NULL") == [(True,)]
    columns = {r[0] for r in pg_query(postgres_db, "SELECT column_name FROM "
                                      "information_schema.columns WHERE table_name = "
                                      "'odd_names'")}
    assert columns == {"id", evil, "select", "Mixed Case"}
    assert pg_query(postgres_db, 'SELECT "x""); DROP TABLE victim; --" FROM odd_names') == [
        (INJECTION,)]


@pytest.mark.parametrize(("rows", "says"), [
    ('"{{ 42 }}"', "field 'rows' must give a list of rows, got int"),
    ("[{a: 1}, {a: 2, b: 3}]", "rows[1] has column 'b', which is not among the table's"),
    ("[{a: 1}, 7]", "rows[1] is not a mapping"),
    ('[{"a\\u0000b": 1}]', "holds control characters"),
])
def test_rows_that_do_not_fit_are_refused_with_the_row_named(tmp_path: Path, rows: str,
                                                             says: str) -> None:
    run = run_flow(tmp_path, f"""\
        steps:
          - {{id: w, action: sql.write, connection: warehouse, table: t, rows: {rows},
             create: true}}
        """)
    error = run.steps[0].error
    assert error is not None and error.code == "InvalidInput" and says in error.message, error


def test_a_table_name_is_static_and_plain(tmp_path: Path) -> None:
    path = write_flow(tmp_path, "f", """\
        steps:
          - {id: w, action: sql.write, connection: warehouse, table: "t; DROP TABLE x",
             rows: []}
          - {id: u, action: sql.write, connection: warehouse, table: t, rows: [],
             mode: upsert}
        """, SQLITE)
    connections, _ = load_connections(tmp_path / "connections.yaml")
    with pytest.raises(FlowFileInvalid) as refused:
        load_flow(path, connections)
    found = {(p.step, p.field): p.message for p in refused.value.problems}
    assert set(found) == {("w", "table"), ("u", "")}
    assert "a table name is letters, digits and _" in found[("w", "table")]
    assert "mode: upsert needs keys" in found[("u", "")]


# ------------------------------------------------------------- sql.query

def test_query_parameters_are_bound_so_an_injection_is_just_a_value(tmp_path: Path) -> None:
    run = run_flow(tmp_path, """\
        steps:
          - id: w
            action: sql.write
            connection: warehouse
            table: people
            rows: [{name: alice, team: a}, {name: bob, team: b}, {name: carol, team: c}]
            create: true
          - id: one
            action: sql.query
            connection: warehouse
            query: "SELECT name FROM people WHERE name = :name"
            parameters: {name: "{{ trigger.body.name }}"}
          - id: several
            action: sql.query
            connection: warehouse
            query: "SELECT name FROM people WHERE team IN :teams ORDER BY name"
            parameters: {teams: "{{ trigger.body.teams }}"}
          - id: still_there
            action: sql.query
            connection: warehouse
            query: "SELECT count(*) AS n FROM people"
        """, body={"name": "x' OR '1'='1'; DROP TABLE people; --", "teams": ["a", "c"]})
    out = outputs(run)
    assert out["one"]["rows"] == []
    assert [r["name"] for r in out["several"]["rows"]] == ["alice", "carol"]
    assert out["still_there"]["rows"] == [{"n": 3}]
    assert out["still_there"]["columns"] == [{"name": "n", "type": "long"}]


@pytest.mark.parametrize(("query", "parameters", "says"), [
    ("SELECT :a AS a", "{}", "uses :a and the step gives no value"),
    ("SELECT 1 AS a", "{b: 1}", "parameter 'b' is not used by the query"),
    ("SELECT 1 AS a, 2 AS a", "{}", "returns column 'a' twice"),
])
def test_query_parameter_and_column_mistakes_are_named(tmp_path: Path, query: str,
                                                       parameters: str, says: str) -> None:
    run = run_flow(tmp_path, f"""\
        steps:
          - {{id: q, action: sql.query, connection: warehouse, query: "{query}",
             parameters: {parameters}}}
        """)
    error = run.steps[0].error
    assert error is not None and error.code == "InvalidInput" and says in error.message, error


def test_sql_query_changes_nothing_even_when_the_sql_would(tmp_path: Path,
                                                          postgres_db: PostgresDatabase
                                                          ) -> None:
    with psycopg.connect(host="127.0.0.1", port=postgres_db.port, user="postgres",
                         dbname=postgres_db.name, autocommit=True) as con:
        con.execute("CREATE TABLE keep (id int)")
        con.execute("INSERT INTO keep VALUES (1)")
    run = run_flow(tmp_path, """\
        steps:
          - {id: q, action: sql.query, connection: warehouse,
             query: "DELETE FROM keep RETURNING id"}
        """, postgres_db.connections_yaml())
    assert run.steps[0].error is not None
    assert pg_query(postgres_db, "SELECT id FROM keep") == [(1,)]
    run = run_flow(tmp_path / "lite", """\
        steps:
          - {id: w, action: sql.write, connection: warehouse, table: keep, rows: [{id: 1}],
             create: true}
          - {id: q, action: sql.query, connection: warehouse, query: "DELETE FROM keep"}
          - {id: r, action: sql.query, connection: warehouse, query: "SELECT id FROM keep",
             run_after: [failed]}
        """)
    assert run.steps[1].error is not None and "returns no rows" in run.steps[1].error.message
    assert run.steps[2].outputs["rows"] == [{"id": 1}]


def test_a_result_over_max_records_stops_reading(tmp_path: Path,
                                                 postgres_db: PostgresDatabase) -> None:
    run = run_flow(tmp_path, """\
        limits: {max_records: 20000}
        steps:
          - {id: q, action: sql.query, connection: warehouse,
             query: "SELECT g FROM generate_series(1, 1000000) AS g"}
        """, postgres_db.connections_yaml())
    error = run.steps[0].error
    assert error is not None and error.code == "LimitExceeded"
    assert "more than 20,000 records" in error.message


def test_a_slow_statement_ends_at_the_request_timeout(tmp_path: Path,
                                                      postgres_db: PostgresDatabase) -> None:
    run = run_flow(tmp_path, """\
        limits: {request_timeout: 1s}
        steps:
          - {id: q, action: sql.query, connection: warehouse, query: "SELECT pg_sleep(30)"}
        """, postgres_db.connections_yaml())
    step = run.steps[0]
    assert step.status == StepStatus.TIMED_OUT and step.error is not None
    assert step.error.code == "RequestTimeout" and "1 s time-out" in step.error.message
    run = run_flow(tmp_path / "lite", """\
        limits: {request_timeout: 1s}
        steps:
          - id: q
            action: sql.query
            connection: warehouse
            query: >
              WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c)
              SELECT max(n) AS n FROM c
        """)
    assert run.steps[0].error is not None and run.steps[0].error.code == "RequestTimeout"


def test_a_server_that_is_down_is_sql_unavailable(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    run = run_flow(tmp_path, """\
        steps:
          - {id: q, action: sql.query, connection: warehouse, query: "SELECT 1"}
        """, f"warehouse: {{kind: postgresql, server: 127.0.0.1, port: {port}, database: d, "
             f"user: u, auth: none}}\n")
    error = run.steps[0].error
    assert error is not None and error.code == "SqlUnavailable"
    assert "could not be reached" in error.message and "firewall" in error.hint


# ------------------------------------------------------------- signing in

class FakeManagedIdentity:
    """The App Service managed-identity endpoint (IDENTITY_ENDPOINT/IDENTITY_HEADER):
    answers a token per resource and records what was asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.tokens: dict[str, str] = {}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                resource = parse_qs(urlparse(self.path).query)["resource"][0]
                assert self.headers["X-IDENTITY-HEADER"] == "identity-header"
                fake.asked.append(resource)
                token = fake.tokens.setdefault(resource, "eyJ" + uuid.uuid4().hex * 30)
                body = json.dumps({"access_token": token, "resource": resource,
                                   "expires_on": str(int(time.time()) + 3600),
                                   "token_type": "Bearer"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/msi/token"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def managed_identity(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeManagedIdentity]:
    fake = FakeManagedIdentity()
    monkeypatch.setenv("IDENTITY_ENDPOINT", fake.url)
    monkeypatch.setenv("IDENTITY_HEADER", "identity-header")
    for name in ("MSI_ENDPOINT", "MSI_SECRET", "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    try:
        yield fake
    finally:
        fake.close()


def test_postgresql_with_a_managed_identity_signs_in_with_its_token_as_the_password(
        tmp_path: Path, postgres_db: PostgresDatabase,
        managed_identity: FakeManagedIdentity) -> None:
    resource = POSTGRES_SCOPE.removesuffix("/.default")
    token = managed_identity.tokens[resource] = "eyJ" + uuid.uuid4().hex * 30
    role = f"app_{uuid.uuid4().hex[:8]}"
    postgres_db.server.create_role(role, token, postgres_db.name)
    run = run_flow(tmp_path, """\
        steps:
          - {id: w, action: sql.write, connection: warehouse, table: t, rows: [{a: 1}],
             create: true}
          - {id: q, action: sql.query, connection: warehouse,
             query: "SELECT current_user AS who, count(*) AS n FROM t"}
        """, f"warehouse: {{kind: postgresql, server: 127.0.0.1, port: {postgres_db.port}, "
             f"database: {postgres_db.name}, user: {role}, auth: managed_identity}}\n")
    assert outputs(run)["q"]["rows"] == [{"who": role, "n": 1}]
    assert managed_identity.asked == [resource]  # one engine, one token for both steps


def test_postgresql_with_a_password_reads_it_from_the_app_setting_it_names(
        tmp_path: Path, postgres_db: PostgresDatabase) -> None:
    role = f"pw_{uuid.uuid4().hex[:8]}"
    postgres_db.server.create_role(role, "s3cret-from-key-vault", postgres_db.name)
    connections = (f"warehouse: {{kind: postgresql, server: 127.0.0.1, port: "
                   f"{postgres_db.port}, database: {postgres_db.name}, user: {role}, "
                   f"password_setting: WAREHOUSE_PASSWORD}}\n")
    flow = """\
        steps:
          - {id: q, action: sql.query, connection: warehouse, query: "SELECT 1 AS one"}
        """
    good = settings_for(tmp_path, app_settings={"WAREHOUSE_PASSWORD": "s3cret-from-key-vault"})
    assert outputs(run_flow(tmp_path, flow, connections, settings=good))["q"]["rows"] == [
        {"one": 1}]
    wrong = settings_for(tmp_path, app_settings={"WAREHOUSE_PASSWORD": "wrong"})
    error = run_flow(tmp_path, flow, connections, settings=wrong).steps[0].error
    assert error is not None and error.code == "AuthFailed"
    assert "wrong" not in error.message
    unset = run_flow(tmp_path, flow, connections, settings=settings_for(tmp_path))
    assert unset.steps[0].error is not None
    assert "app setting WAREHOUSE_PASSWORD" in unset.steps[0].error.message


# ------------------------------------------------- Azure SQL: the driver boundary

def sqlserver(entry: str) -> SqlConnection:
    connection = parse_connection(json.loads(entry))
    assert isinstance(connection, SqlConnection)
    return connection


def test_azure_sql_url_and_token_attribute_are_built_as_documented(tmp_path: Path) -> None:
    entra = engine_spec(sqlserver('{"kind": "sqlserver", "server": "x.database.windows.net", '
                                  '"database": "reports", "auth": "managed_identity"}'),
                        settings_for(tmp_path))
    assert entra.url.render_as_string(hide_password=False) == (
        "mssql+mssqlpython://x.database.windows.net:1433/reports"
        "?Encrypt=yes&TrustServerCertificate=no")
    assert entra.token_scope == SQL_SERVER_SCOPE == "https://database.windows.net/.default"
    token = "eyJ0eXAiOiJKV1Qi.x"
    attribute = entra.token_arguments(token)["attrs_before"][SQL_COPT_SS_ACCESS_TOKEN]
    assert SQL_COPT_SS_ACCESS_TOKEN == 1256
    # msodbcsql's ACCESSTOKEN: a little-endian DWORD byte count, then UTF-16-LE bytes.
    assert attribute == struct.pack("<I", 2 * len(token)) + token.encode("utf-16-le")
    assert access_token_struct(token) == attribute
    password = engine_spec(sqlserver('{"kind": "sqlserver", "server": "x.database.windows.net",'
                                     ' "database": "r", "user": "flows", '
                                     '"password_setting": "SQL_PASSWORD"}'),
                           settings_for(tmp_path, app_settings={"SQL_PASSWORD": "p;w}d"}))
    assert password.token_scope is None
    assert str(password.url) == ("mssql+mssqlpython://flows:***@x.database.windows.net:1433/r"
                                 "?Encrypt=yes&TrustServerCertificate=no")
    args, _ = password.url.get_dialect()().create_connect_args(password.url)
    assert args[0] == ("Server=x.database.windows.net,1433;Database=r;UID=flows;"
                       "PWD={p;w}}d};Encrypt=yes;TrustServerCertificate=no")


def test_azure_sql_upsert_is_a_merge_of_bound_values_with_quoted_names() -> None:
    from sqlalchemy.dialects import mssql

    quote = mssql.dialect().identifier_preparer.quote
    sql = mssql_merge_sql(quote, "[dbo].[storm_daily]", ["Day", "State", "a]b"],
                          ["Day", "State"], 2)
    assert sql == (
        "MERGE INTO [dbo].[storm_daily] WITH (HOLDLOCK) AS [target] USING (VALUES "
        "(:r0_0, :r0_1, :r0_2), (:r1_0, :r1_1, :r1_2)) AS [source] ([Day], [State], [a]]b]) "
        "ON [target].[Day] = [source].[Day] AND [target].[State] = [source].[State] "
        "WHEN MATCHED THEN UPDATE SET [target].[a]]b] = [source].[a]]b] "
        "WHEN NOT MATCHED THEN INSERT ([Day], [State], [a]]b]) VALUES ([source].[Day], "
        "[source].[State], [source].[a]]b]);")


def prelogin_options(packet: bytes) -> dict[int, bytes]:
    """The options of a TDS PRELOGIN packet (type 0x12): {token: value}."""
    assert packet[0] == 0x12, packet[:8]
    data = packet[8:]
    options: dict[int, bytes] = {}
    at = 0
    while data[at] != 0xFF:
        token, offset, length = struct.unpack(">BHH", data[at:at + 5])
        options[token] = data[offset:offset + length]
        at += 5
    return options


class TdsListener:
    """Accepts one connection on 127.0.0.2 and keeps the first packet the client sends."""

    def __init__(self) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.2", 0))
        self.socket.listen(1)
        self.port = self.socket.getsockname()[1]
        self.packets: list[bytes] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        client, _ = self.socket.accept()
        with client:
            client.settimeout(10)
            self.packets.append(client.recv(65536))

    def close(self) -> None:
        self.thread.join(timeout=20)
        self.socket.close()


def azure_sql_connect(tmp_path: Path, entry: str, settings: Settings) -> dict[int, bytes]:
    listener = TdsListener()
    try:
        connections: dict[str, AnyConnection] = {
            "warehouse": parse_connection(json.loads(entry % listener.port))}
        path = write_flow(tmp_path / "flows", "f", """\
            steps:
              - {id: q, action: sql.query, connection: warehouse, query: "SELECT 1 AS one"}
            """)
        resources = Resources(settings, connections)
        try:
            run = Runner(resources).run(load_flow(path).flow)
        finally:
            resources.close()
    finally:
        listener.close()
    error = run.steps[0].error
    assert error is not None and error.code == "SqlUnavailable", run.to_dict()
    assert listener.packets, "the driver never reached the server"
    return prelogin_options(listener.packets[0])


FEDAUTHREQUIRED, ENCRYPTION, ENCRYPT_ON = 0x06, 0x01, b"\x01"


def test_azure_sql_through_the_real_driver_asks_for_token_auth_and_encryption(
        tmp_path: Path, managed_identity: FakeManagedIdentity) -> None:
    options = azure_sql_connect(
        tmp_path, '{"kind": "sqlserver", "server": "127.0.0.2", "port": %d, '
                  '"database": "reports", "auth": "managed_identity"}', settings_for(tmp_path))
    assert managed_identity.asked == [SQL_SERVER_SCOPE.removesuffix("/.default")]
    assert options[FEDAUTHREQUIRED] == b"\x01"  # the access token reached the driver
    assert options[ENCRYPTION] == ENCRYPT_ON


def test_azure_sql_with_a_password_does_not_ask_for_token_auth(tmp_path: Path) -> None:
    options = azure_sql_connect(
        tmp_path, '{"kind": "sqlserver", "server": "127.0.0.2", "port": %d, "database": "r", '
                  '"user": "flows", "password_setting": "SQL_PASSWORD"}',
        settings_for(tmp_path, app_settings={"SQL_PASSWORD": "pw"}))
    assert FEDAUTHREQUIRED not in options
    assert options[ENCRYPTION] == ENCRYPT_ON
