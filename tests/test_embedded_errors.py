"""Errors of the embedded engine in Kusto's words (shared/kusto/embedded_errors.py).

duckdb-kql runs KQL as translated SQL, so its mistakes used to come back as duckdb's
complaints about that SQL (`Binder Error: Referenced column ... LINE 2: _s1 AS (SELECT
...`), and `project Stat` even read "cannot be referenced before it is defined". A
Kusto user wrote no SQL: each test runs a query with a typical mistake on the real
embedded engine and checks the message names the KQL name, where it is in the KQL
(line and column from 1), the names that do exist, in one line, with no SQL in it;
the last ones do the same through a whole flow run and the CLI.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from shared.cli import main
from shared.errors import KustoQueryError
from shared.kusto.backend import KustoRequest
from shared.kusto.embedded import EmbeddedBackend
from shared.kusto.embedded_errors import query_error
from shared.kusto.reader import CollectSink
from shared.results import RunStatus
from tests.helpers import run_flow_file, settings_for, write_flow

#: What translated-SQL text looks like; none of it may reach a Kusto user.
SQL_WORDS = ("SELECT", "Binder Error", "Catalog Error", "Parser Error", "LINE ", "_s0", "_s1",
             "FROM clause", "GROUP BY", "CAST(")

STORM_COLUMNS = ("StartTime", "EventType", "DamageProperty", "StormSummary")


@pytest.fixture(scope="module")
def backend() -> EmbeddedBackend:
    return EmbeddedBackend()


def refusal(backend: EmbeddedBackend, kql: str) -> str:
    """The message the embedded engine fails *kql* with (message and hint, as shown)."""
    with pytest.raises(KustoQueryError) as caught:
        backend.execute(KustoRequest("Samples", kql, timeout=60), CollectSink())
    text = str(caught.value)
    assert_kusto_words(text)
    return text


def assert_kusto_words(text: str) -> None:
    leaked = [word for word in SQL_WORDS if word in text]
    assert not leaked, f"SQL in the message ({leaked}): {text}"
    assert "\n" not in text, f"one line, one message: {text!r}"
    assert text.count("query failed") == 1, text


def test_a_misspelled_column_is_named_with_its_place_a_suggestion_and_the_columns(
        backend: EmbeddedBackend) -> None:
    text = refusal(backend, "StormEvents\n| where DamageProprety > 0\n| count")
    assert ("Semantic error: SEM0100: 'where' operator: Failed to resolve scalar expression "
            "named 'DamageProprety' (line 2, column 9)") in text
    assert "Did you mean 'DamageProperty'?" in text
    assert "Columns here: StartTime, EndTime," in text
    assert all(column in text for column in STORM_COLUMNS)


def test_a_misspelled_table_is_named_with_a_suggestion_and_the_tables(
        backend: EmbeddedBackend) -> None:
    text = refusal(backend, "StormEvnts | take 3")
    assert ("Failed to resolve table or column expression named 'StormEvnts' "
            "(line 1, column 1)") in text
    assert "Did you mean 'StormEvents'?" in text
    assert "Tables: " in text and "PopulationData" in text and "StormEvents" in text


def test_a_misspelled_table_on_the_right_of_a_join_names_the_join(
        backend: EmbeddedBackend) -> None:
    text = refusal(backend, "StormEvents | join kind=inner (PopulationDat) on State")
    assert "'join' operator: Failed to resolve table or column expression named " \
           "'PopulationDat' (line 1, column 32)" in text
    assert "Did you mean 'PopulationData'?" in text


def test_an_unknown_function_is_named_with_its_place_and_the_closest_known_one(
        backend: EmbeddedBackend) -> None:
    text = refusal(backend, "StormEvents | extend Lower = tolowr(State) | take 1")
    assert "'extend' operator: Unknown function: 'tolowr' (line 1, column 30)" in text
    assert "Did you mean 'tolower()'?" in text
    assert "unsupported KQL construct" not in text and "translate/" not in text


def test_an_aggregation_the_engine_lacks_is_not_called_a_typo_only(
        backend: EmbeddedBackend) -> None:
    text = refusal(backend, "StormEvents | summarize percentiles(DamageProperty, 50, 90)")
    assert "Unknown aggregation function: 'percentiles' (line 1, column 25)" in text
    assert "a Kusto function it does not support" in text


def test_a_column_used_before_the_extend_that_defines_it_is_an_unknown_column(
        backend: EmbeddedBackend) -> None:
    text = refusal(backend, "StormEvents\n| where Ratio > 1\n"
                            "| extend Ratio = DamageCrops * 1.0 / DamageProperty")
    assert "'where' operator: Failed to resolve scalar expression named 'Ratio' " \
           "(line 2, column 9)" in text
    assert "'Ratio' is only defined later, by the 'extend' at line 3, column 10" in text
    assert "Columns here: StartTime," in text


def test_a_column_assigned_by_the_same_extend_is_an_unknown_column_too(
        backend: EmbeddedBackend) -> None:
    text = refusal(backend, "StormEvents | extend Total = DamageProperty + DamageCrops, "
                            "Big = Total > 1000000")
    assert "'extend' operator: Failed to resolve scalar expression named 'Total' " \
           "(line 1, column 66)" in text
    assert "assigned by this same 'extend'" in text
    assert "unsupported" not in text


def test_projecting_a_misspelled_column_no_longer_reads_defined_before_use(
        backend: EmbeddedBackend) -> None:
    text = refusal(backend, "StormEvents | project Stat, EventType")
    assert "cannot be referenced before it is defined" not in text
    assert "'project' operator: Failed to resolve scalar expression named 'Stat' " \
           "(line 1, column 23)" in text
    assert "Did you mean 'State'?" in text


def test_a_bad_summarize_by_column_is_named_with_the_columns_of_the_input(
        backend: EmbeddedBackend) -> None:
    text = refusal(backend, "StormEvents | summarize Events = count() by EventTyp")
    assert "'summarize' operator: Failed to resolve scalar expression named 'EventTyp' " \
           "(line 1, column 45)" in text
    assert "Did you mean 'EventType'?" in text
    assert "aliases" not in text
    inside_bin = refusal(backend, "StormEvents\n| summarize count() by bin(StartTme, 7d)")
    assert "'summarize' operator: Failed to resolve scalar expression named 'StartTme' " \
           "(line 2, column 28)" in inside_bin
    assert "Did you mean 'StartTime'?" in inside_bin


def test_the_columns_listed_are_those_the_pipeline_has_at_that_point(
        backend: EmbeddedBackend) -> None:
    text = refusal(backend, "StormEvents | project State | where EventType == 'Hail'")
    assert text.split("Columns here: ")[1].split(" (hint")[0] == "State"
    after_summarize = refusal(backend, "StormEvents | summarize n = count() by State\n"
                                       "| where count_ > 3")
    assert "named 'count_' (line 2, column 9)" in after_summarize
    assert "Columns here: State, n (hint" in after_summarize


def test_the_right_side_of_a_join_lists_its_own_columns(backend: EmbeddedBackend) -> None:
    text = refusal(backend, "StormEvents | join kind=inner (PopulationData) "
                            "on $left.State == $right.Stat")
    assert "'join' operator: Failed to resolve scalar expression named 'Stat'" in text
    assert "Columns of the right side: State, Population" in text


def test_names_in_strings_and_comments_are_not_taken_for_the_place(
        backend: EmbeddedBackend) -> None:
    text = refusal(backend, "StormEvents\n// the Stat column\n"
                            "| where State == 'Stat' or Stat == 'x'")
    assert "named 'Stat' (line 3, column 28)" in text


def test_an_unknown_database_lists_the_databases(backend: EmbeddedBackend) -> None:
    text = refusal(backend, "database('Sample').StormEvents | take 1")
    assert "Unknown database 'Sample' (line 1, column 10)" in text
    assert "Did you mean 'Samples'?" in text and "memory" not in text


def test_a_value_of_the_wrong_type_is_named_in_kusto_types(backend: EmbeddedBackend) -> None:
    text = refusal(backend, "StormEvents | where DamageProperty > 'a lot'")
    assert "The string 'a lot' cannot be used as an int value (line 1, column 38)" in text
    assert "INT32" not in text
    compared = refusal(backend, "StormEvents | where StartTime > 5")
    assert "Cannot compare values of type datetime and type long" in compared
    assert "TIMESTAMP" not in compared and "BIGINT" not in compared


def test_a_syntax_error_keeps_the_parsers_words_with_its_place(
        backend: EmbeddedBackend) -> None:
    text = refusal(backend, "StormEvents | where State == 'TEXAS' |")
    assert "Syntax error: SYN0002: could not parse KQL at line 1, column 38: extraneous " \
           "input '|' expecting end of query or ';'" in text


def test_an_operator_the_engine_lacks_is_named_as_written(backend: EmbeddedBackend) -> None:
    text = refusal(backend, "StormEvents | take 3\n| evaluate bag_unpack(StormSummary)")
    assert "The embedded engine does not support 'evaluate bag_unpack' (line 2, column 3)" \
        in text
    assert "in this wave" not in text and "Operator'" not in text


def test_sql_left_in_an_engine_message_is_replaced_by_words() -> None:
    sql_shaped = duckdb.BinderException(
        'Binder Error: something new about "_s3"\n\nLINE 3: _s3 AS (SELECT * FROM _s2)\n'
        "                 ^^^")
    error = query_error(sql_shaped, "StormEvents | take 1")
    assert_kusto_words(str(error))
    assert error.message == ("query failed: the embedded engine could not run the query: "
                             "a name or a value's type in the query did not resolve")


FLOW = """\
    steps:
      - id: damage
        action: kusto.query
        connection: samples
        query: |
          StormEvents
          | where StartTime > datetime(2007-06-01)
          | summarize Damage = sum(DamageProprety) by State
    """


def test_a_flow_step_fails_with_the_kusto_message(tmp_path: Path) -> None:
    run = run_flow_file(write_flow(tmp_path, "damage", FLOW), settings_for(tmp_path))
    assert run.status == RunStatus.FAILED
    step = run.steps[0]
    assert step.error is not None and step.error.code == "KustoQueryError"
    message = step.error.message
    assert_kusto_words(message)
    assert ("'summarize' operator: Failed to resolve scalar expression named "
            "'DamageProprety' (line 3, column 26)") in message
    assert "Did you mean 'DamageProperty'?" in message
    assert step.summary == message
    assert run.error is not None and run.error.message == message


def test_the_cli_prints_the_kusto_message_and_no_sql(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "flows"
    write_flow(folder, "damage", FLOW)
    monkeypatch.setenv("FLOWS_DIR", str(folder))
    monkeypatch.setenv("STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("OUTBOX_DIR", str(tmp_path / "outbox"))
    assert main(["run", "damage"]) == 1
    out = capsys.readouterr().out
    assert not [word for word in SQL_WORDS if word in out], out
    assert re.search(r"KustoQueryError: query failed: Semantic error: SEM0100: 'summarize' "
                     r"operator: Failed to resolve scalar expression named 'DamageProprety' "
                     r"\(line 3, column 26\)", out)
