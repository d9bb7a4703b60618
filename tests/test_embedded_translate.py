"""The embedded engine keeps its schema and its translations of KQL to SQL
(`shared/kusto/embedded_translate.py`).

What: queries translate against the schema read for the first one; a control command
(`.set-or-append`, which creates a table) makes the next query read it again, so a
table made by one step is joinable in the next; a command that fails part way does
too. A query text run again with other parameter values is translated once and
answers for each value as a fresh translation would; a bad or missing value is
refused on a kept translation as on a new one; `now()` and `ago()` move between
runs of a kept translation. Why: reading the catalog and translating
cost about 10 ms of every run (issue 14, runs per instance); a stale schema would
make a new table unknown to `join`, a kept clock would freeze `ago(1h)`.
"""

from __future__ import annotations

import time
from datetime import datetime

import duckdb_kql
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


@pytest.fixture
def translations(monkeypatch) -> list[str]:
    texts: list[str] = []
    translate = duckdb_kql.to_sql

    def counted(text, *args, **kwargs):
        texts.append(text)
        return translate(text, *args, **kwargs)

    monkeypatch.setattr(duckdb_kql, "to_sql", counted)
    return texts


REPORT = ("declare query_parameters(state:string, min_events:long = 1);\n"
          "StormEvents | where State == state | summarize Events = count() by EventType "
          "| where Events >= min_events | order by Events desc, EventType asc")


def run_with(backend: EmbeddedBackend, kql: str, **values) -> list[dict]:
    sink = CollectSink()
    request = KustoRequest("Samples", kql, timeout=60,
                           parameters={k: ("", v) for k, v in values.items()})
    backend.execute(request, sink)
    return sink.tables[0].rows


def test_a_query_run_with_other_values_is_translated_once_and_answers_for_each(
        translations):
    kept, fresh = EmbeddedBackend(), EmbeddedBackend()
    for state, least in (("TEXAS", 1), ("KANSAS", 5), ("IOWA", 1), ("TEXAS", 50)):
        expected = run_with(fresh, REPORT, state=state, min_events=least)
        fresh._translations = type(fresh._translations)()  # nothing kept: a new translation
        assert run_with(kept, REPORT, state=state, min_events=least) == expected
        assert expected and all(row["Events"] >= least for row in expected)
    assert translations.count(REPORT) == 4 + 1  # each fresh one, and the kept one once


def test_a_bad_or_missing_value_is_refused_on_a_kept_translation_too():
    backend = EmbeddedBackend()
    run_with(backend, REPORT, state="TEXAS")
    with pytest.raises(KustoFlowsError, match="min_events"):
        run_with(backend, REPORT, state="TEXAS", min_events="many")
    with pytest.raises(KustoFlowsError, match="state"):
        run_with(backend, REPORT)
    with pytest.raises(KustoFlowsError, match="county"):
        run_with(backend, REPORT, state="TEXAS", county="HARRIS")


def test_now_moves_between_runs_of_a_kept_translation(translations):
    backend = EmbeddedBackend()
    first = run(backend, "print At = now(), Hour = ago(1h)")[0]
    time.sleep(0.02)
    second = run(backend, "print At = now(), Hour = ago(1h)")[0]
    assert isinstance(first["At"], datetime)
    assert second["At"] > first["At"] and second["Hour"] > first["Hour"]


def test_a_command_drops_the_kept_translations(translations):
    backend = EmbeddedBackend()
    run(backend, "StormEvents | count")
    run(backend, "StormEvents | count")
    run(backend, ".set-or-append Made <| StormEvents | take 2")
    run(backend, "StormEvents | count")
    assert translations.count("StormEvents | count") == 2
