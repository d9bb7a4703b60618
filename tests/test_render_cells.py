"""Cell text for the CSV and the HTML table: NaN and infinities print as Kusto
prints them (they used to crash the step: `int(nan)`), and the CSV's faster path
writes byte for byte what `cell_text` of every cell wrote before (it passes strings,
ints and nulls to the csv module as they are and shortcuts floats and UTC
datetimes, only for speed)."""

from __future__ import annotations

import csv
import io
import math
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from dateutil.tz import tzutc

from shared.kusto.types import Column
from shared.render.capture import RenderCapture, csv_text
from shared.render.cells import cell_text
from shared.render.table import display_text
from shared.results import StepStatus
from tests.helpers import run_flow_file, settings_for, write_flow

MIXED: list[Any] = [
    None, "", "plain", 'a "quoted", comma', "line\nbreak", "é ✓", "  spaced ", "NaN",
    0, -1, 2**70, True, False,
    0.0, -0.0, 1.5, 2.0, -3.0, 0.1, 1e15, 1e16, -1e16, 9999999999999998.0, 1e-300, 1e300,
    5e-324, math.nan, math.inf, -math.inf, 123456789.123,
    datetime(2007, 1, 2, 3, 4, 5, tzinfo=UTC), datetime(2007, 1, 2, 3, 4, 5, 120000, tzinfo=UTC),
    datetime(2007, 1, 2, 3, 4, 5, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, 999999,
                                                           tzinfo=UTC),
    datetime(1, 1, 1, tzinfo=UTC), datetime(999, 5, 6, 7, 8, 9, 10, tzinfo=UTC),
    datetime(1000, 1, 1, tzinfo=UTC), datetime(2007, 1, 2, 3, 4, 5, 500000, tzinfo=tzutc()),
    datetime(2007, 1, 2, 3, 4, 5, 7), datetime(2007, 1, 2, 3, 4, 5,
                                               tzinfo=timezone(timedelta(hours=2))),
    timedelta(0), timedelta(days=1, hours=2, microseconds=123400), -timedelta(seconds=1),
    Decimal("1.0000000000000000001"), Decimal("-0"), {"a": [1, 2.5, None]}, [], [1, "x"],
    uuid.UUID("74be27de-1e4e-49d9-b579-fe0b331d3642"),
]


def test_nan_and_infinities_print_as_kusto_prints_them() -> None:
    assert cell_text(math.nan) == "NaN"
    assert cell_text(math.inf) == "Infinity"
    assert cell_text(-math.inf) == "-Infinity"
    real = Column("Ratio", "real")
    assert display_text(math.nan, real) == "NaN"
    assert display_text(-math.inf, real) == "-Infinity"
    assert display_text(12345.5, real) == "12,345.5"


def test_a_visualize_step_over_nan_and_infinities_succeeds(tmp_path: Path) -> None:
    path = write_flow(tmp_path, "f", """\
        steps:
          - id: v
            action: kusto.visualize
            connection: samples
            chart: table
            query: "print x = real(nan), y = real(+inf), z = real(-inf), w = 2.0"
        """)
    run = run_flow_file(path, settings_for(tmp_path))
    step = run.steps[0]
    assert step.status == StepStatus.SUCCEEDED, step.error
    assert "NaN" in step.outputs["table_html"] and "-Infinity" in step.outputs["table_html"]


def test_each_value_has_the_same_csv_text_both_ways() -> None:
    for value in MIXED:
        assert csv_text(value) == cell_text(value), value


def test_the_csv_is_byte_identical_to_writing_cell_text_of_every_cell() -> None:
    width = 7
    rows = [[MIXED[(r * 3 + c) % len(MIXED)] for c in range(width)]
            for r in range(len(MIXED) * 2)]
    columns = [Column(f"c{i}", "dynamic") for i in range(width)]
    capture = RenderCapture(head_rows=5, keep_rows=False)
    capture.begin_table("PrimaryResult", columns, True)
    capture.add_rows(rows[:10])
    capture.add_rows(rows[10:])
    expected = io.StringIO(newline="")
    writer = csv.writer(expected)
    writer.writerow([c.name for c in columns])
    writer.writerows([cell_text(v) for v in row] for row in rows)
    assert capture.csv_bytes() == expected.getvalue().encode("utf-8")
