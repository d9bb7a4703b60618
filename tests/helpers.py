"""Small helpers shared by the tests: write a flow folder, build a runner."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from shared.loader import load_connections, load_flow
from shared.model import Connection
from shared.resources import Resources
from shared.runner import Runner, Trigger
from shared.settings import Settings
from shared.steps import DEFAULT_ACTIONS, REGISTRY, ActionRegistry

EMBEDDED = "samples: {cluster: embedded, database: Samples}\n"


def write_flow(folder: Path, name: str, text: str, connections: str = EMBEDDED) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "connections.yaml").write_text(connections, encoding="utf-8")
    path = folder / f"{name}.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def settings_for(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"outbox_dir": tmp_path / "outbox", "state_dir": tmp_path / "state"}
    values.update(overrides)
    return Settings(**values)


def run_flow_file(path: Path, settings: Settings, body: Any = None,
                  connections: dict[str, Connection] | None = None,
                  observers: list[Any] | None = None,
                  registry: ActionRegistry = REGISTRY) -> Any:
    if connections is None:
        connections, problems = load_connections(path.parent / "connections.yaml")
        assert not problems, problems
    loaded = load_flow(path, connections, registry=registry)
    return runner_for(settings, connections, observers, registry).run(
        loaded.flow, Trigger(kind="manual", body=body))


def runner_for(settings: Settings, connections: dict[str, Connection],
               observers: list[Any] | None = None,
               registry: ActionRegistry = REGISTRY) -> Runner:
    """A runner with resources of its own (a fresh Kusto backend per connection)."""
    return Runner(Resources(settings, connections), observers or [], registry=registry)


def registry_running(action: str, run: Callable[..., Any]) -> ActionRegistry:
    """The product's actions, with *action* executed by *run* instead (for tests that
    need a step to take time or to count calls)."""
    return ActionRegistry([replace(a, run=run) if a.name == action else a
                           for a in DEFAULT_ACTIONS])
