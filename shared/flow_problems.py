"""Flow-file problems: `FlowProblem` (`file:line: step 'id', field 'name': message`),
`FlowFileInvalid` (a file that did not load, with its problems, capped at
`MAX_PROBLEMS`), reading a file's YAML with every failure worded as its problem, and
pydantic's validation errors mapped to messages a user can act on.

Imports neither PyYAML nor pydantic at import (start-up cost: see `shared.loader`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import FlowInvalid

if TYPE_CHECKING:
    from .steps import ActionRegistry
    from .yaml_lines import LineMap

__all__ = [
    "MAX_PROBLEMS",
    "UNEXPECTED",
    "FlowFileInvalid",
    "FlowProblem",
    "at_most",
    "problem_from_pydantic",
    "pydantic_message",
    "read_yaml",
    "unexpected",
]

#: Problems listed for one file; a generated or garbled file can have thousands.
MAX_PROBLEMS = 50
#: The start of the problem a file gets when reading it hit a bug in Kusto Flows.
UNEXPECTED = "this file could not be checked (a bug in Kusto Flows; please report it)"

log = logging.getLogger("shared.loader")  # (the name it had before the split)

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
            problems = at_most(problems)
        super().__init__("\n".join(str(p) for p in problems), problems=problems)
        self.problems: list[FlowProblem] = problems


def at_most(problems: list[FlowProblem]) -> list[FlowProblem]:
    if len(problems) <= MAX_PROBLEMS:
        return problems
    more = problems[MAX_PROBLEMS]
    return [*problems[:MAX_PROBLEMS], FlowProblem(
        more.file, more.line, f"... and {len(problems) - MAX_PROBLEMS} more problems; fix "
                              f"these first")]


def read_yaml(path: Path, raw: bytes | None = None) -> tuple[Any, LineMap]:
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
        raise FlowFileInvalid([unexpected(file, exc)]) from exc


def unexpected(file: str, exc: Exception) -> FlowProblem:
    log.error("reading %s failed unexpectedly", file, exc_info=exc)
    return FlowProblem(file, 1, f"{UNEXPECTED}: {type(exc).__name__}: {exc}")

def problem_from_pydantic(file: str, data: dict[str, Any], lines: LineMap,
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
    message = pydantic_message(error)
    if error["type"] == "union_tag_invalid":
        field_parts = ["action"]
        message = (f"unknown action '{error['ctx']['tag']}'; known actions: "
                   f"{', '.join(actions)}")
    elif error["type"] == "union_tag_not_found":
        field_parts = ["action"]
        message = f"every step needs an action, one of: {', '.join(actions)}"
    line_path = (*loc, "action") if error["type"].startswith("union_tag") else tuple(loc)
    return FlowProblem(file, lines.line(line_path), message, step_id, ".".join(field_parts))


def pydantic_message(error: Any) -> str:
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


