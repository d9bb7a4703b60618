"""Disk faults under the run history and the outbox: a report's outcome never depends
on the local disk, and its record is never lost without a trace.

STATE_DIR (the SQLite run store and the spool) and OUTBOX_DIR are made read-only,
full, or impossible to create. The first two are real file systems: a 64 KB tmpfs
mounted by the test (root only; skipped with the reason otherwise), remounted
read-only or filled to the last byte. Permission-based read-only (chmod) is used
where it works, which is when the tests do not run as root.

What must hold:
- the run ends with the same status and step statuses as on a healthy disk;
- with Table Storage (Azurite) configured, its record there is complete: the spool
  on a broken disk never stops the writes reaching the table;
- with no remote store, each write is one ERROR log line of JSON with the whole
  record (run id, final status, steps, error);
- a spooled start replayed after the finish went straight to the store never turns
  the run back into Running (later: Abandoned);
- an unwritable outbox fails the mail step with `EmailFailed` naming the folder and
  the setting to change.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.errors import EmailFailed
from shared.mail.message import EmailMessage
from shared.mail.outbox import Outbox
from shared.results import RunResult, RunStatus, StepResult, StepStatus, utc_now
from shared.runner import Trigger
from shared.runs import LocalRunStore, ResilientStore, TableRunStore, open_run_store
from shared.runs.resilient import UNSTORED_EVENT
from shared.runs.spool import Spool
from shared.service import FlowService
from shared.settings import Settings
from tests.helpers import write_flow

SUCCEEDS = """
trigger: {webhook: true}
steps:
  - id: top_states
    action: kusto.query
    connection: samples
    query: StormEvents | summarize Events = count() by State | top 3 by Events
  - id: mail
    action: email.send
    to: [analysts@contoso.com]
    subject: Storm report
    body: "{{ steps.top_states.rows | length }} states"
"""

FAILS = """
trigger: {webhook: true}
steps:
  - id: top_states
    action: kusto.query
    connection: samples
    query: NoSuchTable | take 3
  - id: mail
    action: email.send
    to: [analysts@contoso.com]
    subject: Storm report
    body: "not sent"
"""

FLOWS = {"succeeds": SUCCEEDS, "fails": FAILS}


# -- disks ---------------------------------------------------------------------------

class TinyDisk:
    """A 64 KB tmpfs mounted on a folder, made read-only or full on demand."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.mounted = False

    def mount(self) -> TinyDisk:
        if os.geteuid() != 0:
            pytest.skip("mounting a tmpfs needs root (the chmod and uncreatable cases "
                        "run without it)")
        self.folder.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs",
                               str(self.folder)], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        self.mounted = True
        return self

    def _remount(self, mode: str) -> None:
        subprocess.run(["mount", "-o", f"remount,{mode}", str(self.folder)], check=True,
                       capture_output=True)

    def read_only(self) -> None:
        self._remount("ro")

    def grow(self) -> None:
        """Room again: 4 MB (the SQLite store with its WAL needs more than 64 KB)."""
        self._remount("size=4m")

    def writable(self) -> None:
        self._remount("rw")

    def fill(self, leave_pages: int = 0) -> None:
        """Fill it to the last byte, then free *leave_pages* pages of 4 KB."""
        fillers: list[Path] = []
        with contextlib.suppress(OSError):
            while True:
                path = self.folder / f".filler-{len(fillers)}"
                path.write_bytes(b"\0" * 4096)  # the one that does not fit stays partial
                fillers.append(path)
        for path in fillers[len(fillers) - leave_pages:] if leave_pages else []:
            path.unlink()

    def unmount(self) -> None:
        if self.mounted:
            done = subprocess.run(["umount", str(self.folder)], capture_output=True)
            if done.returncode != 0:
                subprocess.run(["umount", "-l", str(self.folder)], capture_output=True)
            self.mounted = False


@pytest.fixture
def tiny_disk() -> Iterator[Callable[[Path], TinyDisk]]:
    """Mounts a tmpfs on a folder (skips without root); unmounts at teardown."""
    disks: list[TinyDisk] = []

    def mount(folder: Path) -> TinyDisk:
        disk = TinyDisk(folder)
        disks.append(disk)
        return disk.mount()

    yield mount
    for disk in reversed(disks):
        disk.unmount()


@pytest.fixture
def chmod_read_only() -> Iterator[Callable[[Path], None]]:
    """Makes a folder read-only by its permissions (skips when they do not bind this
    process: root); gives the permissions back at teardown."""
    folders: list[Path] = []

    def make(folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o555)
        folders.append(folder)
        try:
            (folder / "probe").write_text("x")
        except PermissionError:
            return
        (folder / "probe").unlink()
        pytest.skip("file permissions do not bind this process (root): the tmpfs cases "
                    "cover read-only")

    yield make
    for folder in folders:
        folder.chmod(0o755)


FAULTS = ["read-only", "full", "uncreatable", "chmod-read-only"]


def broken_folder(fault: str, tmp_path: Path, name: str,
                  tiny_disk: Callable[[Path], TinyDisk],
                  chmod_read_only: Callable[[Path], None]) -> Path:
    """A folder under *tmp_path* with *fault*."""
    folder = tmp_path / name
    if fault == "uncreatable":  # a path under a regular file: mkdir fails, even as root
        (tmp_path / f"{name}-is-a-file").write_text("not a folder")
        return tmp_path / f"{name}-is-a-file" / name
    if fault == "chmod-read-only":
        chmod_read_only(folder)
        return folder
    disk = tiny_disk(folder)
    if fault == "read-only":
        disk.read_only()
    else:
        disk.fill()
    return folder


# -- running ---------------------------------------------------------------------------

def run_flow(tmp_path: Path, name: str, settings: Settings) -> RunResult:
    flows = tmp_path / "flows"
    if not (flows / f"{name}.yaml").exists():
        write_flow(flows, name, FLOWS[name])
    with FlowService.load(settings, flows) as service:
        return service.run(name, Trigger(kind="manual", body={"why": "disk faults"}))


def shape(run: RunResult) -> tuple[RunStatus, list[tuple[str, StepStatus, str]]]:
    return run.status, [(s.path, s.status, s.error.code if s.error else "") for s in run.steps]


def healthy_shape(tmp_path: Path, name: str) -> tuple[RunStatus, list[tuple[str, StepStatus,
                                                                              str]]]:
    healthy = tmp_path / "healthy"
    run = run_flow(tmp_path, name, Settings(state_dir=healthy / "state",
                                            outbox_dir=healthy / "outbox"))
    return shape(run)


def unstored_lines(caplog: pytest.LogCaptureFixture, run_id: str) -> list[dict[str, Any]]:
    """The JSON log lines of *run_id*'s writes that nothing could keep, in order."""
    lines = []
    for record in caplog.records:
        if record.name != "shared.runs" or record.levelno != logging.ERROR:
            continue
        message = record.getMessage()
        if UNSTORED_EVENT not in message:
            continue
        assert "\n" not in message, "one line per write"
        entry = json.loads(message)
        if entry["run_id"] == run_id:
            lines.append(entry)
    return lines


# -- STATE_DIR, no remote store: the log keeps the record -----------------------------

@pytest.mark.parametrize("name", sorted(FLOWS))
@pytest.mark.parametrize("fault", FAULTS)
def test_an_unwritable_state_dir_changes_no_outcome_and_the_log_keeps_each_write(
        fault: str, name: str, tmp_path: Path, tiny_disk: Callable[[Path], TinyDisk],
        chmod_read_only: Callable[[Path], None], caplog: pytest.LogCaptureFixture) -> None:
    state = broken_folder(fault, tmp_path, "state", tiny_disk, chmod_read_only)
    settings = Settings(state_dir=state, outbox_dir=tmp_path / "outbox")

    with caplog.at_level(logging.WARNING, logger="shared.runs"):
        run = run_flow(tmp_path, name, settings)

    assert shape(run) == healthy_shape(tmp_path, name)
    lines = unstored_lines(caplog, run.run_id)
    assert [e["op"] for e in lines] == ["start_run"] + ["record_step"] * len(run.steps) + [
        "finish_run"]
    final = lines[-1]
    assert final["flow"] == name and final["status"] == str(run.status)
    assert [(s["path"], s["status"]) for s in final["steps"]] == [
        (s.path, str(s.status)) for s in run.steps]
    assert final["trigger_body"] == {"why": "disk faults"}
    assert "Abandoned" in final["history"]
    assert any("STATE_DIR" in reason or str(state) in reason for reason in final["reasons"])
    if run.status is RunStatus.FAILED:
        assert final["failing_step"] == "top_states"
        assert final["error"]["code"] == run.steps[0].error.code
    for step, entry in zip(run.steps, lines[1:-1], strict=True):
        assert entry["steps"][0]["path"] == step.path
        assert entry["position"] == run.steps.index(step)


def test_when_only_the_start_fits_the_finish_takes_its_place_and_the_run_never_reads_abandoned(
        tmp_path: Path, tiny_disk: Callable[[Path], TinyDisk],
        caplog: pytest.LogCaptureFixture) -> None:
    """The reviewed fault: a nearly full STATE_DIR took the spooled start and nothing
    after, and the run later read Abandoned although it succeeded."""
    state = tmp_path / "state"
    disk = tiny_disk(state)
    disk.fill(leave_pages=1)
    settings = Settings(state_dir=state, outbox_dir=tmp_path / "outbox")

    with caplog.at_level(logging.WARNING, logger="shared.runs"):
        run = run_flow(tmp_path, "succeeds", settings)

    assert run.status is RunStatus.SUCCEEDED
    lines = unstored_lines(caplog, run.run_id)
    assert [e["op"] for e in lines] == ["record_step", "record_step"]  # in the log only
    assert "in place of the run's start" in caplog.text
    spool = Spool(state / "spool")
    [kept] = spool.pending()
    assert spool.load(kept)["op"] == "finish_run"

    disk.grow()                                   # room again: the spool is delivered
    with open_run_store(settings) as store:
        assert store.flush() == 1
        found = store.get_run("succeeds", run.run_id)
    assert found is not None
    record, steps = found
    assert record.status is RunStatus.SUCCEEDED and record.step_count == 2
    assert steps == []                            # their lines above are their record


# -- STATE_DIR with Table Storage: the table keeps the record -------------------------

@pytest.mark.parametrize("name", sorted(FLOWS))
@pytest.mark.parametrize("fault", FAULTS)
def test_with_table_storage_an_unwritable_state_dir_loses_nothing(
        fault: str, name: str, tmp_path: Path, azurite: Any,
        tiny_disk: Callable[[Path], TinyDisk], chmod_read_only: Callable[[Path], None],
        caplog: pytest.LogCaptureFixture) -> None:
    state = broken_folder(fault, tmp_path, "state", tiny_disk, chmod_read_only)
    settings = Settings(state_dir=state, outbox_dir=tmp_path / "outbox",
                        runs_table_connection_string=azurite.connection_string)

    with caplog.at_level(logging.WARNING, logger="shared.runs"):
        run = run_flow(tmp_path, name, settings)

    assert shape(run) == healthy_shape(tmp_path, name)
    assert unstored_lines(caplog, run.run_id) == []
    table = TableRunStore.from_connection_string(azurite.connection_string)
    try:
        found = table.get_run(name, run.run_id)
    finally:
        table.close()
    assert found is not None
    record, steps = found
    assert record.status is run.status and record.step_count == len(run.steps)
    assert record.trigger_body == {"why": "disk faults"}
    assert [(s.path, s.status, s.error_code) for s in steps] == shape(run)[1]
    if run.status is RunStatus.FAILED:
        assert record.failing_step == "top_states" and record.error_code


class Switchable:
    """A run store that can be taken down (connection refused), around a real one."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.down = False

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.inner, name)
        if not callable(attribute) or name == "close":
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            if self.down:
                raise ConnectionRefusedError("connection refused")
            return attribute(*args, **kwargs)

        return call


def make_run() -> RunResult:
    return RunResult(run_id=uuid.uuid4().hex, flow="storm-daily-report",
                     trigger_kind="schedule", started_at=utc_now())


def finish(run: RunResult) -> None:
    """*run* with two steps, Succeeded."""
    for path in ("query", "mail"):
        run.steps.append(StepResult(path=path, action="kusto.query",
                                    status=StepStatus.SUCCEEDED, started_at=utc_now(),
                                    summary="ok"))
    run.status = RunStatus.SUCCEEDED
    run.ended_at = utc_now()


def test_a_read_only_spool_never_stops_the_table_and_its_late_start_never_undoes_the_finish(
        tmp_path: Path, azurite: Any, tiny_disk: Callable[[Path], TinyDisk],
        caplog: pytest.LogCaptureFixture) -> None:
    state = tmp_path / "state"
    disk = tiny_disk(state)
    table = Switchable(TableRunStore.from_connection_string(
        azurite.connection_string, table_prefix=f"d{uuid.uuid4().hex[:12]}", retry_total=0))
    sleeps: list[float] = []
    store = ResilientStore(table, state / "spool", sleep=sleeps.append)
    run = make_run()

    table.down = True
    store.start_run(run)                        # the table is down: the start is spooled
    assert store.pending == 1
    disk.read_only()                            # ... and then the disk goes read-only
    table.down = False
    finish(run)
    with caplog.at_level(logging.WARNING, logger="shared.runs"):
        for step in run.steps:
            store.record_step(run, step)
        store.finish_run(run)                   # straight to the table, past the spool

    assert "written straight to the store" in caplog.text
    assert unstored_lines(caplog, run.run_id) == []
    record, steps = store.get_run(run.flow, run.run_id)
    assert record.status is RunStatus.SUCCEEDED and [s.path for s in steps] == [
        "query", "mail"]
    assert store.pending == 1                   # the start still waits, read-only

    disk.writable()
    assert store.flush() == 0                   # replayed: skipped, the run is finished
    assert store.pending == 0
    record, _ = store.get_run(run.flow, run.run_id)
    assert record.status is RunStatus.SUCCEEDED
    store.close()


# -- the write path without a mount (runs as any user) ---------------------------------

class DownStore:
    """A store that is always down, counting the writes it is offered."""

    def __init__(self) -> None:
        self.offered = 0

    def _down(self, *args: Any) -> None:
        self.offered += 1
        raise ConnectionRefusedError("connection refused")

    start_run = record_step = finish_run = _down


def test_a_store_and_spool_both_down_cost_the_run_one_backoff_and_log_every_write(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "state").write_text("a file where the folder should be")
    inner = DownStore()
    sleeps: list[float] = []
    store = ResilientStore(inner, tmp_path / "state" / "spool", retries=3, backoff=0.2,
                           sleep=sleeps.append)
    run = make_run()
    with caplog.at_level(logging.WARNING, logger="shared.runs"):
        store.start_run(run)
        finish(run)
        for step in run.steps:
            store.record_step(run, step)
        store.finish_run(run)

    assert sleeps == [0.2, 0.4, 0.8]            # once, for the first write only
    # The start: 4 tries. Then the store is cooling down: each later write tries the
    # spool first, then the store once (a broken spool never stops the store).
    assert inner.offered == 4 + 2 + 1
    lines = unstored_lines(caplog, run.run_id)
    assert [e["op"] for e in lines] == ["start_run", "record_step", "record_step",
                                        "finish_run"]
    assert lines[-1]["status"] == "Succeeded"
    assert all(any("spool" in r for r in e["reasons"]) for e in lines)
    assert store.pending == 0


def test_a_finish_that_cannot_be_spooled_is_tried_straight_through_once_more(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    local = Switchable(LocalRunStore(tmp_path / "runs.sqlite"))
    store = ResilientStore(local, tmp_path / "spool", retries=0)
    run = make_run()
    store.start_run(run)
    finish(run)

    def spool_refuses(self: Spool, payload: dict[str, Any]) -> Path:
        local.down = False                      # the store is back meanwhile
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Spool, "put", spool_refuses)
    local.down = True
    with caplog.at_level(logging.WARNING, logger="shared.runs"):
        store.finish_run(run)

    assert "second try" in caplog.text
    record, _ = store.get_run(run.flow, run.run_id)
    assert record.status is RunStatus.SUCCEEDED


def test_a_spool_on_a_full_disk_leaves_no_half_file(
        tmp_path: Path, tiny_disk: Callable[[Path], TinyDisk]) -> None:
    disk = tiny_disk(tmp_path / "state")
    spool = Spool(tmp_path / "state" / "spool")
    spool.directory.mkdir()
    disk.fill()
    with pytest.raises(OSError):
        spool.put({"op": "start_run", "run": {"x": "y" * 20_000}})
    assert list(spool.directory.iterdir()) == []


def test_the_factory_store_on_an_unwritable_state_dir_opens_and_reads_as_empty(
        tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    store = open_run_store(Settings(state_dir=tmp_path / "file" / "state"))
    assert store.pending == 0
    store.close()


# -- OUTBOX_DIR ------------------------------------------------------------------------

@pytest.mark.parametrize("fault", FAULTS)
def test_an_unwritable_outbox_fails_the_mail_step_with_email_failed(
        fault: str, tmp_path: Path, tiny_disk: Callable[[Path], TinyDisk],
        chmod_read_only: Callable[[Path], None]) -> None:
    outbox = broken_folder(fault, tmp_path, "outbox", tiny_disk, chmod_read_only)
    run = run_flow(tmp_path, "succeeds", Settings(state_dir=tmp_path / "state",
                                                  outbox_dir=outbox))

    assert run.status is RunStatus.FAILED
    query, mail = run.steps
    assert query.status is StepStatus.SUCCEEDED and mail.status is StepStatus.FAILED
    assert mail.error is not None and mail.error.code == "EmailFailed"
    assert str(outbox) in mail.error.message
    assert "set OUTBOX_DIR to a writable folder" in mail.error.hint
    if outbox.is_dir():
        assert [p.name for p in outbox.iterdir() if not p.name.startswith(".filler")] == []


def test_a_full_outbox_keeps_no_part_of_a_message(
        tmp_path: Path, tiny_disk: Callable[[Path], TinyDisk]) -> None:
    disk = tiny_disk(tmp_path / "outbox")
    disk.fill(leave_pages=2)                    # room for the .eml, not for the rest
    message = EmailMessage(sender="s@contoso.com", to=["a@contoso.com"], subject="big",
                           html="<p>" + "x" * 6000 + "</p>", text="x")
    with pytest.raises(EmailFailed, match=str(tmp_path / "outbox")):
        Outbox(tmp_path / "outbox").send(message)
    assert [p.name for p in (tmp_path / "outbox").iterdir()
            if not p.name.startswith(".filler")] == []
