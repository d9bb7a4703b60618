"""The bundled sample database for the embedded default: SYNTHETIC data.

`StormEvents` has the columns and types of the public ADX sample table of the same
name (22 columns, `StormSummary` dynamic) and 5,000 events of 2007 whose shapes
follow it: episodes of related events in one state, seasons, damage that is 0 for
most events and reaches hundreds of millions for a few, narratives, towns and
coordinates inside the state (`sample_storms`, `sample_places`, `sample_text`).
`PopulationData` gives each of the 50 states a rounded population, for joins.
Every value is generated from a fixed seed, so every run, test and screenshot sees
the same rows. It is not real weather data. `JobLog` is a small table the example
control-command flow appends to.
"""

from __future__ import annotations

import json
from typing import Any

from .sample_places import STATES
from .sample_storms import generate

__all__ = ["DATABASE", "POPULATION_COLUMNS", "ROW_COUNT", "SEED", "STORM_COLUMNS",
           "load_into", "population", "storm_events"]

DATABASE = "Samples"
SEED = 20070101
ROW_COUNT = 5000

#: (column, DuckDB type) in the public table's order; the Kusto types are
#: datetime, int, string, real and dynamic (JSON).
STORM_COLUMNS: list[tuple[str, str]] = [
    ("StartTime", "TIMESTAMP"), ("EndTime", "TIMESTAMP"), ("EpisodeId", "INTEGER"),
    ("EventId", "INTEGER"), ("State", "VARCHAR"), ("EventType", "VARCHAR"),
    ("InjuriesDirect", "INTEGER"), ("InjuriesIndirect", "INTEGER"),
    ("DeathsDirect", "INTEGER"), ("DeathsIndirect", "INTEGER"),
    ("DamageProperty", "INTEGER"), ("DamageCrops", "INTEGER"), ("Source", "VARCHAR"),
    ("BeginLocation", "VARCHAR"), ("EndLocation", "VARCHAR"),
    ("BeginLat", "DOUBLE"), ("BeginLon", "DOUBLE"), ("EndLat", "DOUBLE"), ("EndLon", "DOUBLE"),
    ("EpisodeNarrative", "VARCHAR"), ("EventNarrative", "VARCHAR"), ("StormSummary", "JSON"),
]
POPULATION_COLUMNS: list[tuple[str, str]] = [("State", "VARCHAR"), ("Population", "BIGINT")]


def _kusto_time(value: Any) -> str:
    return f"{value.isoformat()}.0000000Z"  # whole minutes: no fraction in isoformat


def storm_events(count: int = ROW_COUNT, seed: int = SEED) -> dict[str, list[Any]]:
    """The StormEvents columns as lists, same values for the same seed. StartTime and
    EndTime are naive UTC datetimes; StormSummary is a dict (a dynamic value)."""
    columns: dict[str, list[Any]] = {name: [] for name, _ in STORM_COLUMNS}
    for event in generate(count, seed):
        event["StormSummary"] = {
            "TotalDamages": event["DamageProperty"] + event["DamageCrops"],
            "StartTime": _kusto_time(event["StartTime"]),
            "EndTime": _kusto_time(event["EndTime"]),
            "Details": {"Description": event["Description"], "Location": event["State"]},
        }
        for name, values in columns.items():
            values.append(event[name])
    return columns


def population() -> dict[str, list[Any]]:
    """The PopulationData columns: every state StormEvents uses, once."""
    return {"State": [s.name for s in STATES], "Population": [s.population for s in STATES]}


def _create(con: Any, table: str, spec: list[tuple[str, str]], data: dict[str, list[Any]]) \
        -> None:
    selects = ", ".join(
        f'unnest(${i + 1}::{"VARCHAR" if kind == "JSON" else kind}[])::{kind} AS "{name}"'
        for i, (name, kind) in enumerate(spec))
    con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT {selects}",
                [data[name] for name, _ in spec])


def load_into(con: Any, count: int = ROW_COUNT) -> None:
    """Create the sample tables on a DuckDB connection whose current database is
    the one to fill (the caller attaches and selects `Samples`)."""
    data = storm_events(count)
    data["StormSummary"] = [json.dumps(v, separators=(",", ":")) for v in data["StormSummary"]]
    _create(con, "StormEvents", STORM_COLUMNS, data)
    _create(con, "PopulationData", POPULATION_COLUMNS, population())
    con.execute(
        "CREATE OR REPLACE TABLE JobLog (Timestamp TIMESTAMP, Job VARCHAR, RowCount BIGINT)"
    )
