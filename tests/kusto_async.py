"""Kusto's asynchronous control commands, for the local test endpoint (`tests.kusto_server`).

duckdb-kql 1.1.2 refuses the `async` keyword ("there is no operation queue here").
The product runs async management commands (the Power Automate connector's "Run
async management command") and polls for them, so the test endpoint adds the
behaviour Microsoft documents, and nothing else:

* **Submit.** `.set-or-append async T <| …` (also `.append`, `.set`,
  `.set-or-replace`, `.export`, `.ingest` followed by `async`) is answered at once
  with one table: a single `OperationId` column of type `guid`, one row.
  Underneath, the command runs *synchronously* before that answer, without the
  `async` keyword, through the library, so the rows really are written, exactly
  once. Its result table is kept; if it raised, its message is kept.
  `.export` is the exception: duckdb-kql has no export, so the adapter runs the
  query after `<|` (its errors fail the operation as usual) and keeps a plausible
  `Path`/`NumRecords` table naming one artifact under the first storage URI; no
  file is written. `.ingest` is handed to the library like the rest, which
  refuses it, so an async `.ingest` always ends `Failed` with that refusal.
* **Poll.** `.show operations <id>`, `.show operations (<id>, …)` and the bare
  `.show operations` answer with the `.show operations` schema below. An
  operation is `InProgress` for its first N polls and then reaches its final
  state: `Completed`, or `Failed` with the kept error as `Status`, or the outcome
  a test forced. An unknown id is simply absent: the ids form "returns the latest
  update for each ID" the caller may see, so an id nobody submitted gives an
  empty table, not an error. Query operators may be piped on (`| where …`), as on
  a cluster; they run in the library over the same rows.
  A request that names ids (in the list, or anywhere in a piped filter) polls
  those operations; one that names none polls every operation it reports.
* **Details.** `.show operation <id> details` answers the kept result table. The
  doc: the result "matches the schema of the operation result, when executed
  synchronously", and "can only be invoked after the operation completed
  successfully"; so before that (and for an unknown id) it is a 400 error, whose
  wording is the adapter's own. For `.set-or-append` that kept table is the
  library's per-extent ingestion result (ExtentId, …, RowCount).

What stays immediate, as on a cluster: the library's write policy (writes
disabled, `request_readonly`) refuses the submit itself, and an `.export` whose
shape the adapter cannot read is a 400. Anything the wrapped command raises once
accepted fails the *operation*.

Sources
-------
* `.show operations` / `.show operation details`:
  MicrosoftDocs/dataexplorer-docs, data-explorer/kusto/management/show-operations.md
  and show-operation-details.md (learn.microsoft.com/kusto/management/...): the
  syntax, the State table, "latest update for each ID", details after success.
* Column names and types: the doc's table lists only the first eight (and calls
  Duration a DateTime); the complete declaration is Microsoft's language service,
  microsoft/Kusto-Query-Language src/Kusto.Language/Parser/CodeGen/EngineCommands.cs
  `ShowOperations`: OperationId guid, Operation, NodeId string, StartedOn,
  LastUpdatedOn datetime, Duration timespan, State, Status string, RootActivityId
  guid, ShouldRetry bool, Database, Principal, User string, AdminEpochStartTime
  datetime, and (newest version) VirtualCluster string. The v1 `DataType` labels
  follow duckdb-kql's emulator measurement (control.py: `.show operations`
  ShouldRetry is `SByte`, Duration `TimeSpan`/`timespan`).
* `Operation` aliases: `TableSetOrAppend` (data-factory-command-activity.md's
  async example), `DataIngestPull` (show-operations.md's example),
  `DataExportToFile` (the `CommandType` of `.export`); `TableAppend`, `TableSet`
  and `TableSetOrReplace` follow the same pattern and are not verified.
* `.export` result `Path`, `NumRecords`: data-export/export-data-to-storage.md.

Knobs for tests
---------------
* N, the `InProgress` polls before the final state: `AdaptedServer(...,
  async_polls=N)`, `build(async_polls=N)`, `python -m tests.kusto_server
  --async-polls N`, `start_kusto_server(async_polls=N)`; default
  `DEFAULT_POLLS`. Mutable on a live in-process server: `server.operations.polls`.
* A forced outcome, which never runs the command (nothing is written):
  - in the command text, for any server (the session one is a subprocess): a
    comment `// async-outcome: <State>` or `// async-outcome: <State>: <Status>`
    anywhere in it, for example
    `.set-or-append async T <| print x = 1 // async-outcome: Abandoned`;
  - on an in-process server: `server.operations.force_next(state, status)`,
    used by the next async command submitted.
  `<State>` is one of `FORCEABLE_STATES` (the documented terminal states other
  than Completed, plus the spelling `Cancelled`, reported as written).
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from duckdb_kql.control import strip_leading_comments
from duckdb_kql.errors import KqlError, KqlSyntaxError, KqlUnsupportedError
from duckdb_kql.server import RestColumn, Result

__all__ = [
    "DEFAULT_POLLS",
    "DETAILS_EXPORT_COLUMNS",
    "FORCEABLE_STATES",
    "OPERATION_ID_COLUMNS",
    "SHOW_OPERATIONS_COLUMNS",
    "AsyncOperations",
    "Execute",
    "OperationError",
]

#: InProgress polls before an operation reports its final state.
DEFAULT_POLLS = 2

#: Runs a command synchronously through the library, in the request's database,
#: with its parameters and options.
Execute = Callable[[str], Result]

#: The answer to an async command: one guid column, one row.
OPERATION_ID_COLUMNS = (RestColumn("OperationId", "guid", "Guid", "guid"),)


def _string(name: str) -> RestColumn:
    return RestColumn(name, "string", "String", "string")


def _datetime(name: str) -> RestColumn:
    return RestColumn(name, "datetime", "DateTime", "datetime")


#: `.show operations`, in Kusto's order (see the module docstring for sources).
SHOW_OPERATIONS_COLUMNS = (
    RestColumn("OperationId", "guid", "Guid", "guid"),
    _string("Operation"),
    _string("NodeId"),
    _datetime("StartedOn"),
    _datetime("LastUpdatedOn"),
    RestColumn("Duration", "timespan", "TimeSpan", "timespan"),
    _string("State"),
    _string("Status"),
    RestColumn("RootActivityId", "guid", "Guid", "guid"),
    RestColumn("ShouldRetry", "bool", "SByte", "bool"),
    _string("Database"),
    _string("Principal"),
    _string("User"),
    _datetime("AdminEpochStartTime"),
    _string("VirtualCluster"),
)

#: `.export`'s result, and so its `.show operation details`.
DETAILS_EXPORT_COLUMNS = (_string("Path"), RestColumn("NumRecords", "long", "Int64", "long"))

#: The documented terminal states a test may force (Completed is the default),
#: plus `Cancelled`, the other spelling, so a caller's handling of both can be tested.
FORCEABLE_STATES = frozenset(
    {
        "Failed",
        "PartiallySucceeded",
        "Abandoned",
        "BadInput",
        "Throttled",
        "Canceled",
        "Cancelled",
        "Skipped",
    }
)

#: Command verb -> the `Operation` alias `.show operations` reports.
_OPERATION_ALIASES = {
    ".set-or-append": "TableSetOrAppend",
    ".set-or-replace": "TableSetOrReplace",
    ".append": "TableAppend",
    ".set": "TableSet",
    ".export": "DataExportToFile",
    ".ingest": "DataIngestPull",
}

# The verb, then `async` as its own word. Longest verbs first, so `.set-or-append`
# is never read as `.set`.
_ASYNC = re.compile(
    r"^(?P<verb>\.set-or-replace|\.set-or-append|\.append|\.set|\.export|\.ingest)"
    r"\s+async\b\s*",
    re.IGNORECASE,
)
_OUTCOME = re.compile(
    r"//[ \t]*async-outcome[ \t]*:[ \t]*(?P<state>[A-Za-z]+)[ \t]*(?::[ \t]*(?P<status>[^\r\n]*))?"
)
_SHOW_OPERATIONS = re.compile(r"^\.show\s+operations(?![\w-])(?P<rest>.*)$", re.IGNORECASE | re.S)
_SHOW_DETAILS = re.compile(r"^\.show\s+operation\s+(?P<id>\S+)\s+details\s*;?\s*$", re.IGNORECASE)
_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
_EXPORT = re.compile(
    r"^\.export\s+(?P<compressed>compressed\s+)?to\s+(?P<format>csv|tsv|json|parquet)\s*"
    r"\((?P<targets>.*?)\)\s*(?:with\s*\((?P<props>.*?)\)\s*)?<\|(?P<query>.*)$",
    re.IGNORECASE | re.S,
)
# A KQL string literal, optionally `h` (hidden) and/or `@` (verbatim) prefixed.
_STRING = re.compile(r"""[hH]?@?(?:"(?P<d>(?:[^"\\]|\\.)*)"|'(?P<s>(?:[^'\\]|\\.)*)')""")
_NAME_PREFIX = re.compile(r"""namePrefix\s*=\s*["']?(?P<v>[^"',)\s]+)""", re.IGNORECASE)


class OperationError(KqlError):
    """A request about operations that cannot be answered (the server sends 400
    General_BadRequest, as for any KqlError). The wording is the adapter's."""


@dataclass
class Operation:
    """One submitted async command and what it left behind."""

    id: uuid.UUID
    operation: str
    database: str
    started_on: dt.datetime
    #: The wrapped command's result, kept for `.show operation <id> details`.
    result: Result | None = None
    #: What the wrapped command raised, in the engine's words.
    error: str | None = None
    #: A (State, Status) forced by a test.
    forced: tuple[str, str] | None = None
    #: Minus the InProgress polls still owed: -N when submitted, 0 once final.
    polls: int = 0
    finished_on: dt.datetime | None = None
    root_activity_id: uuid.UUID = field(default_factory=uuid.uuid4)

    def final_state(self) -> tuple[str, str]:
        if self.forced is not None:
            return self.forced
        if self.error is not None:
            return "Failed", self.error
        return "Completed", ""


class AsyncOperations:
    """The operations a server has accepted, and the answers about them.

    Thread-safe: `ThreadingHTTPServer` serves each request on its own thread.
    """

    def __init__(self, polls: int = DEFAULT_POLLS) -> None:
        if polls < 0:
            raise ValueError(f"async polls must be >= 0, not {polls}")
        #: InProgress polls before the final state, for operations submitted from now.
        self.polls = polls
        self.epoch = dt.datetime.now(dt.UTC)
        self._operations: dict[uuid.UUID, Operation] = {}
        self._forced: collections.deque[tuple[str, str]] = collections.deque()
        self._lock = threading.Lock()

    # -- knobs --------------------------------------------------------------

    def force_next(self, state: str, status: str = "") -> None:
        """Make the next async command submitted end in *state* with *status*,
        without running it."""
        self._forced.append(_checked_outcome(state, status))

    # -- dispatch -----------------------------------------------------------

    def answer(self, csl: str, execute: Execute, database: str) -> Result | None:
        """The answer to *csl* if it is one of ours, else None (the library's)."""
        head = strip_leading_comments(csl).strip()
        submitted = _ASYNC.match(head)
        if submitted:
            return self._submit(csl, head, submitted, execute, database)
        shown = _SHOW_OPERATIONS.match(head)
        if shown:
            return self._show(shown.group("rest"), execute)
        details = _SHOW_DETAILS.match(head)
        if details:
            return self._details(details.group("id"))
        return None

    # -- submit -------------------------------------------------------------

    def _submit(
        self, csl: str, head: str, match: re.Match[str], execute: Execute, database: str
    ) -> Result:
        verb = match.group("verb").lower()
        command = verb + " " + head[match.end() :]
        marker = _OUTCOME.search(csl)
        with self._lock:
            if marker:
                forced: tuple[str, str] | None = _checked_outcome(
                    marker.group("state"), (marker.group("status") or "").strip()
                )
            else:
                forced = self._forced.popleft() if self._forced else None
            operation = Operation(
                id=uuid.uuid4(),
                operation=_OPERATION_ALIASES[verb],
                database=database,
                started_on=dt.datetime.now(dt.UTC),
                forced=forced,
                polls=-self.polls,
            )
        if forced is None:
            # An export the adapter cannot read is refused now, not as a failed operation.
            export = _parse_export(command) if verb == ".export" else None
            try:
                if export is None:
                    operation.result = execute(command)
                else:
                    operation.result = _export(export, execute)
            except KqlUnsupportedError as exc:
                if "writes are disabled" in str(exc):
                    raise  # the write policy refuses the submit itself, as on a cluster
                operation.error = str(exc)
            except Exception as exc:  # any engine failure fails the operation
                operation.error = str(exc)
        with self._lock:
            self._operations[operation.id] = operation
        return Result(list(OPERATION_ID_COLUMNS), [(operation.id,)])

    # -- poll ---------------------------------------------------------------

    def _show(self, rest: str, execute: Execute) -> Result:
        listed, bar, pipeline = rest.partition("|")
        ids = _operation_ids(listed)
        with self._lock:
            if ids is None:
                chosen = sorted(self._operations.values(), key=lambda o: o.started_on)
            else:
                chosen = [self._operations[i] for i in ids if i in self._operations]
            named = set(ids or ()) | _named_ids(pipeline)
            rows = [
                self._row(operation, advance=not named or operation.id in named)
                for operation in chosen
            ]
        if not bar:
            return Result(list(SHOW_OPERATIONS_COLUMNS), rows)
        return execute(_datatable(SHOW_OPERATIONS_COLUMNS, rows) + " | " + pipeline)

    def _row(self, operation: Operation, *, advance: bool) -> tuple[Any, ...]:
        """*operation* as one `.show operations` row; a poll when *advance*."""
        in_progress = operation.polls < 0
        if advance and in_progress:
            operation.polls += 1
        if in_progress:
            state, status = "InProgress", ""
            updated = operation.started_on
        else:
            state, status = operation.final_state()
            if operation.finished_on is None:
                operation.finished_on = dt.datetime.now(dt.UTC)
            updated = operation.finished_on
        return (
            operation.id,
            operation.operation,
            "",
            operation.started_on,
            updated,
            updated - operation.started_on,
            state,
            status,
            operation.root_activity_id,
            False,
            operation.database,
            "",
            "",
            self.epoch,
            "",
        )

    # -- details ------------------------------------------------------------

    def _details(self, text: str) -> Result:
        wanted = _guid(text)
        with self._lock:
            operation = self._operations.get(wanted)
            if operation is None:
                raise OperationError(f"operation {wanted} was not found")
            if operation.polls < 0:
                raise OperationError(
                    f"operation {wanted} has not completed (State InProgress); "
                    "its details exist only after it completed successfully"
                )
            state, _ = operation.final_state()
            if state != "Completed" or operation.result is None:
                raise OperationError(
                    f"operation {wanted} ended {state}; "
                    "its details exist only after it completed successfully"
                )
            return operation.result


def _checked_outcome(state: str, status: str) -> tuple[str, str]:
    if state not in FORCEABLE_STATES:
        raise OperationError(
            f"async-outcome {state!r} is not a state a test can force; "
            f"one of {', '.join(sorted(FORCEABLE_STATES))}"
        )
    return state, status or f"forced by the test adapter: {state}"


def _guid(text: str) -> uuid.UUID:
    bare = text.strip().strip("'\"")
    if bare.lower().startswith("guid(") and bare.endswith(")"):
        bare = bare[5:-1].strip()
    try:
        return uuid.UUID(bare)
    except ValueError:
        raise KqlSyntaxError(f"{text.strip()!r} is not an operation id (a guid)") from None


def _operation_ids(listed: str) -> list[uuid.UUID] | None:
    """The ids after `.show operations`: None for none (every operation)."""
    text = listed.strip().rstrip(";").strip()
    if not text:
        return None
    if text.startswith("(") and text.endswith(")"):
        parts = text[1:-1].split(",")
        if not all(part.strip() for part in parts):
            raise KqlSyntaxError(f"'.show operations {text}': expected (id, id, ...)")
        return [_guid(part) for part in parts]
    return [_guid(text)]


def _named_ids(pipeline: str) -> set[uuid.UUID]:
    return {uuid.UUID(found) for found in _GUID.findall(pipeline)}


@dataclass(frozen=True)
class _Export:
    format: str
    compressed: bool
    targets: list[str]
    name_prefix: str
    query: str


def _parse_export(command: str) -> _Export:
    """`.export [compressed] to <format> (<uri>, ...) [with (...)] <| query`."""
    match = _EXPORT.match(command)
    if match is None:
        raise KqlSyntaxError(
            "'.export' as the test adapter reads it: .export [async] [compressed] to "
            "csv|tsv|json|parquet ( <storage uri>, ... ) [with ( ... )] <| <query>"
        )
    targets = [
        found.group("d") if found.group("d") is not None else found.group("s")
        for found in _STRING.finditer(match.group("targets"))
    ]
    if not targets:
        raise KqlSyntaxError("'.export': no storage connection string between the parentheses")
    prefix = _NAME_PREFIX.search(match.group("props") or "")
    return _Export(
        format=match.group("format").lower(),
        compressed=bool(match.group("compressed")),
        targets=targets,
        name_prefix=prefix.group("v") if prefix else "export",
        query=match.group("query").strip(),
    )


def _export(export: _Export, execute: Execute) -> Result:
    """*export* run as its query: a bad query fails the operation as Kusto's would.

    No file is written. One artifact is reported under the first storage URI (its
    secret, after `;`, dropped), holding every row; none when there are no rows.
    """
    rows = execute(export.query).rows
    if not rows:
        return Result(list(DETAILS_EXPORT_COLUMNS), [])
    name = f"{export.name_prefix}_1_{uuid.uuid4().hex}.{export.format}"
    if export.compressed:
        name += ".gz"
    base = export.targets[0].split(";", 1)[0].rstrip("/")
    return Result(list(DETAILS_EXPORT_COLUMNS), [(f"{base}/{name}", len(rows))])


def _literal(value: Any, kind: str) -> str:
    """*value* as a KQL literal of *kind*, for a `datatable`."""
    if value is None:
        return f"{kind}(null)"
    if kind == "string":
        return json.dumps(str(value), ensure_ascii=False)
    if kind == "guid":
        return f"guid({value})"
    if kind == "datetime":
        assert isinstance(value, dt.datetime)
        utc = value.astimezone(dt.UTC).replace(tzinfo=None)
        return f"datetime({utc.isoformat(timespec='microseconds')}Z)"
    if kind == "timespan":
        assert isinstance(value, dt.timedelta)
        return f"{value // dt.timedelta(microseconds=1)}microseconds"
    if kind == "bool":
        return "true" if value else "false"
    return str(value)


def _datatable(columns: Iterable[RestColumn], rows: list[tuple[Any, ...]]) -> str:
    """*rows* as a KQL `datatable`, so the library can run a piped query over them."""
    columns = list(columns)
    schema = ", ".join(f"{c.name}:{c.kql}" for c in columns)
    values = ", ".join(
        _literal(value, column.kql)
        for row in rows
        for value, column in zip(row, columns, strict=True)
    )
    return f"datatable({schema}) [{values}]"
