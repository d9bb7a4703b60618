"""The flow file format v1 (pydantic) and its connections file.

The file's frame lives here: flow, trigger, limits, connections and what every step
has (`StepModel`, with the markers that say how a field is rendered). Each action's
own fields live in its module under `shared.steps`; the registry there joins them
into the model a file is read with. Reading files and turning problems into
`file:line: step 'x', field 'y': ...` messages is `shared.loader`.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

__all__ = [
    "AnyConnection",
    "Connection",
    "Expression",
    "FieldRole",
    "Flow",
    "Html",
    "Limits",
    "Nested",
    "OnFailure",
    "SqlConnection",
    "Static",
    "StepModel",
    "Trigger",
    "Webhook",
    "parse_bytes",
    "parse_connection",
    "parse_duration",
    "wrong_connection",
]

RunAfter = Literal["succeeded", "failed", "timedout", "skipped"]
_STEP_ID = r"^[A-Za-z_][A-Za-z0-9_]*$"
_FLOW_NAME = r"^[a-z0-9][a-z0-9-]*$"
#: A scheduled flow's timer is the function `flow_<name>` (`shared.timers`), and the
#: Functions host refuses a function name over 128 characters.
_FLOW_NAME_MAX = 128 - len("flow_")


def _flow_name_fits(value: Any) -> Any:
    """Flow.name: refuse a name too long for its timer function, saying why."""
    if isinstance(value, str) and len(value) > _FLOW_NAME_MAX:
        raise ValueError(
            f"a flow name is at most {_FLOW_NAME_MAX} characters, this one has {len(value)}: "
            f"its timer function is flow_<name>, and Azure Functions refuses function names "
            f"over 128 characters")
    return value


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
    operation_timeout: float = Field(
        6 * 3600.0, description="how long an async control command may run: 6h ...")

    _durations = field_validator("request_timeout", "run_timeout", "operation_timeout",
                                 mode="before")(
        lambda v: None if v is None else parse_duration(v)
    )
    _sizes = field_validator("max_bytes", mode="before")(lambda v: parse_bytes(v))


class AfterFlow(_Strict):
    flow: str
    status: list[Literal["succeeded", "failed", "timedout"]] = ["succeeded"]


class Webhook(_Strict):
    """`webhook: {body: <JSON Schema>}`: runnable on request, with the body declared: a
    request whose body does not match answers 422 naming the field, before any run."""

    body: dict[str, Any] = Field(description="a JSON Schema (2020-12) the body must match")

    @field_validator("body")
    @classmethod
    def _a_schema(cls, value: dict[str, Any]) -> dict[str, Any]:
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import SchemaError

        try:
            Draft202012Validator.check_schema(value)
        except SchemaError as exc:
            where = "/".join(str(p) for p in exc.absolute_path) or "the schema"
            raise ValueError(f"not a valid JSON Schema at {where}: {exc.message}") from None
        return value

    def __bool__(self) -> bool:  # `if flow.trigger.webhook:` reads as "runnable on request"
        return True


class Trigger(_Strict):
    schedule: str | None = Field(
        None, description="NCRONTAB 'sec min hour day month weekday' (5-field cron accepted)"
    )
    timezone: str = Field("UTC", description="IANA zone the schedule is read in")
    webhook: bool | Webhook = Field(
        False, description="also runnable by POST /api/flows/<name>/run; {body: <JSON "
                           "Schema>} declares the body the request must send")
    after: AfterFlow | None = Field(None, description="run when another flow ends")
    catch_up: int = Field(0, ge=0, le=100, description="missed schedule windows run at the "
                          "next tick, oldest first (0: only the current window; older "
                          "missed windows are listed in history)")
    overlap: Literal["skip", "queue", "allow"] | None = Field(
        None, description="a run while the previous one still runs (queued runs): skip "
                          "it (the default for schedules), queue it (the default for "
                          "webhooks) or allow it")

    @field_validator("after", mode="before")
    @classmethod
    def _after_shorthand(cls, value: Any) -> Any:
        return {"flow": value} if isinstance(value, str) else value

    @field_validator("webhook", mode="before")
    @classmethod
    def _webhook_spec(cls, value: Any) -> Any:
        """A mapping is a Webhook; its problems are reported once, not per union arm."""
        if not isinstance(value, dict):
            return value
        try:
            return Webhook.model_validate(value)
        except ValidationError as exc:
            raise ValueError("; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: "
                f"{str(e['msg']).removeprefix('Value error, ')}" for e in exc.errors())
            ) from None

    @property
    def body_schema(self) -> dict[str, Any] | None:
        """The declared webhook body's JSON Schema, if any."""
        return self.webhook.body if isinstance(self.webhook, Webhook) else None


class Static:
    """Field marker: structure, never templated (KQL text, ids, chart names)."""


class Expression:
    """Field marker: a bare expression (`if`, `items`) the action evaluates itself."""


class Html:
    """Field marker: rendered as HTML: template values are escaped, step HTML is not."""


class Nested:
    """Field marker: a list of steps (`then`, `else`, `steps`) the action runs itself."""


FieldRole = Literal["templated", "static", "expression", "html", "nested"]
_MARKERS: dict[type, FieldRole] = {Static: "static", Expression: "expression", Html: "html",
                                   Nested: "nested"}


@cache
def _field_roles(model: type[BaseModel]) -> dict[str, FieldRole]:
    roles: dict[str, FieldRole] = {}
    for name, info in model.model_fields.items():
        marked = [_MARKERS[m] for m in info.metadata if isinstance(m, type) and m in _MARKERS]
        roles[name] = marked[0] if marked else "templated"
    return roles


class StepModel(_Strict):
    """What every step has. An action's model adds its fields; a field is templated
    unless marked `Static`, `Expression` or `Nested` (see `field_role`)."""

    id: Annotated[str, Static, Field(pattern=_STEP_ID,
                                     description="unique in the flow; steps.<id> in templates")]
    action: Annotated[str, Static]
    description: Annotated[str, Static] = ""
    run_after: Annotated[list[RunAfter], Static, Field(
        default_factory=lambda: ["succeeded"],
        description="run when the steps before ended so: succeeded, failed, timedout",
    )]

    @classmethod
    def field_role(cls, name: str) -> FieldRole:
        return _field_roles(cls)[name]

    def nested_blocks(self) -> list[tuple[str, list[StepModel]]]:
        """(field alias, steps) of every nested block of this step, in field order."""
        blocks = []
        for name, info in type(self).model_fields.items():
            if type(self).field_role(name) == "nested":
                blocks.append((info.alias or name, getattr(self, name)))
        return blocks


class OnFailure(_Strict):
    """Steps that run when a run ends Failed or TimedOut (`run.error` says what failed),
    at most once per `grace` while the flow keeps failing, and once more with
    `run.recovered` true when it succeeds again."""

    grace: float = Field(3600.0, description="at most one notice per this long while the "
                                             "flow keeps failing: 1h, 30m ...")
    #: Each registry builds its own OnFailure model whose steps are its actions' union.
    steps: Annotated[list[StepModel], Nested] = Field(min_length=1)

    _grace = field_validator("grace", mode="before")(lambda v: parse_duration(v))


class Flow(_Strict):
    model_config = ConfigDict(extra="forbid", populate_by_name=True,
                              json_schema_extra={"title": "Kusto Flows flow file (v1)"})

    name: Annotated[str, Field(
        pattern=_FLOW_NAME, max_length=_FLOW_NAME_MAX,
        description=f"defaults to the file name; at most {_FLOW_NAME_MAX} characters, as a "
                    f"scheduled flow's timer function is flow_<name> and Azure Functions "
                    f"names are at most 128"), BeforeValidator(_flow_name_fits)]
    description: str = ""
    enabled: bool = True
    trigger: Trigger = Field(default_factory=Trigger)
    limits: Limits = Field(default_factory=Limits)
    vars: dict[str, Any] = Field(default_factory=dict)
    #: Each registry builds its own Flow model whose steps are its actions' union
    #: (`shared.steps.registry`); this base types them as `StepModel`.
    steps: list[StepModel] = Field(min_length=1)
    on_failure: OnFailure | None = Field(
        None, description="a failure notice: steps run when a run fails (with grace)")


class Connection(_Strict):
    """A Kusto connection: no `kind` (or `kind: kusto`) in connections.yaml."""

    cluster: str = Field(description="embedded, http://127.0.0.1:PORT or https://<cluster>")
    database: str | None = None
    auth: Literal["none", "default", "managed_identity", "service_principal"] | None = None
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret_setting: str | None = Field(
        None, description="name of the app setting holding the secret (never the secret)"
    )

    @model_validator(mode="before")
    @classmethod
    def _kind_kusto(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("kind") == "kusto":
            return {key: value for key, value in data.items() if key != "kind"}
        return data

    @property
    def family(self) -> Literal["kusto"]:
        return "kusto"

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


_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_SQL_KINDS = ("postgresql", "sqlserver", "sqlite")


def _sql_kind(value: Any) -> Any:
    if value not in _SQL_KINDS:
        raise ValueError(f"kind is kusto (the default: leave it out), postgresql, sqlserver "
                         f"or sqlite, not {value!r}")
    return value


class SqlConnection(_Strict):
    """A SQL database (`shared.sql`): `kind: postgresql | sqlserver | sqlite`."""

    kind: Annotated[Literal["postgresql", "sqlserver", "sqlite"], BeforeValidator(_sql_kind),
                    Field(description="postgresql (Azure Database for PostgreSQL), sqlserver "
                                      "(Azure SQL) or sqlite (a file)")]
    server: str | None = Field(None, description="host: <name>.postgres.database.azure.com, "
                                                 "<name>.database.windows.net, 127.0.0.1")
    port: int | None = Field(None, ge=1, le=65535, description="default 5432 / 1433")
    database: str | None = None
    user: str | None = Field(None, description="the login; with Entra auth on PostgreSQL the "
                                               "Entra user, group or managed identity name")
    auth: Literal["none", "default", "managed_identity", "password"] | None = Field(
        None, description="default: password when password_setting is given, else default "
                          "(DefaultAzureCredential); none: a local server only")
    password_setting: str | None = Field(
        None, description="name of the app setting holding the password (never the password)")
    client_id: str | None = Field(
        None, description="managed_identity: the user-assigned identity (default: "
                          "AZURE_CLIENT_ID)")
    path: str | None = Field(None, description="sqlite: the database file; a relative path is "
                                               "read against STATE_DIR")

    @property
    def family(self) -> Literal["sql"]:
        return "sql"

    @property
    def effective_auth(self) -> str:
        if self.auth:
            return self.auth
        return "password" if self.password_setting else "default"

    @model_validator(mode="after")
    def _fits_kind(self) -> SqlConnection:
        if self.kind == "sqlite":
            extra = [name for name in ("server", "port", "database", "user", "auth",
                                       "password_setting", "client_id")
                     if getattr(self, name) is not None]
            if not self.path:
                raise ValueError("a sqlite connection needs path: the database file (a "
                                 "relative path is read against STATE_DIR)")
            if extra:
                raise ValueError(f"a sqlite connection takes only path; remove "
                                 f"{', '.join(extra)}")
            return self
        if self.path is not None:
            raise ValueError("path is for kind: sqlite; a server database takes server and "
                             "database")
        if not self.server or not self.database:
            raise ValueError(f"a {self.kind} connection needs server and database")
        auth = self.effective_auth
        if auth == "none" and self.server not in _LOOPBACK:
            raise ValueError("auth: none is allowed only for a local server on 127.0.0.1 or "
                             "localhost; use default, managed_identity or password")
        if auth == "password" and not (self.user and self.password_setting):
            raise ValueError("auth: password needs user and password_setting (the name of "
                             "the app setting holding the password)")
        if auth != "password" and self.password_setting:
            raise ValueError("password_setting is read only with auth: password")
        if self.client_id and auth != "managed_identity":
            raise ValueError("client_id is read only with auth: managed_identity")
        if self.kind == "postgresql" and not self.user:
            raise ValueError("a postgresql connection needs user (with Entra auth: the name "
                             "of the Entra user, group or managed identity)")
        if self.kind == "sqlserver" and auth in ("default", "managed_identity") and self.user:
            raise ValueError("with Entra auth the access token names the identity: remove "
                             "user (or use auth: password)")
        return self


#: An entry of connections.yaml.
AnyConnection = Connection | SqlConnection


def parse_connection(spec: Any) -> AnyConnection:
    """A connections.yaml entry: Kusto without `kind` (or `kind: kusto`), SQL with
    `kind: postgresql | sqlserver | sqlite`. Raises pydantic's ValidationError."""
    if isinstance(spec, dict) and spec.get("kind") not in (None, "kusto"):
        return SqlConnection.model_validate(spec)
    return Connection.model_validate(spec)


def wrong_connection(name: str, connection: AnyConnection, wanted: str) -> str | None:
    """Why connection *name* cannot serve a step that needs a *wanted* ("kusto" or
    "sql") connection, or None when it can."""
    if connection.family == wanted:
        return None
    if isinstance(connection, SqlConnection):
        return (f"connection '{name}' is a SQL database (kind: {connection.kind}), not a "
                f"Kusto cluster; Kusto steps need a connection with cluster:")
    return (f"connection '{name}' is a Kusto cluster, not a SQL database; sql steps need a "
            f"connection with kind: postgresql, sqlserver or sqlite")
