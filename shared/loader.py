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
whose `flow` is read from the bytes kept in memory on first use. A file that cache does
not hold is taken from the folder's shipped cache (`build_shipped_cache`, written when
the deployment package is made) when its bytes are those the shipped cache was built
from, so a new instance starts as fast as one that has started before.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .flow_cache import CACHE_DIR, SHIPPED_FILE, FolderCache, flow_cache
from .flow_checks import (
    CONNECTIONS_FILE,
    MAX_STEP_NESTING,
    MAX_TAG_TOKENS,
    MAX_TEMPLATE_COST,
    check_chains,
    walk_steps,
)
from .flow_file import FlowHead, LoadedFlow, TriggerHead, load_connections, load_flow
from .flow_problems import MAX_PROBLEMS, UNEXPECTED, FlowFileInvalid, FlowProblem, read_yaml
from .steps import REGISTRY, ActionRegistry

if TYPE_CHECKING:
    from .model import AnyConnection

__all__ = [
    "CONNECTIONS_FILE",
    "MAX_PROBLEMS",
    "MAX_STEP_NESTING",
    "MAX_TAG_TOKENS",
    "MAX_TEMPLATE_COST",
    "SHIPPED_FILE",
    "UNEXPECTED",
    "FlowFileInvalid",
    "FlowHead",
    "FlowProblem",
    "FolderResult",
    "LoadedFlow",
    "TriggerHead",
    "build_shipped_cache",
    "find_flow",
    "flow_cache",
    "load_connections",
    "load_flow",
    "load_folder",
    "walk_steps",
]


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


# ------------------------------------------------------------------------ folder

def load_folder(folder: Path, *, registry: ActionRegistry = REGISTRY) -> FolderResult:
    """Every flow file of *folder* and its connections file, each file's problems listed
    under it. Within `flow_cache(dir)` (and with the product's registry), unchanged
    files come from the cache there."""
    cache_dir = CACHE_DIR.get()
    cache = FolderCache.open(cache_dir, folder) if (
        cache_dir is not None and registry is REGISTRY) else None
    return _load_folder(folder, registry, cache)


def build_shipped_cache(folder: Path) -> tuple[Path, FolderResult]:
    """Read and check every file of *folder* and write its shipped cache there
    (`SHIPPED_FILE`: each valid file's SHA-256 and head, and the connections), for the
    deployment package; the file written and the folder as read. OSError when the file
    cannot be written."""
    cache = FolderCache.for_shipping(folder)
    return cache.file, _load_folder(folder, REGISTRY, cache)


def _load_folder(folder: Path, registry: ActionRegistry, cache: FolderCache | None,
                 ) -> FolderResult:
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
    check_chains(result)
    return result


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
            data, _ = read_yaml(path)
        except FlowFileInvalid:
            continue
        if isinstance(data, dict) and data.get("name") == target:
            return path
    raise FileNotFoundError(f"no flow named '{target}' in {folder}")
