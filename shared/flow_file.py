"""One file: a flow file read and checked into a `LoadedFlow` (with its `FlowHead`:
name, switch, schedule, zone, `after`), or `connections.yaml` into connections; every
failure becomes the file's problems (`FlowFileInvalid`), never another exception.

Imports neither PyYAML nor pydantic at import (start-up cost: see `shared.loader`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .flow_checks import check_semantics
from .flow_problems import (
    FlowFileInvalid,
    FlowProblem,
    at_most,
    problem_from_pydantic,
    pydantic_message,
    read_yaml,
    unexpected,
)
from .steps import REGISTRY, ActionRegistry

if TYPE_CHECKING:
    from pydantic import ValidationError

    from .model import AnyConnection, Flow
    from .yaml_lines import LineMap

__all__ = [
    "FlowHead",
    "LoadedFlow",
    "TriggerHead",
    "load_connections",
    "load_flow",
    "load_flow_guarded",
    "read_connections",
]

log = logging.getLogger("shared.loader")


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
        """The flow and lines of a cached file, from the bytes it was checked with. A
        file that does not read or validate now (a shipped cache built with another
        version of PyYAML or pydantic than this instance's) gets its problems worded as
        loading it would word them."""
        from pydantic import ValidationError

        with _READ_AGAIN:
            if self._flow is not None:
                return
            assert self._raw is not None and self._registry is not None
            file = str(self.path)
            try:
                data, lines = read_yaml(self.path, self._raw)
                data.setdefault("name", self.path.stem)
                flow = self._registry.flow_model.model_validate(data)
            except FlowFileInvalid:
                log.error("flow cache: %s was valid when cached and does not read now", file)
                raise
            except ValidationError as exc:
                log.error("flow cache: %s was valid when cached and is not now", file)
                raise _invalid(file, data, lines, exc, self._registry) from exc
            except Exception as exc:  # the cache was wrong: a bug, worded like one
                problem = unexpected(file, exc)
                raise FlowFileInvalid([problem]) from exc
            if FlowHead.of(flow, lines) != self._head:
                log.error("flow cache: %s reads differently than cached (%s); using the "
                          "file", self.path, self._head)
            self._flow, self._lines, self._raw = flow, lines, None


# --------------------------------------------------------------------- connections

def load_connections(path: Path) -> tuple[dict[str, AnyConnection], list[FlowProblem]]:
    if not path.exists():
        return {}, [FlowProblem(str(path), 1, "connections file not found; create it with "
                                "at least: samples: {cluster: embedded, database: Samples}")]
    try:
        return read_connections(path)
    except Exception as exc:  # a bug: still this file's problem, never the app's end
        return {}, [unexpected(str(path), exc)]


def read_connections(path: Path, raw: bytes | None = None,
                      ) -> tuple[dict[str, AnyConnection], list[FlowProblem]]:
    from pydantic import ValidationError

    from .model import parse_connection

    try:
        data, lines = read_yaml(path, raw)
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
                    str(path), lines.line(loc), pydantic_message(error),
                    field=".".join(str(p) for p in loc)))
    return connections, at_most(problems)


# ------------------------------------------------------------------------- flows

def load_flow(path: Path, connections: Mapping[str, AnyConnection] | None = None, *,
              registry: ActionRegistry = REGISTRY) -> LoadedFlow:
    """Load and check one flow file; raise FlowFileInvalid listing every problem (and
    nothing else, whatever the file holds)."""
    return load_flow_guarded(path, connections, registry)


def load_flow_guarded(path: Path, connections: Mapping[str, AnyConnection] | None,
                       registry: ActionRegistry, raw: bytes | None = None) -> LoadedFlow:
    try:
        return _load_flow(path, connections, registry, raw)
    except FlowFileInvalid:
        raise
    except Exception as exc:  # a bug: still this file's problem, never the app's end
        raise FlowFileInvalid([unexpected(str(path), exc)]) from exc


def _invalid(file: str, data: dict[str, Any], lines: LineMap, exc: ValidationError,
             registry: ActionRegistry) -> FlowFileInvalid:
    """The problems of a flow file the flow model refused (loading it or reading it
    again from the cache: worded the same)."""
    return FlowFileInvalid([problem_from_pydantic(file, data, lines, e, registry)
                            for e in exc.errors()])


def _load_flow(path: Path, connections: Mapping[str, AnyConnection] | None,
               registry: ActionRegistry, raw: bytes | None = None) -> LoadedFlow:
    from pydantic import ValidationError

    file = str(path)
    data, lines = read_yaml(path, raw)
    if not isinstance(data, dict):
        raise FlowFileInvalid([FlowProblem(file, 1, "a flow file is a mapping with at least "
                                           "'steps' (see README, flow-file reference)")])
    data.setdefault("name", path.stem)
    try:
        flow = registry.flow_model.model_validate(data)
    except ValidationError as exc:
        raise _invalid(file, data, lines, exc, registry) from exc
    problems = check_semantics(file, flow, data, lines, connections, registry)
    if problems:
        raise FlowFileInvalid(problems)
    return LoadedFlow(flow, path, lines)
