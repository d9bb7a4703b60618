"""Small helpers shared by the tests: write a flow folder, build a runner."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from shared.loader import load_connections, load_flow
from shared.model import Connection
from shared.runner import Runner, Trigger
from shared.settings import Settings

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
                  observers: list[Any] | None = None) -> Any:
    if connections is None:
        connections, problems = load_connections(path.parent / "connections.yaml")
        assert not problems, problems
    loaded = load_flow(path, connections)
    runner = Runner(settings, connections, observers or [])
    return runner.run(loaded.flow, Trigger(kind="manual", body=body))
