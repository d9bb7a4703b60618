"""What the SQL tests (`test_sql.py`) and the Kusto -> PostgreSQL -> Kusto round trip
(`test_sql_round_trip.py`) share: running a flow with resources of its own, reading a
test database directly, and the flow steps that export Kusto rows into a SQL table,
upsert a revised tenth of them and read the table back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from shared.loader import load_connections, load_flow
from shared.resources import Resources
from shared.results import RunResult
from shared.runner import Runner, Trigger
from shared.settings import Settings
from tests.fixtures_postgres import SUPERUSER, PostgresDatabase
from tests.helpers import settings_for, write_flow


def run_flow(tmp_path: Path, text: str, connections: str, *, settings: Settings | None = None,
             body: Any = None, name: str = "f") -> RunResult:
    """Load and run a flow with resources of its own, closed after (engines, tokens)."""
    path = write_flow(tmp_path / "flows", name, text, connections)
    loaded_connections, problems = load_connections(path.parent / "connections.yaml")
    assert not problems, problems
    flow = load_flow(path, loaded_connections).flow
    resources = Resources(settings or settings_for(tmp_path), loaded_connections)
    try:
        return Runner(resources).run(flow, Trigger(kind="manual", body=body))
    finally:
        resources.close()


def indent(text: str, spaces: int) -> str:
    return "\n".join(" " * spaces + line for line in text.splitlines())


def pg_query(db: PostgresDatabase, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(host="127.0.0.1", port=db.port, user=SUPERUSER,
                         dbname=db.name) as con:
        return con.execute(sql).fetchall()  # type: ignore[arg-type]


def export_upsert_read_steps(events: str, revised: str) -> str:
    """A flow's steps (indented as the tests write flows, dedented by `write_flow`):
    `events` runs the KQL *events* on `samples`; `export` writes its rows into a new
    table `storm_events` of `warehouse` keyed by EventId, in batches of 1,000;
    `revised` runs *revised* with the KQL parameter `evil` from the trigger's body;
    `upsert` merges its rows by EventId; `back` reads the whole table."""
    return f"""\
    steps:
      - id: events
        action: kusto.query
        connection: samples
        query: |
{indent(events, 10)}
      - id: export
        action: sql.write
        connection: warehouse
        table: storm_events
        rows: "{{{{ steps.events.rows }}}}"
        columns: "{{{{ steps.events.columns }}}}"
        keys: [EventId]
        create: true
        batch_size: 1000
      - id: revised
        action: kusto.query
        connection: samples
        query: |
          declare query_parameters(evil:string);
{indent(revised, 10)}
        parameters: {{evil: "{{{{ trigger.body.evil }}}}"}}
      - id: upsert
        action: sql.write
        connection: warehouse
        table: storm_events
        rows: "{{{{ steps.revised.rows }}}}"
        columns: "{{{{ steps.revised.columns }}}}"
        mode: upsert
        keys: [EventId]
      - id: back
        action: sql.query
        connection: warehouse
        query: SELECT * FROM storm_events
"""
