"""Read YAML and remember the line of every key and list item, so a validation
error can say `flows/x.yaml:12`. PyYAML's safe loader keeps no positions and
silently lets a later duplicate key win; this walks the composed node tree once
to record lines and refuse duplicate keys."""

from __future__ import annotations

from typing import Any

import yaml

from .errors import KustoFlowsError

__all__ = ["LineMap", "YamlProblem", "load_with_lines"]

Path = tuple[str | int, ...]


class YamlProblem(KustoFlowsError, code="FlowInvalid", http_status=422):
    """A file that is not valid YAML (or repeats a key), at `line`."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


class LineMap:
    """Line numbers (1-based) by path, falling back to the nearest parent."""

    def __init__(self) -> None:
        self._lines: dict[Path, int] = {(): 1}

    def add(self, path: Path, line: int) -> None:
        self._lines.setdefault(path, line)

    def line(self, path: Path) -> int:
        while path not in self._lines:
            path = path[:-1]
        return self._lines[path]


def _walk(node: yaml.Node, path: Path, lines: LineMap) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            line = key_node.start_mark.line + 1
            if key in seen:
                raise YamlProblem(
                    f"duplicate key '{key}' (first defined on line {seen[key]})", line
                )
            seen[key] = line
            lines.add((*path, key), line)
            _walk(value_node, (*path, key), lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines.add((*path, index), item.start_mark.line + 1)
            _walk(item, (*path, index), lines)


def load_with_lines(text: str) -> tuple[Any, LineMap]:
    """Parse `text`; raise YamlProblem (with a line) on bad YAML or duplicate keys."""
    lines = LineMap()
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is not None:
            _walk(node, (), lines)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise YamlProblem(f"invalid YAML: {exc.problem or exc}", line) from exc
    return data, lines
