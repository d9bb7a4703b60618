"""The checks a flow file gets after its model validated: schedule and zone, unique
step ids, nesting depth, known and fitting connections, each action's own check,
templates (compiled, within a cost budget, referring only to steps that ran before),
and, across a folder, `trigger.after` chains (existing flows, no cycles).

Imports Jinja2 only when a check runs (start-up cost: see `shared.loader`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .flow_problems import FlowProblem

if TYPE_CHECKING:
    from jinja2.lexer import Lexer

    from .loader import FolderResult
    from .model import AnyConnection, Flow, StepModel
    from .steps import ActionRegistry
    from .yaml_lines import LineMap

__all__ = [
    "CONNECTIONS_FILE",
    "MAX_STEP_NESTING",
    "MAX_TAG_TOKENS",
    "MAX_TEMPLATE_COST",
    "check_chains",
    "check_semantics",
    "walk_steps",
]

CONNECTIONS_FILE = "connections.yaml"
#: Containers (condition, foreach) a step may sit inside. The runner recurses a few
#: frames per level; a person reads three or four levels, not ten.
MAX_STEP_NESTING = 10
#: Jinja compiles a `{{ }}` or `{% %}` tag in time growing with about the cube of its
#: length (its optimizer folds every subexpression again): one tag has at most this
#: many tokens (about 30 ms to compile at worst; real tags have 3 to 20) ...
MAX_TAG_TOKENS = 64
#: ... and a flow's templates together cost at most this: 1 a templated string, and
#: 1 + (n/12)³ a tag of n tokens (a unit is about 0.2 ms): 1,000 fields with a short
#: tag each, or 13 of the longest tags.
MAX_TEMPLATE_COST = 2_000

def walk_steps(steps: list[StepModel]) -> Iterator[tuple[str, StepModel, list[str]]]:
    """Every step, depth first, as (id, step, ancestor ids)."""
    def visit(items: list[StepModel], ancestors: list[str]
              ) -> Iterator[tuple[str, StepModel, list[str]]]:
        for step in items:
            yield step.id, step, ancestors
            for _, nested in step.nested_blocks():
                yield from visit(nested, [*ancestors, step.id])
    yield from visit(steps, [])

def check_semantics(file: str, flow: Flow, data: dict[str, Any], lines: LineMap,
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
def check_chains(result: FolderResult) -> None:
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

