"""The bundled sample database for the embedded default: SYNTHETIC data.

`StormEvents` looks like the famous ADX sample table (same column names and kinds)
but every value is generated here from a fixed seed, so every run, test and
screenshot sees the same rows. It is not real weather data. `JobLog` is a small
table the example control-command flow appends to.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["DATABASE", "ROW_COUNT", "SEED", "load_into", "storm_events"]

DATABASE = "Samples"
SEED = 20070101
ROW_COUNT = 5000
_START = datetime(2007, 1, 1, tzinfo=UTC)

_STATES = [
    ("TEXAS", 9), ("KANSAS", 7), ("IOWA", 6), ("ILLINOIS", 5), ("MISSOURI", 5),
    ("GEORGIA", 4), ("MINNESOTA", 4), ("WISCONSIN", 4), ("NEBRASKA", 4),
    ("NEW YORK", 4), ("NORTH CAROLINA", 3), ("PENNSYLVANIA", 3), ("OKLAHOMA", 3),
    ("FLORIDA", 3), ("COLORADO", 2), ("CALIFORNIA", 2), ("ALASKA", 1), ("VERMONT", 1),
]
_EVENT_TYPES = [
    ("Thunderstorm Wind", 10), ("Hail", 9), ("Flash Flood", 4), ("Drought", 3),
    ("Winter Weather", 3), ("Heavy Snow", 2), ("Tornado", 2), ("High Wind", 2),
    ("Flood", 2), ("Heavy Rain", 1), ("Lightning", 1), ("Blizzard", 1),
]
_SOURCES = ["Trained Spotter", "Public", "Emergency Manager", "Law Enforcement",
            "COOP Observer", "Broadcast Media"]

STORM_COLUMNS: list[tuple[str, str]] = [
    ("StartTime", "TIMESTAMP"), ("EndTime", "TIMESTAMP"), ("EpisodeId", "BIGINT"),
    ("EventId", "BIGINT"), ("State", "VARCHAR"), ("EventType", "VARCHAR"),
    ("InjuriesDirect", "BIGINT"), ("DeathsDirect", "BIGINT"),
    ("DamageProperty", "BIGINT"), ("DamageCrops", "BIGINT"), ("Source", "VARCHAR"),
    ("BeginLat", "DOUBLE"), ("BeginLon", "DOUBLE"),
]


def storm_events(count: int = ROW_COUNT, seed: int = SEED) -> dict[str, list[Any]]:
    """The StormEvents columns as lists, same values for the same seed."""
    rng = random.Random(seed)
    states = [s for s, _ in _STATES]
    state_w = [w for _, w in _STATES]
    kinds = [k for k, _ in _EVENT_TYPES]
    kind_w = [w for _, w in _EVENT_TYPES]
    columns: dict[str, list[Any]] = {name: [] for name, _ in STORM_COLUMNS}
    for index in range(count):
        start = _START + timedelta(minutes=rng.randrange(0, 365 * 24 * 60))
        kind = rng.choices(kinds, kind_w)[0]
        severe = kind in ("Tornado", "Flash Flood", "Blizzard")
        columns["StartTime"].append(start.replace(tzinfo=None))
        columns["EndTime"].append((start + timedelta(minutes=rng.randrange(0, 600)))
                                  .replace(tzinfo=None))
        columns["EpisodeId"].append(1000 + index // 3)
        columns["EventId"].append(10_000 + index)
        columns["State"].append(rng.choices(states, state_w)[0])
        columns["EventType"].append(kind)
        columns["InjuriesDirect"].append(rng.choice([0] * 12 + [1, 2, 5]) * (3 if severe else 1))
        columns["DeathsDirect"].append(1 if severe and rng.random() < 0.04 else 0)
        columns["DamageProperty"].append(rng.choice([0, 0, 0, 1000, 5000, 20000, 250000]))
        columns["DamageCrops"].append(rng.choice([0, 0, 0, 0, 500, 10000]))
        columns["Source"].append(rng.choice(_SOURCES))
        columns["BeginLat"].append(round(rng.uniform(25.0, 49.0), 4))
        columns["BeginLon"].append(round(rng.uniform(-124.0, -67.0), 4))
    return columns


def load_into(con: Any, count: int = ROW_COUNT) -> None:
    """Create the sample tables on a DuckDB connection whose current database is
    the one to fill (the caller attaches and selects `Samples`)."""
    data = storm_events(count)
    names = [name for name, _ in STORM_COLUMNS]
    selects = ", ".join(
        f"unnest(${i + 1}::{kind}[]) AS \"{name}\"" for i, (name, kind) in enumerate(STORM_COLUMNS)
    )
    con.execute(f"CREATE OR REPLACE TABLE StormEvents AS SELECT {selects}",
                [data[name] for name in names])
    con.execute(
        "CREATE OR REPLACE TABLE JobLog (Timestamp TIMESTAMP, Job VARCHAR, RowCount BIGINT)"
    )
