"""What the Kusto actions share: the connection fields, the chart fields of the
visualizing ones, the query/command text check, and building a request."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, Field, field_validator

from ..errors import StepInputError
from ..kusto.backend import KustoBackend, KustoRequest
from ..kusto.params import prepare_parameters
from ..model import Static, StepModel
from .base import StepContext

__all__ = ["CHART_KINDS", "ChartFields", "KustoStep", "QueryText", "VisualKustoStep",
           "is_command_text", "kusto_request"]

CHART_KINDS = ("auto", "table", "pie", "timechart", "bar", "column", "line", "area",
               "scatter")
ChartKind = Literal["auto", "table", "pie", "timechart", "bar", "column", "line", "area",
                    "scatter"]


class KustoStep(StepModel):
    #: The connections it takes (a SQL one is refused at load and at run time).
    connection_family: ClassVar[str] = "kusto"
    connection: Annotated[str, Static, Field(description="a name from flows/connections.yaml")]
    database: Annotated[str | None, Static, Field(
        description="defaults to the connection's database")] = None
    parameters: dict[str, Any] = Field(
        default_factory=dict, description="values for declare query_parameters (templated)")


class ChartFields(BaseModel):
    chart: Annotated[ChartKind, Static] = "table"
    title: str = ""
    x: Annotated[str | None, Static] = None
    y: Annotated[list[str], Static, Field(default_factory=list)]
    series: Annotated[str | None, Static] = None
    max_table_rows: Annotated[int, Static, Field(
        gt=0, description="rows shown in the e-mail body")] = 100

    @field_validator("y", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class VisualKustoStep(KustoStep, ChartFields):
    """A Kusto step that renders its result: kusto.visualize and kusto.command."""


class QueryText(BaseModel):
    """The `query` of the query actions: static KQL that is not a control command."""

    query: Annotated[str, Static, Field(
        description="KQL; static text: pass values with parameters")]

    @field_validator("query")
    @classmethod
    def _not_a_command(cls, value: str) -> str:
        if is_command_text(value):
            raise ValueError("this text is a control command (it starts with '.'): "
                             "use the kusto.command action for it")
        return value


def is_command_text(text: str) -> bool:
    """A control command: its first line that is not a `//` comment starts with '.'."""
    lines = [line for line in text.splitlines() if not line.strip().startswith("//")]
    return "\n".join(lines).strip().startswith(".")


def kusto_request(step: KustoStep, inputs: Mapping[str, Any], ctx: StepContext, text: str,
                  *, is_command: bool) -> tuple[KustoBackend, KustoRequest]:
    connection = ctx.resources.connection(step.connection, "kusto")
    backend = ctx.resources.kusto(connection)
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
