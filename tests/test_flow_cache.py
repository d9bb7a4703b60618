"""The flow cache (`shared.loader.flow_cache`): what the Functions app starts from.

Why: `import function_app` loads the whole flows folder; with 1,000 files, reading,
validating and checking every one at each start was seconds. Within `flow_cache(dir)`
an unchanged file (same bytes, same connections file, same code) is taken from the
cache instead. These tests hold the cache to its one promise: a folder reads exactly
as without it (the same flows, the same problems on the same lines, capped the same),
and anything that changed is read again. The timers the app registers from the cached
flow heads are the timers `shared.timers` makes from the flows themselves.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from shared.loader import FolderResult, flow_cache, load_folder
from shared.service import FlowService
from shared.settings import Settings
from shared.steps import DEFAULT_ACTIONS, ActionRegistry
from shared.timers import scheduled_flows
from tests.helpers import EMBEDDED, write_flow

ROOT = Path(__file__).resolve().parents[1]

BROKEN = {
    "bad-yaml": "steps: [ {id: q\n",
    "unknown-action": "steps: [{id: q, action: kusto.nothing}]\n",
    "unknown-connection": ("steps: [{id: q, action: kusto.query, connection: nowhere, "
                           "query: StormEvents | count}]\n"),
    "later-step": ("steps:\n"
                   "  - {id: a, action: condition, if: \"steps.b.rows\"}\n"
                   "  - {id: b, action: kusto.query, connection: samples, query: T}\n"),
    "zz-clash": "name: storm-daily-report\nsteps: [{id: q, action: condition, if: 'true'}]\n",
    "loop-a": "trigger: {after: loop-b}\nsteps: [{id: q, action: condition, if: 'true'}]\n",
    "loop-b": "trigger: {after: loop-a}\nsteps: [{id: q, action: condition, if: 'true'}]\n",
    # 60 problems: listed as the first 50 and "... and 10 more".
    "many": "steps:\n" + "".join(f"  - {{id: s{i}, action: condition, if: 'true', x: 1}}\n"
                                 for i in range(60)),
}


def folder_with_examples_and_broken_files(tmp_path: Path) -> Path:
    folder = tmp_path / "flows"
    shutil.copytree(ROOT / "flows", folder)
    for name, text in BROKEN.items():
        (folder / f"{name}.yaml").write_text(text, encoding="utf-8")
    return folder


def snapshot(result: FolderResult) -> tuple[Any, ...]:
    """Everything a caller can read of a folder: each flow (model, path, lines, head),
    each file's problems, the connections."""
    flows = {name: (loaded.path, loaded.flow.model_dump(), loaded.lines.line(("steps", 0)),
                    loaded.head) for name, loaded in result.flows.items()}
    return flows, result.problems, result.connections


def cached_load(folder: Path, cache: Path, **kwargs: Any) -> FolderResult:
    with flow_cache(cache):
        return load_folder(folder, **kwargs)


def test_a_folder_reads_the_same_from_the_cache_as_without_it(tmp_path: Path) -> None:
    folder = folder_with_examples_and_broken_files(tmp_path)
    plain = load_folder(folder)
    assert set(plain.problems) == {str(folder / f"{name}.yaml") for name in BROKEN}
    assert len(plain.problems[str(folder / "many.yaml")]) == 51

    first = cached_load(folder, tmp_path / "cache")   # reads every file, fills the cache
    second = cached_load(folder, tmp_path / "cache")  # reads none of them again
    assert snapshot(first) == snapshot(plain)
    assert snapshot(second) == snapshot(plain)
    assert [str(p) for p in second.all_problems] == [str(p) for p in plain.all_problems]


def test_a_cached_flow_is_read_from_the_bytes_that_were_checked(tmp_path: Path) -> None:
    folder = tmp_path / "flows"
    path = write_flow(folder, "daily", """
        trigger: {schedule: "0 0 7 * * *", timezone: Europe/Paris}
        steps: [{id: q, action: kusto.query, connection: samples, query: StormEvents | count}]
    """)
    cached_load(folder, tmp_path / "cache")
    loaded = cached_load(folder, tmp_path / "cache").flows["daily"]
    assert loaded.head.trigger.schedule == "0 0 7 * * *"
    assert loaded.head.trigger.timezone == "Europe/Paris"
    # Changed after the start: the catalog keeps the version it checked, not an
    # unchecked one; the next load reads the new one.
    path.write_text("steps: [{id: q, action: condition, if: 'true'}]\n", encoding="utf-8")
    assert loaded.flow.steps[0].action == "kusto.query"
    assert loaded.flow.trigger.timezone == "Europe/Paris"
    assert cached_load(folder, tmp_path / "cache").flows["daily"].flow.steps[0].action == (
        "condition")


def test_a_changed_file_is_checked_again(tmp_path: Path) -> None:
    folder = tmp_path / "flows"
    good = "steps: [{id: q, action: kusto.query, connection: samples, query: T}]\n"
    path = write_flow(folder, "daily", good)
    assert cached_load(folder, tmp_path / "cache").ok
    path.write_text(good.replace("kusto.query", "kusto.nothing"), encoding="utf-8")
    [problem] = cached_load(folder, tmp_path / "cache").problems[str(path)]
    assert "unknown action 'kusto.nothing'" in problem.message
    path.write_text(good, encoding="utf-8")
    assert cached_load(folder, tmp_path / "cache").ok


def test_a_changed_connections_file_checks_every_flow_again(tmp_path: Path) -> None:
    folder = tmp_path / "flows"
    path = write_flow(folder, "daily", """
        steps: [{id: q, action: kusto.query, connection: samples, query: T}]
    """)
    assert cached_load(folder, tmp_path / "cache").ok
    (folder / "connections.yaml").write_text("other: {cluster: embedded}\n", encoding="utf-8")
    result = cached_load(folder, tmp_path / "cache")
    [problem] = result.problems[str(path)]
    assert problem.field == "connection" and "unknown connection 'samples'" in problem.message
    assert list(result.connections) == ["other"]
    (folder / "connections.yaml").write_text(EMBEDDED, encoding="utf-8")
    result = cached_load(folder, tmp_path / "cache")
    assert result.ok and list(result.connections) == ["samples"]


def test_a_damaged_or_stale_cache_is_read_past(tmp_path: Path) -> None:
    folder = folder_with_examples_and_broken_files(tmp_path)
    cache = tmp_path / "cache"
    plain = snapshot(load_folder(folder))
    cached_load(folder, cache)
    [file] = cache.iterdir()
    file.write_text("{not json", encoding="utf-8")
    assert snapshot(cached_load(folder, cache)) == plain
    # A cache written by other code (another key) or with entries that are not the
    # cache's own: read past, and written again.
    stored = json.loads(file.read_text(encoding="utf-8"))
    file.write_text(json.dumps({**stored, "key": "another version"}), encoding="utf-8")
    assert snapshot(cached_load(folder, cache)) == plain
    stored = json.loads(file.read_text(encoding="utf-8"))
    assert stored["key"] != "another version"
    for entry in stored["flows"].values():
        entry.pop("head", None)
        entry.pop("problems", None)
    file.write_text(json.dumps(stored), encoding="utf-8")
    assert snapshot(cached_load(folder, cache)) == plain


def test_a_cache_folder_that_cannot_be_written_leaves_the_folder_read_as_usual(
        tmp_path: Path) -> None:
    folder = folder_with_examples_and_broken_files(tmp_path)
    blocked = tmp_path / "a-file"
    blocked.write_text("", encoding="utf-8")
    assert snapshot(cached_load(folder, blocked / "cache")) == snapshot(load_folder(folder))


def test_a_registry_of_its_own_is_never_served_from_the_cache(tmp_path: Path) -> None:
    folder = tmp_path / "flows"
    write_flow(folder, "daily", "steps: [{id: q, action: condition, if: 'true'}]\n")
    registry = ActionRegistry(DEFAULT_ACTIONS)
    assert cached_load(folder, tmp_path / "cache", registry=registry).ok
    assert not (tmp_path / "cache").exists()


def service_over(folder: Path, tmp_path: Path, **env: str) -> FlowService:
    settings = Settings.from_env({"FLOWS_DIR": str(folder), "STATE_DIR": str(tmp_path / "state"),
                                  "OUTBOX_DIR": str(tmp_path / "outbox"), **env})
    with flow_cache(tmp_path / "cache"):
        return FlowService.load(settings)


@pytest.mark.parametrize("env", [
    {},
    {"FLOW_SCHEDULE__storm_daily_report": "0 0 9 * * *",     # an override
     "FLOW_SCHEDULE__storm_alert": "not a schedule"},         # an override refused
])
def test_the_app_registers_from_cached_heads_the_timers_the_flows_give(
        tmp_path: Path, env: dict[str, str]) -> None:
    folder = folder_with_examples_and_broken_files(tmp_path)
    (folder / "switched-off.yaml").write_text(
        "enabled: false\ntrigger: {schedule: '0 0 1 * * *'}\n"
        "steps: [{id: q, action: condition, if: 'true'}]\n", encoding="utf-8")
    service_over(folder, tmp_path, **env).close()     # fills the cache
    from_cache = service_over(folder, tmp_path, **env)  # flows not read again
    try:
        timers = scheduled_flows(from_cache)
        assert {t.flow for t in timers} >= {"storm-daily-report", "storm-hourly-timechart"}
        assert "switched-off" not in {t.flow for t in timers}
        assert all(loaded._flow is None for loaded in from_cache.catalog.flows.values()
                   if loaded.name in {t.flow for t in timers})  # no flow read again
        fresh = service_over(folder, tmp_path / "again", **env)
        try:
            assert timers == scheduled_flows(fresh)  # as from flows read and checked
        finally:
            fresh.close()
    finally:
        from_cache.close()
