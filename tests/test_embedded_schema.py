"""The embedded engine reads its tables' columns once, not once a query
(`shared/kusto/embedded.py`, `_Schema`).

What: queries translate against the schema read for the first one; a control command
(`.set-or-append`, which creates a table) makes the next query read it again, so a
table made by one step is joinable in the next; a command that fails part way does
too. Why: reading the catalog cost a few ms of every run (issue 14, runs per
instance), and a stale schema would make a new table unknown to `join`/`union`.
"""

from __future__ import annotations

import duckdb_kql.engine
import pytest

from shared.errors import KustoFlowsError
from shared.kusto.backend import KustoRequest
from shared.kusto.embedded import EmbeddedBackend
from shared.kusto.reader import CollectSink


def run(backend: EmbeddedBackend, kql: str) -> list[dict]:
    sink = CollectSink()
    backend.execute(KustoRequest("Samples", kql, timeout=60), sink)
    return sink.tables[0].rows if sink.tables else []


@pytest.fixture
def reads(monkeypatch) -> list[int]:
    count = [0]
    read = duckdb_kql.engine.schema

    def counted(con):
        count[0] += 1
        return read(con)

    monkeypatch.setattr(duckdb_kql.engine, "schema", counted)
    return count


def test_queries_translate_against_the_schema_read_once(reads):
    backend = EmbeddedBackend()
    for state in ("TEXAS", "KANSAS", "IOWA"):
        rows = run(backend, f"StormEvents | where State == '{state}' | count")
        assert rows[0]["Count"] > 0
    assert reads[0] == 1


def test_a_table_made_by_a_command_is_joinable_in_the_next_query(reads):
    backend = EmbeddedBackend()
    run(backend, "StormEvents | take 1 | join kind=inner (StormEvents | take 1) on State")
    assert reads[0] == 1
    run(backend, ".set-or-append Made <| StormEvents | summarize N = count() by State "
                 "| top 3 by N")
    rows = run(backend, "Made | join kind=inner (StormEvents | summarize M = count() "
                        "by State) on State | project State, N, M")
    assert len(rows) == 3 and all(row["N"] == row["M"] for row in rows)
    assert reads[0] == 2
    run(backend, "Made | count")
    assert reads[0] == 2


def test_a_command_that_fails_part_way_has_the_schema_read_again(reads):
    backend = EmbeddedBackend()
    run(backend, ".set-or-append Made <| StormEvents | summarize N = count() by State")
    run(backend, "Made | count")
    assert reads[0] == 2  # for the command, and again after it
    with pytest.raises(KustoFlowsError):  # the table exists; the rows do not fit it
        run(backend, ".set-or-append Made <| print When = now(), Where = 'x', What = 1.5")
    run(backend, "Made | count")
    assert reads[0] == 3  # read again: the failed command ran as SQL
