"""The report `kusto.visualize` hands to e-mail (`shared.render.report` and the step in
`shared.steps.kusto_visualize`), run on the embedded default.

What: the Azure Data Explorer deep link (query gzip-compressed + base64, only for
https clusters); the e-mail-safe body (chart inline by `cid:`, never a data: URI,
the capped table below it, flow, step and run time in UTC); the step's outputs
(body_html, chart, attachment, csv, deep_link) for a chart and for a table;
`chart: auto` following the query's own `| render` and falling back to a table;
an empty result; and a result that cannot be charted failing its step with the
columns it saw.

Why: this HTML is what lands in people's inboxes; a data: URI is blocked by Outlook,
a missing CSV loses the rows the table left out, and a chart error that reads as
an internal bug sends the flow's author to the wrong place.
"""

from __future__ import annotations

import base64
import csv
import gzip
import io
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from markupsafe import Markup

from shared.mail.message import Attachment
from shared.render.report import deep_link, report_html
from shared.results import RunStatus, StepStatus
from tests.helpers import run_flow_file, settings_for, write_flow


def visualize(tmp_path: Path, query: str, extra: str = "") -> Any:
    """Run a one-step flow: kusto.visualize of `query`, plus the YAML lines `extra`."""
    lines = ["steps:", "  - id: by_state", "    action: kusto.visualize",
             "    connection: samples", "    query: |"]
    lines += ["      " + line for line in textwrap.dedent(query).strip().splitlines()]
    lines += ["    " + line for line in extra.strip().splitlines()]
    path = write_flow(tmp_path, "report", "\n".join(lines) + "\n")
    return run_flow_file(path, settings_for(tmp_path))


# --- deep link -----------------------------------------------------------------------


def test_the_deep_link_carries_the_query_gzip_compressed_and_base64_encoded():
    query = 'StormEvents | where State == "TEXAS" | count'
    link = deep_link("https://help.kusto.windows.net", "Samples", query)
    url = urlparse(link)
    assert (url.scheme, url.netloc) == ("https", "dataexplorer.azure.com")
    assert url.path == "/clusters/help.kusto.windows.net/databases/Samples"
    packed = parse_qs(url.query)["query"][0]
    assert gzip.decompress(base64.b64decode(packed)).decode("utf-8") == query


def test_no_deep_link_for_clusters_the_web_ui_cannot_open():
    assert deep_link("embedded", "Samples", "print 1") == ""
    assert deep_link("http://127.0.0.1:8080", "Samples", "print 1") == ""


# --- the body ------------------------------------------------------------------------


def test_the_body_is_a_mail_safe_document_with_the_chart_inline_by_cid():
    paris = timezone(timedelta(hours=2))
    html = report_html(title="Storms <top 10>", flow="daily", step="by_state",
                       run_at=datetime(2024, 5, 1, 9, 30, tzinfo=paris),
                       table=Markup("<table><tr><td>TEXAS</td></tr></table>"),
                       chart_cid="by_state-chart@kf", chart_alt="Storms",
                       link="https://dataexplorer.azure.com/clusters/x/databases/y?query=a%2B")
    assert html.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in html
    assert '<img src="cid:by_state-chart@kf" alt="Storms"' in html
    assert "data:" not in html
    assert "Storms &lt;top 10&gt;" in html  # the title is escaped
    assert "<b>daily</b>" in html and "<b>by_state</b>" in html
    assert "run 2024-05-01 07:30 UTC" in html  # converted to UTC
    assert html.index("cid:") < html.index("<table>") < html.index("Open this query")
    assert "<style" not in html and "<script" not in html


# --- the step ------------------------------------------------------------------------


def test_a_chart_step_gives_the_body_the_inline_chart_the_csv_and_no_link(tmp_path):
    run = visualize(tmp_path, """
        StormEvents
        | summarize Events = count(), Injuries = sum(InjuriesDirect) by State
        | order by Events desc
        """, "chart: bar\nmax_table_rows: 5\ntitle: Storms by state")
    assert run.status == RunStatus.SUCCEEDED, run.to_dict()
    out = run.steps[0].outputs
    chart = out["chart"]
    assert isinstance(chart, Attachment) and chart.content_type == "image/png"
    assert chart.data.startswith(b"\x89PNG") and chart.content_id
    assert out["attachment"] is chart
    body = str(out["body_html"])
    assert f'src="cid:{chart.content_id}"' in body and "data:" not in body
    assert "Storms by state" in body and "<b>report</b>" in body and "<b>by_state</b>" in body
    total = out["row_count"]
    assert total > 5
    assert f"Showing 5 of {total} rows" in body
    rows = list(csv.reader(io.StringIO(out["csv"].data.decode("utf-8"))))
    assert rows[0] == ["State", "Events", "Injuries"] and len(rows) == total + 1
    assert out["csv"].name == "by_state.csv" and out["csv"].content_type == "text/csv"
    assert out["deep_link"] == ""  # the embedded engine has no web UI


def test_a_table_step_attaches_the_table_as_html_and_draws_no_chart(tmp_path):
    run = visualize(tmp_path, "StormEvents | summarize Events = count() by State",
                    "chart: table")
    out = run.steps[0].outputs
    assert out["chart"] is None
    assert "cid:" not in str(out["body_html"])
    attachment = out["attachment"]
    assert attachment.content_type == "text/html" and b"<table" in attachment.data


def test_chart_auto_follows_the_querys_render_and_the_steps_title_wins(tmp_path):
    run = visualize(tmp_path, """
        StormEvents
        | summarize Events = count() by EventType
        | render piechart with (title="From the query")
        """, "chart: auto\ntitle: From the flow")
    assert run.status == RunStatus.SUCCEEDED, run.to_dict()
    out = run.steps[0].outputs
    assert out["chart"] is not None and run.steps[0].summary.endswith("pie")
    assert "From the flow" in str(out["body_html"])


def test_chart_auto_without_a_render_falls_back_to_a_table(tmp_path):
    run = visualize(tmp_path, "StormEvents | summarize Events = count() by State",
                    "chart: auto")
    assert run.steps[0].outputs["chart"] is None
    assert run.steps[0].summary.endswith("table")


def test_an_empty_result_mails_a_no_rows_chart_and_table_instead_of_failing(tmp_path):
    run = visualize(tmp_path, """
        StormEvents
        | where State == "NOWHERE"
        | summarize Events = count() by bin(StartTime, 1h)
        """, "chart: timechart")
    assert run.status == RunStatus.SUCCEEDED, run.to_dict()
    out = run.steps[0].outputs
    assert out["row_count"] == 0 and out["chart"].data.startswith(b"\x89PNG")
    assert "No rows" in str(out["body_html"])


def test_a_result_without_a_numeric_column_fails_the_step_naming_the_columns(tmp_path):
    run = visualize(tmp_path, "StormEvents | distinct State, EventType",
                    "chart: column")
    step = run.steps[0]
    assert step.status == StepStatus.FAILED
    assert step.error.code == "InvalidInput"
    assert "State (string), EventType (string)" in step.error.message
    assert "chart: table" in step.error.hint


def test_chart_auto_takes_the_render_kind_and_the_steps_title_and_columns():
    from types import SimpleNamespace

    from shared.steps.kusto_visualize import chart_spec

    hint = {"Visualization": "columnchart", "Title": "Query title", "XColumn": "State"}
    step = SimpleNamespace(chart="auto", x=None, y=["Injuries"], series="Source")
    spec = chart_spec(step, {"title": "Flow title"}, hint)
    assert (spec.kind, spec.title, spec.x, spec.y, spec.series) == (
        "column", "Flow title", "State", ("Injuries",), "Source")
    bare = SimpleNamespace(chart="auto", x=None, y=[], series=None)
    assert chart_spec(bare, {}, hint).title == "Query title"
    assert chart_spec(bare, {}, {"Visualization": "table"}) is None


def test_a_mail_showing_two_reports_embeds_both_charts_and_no_other(tmp_path: Path) -> None:
    """Charts travel in the report's own output (`body_html` carries its inline parts):
    a body that shows two reports among its own text embeds exactly their two charts,
    and a third report drawn in the run but not shown is not embedded."""
    import email
    from email import policy

    report = ("    action: kusto.visualize\n    connection: samples\n    chart: bar\n"
              "    query: StormEvents | summarize n = count() by State | top 3 by n\n")
    path = write_flow(tmp_path, "two", "steps:\n"
                      + "".join(f"  - id: {name}\n{report}" for name in ("a", "b", "unused"))
                      + "  - id: mail\n    action: email.send\n    to: x@contoso.com\n"
                        "    subject: two\n"
                        "    body: \"<p>{{ vars.intro }}</p>{{ steps.a.body_html }}"
                        "<hr>{{ steps.b.body_html }}\"\n"
                      + "vars: {intro: '<b>not bold</b>'}\n")
    run = run_flow_file(path, settings_for(tmp_path))
    assert run.status == RunStatus.SUCCEEDED, run.to_dict()
    [eml] = (tmp_path / "outbox").glob("*.eml")
    parsed = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    html = parsed.get_body(("html",)).get_content()
    images = [p for p in parsed.walk() if p.get_content_type() == "image/png"]
    ids = sorted(p["Content-ID"].strip("<>") for p in images)
    assert [i.split("-chart-")[0] for i in ids] == ["a", "b"]
    for content_id in ids:
        assert f'src="cid:{content_id}"' in html
    assert "&lt;b&gt;not bold&lt;/b&gt;" in html
