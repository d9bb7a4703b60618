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
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from markupsafe import Markup

from shared.mail.message import Attachment
from shared.render.report import deep_link, report_document, report_html
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


def test_the_body_is_a_mail_safe_fragment_with_the_chart_inline_by_cid():
    paris = timezone(timedelta(hours=2))
    html = report_html(title="Storms <top 10>", flow="daily", step="by_state",
                       run_at=datetime(2024, 5, 1, 9, 30, tzinfo=paris),
                       table=Markup("<table><tr><td>TEXAS</td></tr></table>"),
                       chart_cid="by_state-chart@kf", chart_alt="Storms",
                       link="https://dataexplorer.azure.com/clusters/x/databases/y?query=a%2B")
    # A fragment: one <div>, no document of its own, so reports join in one mail.
    assert html.startswith("<div") and html.endswith("</div>")
    for tag in ("<!DOCTYPE", "<html", "<head", "<body", "<meta", "<title"):
        assert tag.lower() not in html.lower()
    assert '<img src="cid:by_state-chart@kf" alt="Storms"' in html
    assert "data:" not in html
    assert "Storms &lt;top 10&gt;" in html  # the title is escaped
    assert "<b>daily</b>" in html and "<b>by_state</b>" in html
    assert "run 2024-05-01 07:30 UTC" in html  # converted to UTC
    assert html.index("cid:") < html.index("<table>") < html.index("Open this query")
    assert "<style" not in html and "<script" not in html


def test_the_table_file_is_a_whole_document():
    html = report_document(title="Storms", flow="daily", step="by_state",
                           run_at=datetime(2024, 5, 1, tzinfo=UTC),
                           table=Markup("<table><tr><td>TEXAS</td></tr></table>"))
    assert html.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in html
    assert html.count("<html") == html.count("<body") == 1
    assert "<title>Storms</title>" in html and ">TEXAS</td>" in html


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


def test_an_empty_result_mails_one_no_rows_line_and_no_chart_instead_of_failing(tmp_path):
    run = visualize(tmp_path, """
        StormEvents
        | where State == "NOWHERE"
        | summarize Events = count() by bin(StartTime, 1h)
        """, "chart: timechart")
    assert run.status == RunStatus.SUCCEEDED, run.to_dict()
    out = run.steps[0].outputs
    assert out["row_count"] == 0 and out["chart"] is None
    body = str(out["body_html"])
    assert body.count("No rows") == 1 and "<table" not in body and "<img" not in body
    assert out["body_html"].parts == ()
    assert out["attachment"].content_type == "text/html"  # the table file says it too
    assert b"No rows." in out["attachment"].data


def test_an_empty_result_still_checks_the_chart_columns(tmp_path):
    run = visualize(tmp_path, 'StormEvents | where State == "NOWHERE" | distinct State',
                    "chart: column")
    step = run.steps[0]
    assert step.status == StepStatus.FAILED
    assert "State (string)" in step.error.message


def test_a_result_whose_values_are_all_null_says_so_instead_of_drawing(tmp_path):
    run = visualize(tmp_path, """
        StormEvents | summarize Events = count() by State | top 3 by Events
        | extend Events = long(null)
        """, "chart: column")
    assert run.status == RunStatus.SUCCEEDED, run.to_dict()
    out = run.steps[0].outputs
    assert out["chart"] is None and "<img" not in str(out["body_html"])
    assert "No chart: every value of Events is empty." in str(out["body_html"])
    assert "<table" in str(out["body_html"])  # the rows are still shown


def test_the_chart_image_leaves_the_title_to_the_reports_heading(tmp_path):
    """The heading carries the title; the image would say it twice. The PNG keeps it
    in its metadata, for the file on its own."""
    from PIL import Image  # comes with matplotlib

    from shared.kusto.types import Column
    from shared.render.charts import ChartSpec, build_figure

    run = visualize(tmp_path, "StormEvents | summarize Events = count() by State",
                    "chart: column\ntitle: Storms by state")
    out = run.steps[0].outputs
    assert '<h2 style="' in str(out["body_html"]) and ">Storms by state</h2>" in str(
        out["body_html"])
    with Image.open(io.BytesIO(out["chart"].data)) as image:
        assert image.info.get("Title") == "Storms by state"
    spec = ChartSpec("column", title="Storms by state")
    columns = [Column("State", "string"), Column("Events", "long")]
    untitled = build_figure(spec, columns, [["TEXAS", 3]], titled=False)
    assert untitled.axes[0].get_title(loc="left") == ""
    assert build_figure(spec, columns, [["TEXAS", 3]]).axes[0].get_title(
        loc="left") == "Storms by state"


def test_a_render_no_chart_draws_falls_back_to_a_table_and_says_so(tmp_path):
    run = visualize(tmp_path, """
        StormEvents | summarize Events = count() by State
        | render ladderchart
        """, "chart: auto")
    assert run.status == RunStatus.SUCCEEDED, run.to_dict()
    body = str(run.steps[0].outputs["body_html"])
    assert "render ladderchart, which reports do not draw: shown as a table" in body
    assert "scatterchart" in body and "<table" in body


def test_render_scatterchart_draws_a_scatter_chart(tmp_path):
    run = visualize(tmp_path, """
        StormEvents
        | project StartTime, DamageProperty, EventType
        | render scatterchart
        """, "chart: auto")
    assert run.status == RunStatus.SUCCEEDED, run.to_dict()
    assert run.steps[0].summary.endswith("scatter")
    assert run.steps[0].outputs["chart"].data.startswith(b"\x89PNG")


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


def strict_parse(html: str) -> Any:
    """*html* parsed by html5lib in strict mode: any parse error raises."""
    import html5lib

    return html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parse(html)


def test_a_mail_showing_two_reports_is_one_valid_document_with_both_charts(
        tmp_path: Path) -> None:
    """Charts travel in the report's own output (`body_html` carries its inline parts):
    a body that shows two reports among its own text embeds exactly their two charts,
    and a third report drawn in the run but not shown is not embedded. The reports are
    fragments and email.send wraps the body once: an HTML5 parser in strict mode reads
    one document (one <html>, one <body>, nothing nested) without a single error."""
    import email
    from email import policy

    report = ("    action: kusto.visualize\n    connection: samples\n    chart: bar\n"
              "    query: StormEvents | summarize n = count() by State | top 3 by n\n")
    path = write_flow(tmp_path, "two", "steps:\n"
                      + "".join(f"  - id: {name}\n{report}" for name in ("a", "b", "unused"))
                      + "  - id: mail\n    action: email.send\n    to: x@contoso.com\n"
                        "    subject: two <reports>\n"
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

    document = strict_parse(html)  # raises on any parse error
    assert html.lstrip().lower().startswith("<!doctype html>")
    assert html.lower().count("<html") == html.lower().count("<body") == 1
    assert html.lower().count("<head") == html.lower().count("<!doctype") == 1
    assert len(document.findall(".//html")) == 0  # the root is the only <html>
    assert [child.tag for child in document] == ["head", "body"]
    assert document.find("head/title").text == "two <reports>"
    body = document.find("body")
    shown = [img.get("src") for img in body.iter("img")]
    assert sorted(shown) == [f"cid:{i}" for i in ids]
    assert [h2.text for h2 in body.iter("h2")] == ["a", "b"]  # each report its section
    # The preview beside the .eml is one valid document too.
    [preview] = (tmp_path / "outbox").glob("*.html")
    strict_parse(preview.read_text(encoding="utf-8"))


def test_a_body_of_plain_text_or_a_whole_document_is_sent_as_one_document(
        tmp_path: Path) -> None:
    """A text value is escaped and wrapped; a body the author wrote as a whole document
    is kept as written (given a doctype), never wrapped in a second one."""
    import email
    from email import policy

    flow = ("steps:\n  - id: mail\n    action: email.send\n    to: x@contoso.com\n"
            "    subject: s\n    body: {body}\n")
    bodies = {"text": "\"{{ vars.note }}\"\nvars: {note: 'a < b & c'}",
              "document": "\"<html><head><title>Mine</title></head><body><p>{{ vars.note }}"
                          "</p></body></html>\"\nvars: {note: 'a < b & c'}"}
    for name, body in bodies.items():
        path = write_flow(tmp_path / name, "m", flow.format(body=body))
        run = run_flow_file(path, settings_for(tmp_path / name))
        assert run.status == RunStatus.SUCCEEDED, run.to_dict()
        [eml] = (tmp_path / name / "outbox").glob("*.eml")
        parsed = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
        html = parsed.get_body(("html",)).get_content()
        strict_parse(html)
        assert html.lower().count("<html") == 1 and html.lower().count("<!doctype") == 1
        if name == "text":
            assert "a &lt; b &amp; c" in html and "<title>s</title>" in html
        else:
            assert "<title>Mine</title>" in html and "<title>s</title>" not in html
