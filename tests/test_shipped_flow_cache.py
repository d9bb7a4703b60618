"""The shipped flow cache (`python -m shared build-cache`, `flows/.flow-cache.json`): what
a new instance starts from.

Why: the flow cache in `STATE_DIR/cache` is the instance's own, so every new instance
(each scale-out, each deployment) started by reading and checking every flow file: about
a second with 1,000 files, more when their templates differ. The shipped cache is built
with the deployment package and read where the package is unpacked, so these tests build
it in one folder and load a copy somewhere else, with an empty `STATE_DIR` cache. They
hold it to the flow cache's promise (a folder reads exactly as without it, problems on
the same lines naming this copy's files) and to never serving a stale entry: a file or
connections file changed after the build, or a cache built by other code or another
Python, is read past.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from shared.cli import main
from shared.loader import (
    SHIPPED_FILE,
    FlowFileInvalid,
    FolderResult,
    build_shipped_cache,
    flow_cache,
    load_folder,
)
from shared.service import FlowService
from shared.settings import Settings
from shared.timers import scheduled_flows
from tests.helpers import EMBEDDED, write_flow
from tests.test_flow_cache import BROKEN, folder_with_examples_and_broken_files, snapshot

ROOT = Path(__file__).resolve().parents[1]

DAILY = """\
trigger: {schedule: "0 0 7 * * *", timezone: Europe/Paris}
steps: [{id: q, action: kusto.query, connection: samples, query: StormEvents | count}]
"""


def shipped_copy(tmp_path: Path, folder: Path) -> Path:
    """*folder*'s shipped cache built where it is, then the folder (cache included)
    copied elsewhere, as a deployment package is unpacked on an instance."""
    build_shipped_cache(folder)
    copy = tmp_path / "instance" / "flows"
    shutil.copytree(folder, copy)
    return copy


def new_instance_load(folder: Path, tmp_path: Path) -> FolderResult:
    """`load_folder` as the app's first start on a new instance: an empty flow cache."""
    state = tmp_path / "state-of-a-new-instance"
    shutil.rmtree(state, ignore_errors=True)
    with flow_cache(state / "cache"):
        return load_folder(folder)


def valid_flows_read(result: FolderResult) -> list[str]:
    return sorted(name for name, loaded in result.flows.items() if loaded._flow is not None)


def test_a_new_instance_reads_the_folder_as_without_the_cache_but_reads_no_valid_file(
        tmp_path: Path) -> None:
    folder = shipped_copy(tmp_path, folder_with_examples_and_broken_files(tmp_path))
    plain = load_folder(folder)
    result = new_instance_load(folder, tmp_path)
    assert valid_flows_read(result) == []
    assert result.flows.keys() == plain.flows.keys() and len(result.flows) >= 12
    assert snapshot(result) == snapshot(plain)
    # The broken files were not shipped: read here, their problems name this copy.
    assert set(result.problems) == {str(folder / f"{name}.yaml") for name in BROKEN}
    assert [str(p) for p in result.all_problems] == [str(p) for p in plain.all_problems]


def test_the_shipped_cache_holds_only_valid_files_and_no_path(tmp_path: Path) -> None:
    folder = folder_with_examples_and_broken_files(tmp_path)
    file, result = build_shipped_cache(folder)
    assert file == folder / SHIPPED_FILE
    stored = json.loads(file.read_text(encoding="utf-8"))
    # loop-a, loop-b and zz-clash are each valid alone: their cycle and the name used
    # twice are found across the folder, from the heads, at every load.
    assert set(stored["flows"]) == {f"{name}.yaml" for name in result.flows} | {
        "loop-a.yaml", "loop-b.yaml", "zz-clash.yaml"}
    assert all(set(entry) == {"sha", "head"} for entry in stored["flows"].values())
    assert str(tmp_path) not in file.read_text(encoding="utf-8")


def test_a_file_changed_after_the_build_is_read_and_checked(tmp_path: Path) -> None:
    built = tmp_path / "flows"
    write_flow(built, "daily", DAILY)
    write_flow(built, "other", DAILY, connections=EMBEDDED)
    folder = shipped_copy(tmp_path, built)
    (folder / "daily.yaml").write_text(DAILY.replace("kusto.query", "kusto.nothing"),
                                       encoding="utf-8")
    result = new_instance_load(folder, tmp_path)
    [problem] = result.problems[str(folder / "daily.yaml")]
    assert "unknown action 'kusto.nothing'" in problem.message and problem.line == 2
    assert valid_flows_read(result) == []  # other.yaml, unchanged, still from the cache
    (folder / "daily.yaml").write_text(DAILY.replace("0 0 7", "0 0 9"), encoding="utf-8")
    result = new_instance_load(folder, tmp_path)
    assert result.flows["daily"].head.trigger.schedule == "0 0 9 * * *"
    assert valid_flows_read(result) == ["daily"]


def test_a_changed_connections_file_checks_every_shipped_flow_again(tmp_path: Path) -> None:
    built = tmp_path / "flows"
    write_flow(built, "daily", DAILY)
    folder = shipped_copy(tmp_path, built)
    (folder / "connections.yaml").write_text("other: {cluster: embedded}\n", encoding="utf-8")
    result = new_instance_load(folder, tmp_path)
    [problem] = result.problems[str(folder / "daily.yaml")]
    assert problem.field == "connection" and "unknown connection 'samples'" in problem.message


@pytest.mark.parametrize("damage", ["not json", "other code", "other python", "other format",
                                    "a list"])
def test_a_shipped_cache_not_built_by_this_code_is_read_past_and_said(
        tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture) -> None:
    folder = shipped_copy(tmp_path, folder_with_examples_and_broken_files(tmp_path))
    file = folder / SHIPPED_FILE
    stored = json.loads(file.read_text(encoding="utf-8"))
    if damage == "not json":
        file.write_text("{not json", encoding="utf-8")
    elif damage == "a list":
        file.write_text("[]", encoding="utf-8")
    else:
        field, value = {"other code": ("code", "0" * 64), "other python": ("python", "2.7"),
                        "other format": ("format", 0)}[damage]
        file.write_text(json.dumps({**stored, field: value}), encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="shared.loader"):
        result = new_instance_load(folder, tmp_path)
    assert snapshot(result) == snapshot(load_folder(folder))
    assert valid_flows_read(result) == sorted(result.flows)  # every one read and checked
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert str(file) in warning and "every flow file is read and checked" in warning


def test_a_forged_entry_for_an_invalid_file_still_gives_its_problems(tmp_path: Path) -> None:
    """A shipped entry is believed at start; the flow is validated again when it is first
    used, so a file that does not validate here (a library newer than the build's, or an
    entry written by hand) fails with its own problems (file, step, field), not a
    "bug" message."""
    folder = tmp_path / "flows"
    path = write_flow(folder, "daily", DAILY)
    file, _ = build_shipped_cache(folder)
    stored = json.loads(file.read_text(encoding="utf-8"))
    path.write_text(DAILY.replace("query: StormEvents", "qeury: StormEvents"),
                    encoding="utf-8")
    stored["flows"]["daily.yaml"]["sha"] = hashlib.sha256(path.read_bytes()).hexdigest()
    file.write_text(json.dumps(stored), encoding="utf-8")
    loaded = new_instance_load(folder, tmp_path).flows["daily"]
    with pytest.raises(FlowFileInvalid) as caught:
        loaded.flow  # noqa: B018 (the property reads the file)
    fields = {(p.file, p.line, p.step, p.field) for p in caught.value.problems}
    assert (str(path), 2, "q", "qeury") in fields
    assert "bug" not in str(caught.value)
    # Outside the app's flow cache (the CLI's `validate`) nothing is taken from it.
    assert str(path) in load_folder(folder).problems


def service_over(folder: Path, tmp_path: Path, state: str) -> FlowService:
    settings = Settings.from_env({"FLOWS_DIR": str(folder), "STATE_DIR": str(tmp_path / state),
                                  "OUTBOX_DIR": str(tmp_path / "outbox")})
    with flow_cache(tmp_path / state / "cache"):
        return FlowService.load(settings)


def test_a_new_instance_registers_the_timers_the_flows_give(tmp_path: Path) -> None:
    folder = folder_with_examples_and_broken_files(tmp_path)
    fresh = service_over(folder, tmp_path, "read")
    copy = shipped_copy(tmp_path, folder)
    shipped = service_over(copy, tmp_path, "new-instance")
    try:
        timers = scheduled_flows(shipped)
        assert timers == scheduled_flows(fresh)
        assert {t.flow for t in timers} >= {"storm-daily-report", "storm-hourly-timechart"}
        assert all(loaded._flow is None for loaded in shipped.catalog.flows.values())
    finally:
        shipped.close()
        fresh.close()


#: Not imported by `import function_app` on a new instance with the shipped cache.
READING_FLOWS = ("yaml", "jinja2", "jsonschema", "pydantic", "shared.expressions",
                 "shared.yaml_lines", "matplotlib", "pandas", "duckdb")


def test_a_new_instance_with_the_shipped_cache_imports_nothing_to_read_flows(
        tmp_path: Path) -> None:
    folder = tmp_path / "flows"
    shutil.copytree(ROOT / "flows", folder, ignore=shutil.ignore_patterns(SHIPPED_FILE))
    build_shipped_cache(folder)
    code = ("import json, sys, function_app; names = " + repr(READING_FLOWS) + "; "
            "print(json.dumps([len(function_app.app.get_functions()), sorted(n for n in names "
            "if any(m == n or m.startswith(n + '.') for m in sys.modules))]))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, check=True,
                          env={"STATE_DIR": str(tmp_path / "state"), "FLOWS_DIR": str(folder),
                               "OUTBOX_DIR": str(tmp_path / "outbox"), "PATH": ""})
    functions, loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded == []
    assert functions > 20  # the example flows' timers, the routes, cleanup, queues


def test_build_cache_prints_the_problems_and_writes_the_valid_files(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = folder_with_examples_and_broken_files(tmp_path)
    assert main(["build-cache", str(folder)]) == 0
    out, err = capsys.readouterr()
    assert f"{folder / SHIPPED_FILE}: " in out and "valid flow(s)" in out
    assert f"{len(BROKEN)} file(s) with problems, read and reported at start" in out
    assert f"{folder / 'bad-yaml.yaml'}:" in err
    assert (folder / SHIPPED_FILE).is_file()


def test_build_cache_says_when_it_cannot_write(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "flows"
    write_flow(folder, "daily", DAILY)
    (folder / SHIPPED_FILE).mkdir()  # in the way of the file
    assert main(["build-cache", str(folder)]) == 1
    assert "the shipped flow cache was not written" in capsys.readouterr().err
    assert main(["build-cache", str(tmp_path / "nowhere")]) == 2


def test_azd_builds_the_shipped_cache_of_the_flows_folder_before_packaging(
        tmp_path: Path) -> None:
    """The `prepackage` hook of azure.yaml, run as azd runs it (sh, in the project
    folder): it writes flows/.flow-cache.json, and .funcignore ships it."""
    config = yaml.safe_load((ROOT / "azure.yaml").read_text(encoding="utf-8"))
    hook = config["services"]["api"]["hooks"]["prepackage"]
    assert "build-cache flows" in hook["windows"]["run"]
    app = tmp_path / "app"
    shutil.copytree(ROOT / "flows", app / "flows", ignore=shutil.ignore_patterns(SHIPPED_FILE))
    (app / "shared").symlink_to(ROOT / "shared")
    (app / ".venv").symlink_to(Path(sys.executable).parents[1])
    done = subprocess.run([hook["posix"]["shell"], "-c", hook["posix"]["run"]], cwd=app,
                          capture_output=True, text=True, check=True)
    assert "WARNING" not in done.stderr
    stored = json.loads((app / "flows" / SHIPPED_FILE).read_text(encoding="utf-8"))
    assert "storm-daily-report.yaml" in stored["flows"]
    for line in (ROOT / ".funcignore").read_text(encoding="utf-8").splitlines():
        pattern = line.strip().strip("/")
        if pattern and not pattern.startswith(("#", "!")):
            for candidate in ("flows", SHIPPED_FILE, f"flows/{SHIPPED_FILE}"):
                assert not fnmatch.fnmatch(candidate, pattern), (line, candidate)
