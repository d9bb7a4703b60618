"""Read flow files and `connections.yaml`, and report every problem as
`file:line: step 'id', field 'name': what is wrong` in words a user can act on.

Loading a folder reports every bad file, not just the first; a broken file never
stops the others from loading: whatever a file holds (bytes that are not UTF-8, YAML
bombs, steps nested too deep), it becomes that file's problems, never an exception
out of `load_folder`. Steps may sit inside at most `MAX_STEP_NESTING` containers
(condition, foreach), so running them never nears Python's recursion limit.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from jinja2.lexer import Lexer
from pydantic import ValidationError

from . import expressions
from .errors import FlowInvalid
from .model import AnyConnection, Flow, StepModel, parse_connection, wrong_connection
from .steps import REGISTRY, ActionRegistry
from .yaml_lines import LineMap, YamlProblem, load_file

__all__ = [
    "MAX_STEP_NESTING",
    "FlowProblem",
    "FolderResult",
    "LoadedFlow",
    "find_flow",
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

    def __init__(self, problems: list[FlowProblem]) -> None:
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


@dataclass
class LoadedFlow:
    flow: Flow
    path: Path
    lines: LineMap = field(repr=False, default_factory=LineMap)

    @property
    def name(self) -> str:
        return self.flow.name


@dataclass
class FolderResult:
    flows: dict[str, LoadedFlow] = field(default_factory=dict)
    #: Problems by file; a file listed here did not load (or loaded with errors).
    problems: dict[str, list[FlowProblem]] = field(default_factory=dict)
    connections: dict[str, AnyConnection] = field(default_factory=dict)

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


def _read_connections(path: Path) -> tuple[dict[str, AnyConnection], list[FlowProblem]]:
    try:
        data, lines = _read(path)
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

def load_flow(path: Path, connections: dict[str, AnyConnection] | None = None, *,
              registry: ActionRegistry = REGISTRY) -> LoadedFlow:
    """Load and check one flow file; raise FlowFileInvalid listing every problem (and
    nothing else, whatever the file holds)."""
    try:
        return _load_flow(path, connections, registry)
    except FlowFileInvalid:
        raise
    except Exception as exc:  # a bug: still this file's problem, never the app's end
        raise FlowFileInvalid([_unexpected(str(path), exc)]) from exc


def _read(path: Path) -> tuple[Any, LineMap]:
    """The YAML of *path*; FlowFileInvalid (only) when it cannot be read or parsed."""
    file = str(path)
    try:
        return load_file(path)
    except YamlProblem as exc:
        raise FlowFileInvalid([FlowProblem(file, exc.line, exc.message)]) from exc
    except OSError as exc:
        raise FlowFileInvalid([FlowProblem(file, 1, f"cannot read file: {exc}")]) from exc
    except Exception as exc:  # a bug: still this file's problem, never the app's end
        raise FlowFileInvalid([_unexpected(file, exc)]) from exc


def _unexpected(file: str, exc: Exception) -> FlowProblem:
    log.error("reading %s failed unexpectedly", file, exc_info=exc)
    return FlowProblem(file, 1, f"{UNEXPECTED}: {type(exc).__name__}: {exc}")


def _load_flow(path: Path, connections: dict[str, AnyConnection] | None,
               registry: ActionRegistry) -> LoadedFlow:
    file = str(path)
    data, lines = _read(path)
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
                     connections: dict[str, AnyConnection] | None,
                     registry: ActionRegistry) -> list[FlowProblem]:
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
        if family and connections and connection in connections:
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
    return jinja2.Environment().lexer


def _compile_problem(text: str, bare: bool) -> str | None:
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
    result = FolderResult()
    connections, problems = load_connections(folder / CONNECTIONS_FILE)
    result.connections = connections
    if problems:
        result.problems[str(folder / CONNECTIONS_FILE)] = problems
    files = sorted(p for p in folder.glob("*.y*ml") if p.name != CONNECTIONS_FILE
                   and p.suffix in (".yaml", ".yml"))
    for path in files:
        try:
            loaded = load_flow(path, connections, registry=registry)
        except FlowFileInvalid as exc:
            result.problems[str(path)] = exc.problems
            continue
        if loaded.name in result.flows:
            other = result.flows[loaded.name].path
            result.problems[str(path)] = [FlowProblem(
                str(path), loaded.lines.line(("name",)),
                f"flow name '{loaded.name}' is already used by {other}", field="name")]
            continue
        result.flows[loaded.name] = loaded
    _check_chains(result)
    return result


def _check_chains(result: FolderResult) -> None:
    """`trigger.after` must name a flow that exists, and chains may not loop."""
    for name, loaded in list(result.flows.items()):
        after = loaded.flow.trigger.after
        if after is None:
            continue
        if after.flow not in result.flows:
            result.problems.setdefault(str(loaded.path), []).append(FlowProblem(
                str(loaded.path), loaded.lines.line(("trigger", "after")),
                f"runs after flow '{after.flow}', which does not exist (or is invalid)",
                field="trigger.after"))
            continue
        chain: list[str] = [name]
        current: str | None = after.flow
        while current is not None:
            if current in chain:
                cycle = " -> ".join([*chain, current])
                result.problems.setdefault(str(loaded.path), []).append(FlowProblem(
                    str(loaded.path), loaded.lines.line(("trigger", "after")),
                    f"trigger.after makes a cycle: {cycle}", field="trigger.after"))
                break
            chain.append(current)
            nxt = result.flows.get(current)
            current = nxt.flow.trigger.after.flow if nxt and nxt.flow.trigger.after else None
    for file in result.problems:
        for name in [n for n, f in result.flows.items() if str(f.path) == file]:
            del result.flows[name]


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
