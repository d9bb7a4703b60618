"""Templated fields that give a value of another type than text still work where text is
expected: a `title` template that gives a number is a title, not an internal error.

Why: `{{ steps.q.row_count }}` is an int; found by the hardening review as InternalError.
"""

from __future__ import annotations

from pathlib import Path

from shared.results import RunStatus
from tests.helpers import run_flow_file, settings_for, write_flow


def test_a_title_template_that_gives_a_number_titles_the_report(tmp_path: Path) -> None:
    path = write_flow(tmp_path, "f", """\
        steps:
          - id: n
            action: kusto.query
            connection: samples
            query: print n = 42
          - id: chart
            action: kusto.visualize
            connection: samples
            query: StormEvents | summarize c = count() by State | top 3 by c
            chart: bar
            title: "{{ steps.n.rows[0].n }}"
        """)
    run = run_flow_file(path, settings_for(tmp_path))
    assert run.status == RunStatus.SUCCEEDED, run.to_dict()
    assert ">42<" in str(run.steps[1].outputs["body_html"]).replace("\n", "")
