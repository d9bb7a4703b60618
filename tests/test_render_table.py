"""The e-mail-safe HTML table and the CSV: escaped cells, right-aligned numbers with
thousands separators (not in ids), datetimes readable under a header marked UTC,
empty nulls, a capped body that says how many rows were left out, and a CSV holding
every row exactly as Kusto prints it."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

from shared.kusto.types import Column
from shared.render.capture import RenderCapture
from shared.render.cells import cell_text
from shared.render.table import display_text, html_table

COLUMNS = [Column("State", "string"), Column("Events", "long"), Column("At", "datetime")]


def test_a_script_in_a_cell_stays_text() -> None:
    html = html_table(COLUMNS, [["<script>alert(1)</script>", 1, None]], 1, 10)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_numbers_are_right_aligned_and_text_left() -> None:
    html = html_table(COLUMNS, [["TEXAS", 5, None]], 1, 10)
    assert re.search(r'<td style="[^"]*text-align:right[^"]*">5</td>', html)
    assert re.search(r'<td style="[^"]*text-align:left[^"]*">TEXAS</td>', html)


def test_the_table_uses_inline_css_only() -> None:
    html = html_table(COLUMNS, [["TEXAS", 5, None]], 1, 10)
    assert "<style" not in html and "class=" not in html


def test_cells_are_printed_as_kusto_prints_them() -> None:
    assert cell_text(datetime(2007, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2007-01-02T03:04:05Z"
    assert cell_text(None) == ""
    assert cell_text(True) == "true"
    assert cell_text(timedelta(days=1, hours=2)) == "1.02:00:00"
    assert cell_text({"a": [1, 2]}) == '{"a":[1,2]}'


def test_a_capped_table_says_how_many_rows_were_left_out() -> None:
    rows = [[f"S{i}", i, None] for i in range(5)]
    html = html_table(COLUMNS, rows[:2], 5, 2)
    assert html.count("<tr>") == 3
    assert "Showing 2 of 5 rows; 3 more are in the attached CSV." in html


def test_an_empty_result_says_no_rows() -> None:
    assert "No rows" in html_table(COLUMNS, [], 0, 10)


def test_the_capture_keeps_a_capped_head_and_a_full_csv() -> None:
    capture = RenderCapture(head_rows=3, keep_rows=False)
    capture.begin_table("PrimaryResult", COLUMNS, True)
    moment = datetime(2007, 1, 1, tzinfo=UTC)
    for start in range(0, 10, 4):
        capture.add_rows([[f"S{i}", i, moment] for i in range(start, min(start + 4, 10))])
    assert capture.total == 10
    assert len(capture.head) == 3
    assert capture.rows == []
    parsed = list(csv.reader(io.StringIO(capture.csv_bytes().decode("utf-8"))))
    assert parsed[0] == ["State", "Events", "At"]
    assert len(parsed) == 11
    assert parsed[10] == ["S9", "9", "2007-01-01T00:00:00Z"]


def test_the_mail_shows_numbers_with_separators_but_not_ids_and_readable_datetimes() -> None:
    damage, event_id = Column("Damage", "long"), Column("EventId", "long")
    assert display_text(8680000, damage) == "8,680,000"
    assert display_text(-1234567.25, Column("Delta", "real")) == "-1,234,567.25"
    assert display_text(1e16, Column("Big", "real")) == "1e+16"
    assert display_text(None, damage) == ""
    assert display_text(14990, event_id) == "14990"
    assert display_text(2007, Column("Year", "long")) == "2007"
    moment = datetime(2007, 6, 1, 4, 0, tzinfo=UTC)
    assert display_text(moment, COLUMNS[2]) == "2007-06-01 04:00:00"
    html = html_table([damage, COLUMNS[2]], [[8680000, moment]], 1, 10)
    assert ">8,680,000</td>" in html and ">2007-06-01 04:00:00</td>" in html
    assert re.search(r"<th [^>]*>At<span [^>]*> \(UTC\)</span></th>", html)


def test_the_csv_keeps_the_exact_values_the_table_formats() -> None:
    capture = RenderCapture(head_rows=1, keep_rows=False)
    capture.begin_table("PrimaryResult", [Column("Damage", "long"), COLUMNS[2]], True)
    capture.add_rows([[8680000, datetime(2007, 6, 1, 4, tzinfo=UTC)]])
    assert capture.csv_bytes() == b"Damage,At\r\n8680000,2007-06-01T04:00:00Z\r\n"
