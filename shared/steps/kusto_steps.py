"""kusto.query ("Run query and list results"), kusto.visualize ("Run query and
visualize results") and kusto.command ("Run control command and visualize
results")."""

from __future__ import annotations

import time
from typing import Any

from ..errors import StepInputError
from ..kusto.backend import KustoRequest
from ..kusto.connections import backend_for
from ..kusto.params import prepare_parameters
from ..kusto.reader import CollectSink, GuardedSink, ResultTable
from ..kusto.render_hint import render_hint
from ..mail.message import Attachment
from ..render.capture import RenderCapture
from ..render.report import deep_link, report_html
from ..render.table import html_table
from .base import StepContext, StepOutcome

__all__ = ["run_query", "run_visualize"]


def _request(step: Any, inputs: dict[str, Any], ctx: StepContext, text: str,
             is_command: bool) -> tuple[Any, KustoRequest]:
    connection = ctx.connection(step.connection)
    backend = backend_for(connection, ctx.settings)
    parameters = inputs.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise StepInputError("parameters must be a mapping of name: value")
    request = KustoRequest(
        database=step.database or connection.database or "",
        text=text,
        parameters=prepare_parameters(text, parameters),
        is_command=is_command,
        timeout=min(ctx.flow.limits.request_timeout, ctx.remaining()),
    )
    return backend, request


def run_query(step: Any, inputs: dict[str, Any], ctx: StepContext) -> StepOutcome:
    backend, request = _request(step, inputs, ctx, step.query, False)
    sink = CollectSink()
    limits = ctx.flow.limits
    started = time.perf_counter()
    backend.execute(request, GuardedSink(sink, limits.max_records, limits.max_bytes))
    elapsed_ms = (time.perf_counter() - started) * 1000
    primary = sink.primary or ResultTable("PrimaryResult", [])
    outputs = {
        "rows": primary.rows,
        "columns": [c.to_dict() for c in primary.columns],
        "row_count": len(primary.rows),
        "tables": [t.to_dict() for t in sink.tables],
        "elapsed_ms": round(elapsed_ms, 1),
    }
    return StepOutcome(outputs, f"{len(primary.rows):,} rows")


def run_visualize(step: Any, inputs: dict[str, Any], ctx: StepContext) -> StepOutcome:
    is_command = step.action == "kusto.command"
    text = step.command if is_command else step.query
    backend, request = _request(step, inputs, ctx, text, is_command)
    chart_kind = step.chart
    capture = RenderCapture(step.max_table_rows, keep_rows=chart_kind != "table")
    limits = ctx.flow.limits
    started = time.perf_counter()
    info = backend.execute(request, GuardedSink(capture, limits.max_records, limits.max_bytes))
    elapsed_ms = (time.perf_counter() - started) * 1000

    spec = _chart_spec(step, inputs, info.visualization or render_hint(text))
    table = html_table(capture.columns, capture.head, capture.total, step.max_table_rows)
    title = inputs.get("title") or spec_title(spec) or step.id.replace("_", " ")
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
        with ctx.lock:
            ctx.inline_parts[content_id] = chart_attachment
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
        "body_html": body,
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


def spec_title(spec: Any) -> str:
    return getattr(spec, "title", "") if spec is not None else ""


def _chart_spec(step: Any, inputs: dict[str, Any], visualization: Any) -> Any:
    """None for a table; otherwise the ChartSpec to draw. `chart: auto` draws what the
    query's own `| render` asks for (a table without one); the step's title, x, y and
    series override the render's."""
    if step.chart == "table":
        return None
    from dataclasses import replace

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
