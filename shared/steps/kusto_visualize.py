"""kusto.visualize: the connector's "Run query and visualize results", and the
rendering it shares with kusto.command: the report body (chart inline, capped table),
the chart or table as a file, and the full result as CSV."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal

from ..errors import StepInputError
from ..kusto.reader import GuardedSink
from ..kusto.render_hint import render_hint
from ..mail.message import Attachment, HtmlWithParts
from ..render.capture import RenderCapture
from ..render.report import deep_link, report_document, report_html
from ..render.table import html_table
from .base import StepContext, StepOutcome
from .kusto_checks import kusto_text_checker
from .kusto_common import ChartFields, QueryText, VisualKustoStep, kusto_request
from .registry import Action

if TYPE_CHECKING:
    from ..render.charts import ChartSpec

__all__ = ["ACTION", "KustoVisualizeStep", "chart_spec", "visualize"]


class KustoVisualizeStep(VisualKustoStep, QueryText):
    """Run query and visualize results."""

    action: Literal["kusto.visualize"]


def run_visualize(step: KustoVisualizeStep, inputs: Mapping[str, Any], ctx: StepContext
                  ) -> StepOutcome:
    return visualize(step, step.query, inputs, ctx, is_command=False)


def visualize(step: VisualKustoStep, text: str, inputs: Mapping[str, Any], ctx: StepContext,
              *, is_command: bool) -> StepOutcome:
    backend, request = kusto_request(step, inputs, ctx, text, is_command=is_command)
    limits = ctx.flow.limits
    # The CSV goes to a file of the run as it is written (memory up to 1 MiB).
    with ctx.files.spool(f"{step.id}.csv", "text/csv") as csv_out:
        capture = RenderCapture(step.max_table_rows, step.chart != "table", csv_out)
        started = time.perf_counter()
        info = backend.execute(request, GuardedSink(capture, limits.max_records,
                                                    limits.max_bytes))
        elapsed_ms = (time.perf_counter() - started) * 1000
        csv_file = csv_out.attachment()

    visualization = info.visualization or render_hint(text)
    spec = chart_spec(step, inputs, visualization)
    table = html_table(capture.columns, capture.head, capture.total, step.max_table_rows)
    title = str(inputs.get("title") or (spec.title if spec else "") or step.id.replace("_", " "))
    chart_attachment = None
    note = ""
    if spec is None and step.chart == "auto":
        note = unsupported_render_note(visualization)
    elif spec is not None:
        from ..render.charts import ChartError, choose_columns, render_chart

        try:
            if capture.total:
                # The report's heading carries the title: the image does not repeat it.
                chart = render_chart(spec, capture.columns, capture.rows, titled=False)
            else:  # no rows: no image, the table's one line says so; columns still checked
                choose_columns(spec, capture.columns)
                chart = None
        except ChartError as exc:
            raise StepInputError(
                f"cannot draw a {spec.kind} chart of this result: {exc}",
                hint="name the columns with x, y and series, change `chart`, or use "
                     "chart: table") from None
        if chart is not None and chart.empty:
            note = (f"No chart: every value of {', '.join(chart.y_columns)} is empty"
                    + (" or not positive." if spec.kind == "pie" else "."))
        elif chart is not None:
            content_id = f"{step.id}-chart-{ctx.run_id[:8]}@kusto-flows"
            chart_attachment = Attachment(f"{step.id}.png", "image/png", chart.png, content_id)
    capture.rows = []
    link = deep_link(backend.cluster, request.database, text)
    body = report_html(title=title, flow=ctx.flow.name, step=step.id,
                       run_at=ctx.run_started_at, table=table,
                       chart_cid=chart_attachment.content_id if chart_attachment else "",
                       chart_alt=title, link=link, note=note)
    table_file = Attachment(f"{step.id}.html", "text/html", str(
        report_document(title=title, flow=ctx.flow.name, step=step.id,
                        run_at=ctx.run_started_at, table=table, link=link)).encode("utf-8"))
    outputs = {
        "body_html": HtmlWithParts(body, [chart_attachment] if chart_attachment else []),
        "table_html": table,
        "chart": chart_attachment,
        "attachment": chart_attachment or table_file,
        "csv": csv_file,
        "deep_link": link,
        "row_count": capture.total,
        "columns": [c.to_dict() for c in capture.columns],
        "rows": capture.head,
        "elapsed_ms": round(elapsed_ms, 1),
    }
    kind = spec.kind if spec is not None else "table"
    return StepOutcome(outputs, f"{capture.total:,} rows, {kind}")


def chart_spec(step: ChartFields, inputs: Mapping[str, Any], visualization: Any
               ) -> ChartSpec | None:
    """None for a table; otherwise the ChartSpec to draw. `chart: auto` draws what the
    query's own `| render` asks for (a table without one); the step's title, x, y and
    series override the render's."""
    if step.chart == "table":
        return None
    from ..render.charts import ChartSpec, chart_from_render_hint

    title = str(inputs.get("title") or "")
    if step.chart == "auto":
        spec = chart_from_render_hint(visualization)
        if spec is None or spec.kind == "table":
            return None
        overrides: dict[str, Any] = {"title": title, "x": step.x, "y": tuple(step.y),
                                     "series": step.series}
        return replace(spec, **{k: v for k, v in overrides.items() if v})
    return ChartSpec(kind=step.chart, x=step.x, y=tuple(step.y), series=step.series,
                     title=title)


def unsupported_render_note(visualization: Any) -> str:
    """The line a report shows when the query's own `render` asks for a visualization
    no chart draws ("" otherwise): it falls back to a table, and says so."""
    from ..render.chart_spec import DRAWN_RENDERS, unsupported_render

    name = unsupported_render(visualization)
    if not name:
        return ""
    return (f"The query asks for render {name}, which reports do not draw: shown as a "
            f"table. Reports draw {', '.join(DRAWN_RENDERS)}.")


ACTION = Action(
    KustoVisualizeStep, run_visualize, title="Run query and visualize results",
    check=kusto_text_checker("query"),
    fields_doc="the fields of `kusto.query`, plus `chart` (`table`, `pie`, `timechart`, "
               "`bar`, `column`, `line`, `area`, `scatter`, `auto` = the query's own "
               "`render`), `title`, `x`, `y`, `series`, `max_table_rows` (100)",
    outputs_doc="`body_html` (an e-mail-safe HTML fragment: the title as heading, chart "
                "inline, table below, \"showing N of M rows\", or one \"No rows.\" line; "
                "several join in one `email.send` body), `chart` (PNG with a content id, "
                "untitled: the heading names it), `attachment` (the chart, or the table as "
                "a standalone HTML document), `csv` (the full result), `deep_link` (https "
                "clusters: the query in the Azure Data Explorer web UI), `table_html`, "
                "`rows` (the first rows), `row_count`, `columns`, `elapsed_ms`",
)
