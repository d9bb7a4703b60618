"""kusto.visualize: the connector's "Run query and visualize results", and the
rendering it shares with kusto.command: the report body (chart inline, capped table),
the chart or table as a file, and the full result as CSV."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal

from ..errors import StepInputError
from ..kusto.reader import GuardedSink
from ..kusto.render_hint import render_hint
from ..mail.message import Attachment, HtmlWithParts
from ..render.capture import RenderCapture
from ..render.report import deep_link, report_html
from ..render.table import html_table
from .base import StepContext, StepOutcome
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
    capture = RenderCapture(step.max_table_rows, keep_rows=step.chart != "table")
    limits = ctx.flow.limits
    started = time.perf_counter()
    info = backend.execute(request, GuardedSink(capture, limits.max_records, limits.max_bytes))
    elapsed_ms = (time.perf_counter() - started) * 1000

    spec = chart_spec(step, inputs, info.visualization or render_hint(text))
    table = html_table(capture.columns, capture.head, capture.total, step.max_table_rows)
    title = str(inputs.get("title") or (spec.title if spec else "") or step.id.replace("_", " "))
    chart_attachment = None
    if spec is not None:
        from ..render.charts import ChartError, render_chart

        try:
            chart = render_chart(spec, capture.columns, capture.rows)
        except ChartError as exc:
            raise StepInputError(
                f"cannot draw a {spec.kind} chart of this result: {exc}",
                hint="name the columns with x, y and series, change `chart`, or use "
                     "chart: table") from None
        content_id = f"{step.id}-chart-{ctx.run_id[:8]}@kusto-flows"
        chart_attachment = Attachment(f"{step.id}.png", "image/png", chart.png, content_id)
    capture.rows = []
    link = deep_link(backend.cluster, request.database, text)
    body = report_html(title=title, flow=ctx.flow.name, step=step.id,
                       run_at=ctx.run_started_at, table=table,
                       chart_cid=chart_attachment.content_id if chart_attachment else "",
                       chart_alt=title, link=link)
    table_file = Attachment(f"{step.id}.html", "text/html", str(
        report_html(title=title, flow=ctx.flow.name, step=step.id, run_at=ctx.run_started_at,
                    table=table, link=link)).encode("utf-8"))
    csv_file = Attachment(f"{step.id}.csv", "text/csv", capture.csv_bytes())
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


def check_visualize(step: KustoVisualizeStep) -> Iterator[tuple[str, str]]:
    from .kusto_checks import check_kusto_text

    return check_kusto_text(step, step.query, "query")


ACTION = Action(
    KustoVisualizeStep, run_visualize, title="Run query and visualize results",
    check=check_visualize,
    fields_doc="the fields of `kusto.query`, plus `chart` (`table`, `pie`, `timechart`, "
               "`bar`, `column`, `line`, `area`, `auto` = the query's own `render`), "
               "`title`, `x`, `y`, `series`, `max_table_rows` (100)",
    outputs_doc="`body_html` (e-mail-safe HTML: chart inline, table below, \"showing N of "
                "M rows\"), `chart` (PNG with a content id), `attachment` (the chart, or "
                "the HTML table), `csv` (the full result), `deep_link` (https clusters: the "
                "query in the Azure Data Explorer web UI), `table_html`, `rows` (the first "
                "rows), `row_count`, `columns`, `elapsed_ms`",
)
