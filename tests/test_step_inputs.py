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


def test_html_written_in_the_flow_file_is_sent_as_html_and_values_stay_escaped(
        tmp_path: Path) -> None:
    import email
    from email import policy

    path = write_flow(tmp_path, "f", """\
        vars: {who: "<b>Ops</b>"}
        steps:
          - {id: a, action: email.send, to: a@contoso.com, subject: s, body: "<p>Hi</p>"}
          - {id: b, action: email.send, to: a@contoso.com, subject: s,
             body: "<p>Hi {{ vars.who }}</p>"}
        """)
    run = run_flow_file(path, settings_for(tmp_path))
    assert run.status == RunStatus.SUCCEEDED, run.to_dict()
    bodies = []
    for eml in sorted((tmp_path / "outbox").glob("*.eml")):
        message = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
        bodies.append(message.get_body(("html",)).get_content())  # type: ignore[union-attr]
    assert any("<p>Hi</p>" in b for b in bodies)
    assert any("<p>Hi &lt;b&gt;Ops&lt;/b&gt;</p>" in b for b in bodies)
