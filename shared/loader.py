"""Read flow files and `connections.yaml`, and report every problem as
`file:line: step 'id', field 'name': what is wrong` in words a user can act on.

Loading a folder reports every bad file, not just the first; a broken file never
stops the others from loading: whatever a file holds (bytes that are not UTF-8, YAML
bombs, steps nested too deep), it becomes that file's problems, never an exception
out of `load_folder`. Steps may sit inside at most `MAX_STEP_NESTING` containers
(condition, foreach), so running them never nears Python's recursion limit.

Start-up cost (the Functions app loads the folder at import): importing this module
imports neither PyYAML, pydantic, Jinja2 nor the actions. Within `flow_cache(dir)`,
`load_folder` keeps each file's outcome under *dir*, keyed by the file's bytes (SHA-256),
the connections file's bytes, the folder and the code (every `shared` source file and
the installed packages): an unchanged file is not parsed, validated or checked again.
Its problems are listed from the cache as they were; a valid one becomes a
`LoadedFlow` whose `head` (name, enabled, schedule, zone, `after`) is known at once and
whose `flow` is read from the bytes kept in memory on first use.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import sys
import threading
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import FlowInvalid
from .steps import REGISTRY, ActionRegistry

if TYPE_CHECKING:
    from jinja2.lexer import Lexer

    from .model import AnyConnection, Flow, StepModel
    from .yaml_lines import LineMap

__all__ = [
    "MAX_STEP_NESTING",
    "FlowHead",
    "FlowProblem",
    "FolderResult",
    "LoadedFlow",
    "TriggerHead",
    "find_flow",
    "flow_cache",
    "load_connections",
    "load_flow",
    "load_folder",
    "walk_steps",
]

CONNECTIONS_FILE = "connections.yaml"
#: Containers (condition, foreach) a step may sit inside. The runner recurses a few
#: frames per level; a person reads three or four levels, not ten.
MAX_STEP_NESTING = 10
#: Problems listed for one file; a generated or garbled file can have thousands.
MAX_PROBLEMS = 50
#: Jinja compiles a `{{ }}` or `{% %}` tag in time growing with about the cube of its
#: length (its optimizer folds every subexpression again): one tag has at most this
#: many tokens (about 30 ms to compile at worst; real tags have 3 to 20) ...
MAX_TAG_TOKENS = 64
#: ... and a flow's templates together cost at most this: 1 a templated string, and
#: 1 + (n/12)³ a tag of n tokens (a unit is about 0.2 ms): 1,000 fields with a short
#: tag each, or 13 of the longest tags.
MAX_TEMPLATE_COST = 2_000
#: The start of the problem a file gets when reading it hit a bug in Kusto Flows.
UNEXPECTED = "this file could not be checked (a bug in Kusto Flows; please report it)"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FlowProblem:
    file: str
    line: int
    message: str
    step: str = ""
    field: str = ""

    def __str__(self) -> str:
        where = []
        if self.step:
            where.append(f"step '{self.step}'")
        if self.field:
            where.append(f"field '{self.field}'")
        prefix = f"{self.file}:{self.line}: "
        return prefix + (", ".join(where) + ": " if where else "") + self.message


class FlowFileInvalid(FlowInvalid, code="FlowInvalid"):
    """A flow file that did not load; `problems` says where and why (the first
    MAX_PROBLEMS of them, then how many more)."""

    def __init__(self, problems: list[FlowProblem], *, capped: bool = False) -> None:
        if not capped:  # (problems from the flow cache were capped when first found)
            problems = _at_most(problems)
        super().__init__("\n".join(str(p) for p in problems), problems=problems)
        self.problems: list[FlowProblem] = problems


def _at_most(problems: list[FlowProblem]) -> list[FlowProblem]:
    if len(problems) <= MAX_PROBLEMS:
        return problems
    more = problems[MAX_PROBLEMS]
    return [*problems[:MAX_PROBLEMS], FlowProblem(
        more.file, more.line, f"... and {len(problems) - MAX_PROBLEMS} more problems; fix "
                              f"these first")]


@dataclass(frozen=True)
class TriggerHead:
    """`schedule` and `timezone` of a flow's trigger (as `Flow.trigger` has them)."""

    schedule: str | None = None
    timezone: str = "UTC"


@dataclass(frozen=True)
class FlowHead:
    """What loading a folder and registering timers need of a valid flow, known without
    reading it again: its name and switch, its trigger's schedule and zone (read like the
    flow's: `head.trigger.schedule`), the flow it runs after, and the lines of `name` and
    `trigger.after` (for problems found across files)."""

    name: str
    enabled: bool = True
    trigger: TriggerHead = TriggerHead()
    after: str | None = None
    name_line: int = 1
    after_line: int = 1

    @classmethod
    def of(cls, flow: Flow, lines: LineMap) -> FlowHead:
        trigger = flow.trigger
        return cls(flow.name, flow.enabled, TriggerHead(trigger.schedule, trigger.timezone),
                   trigger.after.flow if trigger.after is not None else None,
                   lines.line(("name",)), lines.line(("trigger", "after")))

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "enabled": self.enabled, "schedule": self.trigger.schedule,
                "timezone": self.trigger.timezone, "after": self.after,
                "name_line": self.name_line, "after_line": self.after_line}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FlowHead:
        head = cls(data["name"], data["enabled"], TriggerHead(data["schedule"], data["timezone"]),
                   data["after"], data["name_line"], data["after_line"])
        if not (isinstance(head.name, str) and isinstance(head.enabled, bool)
                and isinstance(head.trigger.schedule, str | None)
                and isinstance(head.trigger.timezone, str) and isinstance(head.after, str | None)
                and type(head.name_line) is int and type(head.after_line) is int):
            raise ValueError("not a flow head")
        return head


#: Reading a cached flow again happens once per flow, whichever thread asks first.
_READ_AGAIN = threading.Lock()


class LoadedFlow:
    """A valid flow file: its flow, its path and the line of every key (`lines`).

    One taken from the flow cache holds the file's bytes instead: `flow` and `lines` are
    read from them (YAML and model; the checks passed on these very bytes) on first use.
    """

    def __init__(self, flow: Flow | None, path: Path, lines: LineMap | None = None, *,
                 head: FlowHead | None = None, raw: bytes | None = None,
                 registry: ActionRegistry | None = None) -> None:
        if flow is None and (head is None or raw is None or registry is None):
            raise TypeError("a LoadedFlow needs its flow, or its head, bytes and registry")
        self.path = path
        self._flow = flow
        self._lines = lines
        self._head = head
        self._raw = raw
        self._registry = registry

    def __repr__(self) -> str:
        return f"LoadedFlow(name={self.name!r}, path={self.path!r})"

    @property
    def name(self) -> str:
        return self._head.name if self._head is not None else self.flow.name

    @property
    def head(self) -> FlowHead:
        if self._head is None:
            self._head = FlowHead.of(self.flow, self.lines)
        return self._head

    @property
    def flow(self) -> Flow:
        if self._flow is None:
            self._read_again()
        assert self._flow is not None
        return self._flow

    @property
    def lines(self) -> LineMap:
        if self._lines is None:
            if self._raw is not None:
                self._read_again()
            else:
                from .yaml_lines import LineMap

                self._lines = LineMap()
        assert self._lines is not None
        return self._lines

    def _read_again(self) -> None:
        """The flow and lines of a cached file, from the bytes it was checked with."""
        with _READ_AGAIN:
            if self._flow is not None:
                return
            assert self._raw is not None and self._registry is not None
            try:
                data, lines = _read(self.path, self._raw)
                data.setdefault("name", self.path.stem)
                flow = self._registry.flow_model.model_validate(data)
            except Exception as exc:  # the cache was wrong: a bug, worded like one
                problem = _unexpected(str(self.path), exc)
                raise FlowFileInvalid([problem]) from exc
            if FlowHead.of(flow, lines) != self._head:
                log.error("flow cache: %s reads differently than cached (%s); using the "
                          "file", self.path, self._head)
            self._flow, self._lines, self._raw = flow, lines, None


@dataclass
class FolderResult:
    flows: dict[str, LoadedFlow] = field(default_factory=dict)
    #: Problems by file; a file listed here did not load (or loaded with errors).
    problems: dict[str, list[FlowProblem]] = field(default_factory=dict)
    #: By name; from the flow cache, parsed on first use (see `flow_cache`).
    connections: Mapping[str, AnyConnection] = field(default_factory=dict)

    @property
    def all_problems(self) -> list[FlowProblem]:
        return [p for problems in self.problems.values() for p in problems]

    @property
    def ok(self) -> bool:
        return not self.problems


def walk_steps(steps: list[StepModel]) -> Iterator[tuple[str, StepModel, list[str]]]:
    """Every step, depth first, as (id, step, ancestor ids)."""
    def visit(items: list[StepModel], ancestors: list[str]
              ) -> Iterator[tuple[str, StepModel, list[str]]]:
        for step in items:
            yield step.id, step, ancestors
            for _, nested in step.nested_blocks():
                yield from visit(nested, [*ancestors, step.id])
    yield from visit(steps, [])


# --------------------------------------------------------------------- connections

def load_connections(path: Path) -> tuple[dict[str, AnyConnection], list[FlowProblem]]:
    if not path.exists():
        return {}, [FlowProblem(str(path), 1, "connections file not found; create it with "
                                "at least: samples: {cluster: embedded, database: Samples}")]
    try:
        return _read_connections(path)
    except Exception as exc:  # a bug: still this file's problem, never the app's end
        return {}, [_unexpected(str(path), exc)]


def _read_connections(path: Path, raw: bytes | None = None,
                      ) -> tuple[dict[str, AnyConnection], list[FlowProblem]]:
    from pydantic import ValidationError

    from .model import parse_connection

    try:
        data, lines = _read(path, raw)
    except FlowFileInvalid as exc:
        return {}, exc.problems
    if not isinstance(data, dict):
        return {}, [FlowProblem(str(path), 1, "expected a mapping of connection names")]
    connections: dict[str, AnyConnection] = {}
    problems: list[FlowProblem] = []
    for name, spec in data.items():
        try:
            connections[str(name)] = parse_connection(spec)
        except ValidationError as exc:
            for error in exc.errors():
                loc = (name, *error["loc"])
                problems.append(FlowProblem(
                    str(path), lines.line(loc), _pydantic_message(error),
                    field=".".join(str(p) for p in loc)))
    return connections, _at_most(problems)


# ------------------------------------------------------------------------- flows

def load_flow(path: Path, connections: Mapping[str, AnyConnection] | None = None, *,
              registry: ActionRegistry = REGISTRY) -> LoadedFlow:
    """Load and check one flow file; raise FlowFileInvalid listing every problem (and
    nothing else, whatever the file holds)."""
    return _load_flow_guarded(path, connections, registry)


def _load_flow_guarded(path: Path, connections: Mapping[str, AnyConnection] | None,
                       registry: ActionRegistry, raw: bytes | None = None) -> LoadedFlow:
    try:
        return _load_flow(path, connections, registry, raw)
    except FlowFileInvalid:
        raise
    except Exception as exc:  # a bug: still this file's problem, never the app's end
        raise FlowFileInvalid([_unexpected(str(path), exc)]) from exc


def _read(path: Path, raw: bytes | None = None) -> tuple[Any, LineMap]:
    """The YAML of *path* (or of its bytes *raw*, already read); FlowFileInvalid (only)
    when it cannot be read or parsed."""
    from .yaml_lines import YamlProblem, load_file, load_with_lines

    file = str(path)
    try:
        return load_file(path) if raw is None else load_with_lines(raw)
    except YamlProblem as exc:
        raise FlowFileInvalid([FlowProblem(file, exc.line, exc.message)]) from exc
    except OSError as exc:
        raise FlowFileInvalid([FlowProblem(file, 1, f"cannot read file: {exc}")]) from exc
    except Exception as exc:  # a bug: still this file's problem, never the app's end
        raise FlowFileInvalid([_unexpected(file, exc)]) from exc


def _unexpected(file: str, exc: Exception) -> FlowProblem:
    log.error("reading %s failed unexpectedly", file, exc_info=exc)
    return FlowProblem(file, 1, f"{UNEXPECTED}: {type(exc).__name__}: {exc}")


def _load_flow(path: Path, connections: Mapping[str, AnyConnection] | None,
               registry: ActionRegistry, raw: bytes | None = None) -> LoadedFlow:
    from pydantic import ValidationError

    file = str(path)
    data, lines = _read(path, raw)
    if not isinstance(data, dict):
        raise FlowFileInvalid([FlowProblem(file, 1, "a flow file is a mapping with at least "
                                           "'steps' (see README, flow-file reference)")])
    data.setdefault("name", path.stem)
    try:
        flow = registry.flow_model.model_validate(data)
    except ValidationError as exc:
        raise FlowFileInvalid(
            [_problem_from_pydantic(file, data, lines, e, registry) for e in exc.errors()]
        ) from exc
    problems = _check_semantics(file, flow, data, lines, connections, registry)
    if problems:
        raise FlowFileInvalid(problems)
    return LoadedFlow(flow, path, lines)


def _check_semantics(file: str, flow: Flow, data: dict[str, Any], lines: LineMap,
                     connections: Mapping[str, AnyConnection] | None,
                     registry: ActionRegistry) -> list[FlowProblem]:
    from . import expressions
    from .model import wrong_connection

    problems: list[FlowProblem] = []
    # Same depth-first order as walk_steps, so the n-th step has the n-th path.
    paths = [path for _, path in _step_paths(data.get("steps", []), ("steps",),
                                             registry)]
    current: tuple[Any, ...] = ()  # the step being checked: where its problems are

    def add(step_id: str, field_name: str, message: str) -> None:
        key = (*current, *field_name.split(".")) if field_name else current
        problems.append(FlowProblem(file, lines.line(key), message, step_id, field_name))

    if flow.trigger.schedule is not None:
        from .schedule import ScheduleError, parse_schedule

        try:
            parse_schedule(flow.trigger.schedule, flow.trigger.timezone)
        except ScheduleError as exc:
            # A bad zone is the timezone line's problem, not the schedule's.
            where = "timezone" if "time zone" in str(exc) else "schedule"
            problems.append(FlowProblem(file, lines.line(("trigger", where)), str(exc),
                                        field=f"trigger.{where}"))

    seen: dict[str, int] = {}
    earlier: set[str] = set()
    walked = _with_paths(walk_steps(flow.steps), paths)
    if flow.on_failure is not None:  # after the steps: a notice may read any of them
        notice = data.get("on_failure")
        notice_paths = [path for _, path in _step_paths(
            notice.get("steps") if isinstance(notice, dict) else None,
            ("on_failure", "steps"), registry)]
        walked += _with_paths(walk_steps(flow.on_failure.steps), notice_paths)
    all_ids = {step_id for step_id, _, _, _ in walked}
    template_cost = 0
    for step_id, step, ancestors, current in walked:
        if step_id in seen:
            add(step_id, "id", f"duplicate step id '{step_id}' (first used on line "
                               f"{seen[step_id]}); step ids must be unique in a flow")
        seen.setdefault(step_id, lines.line(current))
        if len(ancestors) == MAX_STEP_NESTING:
            for key, nested in step.nested_blocks():
                if nested:
                    add(step_id, key, _too_deep(registry))
        connection = getattr(step, "connection", None)
        if connection is not None and connections is not None and connection not in connections:
            known = ", ".join(sorted(connections)) or "none defined"
            add(step_id, "connection", f"unknown connection '{connection}' (known: {known}); "
                                       f"add it to {Path(file).parent / CONNECTIONS_FILE}")
        family = getattr(type(step), "connection_family", None)
        if family and connections and connection is not None and connection in connections:
            refusal = wrong_connection(connection, connections[connection], family)
            if refusal:
                add(step_id, "connection", refusal)
        allowed = earlier - set(ancestors)
        check = registry.for_step(step).check
        for field_name, message in check(step) if check else ():
            add(step_id, field_name, message)
        for field_name, value, bare in _template_fields(step):
            if template_cost > MAX_TEMPLATE_COST:
                break
            cost, problem = _template_cost(value, bare, MAX_TEMPLATE_COST - template_cost)
            template_cost += cost
            if template_cost > MAX_TEMPLATE_COST:
                problem = (f"budget of {MAX_TEMPLATE_COST:,} units is spent here (1 a "
                           f"templated field, 1 + (n/12)³ a tag of n tokens): the flow has "
                           f"too many or too long templates to check; use fewer and shorter "
                           f"ones")
            problem = problem or _compile_problem(value, bare)
            if problem:
                add(step_id, field_name, f"template {problem}")
                continue
            for ref in sorted(expressions.template_names(value)):
                if ref in allowed:
                    continue
                reason = ("is this step itself or contains it" if ref == step_id
                          or ref in ancestors else
                          "comes later in the flow" if ref in all_ids else
                          "does not exist")
                add(step_id, field_name, f"refers to steps.{ref}, which {reason}; a step can "
                                         f"only use the outputs of steps that ran before it")
        earlier.add(step_id)
    return problems


def _with_paths(steps: Iterator[tuple[str, StepModel, list[str]]], paths: list[tuple[Any, ...]]
                ) -> list[tuple[str, StepModel, list[str], tuple[Any, ...]]]:
    """Each walked step with its path in the file's data (same depth-first order)."""
    return [(step_id, step, ancestors, paths[index] if index < len(paths) else ())
            for index, (step_id, step, ancestors) in enumerate(steps)]


def _template_cost(text: str, bare: bool, budget: int) -> tuple[int, str | None]:
    """What compiling *text* costs (1, and 1 + (n/12)³ a tag of n tokens; counting
    stops past *budget*), or a problem when one tag is over MAX_TAG_TOKENS. Counted with
    Jinja's lexer, which is linear; a syntax error is left to the compiler to word."""
    import jinja2

    from . import expressions

    if not bare and not expressions.has_template(text):
        return 0, None
    cost, tokens = 1, 0
    try:
        for _, kind, _ in _lexer().tokeniter(text, None, state="variable" if bare else None):
            if kind in ("variable_begin", "block_begin"):
                tokens = 0
            elif kind in ("variable_end", "block_end"):
                cost += 1 + (tokens * tokens * tokens) // 1728
                if cost > budget:
                    return cost, None
            elif kind not in ("data", "whitespace"):
                tokens += 1
                if tokens > MAX_TAG_TOKENS:
                    return cost, (f"tag is too long (more than {MAX_TAG_TOKENS} tokens); "
                                  f"split it, or compute the value in the query")
    except jinja2.TemplateSyntaxError:
        pass
    return cost + (1 + (tokens * tokens * tokens) // 1728 if bare else 0), None


@cache
def _lexer() -> Lexer:
    import jinja2

    return jinja2.Environment().lexer


def _compile_problem(text: str, bare: bool) -> str | None:
    from . import expressions

    try:
        return expressions.validate(text, bare=bare)
    except Exception as exc:  # Python's own limits on the compiled code (20 nested
        # blocks, 200 nested brackets), or the recursion limit: the template's to fix
        return (f"cannot be compiled ({type(exc).__name__}: {exc}); nest fewer blocks or "
                f"brackets")


def _too_deep(registry: ActionRegistry) -> str:
    containers = ", ".join(name for name in registry.names if registry.nested_keys(name))
    return (f"steps nested more than {MAX_STEP_NESTING} levels deep ({containers} inside "
            f"each other); flatten them (e.g. combine conditions with 'and') or move the "
            f"inner steps to a flow of their own (trigger.after)")


def _template_fields(step: StepModel) -> Iterator[tuple[str, str, bool]]:
    """(field, text, is_bare_expression) for every templated string of a step."""
    for name, value in step:
        role = type(step).field_role(name)
        alias = type(step).model_fields[name].alias or name
        if role == "expression":
            yield alias, value, True
        elif role in ("templated", "html"):
            yield from _strings(alias, value)


def _strings(name: str, value: Any) -> Iterator[tuple[str, str, bool]]:
    if isinstance(value, str):
        yield name, value, False
    elif isinstance(value, list):
        for item in value:
            yield from _strings(name, item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(f"{name}.{key}", item)


def _step_paths(steps: Any, prefix: tuple[Any, ...], registry: ActionRegistry
                ) -> Iterator[tuple[str, tuple[Any, ...]]]:
    if not isinstance(steps, list):
        return
    for index, step in enumerate(steps):
        if not isinstance(step, dict):
            continue
        path = (*prefix, index)
        if isinstance(step.get("id"), str):
            yield step["id"], path
        for key in registry.nested_keys(str(step.get("action"))):
            yield from _step_paths(step.get(key), (*path, key), registry)


def _problem_from_pydantic(file: str, data: dict[str, Any], lines: LineMap,
                           error: Any, registry: ActionRegistry) -> FlowProblem:
    actions = registry.names
    loc = [p for p in error["loc"] if not (isinstance(p, str) and p in actions)]
    step_id, field_parts = "", []
    node: Any = data
    for index, part in enumerate(loc):
        if isinstance(node, dict) and isinstance(part, int | str) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            field_parts = [str(p) for p in loc[index:]]
            break
        if (isinstance(node, dict) and "id" in node and index > 0
                and loc[index - 1] in registry.all_nested_keys):
            step_id, field_parts = str(node["id"]), []
        elif step_id:
            field_parts.append(str(part))
    if not step_id:
        field_parts = [str(p) for p in loc]
    message = _pydantic_message(error)
    if error["type"] == "union_tag_invalid":
        field_parts = ["action"]
        message = (f"unknown action '{error['ctx']['tag']}'; known actions: "
                   f"{', '.join(actions)}")
    elif error["type"] == "union_tag_not_found":
        field_parts = ["action"]
        message = f"every step needs an action, one of: {', '.join(actions)}"
    line_path = (*loc, "action") if error["type"].startswith("union_tag") else tuple(loc)
    return FlowProblem(file, lines.line(line_path), message, step_id, ".".join(field_parts))


def _pydantic_message(error: Any) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key (check its spelling; see `python -m shared schema`)"
    if kind == "missing":
        return "required field is missing"
    if kind == "literal_error":
        return f"must be one of {error['ctx']['expected']}"
    if kind == "string_pattern_mismatch":
        pattern = error["ctx"]["pattern"]
        if "A-Za-z_" in pattern:
            return ("must start with a letter or '_' and hold only letters, digits and '_' "
                    "(it is used as steps.<id> in templates)")
        return "must be lower-case letters, digits and '-' (it names functions and URLs)"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


# ------------------------------------------------------------------------ folder

def load_folder(folder: Path, *, registry: ActionRegistry = REGISTRY) -> FolderResult:
    """Every flow file of *folder* and its connections file, each file's problems listed
    under it. Within `flow_cache(dir)` (and with the product's registry), unchanged
    files come from the cache there."""
    cache_dir = _CACHE_DIR.get()
    cache = _FolderCache.open(cache_dir, folder) if (
        cache_dir is not None and registry is REGISTRY) else None
    result = FolderResult()
    connections_path = folder / CONNECTIONS_FILE
    connections, problems = (cache.connections(connections_path) if cache is not None
                             else load_connections(connections_path))
    result.connections = connections
    if problems:
        result.problems[str(connections_path)] = problems
    files = sorted(p for p in folder.glob("*.y*ml") if p.name != CONNECTIONS_FILE
                   and p.suffix in (".yaml", ".yml"))
    for path in files:
        try:
            loaded = (cache.flow(path, connections, registry) if cache is not None
                      else load_flow(path, connections, registry=registry))
        except FlowFileInvalid as exc:
            result.problems[str(path)] = exc.problems
            continue
        if loaded.name in result.flows:
            other = result.flows[loaded.name].path
            result.problems[str(path)] = [FlowProblem(
                str(path), loaded.head.name_line,
                f"flow name '{loaded.name}' is already used by {other}", field="name")]
            continue
        result.flows[loaded.name] = loaded
    if cache is not None:
        cache.save()
    _check_chains(result)
    return result


def _check_chains(result: FolderResult) -> None:
    """`trigger.after` must name a flow that exists, and chains may not loop."""
    for name, loaded in list(result.flows.items()):
        after = loaded.head.after
        if after is None:
            continue
        if after not in result.flows:
            result.problems.setdefault(str(loaded.path), []).append(FlowProblem(
                str(loaded.path), loaded.head.after_line,
                f"runs after flow '{after}', which does not exist (or is invalid)",
                field="trigger.after"))
            continue
        chain: list[str] = [name]
        current: str | None = after
        while current is not None:
            if current in chain:
                cycle = " -> ".join([*chain, current])
                result.problems.setdefault(str(loaded.path), []).append(FlowProblem(
                    str(loaded.path), loaded.head.after_line,
                    f"trigger.after makes a cycle: {cycle}", field="trigger.after"))
                break
            chain.append(current)
            nxt = result.flows.get(current)
            current = nxt.head.after if nxt else None
    for file in result.problems:
        for name in [n for n, f in result.flows.items() if str(f.path) == file]:
            del result.flows[name]


# -------------------------------------------------------------------- flow cache

#: The flow cache's folder while `flow_cache` is in effect (None: no cache).
_CACHE_DIR: ContextVar[Path | None] = ContextVar("kusto_flows_cache_dir", default=None)
#: Bumped when what the cache holds changes meaning.
_CACHE_FORMAT = 1
#: Bytes read of a file before hashing it: more than a flow file may hold (yaml_lines
#: refuses files over its MAX_FILE_BYTES with their own problem); a file this long is
#: read the ordinary way, uncached.
_READ_AT_MOST = 8 * 1024 * 1024


@contextlib.contextmanager
def flow_cache(folder: Path) -> Iterator[None]:
    """Within this block, `load_folder` keeps each file's outcome in *folder* (made when
    missing) and takes unchanged files from it. A cache that cannot be read or written
    is not used: the files are read as without it."""
    token = _CACHE_DIR.set(folder)
    try:
        yield
    finally:
        _CACHE_DIR.reset(token)


def _read_bytes(path: Path) -> bytes:
    with path.open("rb") as stream:
        return stream.read(_READ_AT_MOST)


@cache
def _code_key() -> str:
    """What the outcome of reading a file depends on besides its bytes: this Python,
    every source file of `shared` (size and modification time) and the installed
    distributions (pydantic, Jinja2, PyYAML, jsonschema ... by name and version)."""
    digest = hashlib.sha256(f"{_CACHE_FORMAT}\0{sys.version}\0{sys.prefix}\n".encode())
    package = Path(__file__).resolve().parent
    for root, dirs, files in os.walk(package):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                file = os.path.join(root, name)
                stat = os.stat(file)
                relative = os.path.relpath(file, package)
                digest.update(f"{relative}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    for entry in sys.path:
        if os.path.basename(entry) in ("site-packages", "dist-packages"):
            try:
                names = sorted(n for n in os.listdir(entry) if n.endswith(".dist-info"))
            except OSError:
                continue
            digest.update(f"{entry}\0{'/'.join(names)}\n".encode())
    return digest.hexdigest()


def _problem_json(problem: FlowProblem) -> list[Any]:
    return [problem.file, problem.line, problem.message, problem.step, problem.field]


def _problem_from_json(item: Any) -> FlowProblem:
    file, line, message, step, field_name = item
    if not (isinstance(file, str) and type(line) is int and isinstance(message, str)
            and isinstance(step, str) and isinstance(field_name, str)):
        raise ValueError("not a flow problem")
    return FlowProblem(file, line, message, step, field_name)


def _plain_json(value: Any) -> bool:
    """True when *value* survives JSON unchanged (str keys, no tuples, dates or NaN)."""
    if value is None or isinstance(value, str | bool | int):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_plain_json(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and _plain_json(item) for key, item in value.items())
    return False


class _FolderCache:
    """The cached outcome of each file of one flows folder: one JSON file in the cache
    folder, named after the flows folder, written again when anything changed."""

    def __init__(self, file: Path, key: str, stored: dict[str, Any]) -> None:
        self.file = file
        self.key = key
        self.stored = stored
        connections = stored.get("connections")
        self.old_connections: dict[str, Any] = connections if isinstance(
            connections, dict) else {}
        flows = stored.get("flows")
        self.old_flows: dict[str, Any] = flows if isinstance(flows, dict) else {}
        self.new_connections: dict[str, Any] = {}
        self.new_flows: dict[str, Any] = {}

    @classmethod
    def open(cls, cache_dir: Path, folder: Path) -> _FolderCache:
        try:
            where = f"{folder}\0{folder.resolve()}"
        except (OSError, RuntimeError):
            where = f"{folder}\0{folder.absolute()}"
        name = hashlib.sha256(where.encode("utf-8", "surrogatepass")).hexdigest()[:32]
        key = hashlib.sha256(f"{_code_key()}\0{where}".encode(
            "utf-8", "surrogatepass")).hexdigest()
        file = cache_dir / f"flows-{name}.json"
        stored: Any = {}
        try:
            with file.open("rb") as stream:
                # Only a cache this user wrote: what it says is believed without checks.
                if not hasattr(os, "getuid") or os.fstat(stream.fileno()).st_uid == os.getuid():
                    stored = json.load(stream)
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as exc:
            log.info("flow cache %s not read: %s", file, exc)
        if not isinstance(stored, dict) or stored.get("key") != key:
            stored = {}
        return cls(file, key, stored)

    def connections(self, path: Path,
                    ) -> tuple[Mapping[str, AnyConnection], list[FlowProblem]]:
        """The connections file, from its cached data when its bytes are unchanged and
        it had no problems (no YAML read); otherwise read and, when clean, cached."""
        try:
            raw = _read_bytes(path)
        except OSError:  # missing or unreadable: worded by load_connections
            self.new_connections = {"sha": None}
            return load_connections(path)
        sha = hashlib.sha256(raw).hexdigest()
        self.new_connections = {"sha": sha}
        cached = self.old_connections
        data = cached.get("data")
        if (cached.get("sha") == sha and isinstance(data, dict)
                and all(isinstance(spec, dict) for spec in data.values())):
            self.new_connections = cached
            return _CachedConnections(data), []
        if len(raw) >= _READ_AT_MOST:
            return load_connections(path)
        try:
            connections, problems = _read_connections(path, raw)
        except Exception as exc:  # a bug: still this file's problem, never the app's end
            return {}, [_unexpected(str(path), exc)]
        if not problems:
            data = {name: connection.model_dump(mode="json", exclude_unset=True, by_alias=True)
                    for name, connection in connections.items()}
            if _plain_json(data) and _same_connections(data, connections):
                self.new_connections = {"sha": sha, "data": data}
        return connections, problems

    def flow(self, path: Path, connections: Mapping[str, AnyConnection],
             registry: ActionRegistry) -> LoadedFlow:
        """The flow file *path*: from the cache when its bytes (and the connections
        file's) are those it was checked with, else read, checked and cached."""
        try:
            raw = _read_bytes(path)
        except OSError:  # worded by load_flow
            return load_flow(path, connections, registry=registry)
        if len(raw) >= _READ_AT_MOST:
            return load_flow(path, connections, registry=registry)
        sha = hashlib.sha256(raw).hexdigest()
        cached = (self.old_flows.get(path.name)
                  if self.old_connections.get("sha") == self.new_connections.get("sha")
                  else None)
        if isinstance(cached, dict) and cached.get("sha") == sha:
            try:
                if "problems" in cached:
                    problems = [_problem_from_json(item) for item in cached["problems"]]
                    head = None
                else:
                    head = FlowHead.from_json(cached["head"])
            except (KeyError, TypeError, ValueError):
                pass  # not a cache entry this code wrote: read the file
            else:
                self.new_flows[path.name] = cached
                if head is None:
                    raise FlowFileInvalid(problems, capped=True)
                return LoadedFlow(None, path, head=head, raw=raw, registry=registry)
        try:
            loaded = _load_flow_guarded(path, connections, registry, raw)
        except FlowFileInvalid as exc:
            # A bug's problem is not kept: it is logged (with its trace) at every load.
            if not any(p.message.startswith(UNEXPECTED) for p in exc.problems):
                self.new_flows[path.name] = {
                    "sha": sha, "problems": [_problem_json(p) for p in exc.problems]}
            raise
        self.new_flows[path.name] = {"sha": sha, "head": loaded.head.to_json()}
        return loaded

    def save(self) -> None:
        """Write the cache again when this load found anything it did not hold."""
        if (self.stored.get("connections") == self.new_connections
                and self.stored.get("flows") == self.new_flows):
            return
        data = {"format": _CACHE_FORMAT, "key": self.key, "connections": self.new_connections,
                "flows": self.new_flows}
        partial = self.file.with_name(
            f".{self.file.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            self.file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            partial.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
            os.replace(partial, self.file)
        except OSError as exc:
            log.info("flow cache %s not written: %s", self.file, exc)
            with contextlib.suppress(OSError):
                partial.unlink()


class _CachedConnections(Mapping[str, "AnyConnection"]):
    """The connections of an unchanged connections file, from the data cached when it
    was read (and checked to parse back to the same connections): parsed on first use,
    so a start from the cache needs pydantic for them only when something reads one."""

    def __init__(self, specs: dict[str, dict[str, Any]]) -> None:
        self._specs = specs
        self._parsed: dict[str, AnyConnection] | None = None
        self._lock = threading.Lock()

    def _all(self) -> dict[str, AnyConnection]:
        with self._lock:
            if self._parsed is None:
                from .model import parse_connection

                self._parsed = {name: parse_connection(spec)
                                for name, spec in self._specs.items()}
            return self._parsed

    def __getitem__(self, name: str) -> AnyConnection:
        return self._all()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __repr__(self) -> str:
        return f"<connections {', '.join(self._specs)} (from the flow cache)>"


def _same_connections(data: dict[str, Any], connections: dict[str, AnyConnection]) -> bool:
    """True when parsing *data* again gives *connections* (what the cache relies on)."""
    from .model import parse_connection

    try:
        return {name: parse_connection(spec) for name, spec in data.items()} == connections
    except Exception:  # then the file is read each time
        return False


def find_flow(target: str, folder: Path) -> Path:
    """A flow by name (file stem or `name:`) or by path."""
    candidate = Path(target)
    if candidate.suffix in (".yaml", ".yml") and candidate.exists():
        return candidate
    for suffix in (".yaml", ".yml"):
        path = folder / f"{target}{suffix}"
        if path.exists():
            return path
    for path in sorted(folder.glob("*.y*ml")):
        if path.name == CONNECTIONS_FILE:
            continue
        try:
            data, _ = _read(path)
        except FlowFileInvalid:
            continue
        if isinstance(data, dict) and data.get("name") == target:
            return path
    raise FileNotFoundError(f"no flow named '{target}' in {folder}")
