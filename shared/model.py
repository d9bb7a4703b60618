"""The flow file format v1 (pydantic) and its connections file.

Only the schema lives here; reading files and turning problems into
`file:line: step 'x', field 'y': ...` messages is `shared.loader`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "ACTIONS",
    "CHART_KINDS",
    "ConditionStep",
    "Connection",
    "EmailStep",
    "Flow",
    "ForeachStep",
    "KustoCommandStep",
    "KustoQueryStep",
    "KustoVisualizeStep",
    "Limits",
    "Step",
    "Trigger",
    "parse_bytes",
    "parse_duration",
]

CHART_KINDS = ("auto", "table", "pie", "timechart", "bar", "column", "line", "area")
RunAfter = Literal["succeeded", "failed", "timedout", "skipped"]
_STEP_ID = r"^[A-Za-z_][A-Za-z0-9_]*$"
_FLOW_NAME = r"^[a-z0-9][a-z0-9-]*$"


def parse_duration(value: Any) -> float:
    """`90s`, `2m`, `1h`, `500ms` or a number of seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 90s, 2m or 1h")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*", str(value))
        if not match:
            raise ValueError(f"'{value}' is not a duration such as 90s, 2m or 1h")
        factor = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[match.group(2)]
        seconds = float(match.group(1)) * factor
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    return seconds


def parse_bytes(value: Any) -> int:
    """`64MB`, `512KB`, `1GB` (powers of 1024) or a number of bytes."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 64MB")
    if isinstance(value, int):
        size = value
    else:
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB)?\s*", str(value), re.IGNORECASE)
        if not match:
            raise ValueError(f"'{value}' is not a size such as 64MB or 512KB")
        unit = (match.group(2) or "B").upper()
        size = int(float(match.group(1)) * {"B": 1, "KB": 1024, "MB": 1024**2,
                                            "GB": 1024**3}[unit])
    if size <= 0:
        raise ValueError("a size must be positive")
    return size


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Limits(_Strict):
    """Per request limits; defaults are the Power Automate connector's."""

    request_timeout: float = Field(90.0, description="per request: 90s, 2m ...")
    max_records: int = Field(500_000, gt=0, description="records read before failing")
    max_bytes: int = Field(64 * 1024**2, description="bytes read before failing: 64MB ...")
    run_timeout: float | None = Field(
        None, description="whole-run deadline for this flow (capped by the app's)"
    )

    _durations = field_validator("request_timeout", "run_timeout", mode="before")(
        lambda v: None if v is None else parse_duration(v)
    )
    _sizes = field_validator("max_bytes", mode="before")(lambda v: parse_bytes(v))


class AfterFlow(_Strict):
    flow: str
    status: list[Literal["succeeded", "failed", "timedout"]] = ["succeeded"]


class Trigger(_Strict):
    schedule: str | None = Field(
        None, description="NCRONTAB 'sec min hour day month weekday' (5-field cron accepted)"
    )
    timezone: str = Field("UTC", description="IANA zone the schedule is read in")
    webhook: bool = Field(False, description="also runnable by POST /api/flows/<name>/run")
    after: AfterFlow | None = Field(None, description="run when another flow ends")

    @field_validator("after", mode="before")
    @classmethod
    def _after_shorthand(cls, value: Any) -> Any:
        return {"flow": value} if isinstance(value, str) else value


class _StepBase(_Strict):
    id: str = Field(pattern=_STEP_ID, description="unique in the flow; steps.<id> in templates")
    description: str = ""
    run_after: list[RunAfter] = Field(
        default_factory=lambda: ["succeeded"],
        description="run when the steps before ended so: succeeded, failed, timedout",
    )


class _KustoBase(_StepBase):
    connection: str = Field(description="a name from flows/connections.yaml")
    database: str | None = Field(None, description="defaults to the connection's database")
    parameters: dict[str, Any] = Field(
        default_factory=dict, description="values for declare query_parameters (templated)"
    )


class _ChartFields(BaseModel):
    chart: Literal[CHART_KINDS] = "table"  # type: ignore[valid-type]
    title: str = ""
    x: str | None = None
    y: list[str] = Field(default_factory=list)
    series: str | None = None
    max_table_rows: int = Field(100, gt=0, description="rows shown in the e-mail body")

    @field_validator("y", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class KustoQueryStep(_KustoBase):
    """Run query and list results."""

    action: Literal["kusto.query"]
    query: str = Field(description="KQL; static text: pass values with parameters")

    @field_validator("query")
    @classmethod
    def _not_a_command(cls, value: str) -> str:
        return _refuse_command(value)


class KustoVisualizeStep(_KustoBase, _ChartFields):
    """Run query and visualize results."""

    action: Literal["kusto.visualize"]
    query: str

    @field_validator("query")
    @classmethod
    def _not_a_command(cls, value: str) -> str:
        return _refuse_command(value)


class KustoCommandStep(_KustoBase, _ChartFields):
    """Run control command and visualize results."""

    action: Literal["kusto.command"]
    command: str = Field(description="a control command: text starting with '.'")

    @field_validator("command")
    @classmethod
    def _is_a_command(cls, value: str) -> str:
        if not _strip_kql_comments(value).startswith("."):
            raise ValueError("a control command starts with '.'; for a query use "
                             "kusto.query or kusto.visualize")
        return value


class EmailStep(_StepBase):
    action: Literal["email.send"]
    to: list[str] | str
    cc: list[str] | str = Field(default_factory=list)
    bcc: list[str] | str = Field(default_factory=list)
    reply_to: list[str] | str = Field(default_factory=list)
    subject: str
    body: str = Field(description="HTML; values are escaped, step HTML outputs are not")
    text: str | None = Field(None, description="plain-text body; derived from body if absent")
    attachments: list[Any] | str = Field(default_factory=list)
    importance: Literal["low", "normal", "high"] | str = "normal"


class ConditionStep(_StepBase):
    action: Literal["condition"]
    if_: str = Field(alias="if", description="a bare expression, e.g. steps.q.row_count > 0")
    then: list[Step] = Field(default_factory=list)
    else_: list[Step] = Field(default_factory=list, alias="else")


class ForeachStep(_StepBase):
    action: Literal["foreach"]
    items: str = Field(description="a bare expression giving a list, e.g. steps.q.rows")
    steps: list[Step]
    concurrency: int = Field(1, ge=1, le=20, description="iterations run at once")


Step = Annotated[
    KustoQueryStep | KustoVisualizeStep | KustoCommandStep | EmailStep | ConditionStep
    | ForeachStep,
    Field(discriminator="action"),
]

ACTIONS: dict[str, type[_StepBase]] = {
    "kusto.query": KustoQueryStep,
    "kusto.visualize": KustoVisualizeStep,
    "kusto.command": KustoCommandStep,
    "email.send": EmailStep,
    "condition": ConditionStep,
    "foreach": ForeachStep,
}


class Flow(_Strict):
    model_config = ConfigDict(extra="forbid", populate_by_name=True,
                              json_schema_extra={"title": "Kusto Flows flow file (v1)"})

    name: str = Field(pattern=_FLOW_NAME, description="defaults to the file name")
    description: str = ""
    enabled: bool = True
    trigger: Trigger = Field(default_factory=Trigger)
    limits: Limits = Field(default_factory=Limits)
    vars: dict[str, Any] = Field(default_factory=dict)
    steps: list[Step] = Field(min_length=1)


class Connection(_Strict):
    cluster: str = Field(description="embedded, http://127.0.0.1:PORT or https://<cluster>")
    database: str | None = None
    auth: Literal["none", "default", "managed_identity", "service_principal"] | None = None
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret_setting: str | None = Field(
        None, description="name of the app setting holding the secret (never the secret)"
    )

    @model_validator(mode="after")
    def _auth_fits_cluster(self) -> Connection:
        from urllib.parse import urlparse

        if self.cluster == "embedded":
            return self
        url = urlparse(self.cluster)
        if url.scheme == "http":
            if url.hostname not in ("127.0.0.1", "localhost", "::1"):
                raise ValueError(
                    f"http is allowed only for a local emulator on 127.0.0.1 or localhost, "
                    f"not {url.hostname}; use https for a real cluster"
                )
            if self.auth not in (None, "none"):
                raise ValueError("a local http cluster takes no auth")
        elif url.scheme == "https":
            if not url.hostname:
                raise ValueError(f"'{self.cluster}' is not a cluster URL")
            if self.auth == "none":
                raise ValueError("an https cluster needs auth: default, managed_identity "
                                 "or service_principal")
            if self.auth == "service_principal" and not (
                self.tenant_id and self.client_id and self.client_secret_setting
            ):
                raise ValueError("service_principal needs tenant_id, client_id and "
                                 "client_secret_setting")
        else:
            raise ValueError(f"cluster must be 'embedded', http://127.0.0.1:PORT or "
                             f"https://..., got '{self.cluster}'")
        return self

    @property
    def kind(self) -> str:
        if self.cluster == "embedded":
            return "embedded"
        return "local" if self.cluster.startswith("http://") else "azure"


def _strip_kql_comments(text: str) -> str:
    lines = [line for line in text.splitlines() if not line.strip().startswith("//")]
    return "\n".join(lines).strip()


def _refuse_command(value: str) -> str:
    if _strip_kql_comments(value).startswith("."):
        raise ValueError("this text is a control command (it starts with '.'): "
                         "use the kusto.command action for it")
    return value


for _model in (ConditionStep, ForeachStep, Flow):
    _model.model_rebuild()
